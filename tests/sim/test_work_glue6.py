"""The work desk's settle glue: ``with_validator_weights`` in one numba call equals the torch path.

The fused path checks and writes the validator rows in one kernel (two passes); it must give
the torch path's state byte for byte, refuse the same rows with the same message, and write
nothing when it refuses.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol._numba import HAVE_NUMBA
from protocol.economy import EconomyParams, NetworkState, with_validator_weights
from tests.protocol.test_economy_ledger import small_network

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


def _owned(state: NetworkState) -> NetworkState:
    return state.replace(weights=state.weights.clone(), last_update=state.last_update.clone())


def _assert_bytes_equal(a: NetworkState, b: NetworkState) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, torch.Tensor):
            assert x.dtype == y.dtype and x.numpy().tobytes() == y.numpy().tobytes(), f.name
        else:
            assert x == y, f.name


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), in_place=st.booleans(), as_numpy=st.booleans())
def test_fused_rows_equal_the_torch_path(seed: int, in_place: bool, as_numpy: bool) -> None:
    rng = np.random.default_rng(seed)
    state = small_network(EconomyParams(tempo=3), seed).replace(block=int(rng.integers(1, 99)))
    uids = rng.permutation(state.n_uids)[: int(rng.integers(0, 4))]
    rows = rng.gamma(1.0, 1.0, (state.n_subnets, len(uids), state.n_uids))
    rows[rng.random(rows.shape) < 0.4] = 0.0
    rows[:, : min(1, len(uids)), :] = 0.0  # rows with no weight keep their last_update
    weights = rows if as_numpy else torch.from_numpy(rows)
    want = with_validator_weights(_owned(state), weights, uids, in_place=in_place, backend="torch")
    mine = _owned(state)
    before = (mine.weights.clone(), mine.last_update.clone())
    got = with_validator_weights(mine, weights, uids, in_place=in_place, backend="fused")
    _assert_bytes_equal(got, want)
    if in_place:
        assert got is mine
    else:
        assert torch.equal(mine.weights, before[0]) and torch.equal(mine.last_update, before[1])


@pytest.mark.parametrize("bad_value", [float("inf"), float("-inf"), float("nan"), -1e-300, 1.7e308])
@pytest.mark.parametrize("in_place", [True, False])
def test_fused_rows_refuse_as_the_torch_path_and_write_nothing(
    bad_value: float, in_place: bool
) -> None:
    state = small_network(EconomyParams(tempo=3), 2).replace(block=33)
    uids = [3, 1]
    rows = np.full((state.n_subnets, 2, state.n_uids), 0.25)
    rows[-1, -1, :2] = bad_value  # 1.7e308 twice overflows the row sum to +inf
    for backend in ("torch", "fused"):
        mine = _owned(state)
        before = (mine.weights.clone(), mine.last_update.clone())
        with pytest.raises(ValueError, match="weights: expected finite non-negative values"):
            with_validator_weights(mine, rows, uids, in_place=in_place, backend=backend)
        assert torch.equal(mine.weights, before[0]) and torch.equal(mine.last_update, before[1])


def test_non_contiguous_weights_take_the_torch_route() -> None:
    state = small_network(EconomyParams(tempo=3), 4).replace(block=8)
    scattered = state.replace(weights=state.weights.transpose(1, 2).contiguous().transpose(1, 2))
    rows = np.full((state.n_subnets, 1, state.n_uids), 0.5)
    want = with_validator_weights(state, rows, [2], backend="torch")
    got = with_validator_weights(scattered, rows, [2])
    assert torch.equal(got.weights, want.weights) and torch.equal(got.last_update, want.last_update)
    with pytest.raises(ValueError, match="backend 'fused' cannot run"):
        with_validator_weights(scattered, rows, [2], backend="fused")
