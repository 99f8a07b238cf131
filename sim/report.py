"""Study summaries: the compare table with confidence intervals, sweeps by design point, the
verdict, and a self-contained HTML report with embedded PNG plots (matplotlib, Agg backend).

Everything is read from the study directory (:class:`sim.store.StudyStore`).
:func:`summarize_study` builds one :class:`StudySummary`: the KPIs per policy (pooled over
every run), the design of a sweep (:func:`study_design`: the parameters that vary over its
points, read from each point's config), the KPIs per design point and policy, the response KPI
(:func:`choose_kpi`), and the verdict on harm versus reaction speed over the whole study and at
each design point. Four views render it: :func:`format_study` (the terminal: the KPI tables
grouped and named by :mod:`sim.kpi_catalog`, see :mod:`sim.kpi_tables`, never wider than the
terminal), :meth:`StudySummary.to_dict` (``--json``), :func:`summary_table` (``--csv``, long
form) and :func:`build_report` (``report.html`` from the ``sim/templates/report.html.j2``
jinja2 template: the same grouped tables, price paths with bands across seeds and the shocks
and executed governance actions marked (:mod:`sim.timeline_marks`), PnL per role, emission
shares, decentralisation metrics and, for a sweep, the per-point table and the response plots
of the chosen KPI over the design's axes).
"""

from __future__ import annotations

import base64
import difflib
import io
import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.stats import grouped_mean_ci, mean_ci, paired_diff_ci
from sim.store import StudyStore

if TYPE_CHECKING:
    from sim.frontier import FrontierResult, FrontierVerdict

__all__ = [
    "HARM_KPIS",
    "KPI_MEANINGS",
    "SPEED_KPIS",
    "Design",
    "PointVerdict",
    "ReportError",
    "StudyStatus",
    "StudySummary",
    "Verdict",
    "build_report",
    "choose_kpi",
    "compare_summary",
    "complete_pairs",
    "format_compare_table",
    "format_study",
    "frontier_figure",
    "frontier_table",
    "linked_sensitivity_section",
    "point_summary",
    "render_html",
    "response_figures",
    "sensitivity_section",
    "study_design",
    "study_status",
    "summarize_study",
    "summary_table",
    "verdict",
    "write_summary_csv",
]

#: KPIs read as "harm", with the sign that turns each into "larger = worse", in order of
#: preference; the first present is used. The aggregate of the harm vector (``harm.total``,
#: USD; docs/studies.md) comes first; studies written before it fall back on TAO holders' loss
#: (minus their relative PnL, i.e. the TAO price's fall over the run): its paired difference
#: between policies is precise, while the maximum drawdown also carries the path's exogenous
#: noise.
HARM_KPIS: tuple[tuple[str, float], ...] = (
    ("harm.total", 1.0),
    ("pnl.tao_holders.mean", -1.0),
    ("tao.max_drawdown", 1.0),
    ("fp.emission_share_hit", 1.0),
    ("exploits.stolen_tao", 1.0),
)
#: KPIs read as "reaction time" (larger = slower), in order of preference; the first with a
#: finite value is used (the measured days from detection to execution over the warranted
#: cases, then the time to stop exploits, else the delay the policy enforces on an emission
#: lever).
SPEED_KPIS: tuple[str, ...] = (
    "reaction.days_to_act_mean",
    "exploits.mean_days_to_stop",
    "decentralisation.enforced_delay_days",
)
_ID_COLUMNS = {"run_id", "attempt", "scenario_id", "point", "replication", "policy", "seed"}
_TIME_COLUMNS = ("day", "days", "time_days", "block", "epoch", "step")


# -- the compare table ---------------------------------------------------------------------------
def kpi_columns(kpis: pd.DataFrame) -> list[str]:
    """Numeric KPI columns (identifiers and booleans excluded), in table order."""
    return [
        c
        for c in kpis.columns
        if c not in _ID_COLUMNS
        and pd.api.types.is_numeric_dtype(kpis[c])
        and not pd.api.types.is_bool_dtype(kpis[c])
    ]


def constant_kpis(kpis: pd.DataFrame) -> dict[str, float]:
    """KPIs with one value in every run (e.g. the horizon): they cannot separate policies."""
    out = {}
    for col in kpi_columns(kpis):
        values = kpis[col].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size == 0 or (finite.size == values.size and np.all(finite == finite[0])):
            out[col] = float(finite[0]) if finite.size else float("nan")
    return out


