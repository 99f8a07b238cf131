"""Stake and unstake through the subnet pools, and the share pools of hotkeys.

A hotkey (uid) holds ``hotkey_alpha[s, j]`` alpha, owned through shares: ``owner_shares`` by the
uid's coldkey and ``nom_shares[a, s]`` by nominator account ``a`` (one delegation per account
and subnet, a simplification of the chain's per-(coldkey, hotkey) share pools). Alpha added to a
hotkey *without* new shares (nominator dividends) is shared pro rata by every holder, as on chain.

Every function is pure: bad input raises ``ValueError`` naming the field, and the input state is
never modified. A :class:`TradeBook` applies many trades to one state and returns one new state
(the functions :func:`stake` and :func:`unstake` are single trades on a book of their own).
"""

from __future__ import annotations

import numpy as np
import torch

from protocol.economy.amm import (
    alpha_needed_for_tao,
    swap_alpha_for_tao,
    swap_alpha_for_tao_scalar,
    swap_tao_for_alpha,
    swap_tao_for_alpha_scalar,
)
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState

__all__ = [
    "TRADED_FIELDS",
    "TradeBook",
    "apply_market_flows",
    "credit_owner_stake",
    "stake",
    "unstake",
]


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


#: The state fields a trade changes (the arrays a :class:`TradeBook` holds).
TRADED_FIELDS: tuple[str, ...] = (
    "pool_tao",
    "pool_alpha",
    "balances",
    "flow_acc",
    "hotkey_alpha",
    "total_shares",
    "owner_shares",
    "nom_uid",
    "nom_shares",
)


