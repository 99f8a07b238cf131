"""The numba permit selection ``topk_nonzero_array`` equals the torch ``topk_nonzero``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.yuma import float_epoch
from protocol.yuma.float_epoch import topk_nonzero, topk_nonzero_array


@settings(max_examples=300, deadline=None)
@given(
    batch=st.integers(1, 5),
    n=st.integers(1, 80),
    k_extra=st.integers(-80, 3),
    levels=st.integers(1, 6),
    signed=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_numba_permits_equal_torch(
    batch: int, n: int, k_extra: int, levels: int, signed: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct levels (ties at the threshold), zeros of both signs, negatives and inf.
    stake = rng.integers(-levels if signed else 0, levels, (batch, n)).astype(np.float64) * 1e9
    stake[rng.random(stake.shape) < 0.1] = -0.0
    stake[rng.random(stake.shape) < 0.03] = np.inf
    k = max(0, n + k_extra)
    expected = topk_nonzero(torch.from_numpy(stake), k).numpy()
    assert np.array_equal(topk_nonzero_array(stake, k), expected)


def test_the_networks_size_uses_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    stake = np.random.default_rng(1).lognormal(0.0, 1.0, (128, 256))
    stake[:, ::5] = 0.0
    stake[3, 10:20] = stake[3, 30]  # a tie at the top
    expected = topk_nonzero(torch.from_numpy(stake), 64).numpy()
    assert np.array_equal(topk_nonzero_array(stake, 64), expected)
    monkeypatch.setattr(float_epoch, "HAVE_NUMBA", False)
    assert np.array_equal(topk_nonzero_array(stake, 64), expected)


def test_nan_stake_takes_the_torch_path() -> None:
    stake = np.array([[1.0, np.nan, 3.0, 2.0, 0.0]])
    expected = topk_nonzero(torch.from_numpy(stake), 2).numpy()
    assert np.array_equal(topk_nonzero_array(stake, 2), expected)


@pytest.mark.parametrize("order", ["random", "sorted", "reversed", "constant", "two_levels"])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 256])
def test_kth_smallest_is_the_order_statistic(order: str, n: int) -> None:
    """The selection behind the kernel's threshold equals the sorted array's value at every
    place, for orders that make naive pivots degrade and with ties, infinities and both
    signed zeros."""
    rng = np.random.default_rng(n)
    values = rng.integers(-3, 4, n).astype(np.float64)
    values[rng.random(n) < 0.2] = -0.0
    values[rng.random(n) < 0.05] = np.inf
    values[rng.random(n) < 0.05] = -np.inf
    if order == "random":
        values = values * rng.random(n)
    elif order == "sorted":
        values = np.sort(values)
    elif order == "reversed":
        values = np.sort(values)[::-1].copy()
    elif order == "constant":
        values = np.full(n, 2.5)
    want = np.sort(values)
    keys = np.empty(n, dtype=np.uint64)
    for t in range(n):
        got = float_epoch._kth_smallest(values, keys, t)
        assert got == want[t], (t, got, want[t])