def compare_summary(
    kpis: pd.DataFrame,
    *,
    group: str = "policy",
    level: float = 0.95,
    policies: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean and Student-t confidence interval of every KPI per group.

    Parameters
    ----------
    kpis
        One row per run (``store.table("kpis")``).
    group
        The column that separates the arms (the policy).
    level
        Confidence level.
    policies
        Order of the groups (default: order of appearance).

    Returns
    -------
    DataFrame
        ``policy, kpi, mean, low, high, n``.
    """
    rows = []
    order = list(policies) if policies is not None else list(dict.fromkeys(kpis[group]))
    for name in order:
        sub = kpis[kpis[group] == name]
        for kpi in kpi_columns(kpis):
            ci = mean_ci(sub[kpi].to_numpy(dtype=float), level=level)
            rows.append(
                {
                    group: name,
                    "kpi": kpi,
                    "mean": ci.mean,
                    "low": ci.low,
                    "high": ci.high,
                    "n": ci.n,
                }
            )
    return pd.DataFrame(rows, columns=[group, "kpi", "mean", "low", "high", "n"])


def _cell(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(low):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {(high - low) / 2:.2g}"


def wide_table(summary: pd.DataFrame, *, group: str = "policy") -> pd.DataFrame:
    """One row per KPI, one column per policy, cells ``mean ± half-width``."""
    cells = summary.assign(
        cell=[
            _cell(m, lo, hi)
            for m, lo, hi in zip(summary["mean"], summary["low"], summary["high"], strict=True)
        ]
    )
    table = cells.pivot(index="kpi", columns=group, values="cell")
    return table.reindex(
        index=list(dict.fromkeys(summary["kpi"])), columns=list(dict.fromkeys(summary[group]))
    )


def format_compare_table(summary: pd.DataFrame, *, width: int = 140, level: float = 0.95) -> str:
    """The wide table as text, split into blocks of policies that fit ``width`` characters."""
    table = wide_table(summary)
    if table.empty:
        return "(no KPIs)"
    label = max(len("KPI"), *(len(str(k)) for k in table.index))
    col = (
        max(
            12,
            *(len(str(v)) for v in table.to_numpy().ravel()),
            *(len(str(c)) for c in table.columns),
        )
        + 2
    )
    per_block = max(1, (width - label) // col)
    blocks = []
    columns = list(table.columns)
    for start in range(0, len(columns), per_block):
        cols = columns[start : start + per_block]
        lines = ["KPI".ljust(label) + "".join(str(c).rjust(col) for c in cols)]
        lines.append("-" * len(lines[0]))
        for kpi, row in table[cols].iterrows():
            lines.append(str(kpi).ljust(label) + "".join(str(row[c]).rjust(col) for c in cols))
        blocks.append("\n".join(lines))
    note = f"cells: mean ± half-width of the {level:.0%} t confidence interval over seeds"
    return "\n\n".join(blocks) + "\n" + note


# -- runs not done: the header of every summary ---------------------------------------------------
@dataclass(frozen=True)
class StudyStatus:
    """How far a study got: runs by status and the (point, replication) pairs every policy
    finished.

    Attributes
    ----------
    counts
        Runs by status (``SUCCEEDED``, ``PENDING``, ``FAILED``, ``ABORTED``).
    pairs, complete
        Design (point, replication) pairs, and those where every policy's run succeeded.
    """

    counts: dict[str, int]
    pairs: int
    complete: int

    @property
    def total(self) -> int:
        """All runs of the study."""
        return sum(self.counts.values())

    @property
    def finished(self) -> bool:
        """True when every run succeeded."""
        return self.counts.get("SUCCEEDED", 0) == self.total

    def header(self) -> str | None:
        """The warning printed above every summary of an unfinished study (None if finished)."""
        if self.finished:
            return None
        parts = ", ".join(
            f"{self.counts[s]} {s}" for s in ("PENDING", "FAILED", "ABORTED") if self.counts.get(s)
        )
        return (
            f"unfinished study: {self.total - self.counts.get('SUCCEEDED', 0)} of "
            f"{self.total} runs not done ({parts}); the tables use the "
            f"{self.counts.get('SUCCEEDED', 0)} succeeded runs, the verdict only the "
            f"{self.complete} of {self.pairs} seeds (point x replication) every policy "
            "finished; `govsim resume` runs the rest"
        )


def study_status(manifest: pd.DataFrame) -> StudyStatus:
    """The :class:`StudyStatus` of a manifest (one row per run)."""
    counts = {str(k): int(v) for k, v in manifest["status"].value_counts().items()}
    keys = ["point", "replication"]
    policies = manifest["policy"].nunique()
    ok = manifest[manifest["status"] == "SUCCEEDED"]
    per_pair = ok.groupby(keys)["policy"].nunique()
    pairs = len(manifest.drop_duplicates(keys))
    return StudyStatus(counts, pairs, int((per_pair == policies).sum()))


def complete_pairs(
    kpis: pd.DataFrame, *, group: str = "policy", policies: Sequence[str] | None = None
) -> pd.DataFrame:
    """The rows of ``kpis`` whose (point, replication) has a row of every policy.

    Parameters
    ----------
    kpis
        One row per succeeded run.
    group
        The column naming the policy.
    policies
        The study's policies (default: those in ``kpis``); a pair lacking any of them is
        dropped.
    """
    keys = [k for k in ("point", "replication") if k in kpis.columns]
    wanted = set(policies) if policies is not None else set(kpis[group])
    if not keys or kpis.empty:
        return kpis if set(kpis[group]) >= wanted else kpis.iloc[0:0]
    present = kpis[kpis[group].isin(wanted)]
    counts = present.groupby(keys)[group].nunique()
    full = counts[counts == len(wanted)].index
    mask = pd.MultiIndex.from_frame(present[keys]).isin(full)
    return present[mask]


# -- the verdict ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """The harm-versus-speed reading of a compare study.

    Attributes
    ----------
    harm_kpi, speed_kpi
        The KPIs read as harm and as reaction time (None when absent).
    reference
        The policy others are compared with (``sudo`` when present).
    least_harm
        Policies with the lowest mean harm (ties: equal means or a paired CI containing 0).
    fewer_harm
        Policies whose paired harm difference to the reference is significantly negative.
    line
        The one-line verdict.
    """

    harm_kpi: str | None
    speed_kpi: str | None
    reference: str | None
    least_harm: tuple[str, ...]
    fewer_harm: tuple[str, ...]
    line: str


def _first_present(candidates: Sequence[str], kpis: pd.DataFrame) -> str | None:
    """The first candidate KPI with at least one finite value."""
    for name in candidates:
        if name in kpis.columns and np.isfinite(kpis[name].to_numpy(dtype=float)).any():
            return name
    return None


def _paired(kpis: pd.DataFrame, kpi: str, a: str, b: str, group: str) -> Any:
    """t interval of ``kpi[a] - kpi[b]`` over runs with the same point and replication."""
    keys = [k for k in ("point", "replication") if k in kpis.columns]
    left = kpis[kpis[group] == a].set_index(keys)[kpi]
    right = kpis[kpis[group] == b].set_index(keys)[kpi]
    both = pd.concat([left, right], axis=1, join="inner").to_numpy(dtype=float)
    return paired_diff_ci(both[:, 0], both[:, 1])


def _days(value: float) -> str:
    if not np.isfinite(value):
        return "never"
    return f"{value:.3g} d"


def _harm_column(kpis: pd.DataFrame) -> tuple[str | None, pd.DataFrame]:
    """Add a ``harm`` column (larger = worse) from the first available :data:`HARM_KPIS`."""
    for name, sign in HARM_KPIS:
        if name in kpis.columns and np.isfinite(kpis[name].to_numpy(dtype=float)).any():
            label = name if sign > 0 else f"loss = -{name}"
            return label, kpis.assign(harm=sign * kpis[name].astype(float))
    return None, kpis


def verdict(
    kpis: pd.DataFrame,
    *,
    group: str = "policy",
    reference: str = "sudo",
    policies: Sequence[str] | None = None,
    cannot_act: Sequence[str] = (),
) -> Verdict:
    """One line on harm versus reaction speed, from paired comparisons over the same seeds.

    Harm is the first KPI of :data:`HARM_KPIS` in the study (signed so larger = worse), reaction time the
    first of :data:`SPEED_KPIS` with a finite value (larger = slower; NaN or inf = never).
    Runs of different policies with the same design point and replication share their seeds
    (common random numbers), so each policy is compared with the reference by the t interval
    of the paired differences.

    Parameters
    ----------
    kpis
        One row per run (``store.table("kpis")``) with ``policy``, ``point`` and
        ``replication``.
    group
        The column naming the policy.
    reference
        The policy to compare with; the fastest-reacting one when absent.
    policies
        The study's policies (default: those in ``kpis``). Only (point, replication) pairs
        where every one of them has a row are used, so every policy rests on the same seeds;
        the line says how many pairs were left out.
    cannot_act
        Designs that cannot act (:mod:`sim.frontier`, the conformance check): named, never
        ranked as least harm nor as doing less harm than the reference (they only look
        harmless because the matters cannot reach them).
    """
    wanted = list(dict.fromkeys(policies if policies is not None else kpis[group]))
    if len(wanted) < 2:
        only = wanted[0] if wanted else "none"
        return Verdict(
            None,
            None,
            None,
            (),
            (),
            f"verdict: one policy ({only}) in this study, nothing to compare it with",
        )
    complete = complete_pairs(kpis, group=group, policies=wanted)
    keys = [k for k in ("point", "replication") if k in kpis.columns]
    n_pairs = len(kpis.drop_duplicates(keys)) if keys else 0
    n_complete = len(complete.drop_duplicates(keys)) if keys else 0
    if complete.empty and not kpis.empty:
        missing = [p for p in wanted if p not in set(kpis[group])]
        why = (
            f"{', '.join(missing)} has no succeeded run"
            if missing
            else "no seed has a succeeded run of every policy"
        )
        return Verdict(
            None,
            None,
            None,
            (),
            (),
            f"verdict: none: {why} (policies are compared on the same seeds only)",
        )
    note = (
        f" [on the {n_complete} of {n_pairs} seeds every policy finished]"
        if n_complete < n_pairs
        else ""
    )
    verdict_ = _verdict(complete, group=group, reference=reference, cannot_act=cannot_act)
    return Verdict(
        verdict_.harm_kpi,
        verdict_.speed_kpi,
        verdict_.reference,
        verdict_.least_harm,
        verdict_.fewer_harm,
        verdict_.line + note,
    )


def _harmful_counts(kpis: pd.DataFrame, group: str) -> dict[str, tuple[int, int]]:
    """Per policy: (seeds in which a harmful proposal executed, seeds)."""
    column = "governance.harmful_executed"
    if column not in kpis.columns:
        return {}
    executed = kpis[column].astype(float).fillna(0.0) > 0
    by = executed.groupby(kpis[group], sort=False)
    return {str(p): (int(v.sum()), int(v.size)) for p, v in by}


def _tied_text(best: str, least: Sequence[str], counts: dict[str, tuple[int, int]]) -> str:
    """``best`` and the designs within its interval: "tied" only when they executed harmful
    actions in as many seeds; otherwise the seeds in which each did are stated."""
    others = [p for p in least if p != best]
    if not others:
        return best
    seeds = {p: counts.get(p) for p in least}
    if all(v is not None for v in seeds.values()) and len(set(seeds.values())) > 1:
        groups: dict[tuple[int, int], list[str]] = {}
        for p in least:
            groups.setdefault(seeds[p], []).append(p)  # type: ignore[arg-type]
        parts = [
            f"{k} of {n} seeds: {', '.join(names)}" for (k, n), names in sorted(groups.items())
        ]
        return (
            f"{best} (within the paired interval: {', '.join(others)}; a harmful action "
            f"executed in {'; '.join(parts)})"
        )
    return f"{best} (tied: {', '.join(others)})"


def _verdict(
    kpis: pd.DataFrame, *, group: str, reference: str, cannot_act: Sequence[str] = ()
) -> Verdict:
    """The verdict on rows that all rest on the same (point, replication) pairs."""
    harm_label, kpis = _harm_column(kpis)
    harm = "harm" if harm_label is not None else None
    speed = _first_present(SPEED_KPIS, kpis)
    policies = list(dict.fromkeys(kpis[group]))
    if harm is None or not policies:
        looked = ", ".join(name for name, _ in HARM_KPIS)
        return Verdict(
            None, speed, None, (), (), f"verdict: no harm KPI in this study (looked for {looked})"
        )
    harm_mean = kpis.groupby(group, sort=False)[harm].mean()
    speed_mean = (
        kpis.groupby(group, sort=False)[speed].mean().astype(float).replace(np.nan, np.inf)
        if speed
        else None
    )
    # Designs that cannot act are named, never ranked: they look harmless only because the
    # matters cannot reach them.
    excluded = [p for p in policies if p in set(cannot_act)]
    ranked = [p for p in policies if p not in excluded]
    if not ranked:
        return Verdict(
            harm_label,
            speed,
            None,
            (),
            (),
            f"verdict: no policy can act ({', '.join(excluded)}); nothing to rank",
        )
    if reference not in ranked:
        reference = str(speed_mean[ranked].idxmin()) if speed_mean is not None else ranked[0]
    best = str(harm_mean[ranked].idxmin())
    least = tuple(
        p
        for p in ranked
        if p == best
        or harm_mean[p] == harm_mean[best]
        or (lambda ci: np.isfinite(ci.low) and ci.low <= 0.0 <= ci.high)(
            _paired(kpis, harm, p, best, group)
        )
    )
    diffs = {p: _paired(kpis, harm, p, reference, group) for p in ranked if p != reference}
    fewer = tuple(p for p, ci in diffs.items() if np.isfinite(ci.high) and ci.high < 0.0)
    parts = [
        f"{len(fewer)} of {len(ranked) - 1} policies do significantly less harm than "
        f"{reference} (harm: {harm_label}; {reference} {harm_mean[reference]:.3g})"
    ]
    counts = _harmful_counts(kpis, group)
    if best != reference:
        ci = diffs[best]
        named = _tied_text(best, least, counts)
        parts.append(
            f"least harm: {named} {harm_mean[best]:.3g}, {ci.mean:+.3g} "
            f"[{ci.low:+.3g}, {ci.high:+.3g}] vs {reference} (paired, n={ci.n})"
        )
    else:
        named = _tied_text(reference, least, counts)
        parts.append(
            f"least harm: {reference} itself"
            + ("" if named == reference else named.removeprefix(reference))
        )
    if speed_mean is not None:
        # The fastest of the policies that cut harm significantly (the least-harm ones first).
        pool = [p for p in least if p in fewer] or list(fewer)
        if not pool:
            parts.append(
                f"reaction ({speed}): {reference} {_days(speed_mean[reference])}; "
                "no policy cuts harm significantly"
            )
        else:
            quick = min(pool, key=lambda p: speed_mean[p])
            parts.append(
                f"reaction ({speed}): {reference} {_days(speed_mean[reference])}, "
                f"{quick} {_days(speed_mean[quick])}"
            )
            if speed_mean[quick] <= speed_mean[reference]:
                parts.append(f"{quick} cuts harm at no cost in reaction speed")
            else:
                parts.append(
                    f"{quick} cuts harm but reacts "
                    f"{_days(speed_mean[quick] - speed_mean[reference])} slower"
                )
    if excluded:
        parts.append(f"cannot act, not ranked: {', '.join(excluded)}")
    return Verdict(harm_label, speed, reference, least, fewer, "verdict: " + "; ".join(parts))


# -- plots ------------------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _time_column(frame: pd.DataFrame) -> str | None:
    return next((c for c in _TIME_COLUMNS if c in frame.columns), None)


def _matching(columns: Sequence[str], pattern: str) -> list[str]:
    rx = re.compile(pattern, re.IGNORECASE)
    return [c for c in columns if rx.search(c)]


def _network_series(series: pd.DataFrame) -> pd.DataFrame:
    """One row per run and time: network-level columns repeat in every subnet's row."""
    if "netuid" in series.columns:
        return series[series["netuid"] == series["netuid"].min()]
    return series


def _most_affected_subnet(series: pd.DataFrame, value: str, time: str) -> int:
    """The subnet where policies differ most in mean ``value`` (over runs, at any time); with
    one policy (or no differences), the one whose mean path spans the widest range."""
    means = series.groupby(["netuid", "policy", time])[value].mean()
    between = means.groupby(level=["netuid", time]).agg(lambda v: float(v.max() - v.min()))
    by_subnet = between.groupby(level="netuid").max()
    if by_subnet.max() > 0:
        return int(by_subnet.idxmax())
    spans = means.groupby(level="netuid").agg(lambda v: float(v.max() - v.min()))
    return int(spans.idxmax())


def _band_plot(
    series: pd.DataFrame, value: str, time: str, title: str, marks: pd.DataFrame | None = None
) -> str:
    import matplotlib.pyplot as plt

    from sim.timeline_marks import draw_marks

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    groups = list(series.groupby("policy", sort=False))
    colors = plt.get_cmap("tab20" if len(groups) > 10 else "tab10")
    alpha = 0.15 if len(groups) <= 4 else 0.07
    by_policy = {}
    for i, (policy, sub) in enumerate(groups):
        grouped = sub.groupby(time)[value]
        mean, lo, hi = grouped.mean(), grouped.quantile(0.05), grouped.quantile(0.95)
        color = colors(i % colors.N)
        by_policy[str(policy)] = color
        ax.plot(mean.index, mean.to_numpy(), label=str(policy), lw=1.4, color=color)
        ax.fill_between(mean.index, lo.to_numpy(), hi.to_numpy(), alpha=alpha, color=color, lw=0)
    if marks is not None:
        draw_marks(ax, marks, time=time, colors=by_policy)
    ax.set_xlabel(time)
    ax.set_ylabel(value)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3)
    ax.grid(alpha=0.3)
    return _png(fig)


