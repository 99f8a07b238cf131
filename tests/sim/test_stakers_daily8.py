"""A round's yield-risk stakers decided at once: each staker's ``act``, bit for bit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import numpy as np
import pytest
import torch

from protocol.economy import NetworkState
from protocol.economy.state import MARKET_ACCOUNT
from protocol.levers import SetEmissionEnabled
from protocol.units import RAO_PER_TAO
from sim import engine
from sim.agents.stakers import (
    PassiveStaker,
    RoundDecisions,
    StakerObservation,
    YieldRiskStaker,
    _rebalance_rows,
    decide_round,
)
from sim.api import load_config
from sim.desks import staking as staking_desk
from sim.desks.governance import ProposalMeta
from sim.desks.staking import _limit_trade_list, _limit_trade_rows
from sim.model import GovSimModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY: dict[str, Any] = {
    "horizon_days": 2,
    "network": {"n_subnets": 5, "n_uids": 8, "n_validators": 2},
    "stakers": {"n_stakers": 9},
}


@pytest.fixture()
def model() -> Iterator[GovSimModel]:
    m = GovSimModel(load_config(TINY))
    yield m
    engine.release(m)


def _bits(value: Any) -> bytes:
    return np.asarray(value, dtype=np.float64).tobytes()


def _random_round(
    rng: np.random.Generator, size: int, n_stakers: int
) -> tuple[dict[str, np.ndarray], np.ndarray, list[float]]:
    common = {
        "yields": rng.random(size) * rng.choice([0.1, 1.0, 30.0]),
        "utility": rng.random(size) * 2.0 * (rng.random(size) < 0.9),
        "flagged": rng.random(size) < rng.choice([0.0, 0.3, 1.0]),
        "tradable": rng.random(size) < rng.choice([0.6, 0.95, 1.0]),
    }
    holdings = rng.random((n_stakers, size)) * 10.0 ** rng.integers(-2, 5, (n_stakers, size))
    holdings *= rng.random((n_stakers, size)) < 0.7
    holdings[rng.random((n_stakers, size)) < 0.05] = -0.0
    liquid = [float(x) for x in rng.choice([0.0, 1e-3, 5.0, 1e4], n_stakers) * rng.random()]
    return common, holdings, liquid


@pytest.mark.parametrize("seed", range(4))
def test_a_round_decides_as_each_staker_acts(model: GovSimModel, seed: int) -> None:
    """Every size of the subnet axis (the exponential's vector tails), beliefs below the prior,
    worried and past the exit hazard, flagged, closed and zero-utility subnets."""
    rng = np.random.default_rng(seed)
    stakers = [s for s in model.stakers if isinstance(s, YieldRiskStaker)]
    assert len(stakers) == 9
    exit_hazard = model.config.stakers.exit_hazard_per_year
    for case in range(60):
        size = 1 + case % 37
        common, holdings, liquid = _random_round(rng, size, len(stakers))
        for staker in stakers:
            staker.belief = float(rng.choice([0.05, 0.2, 1.5, exit_hazard + 1.0]) * rng.random())
            staker.risk_aversion = float(rng.uniform(0.0, 3.0))
        got = decide_round(stakers, **common, holdings_tao=holdings, liquid_tao=liquid, shared={})
        assert all(got.decided)
        shared: dict[str, Any] = {}
        for i, staker in enumerate(stakers):
            obs = StakerObservation(
                **common, holdings_tao=holdings[i], liquid_tao=liquid[i], shared=shared
            )
            delta, sell = staker.act(obs)
            assert got.delta[i].tobytes() == delta.tobytes(), (case, i)
            assert _bits(got.sell[i]) == _bits(sell)
            assert _bits(got.wealth[i]) == _bits(obs.liquid_tao + float(holdings[i].sum()))


class _OwnRuleStaker(YieldRiskStaker):
    """A subclass with an ``act`` of its own: asked one at a time."""

    def act(self, obs: StakerObservation) -> tuple[np.ndarray, float]:
        return np.ones_like(obs.yields), 1.0


def test_other_strategies_are_left_to_their_act(model: GovSimModel) -> None:
    rng = np.random.default_rng(3)
    common, holdings, liquid = _random_round(rng, 5, 3)
    stakers = [
        PassiveStaker(model, 1, 1.0, 0.0),
        model.stakers[0],
        _OwnRuleStaker(model, 2, 1.0, 0.0),
    ]
    got = decide_round(stakers, **common, holdings_tao=holdings, liquid_tao=liquid, shared={})
    assert got.decided == [False, True, False]
    assert not got.delta[[0, 2]].any()
    only = decide_round(
        stakers[:1], **common, holdings_tao=holdings[:1], liquid_tao=liquid[:1], shared={}
    )
    assert only.decided == [False]


def test_other_dtypes_are_left_to_the_act(model: GovSimModel) -> None:
    rng = np.random.default_rng(4)
    common, holdings, liquid = _random_round(rng, 6, 2)
    stakers = model.stakers[:2]
    in_float32 = holdings.astype(np.float32)
    got = decide_round(stakers, **common, holdings_tao=in_float32, liquid_tao=liquid, shared={})
    assert got.decided == [False, False]
    scores_in_float32 = {
        **common,
        "yields": common["yields"].astype(np.float32),
        "utility": common["utility"].astype(np.float32),
    }
    got = decide_round(
        stakers, **scores_in_float32, holdings_tao=holdings, liquid_tao=liquid, shared={}
    )
    assert got.decided == [False, False]


def test_the_python_twin_of_the_row_kernel_decides_alike() -> None:
    rows = getattr(_rebalance_rows, "py_func", _rebalance_rows)
    rng = np.random.default_rng(8)
    open_index = np.array([0, 2, 3])
    e = np.exp(rng.standard_normal((4, 3)))
    holdings = rng.random((4, 5)) * 10.0
    tradable = np.array([True, True, False, True, True])
    speed = np.full(5, 0.25)
    target = np.array([20.0, 0.0, 3.0, 50.0])
    liquid = np.array([1e9, 0.5, -1.0, 0.0])
    want, got = np.empty((4, 5)), np.empty((4, 5))
    want_freed, got_freed = np.empty(4), np.empty(4)
    _rebalance_rows(e, open_index, target, holdings, tradable, speed, liquid, want, want_freed)
    rows(e, open_index, target, holdings, tradable, speed, liquid, got, got_freed)
    assert got.tobytes() == want.tobytes()
    assert got_freed.tobytes() == want_freed.tobytes()


def _one_at_a_time(*args: Any, **kwargs: Any) -> RoundDecisions:
    """``decide_round`` deciding nobody: every staker asked at its turn (the reference)."""
    decided = decide_round(*args, **kwargs)
    n = len(decided.decided)
    return RoundDecisions([False] * n, decided.delta, decided.sell, decided.wealth)


def _state_bytes(state: NetworkState) -> list[Any]:
    return [
        value.numpy().tobytes() if isinstance(value, torch.Tensor) else value
        for value in (getattr(state, f.name) for f in fields(NetworkState))
    ]


@pytest.mark.parametrize("gifts", [False, True])
def test_a_desk_round_trades_as_its_stakers_asked_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch, gifts: bool
) -> None:
    """The whole round's trades and sales; with ``gifts`` every TAO sale also pays each staker
    1 TAO from the market, so the later stakers' balances change before their turn (and they
    are asked then)."""
    sell_tao = staking_desk.StakingDesk.sell_tao

    def sell_and_give(desk: staking_desk.StakingDesk, account: int, amount_rao: float) -> None:
        sell_tao(desk, account, amount_rao)
        with desk._trading() as book:
            for staker in desk.host.stakers:
                book.transfer(MARKET_ACCOUNT, staker.account, RAO_PER_TAO)

    outcomes = []
    for reference in (False, True):
        model = GovSimModel(load_config(TINY))
        try:
            if reference:
                monkeypatch.setattr(staking_desk, "decide_round", _one_at_a_time)
            if gifts:
                monkeypatch.setattr(staking_desk.StakingDesk, "sell_tao", sell_and_give)
            meta = ProposalMeta(
                0, SetEmissionEnabled(netuid=0), "self_interested", False, 0, targets=(0,)
            )
            model.staking.update_flags([meta])
            for i, staker in enumerate(model.stakers):
                staker.next_action_day = 0.0
                if i % 2:
                    staker.belief *= 3.0  # worried: sells TAO too
            S = model.config.network.n_subnets
            model.staking.stakers_act(np.linspace(0.1, 2.0, S), np.ones(S))
            outcomes.append(
                (
                    _state_bytes(model.state),
                    model.recorder.cash_out_usd.tobytes(),
                    [s.next_action_day for s in model.stakers],
                )
            )
        finally:
            monkeypatch.undo()
            engine.release(model)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] != np.zeros_like(model.recorder.cash_out_usd).tobytes()  # sales ran


@pytest.mark.parametrize("compiled", [True, False])
def test_the_row_limits_keep_what_the_list_version_keeps(compiled: bool) -> None:
    """``_limit_trade_rows`` against ``_limit_trade_list`` row by row, bit for bit: ties, signed
    zeros, thresholds at a trade's size; rows with a NaN (or k < 1) are left to the list."""
    rows_kernel = (
        _limit_trade_rows if compiled else getattr(_limit_trade_rows, "py_func", _limit_trade_rows)
    )
    rng = np.random.default_rng(21)
    for trial in range(300 if compiled else 60):
        n_rows, size = int(rng.integers(1, 12)), int(rng.integers(1, 20))
        delta = rng.standard_normal((n_rows, size)) * 10.0 ** rng.integers(-3, 3)
        if trial % 3 == 0:
            delta = rng.choice([-2.0, -1.0, -0.0, 0.0, 1.0, 2.0], (n_rows, size))
        if trial % 10 == 0:
            delta[rng.integers(n_rows), rng.integers(size)] = np.nan
        urgent = rng.random(size) < 0.2
        k = int(rng.integers(0 if trial % 25 == 0 else 1, 6))
        thresholds = rng.choice([0.0, 0.1, 1.0, 2.0], n_rows)
        out = np.full((n_rows, size), 7.0)
        done = np.zeros(n_rows, dtype=bool)
        rows_kernel(delta, urgent, k, thresholds, out, done)
        for i in range(n_rows):
            if np.isnan(delta[i]).any() or k < 1:
                assert not done[i]
                continue
            assert done[i]
            want = _limit_trade_list(delta[i].tolist(), urgent.tolist(), k, float(thresholds[i]))
            assert out[i].tobytes() == np.array(want).tobytes(), (trial, i)
