"""The frontier of a study: expected harm against measured reaction speed, one point per policy.

From a study's KPI frame (one row per run) :func:`frontier` gives, per policy:

``harm``, ``harm_lo``, ``harm_hi``
    The mean of ``harm.total`` (USD, larger = worse; docs/studies.md, "The harm vector") with
    its Student-t interval over the runs.
``days_to_act``, ``days_lo``, ``days_hi``
    The mean of ``reaction.days_to_act_mean`` (days from detection to execution over the
    run's warranted cases; a case never acted on counts with the days to the horizon) with its
    t interval cut at 0 days; NaN when no run had a warranted case.
``can_act``
    Whether the design can act at all: its conformance check (:mod:`sim.conformance`, run once
    per policy and cached in the study directory as ``conformance.json``) executed the
    warranted halt. Without the check (:func:`can_act_from_runs`) it is judged from the runs:
    the design executed at least one warranted proposal.
``pareto``
    Non-dominated among the designs that can act, on (harm, days_to_act), both lower is
    better: no other design that can act has lower or equal harm *and* lower or equal days,
    one of them strictly. A design that cannot act is never on the frontier: it "wins" on
    harm only because the simulator's matters cannot reach it.

and the governance outcomes pooled over the policy's runs with Wilson intervals: the share of
harmful proposals executed (``p_harmful_executed``) and of warranted proposals blocked
(``p_warranted_blocked``), with their counts.

:func:`study_frontier` reads a study directory, runs (or reads) the conformance checks and
writes ``frontier.csv``; :func:`frontier_verdict` turns the result into the verdict's lines.

Examples
--------
>>> kpis = pd.DataFrame({
...     "policy": ["a", "a", "b", "b", "c", "c"],
...     "harm.total": [1.0, 3.0, 5.0, 7.0, 6.0, 8.0],
...     "reaction.days_to_act_mean": [4.0, 6.0, 1.0, 1.0, 2.0, 2.0]})
>>> result = frontier(kpis, can_act={"a": True, "b": True, "c": True})
>>> result.pareto
('a', 'b')
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.stats import mean_ci, wilson_interval

__all__ = [
    "CONFORMANCE_FILE",
    "FRONTIER_COLUMNS",
    "FRONTIER_FILE",
    "HARM_KPI",
    "SPEED_KPI",
    "FrontierResult",
    "FrontierVerdict",
    "can_act_from_runs",
    "conformance_checks",
    "format_frontier",
    "frontier",
    "frontier_verdict",
    "judge_from_runs",
    "pareto_mask",
    "study_frontier",
]

#: The KPI read as harm (USD; larger = worse).
HARM_KPI = "harm.total"
#: The KPI read as reaction time (days; larger = slower).
SPEED_KPI = "reaction.days_to_act_mean"
#: The leading columns of ``frontier.csv``, in order.
FRONTIER_COLUMNS: tuple[str, ...] = (
    "policy",
    "harm",
    "harm_lo",
    "harm_hi",
    "days_to_act",
    "days_lo",
    "days_hi",
    "can_act",
    "pareto",
)
FRONTIER_FILE = "frontier.csv"
CONFORMANCE_FILE = "conformance.json"
#: Conformance verdicts of designs that cannot act (sim.conformance.PolicyCheck.verdict).
_CANNOT = ("cannot act", "never acts by design")


# -- Pareto -------------------------------------------------------------------------------------
def pareto_mask(
    harm: Sequence[float], days: Sequence[float], eligible: Sequence[bool] | None = None
) -> np.ndarray:
    """Which points are non-dominated on (harm, days), both lower is better.

    Parameters
    ----------
    harm, days
        One value per design. A NaN days (no warranted case) counts as never acting
        (``inf``); a NaN harm keeps a design off the frontier.
    eligible
        Designs allowed on the frontier (those that can act); the others neither join it nor
        dominate anyone.

    Returns
    -------
    ndarray of bool
        True for the eligible designs no other eligible design dominates (equal points are
        both kept).

    Examples
    --------
    >>> pareto_mask([1.0, 2.0, 3.0], [3.0, 1.0, 2.0]).tolist()
    [True, True, False]
    >>> pareto_mask([1.0, 2.0], [1.0, 1.0], eligible=[False, True]).tolist()
    [False, True]
    """
    h = np.asarray(harm, dtype=float)
    d = np.where(np.isnan(np.asarray(days, dtype=float)), np.inf, np.asarray(days, dtype=float))
    ok = np.isfinite(h) & (
        np.ones(h.size, bool) if eligible is None else np.asarray(eligible, dtype=bool)
    )
    out = np.zeros(h.size, dtype=bool)
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        dominated = others & (h <= h[i]) & (d <= d[i]) & ((h < h[i]) | (d < d[i]))
        out[i] = not dominated.any()
    return out


# -- can act --------------------------------------------------------------------------------------
def judge_from_runs(kpis: pd.DataFrame, *, group: str = "policy") -> dict[str, str]:
    """Whether each policy can act, judged from its runs (when the conformance check is not
    run, as in the explorer).

    ``"never acts by design"`` when no coalition could pass anything in any run
    (``governance.capture_cost_tao`` infinite: the policy has no path to pass a proposal);
    ``"cannot act"`` when it had warranted proposals and executed none; ``"acted"`` when it
    executed at least one; ``"no warranted matter"`` when its runs gave it none to act on (then
    it counts as able to act: nothing shows it cannot). Prefer :func:`conformance_checks`.
    """
    out: dict[str, str] = {}
    for policy, sub in kpis.groupby(group, sort=False):
        capture = (
            sub["governance.capture_cost_tao"].astype(float)
            if "governance.capture_cost_tao" in sub.columns
            else pd.Series(dtype=float)
        )
        filed, executed = _pooled(
            sub, "governance.warranted_proposals", "governance.warranted_executed"
        )
        if len(capture) and np.isposinf(capture.to_numpy()).all():
            out[str(policy)] = "never acts by design"
        elif executed > 0:
            out[str(policy)] = "acted"
        elif filed > 0:
            out[str(policy)] = "cannot act"
        else:
            out[str(policy)] = "no warranted matter"
    return out


def can_act_from_runs(kpis: pd.DataFrame, *, group: str = "policy") -> dict[str, bool]:
    """:func:`judge_from_runs` as booleans (True unless it cannot act or never acts by
    design)."""
    return {p: v not in _CANNOT for p, v in judge_from_runs(kpis, group=group).items()}


def _policy_configs(root: Path) -> dict[str, dict[str, Any]]:
    """Each policy's ``governance.policy_config`` in the study (the first design point's)."""
    from sim.store import StudyStore

    scenarios = StudyStore(root).scenarios().sort_values("point", kind="stable")
    out: dict[str, dict[str, Any]] = {}
    for policy, text in zip(scenarios["policy"], scenarios["config"], strict=True):
        if str(policy) in out:
            continue
        try:
            config = json.loads(str(text))
        except ValueError:
            config = {}
        out[str(policy)] = dict((config.get("governance") or {}).get("policy_config") or {})
    return out


def conformance_checks(
    root: str | Path,
    policies: Sequence[str],
    *,
    configs: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The conformance check of every policy of a study, run once and cached in the study
    directory as ``conformance.json``.

    Parameters
    ----------
    root
        The study directory.
    policies
        The policies to check.
    configs
        Each policy's ``policy_config`` (default: read from the study's scenarios); a cached
        check made with another configuration is run again.

    Returns
    -------
    dict
        Policy -> :meth:`sim.conformance.PolicyCheck.to_dict` (``verdict``, ``can_act``, both
        cases' measured blocks), plus the ``policy_config`` it was checked with.
    """
    from sim.conformance import check_policy

    path = Path(root) / CONFORMANCE_FILE
    configs = dict(configs) if configs is not None else _policy_configs(Path(root))
    cached: dict[str, dict[str, Any]] = {}
    if path.is_file():
        try:
            cached = dict(json.loads(path.read_text(encoding="utf-8")).get("checks") or {})
        except (OSError, ValueError):
            cached = {}  # a damaged cache is recomputed, never trusted
    changed = False
    for policy in policies:
        wanted = dict(configs.get(policy) or {})
        entry = cached.get(policy)
        if entry is not None and entry.get("policy_config", {}) == wanted:
            continue
        check = check_policy(policy, policy_config=wanted or None)
        cached[policy] = {**check.to_dict(), "policy_config": wanted}
        changed = True
    if changed:
        text = json.dumps({"checks": cached}, indent=1, sort_keys=True, default=str)
        path.write_text(text + "\n", encoding="utf-8")
    return {p: cached[p] for p in policies}


