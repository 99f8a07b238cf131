"""The scalar trade paths equal the tensor arithmetic bit for bit.

``stake``/``unstake`` and the simulator's limit orders compute one pool's swap in Python floats
(``protocol.economy.amm.*_scalar``) instead of 0-dim tensors. The claim is bit-identity, not
closeness: every result is compared through its int64 bit pattern, against the tensor
functions on 0-dim tensors and against the tensor formulation of the trades (kept here as the
reference).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.economy import EconomyParams, NetworkState, stake, unstake
from protocol.economy.amm import (
    max_alpha_in_at_price,
    max_alpha_in_at_price_scalar,
    max_tao_in_at_price,
    max_tao_in_at_price_scalar,
    spot_price,
    spot_price_scalar,
    swap_alpha_for_tao,
    swap_alpha_for_tao_scalar,
    swap_tao_for_alpha,
    swap_tao_for_alpha_scalar,
)
from tests.protocol.test_economy_ledger import small_network

F64 = torch.float64


def _bits(value: float) -> int:
    return int(np.float64(value).view(np.int64))


def _t(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=F64)


amounts = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-3, max_value=1e16, allow_nan=False, allow_infinity=False),
)
weights = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 1e-12, 1 - 1e-12]),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)


@settings(max_examples=400, deadline=None)
@given(pool_tao=amounts, pool_alpha=amounts, w1=weights, amount=amounts)
def test_scalar_pool_functions_equal_the_tensor_ones(
    pool_tao: float, pool_alpha: float, w1: float, amount: float
) -> None:
    fee = 33 / 65_535
    pool = (pool_tao, pool_alpha, w1)
    tensors = tuple(_t(x) for x in pool)
    pairs = [
        (spot_price_scalar(*pool), spot_price(*tensors)),
        (
            swap_tao_for_alpha_scalar(*pool, amount, fee),
            swap_tao_for_alpha(*tensors, _t(amount), fee),
        ),
        (
            swap_alpha_for_tao_scalar(*pool, amount, fee),
            swap_alpha_for_tao(*tensors, _t(amount), fee),
        ),
    ]
    price = spot_price_scalar(*pool)
    for factor in (0.5, 0.99, 1.0, 1.01, 2.0):
        limit = price * factor
        pairs.append(
            (max_tao_in_at_price_scalar(*pool, limit), max_tao_in_at_price(*tensors, _t(limit)))
        )
        pairs.append(
            (max_alpha_in_at_price_scalar(*pool, limit), max_alpha_in_at_price(*tensors, _t(limit)))
        )
    for scalar, tensor in pairs:
        assert isinstance(scalar, float)
        if math.isnan(float(tensor)):
            assert math.isnan(scalar)
        else:
            assert _bits(scalar) == _bits(float(tensor))


# ---------------------------------------------------------------- the trades, tensor-formulated


def _reference_pool_trade(
    state: NetworkState, account: int, netuid: int, tao_in: torch.Tensor, alpha_in: torch.Tensor
) -> dict[str, torch.Tensor]:
    out = {name: getattr(state, name).clone() for name in ("pool_tao", "pool_alpha", "balances")}
    out["flow_acc"] = state.flow_acc.clone()
    out["pool_tao"][netuid] += tao_in
    out["pool_alpha"][netuid] += alpha_in
    out["balances"][account] -= tao_in
    out["flow_acc"][netuid] += tao_in
    return out


def _reference_stake(
    state: NetworkState, account: int, netuid: int, uid: int, amount: float, fee: float
) -> NetworkState:
    """``stake`` as it was written on 0-dim tensors (the checks left out)."""
    amount_t = torch.tensor(amount, dtype=F64)
    alpha_out = swap_tao_for_alpha(
        state.pool_tao[netuid], state.pool_alpha[netuid], state.pool_weight_alpha[netuid],
        amount_t, fee,
    )  # fmt: skip
    trade = _reference_pool_trade(state, account, netuid, amount_t, -alpha_out)
    hotkey_alpha = state.hotkey_alpha.clone()
    total_shares = state.total_shares.clone()
    h = hotkey_alpha[netuid, uid]
    t = total_shares[netuid, uid]
    rate = t / h if (float(h) > 0 and float(t) > 0) else torch.tensor(1.0, dtype=F64)
    new_shares = alpha_out * rate
    hotkey_alpha[netuid, uid] += alpha_out
    total_shares[netuid, uid] += new_shares
    changes: dict[str, torch.Tensor] = {}
    if int(state.uid_coldkey[netuid, uid]) == account:
        owner_shares = state.owner_shares.clone()
        owner_shares[netuid, uid] += new_shares
        changes["owner_shares"] = owner_shares
    else:
        nom_uid, nom_shares = state.nom_uid.clone(), state.nom_shares.clone()
        nom_uid[account, netuid] = uid
        nom_shares[account, netuid] += new_shares
        changes.update(nom_uid=nom_uid, nom_shares=nom_shares)
    return state.replace(**trade, hotkey_alpha=hotkey_alpha, total_shares=total_shares, **changes)


def _reference_unstake(
    state: NetworkState, account: int, netuid: int, uid: int, amount: float, fee: float
) -> NetworkState:
    """``unstake`` as it was written on 0-dim tensors (the checks left out)."""
    h = float(state.hotkey_alpha[netuid, uid])
    t = float(state.total_shares[netuid, uid])
    is_owner = int(state.uid_coldkey[netuid, uid]) == account
    if is_owner:
        held_shares = float(state.owner_shares[netuid, uid])
    elif int(state.nom_uid[account, netuid]) == uid:
        held_shares = float(state.nom_shares[account, netuid])
    else:
        held_shares = 0.0
    held = held_shares * h / t if t > 0 else 0.0
    amount = min(amount, held)
    amount_t = torch.tensor(amount, dtype=F64)
    tao_out = swap_alpha_for_tao(
        state.pool_tao[netuid], state.pool_alpha[netuid], state.pool_weight_alpha[netuid],
        amount_t, fee,
    )  # fmt: skip
    trade = _reference_pool_trade(state, account, netuid, -tao_out, amount_t)
    burn_shares = held_shares * amount / held if held > 0 else 0.0
    hotkey_alpha = state.hotkey_alpha.clone()
    total_shares = state.total_shares.clone()
    hotkey_alpha[netuid, uid] = max(h - amount, 0.0)
    total_shares[netuid, uid] = max(t - burn_shares, 0.0)
    changes: dict[str, torch.Tensor] = {}
    if is_owner:
        owner_shares = state.owner_shares.clone()
        owner_shares[netuid, uid] = max(held_shares - burn_shares, 0.0)
        changes["owner_shares"] = owner_shares
    else:
        nom_shares, nom_uid = state.nom_shares.clone(), state.nom_uid.clone()
        remaining = max(held_shares - burn_shares, 0.0)
        nom_shares[account, netuid] = remaining
        if remaining <= 0.0:
            nom_uid[account, netuid] = -1
        changes.update(nom_shares=nom_shares, nom_uid=nom_uid)
    return state.replace(**trade, hotkey_alpha=hotkey_alpha, total_shares=total_shares, **changes)


def _assert_bit_identical(a: NetworkState, b: NetworkState) -> None:
    for name in (
        "pool_tao", "pool_alpha", "balances", "flow_acc", "hotkey_alpha", "total_shares",
        "owner_shares", "nom_shares", "nom_uid",
    ):  # fmt: skip
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        view = torch.int64 if x.dtype == F64 else x.dtype
        assert torch.equal(x.view(view), y.view(view)), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trades_equal_their_tensor_formulation(seed: int) -> None:
    """Random stakes and unstakes (own uid and nominations) leave the same state, bit for bit."""
    params = EconomyParams()
    state = small_network(params, seed)
    rng = np.random.default_rng(seed)
    accounts = [a for a in range(1, state.n_accounts) if float(state.balances[a]) > 1e9]
    assert accounts
    trades = 0
    for _ in range(120):
        account = int(rng.choice(accounts))
        netuid = int(rng.integers(state.n_subnets))
        held_uid = int(state.nom_uid[account, netuid])
        registered = np.nonzero(state.uid_coldkey[netuid].numpy() >= 0)[0]
        own = np.nonzero(state.uid_coldkey[netuid].numpy() == account)[0]
        if rng.random() < 0.5:
            uid = (
                int(own[0])
                if own.size and rng.random() < 0.3
                else (held_uid if held_uid >= 0 else int(rng.choice(registered)))
            )
            amount = float(state.balances[account]) * float(rng.uniform(0.01, 0.4))
            if amount <= 0 or amount > float(state.pool_tao[netuid]):
                continue
            expected = _reference_stake(state, account, netuid, uid, amount, params.fee_rate)
            state_after = stake(state, account, netuid, uid, amount, params=params)
        else:
            uid = int(own[0]) if own.size and rng.random() < 0.3 else held_uid
            if uid < 0:
                continue
            held = float(state.account_alpha(account)[netuid])
            amount = held * float(rng.choice([0.3, 1.0]))
            if amount <= 0:
                continue
            try:
                state_after = unstake(state, account, netuid, uid, amount, params=params)
            except ValueError:
                continue  # own alpha on another of its uids: not this uid's
            expected = _reference_unstake(state, account, netuid, uid, amount, params.fee_rate)
        _assert_bit_identical(state_after, expected)
        state = state_after
        trades += 1
    assert trades > 40
