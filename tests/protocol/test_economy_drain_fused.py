"""The drain's numba payout kernels agree with the torch reference path."""

from __future__ import annotations

import importlib
from dataclasses import fields
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol._numba import HAVE_NUMBA
from protocol.economy import EconomyParams, apply_lever, new_network, tempo_step
from protocol.economy.drain import (
    PayoutInputs,
    credit_root_tao_fused,
    credit_root_tao_torch,
    payouts_fused,
    payouts_torch,
)
from protocol.levers import SetRegistrationAllowed, SetSubtokenEnabled

# the module (``protocol.economy.drain`` is also the name of the function the package exports)
drain_module = importlib.import_module("protocol.economy.drain")

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


def _payout_inputs(seed: int, B: int, n: int) -> PayoutInputs:
    """Random due rows with unregistered uids, owner hotkeys, empty pots and share-less hotkeys."""
    rng = np.random.default_rng(seed)
    accounts = 6

    def pick(p: float, values: np.ndarray) -> torch.Tensor:
        """``values`` with a share ``p`` of entries zeroed."""
        return torch.tensor(np.where(rng.random(values.shape) < p, 0.0, values))

    coldkey = rng.integers(-1, accounts, (B, n))
    incentive = pick(0.4, rng.random((B, n)))
    incentive[0] = 0.0  # a subnet without incentive: the server pot goes to the validators
    dividends = pick(0.5, rng.random((B, n)))
    if B > 1:
        dividends[1] = 0.0  # nobody to pay: the validator pot is recycled
    owner_uid = rng.integers(-1, n, B)
    return PayoutInputs(
        incentive=incentive * 1e9,
        dividends=dividends * 1e9,
        coldkey=torch.tensor(coldkey),
        hotkey_alpha=pick(0.2, rng.random((B, n)) * 1e12),
        root_weighted=pick(0.5, rng.random((B, n)) * 1e12),
        owner_shares=pick(0.3, rng.random((B, n)) * 1e12),
        total_shares=pick(0.3, rng.random((B, n)) * 1e12),
        server=pick(0.2, rng.random(B) * 1e11),
        validator=pick(0.2, rng.random(B) * 1e11),
        root_pot=pick(0.3, rng.random(B) * 1e10),
        owner_account=torch.tensor(rng.integers(0, accounts, B)),
        owner_uid=torch.tensor(owner_uid),
        owner_cut=pick(0.2, rng.random(B) * 1e10),
        delegate_take=float(rng.choice([0.0, 0.18, 1.0])),
    )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 5), n=st.integers(1, 12))
def test_payouts_fused_match_torch(seed: int, B: int, n: int) -> None:
    inputs = _payout_inputs(seed, B, n)
    want = payouts_torch(inputs)
    got = payouts_fused(inputs)
    for field in fields(want):
        expected, actual = getattr(want, field.name), getattr(got, field.name)
        assert actual.shape == expected.shape, field.name
        # element-wise arithmetic is the same; row sums differ in order only
        torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-6, msg=field.name)
    # the masked epoch outputs are copies, bit for bit
    assert torch.equal(got.incentive, want.incentive)
    assert torch.equal(got.dividends, want.dividends)

    # root TAO: the same additions in the same order
    tao_out = torch.tensor(np.random.default_rng(seed).random(B) * 1e9)
    balances_torch = torch.zeros(6, dtype=torch.float64)
    balances_fused = torch.zeros(6, dtype=torch.float64)
    credit_root_tao_torch(
        balances_torch, inputs.coldkey, want.root_payout, want.root_alpha, tao_out
    )
    credit_root_tao_fused(
        balances_fused, inputs.coldkey, want.root_payout, want.root_alpha, tao_out
    )
    assert torch.equal(balances_fused, balances_torch)


def test_payouts_fused_cover_every_case() -> None:
    # the random inputs do reach the branches the kernel takes per subnet and uid
    inputs = _payout_inputs(7, 4, 16)
    got = payouts_fused(inputs)
    assert float(got.miner_alpha[0]) == 0.0  # no incentive: no miner pay
    assert float(got.recycled[1]) > 0.0  # no dividends: validator pot recycled
    assert bool((got.withheld > 0).any())  # the owner's own hotkeys are withheld
    assert bool((got.root_payout > 0).any()) and bool((got.delegate_take > 0).any())


@pytest.mark.parametrize("era", ["head", "tao_flow"])
def test_tempo_steps_on_the_fused_backend_match_torch(era: str) -> None:
    # the epochs, epoch stake, payouts and root-TAO credit of every drain, numba against torch
    params = EconomyParams(era=era)
    start = new_network(4, 32, params=params, seed=3, flow_ema_rao_per_block=1e9)

    def run(backend: str) -> Any:
        state = start
        for step in range(4):
            if step == 1:
                # closed subnets (registration off, subtoken off): no alpha_out any more, the
                # pots filled while open still drain
                state, _ = apply_lever(state, SetRegistrationAllowed(1, allowed=False), params)
                state, _ = apply_lever(state, SetSubtokenEnabled(2, enabled=False), params)
            state, _ = tempo_step(state, params, backend=backend)
        return state

    fused = run("fused")
    reference = run("torch")
    for field in fields(reference):
        want, got = getattr(reference, field.name), getattr(fused, field.name)
        if isinstance(want, torch.Tensor) and want.is_floating_point():
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-3, msg=field.name)
        elif isinstance(want, torch.Tensor):
            assert torch.equal(got, want), field.name
        else:
            assert got == want, field.name


@pytest.mark.parametrize("subset", [False, True])
def test_due_epoch_stake_matches_torch_bit_for_bit(subset: bool) -> None:
    # coldkeys with several uids on a subnet share their root stake; unregistered uids get 0
    params = EconomyParams()
    state = new_network(5, 24, params=params, seed=9)
    rng = np.random.default_rng(4)
    coldkey = torch.tensor(rng.integers(-1, state.n_accounts, (5, 24)))
    coldkey[:, :6] = int(coldkey[0, 7].clamp(min=1))  # one coldkey holding six uids
    root_stake = torch.tensor(rng.random(state.n_accounts) * 1e12)
    state = state.replace(uid_coldkey=coldkey, root_stake=root_stake)
    index = torch.tensor([4, 1, 3]) if subset else None
    root_weighted, stake = drain_module._due_epoch_stake(state, params, index, backend="fused")
    want_root = params.tao_weight * drain_module._uid_root_stake(state, index)
    hotkey = state.hotkey_alpha if index is None else state.hotkey_alpha[index]
    assert torch.equal(root_weighted, want_root)
    assert torch.equal(stake, hotkey + want_root)
    assert bool((root_weighted[coldkey[index] < 0 if subset else coldkey < 0] == 0).all())
    if not subset:
        assert torch.equal(stake, drain_module.epoch_stake(state, params))
