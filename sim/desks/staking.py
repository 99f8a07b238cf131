"""The staking desk: stakers rebalance, owners sell their cut or leave, TAO goes to market.

Once a day the desk gives each staker and owner what it can see (:class:`StakerObservation`,
:class:`OwnerObservation`), lets it decide (``sim.agents.stakers`` / ``sim.agents.owners``)
and applies the trades through ``protocol.economy`` (a :class:`~protocol.economy.TradeBook`'s
``stake``, ``unstake``, ``transfer``). TAO anyone sells to the outside world leaves through
:meth:`StakingDesk.sell_tao`: to the market account, onto the market's step sales and into the
seller's cash-out (its PnL).

A round of trades (the owners', then the stakers') runs on one book: the host's ``state`` is
set once, when the round ends (also when a decision or a trade fails), so the desk reads
balances, pools and delegations from the book meanwhile, and what the round calls besides (the
event log, the market's sales, the recorder's cash-out, scheduled sales, the agents' decisions)
reads no traded field of the state.

Stakers see a subnet as *flagged* while a public proposal against its emission is pending or
once it stopped emitting, trading or registering (:meth:`StakingDesk.update_flags`); an
executed intervention raises their beliefs about governance risk and tells the targeted
subnets' owners (:meth:`StakingDesk.observe_intervention`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from protocol._numba import jit
from protocol.economy import TradeBook
from protocol.economy.amm import max_alpha_in_at_price_scalar, max_tao_in_at_price_scalar
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState
from protocol.units import RAO_PER_TAO
from sim import chain
from sim.agents.owners import OwnerObservation
from sim.agents.stakers import StakerObservation, decide_round
from sim.config import SimConfig

if TYPE_CHECKING:
    from sim.agents.owners import Owner
    from sim.agents.stakers import Staker
    from sim.desks.governance import ProposalMeta
    from sim.desks.market import MarketDesk
    from sim.desks.shocks import ShockDesk
    from sim.metrics import Recorder

__all__ = ["StakingDesk", "StakingHost", "limit_trades"]


class StakingHost(Protocol):
    """What the staking desk reads and calls on its model."""

    config: SimConfig
    state: NetworkState
    params: EconomyParams
    owners: list[Owner]
    stakers: list[Staker]
    validator_uids: np.ndarray
    market: MarketDesk
    shocks: ShockDesk
    recorder: Recorder

    @property
    def day(self) -> float: ...

    def log_event(self, kind: str, **info: Any) -> None: ...


def limit_trades(delta: np.ndarray, urgent: np.ndarray, k: int, min_trade: float) -> np.ndarray:
    """Keep the ``k`` largest trades (plus every sale from an ``urgent`` subnet); zero the rest.

    Examples
    --------
    >>> limit_trades(np.array([5.0, -1.0, 3.0, -0.5]), np.array([0, 0, 0, 1], bool), 1, 0.1)
    array([ 5. ,  0. ,  0. , -0.5])
    """
    size = np.abs(delta)
    keep = size > min_trade
    # The k largest of all trades that pass the size test are the k largest of all trades (a
    # passing size is larger than any failing one): sort only when more than k pass.
    if np.count_nonzero(keep) > k:
        keep[np.argsort(-size, kind="stable")[k:]] = False
    if urgent.any():
        keep |= urgent & (delta < 0)  # leaving a threatened subnet is never too small to do
    return np.where(keep, delta, 0.0)


def _limit_trade_list(
    delta: list[float], urgent: list[bool], k: int, min_trade: float
) -> list[float]:
    """:func:`limit_trades` on Python lists (a staker's handful of subnets costs less in
    Python than in numpy calls): the same kept trades, the others 0.0.

    The ``k`` largest are ranked by a stable sort on ``-|delta|``, as ``limit_trades``'s
    stable argsort does; with a NaN (which numpy sorts last) it defers to ``limit_trades``.
    """
    size = [abs(trade) for trade in delta]
    keep = [magnitude > min_trade for magnitude in size]
    if sum(keep) > k:
        if any(magnitude != magnitude for magnitude in size):
            return limit_trades(
                np.array(delta), np.array(urgent, dtype=bool), k, min_trade
            ).tolist()
        for i in sorted(range(len(size)), key=lambda j: -size[j])[k:]:
            keep[i] = False
    return [
        trade if kept or (flag and trade < 0) else 0.0
        for trade, kept, flag in zip(delta, keep, urgent, strict=True)
    ]


@jit
def _limit_trade_rows(
    delta: np.ndarray,
    urgent: np.ndarray,
    k: int,
    min_trade: np.ndarray,
    out: np.ndarray,
    done: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba
    """:func:`_limit_trade_list` of each row ``i`` of ``delta`` with threshold ``min_trade[i]``
    into ``out[i]`` (``done[i]`` True), a round's stakers at once; a row with a NaN, or a ``k``
    below 1, is left to ``_limit_trade_list`` (``done[i]`` False).

    The ``k`` largest of the trades that pass the size test are those whose rank in a stable
    sort on ``-|delta|`` (the larger first, ties in index order) is below ``k``: counted
    directly (a staker has a handful of subnets), the same trades as the sort keeps."""
    n_rows, size = delta.shape
    for i in range(n_rows):
        row = delta[i]
        threshold = min_trade[i]
        has_nan = False
        passing = 0
        for j in range(size):
            trade = row[j]
            if trade != trade:
                has_nan = True
            if abs(trade) > threshold:
                passing += 1
        if has_nan or k < 1:
            done[i] = False
            continue
        done[i] = True
        for j in range(size):
            trade = row[j]
            magnitude = abs(trade)
            kept = magnitude > threshold
            if kept and passing > k:
                rank = 0
                for m in range(size):
                    other = abs(row[m])
                    if other > magnitude or (other == magnitude and m < j):
                        rank += 1
                kept = rank < k
            out[i, j] = trade if (kept or (urgent[j] and trade < 0)) else 0.0


def _same_float(a: float, b: float) -> bool:
    """``a`` and ``b`` are the same float (signed zeros told apart; NaN never the same)."""
    return a == b and (a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b))


class StakingDesk:
    """Stakers' and owners' daily decisions, applied to the economy.

    Parameters
    ----------
    host
        The model.
    """

    def __init__(self, host: StakingHost) -> None:
        self.host = host
        n_subnets = host.config.network.n_subnets
        self.flagged = np.zeros(n_subnets, dtype=bool)
        self.targeted_since_owner_acted = np.zeros(n_subnets, dtype=bool)
        #: The round's trading session while owners or stakers trade (None between rounds).
        self._book: TradeBook | None = None

    # ------------------------------------------------------------------ what holders see
    def update_flags(self, open_proposals: Iterable[ProposalMeta]) -> None:
        """Flag subnets under a pending public move against their emission, or already off."""
        flagged = np.zeros(self.host.config.network.n_subnets, dtype=bool)
        for meta in open_proposals:
            # A public, pending move against a subnet's emission is a hazard stakers can see.
            if not meta.reversal and meta.lever.targets_emission:
                for s in meta.targets:
                    flagged[s] = True
        st = self.host.state
        off = ~(
            st.emission_enabled & st.registration_allowed & st.subtoken_enabled & st.active
        ).numpy()
        self.flagged = flagged | off

    def observe_intervention(self, severity: float, targets: Iterable[int]) -> None:
        """An intervention of ``severity`` executed: beliefs rise, targeted owners learn it."""
        if severity <= 0:
            return
        for staker in self.host.stakers:
            staker.observe_intervention(severity)
        n_owners = len(self.host.owners)
        for s in targets:
            if 0 <= s < n_owners:
                self.targeted_since_owner_acted[s] = True

    def decay_beliefs(self, dt_days: float) -> None:
        """Let every staker's belief relax toward its prior over ``dt_days``."""
        for staker in self.host.stakers:
            staker.decay(dt_days)

    # ------------------------------------------------------------------ trading sessions
    @contextmanager
    def _trading(self) -> Iterator[TradeBook]:
        """The round's trading session: a new one whose trades become the host's state when it
        ends (also when a trade fails), or the round's own if one is open."""
        if self._book is not None:
            yield self._book
            return
        book = self._book = TradeBook(self.host.state, self.host.params)
        try:
            yield book
        finally:
            self._book = None
            self.host.state = book.state()

    def _reads(self) -> TradeBook:
        """What trades read: the round's book, or a book on the host's state between rounds."""
        if self._book is not None:
            return self._book
        return TradeBook(self.host.state, self.host.params)

    # ------------------------------------------------------------------ selling TAO
    def sell_tao(self, account: int, amount_rao: float) -> None:
        """``account`` sells TAO to the outside world (it moves to the market account)."""
        if amount_rao <= 0:
            return
        host = self.host
        with self._trading() as book:
            amount_rao = min(amount_rao, book.balance(account))
            book.transfer(account, MARKET_ACCOUNT, amount_rao)
        # Neither the market's sales nor the recorder's cash-out read the state.
        host.market.add_sold(amount_rao / RAO_PER_TAO)
        host.recorder.add_cash_out(account, amount_rao / RAO_PER_TAO * host.market.price_usd)

    # ------------------------------------------------------------------ owners
    def owners_act(self) -> None:
        """Each owner sells part of its cut (or all of it over its exit); an exit sells a treasury."""
        host = self.host
        ocfg = host.config.owners
        st = host.state  # the state before the round (its trades go to the book)
        owned = chain.uid_owned_alpha(st)
        owner_uids = st.view("owner_uid")
        owner_accounts = st.view("owner_account")
        subtoken_enabled = st.view("subtoken_enabled")
        with self._trading() as book:
            for owner in host.owners:
                s = owner.netuid
                uid = int(owner_uids[s])
                held = float(owned[s, uid])
                action = owner.act(
                    OwnerObservation(bool(self.targeted_since_owner_acted[s]), held / RAO_PER_TAO)
                )
                self.targeted_since_owner_acted[s] = False
                if action.exit:
                    # The event log and the scheduled sales read the block, not the state.
                    host.log_event("owner_exit", netuid=s, owner_type=owner.name)
                    if ocfg.exit_treasury_tao > 0:
                        # The team's off-chain treasury goes to market over the exit schedule.
                        host.shocks.add_sale(
                            ocfg.exit_treasury_tao,
                            netuid=None,
                            over_days=ocfg.exit_sell_days,
                            seller=f"team{s}",
                        )
                amount = min(action.sell_alpha * RAO_PER_TAO, held)
                account = int(owner_accounts[s])
                if amount > RAO_PER_TAO * 1e-3 and bool(subtoken_enabled[s]):
                    before = book.balance(account)
                    book.unstake(account, s, uid, amount)
                    got = book.balance(account) - before
                    dumps = owner.name == "extractive" or owner.exited
                    self.sell_tao(account, got * ocfg.extractive_sell_fraction if dumps else 0.0)

    # ------------------------------------------------------------------ stakers
    def stakers_act(self, yields: np.ndarray, work_factor: np.ndarray) -> None:
        """Stakers due today rebalance: sales first (they free TAO), then purchases.

        Parameters
        ----------
        yields
            Nominator yield per subnet (1/year), as the recorder measured it.
        work_factor
            Real work of each subnet's miners relative to the configured mean ``[S]``.
        """
        host = self.host
        cfg = host.config.stakers
        today = host.day + 1e-9
        due = [staker for staker in host.stakers if not today < staker.next_action_day]
        if not due:
            return  # nobody rebalances today (the reads below change nothing)
        st = host.state  # the state before the round (its trades go to the book)
        prices = chain.alpha_prices(st)
        alpha = chain.account_alpha(st)
        utility = np.array([o.utility for o in host.owners]) * work_factor
        tradable = (st.active & st.subtoken_enabled).numpy() & (prices > 0)
        min_trade = cfg.min_trade_tao
        # The due stakers' holdings at the round's prices (row i: the same divisions and
        # products as for its account alone).
        holdings_tao = alpha[[staker.account for staker in due]] / RAO_PER_TAO * prices
        shared: dict[str, Any] = {}  # what the strategies derive from the round's arrays
        # Limit orders at the price each staker decided on (the round's observed prices):
        # without them every staker acts on the same day-old yields at once and the round
        # moves a thin pool many times over, a two-day price oscillation (docs/economy.md).
        tolerance = cfg.limit_tolerance
        # The trades' scalar arithmetic in Python floats and ints (the same float64 operations
        # as on numpy scalars, without their overhead).
        price_of = prices.tolist()
        flagged = self.flagged.tolist()
        max_trades = cfg.max_trades_per_rebalance
        with self._trading() as book:
            # The yield-risk stakers decide at once on their balances before the round's
            # trades; a staker whose balance the trades before it changed (none, while each
            # staker trades its own account) is asked at its turn, as the others are.
            liquid = [book.balance(staker.account) / RAO_PER_TAO for staker in due]
            decisions = decide_round(
                due, yields, utility, self.flagged, tradable, holdings_tao, liquid, shared
            )
            # the decided stakers' trades, limited as _limit_trade_list limits each one's
            thresholds = np.array(
                [max(min_trade, cfg.min_trade_fraction * wealth) for wealth in decisions.wealth]
            )
            limited = np.zeros(decisions.delta.shape)
            done = np.zeros(len(due), dtype=bool)
            _limit_trade_rows(decisions.delta, self.flagged, max_trades, thresholds, limited, done)
            limited_of = limited.tolist()
            for i, (staker, holdings) in enumerate(zip(due, holdings_tao, strict=True)):
                staker.next_action_day += cfg.cadence_days
                a = staker.account
                liquid_tao = book.balance(a) / RAO_PER_TAO
                if decisions.decided[i] and _same_float(liquid_tao, liquid[i]):
                    sell = decisions.sell[i]
                    if done[i]:
                        trade_of = limited_of[i]
                    else:
                        trade_of = _limit_trade_list(
                            decisions.delta[i].tolist(), flagged, max_trades, float(thresholds[i])
                        )
                else:
                    obs = StakerObservation(
                        yields=yields,
                        utility=utility,
                        flagged=self.flagged,
                        tradable=tradable,
                        holdings_tao=holdings,
                        liquid_tao=liquid_tao,
                        shared=shared,
                    )
                    delta, sell = staker.act(obs)
                    wealth = obs.liquid_tao + float(holdings.sum())
                    threshold = max(min_trade, cfg.min_trade_fraction * wealth)
                    if delta.dtype == np.float64:
                        trade_of = _limit_trade_list(delta.tolist(), flagged, max_trades, threshold)
                    else:  # (numpy compares other dtypes with the threshold in their own precision)
                        trade_of = limit_trades(delta, self.flagged, max_trades, threshold).tolist()
                sales = [s for s, trade in enumerate(trade_of) if trade < 0]
                purchases = [s for s, trade in enumerate(trade_of) if trade > 0]
                if not (sales or purchases or sell > 0):
                    continue  # nothing to trade
                # The account's hotkey per subnet before its trades: a trade changes only its
                # own subnet's entry, and each subnet is traded at most once below.
                nom_uid = book.values("nom_uid")[a].tolist()
                for s in sales:
                    uid = nom_uid[s]
                    price = price_of[s]
                    if uid < 0 or price <= 0:
                        continue
                    amount = (
                        min(-trade_of[s] / price, float(alpha[a, s]) / RAO_PER_TAO) * RAO_PER_TAO
                    )
                    if tolerance is not None and not flagged[s]:
                        amount = min(amount, self.limit_room(s, price * (1 - tolerance), buy=False))
                    if amount > 0:
                        book.unstake(a, s, uid, amount)
                if sell > 0:
                    self.sell_tao(a, sell * RAO_PER_TAO)
                for s in purchases:
                    budget = book.balance(a)
                    pool_tao = book.pool(s)[0]
                    amount = min(trade_of[s] * RAO_PER_TAO, budget, 0.5 * pool_tao)
                    if tolerance is not None:
                        amount = min(
                            amount, self.limit_room(s, price_of[s] * (1 + tolerance), buy=True)
                        )
                    if amount <= min_trade * RAO_PER_TAO:
                        continue
                    uid = nom_uid[s]
                    if uid < 0:
                        uid = self.pick_validator(s)
                    book.stake(a, s, uid, amount)

    def limit_room(self, netuid: int, limit_price: float, *, buy: bool) -> float:
        """Rao a limit order on ``netuid`` can fill: TAO to buy up to ``limit_price`` (``buy``),
        or alpha to sell down to it; 0 once the price is past the limit."""
        room = max_tao_in_at_price_scalar if buy else max_alpha_in_at_price_scalar
        return room(*self._reads().pool(netuid), float(limit_price))

    def pick_validator(self, netuid: int) -> int:
        """A nominator's choice of hotkey on a subnet: the validator with the most stake."""
        uids = self.host.validator_uids
        stake = self._reads().values("hotkey_alpha")[netuid, uids]
        return int(uids[int(np.argmax(stake))])
