"""``futarchy``: conditional pass/fail markets decide (MetaDAO programs' constants).

Each proposal opens two conditional markets (constant-product AMMs, quote reserve
``liquidity`` at price ``initial_price``): "TAO value if it passes" and "if it fails". Traders'
votes are trades: an aye buys the pass token with ``trade_fraction`` of the trader's stake and
sells the same value of the fail token; a nay does the opposite. A time-weighted average price
(TWAP) of each market is kept from submission to the end of the 3-day proposal; the proposal
passes if ``TWAP(pass) > TWAP(fail) · (1 + pass_threshold)`` (``DEFAULT_PASS_THRESHOLD_BPS`` =
300, i.e. 3 %; 5 % earlier) and executes after ``finalize_window``. Like MetaDAO's oracle, an
observation may move at most ``max_observation_change`` per update. Market noise (noise traders)
comes only from the ``rng`` passed to ``advance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from protocol.levers import Lever
from protocol.units import Blocks

from .base import (
    GovernanceError,
    GovernancePolicy,
    GovState,
    Path,
    Referendum,
    RefState,
    Requirement,
)
from .config import param
from .registry import register_policy

__all__ = ["FutarchyConfig", "FutarchyPolicy"]


@dataclass(frozen=True)
class FutarchyConfig:
    """Config of MetaDAO-style futarchy."""

    duration: int = param(21_600, lo=1, hi=100_000_000, doc="proposal duration 3 d")
    pass_threshold: float = param(0.03, lo=0.0, hi=10.0, doc="DEFAULT_PASS_THRESHOLD_BPS 300 (3 %)")
    finalize_window: int = param(
        0, lo=0, hi=100_000_000, doc="extra finalisation (1 d in one version)"
    )
    liquidity: float = param(1_000.0, lo=1e-9, doc="quote (TAO) reserve of each conditional AMM")
    initial_price: float = param(1.0, lo=1e-12, doc="starting price of both conditional tokens")
    trade_fraction: float = param(
        0.01, lo=0.0, hi=1.0, doc="share of a trader's stake its vote trades"
    )
    max_observation_change: float | None = param(
        None, lo=0.0, doc="cap on the relative change of one TWAP observation"
    )
    noise_sigma: float = param(
        0.0, lo=0.0, doc="noise-trade size per advance, as a fraction of liquidity"
    )
    min_proposer_stake: float = param(0.0, lo=0.0, doc="stake needed to propose (anyone: 0)")


def _buy(q: float, b: float, dq: float) -> tuple[float, float]:
    """Spend ``dq`` quote on base in a constant-product pool."""
    k = q * b
    return q + dq, k / (q + dq)


def _sell_for(q: float, b: float, quote_out: float) -> tuple[float, float]:
    """Sell base into a constant-product pool until it pays out ``quote_out`` quote.

    The payout is capped at half the quote reserve, so a trader far larger than the market
    moves the price a lot but can never empty the pool (a zero reserve would make the spot
    price, and every later trade, undefined).
    """
    k = q * b
    out = min(quote_out, 0.5 * q)
    return q - out, k / (q - out)


@register_policy("futarchy")
class FutarchyPolicy(GovernancePolicy):
    """Conditional pass/fail markets over 3 days; pass if TWAP(pass) beats TWAP(fail) by 3 %."""

    Config = FutarchyConfig

    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        if gs.electorate.stake(proposer) < self.config.min_proposer_stake:
            raise GovernanceError(f"{proposer!r} holds less than min_proposer_stake")

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks, track: str | None
    ) -> Referendum:
        c = self.config
        base = c.liquidity / c.initial_price
        ref = Referendum(
            pid, proposer, lever, "futarchy", RefState.ONGOING, block, block + c.duration
        )
        return ref.with_info(
            pass_q=c.liquidity,
            pass_b=base,
            fail_q=c.liquidity,
            fail_b=base,
            obs_pass=c.initial_price,
            obs_fail=c.initial_price,
            acc_pass=0.0,
            acc_fail=0.0,
            last_obs=float(block),
            trades=0.0,
        )

    @staticmethod
    def prices(ref: Referendum) -> tuple[float, float]:
        """Current spot prices of the pass and fail conditional tokens."""
        return ref.get("pass_q") / ref.get("pass_b"), ref.get("fail_q") / ref.get("fail_b")

    def _trade(self, ref: Referendum, bullish: float) -> Referendum:
        """Trade ``bullish`` quote toward "pass" (negative: toward "fail")."""
        pq, pb, fq, fb = ref.get("pass_q"), ref.get("pass_b"), ref.get("fail_q"), ref.get("fail_b")
        size = abs(bullish)
        if size <= 0:
            return ref
        # An aye buys "pass" with ``size`` quote and sells "fail" for the same value; a nay the
        # mirror image.
        if bullish > 0:
            pq, pb = _buy(pq, pb, size)
            fq, fb = _sell_for(fq, fb, size)
        else:
            fq, fb = _buy(fq, fb, size)
            pq, pb = _sell_for(pq, pb, size)
        return ref.with_info(pass_q=pq, pass_b=pb, fail_q=fq, fail_b=fb)

    def _observe(self, ref: Referendum, upto: Blocks) -> Referendum:
        """Accumulate the TWAP to ``upto`` at the last observation, then observe anew."""
        last = int(ref.get("last_obs"))
        dt = max(0, upto - last)
        ref = ref.with_info(
            acc_pass=ref.get("acc_pass") + ref.get("obs_pass") * dt,
            acc_fail=ref.get("acc_fail") + ref.get("obs_fail") * dt,
            last_obs=float(max(last, upto)),
        )
        spot_pass, spot_fail = self.prices(ref)
        cap = self.config.max_observation_change

        def capped(old: float, new: float) -> float:
            if cap is None:
                return new
            return min(old * (1 + cap), max(old * (1 - cap), new))

        return ref.with_info(
            obs_pass=capped(ref.get("obs_pass"), spot_pass),
            obs_fail=capped(ref.get("obs_fail"), spot_fail),
        )

    def twaps(self, ref: Referendum) -> tuple[float, float]:
        """Time-weighted average prices so far (pass, fail)."""
        elapsed = ref.get("last_obs") - ref.submitted
        if elapsed <= 0:
            return ref.get("obs_pass"), ref.get("obs_fail")
        return ref.get("acc_pass") / elapsed, ref.get("acc_fail") / elapsed

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        c = self.config
        for ref in gs.active():
            if ref.state != RefState.ONGOING:
                continue
            assert ref.deadline is not None
            end = ref.deadline
            ref = self._observe(ref, min(now, end))
            # New votes (trades) since the last pass move the markets from here on.
            done = int(ref.get("trades"))
            for i, v in enumerate(ref.votes[done:], start=done):
                amount = gs.electorate.stake(v.voter) * c.trade_fraction
                before = [w for w in ref.votes[:i] if w.voter == v.voter]
                if before and before[-1].aye == v.aye:
                    continue  # already positioned: a trader's capital is used once
                if before:
                    amount *= 2  # close the old position and open the new one
                ref = self._trade(ref, amount if v.aye else -amount)
            ref = ref.with_info(trades=float(len(ref.votes)))
            if rng is not None and c.noise_sigma > 0 and now < end:
                ref = self._trade(ref, float(rng.normal(0.0, c.noise_sigma * c.liquidity)))
            ref = self._observe(ref, min(now, end))
            gs = self._put(gs, ref)
            if now >= end:
                twap_pass, twap_fail = self.twaps(ref)
                if twap_pass > twap_fail * (1 + c.pass_threshold):
                    gs = self._schedule(gs, ref, end, end + c.finalize_window)
                else:
                    gs = self._close(gs, ref, RefState.REJECTED, end, "rejected")
        return self._run_scheduled(gs, now)

    def _check_voter(self, gs: GovState, ref: Referendum, voter: str) -> None:
        if gs.electorate.stake(voter) <= 0:
            raise GovernanceError(f"{voter!r} has no capital to trade")

    def _is_open_for_votes(self, ref: Referendum, block: Blocks) -> bool:
        return ref.state == RefState.ONGOING and ref.deadline is not None and block < ref.deadline

    def voting_deadline(self, gs: GovState, ref: Referendum) -> Blocks | None:
        """Trades count until the block before the markets close."""
        return None if ref.deadline is None else ref.deadline - 1

    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """The proposal duration plus the finalisation window (3 d)."""
        return self.config.duration + self.config.finalize_window

    def capital_to_pass(self) -> float:
        """Stake whose trades, held from the start, lift pass over fail by the threshold.

        With both pools at depth L, buying x·L of pass and selling as much fail gives the price
        ratio ``(1 + x)^4``, so ``x = (1 + threshold)^(1/4) − 1``.
        """
        c = self.config
        x = (1 + c.pass_threshold) ** 0.25 - 1
        return x * c.liquidity / c.trade_fraction if c.trade_fraction > 0 else math.inf

    def _capital_req(self, gs: GovState) -> Requirement:
        stakes = {w: s for w, s in gs.electorate.stakes.items() if s > 0}
        ms = tuple(sorted(stakes))
        return Requirement(
            "traders", ms, tuple(stakes[m] for m in ms), self.capital_to_pass(), strict=True
        )

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """Traders with enough capital to hold the pass premium for the whole duration."""
        delay = self.config.duration + self.config.finalize_window
        return (Path("market", (self._capital_req(gs),), delay),)

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """Counter-traders with the same capital (the markets are symmetric)."""
        return (Path("counter_trade", (self._capital_req(gs),)),)
