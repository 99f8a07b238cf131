"""The frontier: harm against measured reaction speed, the Pareto set among designs that can
act, the verdict's text, and a tiny compare study writing frontier.csv."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.agents.events import draw_random_shocks
from sim.config import EventsConfig, InterventionShock, ScamSubnetShock
from sim.frontier import (
    CONFORMANCE_FILE,
    FRONTIER_COLUMNS,
    conformance_checks,
    format_frontier,
    frontier,
    frontier_verdict,
    judge_from_runs,
    pareto_mask,
    study_frontier,
)
from sim.report import verdict
from sim.schema import ScenarioError, load_scenario
from sim.stats import wilson_interval
from sim.uncertainty import ranking_stability
from tests.scenarios.tiny import REPO, tiny_set_args

FLAGSHIP = REPO / "scenarios" / "governance_frontier.toml"


def _runs(spec: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """One row per run: ``spec[policy][kpi]`` lists one value per replication."""
    rows = []
    for policy, columns in spec.items():
        n = len(next(iter(columns.values())))
        for rep in range(n):
            rows.append(
                {
                    "policy": policy,
                    "point": 0,
                    "replication": rep,
                    **{k: v[rep] for k, v in columns.items()},
                }
            )
    return pd.DataFrame(rows)


def _design(
    harm: list[float], days: list[float], harmful_exec: list[int], warranted_exec: list[int]
) -> dict[str, list[float]]:
    n = len(harm)
    return {
        "harm.total": harm,
        "reaction.days_to_act_mean": days,
        "governance.harmful_proposals": [1] * n,
        "governance.harmful_executed": harmful_exec,
        "governance.warranted_proposals": [2] * n,
        "governance.warranted_executed": warranted_exec,
        "reaction.cases": [2] * n,
        "reaction.censored": [0] * n,
    }


@pytest.fixture()
def hand_made() -> pd.DataFrame:
    # fast: quick but harmful; slow: least harm but slow; middle: dominated by neither;
    # worse: dominated by middle; never: lowest harm of all, yet it cannot act.
    return _runs(
        {
            "fast": _design([10.0, 12.0, 11.0, 13.0], [0.1, 0.1, 0.2, 0.2], [1, 1, 1, 0], [2] * 4),
            "middle": _design([6.0, 7.0, 6.0, 7.0], [1.0, 1.5, 1.0, 1.5], [0, 1, 0, 0], [2] * 4),
            "worse": _design([8.0, 9.0, 8.0, 9.0], [2.0, 2.0, 2.0, 2.0], [0] * 4, [2, 1, 2, 1]),
            "slow": _design([2.0, 3.0, 2.0, 3.0], [5.0, 6.0, 5.0, 6.0], [0] * 4, [2] * 4),
            "never": _design([1.0, 1.0, 1.5, 1.5], [30.0] * 4, [0] * 4, [0] * 4),
        }
    )


def test_pareto_mask_lower_is_better_on_both_axes() -> None:
    assert pareto_mask([1.0, 2.0, 3.0], [3.0, 1.0, 2.0]).tolist() == [True, True, False]
    # Equal points are both kept; a point better on one axis and equal on the other dominates.
    assert pareto_mask([1.0, 1.0, 1.0], [2.0, 2.0, 3.0]).tolist() == [True, True, False]
    # A NaN days (no warranted case) counts as never acting; a NaN harm is never on it.
    assert pareto_mask([1.0, 1.0], [np.nan, 2.0]).tolist() == [False, True]
    assert pareto_mask([np.nan, 5.0], [1.0, 2.0]).tolist() == [False, True]
    # Ineligible designs neither join the frontier nor dominate anyone.
    assert pareto_mask([0.5, 1.0, 2.0], [0.5, 2.0, 1.0], eligible=[False, True, True]).tolist() == [
        False,
        True,
        True,
    ]


def test_frontier_table_on_a_hand_made_frame(hand_made: pd.DataFrame) -> None:
    can_act = {"fast": True, "middle": True, "worse": True, "slow": True, "never": False}
    checks = {**{p: "passes" for p in can_act if p != "never"}, "never": "never acts by design"}
    result = frontier(hand_made, can_act=can_act, checks=checks)
    assert tuple(result.table.columns[: len(FRONTIER_COLUMNS)]) == FRONTIER_COLUMNS
    assert result.pareto == ("fast", "middle", "slow")
    assert result.cannot_act == ("never",) and result.by_design == ("never",)
    row = result.row("fast")
    assert row["harm"] == pytest.approx(11.5) and row["days_to_act"] == pytest.approx(0.15)
    assert row["harm_lo"] < 11.5 < row["harm_hi"] and row["days_lo"] < 0.15 < row["days_hi"]
    # Pooled counts with Wilson intervals: 3 of 4 harmful proposals executed.
    assert (row["harmful_executed"], row["harmful_proposals"]) == (3, 4)
    ci = wilson_interval(3, 4)
    assert (row["p_harmful_lo"], row["p_harmful_hi"]) == pytest.approx((ci.low, ci.high))
    worse = result.row("worse")
    assert (worse["warranted_blocked"], worse["warranted_proposals"]) == (2, 8)
    assert worse["p_warranted_blocked"] == pytest.approx(0.25)
    # The design that cannot act has the lowest harm, and is still never on the frontier.
    assert result.row("never")["harm"] < result.row("slow")["harm"]
    assert not result.row("never")["pareto"] and not result.row("never")["can_act"]


def test_can_act_judged_from_the_runs_without_the_check(hand_made: pd.DataFrame) -> None:
    result = frontier(hand_made)
    assert result.can_act_source == "runs"
    assert result.cannot_act == ("never",)  # warranted proposals filed, none executed
    assert result.row("never")["check"] == "cannot act (judged from the runs)"
    assert result.row("fast")["check"] == "acted (judged from the runs)"
    assert "judged from the runs" in frontier_verdict(result).text()
    # No coalition could pass anything in any run: never acts by design. No warranted
    # matter at all: nothing shows the design cannot act.
    runs = hand_made.assign(**{"governance.capture_cost_tao": 1e4})
    runs.loc[runs["policy"] == "never", "governance.capture_cost_tao"] = np.inf
    runs.loc[runs["policy"] == "slow", "governance.warranted_proposals"] = 0
    runs.loc[runs["policy"] == "slow", "governance.warranted_executed"] = 0
    judged = judge_from_runs(runs)
    assert judged["never"] == "never acts by design"
    assert judged["slow"] == "no warranted matter"
    result = frontier(runs)
    assert result.by_design == ("never",) and result.row("slow")["can_act"]
    with pytest.raises(KeyError, match=r"harm\.total"):
        frontier(hand_made.drop(columns=["harm.total"]))


def test_verdict_names_pareto_set_and_cannot_act_designs(hand_made: pd.DataFrame) -> None:
    can_act = {"fast": True, "middle": True, "worse": True, "slow": True, "never": False}
    checks = {"never": "never acts by design"}
    result = frontier(hand_made, can_act=can_act, checks=checks)
    text = frontier_verdict(result).text()
    first = text.splitlines()[0]
    assert first.startswith("frontier: Pareto-efficient")
    for name in ("fast", "middle", "slow"):
        assert name in first
    assert "worse" not in first and "never" not in first
    assert "cannot act (by the conformance check), not ranked: never (never acts by design)" in text
    assert "harmful executed 3/4" in first  # counts stated, never "tied"
    assert "tied" not in text
    assert "market constants fixed" in text
    table = format_frontier(result)
    assert max(len(line) for line in table.splitlines()) <= 100
    marks = {line.split()[0]: line.split()[1] for line in table.splitlines()[3:8]}
    assert {p: marks[p] for p in ("fast", "middle", "slow", "never")} == {
        "fast": "*",
        "middle": "*",
        "slow": "*",
        "never": "-",
    }
    assert marks["worse"] not in ("*", "-", "x")


def test_verdict_says_when_the_ranking_flips_inside_the_range(hand_made: pd.DataFrame) -> None:
    can_act = dict.fromkeys(["fast", "middle", "worse", "slow"], True) | {"never": False}
    result = frontier(hand_made, can_act=can_act)
    stable = frontier_verdict(
        result, stability=ranking_stability(hand_made, metric="harm.total", policies=result.pareto)
    )
    assert stable.flips == ()
    assert "holds inside the range" in stable.text()
    # Make "middle" and "slow" swap places from one replication to the next.
    swapped = hand_made.copy()
    slow = swapped["policy"] == "slow"
    swapped.loc[slow, "harm.total"] = [9.0, 3.0, 9.0, 3.0]
    result = frontier(swapped, can_act=can_act)
    flipping = frontier_verdict(
        result, stability=ranking_stability(swapped, metric="harm.total", policies=result.pareto)
    )
    assert flipping.flips and any("slow" in pair for pair in flipping.flips)
    assert "flips inside the range" in flipping.text()
    # The design that cannot act is in no pair; with 4 replications a ranking can settle.
    assert not any("never" in pair for pair in flipping.flips)
    assert "it holds for" in flipping.text() and "can be settled" not in flipping.text()


def test_report_verdict_never_ranks_a_cannot_act_design() -> None:
    kpis = _runs(
        {
            "sudo": _design([5.0, 6.0, 5.5, 6.5], [0.1] * 4, [1, 1, 1, 1], [2] * 4),
            "multisig": _design([5.0, 6.0, 5.5, 6.4], [0.2] * 4, [0, 1, 0, 0], [2] * 4),
            "market_only": _design([1.0, 1.0, 1.0, 1.0], [30.0] * 4, [0] * 4, [0] * 4),
        }
    )
    plain = verdict(kpis)
    assert "market_only" in plain.least_harm  # what the check prevents
    judged = verdict(kpis, cannot_act=["market_only"])
    assert "market_only" not in judged.least_harm and "market_only" not in judged.fewer_harm
    assert "cannot act, not ranked: market_only" in judged.line
    # sudo and multisig are within each other's interval but executed the harmful action in
    # different numbers of seeds: the counts are stated, never "tied".
    assert "tied" not in judged.line
    assert "a harmful action executed in 1 of 4 seeds: multisig; 4 of 4 seeds: sudo" in judged.line
    assert verdict(kpis, cannot_act=["sudo", "multisig", "market_only"]).line.startswith(
        "verdict: no policy can act"
    )


def test_conformance_is_run_once_and_cached(tmp_path: Path) -> None:
    found = conformance_checks(tmp_path, ["market_only"], configs={"market_only": {}})
    assert found["market_only"]["verdict"] == "never acts by design"
    assert found["market_only"]["can_act"] is False
    path = tmp_path / CONFORMANCE_FILE
    stamp = path.stat().st_mtime_ns
    again = conformance_checks(tmp_path, ["market_only"], configs={"market_only": {}})
    assert again == found and path.stat().st_mtime_ns == stamp  # read, not rerun
    assert json.loads(path.read_text())["checks"]["market_only"]["policy_config"] == {}


def test_random_interventions_arrive_with_their_warranted_share() -> None:
    cfg = EventsConfig(
        intervention_rate_per_year=365.0 * 4,
        intervention_warranted_share=0.3,
        intervention_duration_days=2.0,
    )
    shocks = draw_random_shocks(cfg, n_subnets=5, horizon_days=100.0, rng=np.random.default_rng(7))
    interventions = [s for s in shocks if isinstance(s, InterventionShock)]
    scams = [s for s in shocks if isinstance(s, ScamSubnetShock)]
    assert 300 < len(interventions) < 500
    warranted = [s for s in interventions if s.justified]
    assert 0.2 < len(warranted) / len(interventions) < 0.4
    # A warranted intervention is a scam caught early: its subnet turns scam the same day.
    assert {(s.day, s.netuid) for s in scams} == {(s.day, s.lever["netuid"]) for s in warranted}
    assert all(s.intent == "benevolent_competent" for s in warranted)
    assert all(s.intent == "self_interested" for s in interventions if not s.justified)
    assert all(s.duration_days == 2.0 for s in interventions)
    again = draw_random_shocks(cfg, n_subnets=5, horizon_days=100.0, rng=np.random.default_rng(7))
    assert again == shocks  # fixed by the seed
    # No rate, no draws: studies without random interventions keep their event lists.
    off = EventsConfig(exploit_rate_per_year=3.0)
    assert draw_random_shocks(
        off, n_subnets=5, horizon_days=100.0, rng=np.random.default_rng(7)
    ) == draw_random_shocks(
        off.model_copy(update={"intervention_warranted_share": 0.9}),
        n_subnets=5,
        horizon_days=100.0,
        rng=np.random.default_rng(7),
    )


def test_flagship_scenario_validates(tmp_path: Path) -> None:
    scenario = load_scenario(FLAGSHIP, check_sweep=False)
    cfg = scenario.config
    assert scenario.market_uncertainty == "prior"
    assert cfg.events.intervention_rate_per_year > 0 and cfg.events.exploit_rate_per_year > 0
    assert cfg.events.scam_rate_per_year > 0
    assert 0 < cfg.events.intervention_warranted_share < 1
    kinds = [(s.kind, getattr(s, "justified", None)) for s in cfg.shocks]
    assert kinds == [("intervention", False), ("exploit", None)]
    assert scenario.policy_names()[0] and len(scenario.policy_names()) >= 10
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{FLAGSHIP}"\n[events]\nintervention_lever = "no_such_lever"\n')
    with pytest.raises(ScenarioError, match="intervention_lever"):
        load_scenario(bad, check_sweep=False)
    bad.write_text(f'extends = "{FLAGSHIP}"\n[events]\nintervention_warranted_share = 1.5\n')
    with pytest.raises(ScenarioError, match="intervention_warranted_share"):
        load_scenario(bad, check_sweep=False)


@pytest.mark.slow
def test_compare_writes_frontier_csv_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sim.cli import main

    out = tmp_path / "frontier"
    args = [
        "compare",
        str(FLAGSHIP),
        "--policies",
        "sudo,market_only",
        "--seeds",
        "2",
        "--entropy",
        "5",
        "--executor",
        "sequential",
        "--quiet",
        "--out",
        str(out),
        *tiny_set_args(load_scenario(FLAGSHIP, check_sweep=False), 3.0),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with (out / "frontier.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0][: len(FRONTIER_COLUMNS)]) == FRONTIER_COLUMNS
    table = pd.read_csv(out / "frontier.csv")
    assert list(table["policy"]) == ["sudo", "market_only"]
    by = table.set_index("policy")
    assert not by.at["market_only", "can_act"] and not by.at["market_only", "pareto"]
    assert by.at["market_only", "check"] == "never acts by design"
    assert by.at["sudo", "can_act"] and by.at["sudo", "pareto"]
    assert math.isfinite(by.at["sudo", "harm"]) and by.at["sudo", "runs"] == 2
    checks = json.loads((out / CONFORMANCE_FILE).read_text())["checks"]
    assert set(checks) == {"sudo", "market_only"}
    lines = result.output.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("frontier: harm.total")))
    assert all(len(line) <= 100 for line in lines[start : start + 8])
    assert "market_only (never acts by design)" in result.output
    assert (
        "frontier: Pareto-efficient on harm.total vs days to act, among designs that can "
        "act: sudo" in result.output
    )
    html = (out / "report.html").read_text()
    assert "The frontier: harm against measured reaction speed" in html
    report = CliRunner().invoke(main, ["report", str(out), "--json"])
    assert report.exit_code == 0, report.output
    data = json.loads(report.output)
    assert data["frontier_verdict"]["pareto"] == ["sudo"]
    assert data["frontier_verdict"]["never_acts_by_design"] == ["market_only"]
    # A conformance check that cannot run never costs the study its summary.
    import sim.conformance

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("no check today")

    (out / CONFORMANCE_FILE).unlink()
    monkeypatch.setattr(sim.conformance, "check_policy", broken)
    fallback = study_frontier(out)
    assert fallback.can_act_source == "runs" and "no check today" in fallback.note
    assert fallback.by_design == ("market_only",)  # no coalition could pass anything
    assert frontier_verdict(fallback).lines[0].startswith("note: the conformance check failed")


def test_market_uncertainty_flag_sets_the_run_config(tmp_path: Path) -> None:
    from sim.cli import main
    from sim.store import StudyStore

    out = tmp_path / "off"
    args = [
        "compare",
        str(FLAGSHIP),
        "--policies",
        "sudo",
        "--seeds",
        "1",
        "--entropy",
        "3",
        "--executor",
        "sequential",
        "--quiet",
        "--no-report",
        "--no-conformance",
        "--market-uncertainty",
        "off",
        "--out",
        str(out),
        *tiny_set_args(load_scenario(FLAGSHIP, check_sweep=False), 0.5),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "market constants fixed" in result.output
    sweep = StudyStore(out).sweep()
    assert sweep["run_config"]["market_uncertainty"] == "off"
    assert sweep["market_uncertainty"] == {"mode": "off"}
    assert not (out / CONFORMANCE_FILE).exists()  # --no-conformance: judged from the runs
    assert pd.read_csv(out / "frontier.csv")["check"].str.endswith("(judged from the runs)").all()
