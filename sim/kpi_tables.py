"""KPI tables a reader can use: grouped by :mod:`sim.kpi_catalog`, with readable names, units,
which way is better and how many runs each cell rests on.

One summary (``policy, kpi, mean, low, high, n`` from :func:`sim.report.compare_summary`, or
the per-point summary of a sweep) renders three ways:

- :func:`format_kpi_tables`: the terminal; never wider than the terminal (at most 100 columns
  by default). When the policies do not fit side by side they are split into blocks of
  columns, each block a table of its own that repeats the names.
- :func:`long_kpi_table`: long form for ``--csv`` (one row per policy [and design point] and
  KPI, with the catalogue's name, unit and group).
- :func:`html_kpi_tables`: the grouped tables of ``report.html``.

Cells are ``mean [low, high]`` (the t interval over seeds), numbers compacted to three
significant digits (``14.4k``, ``2.1M``); a single number when every run agrees or only one
run has a value. Values in ``%`` are the stored fractions times 100.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.kpi_catalog import GROUP_TITLES, describe_kpi, group_kpis

__all__ = [
    "DEFAULT_WIDTH",
    "LONG_COLUMNS",
    "KpiTable",
    "compact_number",
    "format_constants",
    "format_kpi_tables",
    "html_kpi_tables",
    "kpi_cell",
    "kpi_tables",
    "long_kpi_table",
    "terminal_width",
]

#: The widest a terminal table gets by default (columns).
DEFAULT_WIDTH = 100
#: The columns of the long form, after the identifiers (policy [, point, axes]).
LONG_COLUMNS: tuple[str, ...] = (
    "kpi",
    "name",
    "unit",
    "group",
    "direction",
    "mean",
    "low",
    "high",
    "n",
)
_ARROWS = {"lower": "↓", "higher": "↑", "neither": ""}
_NAME_MAX = 40
_SUFFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def terminal_width(limit: int = DEFAULT_WIDTH) -> int:
    """The terminal's width (``COLUMNS``, else the terminal, else ``limit``), at most
    ``limit`` and at least 40."""
    columns = shutil.get_terminal_size((limit, 24)).columns
    return max(40, min(limit, columns))


def compact_number(value: float) -> str:
    """A number in at most about six characters: ``0``, ``0.0247``, ``-3.45``, ``14.4k``,
    ``2.1M``, ``1.4e-4``; ``n/a`` for NaN, ``inf``/``-inf``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    size = abs(value)
    if size == 0:
        return "0"
    if size < 1e-3:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    rounded = float(f"{value:.3g}")
    for threshold, suffix in _SUFFIXES:
        if abs(rounded) >= threshold:
            return f"{rounded / threshold:.3g}{suffix}"
    return f"{rounded:.3g}"


def kpi_cell(mean: float, low: float, high: float, *, scale: float = 1.0) -> str:
    """``mean [low, high]`` compacted; the mean alone when the bounds are missing (one run)
    or equal to it (every run agrees)."""
    if not np.isfinite(mean):
        return compact_number(mean) if mean == mean else "n/a"
    m = compact_number(mean * scale)
    if not (np.isfinite(low) and np.isfinite(high)) or (low == mean == high):
        return m
    return f"{m} [{compact_number(low * scale)}, {compact_number(high * scale)}]"


@dataclass(frozen=True)
class KpiTable:
    """One group's KPIs by policy, ready to print.

    Attributes
    ----------
    group, title
        The catalogue group and its heading.
    policies
        Columns, in the study's order.
    rows
        One per KPI: ``(label, unit, cells)``; ``label`` is the readable name, ``unit`` the
        unit with ↓/↑ for which way is better, ``cells`` one string per policy (with ``n=k``
        appended where the cell rests on fewer runs than its policy has).
    keys
        The KPI keys of ``rows``.
    n
        Runs per policy (the most any KPI of the policy rests on).
    """

    group: str
    title: str
    policies: tuple[str, ...]
    rows: tuple[tuple[str, str, tuple[str, ...]], ...]
    keys: tuple[str, ...]
    n: dict[str, int]