# -- the frontier ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrontierResult:
    """The frontier of a study.

    Attributes
    ----------
    table
        One row per policy: :data:`FRONTIER_COLUMNS`, then ``check`` (the conformance verdict,
        or ``"judged from the runs"``), ``runs``, ``harmful_proposals``, ``harmful_executed``,
        ``p_harmful_executed`` with ``p_harmful_lo``/``_hi``, ``warranted_proposals``,
        ``warranted_blocked``, ``p_warranted_blocked`` with ``p_blocked_lo``/``_hi``,
        ``cases`` (warranted cases) and ``censored`` (never acted on by the horizon).
    can_act_source
        ``"conformance"`` (the check) or ``"runs"`` (:func:`can_act_from_runs`).
    level
        Confidence level of every interval.
    harm_kpi, speed_kpi
        The KPIs read as harm and as reaction time.
    note
        Why ``can_act`` was judged from the runs although the check was asked for ("" when
        it was not).
    """

    table: pd.DataFrame
    can_act_source: str
    level: float = 0.95
    harm_kpi: str = HARM_KPI
    speed_kpi: str = SPEED_KPI
    note: str = ""

    @property
    def policies(self) -> tuple[str, ...]:
        """The policies, in the study's order."""
        return tuple(str(p) for p in self.table["policy"])

    @property
    def pareto(self) -> tuple[str, ...]:
        """The Pareto-efficient designs (among those that can act)."""
        return tuple(str(p) for p in self.table.loc[self.table["pareto"], "policy"])

    @property
    def cannot_act(self) -> tuple[str, ...]:
        """Every design that cannot act (those never acting by design included)."""
        return tuple(str(p) for p in self.table.loc[~self.table["can_act"], "policy"])

    @property
    def by_design(self) -> tuple[str, ...]:
        """The designs that never act by design (no way to pass a proposal: market_only)."""
        by_design = self.table["check"].astype(str).str.startswith("never acts by design")
        return tuple(str(p) for p in self.table.loc[by_design, "policy"])

    def row(self, policy: str) -> pd.Series:
        """The frontier row of ``policy``."""
        return self.table.set_index("policy").loc[policy]

    def to_csv(self, path: str | Path) -> Path:
        """Write the table (:data:`FRONTIER_COLUMNS` first) as CSV."""
        path = Path(path)
        self.table.to_csv(path, index=False)
        return path


