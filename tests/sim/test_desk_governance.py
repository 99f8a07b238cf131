"""The governance desk: a proposal's life, what executes, and how the model is told."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.levers import HaltChain, SetEmissionEnabled, TokenSale
from protocol.units import BLOCKS_PER_DAY
from sim import engine
from sim.api import load_config
from sim.desks.governance import Executed
from sim.model import GovSimModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASE: dict[str, Any] = {
    "horizon_days": 2.5,
    "network": {"n_subnets": 3, "n_uids": 8, "n_validators": 2},
    "stakers": {"n_stakers": 2},
    "miners": {"relocation_probability": 0.0},
    "governance": {"actors": [{"count": 1, "intent": "self_interested"}]},
}


def _intervention(day: float, lever: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "intervention",
        "day": day,
        "lever": lever,
        "intent": "self_interested",
        **extra,
    }


#: Every seat wants the intervention (each is a rival of the subnets it hits), so a
#: multisig's timelock lets it through.
CAPTURED = {"actors": [{"count": 3, "intent": "self_interested", "exposure": {1: -1.0, 2: -1.0}}]}


def _run(
    policy: str, shocks: list[dict[str, Any]], until_day: float, **sections: Any
) -> tuple[GovSimModel, list[Executed]]:
    """Step a model to ``until_day``, recording what it was told to react to."""
    config = load_config({**BASE, "shocks": shocks, **sections}, policy=policy)
    model = GovSimModel(config)
    told: list[Executed] = []
    react = model.react

    def recording(executed: Executed) -> None:
        told.append(executed)
        react(executed)

    model.react = recording  # type: ignore[method-assign]
    while model.day < until_day - 1e-9:
        model.step()
    return model, told


def test_sudo_decides_and_executes_at_once_and_the_model_is_told() -> None:
    lever = {"kind": "set_emission_enabled", "netuid": 1}
    model, told = _run("sudo", [_intervention(0.1, lever)], 0.3)
    try:
        [meta] = model.governance.meta.values()
        assert meta.proposed_block == meta.decided_block == 720
        assert meta.executed_block == 721  # dispatched in the next block
        # every proposal records when its need arose: an intervention's is the day it is wanted
        assert meta.detected_block == 720 and meta.proposer == "actor0"
        [executed] = told
        assert executed.lever == SetEmissionEnabled(netuid=1)
        assert (executed.block, executed.targets, executed.tao_raised) == (721, (1,), 0.0)
        assert executed.severity > 0  # an unjustified cut of a subnet's emission
        assert model.market.premium > 0
        assert not bool(model.state.emission_enabled[1])
    finally:
        engine.release(model)


def test_a_timelock_decides_first_and_executes_after_its_delay() -> None:
    lever = {"kind": "set_emission_enabled", "netuid": 1}
    model, told = _run("timelock", [_intervention(0.1, lever)], 2.5, governance=CAPTURED)
    try:
        [meta] = model.governance.meta.values()
        delay = model.governance.policy.enforced_delay(SetEmissionEnabled(netuid=1))
        assert delay is not None and delay > 0
        assert meta.decided_block is not None and meta.executed_block is not None
        assert meta.proposed_block <= meta.decided_block <= meta.executed_block
        assert meta.executed_block - meta.proposed_block >= delay
        assert [e.block for e in told] == [meta.executed_block]
    finally:
        engine.release(model)


def test_a_time_limited_lever_is_reversed_and_the_reversal_alarms_nobody() -> None:
    lever = {"kind": "set_emission_enabled", "netuid": 0}
    model, told = _run("sudo", [_intervention(0.1, lever, duration_days=0.5)], 0.8)
    try:
        assert [e.lever for e in told] == [
            SetEmissionEnabled(netuid=0),
            SetEmissionEnabled(netuid=0, enabled=True),
        ]
        assert told[0].severity > 0 and told[1].severity == 0.0
        # the undo is proposed at the first step after the duration, then dispatched
        assert 0 < told[1].block - told[0].block - round(0.5 * BLOCKS_PER_DAY) <= 361
        reversal = [e for e in model.event_log if e["kind"] == "executed"][-1]
        assert reversal["reversal"] is True
        assert bool(model.state.emission_enabled[0])
    finally:
        engine.release(model)


def test_a_token_sale_raises_tao_and_is_no_governance_scare() -> None:
    lever = {"kind": "token_sale", "amount_tao": 200.0, "netuid": 2}
    model, told = _run("sudo", [_intervention(0.1, lever)], 0.3)
    try:
        [executed] = told
        assert executed.lever == TokenSale(amount_tao=200.0, netuid=2)
        assert executed.severity == 0.0 and executed.tao_raised > 0
    finally:
        engine.release(model)


def test_a_detected_exploit_is_halted_and_the_detection_is_on_record() -> None:
    shocks = [{"kind": "exploit", "day": 0.1, "damage_tao_per_block": 1.0}]
    model, told = _run("sudo", shocks, 0.6)
    try:
        [meta] = model.governance.meta.values()
        delay = model.config.governance.detection_delay_blocks
        assert meta.lever == HaltChain(duration_blocks=model.params.safe_mode_enter_blocks)
        assert meta.exploit_id == 0 and meta.justified
        # detected at the first step once the detection delay has passed
        assert meta.detected_block == meta.proposed_block
        assert 720 + delay <= meta.detected_block < 720 + delay + 360
        [halt] = told
        assert isinstance(halt.lever, HaltChain)
        [exploit] = model.shocks.exploits
        assert (exploit.stopped_by, exploit.stopped_block) == ("halt", halt.block)
    finally:
        engine.release(model)


def test_stakers_see_a_pending_proposal_against_a_subnet() -> None:
    lever = {"kind": "set_emission_enabled", "netuid": 2}
    model, _ = _run("timelock", [_intervention(0.1, lever)], 1.05, governance=CAPTURED)
    try:
        [meta] = model.governance.open_proposals()
        assert meta.executed_block is None and meta.targets == (2,)
        assert model.staking.flagged.tolist() == [False, False, True]
    finally:
        engine.release(model)
