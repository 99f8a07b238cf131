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

from protocol.economy.amm import alpha_needed_for_tao, swap_alpha_for_tao, swap_tao_for_alpha
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState

__all__ = ["apply_market_flows", "credit_owner_stake", "stake", "unstake"]


def _check_subnet(state: NetworkState, netuid: int) -> None:
    if (
        not isinstance(netuid, int)
        or not 0 <= netuid < state.n_subnets
        or not bool(state.active[netuid])
    ):
        raise ValueError(f"netuid: unknown subnet {netuid!r}")


def _check_account(state: NetworkState, account: int) -> None:
    if not isinstance(account, int) or not 0 <= account < state.n_accounts:
        raise ValueError(f"account: unknown account {account!r} (have {state.n_accounts})")


def _check_trading(state: NetworkState, netuid: int) -> None:
    if state.halted:
        raise ValueError(f"block: chain halted (safe mode) until block {state.halted_until}")
    if not bool(state.subtoken_enabled[netuid]):
        raise ValueError(f"netuid: subtoken trading disabled on subnet {netuid}")


def _check_uid(state: NetworkState, netuid: int, uid: int) -> None:
    if (
        not isinstance(uid, int)
        or not 0 <= uid < state.n_uids
        or int(state.uid_coldkey[netuid, uid]) < 0
    ):
        raise ValueError(f"hotkey_uid: no registered hotkey at uid {uid!r} on subnet {netuid}")


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
    state: NetworkState, account: int, netuid: int, *, tao_in: torch.Tensor, alpha_in: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The pool, balance and TAO-flow side of a swap: ``tao_in`` TAO from ``account`` into the
    pool (negative: paid out to it) and ``alpha_in`` alpha into the pool (negative: taken out).

    Returns fresh copies of the four tensors for :meth:`NetworkState.replace`.
    """
    pool_tao = state.pool_tao.clone()
    pool_alpha = state.pool_alpha.clone()
    balances = state.balances.clone()
    flow_acc = state.flow_acc.clone()
    pool_tao[netuid] += tao_in
    pool_alpha[netuid] += alpha_in
    balances[account] -= tao_in
    flow_acc[netuid] += tao_in
    return {
        "pool_tao": pool_tao,
        "pool_alpha": pool_alpha,
        "balances": balances,
        "flow_acc": flow_acc,
    }


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
    if amount > float(state.balances[account]):
        raise ValueError(
            f"tao_amount: {amount:.0f} rao exceeds account {account}'s balance "
            f"{float(state.balances[account]):.0f}"
        )
    if amount > float(state.pool_tao[netuid]):
        raise ValueError(
            f"tao_amount: swap of {amount:.0f} rao is larger than subnet {netuid}'s TAO reserve "
            f"{float(state.pool_tao[netuid]):.0f}"
        )
    is_owner = int(state.uid_coldkey[netuid, hotkey_uid]) == account
    held_uid = int(state.nom_uid[account, netuid])
    if not is_owner and held_uid >= 0 and held_uid != hotkey_uid:
        raise ValueError(
            f"hotkey_uid: account {account} already delegates to uid {held_uid} on subnet {netuid}"
        )
    amount_t = torch.tensor(amount, dtype=torch.float64)
    alpha_out = swap_tao_for_alpha(
        state.pool_tao[netuid],
        state.pool_alpha[netuid],
        state.pool_weight_alpha[netuid],
        amount_t,
        params.fee_rate,
    )
    trade = _pool_trade(state, account, netuid, tao_in=amount_t, alpha_in=-alpha_out)

    hotkey_alpha = state.hotkey_alpha.clone()
    total_shares = state.total_shares.clone()
    h = hotkey_alpha[netuid, hotkey_uid]
    t = total_shares[netuid, hotkey_uid]
    rate = t / h if (float(h) > 0 and float(t) > 0) else torch.tensor(1.0, dtype=torch.float64)
    new_shares = alpha_out * rate
    hotkey_alpha[netuid, hotkey_uid] += alpha_out
    total_shares[netuid, hotkey_uid] += new_shares
    changes: dict[str, torch.Tensor] = {}
    if is_owner:
        owner_shares = state.owner_shares.clone()
        owner_shares[netuid, hotkey_uid] += new_shares
        changes["owner_shares"] = owner_shares
    else:
        nom_uid = state.nom_uid.clone()
        nom_shares = state.nom_shares.clone()
        nom_uid[account, netuid] = hotkey_uid
        nom_shares[account, netuid] += new_shares
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
    h = float(state.hotkey_alpha[netuid, hotkey_uid])
    t = float(state.total_shares[netuid, hotkey_uid])
    is_owner = int(state.uid_coldkey[netuid, hotkey_uid]) == account
    if is_owner:
        held_shares = float(state.owner_shares[netuid, hotkey_uid])
    elif int(state.nom_uid[account, netuid]) == hotkey_uid:
        held_shares = float(state.nom_shares[account, netuid])
    else:
        held_shares = 0.0
    held = held_shares * h / t if t > 0 else 0.0
    if amount > held * (1 + 1e-12):
        raise ValueError(
            f"alpha_amount: {amount:.0f} exceeds the {held:.0f} alpha account {account} holds on "
            f"uid {hotkey_uid} of subnet {netuid}"
        )
    amount = min(amount, held)
    amount_t = torch.tensor(amount, dtype=torch.float64)
    tao_out = swap_alpha_for_tao(
        state.pool_tao[netuid],
        state.pool_alpha[netuid],
        state.pool_weight_alpha[netuid],
        amount_t,
        params.fee_rate,
    )
    trade = _pool_trade(state, account, netuid, tao_in=-tao_out, alpha_in=amount_t)
    burn_shares = held_shares * amount / held if held > 0 else 0.0
    hotkey_alpha = state.hotkey_alpha.clone()
    total_shares = state.total_shares.clone()
    hotkey_alpha[netuid, hotkey_uid] = max(h - amount, 0.0)
    total_shares[netuid, hotkey_uid] = max(t - burn_shares, 0.0)
    changes: dict[str, torch.Tensor] = {}
    if is_owner:
        owner_shares = state.owner_shares.clone()
        owner_shares[netuid, hotkey_uid] = max(held_shares - burn_shares, 0.0)
        changes["owner_shares"] = owner_shares
    else:
        nom_shares = state.nom_shares.clone()
        nom_uid = state.nom_uid.clone()
        remaining = max(held_shares - burn_shares, 0.0)
        nom_shares[account, netuid] = remaining
        if remaining <= 0.0:
            nom_uid[account, netuid] = -1
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