def _pooled(group: pd.DataFrame, trials: str, hits: str) -> tuple[int, int]:
    if trials not in group.columns or hits not in group.columns:
        return 0, 0
    values = group[[trials, hits]].astype(float).fillna(0.0)
    return int(values[trials].sum()), int(values[hits].sum())


def frontier(
    kpis: pd.DataFrame,
    *,
    can_act: Mapping[str, bool] | None = None,
    checks: Mapping[str, str] | None = None,
    group: str = "policy",
    policies: Sequence[str] | None = None,
    level: float = 0.95,
) -> FrontierResult:
    """The frontier of a study's runs (pure: reads only ``kpis`` and the verdicts given).

    Parameters
    ----------
    kpis
        One row per succeeded run with ``policy``, ``harm.total``,
        ``reaction.days_to_act_mean`` and the ``governance.*`` counts.
    can_act
        Policy -> whether it can act (the conformance check's ``can_act``); default: judged
        from the runs (:func:`can_act_from_runs`).
    checks
        Policy -> conformance verdict, shown in the ``check`` column (``market_only``: "never
        acts by design").
    group
        The column naming the policy.
    policies
        The order of the rows (default: order of appearance).
    level
        Confidence level of the t and Wilson intervals.

    Raises
    ------
    KeyError
        When ``kpis`` has no ``harm.total`` column.
    """
    if HARM_KPI not in kpis.columns:
        raise KeyError(
            f"{HARM_KPI}: not a KPI of this study (a study written before the harm "
            "vector; rerun it)"
        )
    source = "conformance" if can_act is not None else "runs"
    acting = dict(can_act) if can_act is not None else can_act_from_runs(kpis, group=group)
    judged = judge_from_runs(kpis, group=group) if can_act is None else {}
    order = list(dict.fromkeys(policies if policies is not None else kpis[group]))
    rows = []
    for policy in order:
        sub = kpis[kpis[group] == policy]
        harm = mean_ci(sub[HARM_KPI].to_numpy(dtype=float), level=level)
        days_values = (
            sub[SPEED_KPI].to_numpy(dtype=float)
            if SPEED_KPI in sub.columns
            else np.full(len(sub), np.nan)
        )
        days = mean_ci(days_values, level=level)
        harmful, harmful_executed = _pooled(
            sub, "governance.harmful_proposals", "governance.harmful_executed"
        )
        warranted, warranted_executed = _pooled(
            sub, "governance.warranted_proposals", "governance.warranted_executed"
        )
        blocked = warranted - warranted_executed
        p_harm = wilson_interval(harmful_executed, harmful, level=level)
        p_block = wilson_interval(blocked, warranted, level=level)
        if checks is not None and policy in checks:
            check = str(checks[policy])
        elif source == "runs":
            check = f"{judged.get(policy, 'no runs')} (judged from the runs)"
        else:
            check = "passes" if acting.get(policy, False) else "cannot act"
        rows.append(
            {
                "policy": policy,
                "harm": harm.mean,
                "harm_lo": harm.low,
                "harm_hi": harm.high,
                # days cannot be negative: a t interval on few runs is cut at 0
                "days_to_act": days.mean,
                "days_lo": max(0.0, days.low) if np.isfinite(days.low) else days.low,
                "days_hi": days.high,
                "can_act": bool(acting.get(policy, False))
                and check not in _CANNOT
                and judged.get(policy) not in _CANNOT,
                "pareto": False,
                "check": check,
                "runs": len(sub),
                "harmful_proposals": harmful,
                "harmful_executed": harmful_executed,
                "p_harmful_executed": p_harm.mean,
                "p_harmful_lo": p_harm.low,
                "p_harmful_hi": p_harm.high,
                "warranted_proposals": warranted,
                "warranted_blocked": blocked,
                "p_warranted_blocked": p_block.mean,
                "p_blocked_lo": p_block.low,
                "p_blocked_hi": p_block.high,
                "cases": int(sub["reaction.cases"].fillna(0).sum())
                if "reaction.cases" in sub.columns
                else 0,
                "censored": int(sub["reaction.censored"].fillna(0).sum())
                if "reaction.censored" in sub.columns
                else 0,
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            *FRONTIER_COLUMNS,
            "check",
            "runs",
            "harmful_proposals",
            "harmful_executed",
            "p_harmful_executed",
            "p_harmful_lo",
            "p_harmful_hi",
            "warranted_proposals",
            "warranted_blocked",
            "p_warranted_blocked",
            "p_blocked_lo",
            "p_blocked_hi",
            "cases",
            "censored",
        ],
    )
    if not table.empty:
        table["pareto"] = pareto_mask(table["harm"], table["days_to_act"], table["can_act"])
        table["can_act"] = table["can_act"].astype(bool)
    return FrontierResult(table, source, level)


