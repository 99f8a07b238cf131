"""The numpy registration path equals its torch reference byte for byte.

``register_uid`` runs on numpy views of the state with each written field copied once; the
torch reference (``_register_uid_torch``: a clone per tensor, 0-dim tensor swap) must give the
same bits in every field, the same result and the same refusals, and neither may modify its
input state.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.economy import EconomyParams, NetworkState, register_uid, register_uids, stake
from protocol.economy.registration import (
    _neuron_to_prune,
    _neuron_to_prune_torch,
    _register_uid_torch,
    decay_registration_burn,
)
from protocol.units import RAO_PER_TAO
from tests.protocol.test_economy_ledger import assert_unchanged, small_network, snapshot

TAO = RAO_PER_TAO


def _params(**changes: float) -> EconomyParams:
    return EconomyParams(tempo=3, immunity_period=2, min_non_immune_uids=1, **changes)


def _assert_bytes_equal(a: NetworkState, b: NetworkState) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, torch.Tensor):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            assert x.numpy().tobytes() == y.numpy().tobytes(), f.name
        else:
            assert x == y, f.name


def _rich(state: NetworkState, rng: np.random.Generator, params: EconomyParams) -> NetworkState:
    """Every account funded, and some nominations on random uids (holders to liquidate)."""
    state = state.replace(balances=state.balances.clone() + 5e4 * TAO)
    for account in range(1, state.n_accounts):
        netuid = int(rng.integers(state.n_subnets))
        registered = np.flatnonzero(state.uid_coldkey.numpy()[netuid] >= 0)
        if registered.size == 0:
            continue
        uid = int(rng.choice(registered))
        # a second delegation on that subnet is refused: skip it
        with contextlib.suppress(ValueError):
            state = stake(
                state, account, netuid, uid, float(rng.uniform(1, 50)) * TAO, params=params
            )
    return state


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    matrices_owned=st.booleans(),
    fee_rate=st.sampled_from([0.0, 0.003]),
)
def test_registrations_equal_the_torch_reference(
    seed: int, matrices_owned: bool, fee_rate: float
) -> None:
    params = _params(fee_rate=fee_rate)
    rng = np.random.default_rng(seed)
    state = _rich(small_network(params, seed), rng, params).replace(block=50)
    expected = state
    pruned = 0
    # enough registrations to fill subnets and then prune (and liquidate) uids
    for step in range(40):
        account = int(rng.integers(1, state.n_accounts))
        netuid = int(rng.integers(state.n_subnets))
        state = state.replace(block=state.block + int(rng.integers(0, 3)))
        expected = expected.replace(block=state.block)
        before = snapshot(state)
        ref_in = state.replace(weights=state.weights.clone(), bonds=state.bonds.clone())
        try:
            want, want_result = _register_uid_torch(
                ref_in, params, account, netuid, matrices_owned=matrices_owned
            )
        except ValueError as refused:
            with pytest.raises(ValueError) as got_refused:
                register_uid(state, params, account, netuid, matrices_owned=matrices_owned)
            assert str(got_refused.value) == str(refused)
            continue
        got, result = register_uid(state, params, account, netuid, matrices_owned=matrices_owned)
        assert result == want_result, step
        _assert_bytes_equal(got, want)
        if not matrices_owned:
            assert_unchanged(state, before)
        pruned += result.pruned_uid >= 0
        state = got
    assert pruned > 0


def test_refusals_name_the_field_as_the_reference() -> None:
    params = _params()
    state = small_network(params, 1)
    poor = state.replace(balances=torch.zeros_like(state.balances))
    closed = state.replace(registration_allowed=torch.zeros_like(state.registration_allowed))
    halted = state.replace(halted_until=state.block + 10)
    cases = [
        (state, -1, 0),
        (state, state.n_accounts, 0),
        (state, 1, state.n_subnets),
        (state, 1, np.int64(0)),
        (poor, 1, 0),
        (closed, 1, 0),
        (halted, 1, 0),
    ]
    for case_state, account, netuid in cases:
        with pytest.raises(ValueError) as want:
            _register_uid_torch(case_state, params, account, netuid, matrices_owned=False)
        with pytest.raises(ValueError) as got:
            register_uid(case_state, params, account, netuid)
        assert str(got.value) == str(want.value)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), min_non_immune=st.integers(0, 4))
def test_neuron_to_prune_equals_the_torch_reference(seed: int, min_non_immune: int) -> None:
    rng = np.random.default_rng(seed)
    state = small_network(_params(), seed)
    S, n = state.n_subnets, state.n_uids
    coldkey = state.uid_coldkey.clone()
    coldkey[torch.from_numpy(rng.random((S, n)) < 0.2)] = -1
    emission = torch.from_numpy(rng.choice([0.0, 1.0, 2.5], (S, n)))
    registered = torch.from_numpy(rng.integers(0, 30, (S, n)))
    state = state.replace(
        uid_coldkey=coldkey, emission=emission, registration_block=registered, block=31
    )
    for netuid in range(S):
        assert _neuron_to_prune(
            state, netuid, min_non_immune=min_non_immune
        ) == _neuron_to_prune_torch(state, netuid, min_non_immune=min_non_immune)


def test_register_uids_equals_the_reference_chain() -> None:
    params = _params()
    rng = np.random.default_rng(5)
    state = _rich(small_network(params, 5), rng, params).replace(block=40)
    accounts = [int(a) for a in rng.integers(1, state.n_accounts, 30)]
    netuids = [int(s) for s in rng.integers(0, state.n_subnets, 30)]
    got, results = register_uids(state, params, accounts, netuids)
    want = state.replace(weights=state.weights.clone(), bonds=state.bonds.clone())
    for account, netuid, result in zip(accounts, netuids, results, strict=True):
        try:
            want, want_result = _register_uid_torch(
                want, params, account, netuid, matrices_owned=True
            )
        except ValueError:
            want_result = None
        assert result == want_result
    _assert_bytes_equal(got, want)


def test_decay_registration_burn_equals_torch_clamp() -> None:
    params = _params(burn_min=5e8, burn_max=5e10)
    burns = torch.tensor(
        [float("nan"), 0.0, 1e7, 5e8, 1e9, 5e10, 1e11, float("inf")], dtype=torch.float64
    )
    for n_blocks in (0, 1, 360, 7_200):
        got = decay_registration_burn(burns, n_blocks, params)
        factor = 0.5 ** (n_blocks / params.burn_half_life)
        want = (burns * factor).clamp(min=params.burn_min, max=params.burn_max)
        assert got.dtype == torch.float64
        assert got.numpy().tobytes() == want.numpy().tobytes()
        assert torch.isnan(burns[0])  # the input is not written
