"""The registration desk: a miner's move is a paid registration that carries the miner along."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from protocol import economy
from protocol.levers import HaltChain, SetRegistrationAllowed
from sim import engine
from sim.api import load_config
from sim.model import GovSimModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY: dict[str, Any] = {
    "horizon_days": 2,
    "network": {"n_subnets": 3, "n_uids": 10, "n_validators": 2, "uid_immunity_blocks": 0},
    "stakers": {"n_stakers": 2},
    "miners": {"mix": {"honest": 0.5, "lazy": 0.5}, "relocation_probability": 0.0},
}


@pytest.fixture()
def model() -> Iterator[GovSimModel]:
    m = GovSimModel(load_config(TINY))
    yield m
    engine.release(m)


def _first_miner(model: GovSimModel, netuid: int) -> int:
    return int(np.nonzero(model.work.miners.is_miner[netuid])[0][0])


def test_a_move_pays_the_burn_and_the_miner_keeps_its_skill_and_strategy(
    model: GovSimModel,
) -> None:
    for _ in range(20):  # a day of emission, so the pruned uid is a miner's, not a validator's
        model.step()
    grid = model.work.miners
    uid = _first_miner(model, 0)
    account = int(model.state.uid_coldkey[0, uid])
    balance, burn = float(model.state.balances[account]), float(model.state.reg_burn[2])
    skill, strategy = grid.log_skill[0, uid], grid.strategy[0, uid]
    model.registration.move_miner(0, uid, 2)
    move = model.event_log[-1]
    assert (move["kind"], move["src"], move["uid"], move["dst"]) == ("miner_move", 0, uid, 2)
    new = move["new_uid"]
    assert int(model.state.uid_coldkey[2, new]) == account
    assert float(model.state.balances[account]) == pytest.approx(balance - burn)
    assert grid.vacant[0, uid] and not grid.vacant[2, new]
    assert grid.log_skill[2, new] == skill and grid.strategy[2, new] == strategy
    assert grid.cohorts[strategy].mask[2, new]
    assert model.work.recent_income[2, new] == 0.0
    assert economy.check_ledger(model.state).ok
    # a vacant uid has nobody left to move
    n_events = len(model.event_log)
    model.registration.move_miner(0, uid, 1)
    assert len(model.event_log) == n_events


def test_no_move_into_a_closed_subnet_or_on_a_halted_chain(model: GovSimModel) -> None:
    uid = _first_miner(model, 0)
    closed, _ = economy.apply_lever(model.state, SetRegistrationAllowed(netuid=2), model.params)
    model.state = closed
    model.registration.move_miner(0, uid, 2)
    model.state, _ = economy.apply_lever(model.state, HaltChain(), model.params)
    model.registration.move_miner(0, uid, 1)
    assert not any(e["kind"] == "miner_move" for e in model.event_log)
    assert not model.work.miners.vacant.any()


def _starve(model: GovSimModel, rich: int) -> None:
    """Every miner earns little except on subnet ``rich``."""
    income = np.full(model.work.miners.is_miner.shape, 0.01)
    income[rich] = 10.0
    model.work.recent_income = income


def test_relocation_schedules_each_move_after_its_lag() -> None:
    config = load_config(
        {
            **TINY,
            "miners": {
                **TINY["miners"],
                "relocation_probability": 1.0,
                "relocation_lag_days": 0.5,
                "max_moves_per_day": 3,
            },
        }
    )
    model = GovSimModel(config)
    try:
        _starve(model, rich=1)
        queued = len(model._queue)
        model.registration.relocate()
        moves = [q for q in model._queue if q[3] == "miner_move"]
        assert len(model._queue) - queued == len(moves) == 3
        assert {q[0] for q in moves} == {model.block + 3_600}
        assert all(q[4]["dst"] == 1 and q[4]["src"] != 1 for q in moves)
    finally:
        engine.release(model)


def test_without_a_lag_miners_move_at_once_and_cabal_miners_stay() -> None:
    config = load_config(
        {
            **TINY,
            "validators": {"mix": {"cabal": 1.0}, "cabal_miners": 2},
            "miners": {
                **TINY["miners"],
                "relocation_probability": 1.0,
                "relocation_lag_days": 0.0,
                "max_moves_per_day": 50,
            },
        }
    )
    model = GovSimModel(config)
    try:
        _starve(model, rich=1)
        cabal = model.work.validators.cabal_miners.copy()
        model.registration.relocate()
        moved = [(e["src"], e["uid"]) for e in model.event_log if e["kind"] == "miner_move"]
        assert moved
        assert not any(cabal[src, uid] for src, uid in moved)
    finally:
        engine.release(model)
