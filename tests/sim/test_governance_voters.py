"""The voter model in the agent model: the same persons and signals under every policy, a
third-party policy seated by its own declaration, votes inside each poll's window, bribes,
and the measured governance KPIs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from protocol.governance import (
    POLICIES,
    BodySpec,
    GovernanceError,
    GovernancePolicy,
    GovState,
    Path,
    Referendum,
    RefState,
    count_requirement,
)
from protocol.governance.config import param
from protocol.levers import Lever
from sim import engine, run
from sim.api import load_config
from sim.governance_kpis import capture_costs
from sim.model import GovSimModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY: dict[str, Any] = {
    "network": {"n_subnets": 3, "n_uids": 8, "n_validators": 2},
    "stakers": {"n_stakers": 3},
    "miners": {"relocation_probability": 0.0},
    "events": {
        "exploit_rate_per_year": 0.0,
        "scam_rate_per_year": 0.0,
        "quality_shock_rate_per_year": 0.0,
    },
}
HARM = {
    "kind": "intervention",
    "day": 0.3,
    "intent": "self_interested",
    "justified": False,
    "lever": {"kind": "set_emission_enabled", "netuid": 1, "enabled": False},
}


def _model(
    policy: str,
    horizon: float,
    shocks: list[dict[str, Any]],
    governance: dict[str, Any],
    seed: int = 3,
) -> GovSimModel:
    config = load_config(
        {
            **TINY,
            "horizon_days": horizon,
            "shocks": shocks,
            "governance": {**governance, "policy": policy},
        },
        seed=seed,
    )
    model = GovSimModel(config)
    model.run()
    return model


def test_the_same_person_has_the_same_signal_on_the_same_matter_under_every_policy() -> None:
    governance = {
        "actors": [
            {"label": "const", "intent": "self_interested", "exposure": {1: -1.0}},
            {"count": 2, "intent": "benevolent_erring", "label": "err"},
        ],
        "error_rate_per_year": 300.0,  # several false alarms per erring person in two days
        "signal_accuracy": 0.7,
        "scam_detection_days": 0.2,
    }
    shocks = [
        HARM,
        {"kind": "exploit", "day": 0.4, "damage_tao_per_block": 0.2},
        {"kind": "scam_subnet", "day": 0.1, "netuid": 2},
    ]
    seen: dict[tuple[Any, str], Any] = {}
    alarm_counts: list[int] = []
    overlaps = 0
    for policy in POLICIES.names():
        model = _model(policy, 2.0, shocks, governance)
        try:
            for key, draws in model.governance.judged().items():
                if key in seen:
                    overlaps += 1
                    assert seen[key] == draws, (policy, key)
                seen[key] = draws
            alarm_counts.append(model.governance.false_alarms)
        finally:
            engine.release(model)
    assert overlaps > 50  # many (matter, person) pairs were judged under several policies
    # false alarms are drawn per erring person: as many under every policy
    assert len(set(alarm_counts)) == 1 and alarm_counts[0] >= 2


# ------------------------------------------------------------------ a third-party policy
@dataclass(frozen=True)
class CouncilConfig:
    """A council's size and its wait."""

    seats: int = param(5, lo=1, hi=51, doc="council seats")
    delay_blocks: int = param(360, lo=0, hi=100_000, doc="wait after a majority (blocks)")


class CouncilPolicy(GovernancePolicy):
    """A council of five; a simple majority passes one tempo later (a test's own policy)."""

    name = "council"
    Config = CouncilConfig

    def seat_bodies(self) -> dict[str, BodySpec]:
        return {"council": BodySpec(self.config.seats, "actors", "votes on everything")}

    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        if proposer not in gs.seat("council"):
            raise GovernanceError(f"{proposer!r} is not on the council")

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: int, track: str | None
    ) -> Referendum:
        council = gs.seat("council")
        return Referendum(
            pid,
            proposer,
            lever,
            "council",
            RefState.ONGOING,
            block,
            block + 7_200,
            voters=council,
            weights=tuple(1.0 for _ in council),
        )

    def _need(self, gs: GovState) -> int:
        return len(gs.seat("council")) // 2 + 1

    def _process(self, gs: GovState, now: int, rng: np.random.Generator | None) -> GovState:
        for ref in gs.active():
            if ref.state != RefState.ONGOING:
                continue
            t = self.tally(ref, gs.electorate, now)
            when = max((v.block for v in ref.votes), default=ref.submitted)
            if t.aye_count >= self._need(gs):
                gs = self._schedule(gs, ref, when, when + self.config.delay_blocks)
            elif t.nay_count > len(ref.voters) - self._need(gs):
                gs = self._close(gs, ref, RefState.REJECTED, when, "rejected")
            elif ref.deadline is not None and now >= ref.deadline:
                gs = self._close(gs, ref, RefState.EXPIRED, ref.deadline, "expired")
        return self._run_scheduled(gs, now)

    def enforced_delay(self, lever: Lever) -> int | None:
        return self.config.delay_blocks

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        return (
            Path(
                "majority",
                (count_requirement("council", gs.seat("council"), self._need(gs)),),
                self.config.delay_blocks,
            ),
        )

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        n = len(gs.seat("council"))
        return (
            Path(
                "minority",
                (count_requirement("council", gs.seat("council"), n - self._need(gs) + 1),),
            ),
        )