def _box_plot(kpis: pd.DataFrame, columns: Sequence[str], title: str) -> str:
    import matplotlib.pyplot as plt

    policies = list(dict.fromkeys(kpis["policy"]))
    n = len(columns)
    ncols = min(n, 2)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 2.6 * nrows + 0.4), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, col in zip(axes.ravel(), columns, strict=False):
        data = [kpis.loc[kpis["policy"] == p, col].dropna().to_numpy() for p in policies]
        ax.boxplot(data, tick_labels=policies, showfliers=True)
        ax.set_ylabel(col, fontsize=7)
        ax.tick_params(axis="x", labelsize=7, rotation=30)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def _ci_bars(summary: pd.DataFrame, columns: Sequence[str], title: str) -> str:
    import matplotlib.pyplot as plt

    n = len(columns)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, col in zip(axes.ravel(), columns, strict=False):
        sub = summary[summary["kpi"] == col]
        x = np.arange(len(sub))
        err = np.vstack([sub["mean"] - sub["low"], sub["high"] - sub["mean"]])
        ax.bar(x, sub["mean"], yerr=np.nan_to_num(err), capsize=3, color="#4c78a8")
        ax.set_xticks(x, sub["policy"], rotation=45, ha="right", fontsize=7)
        ax.set_title(col, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


_MARKS_NOTE = (
    "; dashed rules: the scenario's timed shocks; dotted rules: governance actions "
    "that executed (per policy, at the median day, with the seeds that executed "
    "them)"
)


def _study_marks(store: StudyStore) -> pd.DataFrame:
    """The timelines' marks: the scenarios' shocks and the executed governance actions
    (:func:`sim.timeline_marks.report_marks`)."""
    from sim.timeline_marks import report_marks

    try:
        configs = [json.loads(c) for c in store.scenarios()["config"]]
    except (KeyError, ValueError, TypeError):
        configs = []
    return report_marks(store.table("events"), configs)


def _figures(store: StudyStore, kpis: pd.DataFrame, summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(caption, base64 PNG) for every plot the study's data supports."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    figures: list[tuple[str, str]] = []
    series = store.table("timeseries")
    time = _time_column(series) if not series.empty else None
    if time is not None:
        marks = _study_marks(store)
        note = _MARKS_NOTE if not marks.empty else ""
        network = _network_series(series)
        if "tao_price_usd" in network.columns:
            figures.append(
                (
                    "TAO price (USD): mean and 5–95 % band across seeds, per policy" + note,
                    _band_plot(network, "tao_price_usd", time, "TAO price (USD)", marks),
                )
            )
        if "netuid" in series.columns and series["netuid"].nunique() > 1:
            for col in ("emission_share", "alpha_price_usd"):
                if col not in series.columns:
                    continue
                subnet = _most_affected_subnet(series, col, time)
                sub = series[series["netuid"] == subnet]
                figures.append(
                    (
                        f"{col} of subnet {subnet} (where policies differ most), mean and "
                        "5–95 % band across seeds, per policy" + note,
                        _band_plot(sub, col, time, f"{col}, subnet {subnet}", marks),
                    )
                )
    columns = list(dict.fromkeys(summary["kpi"])) if not summary.empty else []
    pnl = [c for c in _matching(columns, r"^pnl\.") if c.endswith(".mean")]
    if pnl:
        figures.append(
            (
                "PnL per role (mean PnL of the role's accounts in a run, USD; TAO "
                "holders: relative price change): distribution over seeds, per policy",
                _box_plot(kpis, pnl[:6], "PnL per role"),
            )
        )
    decentral = _matching(columns, r"nakamoto|_nc_|hhi|gini|decentral")
    if decentral:
        figures.append(
            (
                "Decentralisation metrics: mean and 95 % CI per policy",
                _ci_bars(summary, decentral[:6], "Decentralisation"),
            )
        )
    share_kpis = _matching(columns, r"share")
    if share_kpis:
        figures.append(
            (
                "Emission-share KPIs: mean and 95 % CI per policy",
                _ci_bars(summary, share_kpis[:4], "Emission shares"),
            )
        )
    return figures


# -- the design of a sweep -------------------------------------------------------------------------
class ReportError(ValueError):
    """A report that cannot be made as asked (e.g. ``--kpi`` names no KPI of the study)."""


@dataclass(frozen=True)
class Design:
    """The design points of a study and the parameters that vary over them.

    Attributes
    ----------
    axes
        The varying parameters shown, as dotted paths into the config
        (``validators.mix.cabal``, ``network.kappa``); empty for a single-point study.
    points
        One row per design point (index ``point``), one column per axis: the value the point's
        config holds (in the field's own unit, e.g. blocks).
    """

    axes: tuple[str, ...]
    points: pd.DataFrame

    @property
    def is_sweep(self) -> bool:
        """True when the study has more than one design point."""
        return len(self.points) > 1

    def values(self, point: int) -> dict[str, Any]:
        """The axes' values at ``point``."""
        row = self.points.loc[point]
        return {axis: _plain(row[axis]) for axis in self.axes}

    def label(self, point: int) -> str:
        """``validators.mix.cabal=0.1, network.kappa=0.5``."""
        return ", ".join(
            f"{axis}={format_value(value)}" for axis, value in self.values(point).items()
        )

    def describe(self) -> str:
        """``12 design points over validators.mix.cabal x network.kappa``."""
        n = len(self.points)
        if not self.axes:
            return f"{n} design point" + ("s" if n != 1 else "")
        return f"{n} design points over {' x '.join(self.axes)}"


def _plain(value: Any) -> Any:
    """numpy scalars as Python scalars (for JSON and formatting)."""
    return value.item() if isinstance(value, np.generic) else value


def format_value(value: Any) -> str:
    """An axis value as a short string: ``0.1``, ``7200``, ``true``, ``none`` (unset)."""
    value = _plain(value)
    if value is None:
        return "none"
    if isinstance(value, float) and np.isnan(value):
        return "n/a"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _lookup(data: Any, path: str) -> Any:
    """``data`` at a dotted path (numbers index lists); KeyError when absent."""
    node = data
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


def _leaves(prefix: str, value: Any) -> dict[str, Any]:
    """Flatten a table or array into ``prefix.key`` leaves (scalars stay as they are)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(f"{prefix}.{key}", item))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(_leaves(f"{prefix}.{i}", item))
        return out
    return {prefix: value}


def _codes(column: pd.Series) -> np.ndarray:
    """Integer codes of a column's distinct values (None/NaN a value of its own)."""
    keys = column.map(lambda v: json.dumps(_plain(v), sort_keys=True, default=str))
    return pd.factorize(keys)[0]


def _independent(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The leaves of one parameter worth showing: a leaf that is a function of the leaves
    already kept adds nothing (``honest`` is ``1 - cabal`` in a two-way mix).

    Finer leaves first; between equally fine numeric leaves the one with the smaller mean (in
    a mix, the minority strategy the design varies), then file order.
    """

    def rank(col: str) -> tuple[float, float, int]:
        values = pd.to_numeric(frame[col], errors="coerce")
        numeric = values.notna().all() and not frame[col].map(lambda v: isinstance(v, bool)).any()
        mean = float(values.mean()) if numeric else np.inf
        return (-len(set(_codes(frame[col]))), mean, columns.index(col))

    kept: list[str] = []
    combos = np.zeros(len(frame), dtype=int)
    for col in sorted(columns, key=rank):
        joined = pd.factorize(pd.Series(list(zip(combos, _codes(frame[col]), strict=True))))[0]
        if len(set(joined)) > len(set(combos)):
            kept.append(col)
            combos = joined
    return [c for c in columns if c in kept]


def study_design(scenarios: pd.DataFrame) -> Design:
    """The :class:`Design` of a study from its ``scenarios.parquet`` table.

    Each point's parameters are read from the point's stored config (so a value given as
    ``"20 hours"`` shows as ``6000`` blocks, and a record that leaves a field at the file's value
    shows that value); tables and arrays are flattened into leaves; parameters equal at every
    point are dropped, and so are leaves of one parameter that follow from its other leaves.
    """
    ids = {"scenario_id", "point", "policy", "config"}
    per_point = scenarios.drop_duplicates("point").sort_values("point").set_index("point")
    keys = [c for c in per_point.columns if c not in ids]
    if len(per_point) <= 1 or not keys:
        points = pd.DataFrame(index=pd.Index(per_point.index, name="point"))
        if len(per_point) > 1:  # points with nothing to tell them apart: their number
            points["point"] = points.index
            return Design(("point",), points)
        return Design((), points)
    rows: list[dict[str, Any]] = []
    groups: dict[str, list[str]] = {}
    for point, row in per_point.iterrows():
        try:
            config = json.loads(row["config"]) if "config" in row else {}
        except (TypeError, ValueError):
            config = {}
        leaves: dict[str, Any] = {}
        for key in keys:
            try:
                value = _lookup(config, key)
            except KeyError:
                value = row[key]
            for leaf, item in _leaves(key, value).items():
                groups.setdefault(key, [])
                if leaf not in groups[key]:
                    groups[key].append(leaf)
                leaves[leaf] = _plain(item)
        rows.append({"point": int(point), **leaves})
    frame = pd.DataFrame(rows).set_index("point")
    frame = frame.astype(object).where(frame.notna(), None)
    axes: list[str] = []
    for key in keys:
        varying = [leaf for leaf in groups.get(key, []) if len(set(_codes(frame[leaf]))) > 1]
        axes += _independent(frame, varying) if varying else []
    if not axes:
        frame["point"] = frame.index
        axes = ["point"]
    points = frame[axes].copy()
    for axis in axes:
        numeric = pd.to_numeric(points[axis], errors="coerce")
        if numeric.notna().all() and not points[axis].map(lambda v: isinstance(v, bool)).any():
            points[axis] = numeric
    return Design(tuple(axes), points)


# -- choosing the response KPI ----------------------------------------------------------------------
#: What some KPIs mean, for the lines that introduce them.
KPI_MEANINGS: dict[str, str] = {
    "harm.total": "the harm vector's weighted sum in USD (holders' loss, TAO lost to unstopped "
    "exploits and scams, targeted participants' loss, halt days; larger = worse)",
    "reaction.days_to_act_mean": "days from detection to execution over the warranted cases "
    "(never acted on: days to the horizon)",
    "cabal.gain": "the cabal's miners' and validators' pay over what honest weighting pays them, "
    "minus 1 (0 = fair)",
    "cabal.excess_tao": "TAO the cabal earned over what honest weighting pays it",
    "pnl.tao_holders.mean": "TAO holders' return over the run (the TAO price's relative change)",
    "tao.max_drawdown": "the TAO price's largest fall from a running peak",
    "exploits.stolen_tao": "TAO drained by exploits",
    "exploits.mean_days_to_stop": "days from an exploit's start to its stop",
    "fp.emission_share_hit": "emission share cut by unwarranted interventions",
}


def available_kpis(kpis: pd.DataFrame) -> list[str]:
    """KPI columns with at least one finite value."""
    return [c for c in kpi_columns(kpis) if np.isfinite(kpis[c].to_numpy(dtype=float)).any()]


def choose_kpi(
    kpis: pd.DataFrame, scenario: str | None, requested: str | None = None
) -> tuple[str | None, str]:
    """The KPI a report plots over the design, and why that one.

    ``requested`` (``--kpi``) must be a KPI of the study; otherwise the scenario's default
    (:data:`sim.library.DEFAULT_REPORT_KPIS`), then the verdict's harm KPI, then the first KPI.

    Raises
    ------
    ReportError
        When ``requested`` is not a KPI with a value in the study (the message lists close
        names).
    """
    from sim.library import DEFAULT_REPORT_KPIS

    names = available_kpis(kpis) if not kpis.empty else []
    if requested is not None:
        if requested in names:
            return requested, "chosen with --kpi"
        close = difflib.get_close_matches(requested, names, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ReportError(
            f"--kpi {requested!r}: not a KPI with a value in this study; {hint}"
            f"the study's KPIs: {', '.join(names) or 'none'}"
        )
    default = DEFAULT_REPORT_KPIS.get(scenario or "")
    if default in names:
        return default, f"the default for {scenario}; --kpi NAME for another"
    for name, _sign in HARM_KPIS:
        if name in names:
            return name, "the verdict's harm KPI; --kpi NAME for another"
    if names:
        return names[0], "the study's first KPI; --kpi NAME for another"
    return None, "no KPI has a value"


# -- the study summary ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PointVerdict:
    """The verdict at one design point (paired over that point's seeds only)."""

    point: int
    values: dict[str, Any]
    verdict: Verdict


@dataclass(frozen=True)
class StudySummary:
    """Everything a report says about a study; the terminal, HTML and JSON views render it.

    Attributes
    ----------
    root
        The study directory.
    scenario, description
        From ``sweep.json``.
    sweep
        ``sweep.json`` (provenance: entropy, code version, replications, ...).
    status
        Runs by status and the seeds every policy finished.
    policies
        In the study's order.
    design
        The design points and their axes.
    kpi, kpi_reason
        The response KPI and why it was chosen.
    summary
        Per policy, pooled over every run: ``policy, kpi, mean, low, high, n``.
    constant
        KPIs with one value in every run.
    per_point
        Per design point and policy: ``point, <axes>, policy, kpi, mean, low, high, n``
        (empty for a single-point study).
    verdict
        Over the whole study (every design point, paired on point and seed); None with fewer
        than two policies.
    point_verdicts
        One per design point of a sweep with at least two policies.
    frontier, frontier_verdict
        Harm against measured reaction speed per policy and what it says
        (:mod:`sim.frontier`); None when the study has no ``harm.total``.
    """

    root: Path
    scenario: str
    description: str
    sweep: dict[str, Any]
    status: StudyStatus
    policies: tuple[str, ...]
    design: Design
    kpi: str | None
    kpi_reason: str
    summary: pd.DataFrame
    constant: dict[str, float]
    per_point: pd.DataFrame
    verdict: Verdict | None
    point_verdicts: tuple[PointVerdict, ...]
    frontier: FrontierResult | None = None
    frontier_verdict: FrontierVerdict | None = None

    @property
    def replications(self) -> int:
        """Seeds per scenario."""
        return int(self.sweep.get("replications") or 0)

    def verdict_line(self) -> str:
        """The overall verdict, said for what it covers."""
        if len(self.policies) < 2:
            only = self.policies[0] if self.policies else "none"
            return (
                f"verdict: one policy ({only}) in this study, nothing to compare it with; "
                "run it with --policies a,b,... to compare designs"
            )
        if self.verdict is None:
            return "verdict: none (no successful runs)"
        line = self.verdict.line
        if self.design.is_sweep:
            scope = (
                f"verdict over the whole design ({len(self.design.points)} points x "
                f"{self.replications} seeds, paired on point and seed): "
            )
            line = scope + line.removeprefix("verdict: ")
        return line

    def point_table(self, kpi: str | None = None) -> pd.DataFrame:
        """One row per design point: the axes' values, then ``mean ± half-width`` of ``kpi``
        (default: the response KPI) per policy (``n=k`` appended where a cell rests on fewer
        runs than :meth:`point_runs`)."""
        kpi = kpi or self.kpi
        axes = list(self.design.axes)
        if self.per_point.empty or kpi is None:
            return pd.DataFrame(columns=[*axes, *self.policies])
        sub = self.per_point[self.per_point["kpi"] == kpi]
        most = int(sub["n"].max()) if len(sub) else 0
        # A cell resting on fewer runs than the others (runs without a value) says so.
        cells = sub.assign(
            cell=[
                _cell(m, lo, hi) + (f" n={int(n)}" if int(n) < most else "")
                for m, lo, hi, n in zip(sub["mean"], sub["low"], sub["high"], sub["n"], strict=True)
            ]
        )
        table = cells.pivot(index="point", columns="policy", values="cell")
        table = table.reindex(
            index=self.design.points.index, columns=[p for p in self.policies if p in table.columns]
        )
        values = self.design.points[axes].map(format_value)
        return pd.concat([values, table.fillna("n/a")], axis=1)

    def point_runs(self, kpi: str | None = None) -> int:
        """The runs a cell of :meth:`point_table` rests on (the most any cell has)."""
        kpi = kpi or self.kpi
        if self.per_point.empty or kpi is None:
            return 0
        sub = self.per_point[self.per_point["kpi"] == kpi]
        return int(sub["n"].max()) if len(sub) else 0

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (non-finite numbers as None or ``"inf"``)."""

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _jsonable(v) for k, v in row.items()} for row in frame.to_dict("records")]

        def verdict_dict(v: Verdict | None, scope: str) -> dict[str, Any] | None:
            if v is None:
                return None
            return {
                "scope": scope,
                "line": v.line,
                "harm_kpi": v.harm_kpi,
                "speed_kpi": v.speed_kpi,
                "reference": v.reference,
                "least_harm": list(v.least_harm),
                "fewer_harm": list(v.fewer_harm),
            }

        points = (
            self.design.points.reset_index(drop=True)
            if "point" in self.design.axes
            else self.design.points.reset_index()
        )
        return {
            "study": str(self.root),
            "scenario": self.scenario,
            "description": self.description,
            "status": {
                "counts": self.status.counts,
                "total": self.status.total,
                "finished": self.status.finished,
                "seeds": self.status.pairs,
                "complete_seeds": self.status.complete,
                "header": self.status.header(),
            },
            "policies": list(self.policies),
            "replications": self.replications,
            "entropy": self.sweep.get("entropy"),
            "design": {"axes": list(self.design.axes), "points": records(points)},
            "kpi": self.kpi,
            "kpi_reason": self.kpi_reason,
            "kpis": records(self.summary),
            "constant": {k: _jsonable(v) for k, v in self.constant.items()},
            "per_point": records(self.per_point),
            "verdict": verdict_dict(self.verdict, "design" if self.design.is_sweep else "study"),
            "verdict_line": self.verdict_line(),
            "point_verdicts": [
                {
                    "point": pv.point,
                    **{k: _jsonable(v) for k, v in pv.values.items()},
                    **(verdict_dict(pv.verdict, "point") or {}),
                }
                for pv in self.point_verdicts
            ],
            **_frontier_dict(self),
        }


def _jsonable(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def point_summary(
    kpis: pd.DataFrame, design: Design, *, level: float = 0.95, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Mean and t interval of every KPI per design point and policy.

    Returns
    -------
    DataFrame
        ``point, <axes>, policy, kpi, mean, low, high, n``.
    """
    columns = list(columns) if columns is not None else kpi_columns(kpis)
    long = grouped_mean_ci(kpis, ["point", "policy"], columns, level=level)
    axes = [a for a in design.axes if a not in ("point",)]
    if axes and not long.empty:
        long = long.merge(design.points[axes], left_on="point", right_index=True, how="left")
    return long[["point", *axes, "policy", "kpi", "mean", "low", "high", "n"]]


def summarize_study(
    root: str | Path, *, kpi: str | None = None, level: float = 0.95, conformance: bool = True
) -> StudySummary:
    """Read a study directory and summarise it (per policy, per design point, verdicts).

    Parameters
    ----------
    root
        The study directory.
    kpi
        The response KPI (``--kpi``); default: the scenario's (see :func:`choose_kpi`).
    level
        Confidence level of the intervals.
    conformance
        Decide which designs can act by the conformance check (run once per policy and cached
        in the study directory, :func:`sim.frontier.study_frontier`); False judges it from
        the runs.

    Raises
    ------
    sim.store.StoreError
        When ``root`` is not a study directory.
    ReportError
        When ``kpi`` is not a KPI of the study.
    """
    store = StudyStore(root)
    sweep = store.sweep()
    manifest = store.manifest()
    status = study_status(manifest)
    kpis = store.table("kpis")
    policies = tuple(dict.fromkeys(manifest["policy"]))
    design = study_design(store.scenarios())
    scenario = str(sweep.get("scenario") or store.root.name)
    constant = constant_kpis(kpis) if not kpis.empty else {}
    chosen, reason = choose_kpi(kpis, scenario, kpi)
    # (None, None) for a study without KPIs or without harm.total
    front, front_verdict = _study_frontier(store, kpis, sweep, conformance=conformance, level=level)
    cannot = front.cannot_act if front is not None else ()
    summary = pd.DataFrame(columns=["policy", "kpi", "mean", "low", "high", "n"])
    per_point = pd.DataFrame()
    point_verdicts: list[PointVerdict] = []
    overall = None
    if not kpis.empty:
        present = [p for p in policies if p in set(kpis["policy"])]
        varying = kpis.drop(columns=list(constant))
        summary = compare_summary(varying, policies=present, level=level)
        if design.is_sweep:
            columns = kpi_columns(varying)
            if chosen is not None and chosen not in columns:
                columns.append(chosen)
            per_point = point_summary(kpis, design, level=level, columns=columns)
            if len(policies) > 1:
                for point in design.points.index:
                    at = kpis[kpis["point"] == point]
                    if not at.empty:
                        judged = verdict(at, policies=list(policies), cannot_act=cannot)
                        point_verdicts.append(
                            PointVerdict(int(point), design.values(point), judged)
                        )
        if len(policies) > 1:
            overall = verdict(kpis, policies=list(policies), cannot_act=cannot)
    return StudySummary(
        store.root,
        scenario,
        str(sweep.get("description") or ""),
        sweep,
        status,
        policies,
        design,
        chosen,
        reason,
        summary,
        constant,
        per_point,
        overall,
        tuple(point_verdicts),
        front,
        front_verdict,
    )


# -- the frontier: harm against measured reaction speed ------------------------------------------
def _drew_market_constants(sweep: Mapping[str, Any]) -> bool:
    """Whether the study (its ``sweep.json``) drew the market constants per replication from
    the fitted prior (the outer Monte Carlo)."""
    uncertainty = sweep.get("market_uncertainty") or {}
    return isinstance(uncertainty, dict) and uncertainty.get("mode") == "prior"


def _study_frontier(
    store: StudyStore, kpis: pd.DataFrame, sweep: dict[str, Any], *, conformance: bool, level: float
) -> tuple[FrontierResult | None, FrontierVerdict | None]:
    """The study's frontier (written to ``frontier.csv``) and its verdict; with market
    uncertainty, whether the Pareto designs' harm ranking flips inside the range."""
    from sim.frontier import HARM_KPI, frontier_verdict, study_frontier

    if kpis.empty or HARM_KPI not in kpis.columns:
        return None, None
    result = study_frontier(store.root, conformance=conformance, level=level)
    stability = None
    if _drew_market_constants(sweep):
        from sim.runner import market_draws
        from sim.uncertainty import ranking_stability

        acting = [p for p in result.policies if p not in set(result.cannot_act)]
        paired = complete_pairs(kpis, policies=acting) if acting else kpis.iloc[0:0]
        stability = ranking_stability(
            paired, metric=HARM_KPI, policies=acting, draws=market_draws(store), level=level
        )
    return result, frontier_verdict(result, stability=stability)


def _frontier_dict(report: StudySummary) -> dict[str, Any]:
    """The frontier's rows and verdict lines for ``--json``."""
    if report.frontier is None:
        return {"frontier": None, "frontier_verdict": None}
    rows = [
        {k: _jsonable(v) for k, v in row.items()}
        for row in report.frontier.table.to_dict("records")
    ]
    fv = report.frontier_verdict
    return {
        "frontier": {"can_act_source": report.frontier.can_act_source, "rows": rows},
        "frontier_verdict": None
        if fv is None
        else {
            "pareto": list(fv.pareto),
            "cannot_act": list(fv.cannot_act),
            "never_acts_by_design": list(fv.by_design),
            "flips": None if fv.flips is None else list(fv.flips),
            "lines": list(fv.lines),
        },
    }


def frontier_figure(result: FrontierResult) -> str:
    """Harm against days to act, one point per policy with both intervals as error bars; the
    Pareto set joined and filled, designs that cannot act drawn hollow in grey at the right
    edge (they never act, so they have no days to act to plot). Base64 PNG."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    table = result.table
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    finite_days = table["days_to_act"].to_numpy(dtype=float)
    finite_days = finite_days[np.isfinite(finite_days)]
    edge = float(finite_days.max()) * 1.15 + 0.5 if finite_days.size else 1.0
    colors = _colors(len(table))
    for color, row in zip(colors, table.itertuples(index=False), strict=True):
        x = row.days_to_act if np.isfinite(row.days_to_act) else edge
        xerr = (
            [[x - row.days_lo], [row.days_hi - x]]
            if np.isfinite(row.days_lo) and np.isfinite(row.days_to_act)
            else None
        )
        yerr = (
            [[row.harm - row.harm_lo], [row.harm_hi - row.harm]]
            if np.isfinite(row.harm_lo)
            else None
        )
        if row.can_act:
            style = {
                "marker": "D" if row.pareto else "o",
                "ms": 9 if row.pareto else 6,
                "color": color,
                "mec": "black" if row.pareto else color,
            }
        else:
            style = {"marker": "X", "ms": 8, "color": "#999999", "mfc": "none", "mec": "#666666"}
        ax.errorbar(
            [x],
            [row.harm],
            xerr=xerr,
            yerr=yerr,
            ls="none",
            capsize=3,
            elinewidth=1,
            ecolor=style["color"],
            **style,
        )
        label = str(row.policy) + (
            ""
            if row.can_act
            else " (never acts by design)"
            if str(row.check).startswith("never acts by design")
            else " (cannot act)"
        )
        ax.annotate(
            label,
            (x, row.harm),
            textcoords="offset points",
            xytext=(6, -9 + 6 * (len(ax.texts) % 4)),  # staggered: close points
            fontsize=7,
            color="#333333" if row.can_act else "#777777",
        )
    front = table[table["pareto"]].sort_values("days_to_act")
    if len(front) > 1:
        ax.plot(
            front["days_to_act"].fillna(edge),
            front["harm"],
            color="black",
            lw=1,
            ls="--",
            zorder=0,
            label="Pareto frontier",
        )
    ax.plot([], [], "D", color="#4c78a8", mec="black", label="Pareto-efficient")
    ax.plot(
        [], [], "X", color="#999999", mfc="none", mec="#666666", label="cannot act (not ranked)"
    )
    ax.set_xlabel("days to act (detection to execution, mean over runs; lower is faster)")
    ax.set_ylabel("harm.total (USD, mean over runs; lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    level = f"{result.level:.0%}"
    ax.set_title(
        f"Harm against reaction speed: mean and {level} t intervals, one point per policy",
        fontsize=9,
    )
    return _png(fig)


def frontier_table(result: FrontierResult) -> pd.DataFrame:
    """The frontier as a table for the report (formatted cells)."""
    rows = []
    for r in result.table.itertuples(index=False):
        rows.append(
            {
                "policy": r.policy,
                "harm (USD)": _cell(r.harm, r.harm_lo, r.harm_hi),
                "days to act": _cell(r.days_to_act, r.days_lo, r.days_hi),
                "can act": ("yes" if r.can_act else r.check),
                "Pareto": "yes" if r.pareto else "",
                "harmful executed": f"{int(r.harmful_executed)}/{int(r.harmful_proposals)}",
                "warranted blocked": f"{int(r.warranted_blocked)}/{int(r.warranted_proposals)}",
                "runs": int(r.runs),
            }
        )
    return pd.DataFrame(rows)


# -- the summary in long form (``--csv``) ---------------------------------------------------------
def summary_table(report: StudySummary) -> pd.DataFrame:
    """The study's summary in long form, one row per policy [and design point] and KPI.

    A single-point study: ``policy`` and every KPI (those equal in every run too, with their
    one value as mean, low and high). A sweep: ``point, <axes>, policy`` and the KPIs per
    design point. Columns after the identifiers: ``kpi, name, unit, group, direction, mean,
    low, high, n`` (:func:`sim.kpi_tables.long_kpi_table`; ``%`` values times 100).
    """
    from sim.kpi_tables import long_kpi_table

    if report.design.is_sweep and not report.per_point.empty:
        axes = [a for a in report.design.axes if a != "point"]
        return long_kpi_table(report.per_point, ids=["point", *axes, "policy"])
    summary = report.summary
    if report.constant and not summary.empty:
        runs = summary.groupby("policy", sort=False)["n"].max()
        rows = [
            {
                "policy": policy,
                "kpi": key,
                "mean": value,
                "low": value,
                "high": value,
                "n": int(n) if np.isfinite(value) else 0,
            }
            for policy, n in runs.items()
            for key, value in report.constant.items()
        ]
        summary = pd.concat([summary, pd.DataFrame(rows)], ignore_index=True)
        order = {p: i for i, p in enumerate(report.policies)}
        summary = summary.sort_values("policy", key=lambda c: c.map(order), kind="stable")
    return long_kpi_table(summary, ids=["policy"])


def write_summary_csv(report: StudySummary, path: str | Path) -> Path:
    """Write :func:`summary_table` as CSV to ``path`` (parent directories created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary_table(report).to_csv(path, index=False)
    return path


# -- the terminal view ---------------------------------------------------------------------------
def _text_table(frame: pd.DataFrame, *, left: int = 0) -> str:
    """A plain table: the first ``left`` columns left-aligned, the rest right-aligned."""
    columns = [str(c) for c in frame.columns]
    cells = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [
        max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.ljust(w) if i < left else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [line(columns), "-" * len(line(columns))]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _fitted_text_table(frame: pd.DataFrame, *, left: int, width: int) -> str:
    """:func:`_text_table` split into blocks of columns no wider than ``width``, each block
    repeating the first ``left`` (label) columns."""
    labels, rest = list(frame.columns[:left]), list(frame.columns[left:])
    if not rest:
        return _text_table(frame, left=left)

    def col_width(column: Any) -> int:
        return (
            max(len(str(column)), *(len(str(v)) for v in frame[column]))
            if len(frame)
            else len(str(column))
        )

    room = width - sum(col_width(c) + 2 for c in labels)
    blocks: list[list[Any]] = [[]]
    used = 0
    for column in rest:
        w = col_width(column) + 2
        if blocks[-1] and used + w > room:
            blocks.append([])
            used = 0
        blocks[-1].append(column)
        used += w
    return "\n\n".join(_text_table(frame[labels + block], left=left) for block in blocks)


def _point_verdict_table(report: StudySummary) -> pd.DataFrame:
    """One row per design point: its axes, the reference, the least-harm policies and those
    that do significantly less harm than the reference (or why there is no verdict)."""
    rows = []
    for pv in report.point_verdicts:
        v = pv.verdict
        row = {axis: format_value(value) for axis, value in pv.values.items()}
        if v.harm_kpi is None:
            row.update(
                {
                    "reference": "-",
                    "least harm": "-",
                    "significantly less harm": v.line.removeprefix("verdict: ")[:70],
                }
            )
        else:
            row.update(
                {
                    "reference": v.reference or "-",
                    "least harm": ", ".join(v.least_harm) or "-",
                    "significantly less harm": ", ".join(v.fewer_harm) or "none",
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def format_study(report: StudySummary, *, width: int | None = None) -> str:
    """The terminal summary: the KPI tables grouped by :mod:`sim.kpi_catalog` (single point,
    see :func:`sim.kpi_tables.format_kpi_tables`; never wider than ``width``, default the
    terminal's width up to 100 columns) or, for a sweep, the per-point table of the response
    KPI; then the verdicts, each saying what it covers."""
    from sim.kpi_tables import format_constants, format_kpi_tables, terminal_width

    width = width if width is not None else terminal_width()
    lines: list[str] = []
    header = report.status.header()
    if header:
        lines += [header, ""]
    n_runs = report.status.total
    lines += textwrap.wrap(
        f"{report.scenario}: {report.design.describe()}; policies "
        f"{', '.join(report.policies)}; {report.replications} seeds each "
        f"({n_runs} runs)",
        width,
        break_long_words=False,
        break_on_hyphens=False,
    )
    if report.summary.empty:
        lines.append("no successful runs: nothing to compare")
        return "\n".join(lines)
    if report.design.is_sweep and report.kpi is not None:
        meaning = KPI_MEANINGS.get(report.kpi)
        named = _kpi_name(report.kpi, raw=True)
        head = (
            f"{report.kpi} per design point{f' ({named})' if named else ''}: mean ± "
            "half-width of the 95 % t interval over seeds" + (f"; {meaning}" if meaning else "")
        )
        reason = (
            f"({report.kpi_reason}; each cell rests on {report.point_runs()} runs unless "
            "it says n=k)"
        )
        lines += ["", *textwrap.wrap(head, width), *textwrap.wrap(reason, width)]
        lines.append(
            _fitted_text_table(report.point_table(), left=len(report.design.axes), width=width)
        )
    else:
        lines += ["", format_kpi_tables(report.summary, width=width)]
        constants = format_constants(report.constant, width=width)
        if constants:
            lines.append(constants)
    lines += ["", report.verdict_line()]
    lines += _frontier_lines(report)
    if report.point_verdicts:
        table = _point_verdict_table(report)
        lines += [
            "",
            "verdict per design point (paired over that point's seeds only):",
            _text_table(table, left=len(table.columns)),
        ]
    return "\n".join(lines)


def _frontier_lines(report: StudySummary) -> list[str]:
    """The frontier table (at most 100 columns) and its verdict, for the terminal."""
    if report.frontier is None:
        return []
    from sim.frontier import format_frontier

    lines = ["", format_frontier(report.frontier, width=100)]
    if report.design.is_sweep:
        lines.append(f"(pooled over the {len(report.design.points)} design points)")
    if report.frontier_verdict is not None:
        lines += ["", *report.frontier_verdict.lines]
    return lines


# -- response plots --------------------------------------------------------------------------------
def _is_numeric(values: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(values)
        and not pd.api.types.is_bool_dtype(values)
        and values.notna().all()
    )


def _positions(values: pd.Series) -> tuple[np.ndarray, list[Any], list[str]]:
    """x positions of ``values`` (numeric as they are; others in order of first appearance),
    and the distinct values with their tick labels."""
    if _is_numeric(values):
        distinct = sorted(set(values.tolist()))
        return values.to_numpy(dtype=float), distinct, [format_value(v) for v in distinct]
    order = list(dict.fromkeys(values.map(format_value)))
    index = {label: i for i, label in enumerate(order)}
    return (np.array([index[format_value(v)] for v in values], dtype=float), order, order)


def _colors(n: int) -> list[Any]:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab20" if n > 10 else "tab10")
    return [cmap(i % cmap.N) for i in range(n)]


def _lines_plot(
    data: pd.DataFrame, axis: str, kpi: str, policies: Sequence[str], *, by: str | None = None
) -> str:
    """The KPI over one axis with 95 % bands: a line per policy (and per value of ``by``)."""
    import matplotlib.pyplot as plt

    panels = list(dict.fromkeys(data[by].map(format_value))) if by else [None]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(min(4.2 * len(panels), 13), 3.6), squeeze=False, sharey=True
    )
    colors = _colors(len(policies))
    for ax, panel in zip(axes.ravel(), panels, strict=True):
        sub = data if panel is None else data[data[by].map(format_value) == panel]
        x_all, _distinct, labels = _positions(data[axis])
        for color, policy in zip(colors, policies, strict=True):
            rows = sub[sub["policy"] == policy]
            if rows.empty:
                continue
            x = x_all[rows.index.to_numpy()]
            order = np.argsort(x, kind="stable")
            mean = rows["mean"].to_numpy(dtype=float)[order]
            ax.plot(x[order], mean, marker="o", lw=1.4, color=color, label=policy)
            low = rows["low"].to_numpy(dtype=float)[order]
            high = rows["high"].to_numpy(dtype=float)[order]
            if np.isfinite(low).any():
                ax.fill_between(x[order], low, high, color=color, alpha=0.15, lw=0)
        if not _is_numeric(data[axis]):
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_xlabel(axis)
        ax.set_title(f"{by} = {panel}" if panel is not None else "", fontsize=9)
        ax.grid(alpha=0.3)
        if (
            np.nanmin(data["mean"].to_numpy(dtype=float))
            < 0
            < np.nanmax(data["mean"].to_numpy(dtype=float))
        ):
            ax.axhline(0.0, color="#888", lw=0.8)
    axes.ravel()[0].set_ylabel(kpi)
    axes.ravel()[-1].legend(fontsize=7)
    fig.suptitle(
        f"{kpi} over {axis}"
        + (f", by {by}" if by else "")
        + ": mean and 95 % interval over seeds, per policy",
        fontsize=10,
    )
    fig.tight_layout()
    return _png(fig)


def _heatmaps(
    data: pd.DataFrame, x_axis: str, y_axis: str, kpi: str, policies: Sequence[str]
) -> str:
    """One heatmap of the KPI's mean over two axes per policy, on one colour scale."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    _, x_values, x_labels = _positions(data[x_axis])
    _, y_values, y_labels = _positions(data[y_axis])
    x_index = {label: i for i, label in enumerate(x_labels)}
    y_index = {label: i for i, label in enumerate(y_labels)}
    means = data["mean"].to_numpy(dtype=float)
    finite = means[np.isfinite(means)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if low < 0 < high:
        cmap, norm = "RdBu_r", TwoSlopeNorm(0.0, low, high)
    else:
        cmap, norm = "viridis", None
    n = len(policies)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(
            0.75 * len(x_labels) * ncols + 2.6 * ncols,
            0.5 * len(y_labels) * nrows + 1.9 * nrows,
        ),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    image = None
    for ax, policy in zip(axes.ravel(), policies, strict=False):
        grid = np.full((len(y_labels), len(x_labels)), np.nan)
        rows = data[data["policy"] == policy]
        for x, y, m in zip(rows[x_axis], rows[y_axis], rows["mean"], strict=True):
            grid[y_index[format_value(y)], x_index[format_value(x)]] = m
        if norm is None:
            image = ax.imshow(
                np.ma.masked_invalid(grid),
                cmap=cmap,
                vmin=low,
                vmax=high,
                aspect="auto",
                origin="lower",
            )
        else:
            image = ax.imshow(
                np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto", origin="lower"
            )
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                # White on the dark ends of the colour scale, black elsewhere.
                shade = float(image.norm(value))
                dark = shade < 0.2 or shade > 0.8 if norm is not None else shade < 0.35
                ax.text(
                    j,
                    i,
                    f"{value:.3g}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "black",
                )
        ax.set_xticks(range(len(x_labels)), x_labels, fontsize=7)
        ax.set_yticks(range(len(y_labels)), y_labels, fontsize=7)
        ax.set_xlabel(x_axis, fontsize=8)
        ax.set_ylabel(y_axis, fontsize=8)
        ax.set_title(policy, fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label=kpi)
    fig.suptitle(f"{kpi} (mean over seeds) over {x_axis} x {y_axis}, per policy", fontsize=10)
    del x_values, y_values
    return _png(fig)


def _main_effects(
    data: pd.DataFrame, axes_names: Sequence[str], kpi: str, policies: Sequence[str]
) -> str:
    """The KPI against each axis (the mean over the design points at each value; every
    point when each value occurs once), per policy."""
    import matplotlib.pyplot as plt

    shown = list(axes_names)[:4]
    fig, axes = plt.subplots(
        1, len(shown), figsize=(3.8 * len(shown), 3.4), squeeze=False, sharey=True
    )
    colors = _colors(len(policies))
    for ax, axis in zip(axes.ravel(), shown, strict=True):
        scatter = data[axis].nunique() == data["point"].nunique()
        for color, policy in zip(colors, policies, strict=True):
            rows = data[data["policy"] == policy]
            if rows.empty:
                continue
            labels_of = rows[axis].map(format_value)
            grouped = rows.groupby(labels_of, sort=False)["mean"].mean()
            firsts = rows.groupby(labels_of, sort=False)[axis].first()
            x, _distinct, labels = _positions(firsts.reindex(grouped.index).reset_index(drop=True))
            order = np.argsort(x, kind="stable")
            style = {"ls": "none"} if scatter else {"lw": 1.4}
            ax.plot(
                x[order], grouped.to_numpy()[order], marker="o", color=color, label=policy, **style
            )
            if not _is_numeric(rows[axis]):
                ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_xlabel(axis, fontsize=8)
        ax.grid(alpha=0.3)
    axes.ravel()[0].set_ylabel(kpi)
    axes.ravel()[-1].legend(fontsize=7)
    fig.suptitle(f"{kpi} against each axis (mean over the other axes), per policy", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def response_figures(report: StudySummary) -> list[tuple[str, str]]:
    """(caption, base64 PNG) of the response KPI over the design's axes.

    One axis: a line per policy with its 95 % band. Two axes on a grid (at most 12 values
    each, at least half of the cells filled): a heatmap per policy, and lines over the finer
    axis, one panel per value of the other. Otherwise: the KPI against each axis.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    kpi = report.kpi
    axes = list(report.design.axes)
    if not report.design.is_sweep or kpi is None or report.per_point.empty:
        return []
    data = report.per_point[report.per_point["kpi"] == kpi].reset_index(drop=True)
    if data.empty or not np.isfinite(data["mean"].to_numpy(dtype=float)).any():
        return []
    policies = [p for p in report.policies if p in set(data["policy"])]
    meaning = KPI_MEANINGS.get(kpi)
    what = f"{kpi}" + (f" ({meaning})" if meaning else "")
    if len(axes) == 1:
        return [
            (
                f"Response of {what} over {axes[0]}: mean and 95 % t interval over seeds, "
                "a line per policy",
                _lines_plot(data, axes[0], kpi, policies),
            )
        ]
    counts = [data[a].map(format_value).nunique() for a in axes]
    n_points = data["point"].nunique()
    # A heatmap needs a grid: few values per axis, and at least half of the cells filled
    # (a Latin hypercube's scattered points are not one).
    if len(axes) == 2 and max(counts) <= 12 and counts[0] * counts[1] <= 2 * n_points:
        x_axis, y_axis = (axes[0], axes[1]) if counts[0] >= counts[1] else (axes[1], axes[0])
        return [
            (
                f"Response of {what} over {x_axis} x {y_axis}: mean over seeds, a heatmap per "
                "policy",
                _heatmaps(data, x_axis, y_axis, kpi, policies),
            ),
            (
                f"{kpi} over {x_axis}, a panel per {y_axis}: mean and 95 % t interval over seeds, "
                "a line per policy",
                _lines_plot(data, x_axis, kpi, policies, by=y_axis),
            ),
        ]
    return [
        (
            f"{what} against each axis of the design (mean over the other axes), per policy",
            _main_effects(data, axes, kpi, policies),
        )
    ]


# -- the HTML report ------------------------------------------------------------------------------
def _html_table(frame: pd.DataFrame, *, left: int = 1, index: bool = False) -> dict[str, Any]:
    """A table for the template: header cells, rows of strings, how many columns are labels."""
    if index:
        frame = frame.reset_index()
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [
            [
                "n/a"
                if v is None or (isinstance(v, float) and np.isnan(v))
                else (f"{v:.4g}" if isinstance(v, float) else str(v))
                for v in row
            ]
            for row in frame.itertuples(index=False)
        ],
        "left": left,
    }


def _all_kpis_per_point(report: StudySummary) -> pd.DataFrame:
    """One row per design point and policy, one column per KPI (``mean ± half-width``;
    ``n=k`` appended where a cell rests on fewer runs than the study's seeds)."""
    data = report.per_point
    most = int(data["n"].max()) if len(data) else 0
    cells = data.assign(
        cell=[
            _cell(m, lo, hi) + (f" n={int(n)}" if int(n) < most else "")
            for m, lo, hi, n in zip(data["mean"], data["low"], data["high"], data["n"], strict=True)
        ]
    )
    wide = cells.pivot(index=["point", "policy"], columns="kpi", values="cell")
    wide = wide.reindex(columns=list(dict.fromkeys(data["kpi"])))
    wide = wide.reset_index()
    values = report.design.points[list(report.design.axes)].map(format_value)
    wide = wide.merge(
        values, left_on="point", right_index=True, how="left", suffixes=("", " (axis)")
    )
    order = [*report.design.axes, "policy"]
    return wide[
        [c for c in order if c in wide.columns]
        + [c for c in wide.columns if c not in order and c != "point"]
    ]


def _kpi_name(kpi: str | None, *, raw: bool = True) -> str | None:
    """``name, unit, which way is better`` of a catalogued KPI (None when not catalogued).

    With ``raw`` the unit is that of the stored values: a ``%`` KPI is "a fraction"."""
    from sim.kpi_catalog import kpi_info

    info = kpi_info(kpi) if kpi else None
    if info is None:
        return None
    unit = "a fraction (0.1 = 10 %)" if raw and info.unit == "%" else info.unit
    return ", ".join(x for x in (info.name, unit, info.better) if x)


# -- the sensitivity section (a study written by ``govsim sensitivity``) ----------------------
def _flip_ends(table: pd.DataFrame) -> list[str]:
    """Per OAT row: at which end the ranking flips (``low``, ``high``, ``low+high``, ``no``)."""
    out = []
    for low, high in zip(table["flips_low"], table["flips_high"], strict=True):
        ends = [end for end, flag in (("low", low), ("high", high)) if bool(flag)]
        out.append("+".join(ends) if ends else "no")
    return out


def sensitivity_section(root: str | Path, *, metric: str = "harm.total") -> dict[str, Any] | None:
    """The report's sensitivity section of a ``govsim sensitivity`` study (None otherwise).

    Returns the template's context: the output's description, the base point's value and
    ranking, the tornado chart (PNG), the one-at-a-time table, the Morris table and the
    parameters that change the ranking. A study whose runs do not carry ``metric`` gets a
    note instead of the tables.
    """
    from sim.sensitivity import analyse_sensitivity, tornado_figure

    store = StudyStore(root)
    if "sensitivity" not in store.sweep():
        return None
    try:
        result = analyse_sensitivity(store.root, metric=metric)
    except (KeyError, ValueError) as exc:
        return {
            "note": f"no sensitivity analysis: {exc.args[0] if exc.args else exc}",
            "output": "",
            "base": None,
            "tornado": None,
            "oat": None,
            "morris": None,
            "changers": "",
            "source": None,
        }
    base = result.points[result.points["role"] == "base"]
    section: dict[str, Any] = {
        "note": None,
        "output": result.output,
        "base": (f"{base['y'].iloc[0]:.4g}; ranking (least harm first): {base['ranking'].iloc[0]}")
        if len(base)
        else None,
        "tornado": None,
        "oat": None,
        "morris": None,
        "changers": ", ".join(result.ranking_changers()) or "none",
        "source": None,
    }
    if result.oat is not None and not result.oat.table.empty:
        section["tornado"] = {
            "caption": f"Tornado: change of {result.output} from the base "
            "with each parameter at its low and high end",
            "png": _png(tornado_figure(result)),
        }
        oat = result.oat.table.sort_values("swing", ascending=False, kind="stable")
        shown = pd.DataFrame(
            {
                "parameter": oat["parameter"],
                "low": oat["low"],
                "high": oat["high"],
                "effect at low": oat["effect_low"],
                "effect at high": oat["effect_high"],
                "ranking at low": oat["ranking_low"],
                "ranking at high": oat["ranking_high"],
                "ranking flips": _flip_ends(oat),
            }
        )
        section["oat"] = _html_table(shown)
    if result.morris is not None:
        morris = result.morris.table
        shown = pd.DataFrame(
            {
                "parameter": morris["parameter"],
                "μ*": morris["mu_star"],
                "μ": morris["mu"],
                "σ": morris["sigma"],
                "steps": morris["n_effects"],
                "ranking changes (share of steps)": [
                    "n/a" if not np.isfinite(v) else f"{v:.0%}" for v in morris["ranking_changes"]
                ],
            }
        )
        section["morris"] = _html_table(shown)
    return section


def linked_sensitivity_section(
    sensitivity_root: str | Path, *, scenario: str, metric: str = "harm.total"
) -> dict[str, Any]:
    """The sensitivity section of *another* study, for a compare study's report.

    A compare study answers "which design does less harm"; a ``govsim sensitivity`` study of
    the same scenario says which assumptions could change that answer. This reads the second
    so the first's report can show its tornado chart and tables, and says where they came
    from (``source``).

    Raises
    ------
    ValueError
        ``sensitivity_root`` is not a study written by ``govsim sensitivity``.
    """
    store = StudyStore(sensitivity_root)
    sweep = store.sweep()
    if "sensitivity" not in sweep:
        raise ValueError(
            f"--sensitivity {sensitivity_root}: not a study written by "
            "`govsim sensitivity` (its sweep.json has no sensitivity design)"
        )
    section = sensitivity_section(store.root, metric=metric)
    assert section is not None  # the study is a sensitivity study, checked above
    manifest = store.manifest()
    done = int((manifest["status"] == "SUCCEEDED").sum()) if not manifest.empty else 0
    other = str(sweep.get("scenario", ""))
    section["source"] = (
        f"From the sensitivity study in {store.root} ({done} runs, policies "
        f"{', '.join(sweep.get('policies', []))}, {sweep.get('replications')} replications "
        f"per point, entropy {sweep.get('entropy')})."
    )
    if other and other != scenario:
        section["source"] += (
            f" Note: it studied the scenario {other!r}, not {scenario!r}; "
            "its ranges and contrast may not carry over."
        )
    return section


def render_html(
    report: StudySummary,
    figures: Sequence[tuple[str, str]],
    manifest: pd.DataFrame,
    *,
    sensitivity: dict[str, Any] | None = None,
) -> str:
    """The report as one self-contained HTML page (jinja2 template, autoescaped).

    ``sensitivity`` is :func:`sensitivity_section`'s context (a sensitivity study), or None.
    """
    import jinja2

    from sim.kpi_tables import format_constants, html_kpi_tables

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sim", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    sweep = report.sweep
    counts = manifest["status"].value_counts().to_dict()
    failed = manifest[manifest["status"] != "SUCCEEDED"]
    context: dict[str, Any] = {
        "title": report.scenario,
        "description": report.description,
        "unfinished": report.status.header(),
        "runs": len(manifest),
        "counts": ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
        "policies": ", ".join(report.policies),
        "replications": sweep.get("replications"),
        "entropy": str(sweep.get("entropy")),
        "code_version": str(sweep.get("code_version")),
        "created": str(sweep.get("created")),
        "design": report.design.describe() if report.design.is_sweep else None,
        "kpi": report.kpi,
        "kpi_reason": report.kpi_reason,
        "kpi_meaning": KPI_MEANINGS.get(report.kpi or ""),
        "kpi_name": _kpi_name(report.kpi),
        "point_runs": report.point_runs(),
        "verdict": report.verdict_line() if not report.summary.empty else None,
        "point_table": None,
        "point_verdicts": None,
        "all_points": None,
        "kpi_tables": html_kpi_tables(report.summary) if not report.summary.empty else [],
        "constant": format_constants(report.constant, width=10**6).removeprefix(
            "the same in every run: "
        ),
        "response": [],
        "figures": [{"caption": c, "png": p} for c, p in figures],
        "failed": None,
        "sensitivity": sensitivity,
        **_frontier_context(report),
        **_market_context(report),
    }
    axes = len(report.design.axes)
    if report.design.is_sweep and not report.per_point.empty:
        context["point_table"] = _html_table(report.point_table(), left=axes)
        context["response"] = [{"caption": c, "png": p} for c, p in response_figures(report)]
        if report.point_verdicts:
            context["point_verdicts"] = _html_table(_point_verdict_table(report), left=axes)
        context["all_points"] = _html_table(_all_kpis_per_point(report), left=axes + 1)
    if not failed.empty:
        context["failed"] = _html_table(
            failed[["run_id", "policy", "status", "attempt", "error"]].fillna(""), left=5
        )
    return template.render(**context)


def _frontier_context(report: StudySummary) -> dict[str, Any]:
    """The frontier section of the HTML report: the plot, the table and the verdict lines."""
    if report.frontier is None or report.frontier.table.empty:
        return {"frontier": None}
    fv = report.frontier_verdict
    source = (
        "the conformance check (sim.conformance)"
        if report.frontier.can_act_source == "conformance"
        else "the runs (no conformance check)"
    )
    return {
        "frontier": {
            "png": frontier_figure(report.frontier),
            "table": _html_table(frontier_table(report.frontier)),
            "lines": list(fv.lines) if fv is not None else [],
            "source": source,
        }
    }


def _market_context(report: StudySummary) -> dict[str, Any]:
    """The report's market section when the study drew its market constants from the fitted
    prior (the outer Monte Carlo): the constants' ranges and how the fit reproduces each
    documented event (the event-fit table), so a reader sees what the intervals rest on."""
    if not _drew_market_constants(report.sweep):
        return {"market": None}
    from sim.calibration.prior import PriorFileError, format_event_fits, load_market_prior

    try:
        prior = load_market_prior()
    except PriorFileError as exc:  # a broken install: say so instead of failing the report
        return {
            "market": {
                "note": str(exc),
                "ranges": None,
                "events": None,
                "created": "",
                "command": "",
            }
        }
    ranges = pd.DataFrame(
        [
            {
                "constant": f"market.{b.name}",
                "meaning": b.label,
                "5 %": f"{b.lo:.3g}",
                "median": f"{b.median:.3g}",
                "95 %": f"{b.hi:.3g}",
            }
            for b in prior.bands.values()
        ]
    )
    fits = format_event_fits(prior)
    return {
        "market": {
            "note": None,
            "created": prior.created,
            "command": prior.command,
            "ranges": _html_table(ranges, left=2),
            "events": _html_table(pd.DataFrame(fits), left=2) if fits else None,
        }
    }


def build_report(
    root: str | Path,
    out: str | Path | None = None,
    *,
    kpi: str | None = None,
    summary: StudySummary | None = None,
    sensitivity: str | Path | None = None,
) -> Path:
    """Write ``report.html`` (self-contained: CSS and PNGs embedded) for a study directory.

    Parameters
    ----------
    root
        The study directory.
    out
        Output file; default ``<root>/report.html``.
    kpi
        The response KPI of a sweep (default: the scenario's; see :func:`choose_kpi`).
    summary
        The study's :class:`StudySummary`, when the caller has it already.
    sensitivity
        A ``govsim sensitivity`` study of the same scenario whose tornado chart and tables
        the report shows (see :func:`linked_sensitivity_section`).

    Returns
    -------
    Path
        The report's path.
    """
    store = StudyStore(root)
    report = summary if summary is not None else summarize_study(root, kpi=kpi)
    manifest = store.manifest()
    kpis = store.table("kpis")
    figures = _figures(store, kpis, report.summary) if not kpis.empty else []
    if report.design.is_sweep:
        note = f" (pooled over the {len(report.design.points)} design points)"
        figures = [(caption + note, png) for caption, png in figures]
    path = Path(out) if out is not None else store.root / "report.html"
    if sensitivity is not None:
        section = linked_sensitivity_section(sensitivity, scenario=report.scenario)
    else:
        section = sensitivity_section(store.root) if "sensitivity" in report.sweep else None
    path.write_text(render_html(report, figures, manifest, sensitivity=section), encoding="utf-8")
    return path
