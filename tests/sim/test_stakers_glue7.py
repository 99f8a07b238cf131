"""A yield-risk staker's rebalance kernel: the array version's trades, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from sim.agents.stakers import _rebalance


def _rebalance_arrays(
    e: np.ndarray,
    open_index: np.ndarray,
    staked_target: float,
    holdings: np.ndarray,
    tradable: np.ndarray,
    speed: np.ndarray,
    liquid: float,
) -> tuple[np.ndarray, float]:
    """The array version the kernel replaced (``YieldRiskStaker.act`` after the exponential)."""
    weights = np.zeros(speed.shape)
    if open_index.size:
        weights[open_index] = e / e.sum()
    target = staked_target * weights
    gap = target - holdings
    delta = np.where(tradable, speed * gap, 0.0)
    freed = -delta[delta < 0].sum()
    is_buy = delta > 0
    buys = delta[is_buy].sum()
    budget = liquid + freed
    if buys > budget > 0:
        delta = np.where(is_buy, delta * budget / buys, delta)
    elif buys > 0 and budget <= 0:
        delta = np.minimum(delta, 0.0)
    return delta, float(freed)


@pytest.mark.parametrize("seed", range(5))
def test_the_rebalance_kernel_trades_as_the_arrays_did(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(400):
        size = int(rng.integers(1, 40))
        open_index = np.flatnonzero(rng.random(size) < 0.7)
        e = np.exp(rng.standard_normal(open_index.size) * 3.0)
        holdings = np.abs(rng.standard_normal(size)) * 10.0 ** rng.integers(-3, 6, size)
        holdings[rng.random(size) < 0.2] = 0.0
        if case % 5 == 0:
            holdings[rng.random(size) < 0.2] = -0.0
        tradable = rng.random(size) < 0.8
        speed = np.where(rng.random(size) < 0.2, 1.0, 0.25)
        staked_target = float(np.abs(rng.standard_normal()) * 10.0 ** rng.integers(-2, 6))
        if case % 7 == 0:
            staked_target = 0.0
        # enough cash, too little for the purchases, or none at all
        liquid = float([1e9, rng.random() * 10.0, 0.0, -rng.random()][case % 4])
        want_delta, want_freed = _rebalance_arrays(
            e, open_index, staked_target, holdings, tradable, speed, liquid
        )
        delta = np.empty(size)
        freed = _rebalance(e, open_index, staked_target, holdings, tradable, speed, liquid, delta)
        assert delta.tobytes() == want_delta.tobytes()
        assert np.float64(freed).tobytes() == np.float64(want_freed).tobytes()


def test_the_python_twin_trades_alike() -> None:
    """Without numba the kernel runs as Python (``protocol._numba.jit``): the same trades."""
    rebalance = getattr(_rebalance, "py_func", _rebalance)
    rng = np.random.default_rng(11)
    for liquid in (1e9, 0.5, -1.0):
        open_index = np.array([0, 2, 3, 5])
        e = np.exp(rng.standard_normal(4))
        holdings, speed = rng.random(6) * 10.0, np.full(6, 0.25)
        tradable = np.array([True, True, False, True, True, True])
        want = _rebalance_arrays(e, open_index, 20.0, holdings, tradable, speed, liquid)
        delta = np.empty(6)
        freed = rebalance(e, open_index, 20.0, holdings, tradable, speed, liquid, delta)
        assert delta.tobytes() == want[0].tobytes()
        assert np.float64(freed).tobytes() == np.float64(want[1]).tobytes()
