"""Governance KPIs measured from what happened in a run: outcomes, reaction times, capture cost.

:func:`governance_kpis` is called by :func:`sim.metrics.compute_kpis`; every number comes from
the run's proposals (``GovernanceDesk.meta``), its cases (``GovernanceDesk.cases``: each
exploit, scam, intervention and false alarm, however many proposals it took) and the policy's
final state, never from a structural constant:

``governance.proposals``, ``governance.harmful_proposals``, ``governance.harmful_executed``,
``governance.warranted_proposals``, ``governance.warranted_executed``
    counts of top-level proposals (children of two-stage policies and reversals excluded) and
    how many of them executed (directly or through their child);
``governance.p_harmful_executed``, ``governance.p_warranted_executed``
    the shares (NaN without such proposals); across seeds, pool the counts and use
    :func:`sim.stats.wilson_interval`;
``reaction.days_to_act_mean``, ``reaction.days_to_act_max``, ``reaction.censored``, ``reaction.cases``
    days from detection to execution over the warranted cases (exploits, scams, warranted
    interventions); a case never acted on counts with the days to the horizon (a lower bound)
    and is counted in ``reaction.censored``;
``governance.capture_cost_tao`` / ``_seats``, ``governance.veto_cost_tao`` / ``_seats``
    the cheapest coalition able to pass a harmful lever (over the policy's ``pass_paths``) and
    to block a warranted one (``block_paths``), in TAO at the run's final stakes and in seats
    (:func:`cheapest_coalition`); ``inf`` when no coalition can pass, NaN when nothing can be
    blocked;
``governance.false_alarms``, ``governance.bribes_paid_tao``, ``governance.missed_votes``
    what the voter model did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any

import pandas as pd

from protocol.governance import GovernancePolicy, GovState, Path
from protocol.units import BLOCKS_PER_DAY

if TYPE_CHECKING:
    from sim.metrics import RecordedModel

__all__ = [
    "Coalition",
    "capture_costs",
    "cheapest_coalition",
    "governance_kpis",
    "member_costs",
    "outcome_table",
    "study_outcomes",
]


@dataclass(frozen=True)
class Coalition:
    """The cheapest coalition found for a set of paths.

    Attributes
    ----------
    path
        Name of the path it uses.
    members
        Who is in it.
    cost_tao
        What buying all of them costs (TAO).
    exact
        True when the search is exact for that path (one requirement over equal weights).
    """

    path: str
    members: tuple[str, ...]
    cost_tao: float
    exact: bool

    @property
    def seats(self) -> int:
        """Number of members."""
        return len(self.members)


def _path_coalition(path: Path, cost: Callable[[str, bool], float]) -> Coalition | None:
    """Cheapest members meeting every requirement of ``path``: greedy by cost per unit of
    weight, requirement by requirement (members bought for one count for the next), then
    pruned of members the others do not need (dearest first)."""
    acting: set[str] = set()
    chosen: list[str] = []
    unit_costs: dict[str, float] = {}
    for req in path.requirements:
        if req.met_by(acting):
            continue
        by_weight = len(set(req.weights)) > 1 or any(w != 1.0 for w in req.weights)
        options = []
        for m, w in zip(req.members, req.weights, strict=True):
            if m in acting or w <= 0:
                continue
            c = cost(m, by_weight)
            unit_costs[m] = c
            options.append((c / w, -w, m))
        # Cheapest per unit of weight first; at equal price the heavier (fewer seats).
        for _, _, m in sorted(options):
            chosen.append(m)
            acting.add(m)
            if req.met_by(acting):
                break
        if not req.met_by(acting):
            return None
    for m in sorted(chosen, key=lambda m: (-unit_costs.get(m, 0.0), m)):
        rest = acting - {m}
        if all(req.met_by(rest) for req in path.requirements):
            acting = rest
    members = tuple(m for m in chosen if m in acting)
    exact = len(path.requirements) == 1 and all(w == 1.0 for w in path.requirements[0].weights)
    return Coalition(path.name, members, float(sum(unit_costs[m] for m in members)), exact)


def cheapest_coalition(
    paths: tuple[Path, ...], cost: Callable[[str, bool], float]
) -> Coalition | None:
    """The cheapest coalition over ``paths`` (None when no path can be met).

    Parameters
    ----------
    paths
        A policy's ``pass_paths`` or ``block_paths``.
    cost
        ``cost(member, stake_weighted)``: TAO to buy ``member`` for a requirement weighted by
        stake (True) or counted by seat (False).

    Notes
    -----
    Exact for one requirement over equal weights (the cheapest ``need`` seats); otherwise an
    upper bound (a knapsack over stake; requirements sharing members).

    Examples
    --------
    >>> from protocol.governance import count_requirement
    >>> p = Path("k_of_n", (count_requirement("signers", ("a", "b", "c"), 2),))
    >>> c = cheapest_coalition((p,), lambda m, _: {"a": 5.0, "b": 1.0, "c": 2.0}[m])
    >>> c.members, c.cost_tao, c.exact
    (('b', 'c'), 3.0, True)
    """
    best: Coalition | None = None
    for path in paths:
        found = _path_coalition(path, cost)
        if found is not None and (
            best is None or (found.cost_tao, found.seats) < (best.cost_tao, best.seats)
        ):
            best = found
    return best


def member_costs(
    gs: GovState, bribe_prices: Mapping[str, float | None], seat_price: float
) -> Callable[[str, bool], float]:
    """``cost(member, stake_weighted)``: its bribe price when it has one, else the TAO value of
    its stake for a stake-weighted requirement, else ``seat_price``."""
    stakes = gs.electorate.stakes

    def cost(member: str, stake_weighted: bool) -> float:
        price = bribe_prices.get(member)
        if price is not None:
            return float(price)
        return float(stakes.get(member, 0.0)) if stake_weighted else float(seat_price)

    return cost


def _share(hits: int, total: int) -> float:
    return hits / total if total else math.nan


def governance_kpis(model: RecordedModel) -> dict[str, Any]:
    """The measured governance KPIs of a finished (or stopped) run (see the module docstring)."""
    desk = model.governance
    cfg = model.config.governance
    out: dict[str, Any] = {}
    top = [m for pid, m in desk.meta.items() if not m.reversal and desk.gs.ref(pid).parent is None]
    harmful = [m for m in top if not m.justified]
    warranted = [m for m in top if m.justified]
    out["governance.proposals"] = len(top)
    out["governance.harmful_proposals"] = len(harmful)
    out["governance.harmful_executed"] = sum(m.executed_block is not None for m in harmful)
    out["governance.warranted_proposals"] = len(warranted)
    out["governance.warranted_executed"] = sum(m.executed_block is not None for m in warranted)
    out["governance.p_harmful_executed"] = _share(out["governance.harmful_executed"], len(harmful))
    out["governance.p_warranted_executed"] = _share(
        out["governance.warranted_executed"], len(warranted)
    )

    # Reaction: detection -> execution over warranted cases, censored at the horizon.
    days: list[float] = []
    censored = 0
    for case in desk.cases.values():
        if not case.warranted:
            continue
        end = case.executed_block
        if end is None:
            censored += 1
            end = model.block
        days.append(max(0, end - case.detected_block) / BLOCKS_PER_DAY)
    out["reaction.cases"] = len(days)
    out["reaction.censored"] = censored
    out["reaction.days_to_act_mean"] = float(sum(days) / len(days)) if days else math.nan
    out["reaction.days_to_act_max"] = float(max(days)) if days else math.nan
    out["governance.cases_harmful"] = sum(1 for c in desk.cases.values() if not c.warranted)
    out["governance.false_alarms"] = desk.false_alarms
    out["governance.bribes_paid_tao"] = float(desk.bribes_paid_tao)
    out["governance.missed_votes"] = desk.missed_votes
    out.update(capture_costs(desk.policy, desk.gs, desk.bribe_prices(), cfg.seat_price_tao))
    return out


def capture_costs(
    policy: GovernancePolicy,
    gs: GovState,
    bribe_prices: Mapping[str, float | None],
    seat_price: float,
) -> dict[str, float]:
    """``governance.capture_cost_*`` and ``governance.veto_cost_*`` of ``policy`` at ``gs``."""
    cost = member_costs(gs, bribe_prices, seat_price)
    out: dict[str, float] = {}
    capture = cheapest_coalition(policy.pass_paths(gs), cost)
    veto = cheapest_coalition(policy.block_paths(gs), cost)
    out["governance.capture_cost_tao"] = capture.cost_tao if capture else math.inf
    out["governance.capture_cost_seats"] = float(capture.seats) if capture else math.inf
    out["governance.veto_cost_tao"] = veto.cost_tao if veto else math.nan
    out["governance.veto_cost_seats"] = float(veto.seats) if veto else math.nan
    return out


# -- across runs ---------------------------------------------------------------------------------
def outcome_table(kpis: pd.DataFrame, by: Sequence[str] = ("policy",)) -> pd.DataFrame:
    """Governance outcomes pooled over the runs of each group, with Wilson 95 % intervals.

    Parameters
    ----------
    kpis
        One row per run with the ``governance.*`` and ``reaction.*`` KPIs.
    by
        Grouping columns (the policy, a swept parameter...).

    Returns
    -------
    DataFrame
        Per group: ``runs``; ``harmful`` (proposals), ``harmful_executed``,
        ``p_harmful`` with ``p_harmful_lo``/``_hi``; the same for ``warranted``;
        ``days_to_act`` (mean of the runs' means) with its Student t 95 % interval across
        runs ``days_to_act_lo``/``_hi`` (cut at 0), ``days_to_act_max`` and ``censored`` (cases never
        acted on by the horizon); ``stolen_tao``, the mean of ``exploits.stolen_tao`` when the
        runs report it.
    """
    from sim.stats import mean_ci, wilson_interval

    rows = []
    for key, group in kpis.groupby(list(by), sort=False):
        values = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, values, strict=True))
        row["runs"] = len(group)
        for kind in ("harmful", "warranted"):
            trials = int(group[f"governance.{kind}_proposals"].sum())
            hits = int(group[f"governance.{kind}_executed"].sum())
            ci = wilson_interval(hits, trials)
            row.update(
                {
                    kind: trials,
                    f"{kind}_executed": hits,
                    f"p_{kind}": ci.mean,
                    f"p_{kind}_lo": ci.low,
                    f"p_{kind}_hi": ci.high,
                }
            )
        days = mean_ci(group["reaction.days_to_act_mean"].to_numpy(dtype=float))
        # days are never negative: a t interval around a mean near 0 is cut at 0
        row.update(
            {
                "days_to_act": days.mean,
                "days_to_act_lo": max(0.0, days.low),
                "days_to_act_hi": days.high,
            }
        )
        row["days_to_act_max"] = float(group["reaction.days_to_act_max"].max())
        row["censored"] = int(group["reaction.censored"].sum())
        if "exploits.stolen_tao" in group:
            row["stolen_tao"] = float(group["exploits.stolen_tao"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _dotted(config: Mapping[str, Any], path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def study_outcomes(root: str | FilePath, by: Sequence[str] = ()) -> pd.DataFrame:
    """:func:`outcome_table` of a study directory, grouped by config fields ``by`` (dotted
    paths, e.g. ``governance.signal_accuracy``) and the policy."""
    from sim.store import StudyStore

    store = StudyStore(root)
    kpis = store.table("kpis")
    if by:
        scenarios = store.scenarios()
        configs = {int(r.scenario_id): json.loads(r.config) for r in scenarios.itertuples()}
        for path in by:
            kpis[path] = [_dotted(configs[int(i)], path) for i in kpis["scenario_id"]]
    return outcome_table(kpis, (*by, "policy"))


def _number(x: float) -> str:
    """Four significant digits (a one-block reaction shows as 0.0001389 days), whole TAO, and
    0 for rounding residue (a Wilson bound of 0 computed as 1e-17)."""
    if math.isfinite(x) and abs(x) < 1e-9:
        return "0"
    return f"{x:.0f}" if math.isfinite(x) and abs(x) >= 1_000 else f"{x:.4g}"


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sim.governance_kpis STUDY [--by FIELD ...]``: print the outcome table."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sim.governance_kpis", description=main.__doc__)
    parser.add_argument("study", help="a study directory (govsim compare / sweep --out)")
    parser.add_argument(
        "--by",
        action="append",
        default=[],
        help="config field to group by, e.g. governance.signal_accuracy",
    )
    parser.add_argument(
        "--columns",
        default="",
        help="comma-separated columns to show after the grouping ones, e.g. "
        "days_to_act,days_to_act_lo,days_to_act_hi (default: all)",
    )
    parser.add_argument(
        "--sort", default="", help="column to sort the rows by within each group, e.g. days_to_act"
    )
    args = parser.parse_args(argv)
    table = study_outcomes(args.study, args.by)
    if args.columns:
        wanted = [c.strip() for c in args.columns.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in table.columns]
        if unknown:
            parser.error(
                f"--columns: unknown {', '.join(unknown)}; known: {', '.join(table.columns)}"
            )
        table = table[[*args.by, "policy", *(c for c in wanted if c not in (*args.by, "policy"))]]
    if args.sort:
        if args.sort not in table.columns:
            parser.error(f"--sort: unknown column {args.sort!r}")
        table = table.sort_values([*args.by, args.sort], kind="stable")
    with pd.option_context(
        "display.width", 160, "display.max_rows", 500, "display.float_format", _number
    ):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