def study_frontier(
    root: str | Path, *, conformance: bool = True, write: bool = True, level: float = 0.95
) -> FrontierResult:
    """The frontier of a study directory; writes ``frontier.csv`` there.

    Parameters
    ----------
    root
        The study directory.
    conformance
        Decide ``can_act`` by the conformance check (run once per policy, cached in
        ``conformance.json``); False judges it from the runs (and says so).
    write
        Write ``frontier.csv`` into the study directory.
    level
        Confidence level.
    """
    from sim.store import StudyStore

    store = StudyStore(root)
    kpis = store.table("kpis")
    policies = list(dict.fromkeys(store.manifest()["policy"]))
    present = [p for p in policies if not kpis.empty and p in set(kpis["policy"])]
    can_act: dict[str, bool] | None = None
    checks: dict[str, str] | None = None
    note = ""
    if conformance:
        try:
            found = conformance_checks(store.root, present)
        except Exception as exc:  # a check that cannot run never costs the study its summary
            note = (
                f"the conformance check failed ({type(exc).__name__}: {exc}); can act is "
                "judged from the runs"
            )
        else:
            can_act = {p: bool(c.get("can_act")) for p, c in found.items()}
            checks = {p: str(c.get("verdict")) for p, c in found.items()}
    result = frontier(kpis, can_act=can_act, checks=checks, policies=present, level=level)
    if note:
        result = FrontierResult(result.table, result.can_act_source, result.level, note=note)
    if write:
        result.to_csv(store.root / FRONTIER_FILE)
    return result