def _runs_per_policy(summary: pd.DataFrame, group: str) -> dict[str, int]:
    most = summary.groupby(group, sort=False)["n"].max()
    return {str(k): int(v) for k, v in most.items()}


def kpi_tables(summary: pd.DataFrame, *, group: str = "policy") -> list[KpiTable]:
    """The summary as one :class:`KpiTable` per catalogue group (groups in order, empty ones
    left out).

    Parameters
    ----------
    summary
        ``<group>, kpi, mean, low, high, n`` (one row per policy and KPI).
    group
        The column holding the policy.
    """
    if summary.empty:
        return []
    policies = tuple(str(p) for p in dict.fromkeys(summary[group]))
    runs = _runs_per_policy(summary, group)
    indexed = summary.assign(**{group: summary[group].astype(str)}).set_index([group, "kpi"])
    tables = []
    for name, keys in group_kpis(list(dict.fromkeys(summary["kpi"]))):
        rows = []
        for key in keys:
            info = describe_kpi(key)
            cells = []
            for policy in policies:
                if (policy, key) not in indexed.index:
                    cells.append("n/a")
                    continue
                row = indexed.loc[(policy, key)]
                cell = kpi_cell(
                    float(row["mean"]), float(row["low"]), float(row["high"]), scale=info.scale
                )
                if int(row["n"]) != runs[policy]:
                    cell += f" n={int(row['n'])}"
                cells.append(cell)
            unit = " ".join(x for x in (info.unit, _ARROWS[info.direction]) if x)
            rows.append((info.name, unit, tuple(cells)))
        tables.append(KpiTable(name, GROUP_TITLES[name], policies, tuple(rows), tuple(keys), runs))
    return tables


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _blocks(widths: Sequence[int], room: int) -> list[list[int]]:
    """Indices of the columns, packed greedily into blocks whose widths fit ``room``."""
    blocks: list[list[int]] = [[]]
    used = 0
    for i, w in enumerate(widths):
        if blocks[-1] and used + w > room:
            blocks.append([])
            used = 0
        blocks[-1].append(i)
        used += w
    return blocks


def _format_table(table: KpiTable, width: int) -> list[str]:
    """One group as text blocks, none wider than ``width``."""
    gap = 2
    unit_w = max(len("unit"), *(len(u) for _, u, _ in table.rows))
    runs_label = "runs (n)"
    cols = [[str(table.n[p]), *(r[2][i] for r in table.rows)] for i, p in enumerate(table.policies)]
    col_w = [
        max(len(p), *(len(c) for c in col)) for p, col in zip(table.policies, cols, strict=True)
    ]
    name_w = min(_NAME_MAX, max(len(runs_label), *(len(n) for n, _, _ in table.rows)))
    # The names give way before a single policy column would not fit.
    name_w = max(12, min(name_w, width - unit_w - 2 * gap - max(col_w)))
    room = width - name_w - unit_w - gap
    blocks = _blocks([w + gap for w in col_w], room)
    out: list[str] = []
    for b, block in enumerate(blocks):
        suffix = f" (policies {b + 1}/{len(blocks)})" if len(blocks) > 1 else ""
        lines = [f"{table.title}{suffix}"]
        header = (
            "KPI".ljust(name_w)
            + " " * gap
            + "unit".ljust(unit_w)
            + "".join(" " * gap + _fit(table.policies[i], col_w[i]).rjust(col_w[i]) for i in block)
        )
        lines += [header.rstrip()[:width], "-" * min(width, len(header.rstrip()))]
        body = [(runs_label, "", [cols[i][0] for i in block])]
        body += [
            (name, unit, [cols[i][r + 1] for i in block])
            for r, (name, unit, _) in enumerate(table.rows)
        ]
        for name, unit, cells in body:
            line = (
                _fit(name, name_w).ljust(name_w)
                + " " * gap
                + unit.ljust(unit_w)
                + "".join(
                    " " * gap + _fit(c, col_w[i]).rjust(col_w[i])
                    for c, i in zip(cells, block, strict=True)
                )
            )
            lines.append(line.rstrip()[:width])
        out.append("\n".join(lines))
    return out


