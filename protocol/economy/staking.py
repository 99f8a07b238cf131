"""Stake and unstake through the subnet pools, and the share pools of hotkeys.

A hotkey (uid) holds ``hotkey_alpha[s, j]`` alpha, owned through shares: ``owner_shares`` by the
uid's coldkey and ``nom_shares[a, s]`` by nominator account ``a`` (one delegation per account
and subnet, a simplification of the chain's per-(coldkey, hotkey) share pools). Alpha added to a
hotkey *without* new shares (nominator dividends) is shared pro rata by every holder, as on chain.

Every function is pure: bad input raises ``ValueError`` naming the field, and the input state is
never modified.
"""

from __future__ import annotations

import torch

from protocol.economy.amm import (
    alpha_needed_for_tao,
    swap_alpha_for_tao,
    swap_alpha_for_tao_scalar,
    swap_tao_for_alpha,
    swap_tao_for_alpha_scalar,
)
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState

__all__ = ["apply_market_flows", "credit_owner_stake", "stake", "unstake"]


def _check_subnet(state: NetworkState, netuid: int) -> None:
    if (
        not isinstance(netuid, int)
        or not 0 <= netuid < state.n_subnets
        or not state.active.numpy()[netuid]
    ):
        raise ValueError(f"netuid: unknown subnet {netuid!r}")


def _check_account(state: NetworkState, account: int) -> None:
    if not isinstance(account, int) or not 0 <= account < state.n_accounts:
        raise ValueError(f"account: unknown account {account!r} (have {state.n_accounts})")


def _check_trading(state: NetworkState, netuid: int) -> None:
    if state.halted:
        raise ValueError(f"block: chain halted (safe mode) until block {state.halted_until}")
    if not state.subtoken_enabled.numpy()[netuid]:
        raise ValueError(f"netuid: subtoken trading disabled on subnet {netuid}")


def _check_uid(state: NetworkState, netuid: int, uid: int) -> None:
    if (
        not isinstance(uid, int)
        or not 0 <= uid < state.n_uids
        or state.uid_coldkey.numpy()[netuid, uid] < 0
    ):
        raise ValueError(f"hotkey_uid: no registered hotkey at uid {uid!r} on subnet {netuid}")


def _copy(values: torch.Tensor) -> torch.Tensor:
    """A fresh copy of a CPU tensor (numpy's copy: the same values, without a tensor dispatch)."""
    return torch.from_numpy(values.numpy().copy())