# -- the verdict ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrontierVerdict:
    """What the frontier says, as lines.

    Attributes
    ----------
    pareto
        The Pareto-efficient designs.
    cannot_act
        Every design that cannot act (never ranked).
    by_design
        Those that never act by design.
    flips
        With market uncertainty: pairs of a Pareto design and another design that can act whose
        harm ranking flips inside the range (``"a vs b"``); None when the study drew no market
        constants.
    lines
        The verdict, one statement a line.
    """

    pareto: tuple[str, ...]
    cannot_act: tuple[str, ...]
    by_design: tuple[str, ...]
    flips: tuple[str, ...] | None
    lines: tuple[str, ...] = field(default_factory=tuple)

    def text(self) -> str:
        """The lines joined."""
        return "\n".join(self.lines)


def _usd(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    for scale, unit in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"${value / scale:.3g}{unit}"
    return f"${value:.3g}"


def _d(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3g} d"


def _counts(row: pd.Series) -> str:
    """``harmful executed 5/8, warranted blocked 0/8`` (proposal counts over the runs)."""
    return (
        f"harmful executed {int(row['harmful_executed'])}/{int(row['harmful_proposals'])}, "
        f"warranted blocked {int(row['warranted_blocked'])}/"
        f"{int(row['warranted_proposals'])}"
    )


def frontier_verdict(result: FrontierResult, *, stability: Any = None) -> FrontierVerdict:
    """The verdict of a frontier: the Pareto set, every design that cannot act, and whether
    the ranking holds inside the market constants' range.

    A design that cannot act is named as such and never ranked (not "best", not "less harm").
    Designs are never called tied when their harmful executions differ: each Pareto design's
    counts of harmful proposals executed and warranted ones blocked are stated.

    Parameters
    ----------
    result
        The frontier.
    stability
        :func:`sim.uncertainty.ranking_stability` of ``harm.total`` over the study (with
        market uncertainty): the verdict says which rankings of a Pareto design against another
        design that can act flip inside the range. None: the study kept the market constants
        fixed (said so).
    """
    table = result.table.set_index("policy")
    lines: list[str] = [f"note: {result.note}"] if result.note else []
    pareto = result.pareto
    how = (
        "by the conformance check"
        if result.can_act_source == "conformance"
        else "judged from the runs (no conformance check)"
    )
    if pareto:
        parts = [
            f"{p} (harm {_usd(table.at[p, 'harm'])}, {_d(table.at[p, 'days_to_act'])} to "
            f"act; {_counts(table.loc[p])})"
            for p in pareto
        ]
        lines.append(
            "frontier: Pareto-efficient on harm.total vs days to act, among designs "
            f"that can act: {'; '.join(parts)}"
        )
        by_harm = sorted(pareto, key=lambda p: table.at[p, "harm"])
        if len(by_harm) > 1:
            low, fast = (
                by_harm[0],
                min(
                    pareto,
                    key=lambda p: (
                        np.nan_to_num(table.at[p, "days_to_act"], nan=np.inf),
                        table.at[p, "harm"],
                    ),
                ),
            )
            if low != fast:
                lines.append(
                    f"trade-off: {low} does least harm, {fast} acts fastest; between "
                    "them each design buys speed with harm"
                )
    else:
        lines.append("frontier: no design that can act has a harm value; nothing to rank")
    cannot = result.cannot_act
    if cannot:
        named = [
            f"{p} (never acts by design)"
            if p in result.by_design
            else f"{p} ({table.at[p, 'check']})"
            for p in cannot
        ]
        lines.append(f"cannot act ({how}), not ranked: {', '.join(named)}")
    counted = [p for p in result.policies if int(table.at[p, "harmful_proposals"]) > 0]
    executed = [p for p in counted if int(table.at[p, "harmful_executed"]) > 0]
    if counted:
        lines.append(
            "harmful proposals executed: "
            + ", ".join(
                f"{p} {int(table.at[p, 'harmful_executed'])} of "
                f"{int(table.at[p, 'harmful_proposals'])}"
                for p in counted
            )
            + ("" if executed else " (none executed)")
        )
    flips: tuple[str, ...] | None = None
    if stability is None:
        lines.append(
            "market constants fixed in this study (no outer Monte Carlo): intervals "
            "hold seed noise only"
        )
    else:
        flips, line = _stability_line(result, stability)
        lines.append(line)
    return FrontierVerdict(pareto, cannot, result.by_design, flips, tuple(lines))


def _stability_line(result: FrontierResult, stability: Any) -> tuple[tuple[str, ...], str]:
    """Which harm rankings that involve a Pareto design (against every other design that can
    act) flip inside the market constants' range."""
    chosen = set(result.pareto)
    acting = set(result.policies) - set(result.cannot_act)
    pairs = [
        pr
        for pr in stability.pairs
        if (pr.a in chosen or pr.b in chosen) and pr.a in acting and pr.b in acting
    ]
    n = max((pr.n for pr in pairs), default=0)
    head = f"market constants drawn per replication (outer Monte Carlo, {n} paired replications)"
    if not pairs:
        return (), f"{head}: no pair of designs that can act to rank"
    flips = tuple(f"{pr.a} vs {pr.b}" for pr in pairs if pr.flips)
    held = [f"{pr.a} vs {pr.b}" for pr in pairs if not pr.flips]
    if not flips:
        return flips, f"{head}: every harm ranking of a Pareto design holds inside the range"
    text = f"{head}: the harm ranking flips inside the range for {', '.join(flips)}"
    if held:
        text += f"; it holds for {', '.join(held)}"
    if n < 4:
        text += (
            f" (with {n} replications no ranking can be settled: the share's Wilson "
            "interval always spans 50 %)"
        )
    return flips, text


# -- the terminal table ---------------------------------------------------------------------------
def _interval(mean: float, low: float, high: float, fmt: Any) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]"