COUNCIL = f"{__name__}:CouncilPolicy"


def test_a_third_party_policy_is_seated_by_its_own_declaration_and_passes_the_check() -> None:
    from sim.conformance import check_policy

    model = _model(COUNCIL, 0.2, [], {"actors": [{"label": "chair"}]})
    try:
        council = model.governance.gs.seat("council")
        assert council == ("chair", "actor1", "actor2", "actor3", "actor4")  # roster, topped up
        assert model.governance.gs.electorate.root == "chair"
    finally:
        engine.release(model)
    result = check_policy(COUNCIL, policy_config={"seats": 7})
    assert result.verdict == "passes", result
    assert result.warranted.blocks_to_execute is not None
    assert result.warranted.blocks_to_execute >= 360  # its own delay after the majority


# ------------------------------------------------------------------ timing, bribes, KPIs
def test_no_ballot_is_cast_after_its_poll_closes() -> None:
    """V1's holders used to vote exactly when the 12 h motion ended; now each voter comes at
    its own reaction time and only within the motion."""
    model = _model(
        "v1_senate",
        1.5,
        [{"kind": "exploit", "day": 0.2, "damage_tao_per_block": 0.2}],
        {"holder_reaction_blocks": 2_400},
    )
    try:
        refs = model.governance.gs.referenda
        assert refs and all(v.block <= r.deadline for r in refs for v in r.votes)
        assert any(r.state == RefState.ENACTED for r in refs)
        blocks = sorted({v.block for r in refs for v in r.votes})
        assert len(blocks) > 3  # voters come one by one, not all at one fixed delay
    finally:
        engine.release(model)


def test_a_faction_buys_the_votes_it_lacks_from_its_budget() -> None:
    governance = {
        "actors": [
            {"label": "const", "intent": "self_interested", "exposure": {1: -1.0}},
            {"count": 2, "label": "signer", "accuracy": 1.0, "bribe_price_tao": 400.0},
        ],
        "bribe_budget_tao": 500.0,
    }
    model = _model("multisig", 1.0, [HARM], governance)
    try:
        [meta] = model.governance.meta.values()
        assert meta.executed_block is not None  # one signer was bought: 2 of 3
        assert model.governance.bribes_paid_tao == 400.0
    finally:
        engine.release(model)
    honest = _model("multisig", 1.0, [HARM], {**governance, "bribe_budget_tao": 300.0})
    try:
        [meta] = honest.governance.meta.values()
        assert meta.executed_block is None and honest.governance.bribes_paid_tao == 0.0
    finally:
        engine.release(honest)


def test_reaction_is_measured_and_a_case_never_acted_on_is_censored() -> None:
    shocks = [{"kind": "exploit", "day": 0.2, "damage_tao_per_block": 0.2}]
    sudo = run(
        {**TINY, "horizon_days": 1.0, "shocks": shocks, "governance": {"signal_accuracy": 1.0}},
        policy="sudo",
        seed=1,
    )
    market = run({**TINY, "horizon_days": 1.0, "shocks": shocks}, policy="market_only", seed=1)
    k = sudo.kpis
    assert k["reaction.cases"] == 1 and k["reaction.censored"] == 0
    assert k["reaction.days_to_act_mean"] == pytest.approx(1 / 7_200)  # the next block
    assert k["governance.warranted_proposals"] == k["governance.warranted_executed"] == 1
    assert k["governance.p_warranted_executed"] == 1.0
    assert math.isnan(k["governance.p_harmful_executed"])
    m = market.kpis
    assert m["reaction.censored"] == 1 and m["governance.proposals"] == 0
    detected = 0.2 + 300 / 7_200  # the detection delay, at step granularity
    assert m["reaction.days_to_act_max"] == pytest.approx(1.0 - detected, abs=0.06)
    assert m["governance.capture_cost_tao"] == math.inf


