"""``NetworkState.live_rows`` kept by the weight writers and registration.

A written weight row is marked live (whatever its values: a zero row may still hold bonds);
a registered uid, whose rows are zeroed, is marked not live, in a copy (another state may
share the tensor). Unknown marks (``None``) stay unknown. The fused and torch twins agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protocol.economy import EconomyParams, register_uid, with_validator_weights, with_weights
from protocol.economy.registration import _register_uid_torch
from protocol.yuma._fused import check_live_rows
from protocol.yuma.mechanisms import Mechanism
from sim.chain import with_live_rows
from tests.protocol.test_economy_ledger import small_network

PARAMS = EconomyParams(tempo=3, immunity_period=2, min_non_immune_uids=1)


class _OwnBonds(Mechanism):
    """A mechanism with its own bond rule (never run here)."""

    def bonds_and_dividends(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def _marked(state, live: np.ndarray):  # type: ignore[no-untyped-def]
    return state.replace(live_rows=torch.from_numpy(live.copy()))


@pytest.mark.parametrize("backend", ["torch", "fused"])
@pytest.mark.parametrize("in_place", [False, True])
def test_validator_weights_mark_their_rows_live(backend: str, in_place: bool) -> None:
    state = small_network(PARAMS, 0)
    S, n = state.n_subnets, state.n_uids
    state = _marked(state.replace(weights=state.weights.clone()), np.zeros((S, n), np.bool_))
    before = state.live_rows.clone()
    rows = torch.rand(S, 2, n, dtype=torch.float64)
    rows[1, 0] = 0.0  # a zero row is live too
    got = with_validator_weights(state, rows, [5, 2], in_place=in_place, backend=backend)
    want = np.zeros((S, n), np.bool_)
    want[:, [5, 2]] = True
    assert got.live_rows.numpy().tobytes() == want.tobytes()
    if not in_place:
        assert torch.equal(state.live_rows, before)  # the input's marks are not touched
    assert with_validator_weights(state.replace(live_rows=None), rows, [5, 2]).live_rows is None


def test_with_weights_marks_the_subnets_written() -> None:
    state = small_network(PARAMS, 0)
    S, n = state.n_subnets, state.n_uids
    state = _marked(state, np.zeros((S, n), np.bool_))
    got = with_weights(state, torch.zeros(1, n, n, dtype=torch.float64), netuids=[2])
    want = np.zeros((S, n), np.bool_)
    want[2] = True
    assert got.live_rows.numpy().tobytes() == want.tobytes()
    assert not state.live_rows.numpy().any()
    # re-committing (no weights) writes no row
    assert not with_weights(state).live_rows.numpy().any()


@pytest.mark.parametrize("matrices_owned", [False, True])
def test_registration_clears_the_new_uid_in_both_twins(matrices_owned: bool) -> None:
    state = small_network(PARAMS, 0).replace(block=50)
    state = state.replace(balances=state.balances.clone() + 5e13)
    S, n = state.n_subnets, state.n_uids
    state = _marked(state, np.ones((S, n), np.bool_))
    shared = state.live_rows
    ref_in = state.replace(weights=state.weights.clone(), bonds=state.bonds.clone())
    want, want_result = _register_uid_torch(ref_in, PARAMS, 1, 2, matrices_owned=matrices_owned)
    got, result = register_uid(state, PARAMS, 1, 2, matrices_owned=matrices_owned)
    assert result == want_result
    assert got.live_rows.numpy().tobytes() == want.live_rows.numpy().tobytes()
    live = got.live_rows.numpy()
    assert not live[2, result.uid] and live.sum() == S * n - 1
    assert shared.numpy().all()  # a copy: the input state keeps its marks
    unknown, _ = register_uid(state.replace(live_rows=None), PARAMS, 1, 2)
    assert unknown.live_rows is None


def test_marks_found_once_cover_the_non_zero_rows() -> None:
    state = small_network(PARAMS, 0)
    weights = state.weights.clone()
    bonds = torch.zeros_like(state.bonds)
    weights[1, 3] = 0.0
    weights[1, 4] = 0.0
    weights[1, 4, 2] = -0.0  # a sign bit: kept live
    bonds[2, 5, 1] = 0.25
    state = state.replace(weights=weights, bonds=bonds)
    found = with_live_rows(state, PARAMS)
    live = found.live_rows.numpy()
    check_live_rows(live, weights.numpy(), bonds.numpy())
    assert not live[1, 3] and live[1, 4] and live[2, 5]
    assert with_live_rows(found, PARAMS) is found  # kept, not found again
    # a mechanism with its own bond rule: the marks are dropped
    own = EconomyParams(mechanism=_OwnBonds("own_bonds_zero7", exact=False))
    assert with_live_rows(found, own).live_rows is None