class TradeBook:
    """A trading session on a state: many stakes, unstakes and TAO transfers, one new state.

    The book reads the traded arrays (:data:`TRADED_FIELDS`) through numpy views of the state's
    tensors and copies an array the first time a trade writes it, so neither the input state
    nor any state :meth:`state` returned is ever modified. Each trade is the scalar arithmetic
    of the pure :func:`stake` / :func:`unstake` (which run on a book of their own), so a round
    of trades on one book gives the same bits as the same trades chained through the pure
    functions, without copying the arrays and building a state per trade.

    Fields no trade changes (``active``, ``subtoken_enabled``, ``uid_coldkey``, the block and
    the halt) are read from the state the book was opened on.

    Parameters
    ----------
    state
        The state to trade on.
    params
        The economy's parameters (the swap fee); defaults if None.

    Examples
    --------
    >>> from protocol.economy.network import new_network
    >>> state = new_network(2, 8, seed=0, n_validators=2)
    >>> book = TradeBook(state)
    >>> book.transfer(1, 0, 5e9)
    >>> after = book.state()
    >>> float(after.balances[1]) == float(state.balances[1]) - 5e9
    True
    """

    def __init__(self, state: NetworkState, params: EconomyParams | None = None) -> None:
        self.params = params or EconomyParams()
        self._state = state
        self._active = state.view("active")
        self._subtoken_enabled = state.view("subtoken_enabled")
        self._uid_coldkey = state.view("uid_coldkey")
        self._pool_weight_alpha = state.view("pool_weight_alpha")
        self._arrays: dict[str, np.ndarray] = {name: state.view(name) for name in TRADED_FIELDS}
        #: The arrays this book owns (copied since the last :meth:`state`), by field name.
        self._owned: dict[str, np.ndarray] = {}

    # -------------------------------------------------------------- reads
    def values(self, name: str) -> np.ndarray:
        """The current values of traded field ``name`` (a read-only view, valid until the next
        trade)."""
        view = self._arrays[name].view()
        view.flags.writeable = False
        return view

    def balance(self, account: int) -> float:
        """TAO balance of ``account`` now (rao)."""
        return float(self._arrays["balances"][account])

    def pool(self, netuid: int) -> tuple[float, float, float]:
        """``(pool_tao, pool_alpha, pool_weight_alpha)`` of subnet ``netuid`` now, as floats."""
        return (
            float(self._arrays["pool_tao"][netuid]),
            float(self._arrays["pool_alpha"][netuid]),
            float(self._pool_weight_alpha[netuid]),
        )

    def state(self) -> NetworkState:
        """The state after every trade so far (the input state if nothing was traded).

        The returned state owns its arrays: later trades on this book copy them again.
        """
        if self._owned:
            self._state = self._state.replace_arrays(self._owned)
            self._owned = {}
        return self._state

    # -------------------------------------------------------------- trades
    def stake(self, account: int, netuid: int, hotkey_uid: int, tao_amount: float) -> float:
        """Buy alpha with ``tao_amount`` rao of ``account``'s TAO and stake it to ``hotkey_uid``.

        The book's version of :func:`stake` (same checks, same arithmetic). Returns the alpha
        bought (rao).

        Raises
        ------
        ValueError
            As :func:`stake`; the book is unchanged then.
        """
        self._check_account(account)
        self._check_subnet(netuid)
        self._check_uid(netuid, hotkey_uid)
        self._check_trading(netuid)
        amount = float(tao_amount)
        if not amount > 0 or amount != amount or amount == float("inf"):
            raise ValueError(f"tao_amount: expected a positive finite amount, got {tao_amount!r}")
        arrays = self._arrays
        balance = float(arrays["balances"][account])
        if amount > balance:
            raise ValueError(
                f"tao_amount: {amount:.0f} rao exceeds account {account}'s balance {balance:.0f}"
            )
        pool_tao, pool_alpha, w1 = self.pool(netuid)
        if amount > pool_tao:
            raise ValueError(
                f"tao_amount: swap of {amount:.0f} rao is larger than subnet {netuid}'s TAO "
                f"reserve {pool_tao:.0f}"
            )
        is_owner = int(self._uid_coldkey[netuid, hotkey_uid]) == account
        held_uid = int(arrays["nom_uid"][account, netuid])
        if not is_owner and held_uid >= 0 and held_uid != hotkey_uid:
            raise ValueError(
                f"hotkey_uid: account {account} already delegates to uid {held_uid} on subnet "
                f"{netuid}"
            )
        # Scalar arithmetic in Python floats: the same float64 operations as on 0-dim tensors.
        alpha_out = swap_tao_for_alpha_scalar(
            pool_tao, pool_alpha, w1, amount, self.params.fee_rate
        )
        self._pool_trade(account, netuid, tao_in=amount, alpha_in=-alpha_out)
        hotkey_alpha = self._writable("hotkey_alpha")
        total_shares = self._writable("total_shares")
        h = float(hotkey_alpha[netuid, hotkey_uid])
        t = float(total_shares[netuid, hotkey_uid])
        rate = t / h if (h > 0 and t > 0) else 1.0
        new_shares = alpha_out * rate
        hotkey_alpha[netuid, hotkey_uid] += alpha_out
        total_shares[netuid, hotkey_uid] += new_shares
        if is_owner:
            self._writable("owner_shares")[netuid, hotkey_uid] += new_shares
        else:
            self._writable("nom_uid")[account, netuid] = hotkey_uid
            self._writable("nom_shares")[account, netuid] += new_shares
        return alpha_out

    def unstake(self, account: int, netuid: int, hotkey_uid: int, alpha_amount: float) -> float:
        """Sell ``alpha_amount`` of ``account``'s alpha staked to ``hotkey_uid`` for TAO.

        The book's version of :func:`unstake` (same checks, same arithmetic). Returns the TAO
        paid out (rao).

        Raises
        ------
        ValueError
            As :func:`unstake`; the book is unchanged then.
        """
        self._check_account(account)
        self._check_subnet(netuid)
        self._check_uid(netuid, hotkey_uid)
        self._check_trading(netuid)
        amount = float(alpha_amount)
        if not amount > 0 or amount != amount or amount == float("inf"):
            raise ValueError(
                f"alpha_amount: expected a positive finite amount, got {alpha_amount!r}"
            )
        arrays = self._arrays
        h = float(arrays["hotkey_alpha"][netuid, hotkey_uid])
        t = float(arrays["total_shares"][netuid, hotkey_uid])
        is_owner = int(self._uid_coldkey[netuid, hotkey_uid]) == account
        if is_owner:
            held_shares = float(arrays["owner_shares"][netuid, hotkey_uid])
        elif int(arrays["nom_uid"][account, netuid]) == hotkey_uid:
            held_shares = float(arrays["nom_shares"][account, netuid])
        else:
            held_shares = 0.0
        held = held_shares * h / t if t > 0 else 0.0
        if amount > held * (1 + 1e-12):
            raise ValueError(
                f"alpha_amount: {amount:.0f} exceeds the {held:.0f} alpha account {account} "
                f"holds on uid {hotkey_uid} of subnet {netuid}"
            )
        amount = min(amount, held)
        tao_out = swap_alpha_for_tao_scalar(*self.pool(netuid), amount, self.params.fee_rate)
        self._pool_trade(account, netuid, tao_in=-tao_out, alpha_in=amount)
        burn_shares = held_shares * amount / held if held > 0 else 0.0
        self._writable("hotkey_alpha")[netuid, hotkey_uid] = max(h - amount, 0.0)
        self._writable("total_shares")[netuid, hotkey_uid] = max(t - burn_shares, 0.0)
        remaining = max(held_shares - burn_shares, 0.0)
        if is_owner:
            self._writable("owner_shares")[netuid, hotkey_uid] = remaining
        else:
            self._writable("nom_shares")[account, netuid] = remaining
            if remaining <= 0.0:
                self._writable("nom_uid")[account, netuid] = -1
        return tao_out

    def transfer(self, source: int, target: int, amount_rao: float) -> None:
        """Move ``amount_rao`` of TAO from account ``source`` to account ``target``.

        Raises
        ------
        ValueError
            Unknown account, a negative or non-finite amount, or more than ``source`` holds.
        """
        self._check_account(source)
        self._check_account(target)
        amount = float(amount_rao)
        if not amount >= 0 or amount == float("inf"):
            raise ValueError(f"amount_rao: expected a finite amount >= 0, got {amount_rao!r}")
        balances = self._arrays["balances"]
        if amount > balances[source]:
            raise ValueError(
                f"amount_rao: {amount:.0f} rao exceeds account {source}'s balance "
                f"{float(balances[source]):.0f}"
            )
        balances = self._writable("balances")
        balances[source] -= amount
        balances[target] += amount

    # -------------------------------------------------------------- internals
    def _writable(self, name: str) -> np.ndarray:
        """Field ``name``'s array, copied the first time it is written (copy on write)."""
        values = self._owned.get(name)
        if values is None:
            values = self._owned[name] = self._arrays[name] = self._arrays[name].copy()
        return values

    def _pool_trade(self, account: int, netuid: int, *, tao_in: float, alpha_in: float) -> None:
        """The pool, balance and TAO-flow side of a swap: ``tao_in`` TAO from ``account`` into
        the pool (negative: paid out to it) and ``alpha_in`` alpha into the pool (negative:
        taken out)."""
        self._writable("pool_tao")[netuid] += tao_in
        self._writable("pool_alpha")[netuid] += alpha_in
        self._writable("balances")[account] -= tao_in
        self._writable("flow_acc")[netuid] += tao_in

    def _check_subnet(self, netuid: int) -> None:
        if (
            not isinstance(netuid, int)
            or not 0 <= netuid < self._active.shape[0]
            or not self._active[netuid]
        ):
            raise ValueError(f"netuid: unknown subnet {netuid!r}")

    def _check_account(self, account: int) -> None:
        n_accounts = self._arrays["balances"].shape[0]
        if not isinstance(account, int) or not 0 <= account < n_accounts:
            raise ValueError(f"account: unknown account {account!r} (have {n_accounts})")

    def _check_trading(self, netuid: int) -> None:
        state = self._state
        if state.halted:
            raise ValueError(f"block: chain halted (safe mode) until block {state.halted_until}")
        if not self._subtoken_enabled[netuid]:
            raise ValueError(f"netuid: subtoken trading disabled on subnet {netuid}")

    def _check_uid(self, netuid: int, uid: int) -> None:
        if (
            not isinstance(uid, int)
            or not 0 <= uid < self._uid_coldkey.shape[1]
            or self._uid_coldkey[netuid, uid] < 0
        ):
            raise ValueError(f"hotkey_uid: no registered hotkey at uid {uid!r} on subnet {netuid}")


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
    hotkey per account and subnet). Many trades in a row: :class:`TradeBook`.

    Raises
    ------
    ValueError
        Negative or non-finite amount, unknown account/subnet/uid, trading off or chain halted,
        insufficient balance, a swap larger than the pool's TAO reserve, or a second delegation.
    """
    book = TradeBook(state, params)
    book.stake(account, netuid, hotkey_uid, tao_amount)
    return book.state()


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

    Many trades in a row: :class:`TradeBook`.

    Raises
    ------
    ValueError
        Negative or non-finite amount, unknown account/subnet/uid, trading off or chain halted,
        or more alpha than the account holds on that hotkey.
    """
    book = TradeBook(state, params)
    book.unstake(account, netuid, hotkey_uid, alpha_amount)
    return book.state()


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