def test_capture_and_veto_cost_use_bribe_prices_seat_prices_and_stake() -> None:
    model = _model(
        "multisig",
        0.1,
        [],
        {
            "actors": [
                {"label": "a", "bribe_price_tao": 50.0},
                {"label": "b"},
                {"label": "c", "bribe_price_tao": 10.0},
            ],
            "seat_price_tao": 1_000.0,
        },
    )
    try:
        desk = model.governance
        costs = capture_costs(desk.policy, desk.gs, desk.bribe_prices(), 1_000.0)
        assert costs == {
            "governance.capture_cost_tao": 60.0,
            "governance.capture_cost_seats": 2.0,
            "governance.veto_cost_tao": 60.0,
            "governance.veto_cost_seats": 2.0,
        }
    finally:
        engine.release(model)
    cosmos = _model("cosmos", 0.1, [], {})
    try:
        desk = cosmos.governance
        costs = capture_costs(desk.policy, desk.gs, desk.bribe_prices(), 1_000.0)
        stake = desk.gs.electorate.total_stake
        # a third of the stake (quorum, unopposed) at the value of the stake bought
        assert 0.334 * stake <= costs["governance.capture_cost_tao"] <= 0.75 * stake
    finally:
        engine.release(cosmos)


def test_the_outcome_table_pools_counts_with_wilson_and_days_with_a_t_interval() -> None:
    import pandas as pd

    from sim.governance_kpis import outcome_table
    from sim.stats import mean_ci, wilson_interval

    kpis = pd.DataFrame({
        "policy": ["a", "a", "a", "b"],
        "governance.harmful_proposals": [2, 2, 0, 3],
        "governance.harmful_executed": [1, 0, 0, 3],
        "governance.warranted_proposals": [1, 1, 1, 0],
        "governance.warranted_executed": [1, 1, 0, 0],
        "reaction.days_to_act_mean": [0.5, 1.5, 2.0, float("nan")],
        "reaction.days_to_act_max": [0.5, 1.5, 2.0, float("nan")],
        "reaction.censored": [0, 0, 1, 0],
        "exploits.stolen_tao": [10.0, 20.0, 60.0, 0.0],
    })  # fmt: skip
    table = outcome_table(kpis).set_index("policy")
    a, b = table.loc["a"], table.loc["b"]
    assert (a.runs, a.harmful, a.harmful_executed, a.censored) == (3, 4, 1, 1)
    assert a.p_harmful == 0.25
    share = wilson_interval(1, 4)
    assert (a.p_harmful_lo, a.p_harmful_hi) == pytest.approx((share.low, share.high))
    days = mean_ci([0.5, 1.5, 2.0])
    assert days.low < 0  # three runs: the t interval reaches below 0, and is cut there
    assert (a.days_to_act, a.days_to_act_lo, a.days_to_act_hi) == pytest.approx(
        (days.mean, 0.0, days.high)
    )
    assert a.days_to_act_max == 2.0 and a.stolen_tao == pytest.approx(30.0)
    assert b.p_harmful == 1.0 and math.isnan(b.p_warranted) and math.isnan(b.days_to_act)


def test_the_outcome_command_picks_and_sorts_columns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from sim import governance_kpis

    table = pd.DataFrame(
        {
            "policy": ["slow", "fast"],
            "runs": [2, 2],
            "days_to_act": [3.0, 1 / 7_200],
            "stolen_tao": [124_740.0, 29_160.0],
        }
    )
    monkeypatch.setattr(governance_kpis, "study_outcomes", lambda study, by: table)
    governance_kpis.main(["study", "--columns", "days_to_act", "--sort", "days_to_act"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["policy", "days_to_act"]
    assert lines[1].split() == ["fast", "0.0001389"] and lines[2].split() == ["slow", "3"]
    with pytest.raises(SystemExit):
        governance_kpis.main(["study", "--columns", "nope"])
    assert "known: policy, runs" in capsys.readouterr().err
