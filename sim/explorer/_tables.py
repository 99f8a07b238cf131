"""Run tables shaped for charts: time columns, bands across seeds, KPI intervals, subnets, marks.

Shared by the Scenario, Compare and Studies pages. Everything here takes and returns pandas
tables; nothing draws.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from protocol.governance.metrics import nakamoto_coefficient

__all__ = [
    "BOOKKEEPING_COLUMNS",
    "GOVERNANCE_EVENT_KINDS",
    "PALETTE",
    "TIME_COLUMNS",
    "band_frame",
    "kpi_summary",
    "kpi_table",
    "long_series",
    "network_columns",
    "network_frame",
    "network_frame_by_run",
    "numeric_columns",
    "policy_scale",
    "readable_constants",
    "readable_kpi_table",
    "readable_run_kpis",
    "shock_marks",
    "split_constant_kpis",
    "stable_hash",
    "subnet_frame",
    "subnet_label",
    "subnet_scale",
    "time_column",
    "timeline_marks",
    "to_parquet_bytes",
]


def stable_hash(obj: Any) -> str:
    """A short, stable hex digest of a JSON-serialisable object (a cache key).

    Parameters
    ----------
    obj
        Anything ``json.dumps`` accepts with ``default=str``; dict keys are sorted.

    Returns
    -------
    str
        The first 16 hex digits of the SHA-256 of the canonical JSON text.

    Examples
    --------
    >>> stable_hash({"b": 1, "a": 2}) == stable_hash({"a": 2, "b": 1})
    True
    """
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- time and value columns ------------------------------------------------------------------

#: Candidate time columns of a run's time series, most readable first.
TIME_COLUMNS: tuple[str, ...] = ("day", "days", "time_days", "block", "epoch", "step")
_DAY_COLUMNS: tuple[str, ...] = ("day", "days", "time_days")


def time_column(frame: pd.DataFrame) -> str:
    """The column that holds time in a run's time series (``day`` preferred).

    Raises
    ------
    ValueError
        If none of :data:`TIME_COLUMNS` is present.
    """
    for name in TIME_COLUMNS:
        if name in frame.columns:
            return name
    raise ValueError(f"time series: no time column; expected one of {', '.join(TIME_COLUMNS)}")


#: Identifier columns of runs and stores: numeric, but nothing to chart or average.
BOOKKEEPING_COLUMNS: frozenset[str] = frozenset(
    {"seed", "replication", "attempt", "netuid", "uid", "scenario_id", "point", "run_id"}
)


def numeric_columns(frame: pd.DataFrame, *, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric columns of ``frame`` that are neither time nor bookkeeping, in frame order."""
    skip = set(exclude) | set(TIME_COLUMNS) | BOOKKEEPING_COLUMNS
    return [
        c
        for c in frame.columns
        if c not in skip
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


# -- summaries across seeds -------------------------------------------------------------------


def band_frame(
    frame: pd.DataFrame,
    value: str,
    *,
    group: str = "policy",
    time: str | None = None,
    level: float = 0.9,
) -> pd.DataFrame:
    """Mean and a central quantile band of ``value`` across replicates, per group and time.

    Parameters
    ----------
    frame
        Long table with columns ``group``, ``time`` and ``value`` (one row per replicate and time).
    value
        Column to summarise.
    group
        Column that separates the series (the policy).
    time
        Time column; detected with :func:`time_column` when ``None``.
    level
        Coverage of the band, e.g. 0.9 for the 5 %–95 % quantiles across replicates.

    Returns
    -------
    DataFrame
        ``group, time, mean, lo, hi, n``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected a coverage in (0, 1), got {level}")
    time = time or time_column(frame)
    tail = (1.0 - level) / 2.0
    grouped = frame.groupby([group, time], sort=True)[value]
    return pd.DataFrame(
        {
            "mean": grouped.mean(),
            "lo": grouped.quantile(tail),
            "hi": grouped.quantile(1.0 - tail),
            "n": grouped.count(),
        }
    ).reset_index()


def kpi_summary(kpis: pd.DataFrame, *, group: str = "policy", level: float = 0.95) -> pd.DataFrame:
    """Per-group mean and confidence interval of every numeric KPI (``sim.stats.mean_ci``, t).

    Parameters
    ----------
    kpis
        One row per run: a ``group`` column and numeric KPI columns.
    group
        Column to group by.
    level
        Confidence level of the interval on the mean.

    Returns
    -------
    DataFrame
        One row per (``group``, ``kpi``) in first-seen order: ``mean, ci_lo, ci_hi, n``
        (``nan`` bounds with fewer than two finite values).
    """
    from sim.stats import mean_ci

    columns = numeric_columns(kpis, exclude=(group,))
    rows = []
    for key, part in kpis.groupby(group, sort=False):
        for kpi in columns:
            ci = mean_ci(part[kpi].to_numpy(dtype=np.float64), level=level)
            rows.append(
                {group: key, "kpi": kpi, "mean": ci.mean, "ci_lo": ci.low, "ci_hi": ci.high,
                 "n": ci.n}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=[group, "kpi", "mean", "ci_lo", "ci_hi", "n"])


def kpi_table(summary: pd.DataFrame, *, group: str = "policy") -> pd.DataFrame:
    """The KPI summary as a wide table for reading: one row per KPI, ``mean [lo, hi]`` per group.

    Rows and columns keep the summary's order (KPIs as computed, groups as first seen).
    """

    def cell(row: pd.Series) -> str:
        if np.isfinite(row["ci_lo"]):
            return f"{row['mean']:.4g} [{row['ci_lo']:.4g}, {row['ci_hi']:.4g}]"
        return f"{row['mean']:.4g}"

    text = summary.assign(cell=summary.apply(cell, axis=1))
    wide = text.pivot(index="kpi", columns=group, values="cell")
    # Rows and columns in first-seen order (the KPIs as computed, the policies as chosen).
    return wide.reindex(index=summary["kpi"].unique(), columns=summary[group].unique())


def readable_kpi_table(summary: pd.DataFrame, *, group: str = "policy") -> pd.DataFrame:
    """The KPI summary for reading: grouped and named by ``sim.kpi_catalog``, with units.

    Parameters
    ----------
    summary
        :func:`kpi_summary`'s table (``<group>, kpi, mean, ci_lo, ci_hi, n``).
    group
        The column holding the policy.

    Returns
    -------
    DataFrame
        First a ``runs (n)`` row (the runs each policy's cells rest on), then one row per KPI,
        by catalogue group (harm, reaction speed, governance outcomes, decentralisation,
        economy, other): ``group, KPI, unit`` (with ↓/↑ for which way is better), one
        ``mean [lo, hi]`` column per policy (``n=k`` where a cell rests on fewer runs) and
        the KPI's ``key``.
    """
    from sim.kpi_tables import kpi_tables

    renamed = summary.rename(columns={"ci_lo": "low", "ci_hi": "high"})
    tables = kpi_tables(renamed, group=group)
    if not tables:
        return pd.DataFrame(columns=["group", "KPI", "unit", "key"])
    policies = list(tables[0].policies)
    rows = [
        {
            "group": "",
            "KPI": "runs (n)",
            "unit": "",
            **{p: str(tables[0].n[p]) for p in policies},
            "key": "",
        }
    ]
    for table in tables:
        for (name, unit, cells), key in zip(table.rows, table.keys, strict=True):
            rows.append(
                {
                    "group": table.title,
                    "KPI": name,
                    "unit": unit,
                    **dict(zip(policies, cells, strict=True)),
                    "key": key,
                }
            )
    return pd.DataFrame(rows, columns=["group", "KPI", "unit", *policies, "key"])


def readable_run_kpis(kpis: Mapping[str, Any]) -> pd.DataFrame:
    """One run's KPIs for reading: ``group, KPI, unit, value, key`` by catalogue group.

    Numbers are compacted (``14.4k``) and shown in the KPI's unit (``%`` values are the
    stored fractions times 100); text values (the policy) are left out.
    """
    from sim.kpi_catalog import GROUP_TITLES, describe_kpi, group_kpis
    from sim.kpi_tables import compact_number

    numeric = [
        k
        for k, v in kpis.items()
        if isinstance(v, int | float | np.number) and not isinstance(v, bool) and k != "seed"
    ]
    rows = []
    for group, keys in group_kpis(numeric):
        for key in keys:
            info = describe_kpi(key)
            rows.append(
                {
                    "group": GROUP_TITLES[group],
                    "KPI": info.name,
                    "unit": info.unit + {"lower": " ↓", "higher": " ↑"}.get(info.direction, ""),
                    "value": compact_number(float(kpis[key]) * info.scale),
                    "key": key,
                }
            )
    return pd.DataFrame(rows, columns=["group", "KPI", "unit", "value", "key"])


def readable_constants(constant: Mapping[str, Any]) -> str:
    """KPIs equal in every run as one line, by name and unit ("" when there are none)."""
    from sim.kpi_tables import format_constants

    return format_constants({k: float(v) for k, v in constant.items()}, width=10**6)


def split_constant_kpis(
    kpis: pd.DataFrame, *, group: str = "policy"
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Separate KPIs that are the same in every run (counts, settings) from those that vary.

    Returns
    -------
    varying : DataFrame
        ``kpis`` without the constant numeric columns.
    constant : dict
        The constant KPIs and their value.
    """
    constant: dict[str, Any] = {}
    for column in numeric_columns(kpis, exclude=(group,)):
        values = kpis[column].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == values.size and finite.size and np.all(finite == finite[0]):
            constant[column] = kpis[column].iloc[0]
    return kpis.drop(columns=list(constant)), constant


# -- network-wide and per-subnet views of a run ------------------------------------------------


def network_columns(timeseries: pd.DataFrame) -> list[str]:
    """Columns of a per-subnet time series that hold one network-wide value per time.

    The model repeats network quantities (TAO price, premium, HHI...) on every subnet's row; a
    column is network-wide when it has a single value at every recorded time.
    """
    if "netuid" not in timeseries.columns:
        return list(timeseries.columns)
    time = time_column(timeseries)
    candidates = [c for c in timeseries.columns if c not in {"netuid", time}]
    if not candidates:
        return []
    unique = timeseries.groupby(time)[candidates].nunique(dropna=False).max()
    return [c for c in candidates if unique[c] <= 1]


#: Per-subnet columns that add up across subnets (their sum is a network total).
_ADDITIVE_PREFIXES: tuple[str, ...] = ("income_", "stake_", "pool_")


def network_frame(timeseries: pd.DataFrame) -> pd.DataFrame:
    """One row per recorded time with network-wide columns.

    Network-wide columns (see :func:`network_columns`) are kept; additive per-subnet columns
    (``income_*``, ``stake_*``, ``pool_*``) are summed over subnets; from ``emission_share``
    the Nakamoto coefficient of emission at one half (``emission_nakamoto_50``, the
    definition of :func:`protocol.governance.metrics.nakamoto_coefficient`) is derived.
    """
    if "netuid" not in timeseries.columns:
        return timeseries.reset_index(drop=True)
    time = time_column(timeseries)
    grouped = timeseries.groupby(time, sort=True)
    keep = [c for c in network_columns(timeseries) if c != time]
    out = grouped[keep].first() if keep else pd.DataFrame(index=grouped.size().index)
    additive = [
        c
        for c in timeseries.columns
        if c.startswith(_ADDITIVE_PREFIXES)
        and c not in keep
        and pd.api.types.is_numeric_dtype(timeseries[c])
    ]
    if additive:
        out = out.join(grouped[additive].sum())
    if "emission_share" in timeseries.columns:
        out["emission_nakamoto_50"] = grouped["emission_share"].apply(
            lambda shares: nakamoto_coefficient(shares.to_numpy(dtype=np.float64), 0.5)
        )
    return out.reset_index()


def network_frame_by_run(
    timeseries: pd.DataFrame, keys: Sequence[str] = ("policy", "replication", "seed")
) -> pd.DataFrame:
    """:func:`network_frame` of each run in a stacked time series, keeping the run's ``keys``."""
    keys = [c for c in keys if c in timeseries.columns]
    if not keys:
        return network_frame(timeseries)
    parts = [
        network_frame(part.drop(columns=keys)).assign(**dict(zip(keys, key, strict=True)))
        for key, part in timeseries.groupby(keys, sort=False)
    ]
    return pd.concat(parts, ignore_index=True)


#: Colours of subnets (by netuid) and policies (by their place among the registered ones): the
#: ten hues of Vega's ``category20`` first, then their light partners, so 20 subnets never share
#: a colour and neighbours never look alike. A subnet or policy keeps its colour on every chart
#: and in every run; beyond 20 the palette repeats.
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip


def subnet_label(netuid: int) -> str:
    """The label of subnet ``netuid`` on charts: ``"SN3"``."""
    return f"SN{int(netuid)}"


def _netuid_of(label: str) -> int:
    return int(str(label).removeprefix("SN"))


def subnet_scale(labels: Iterable[str]) -> tuple[list[str], list[str]]:
    """The colour scale of a subnet chart: labels in numeric order and each subnet's colour.

    Parameters
    ----------
    labels
        Subnet labels (``"SN<netuid>"``, repeats allowed).

    Returns
    -------
    domain : list of str
        The distinct labels sorted by netuid: ``SN0, SN1, SN2, ..., SN10``.
    colours : list of str
        ``PALETTE[netuid % 20]`` for each label of ``domain``.
    """
    domain = sorted(set(labels), key=_netuid_of)
    return domain, [PALETTE[_netuid_of(x) % len(PALETTE)] for x in domain]


def policy_scale(policies: Iterable[str], registered: Sequence[str]) -> tuple[list[str], list[str]]:
    """The colour scale of a chart by policy: each policy's colour follows its registry place.

    Parameters
    ----------
    policies
        The policies on the chart (repeats allowed), kept in first-seen order.
    registered
        Every registered policy (``policy_names()``); a policy outside it gets the next colours.

    Returns
    -------
    domain, colours : list of str
    """
    domain = list(dict.fromkeys(policies))
    places = {name: i for i, name in enumerate(registered)}
    extra = iter(range(len(places), len(places) + len(domain)))
    return domain, [
        PALETTE[(places[p] if p in places else next(extra)) % len(PALETTE)] for p in domain
    ]


def subnet_frame(timeseries: pd.DataFrame) -> pd.DataFrame:
    """Per-subnet columns only: ``time, netuid, subnet_order, ...``.

    ``netuid`` becomes the label ``"SN<i>"`` (for legends and colours, see :func:`subnet_scale`)
    and ``subnet_order`` keeps the number, so stacked charts stack in netuid order.
    """
    if "netuid" not in timeseries.columns:
        return pd.DataFrame()
    time = time_column(timeseries)
    network = set(network_columns(timeseries))
    columns = [c for c in timeseries.columns if c not in network and c not in {time, "netuid"}]
    out = timeseries[[time, "netuid", *columns]].dropna(subset=["netuid"]).copy()
    order = out["netuid"].astype(int)
    out["netuid"] = order.map(subnet_label)
    out.insert(2, "subnet_order", order)
    return out


def long_series(
    frame: pd.DataFrame, columns: Sequence[str], *, time: str | None = None
) -> pd.DataFrame:
    """A tidy ``time, series, value`` table of ``columns`` for a multi-line chart."""
    time = time or time_column(frame)
    return frame[[time, *columns]].melt(id_vars=[time], var_name="series", value_name="value")


# -- marks on timelines -----------------------------------------------------------------------

#: Logged events that are governance outcomes: an executed (or reverted) lever, a proposal the
#: policy refused outright, and a referendum that ended without executing.
GOVERNANCE_EVENT_KINDS: frozenset[str] = frozenset(
    {"executed", "proposal_refused", "gov_rejected", "gov_expired", "gov_cancelled", "gov_killed"}
)
#: Event fields that make up a timeline label, in order.
_EVENT_LABEL_COLUMNS: tuple[str, ...] = ("kind", "lever", "netuid", "intent", "detail")
_MARK_COLUMNS: tuple[str, ...] = ("label", "category")


def _times(frame: pd.DataFrame, time: str) -> pd.Series | None:
    """``frame``'s event times in the chart's unit (days ↔ blocks at 7 200 blocks a day)."""
    from protocol.units import BLOCKS_PER_DAY

    if time in frame.columns:
        return pd.to_numeric(frame[time], errors="coerce")
    if time in _DAY_COLUMNS and "block" in frame.columns:
        return pd.to_numeric(frame["block"], errors="coerce") / BLOCKS_PER_DAY
    day = next((c for c in _DAY_COLUMNS if c in frame.columns), None)
    if time == "block" and day is not None:
        return pd.to_numeric(frame[day], errors="coerce") * BLOCKS_PER_DAY
    return None


def _text(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _label(values: Iterable[Any]) -> str:
    parts = [
        _text(v)
        for v in values
        if v is not None and v != "" and not (isinstance(v, float) and np.isnan(v))
    ]
    return " ".join(parts) or "event"


def timeline_marks(
    events: pd.DataFrame,
    *,
    time: str,
    shocks: Sequence[Any] = (),
    other: bool = False,
    keys: Sequence[str] = ("policy",),
) -> pd.DataFrame:
    """What a timeline marks: governance outcomes and the configured shocks, other events on demand.

    Parameters
    ----------
    events
        A run's event log (or several runs' stacked), with ``kind`` and ``block`` or ``day``.
    time
        The chart's time column; event times are converted to it.
    shocks
        The scenario's configured shocks (``SimConfig.shocks``), marked at their day.
    other
        Also mark every other logged event (proposals, miner moves, owner exits...).
    keys
        Columns of ``events`` to keep on each mark (the policy of a stacked comparison).

    Returns
    -------
    DataFrame
        ``time, label, category`` (+ ``keys`` present in ``events``); ``category`` is
        ``"governance"``, ``"shock"`` or ``"other"``. Duplicate marks are dropped.
    """
    parts = [shock_marks(shocks, time=time)] if shocks else []
    if not events.empty and "kind" in events.columns:
        when = _times(events, time)
        if when is not None:
            governance = events["kind"].isin(GOVERNANCE_EVENT_KINDS)
            chosen = events if other else events[governance]
            label_columns = [c for c in _EVENT_LABEL_COLUMNS if c in chosen.columns]
            kept = [k for k in keys if k in chosen.columns]
            labels = chosen[label_columns].apply(_label, axis=1) if len(chosen) else []
            parts.append(
                pd.DataFrame(
                    {
                        time: when.loc[chosen.index],
                        "label": labels,
                        "category": np.where(governance.loc[chosen.index], "governance", "other"),
                        **{k: chosen[k] for k in kept},
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=[time, *_MARK_COLUMNS])
    marks = pd.concat(parts, ignore_index=True).dropna(subset=[time])
    return marks.drop_duplicates().reset_index(drop=True)


def shock_marks(shocks: Sequence[Any], *, time: str = "day") -> pd.DataFrame:
    """The scenario's configured shocks as ``time, label, category="shock"`` marks.

    Parameters
    ----------
    shocks
        ``SimConfig.shocks``: objects with ``day`` and ``kind`` (pydantic models or mappings).
    time
        ``"day"`` (or another day column) or ``"block"``.
    """
    rows = []
    for shock in shocks:
        data = shock.model_dump() if hasattr(shock, "model_dump") else dict(shock)
        lever = data.get("lever") if isinstance(data.get("lever"), Mapping) else {}
        netuid = data.get("netuid", lever.get("netuid"))
        target = subnet_label(netuid) if netuid is not None else None
        rows.append(
            {"day": float(data["day"]),
             "label": _label(["shock:", data["kind"], lever.get("kind"), target]),
             "category": "shock"}
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=["day", *_MARK_COLUMNS])
    when = _times(frame, time)
    if when is None:
        return pd.DataFrame(columns=[time, *_MARK_COLUMNS])
    return pd.DataFrame({time: when, "label": frame["label"], "category": frame["category"]})


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Parquet file bytes (for a download button); object cells become strings."""
    buffer = io.BytesIO()
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object:
            safe[column] = safe[column].map(
                lambda v: v if v is None or isinstance(v, str) else str(v)
            )
    safe.to_parquet(buffer, index=False)
    return buffer.getvalue()