def credit_owner_stake(
    hotkey_alpha: torch.Tensor,
    owner_shares: torch.Tensor,
    total_shares: torch.Tensor,
    amount: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stake ``amount`` ``[S, n]`` to each hotkey *for its own coldkey* (new shares at the pool rate).

    Returns ``(hotkey_alpha, owner_shares, total_shares)``.
    """
    rate = torch.where(
        (hotkey_alpha > 0) & (total_shares > 0),
        total_shares / hotkey_alpha.clamp(min=1e-300),
        torch.ones_like(hotkey_alpha),
    )
    new_shares = amount * rate
    return hotkey_alpha + amount, owner_shares + new_shares, total_shares + new_shares


def _pool_trade(
    state: NetworkState, account: int, netuid: int, *, tao_in: float, alpha_in: float
) -> dict[str, torch.Tensor]:
    """The pool, balance and TAO-flow side of a swap: ``tao_in`` TAO from ``account`` into the
    pool (negative: paid out to it) and ``alpha_in`` alpha into the pool (negative: taken out).

    Returns fresh copies of the four tensors for :meth:`NetworkState.replace` (the single
    entries are updated through numpy views of the copies: the same float64 additions).
    """
    pool_tao = _copy(state.pool_tao)
    pool_alpha = _copy(state.pool_alpha)
    balances = _copy(state.balances)
    flow_acc = _copy(state.flow_acc)
    pool_tao.numpy()[netuid] += tao_in
    pool_alpha.numpy()[netuid] += alpha_in
    balances.numpy()[account] -= tao_in
    flow_acc.numpy()[netuid] += tao_in
    return {
        "pool_tao": pool_tao,
        "pool_alpha": pool_alpha,
        "balances": balances,
        "flow_acc": flow_acc,
    }


def _pool(state: NetworkState, netuid: int) -> tuple[float, float, float]:
    """``(pool_tao, pool_alpha, pool_weight_alpha)`` of subnet ``netuid`` as Python floats."""
    return (
        float(state.pool_tao.numpy()[netuid]),
        float(state.pool_alpha.numpy()[netuid]),
        float(state.pool_weight_alpha.numpy()[netuid]),
    )


def stake(
    state: NetworkState,
    account: int,
    netuid: int,
    hotkey_uid: int,
    tao_amount: float,
    *,
    params: EconomyParams | None = None,
) -> NetworkState:
    """Buy alpha with ``tao_amount`` rao of ``account``'s TAO and stake it to ``hotkey_uid``.

    The swap pays the pool fee; the TAO counts as user in-flow for the flow EMA. A coldkey
    staking to its own uid gets owner shares; any other account a nominator position (one
    hotkey per account and subnet).

    Raises
    ------
    ValueError
        Negative or non-finite amount, unknown account/subnet/uid, trading off or chain halted,
        insufficient balance, a swap larger than the pool's TAO reserve, or a second delegation.
    """
    params = params or EconomyParams()
    _check_account(state, account)
    _check_subnet(state, netuid)
    _check_uid(state, netuid, hotkey_uid)
    _check_trading(state, netuid)
    amount = float(tao_amount)
    if not amount > 0 or amount != amount or amount == float("inf"):
        raise ValueError(f"tao_amount: expected a positive finite amount, got {tao_amount!r}")
    balance = float(state.balances.numpy()[account])
    if amount > balance:
        raise ValueError(
            f"tao_amount: {amount:.0f} rao exceeds account {account}'s balance {balance:.0f}"
        )
    pool_tao, pool_alpha, w1 = _pool(state, netuid)
    if amount > pool_tao:
        raise ValueError(
            f"tao_amount: swap of {amount:.0f} rao is larger than subnet {netuid}'s TAO reserve "
            f"{pool_tao:.0f}"
        )
    is_owner = int(state.uid_coldkey.numpy()[netuid, hotkey_uid]) == account
    held_uid = int(state.nom_uid.numpy()[account, netuid])
    if not is_owner and held_uid >= 0 and held_uid != hotkey_uid:
        raise ValueError(
            f"hotkey_uid: account {account} already delegates to uid {held_uid} on subnet {netuid}"
        )
    # Scalar arithmetic in Python floats: the same float64 operations as on 0-dim tensors.
    alpha_out = swap_tao_for_alpha_scalar(pool_tao, pool_alpha, w1, amount, params.fee_rate)
    trade = _pool_trade(state, account, netuid, tao_in=amount, alpha_in=-alpha_out)

    hotkey_alpha = _copy(state.hotkey_alpha)
    total_shares = _copy(state.total_shares)
    h = float(hotkey_alpha.numpy()[netuid, hotkey_uid])
    t = float(total_shares.numpy()[netuid, hotkey_uid])
    rate = t / h if (h > 0 and t > 0) else 1.0
    new_shares = alpha_out * rate
    hotkey_alpha.numpy()[netuid, hotkey_uid] += alpha_out
    total_shares.numpy()[netuid, hotkey_uid] += new_shares
    changes: dict[str, torch.Tensor] = {}
    if is_owner:
        owner_shares = _copy(state.owner_shares)
        owner_shares.numpy()[netuid, hotkey_uid] += new_shares
        changes["owner_shares"] = owner_shares
    else:
        nom_uid = _copy(state.nom_uid)
        nom_shares = _copy(state.nom_shares)
        nom_uid.numpy()[account, netuid] = hotkey_uid
        nom_shares.numpy()[account, netuid] += new_shares
        changes.update(nom_uid=nom_uid, nom_shares=nom_shares)
    return state.replace(
        **trade,
        hotkey_alpha=hotkey_alpha,
        total_shares=total_shares,
        **changes,
    )


def unstake(
    state: NetworkState,
    account: int,
    netuid: int,
    hotkey_uid: int,
    alpha_amount: float,
    *,
    params: EconomyParams | None = None,
) -> NetworkState:
    """Sell ``alpha_amount`` of ``account``'s alpha staked to ``hotkey_uid`` for TAO (fee paid).

    Raises
    ------
    ValueError
        Negative or non-finite amount, unknown account/subnet/uid, trading off or chain halted,
        or more alpha than the account holds on that hotkey.
    """
    params = params or EconomyParams()
    _check_account(state, account)
    _check_subnet(state, netuid)
    _check_uid(state, netuid, hotkey_uid)
    _check_trading(state, netuid)
    amount = float(alpha_amount)
    if not amount > 0 or amount != amount or amount == float("inf"):
        raise ValueError(f"alpha_amount: expected a positive finite amount, got {alpha_amount!r}")
    h = float(state.hotkey_alpha.numpy()[netuid, hotkey_uid])
    t = float(state.total_shares.numpy()[netuid, hotkey_uid])
    is_owner = int(state.uid_coldkey.numpy()[netuid, hotkey_uid]) == account
    if is_owner:
        held_shares = float(state.owner_shares.numpy()[netuid, hotkey_uid])
    elif int(state.nom_uid.numpy()[account, netuid]) == hotkey_uid:
        held_shares = float(state.nom_shares.numpy()[account, netuid])
    else:
        held_shares = 0.0
    held = held_shares * h / t if t > 0 else 0.0
    if amount > held * (1 + 1e-12):
        raise ValueError(
            f"alpha_amount: {amount:.0f} exceeds the {held:.0f} alpha account {account} holds on "
            f"uid {hotkey_uid} of subnet {netuid}"
        )
    amount = min(amount, held)
    tao_out = swap_alpha_for_tao_scalar(*_pool(state, netuid), amount, params.fee_rate)
    trade = _pool_trade(state, account, netuid, tao_in=-tao_out, alpha_in=amount)
    burn_shares = held_shares * amount / held if held > 0 else 0.0
    hotkey_alpha = _copy(state.hotkey_alpha)
    total_shares = _copy(state.total_shares)
    hotkey_alpha.numpy()[netuid, hotkey_uid] = max(h - amount, 0.0)
    total_shares.numpy()[netuid, hotkey_uid] = max(t - burn_shares, 0.0)
    changes: dict[str, torch.Tensor] = {}
    if is_owner:
        owner_shares = _copy(state.owner_shares)
        owner_shares.numpy()[netuid, hotkey_uid] = max(held_shares - burn_shares, 0.0)
        changes["owner_shares"] = owner_shares
    else:
        nom_shares = _copy(state.nom_shares)
        nom_uid = _copy(state.nom_uid)
        remaining = max(held_shares - burn_shares, 0.0)
        nom_shares.numpy()[account, netuid] = remaining
        if remaining <= 0.0:
            nom_uid.numpy()[account, netuid] = -1
        changes.update(nom_shares=nom_shares, nom_uid=nom_uid)
    return state.replace(
        **trade,
        hotkey_alpha=hotkey_alpha,
        total_shares=total_shares,
        **changes,
    )


def apply_market_flows(
    state: NetworkState, flows: torch.Tensor, params: EconomyParams
) -> tuple[NetworkState, torch.Tensor]:
    """Execute exogenous net TAO flows ``[S]`` (rao; + buys alpha, − sells) for the market account.

    Buys draw the market account's TAO and add to ``market_alpha``; sells swap ``market_alpha``
    back. Flows are clipped to what the market holds and to 90 % of the pool's TAO reserve, and
    are ignored on halted chains, inactive subnets and subnets with trading off.

    Returns
    -------
    tuple
        ``(state, executed)`` with the TAO flow actually executed per subnet.
    """
    flows = torch.as_tensor(flows, dtype=torch.float64)
    if flows.shape != state.pool_tao.shape:
        raise ValueError(
            f"flows: expected shape {tuple(state.pool_tao.shape)}, got {tuple(flows.shape)}"
        )
    if not bool(torch.isfinite(flows).all()):
        raise ValueError("flows: expected finite values")
    tradable = state.active & state.subtoken_enabled & (state.pool_tao > 0)
    if state.halted:
        tradable = torch.zeros_like(tradable)
    flows = torch.where(tradable, flows, 0.0)
    buys = flows.clamp(min=0.0)
    budget = float(state.balances[MARKET_ACCOUNT])
    total_buys = float(buys.sum())
    if total_buys > budget:
        buys = buys * (budget / total_buys)
    buys = torch.minimum(buys, 0.9 * state.pool_tao)
    sells_tao = torch.minimum((-flows).clamp(min=0.0), 0.9 * state.pool_tao)
    w1 = state.pool_weight_alpha
    alpha_for_sells = alpha_needed_for_tao(
        state.pool_tao, state.pool_alpha, w1, sells_tao, params.fee_rate
    )
    alpha_sold = torch.minimum(alpha_for_sells, state.market_alpha)
    tao_out = swap_alpha_for_tao(state.pool_tao, state.pool_alpha, w1, alpha_sold, params.fee_rate)
    alpha_bought = swap_tao_for_alpha(state.pool_tao, state.pool_alpha, w1, buys, params.fee_rate)
    # A subnet has either a buy or a sell this call, so the two swaps never share a pool.
    pool_tao = state.pool_tao + buys - tao_out
    pool_alpha = state.pool_alpha - alpha_bought + alpha_sold
    balances = state.balances.clone()
    balances[MARKET_ACCOUNT] += float(tao_out.sum()) - float(buys.sum())
    executed = buys - tao_out
    new_state = state.replace(
        pool_tao=pool_tao,
        pool_alpha=pool_alpha,
        market_alpha=state.market_alpha + alpha_bought - alpha_sold,
        balances=balances,
        flow_acc=state.flow_acc + executed,
    )
    return new_state, executed
