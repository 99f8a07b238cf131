"""A trading session (``TradeBook``) gives the bits of the same trades one state at a time.

The reference is the tensor formulation of ``stake``/``unstake`` kept in
``test_economy_scalar_paths`` (the trades as they were written on 0-dim tensors), chained one
new state per trade; the book holds numpy copies, trades in place and returns one state.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from protocol.economy import EconomyParams, NetworkState, TradeBook, apply_lever, stake, unstake
from protocol.economy.staking import TRADED_FIELDS
from protocol.levers import HaltChain, SetSubtokenEnabled
from tests.protocol.test_economy_ledger import assert_unchanged, small_network, snapshot
from tests.protocol.test_economy_scalar_paths import (
    _assert_bit_identical,
    _reference_stake,
    _reference_unstake,
)

TAO = 1e9


def _reference_transfer(
    state: NetworkState, source: int, target: int, amount: float
) -> NetworkState:
    balances = state.balances.clone()
    values = balances.numpy()
    values[source] -= amount
    values[target] += amount
    return state.replace(balances=balances)


def _random_trades(
    state: NetworkState, seed: int, n: int
) -> list[tuple[str, int, int, int, float]]:
    """Trades to replay: ``(kind, account, netuid, uid_or_target, fraction)``."""
    rng = np.random.default_rng(seed)
    accounts = [a for a in range(1, state.n_accounts) if float(state.balances[a]) > 1e9]
    trades = []
    for _ in range(n):
        kind = str(rng.choice(["stake", "unstake", "transfer"], p=[0.45, 0.4, 0.15]))
        trades.append(
            (
                kind,
                int(rng.choice(accounts)),
                int(rng.integers(state.n_subnets)),
                int(rng.integers(state.n_accounts)),
                float(rng.choice([0.05, 0.3, 1.0])),
            )
        )
    return trades


def _resolve(
    state: NetworkState, kind: str, account: int, netuid: int, pick: int, fraction: float
) -> tuple[int, float] | None:
    """The hotkey (or target account) and amount of a replayed trade on ``state``; None to skip."""
    if kind == "transfer":
        return pick, float(state.balances[account]) * fraction
    own = np.nonzero(state.uid_coldkey[netuid].numpy() == account)[0]
    held_uid = int(state.nom_uid[account, netuid])
    if kind == "stake":
        registered = np.nonzero(state.uid_coldkey[netuid].numpy() >= 0)[0]
        if own.size and pick % 3 == 0:
            uid = int(own[0])
        else:
            uid = held_uid if held_uid >= 0 else int(registered[pick % registered.size])
        amount = float(state.balances[account]) * fraction * 0.4
        if amount <= 0 or amount > float(state.pool_tao[netuid]):
            return None
        return uid, amount
    uid = int(own[0]) if own.size and pick % 3 == 0 else held_uid
    if uid < 0:
        return None
    amount = float(state.account_alpha(account)[netuid]) * fraction
    return (uid, amount) if amount > 0 else None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_book_of_trades_equals_the_trades_one_state_at_a_time(seed: int) -> None:
    params = EconomyParams()
    state = small_network(params, seed)
    book = TradeBook(state, params)
    reference = state
    done = 0
    for i, (kind, account, netuid, pick, fraction) in enumerate(_random_trades(state, seed, 150)):
        resolved = _resolve(reference, kind, account, netuid, pick, fraction)
        if resolved is None:
            continue
        target, amount = resolved
        if kind == "transfer":
            book.transfer(account, target, amount)
            reference = _reference_transfer(reference, account, target, amount)
        elif kind == "stake":
            book.stake(account, netuid, target, amount)
            reference = _reference_stake(
                reference, account, netuid, target, amount, params.fee_rate
            )
        else:
            try:
                unstake(reference, account, netuid, target, amount, params=params)
            except ValueError:
                with pytest.raises(ValueError, match="alpha_amount"):
                    book.unstake(account, netuid, target, amount)
                continue  # own alpha on another of its uids: not this uid's
            book.unstake(account, netuid, target, amount)
            reference = _reference_unstake(
                reference, account, netuid, target, amount, params.fee_rate
            )
        assert book.balance(account) == float(reference.balances[account])
        assert book.pool(netuid) == tuple(
            float(getattr(reference, name)[netuid])
            for name in ("pool_tao", "pool_alpha", "pool_weight_alpha")
        )
        if i % 40 == 0:
            _assert_bit_identical(book.state(), reference)  # mid-session, then trade on
        done += 1
    assert done > 60
    _assert_bit_identical(book.state(), reference)


def test_the_pure_trades_are_single_trades_on_a_book() -> None:
    params = EconomyParams()
    state = small_network(params, 3)
    account = next(a for a in range(1, state.n_accounts) if float(state.balances[a]) > 1e9)
    uid = int(np.nonzero(state.uid_coldkey[1].numpy() >= 0)[0][-1])
    amount = float(state.balances[account]) * 0.1
    book = TradeBook(state, params)
    got = book.stake(account, 1, uid, amount)
    after = stake(state, account, 1, uid, amount, params=params)
    _assert_bit_identical(book.state(), after)
    assert got == float(after.hotkey_alpha[1, uid] - state.hotkey_alpha[1, uid])
    paid = book.unstake(account, 1, uid, got / 2)
    after_both = unstake(after, account, 1, uid, got / 2, params=params)
    _assert_bit_identical(book.state(), after_both)
    # the TAO paid out, up to the rounding of the balance's addition
    assert paid == pytest.approx(
        float(after_both.balances[account]) - float(after.balances[account]), rel=1e-12
    )


def test_neither_the_input_state_nor_a_returned_state_changes() -> None:
    params = EconomyParams()
    state = small_network(params, 4)
    before = snapshot(state)
    book = TradeBook(state, params)
    assert book.state() is state  # nothing traded: the same state
    trades = _random_trades(state, 4, 60)

    def trade(kind: str, account: int, netuid: int, pick: int, fraction: float) -> None:
        resolved = _resolve(book.state(), kind, account, netuid, pick, fraction)
        if resolved is None:
            return
        target, amount = resolved
        if kind == "transfer":
            book.transfer(account, target, amount)
        elif kind == "stake":
            book.stake(account, netuid, target, amount)
        else:
            with contextlib.suppress(ValueError):  # own alpha on another of its uids
                book.unstake(account, netuid, target, amount)

    for args in trades[:30]:
        trade(*args)
    middle = book.state()
    middle_before = snapshot(middle)
    for args in trades[30:]:
        trade(*args)
    end = book.state()
    assert_unchanged(state, before)
    assert_unchanged(middle, middle_before)
    assert any(not torch.equal(getattr(end, name), getattr(middle, name)) for name in TRADED_FIELDS)


def _bad_inputs(state: NetworkState) -> list[tuple[str, tuple, str]]:
    """``(function, (account, netuid, uid, amount), message start)`` of refused trades."""
    account = next(a for a in range(1, state.n_accounts) if float(state.balances[a]) > 1e9)
    free = -1
    coldkeys = state.uid_coldkey[0].numpy()
    uid, other = (int(u) for u in np.nonzero((coldkeys >= 0) & (coldkeys != account))[0][:2])
    for row in range(state.n_uids):
        if int(state.uid_coldkey[0, row]) < 0:
            free = row
    balance = float(state.balances[account])
    cases = [
        ("stake", (state.n_accounts, 0, uid, 1e9), "account: unknown account"),
        ("stake", (account, state.n_subnets, uid, 1e9), "netuid: unknown subnet"),
        ("stake", (account, 0.0, uid, 1e9), "netuid: unknown subnet"),
        ("stake", (account, 0, state.n_uids, 1e9), "hotkey_uid: no registered hotkey"),
        ("stake", (account, 0, uid, -1.0), "tao_amount: expected a positive finite"),
        ("stake", (account, 0, uid, float("nan")), "tao_amount: expected a positive finite"),
        ("stake", (account, 0, uid, float("inf")), "tao_amount: expected a positive finite"),
        ("stake", (account, 0, uid, 2 * balance), "tao_amount: .* exceeds account"),
        ("unstake", (account, 0, uid, 0.0), "alpha_amount: expected a positive finite"),
        ("unstake", (account, 0, uid, 1e30), "alpha_amount: .* exceeds the"),
    ]
    if free >= 0:
        cases.append(("stake", (account, 0, free, 1e9), "hotkey_uid: no registered hotkey"))
    if int(state.nom_uid[account, 0]) < 0:
        cases.append(("second", (account, 0, other, 1e9), "hotkey_uid: account .* already"))
    return cases


def test_refused_trades_raise_the_pure_functions_errors_and_change_nothing() -> None:
    params = EconomyParams()
    state = small_network(params, 5)
    cases = _bad_inputs(state)
    assert any(kind == "second" for kind, _, _ in cases)
    for kind, (account, netuid, uid, amount), message in cases:
        base = state
        if kind == "second":  # a delegation to one uid, then a stake to another
            coldkeys = state.uid_coldkey[0].numpy()
            first = int(np.nonzero((coldkeys >= 0) & (coldkeys != account))[0][0])
            base = stake(state, account, 0, first, 1e9, params=params)
        pure = stake if kind in ("stake", "second") else unstake
        with pytest.raises(ValueError, match=message) as from_pure:
            pure(base, account, netuid, uid, amount, params=params)
        book = TradeBook(base, params)
        method = book.unstake if kind == "unstake" else book.stake
        with pytest.raises(ValueError) as from_book:
            method(account, netuid, uid, amount)
        assert str(from_book.value) == str(from_pure.value)
        assert book.state() is base


@pytest.mark.parametrize("lever", ["halt", "subtoken_off"])
def test_no_trade_while_halted_or_with_trading_off(lever: str) -> None:
    params = EconomyParams()
    state = small_network(params, 6)
    change = HaltChain(100) if lever == "halt" else SetSubtokenEnabled(0, enabled=False)
    state, _ = apply_lever(state, change, params)
    account = next(a for a in range(1, state.n_accounts) if float(state.balances[a]) > 1e9)
    uid = int(np.nonzero(state.uid_coldkey[0].numpy() >= 0)[0][0])
    message = "block: chain halted" if lever == "halt" else "netuid: subtoken trading disabled"
    book = TradeBook(state, params)
    with pytest.raises(ValueError, match=message):
        book.stake(account, 0, uid, 1e9)
    with pytest.raises(ValueError, match=message):
        stake(state, account, 0, uid, 1e9, params=params)
    book.transfer(account, 0, 1e9)  # TAO still moves between accounts


def test_a_transfer_moves_what_the_source_holds_and_no_more() -> None:
    params = EconomyParams()
    state = small_network(params, 7)
    book = TradeBook(state, params)
    account = next(a for a in range(1, state.n_accounts) if float(state.balances[a]) > 1e9)
    balance = book.balance(account)
    book.transfer(account, 0, balance)
    assert book.balance(account) == 0.0
    assert book.balance(0) == float(state.balances[0]) + balance
    book.transfer(account, 0, 0.0)  # nothing left: a zero transfer is fine
    for amount, message in [
        (1.0, "amount_rao: 1 rao exceeds account"),
        (-1.0, "amount_rao: expected a finite amount >= 0"),
        (float("nan"), "amount_rao: expected a finite amount >= 0"),
        (float("inf"), "amount_rao: expected a finite amount >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            book.transfer(account, 0, amount)
    with pytest.raises(ValueError, match="account: unknown account"):
        book.transfer(0, state.n_accounts, 1.0)
    after = book.state()
    assert float(after.balances.sum()) == pytest.approx(float(state.balances.sum()))


def test_the_book_shows_its_values_read_only() -> None:
    params = EconomyParams()
    state = small_network(params, 8)
    book = TradeBook(state, params)
    view = book.values("nom_shares")
    with pytest.raises(ValueError, match="read-only"):
        view[0, 0] = 1.0
    assert np.array_equal(view, state.nom_shares.numpy())
