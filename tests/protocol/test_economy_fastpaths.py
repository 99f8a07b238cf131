"""The economy's opt-in fast paths equal its pure functions.

``with_validator_weights`` (validator rows only, optionally in place), ``tempo_step`` /
``block_step`` with ``bonds_owned`` and ``register_uid`` with ``matrices_owned`` must give the
same state as the copying paths; the in-place variants write into the caller's tensors.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.economy import (
    EconomyParams,
    NetworkState,
    block_step,
    register_uid,
    tempo_step,
    with_validator_weights,
    with_weights,
)
from protocol.units import RAO_PER_TAO
from tests.protocol.test_economy_ledger import small_network

TAO = RAO_PER_TAO


def _params() -> EconomyParams:
    return EconomyParams(tempo=3, immunity_period=2, min_non_immune_uids=1)


def _owned(state: NetworkState) -> NetworkState:
    """The state with private copies of every tensor (so in-place writes touch nothing else)."""
    return state.replace(
        **{
            f.name: getattr(state, f.name).clone()
            for f in dataclasses.fields(state)
            if isinstance(getattr(state, f.name), torch.Tensor)
        }
    )


def _assert_same(a: NetworkState, b: NetworkState) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), f.name
        else:
            assert x == y, f.name


def _rows(seed: int, state: NetworkState, k: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    w = rng.gamma(1.0, 1.0, (state.n_subnets, k, state.n_uids))
    w[rng.random(w.shape) < 0.3] = 0.0
    w[:, 0, :] = 0.0  # a validator that sets no weights keeps its last_update
    return torch.from_numpy(w)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), in_place=st.booleans())
def test_validator_rows_equal_with_weights_on_the_full_matrix(seed: int, in_place: bool) -> None:
    state = small_network(_params(), seed).replace(block=41)
    uids = torch.tensor([3, 1, 2])
    rows = _rows(seed, state, len(uids))
    full = state.weights.clone()
    full[:, uids, :] = rows
    expected = with_weights(state, full)
    before_weights, before_update = state.weights.clone(), state.last_update.clone()
    mine = _owned(state)
    got = with_validator_weights(mine, rows, uids, in_place=in_place)
    _assert_same(got, expected)
    if in_place:
        assert got.weights is mine.weights and got.last_update is mine.last_update
    else:
        assert torch.equal(mine.weights, before_weights)
        assert torch.equal(mine.last_update, before_update)
    assert not bool((got.last_update[:, 3] == 41).any())  # all-zero rows are not stamped
    assert bool((got.last_update[:, 1] == 41).all())


def test_validator_rows_reject_bad_input() -> None:
    state = small_network(_params(), 0)
    rows = _rows(0, state, 2)
    with pytest.raises(ValueError, match="weights: expected shape"):
        with_validator_weights(state, rows, [1, 2, 3])
    with pytest.raises(ValueError, match="finite non-negative"):
        with_validator_weights(state, -rows - 1.0, [1, 2])
    bad = rows.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite non-negative"):
        with_validator_weights(state, bad, [1, 2])
    bad[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="finite non-negative"):
        with_validator_weights(state, bad, [1, 2])
    with pytest.raises(ValueError, match="uids: out of range"):
        with_validator_weights(state, rows, [1, 8])
    with pytest.raises(ValueError, match="uids: expected distinct"):
        with_validator_weights(state, rows, [1, 1])


def _with_bonds(state: NetworkState, seed: int) -> NetworkState:
    """Non-zero bonds, so an epoch's bond update has something to get wrong."""
    rng = np.random.default_rng(seed)
    return state.replace(bonds=torch.from_numpy(rng.uniform(0.0, 0.2, tuple(state.bonds.shape))))


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_owned_bonds_tempo_and_block_steps_equal_the_copying_steps(seed: int) -> None:
    params = _params()
    pure = _with_bonds(small_network(params, seed), seed)
    fast = _owned(pure)
    original_bonds = pure.bonds.clone()
    for _ in range(3):
        pure, _ = tempo_step(pure, params)
        fast, _ = tempo_step(fast, params, bonds_owned=True)
        _assert_same(fast, pure)
        pure, _ = block_step(pure, params)
        fast, _ = block_step(fast, params, bonds_owned=True)
        _assert_same(fast, pure)
    assert not torch.equal(pure.bonds, original_bonds)  # epochs ran and moved the bonds


def test_owned_bonds_are_written_in_place() -> None:
    params = _params()
    state = _owned(_with_bonds(small_network(params, 3), 3))
    untouched = _owned(state)
    bonds = state.bonds
    new, _ = tempo_step(state, params, bonds_owned=True)
    assert new.bonds is bonds and not torch.equal(bonds, untouched.bonds)
    copied, _ = tempo_step(untouched, params)
    assert torch.equal(copied.bonds, new.bonds)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), netuid=st.integers(0, 3))
def test_owned_matrices_registration_equals_the_copying_one(seed: int, netuid: int) -> None:
    params = _params()
    state = _with_bonds(small_network(params, seed), seed).replace(block=50)
    account = state.n_accounts - 1
    state = state.replace(
        balances=state.balances.clone().index_fill_(0, torch.tensor(account), 1e4 * TAO)
    )
    expected, expected_result = register_uid(state, params, account, netuid)
    mine = _owned(state)
    weights, bonds = mine.weights, mine.bonds
    got, result = register_uid(mine, params, account, netuid, matrices_owned=True)
    assert result == expected_result
    _assert_same(got, expected)
    assert got.weights is weights and got.bonds is bonds
    uid = result.uid
    assert not bool(weights[netuid, uid].any()) and not bool(bonds[netuid, :, uid].any())


def test_new_network_names_the_field_it_refuses() -> None:
    from protocol.economy.network import new_network

    # an empty network used to be blamed on n_uids
    with pytest.raises(ValueError, match="n_subnets: expected at least 1"):
        new_network(n_subnets=0, n_uids=8, n_validators=2, seed=0)
    with pytest.raises(ValueError, match="n_uids: need at least n_validators"):
        new_network(n_subnets=1, n_uids=3, n_validators=2, seed=0)


def test_validator_rows_numba_and_torch_checks_agree() -> None:
    # with_validator_weights checks and copies rows in numba where it is installed; the torch
    # fallback must accept and refuse the same rows and write the same state
    from protocol._numba import HAVE_NUMBA

    if not HAVE_NUMBA:
        pytest.skip("numba is not installed")
    state = small_network(_params(), 1).replace(block=17)
    uids = torch.tensor([4, 0])
    rows = _rows(1, state, 2)
    results = []
    for backend in ("fused", "torch"):
        results.append(
            with_validator_weights(_owned(state), rows, uids, in_place=True, backend=backend)
        )
        for bad_value in (float("-inf"), -1e-300, float("nan")):
            bad = rows.clone()
            bad[-1, -1, -1] = bad_value
            owned = _owned(state)
            before = owned.weights.clone()
            with pytest.raises(ValueError, match="finite non-negative"):
                with_validator_weights(owned, bad, uids, in_place=True, backend=backend)
            assert torch.equal(owned.weights, before)  # refused before anything is written
    _assert_same(*results)
    assert torch.equal(results[0].weights[:, uids], rows)