def _share(hits: int, trials: int) -> str:
    return "-" if trials == 0 else f"{hits}/{trials}"


def format_frontier(result: FrontierResult, *, width: int = 100) -> str:
    """The frontier as a terminal table at most ``width`` characters wide.

    Columns: policy, harm (USD, mean [interval]), days to act (mean [interval]), harmful
    proposals executed and warranted ones blocked (counts over the runs), runs, and a mark:
    ``*`` Pareto-efficient, ``x`` cannot act, ``-`` never acts by design.
    """

    def money(v: float) -> str:
        return _usd(v).removeprefix("$")

    def days(v: float) -> str:
        return f"{v:.2f}" if math.isfinite(v) else "n/a"

    rows = []
    for r in result.table.itertuples(index=False):
        mark = (
            "*"
            if r.pareto
            else "-"
            if str(r.check).startswith("never acts by design")
            else "x"
            if not r.can_act
            else ""
        )
        rows.append(
            [
                str(r.policy),
                mark,
                _interval(r.harm, r.harm_lo, r.harm_hi, money),
                _interval(r.days_to_act, r.days_lo, r.days_hi, days),
                _share(int(r.harmful_executed), int(r.harmful_proposals)),
                _share(int(r.warranted_blocked), int(r.warranted_proposals)),
                str(int(r.runs)),
            ]
        )
    header = ["policy", "", "harm USD [CI]", "days to act [CI]", "harm exec", "warr block", "runs"]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(header)
    ]
    widths[0] = min(widths[0], 18)

    def line(cells: Sequence[str]) -> str:
        out = [cells[0][: widths[0]].ljust(widths[0]), cells[1].ljust(widths[1])]
        out += [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
        return " ".join(out).rstrip()[:width]

    level = f"{result.level:.0%}"
    lines = [
        f"frontier: harm.total (USD) against days to act, mean [{level} t interval] over runs"[
            :width
        ],
        line(header),
        "-" * min(width, len(line(header))),
    ]
    lines += [line(r) for r in rows]
    source = (
        "the conformance check"
        if result.can_act_source == "conformance"
        else "the runs (no conformance check)"
    )
    lines.append(
        f"* Pareto-efficient  x cannot act  - never acts by design (can act: by {source})"[:width]
    )
    lines.append(
        "harm exec: harmful proposals executed / filed; warr block: warranted "
        "proposals blocked / filed"[:width]
    )
    return "\n".join(lines)