def format_kpi_tables(
    summary: pd.DataFrame, *, width: int | None = None, level: float = 0.95, group: str = "policy"
) -> str:
    """The summary as grouped text tables, none wider than ``width``.

    Parameters
    ----------
    summary
        ``<group>, kpi, mean, low, high, n``.
    width
        The widest a line may be (default: :func:`terminal_width`).
    level
        The intervals' confidence level (for the legend).
    group
        The column holding the policy.
    """
    width = width if width is not None else terminal_width()
    tables = kpi_tables(summary, group=group)
    if not tables:
        return "(no KPIs)"
    blocks = [text for table in tables for text in _format_table(table, width)]
    legend = (
        f"cells: mean [{level:.0%} t interval over seeds]; one number: every run agrees "
        "(or one run); runs (n): runs per policy, n=k: a cell resting on fewer (runs "
        "without a value); ↓/↑: lower/higher is better; % values are shares x 100"
    )
    return "\n\n".join(blocks) + "\n\n" + _wrap(legend, width)


def format_constants(constant: dict[str, float], *, width: int | None = None) -> str:
    """The KPIs with one value in every run, by readable name and unit, wrapped to ``width``
    ("" when there are none)."""
    width = width if width is not None else terminal_width()
    parts = []
    for key, value in constant.items():
        if not np.isfinite(value):
            continue
        info = describe_kpi(key)
        unit = f" {info.unit}" if info.unit and info.unit != "count" else ""
        parts.append(f"{info.name} {compact_number(value * info.scale)}{unit}")
    if not parts:
        return ""
    return _wrap("the same in every run: " + "; ".join(parts), width)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width))


def long_kpi_table(summary: pd.DataFrame, *, ids: Sequence[str] = ("policy",)) -> pd.DataFrame:
    """The summary in long form with the catalogue's name, unit, group and direction.

    Parameters
    ----------
    summary
        ``<ids>, kpi, mean, low, high, n`` (e.g. ``policy`` or ``point, <axes>, policy``).
    ids
        The identifying columns to keep first.

    Returns
    -------
    DataFrame
        ``<ids>, kpi, name, unit, group, direction, mean, low, high, n``; mean, low and high
        in the unit of ``unit`` (``%`` values are the stored fractions times 100).
    """
    ids = [c for c in ids if c in summary.columns]
    if summary.empty:
        return pd.DataFrame(columns=[*ids, *LONG_COLUMNS])
    infos = [describe_kpi(k) for k in summary["kpi"]]
    scale = np.array([i.scale for i in infos])
    out = summary[[*ids, "kpi"]].copy()
    out["name"] = [i.name for i in infos]
    out["unit"] = [i.unit for i in infos]
    out["group"] = [i.group for i in infos]
    out["direction"] = [i.direction for i in infos]
    for column in ("mean", "low", "high"):
        out[column] = summary[column].to_numpy(dtype=float) * scale
    out["n"] = summary["n"].astype(int).to_numpy()
    return out.reset_index(drop=True)


def html_kpi_tables(summary: pd.DataFrame, *, group: str = "policy") -> list[dict[str, object]]:
    """The grouped tables for the report's template: ``title``, ``columns``, ``rows``,
    ``left`` (label columns) and ``n`` (runs per policy, as text)."""
    out = []
    for table in kpi_tables(summary, group=group):
        rows = [["runs (n)", "", *(str(table.n[p]) for p in table.policies)]]
        rows += [[name, unit, *cells] for name, unit, cells in table.rows]
        out.append(
            {
                "title": table.title,
                "columns": ["KPI", "unit", *table.policies],
                "rows": rows,
                "left": 2,
                "keys": ["", *table.keys],
            }
        )
    return out
