"""``opengov``: Polkadot OpenGov, root track plus the whitelisted-caller fast path (``polkadot-fellows/runtimes``).

Constants from ``polkadot-fellows/runtimes`` ``relay/polkadot/src/governance/tracks.rs``:

* root track: prepare 2 h, decision 28 d, confirm 24 h, min enactment 24 h, ``max_deciding`` 1,
  approval ``make_reciprocal(4, 28, 80 %, 50 %, 100 %)``, support ``make_linear(28, 28, 0 %, 50 %)``;
* whitelisted caller (``track="whitelisted"``; the Fellowship whitelists the call): prepare
  30 min, confirm 10 min, enactment 10 min, approval ``make_reciprocal(16, 28·24, 96 %, 50 %,
  100 %)``, support ``make_reciprocal(1, 28, 20 %, 5 %, 50 %)``.

Approval = conviction-weighted ayes / (ayes + nays); support = aye capital (no conviction) /
total issuance. A referendum in its decision period whose approval and support are both at or
above the curves (x = time since deciding / decision period) starts confirming; if it stays
passing for the whole confirm period it is approved and enacted after the enactment period.
Failing during confirmation aborts it; reaching the end of the decision period without
confirming rejects it. Not deciding within the undeciding timeout (14 d) → ``Expired``.
Conviction: 0.1x with no lock, 1x…6x for 1…32 lock periods of 7 d (``pallet-conviction-voting``).
The referendum-canceller and -killer tracks are the ``"cancellers"`` and ``"killers"`` bodies:
their decision is taken as given.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from protocol.levers import Lever
from protocol.units import Blocks

from .base import (
    BodySpec,
    GovernanceError,
    GovernancePolicy,
    GovState,
    Path,
    Referendum,
    RefState,
    count_requirement,
    stake_requirement,
)
from .config import param
from .registry import register_policy

__all__ = [
    "CONVICTION_MULTIPLIER",
    "OpenGovConfig",
    "OpenGovPolicy",
    "linear_curve",
    "reciprocal_curve",
]

#: ``pallet-conviction-voting``: 0.1x without lock, then 1x..6x.
CONVICTION_MULTIPLIER: dict[int, float] = {0: 0.1, 1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0, 5: 5.0, 6: 6.0}


def linear_curve(x: float, length: float, floor: float, ceil: float) -> float:
    """``Curve::LinearDecreasing``: ceil → floor over ``length`` (fractions of the period)."""
    return ceil - min(x, length) / length * (ceil - floor)


def _reciprocal_parts(factor: float, floor: float, ceil: float) -> tuple[float, float]:
    delta = ceil - floor
    # Positive root of delta·x² + delta·x − factor = 0 (pallet_referenda reciprocal_from_parts).
    x_offset = (-delta + math.sqrt(delta * delta + 4 * delta * factor)) / (2 * delta)
    y_offset = floor - factor / (1 + x_offset)
    return x_offset, y_offset


@functools.lru_cache(maxsize=64)
def _reciprocal_factor(delay: float, level: float, floor: float, ceil: float) -> float:
    # Bisection on the factor so the curve passes through (delay, level), as pallet_referenda does.
    lo, hi = 1e-12, 1e6
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        xo, yo = _reciprocal_parts(mid, floor, ceil)
        if mid / (delay + xo) + yo > level:
            hi = mid
        else:
            lo = mid
    return lo


def reciprocal_curve(x: float, delay: float, level: float, floor: float, ceil: float) -> float:
    """``Curve::make_reciprocal(delay, level, floor, ceil)`` evaluated at ``x`` in [0, 1].

    The curve ``factor/(x + x_offset) + y_offset`` passes through (0, ceil), (delay, level) and
    (1, floor); ``factor`` is found by bisection as in ``pallet_referenda``.
    """
    factor = _reciprocal_factor(delay, level, floor, ceil)
    xo, yo = _reciprocal_parts(factor, floor, ceil)
    return min(1.0, max(0.0, factor / (x + xo) + yo))


@dataclass(frozen=True)
class OpenGovConfig:
    """Config of OpenGov's root and whitelisted-caller tracks (Polkadot relay values)."""

    prepare_period: int = param(600, lo=0, hi=100_000_000, doc="root: 2 h")
    decision_period: int = param(201_600, lo=1, hi=100_000_000, doc="root: 28 d")
    confirm_period: int = param(7_200, lo=1, hi=100_000_000, doc="root: 24 h")
    min_enactment: int = param(7_200, lo=0, hi=100_000_000, doc="root: 24 h")
    max_deciding: int = param(1, lo=1, hi=10_000, doc="root: one referendum deciding at a time")
    undeciding_timeout: int = param(100_800, lo=1, hi=100_000_000, doc="14 d (relay)")
    approval_delay: float = param(4 / 28, lo=0.0, hi=1.0, doc="APP_ROOT: 80 % at day 4 of 28")
    approval_level: float = param(0.8, lo=0.0, hi=1.0, doc="APP_ROOT level")
    approval_floor: float = param(0.5, lo=0.0, hi=1.0, doc="APP_ROOT floor")
    approval_ceil: float = param(1.0, lo=0.0, hi=1.0, doc="APP_ROOT ceil")
    support_floor: float = param(0.0, lo=0.0, hi=1.0, doc="SUP_ROOT linear 50 % → 0 %")
    support_ceil: float = param(0.5, lo=0.0, hi=1.0, doc="SUP_ROOT ceil")
    whitelist_enabled: bool = param(
        True, doc="the Fellowship's whitelisted-caller fast path exists"
    )
    wl_prepare_period: int = param(150, lo=0, hi=100_000_000, doc="whitelisted: 30 min")
    wl_confirm_period: int = param(50, lo=1, hi=100_000_000, doc="whitelisted: 10 min")
    wl_min_enactment: int = param(50, lo=0, hi=100_000_000, doc="whitelisted: 10 min")
    wl_max_deciding: int = param(100, lo=1, hi=10_000, doc="whitelisted: 100")
    decision_deposit: float = param(
        0.0, lo=0.0, doc="stake the proposer must hold (100 000 DOT on Polkadot; 0: not modelled)"
    )
    fellowship_size: int = param(
        3,
        lo=1,
        hi=1_000,
        doc="Fellowship members who may whitelist a call (the roster's first persons)",
    )


@register_policy("opengov")
class OpenGovPolicy(GovernancePolicy):
    """Conviction-weighted referenda with approval/support curves and a whitelisted fast path."""

    Config = OpenGovConfig
    kill_body = "killers"

    def seat_bodies(self) -> Mapping[str, BodySpec]:
        """The Fellowship (whitelists urgent calls) from the roster; the canceller and killer
        tracks only where persons name them (in Polkadot they are public referenda)."""
        return {
            "fellowship": BodySpec(
                self.config.fellowship_size, "actors", "whitelists calls for the fast track"
            ),
            "cancellers": BodySpec(0, "actors", "referendum-canceller track"),
            "killers": BodySpec(0, "actors", "referendum-killer track"),
        }

    def paths(self, lever: Lever, *, urgent: bool) -> tuple[str | None, ...]:
        """Urgent matters go through the Fellowship's whitelisted-caller track first."""
        return ("whitelisted", None) if urgent and self.config.whitelist_enabled else (None,)

    def voting_deadline(self, gs: GovState, ref: Referendum) -> Blocks | None:
        """Votes count until the end of the track's decision period (prepare + decision)."""
        prepare, _, _, _ = self._periods(ref.track)
        return (
            ref.submitted + prepare + self.config.undeciding_timeout + self.config.decision_period
        )

    def vetoers(self, gs: GovState, ref: Referendum) -> tuple[str, ...]:
        """The canceller and killer tracks, taken as decided by their members."""
        return tuple(dict.fromkeys((*gs.seat("cancellers"), *gs.seat("killers"))))

    # ----------------------------------------------------------------- curves
    def approval_needed(self, x: float, track: str) -> float:
        """Minimum approval at fraction ``x`` of the decision period on ``track``."""
        c = self.config
        if track == "whitelisted":
            return reciprocal_curve(x, 16 / (28 * 24), 0.96, 0.5, 1.0)
        return reciprocal_curve(
            x, c.approval_delay, c.approval_level, c.approval_floor, c.approval_ceil
        )

    def support_needed(self, x: float, track: str) -> float:
        """Minimum support at fraction ``x`` of the decision period on ``track``."""
        c = self.config
        if track == "whitelisted":
            return reciprocal_curve(x, 1 / 28, 0.20, 0.05, 0.50)
        return linear_curve(x, 1.0, c.support_floor, c.support_ceil)

    def _periods(self, track: str) -> tuple[int, int, int, int]:
        c = self.config
        if track == "whitelisted":
            return c.wl_prepare_period, c.wl_confirm_period, c.wl_min_enactment, c.wl_max_deciding
        return c.prepare_period, c.confirm_period, c.min_enactment, c.max_deciding

    # ----------------------------------------------------------------- actions
    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        if track not in (None, "root", "whitelisted"):
            raise GovernanceError(f"opengov tracks are 'root' and 'whitelisted', not {track!r}")
        if track == "whitelisted":
            if not self.config.whitelist_enabled:
                raise GovernanceError("the whitelisted track is disabled")
            if proposer not in gs.seat("fellowship"):
                raise GovernanceError(f"{proposer!r} may not whitelist: not in the fellowship")
        elif gs.electorate.stake(proposer) < self.config.decision_deposit:
            raise GovernanceError(f"{proposer!r} cannot place the decision deposit")

    def _check_canceller(self, gs: GovState, ref: Referendum, actor: str) -> None:
        if actor not in gs.seat("cancellers"):
            raise GovernanceError(
                f"{actor!r} may not cancel: not on the referendum-canceller track"
            )

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks, track: str | None
    ) -> Referendum:
        return Referendum(pid, proposer, lever, track or "root", RefState.ONGOING, block, None)

    def _is_open_for_votes(self, ref: Referendum, block: Blocks) -> bool:
        return ref.state == RefState.ONGOING

    # ----------------------------------------------------------------- settlement
    def passing(self, gs: GovState, ref: Referendum, t: Blocks) -> bool:
        """Whether ``ref``'s current votes pass both curves at block ``t``."""
        tally = self.tally(ref, gs.electorate, multiplier=CONVICTION_MULTIPLIER)
        decided = tally.aye + tally.nay
        approval = tally.aye / decided if decided > 0 else 0.0
        issuance = gs.electorate.issuance
        support = tally.aye_capital / issuance if issuance > 0 else 0.0
        since = ref.get("deciding_since")
        x = min(1.0, max(0.0, (t - since) / self.config.decision_period))
        return (
            approval >= self.approval_needed(x, ref.track) - 1e-12
            and support >= self.support_needed(x, ref.track) - 1e-12
        )

    def _first_passing(
        self, gs: GovState, ref: Referendum, lo: Blocks, hi: Blocks
    ) -> Blocks | None:
        # Curves only fall with time, so with fixed votes "passing" is monotone: bisect.
        if lo > hi or not self.passing(gs, ref, hi):
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if self.passing(gs, ref, mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _deciding_start(self, gs: GovState, ref: Referendum) -> Blocks | None:
        prepare, _, _, slots = self._periods(ref.track)
        ready = ref.submitted + prepare
        ahead = [
            r
            for r in gs.referenda[: ref.pid]
            if r.track == ref.track and "deciding_since" in dict(r.info)
        ]
        busy = [r for r in ahead if r.state == RefState.ONGOING]
        if len(busy) >= slots:
            return None
        # The slot frees when the latest earlier occupant decided.
        freed = [r.decided for r in ahead if r.decided is not None]
        if len(ahead) >= slots and freed:
            return max(ready, sorted(freed)[len(ahead) - slots])
        return ready

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        start = gs.block
        for pid in range(len(gs.referenda)):
            ref = gs.referenda[pid]
            if ref.state != RefState.ONGOING:
                continue
            if "deciding_since" not in dict(ref.info):
                begin = self._deciding_start(gs, ref)
                timeout = ref.submitted + self.config.undeciding_timeout
                if begin is None or begin > min(now, timeout):
                    if now >= timeout:
                        gs = self._close(gs, ref, RefState.EXPIRED, timeout, "expired")
                    continue
                ref = ref.with_info(deciding_since=float(begin))
                gs = self._put(gs, ref)
            gs = self._decide(gs, ref, max(start, int(ref.get("deciding_since"))), now)
        return self._run_scheduled(gs, now)

    def _decide(self, gs: GovState, ref: Referendum, lo: Blocks, now: Blocks) -> GovState:
        _, confirm, enactment, _ = self._periods(ref.track)
        end = int(ref.get("deciding_since")) + self.config.decision_period
        if ref.confirm_since is not None and not self.passing(gs, ref, lo):
            ref = replace(ref, confirm_since=None)  # failed during confirmation: aborted
            gs = self._put(gs, ref)
        if ref.confirm_since is None:
            t = self._first_passing(gs, ref, lo, min(now, end))
            if t is None:
                if now >= end:
                    return self._close(gs, ref, RefState.REJECTED, end, "rejected")
                return gs
            ref = replace(ref, confirm_since=t)
            gs = self._put(gs, ref)
        confirmed = ref.confirm_since + confirm
        if confirmed <= now:
            gs = self._schedule(gs, ref, confirmed, confirmed + enactment)
        return gs

    # ----------------------------------------------------------------- analysis
    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """Fastest path: whitelisted 30 + 10 + 10 min (250 blocks); else 2 h + 24 h + 24 h."""
        c = self.config
        if c.whitelist_enabled:
            return c.wl_prepare_period + c.wl_confirm_period + c.wl_min_enactment
        return c.prepare_period + c.confirm_period + c.min_enactment

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """Unopposed: ≥ 50 % support at once (root 2 d; whitelisted 250 blocks with the
        Fellowship); or the largest holder alone once the support curve has fallen to its stake."""
        c = self.config
        stakes = {w: s for w, s in gs.electorate.stakes.items() if s > 0}
        issuance = gs.electorate.issuance
        half = stake_requirement("stake", stakes, c.support_ceil, strict=False)
        half = replace(half, need=c.support_ceil * issuance)
        root_delay = c.prepare_period + c.confirm_period + c.min_enactment
        paths = [Path("root_majority_support", (half,), root_delay)]
        if c.whitelist_enabled and gs.seat("fellowship"):
            paths.append(
                Path(
                    "whitelisted",
                    (count_requirement("fellowship", gs.seat("fellowship"), 1), half),
                    c.wl_prepare_period + c.wl_confirm_period + c.wl_min_enactment,
                )
            )
        if stakes and issuance > 0:
            top = max(stakes, key=lambda w: (stakes[w], w))
            share = stakes[top] / issuance
            x = next(
                (i / 1000 for i in range(1001) if self.support_needed(i / 1000, "root") <= share),
                1.0,
            )
            delay = (
                c.prepare_period
                + math.ceil(x * c.decision_period)
                + c.confirm_period
                + c.min_enactment
            )
            alone = replace(stake_requirement("stake", stakes, 0.0, strict=False), need=stakes[top])
            paths.append(Path("largest_holder_unopposed", (alone,), delay))
        return tuple(paths)

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """A canceller or killer decision, or nays outweighing every aye (> 50 % of stake)."""
        stakes = {w: s for w, s in gs.electorate.stakes.items() if s > 0}
        paths = [Path("nay_majority", (stake_requirement("stake", stakes, 0.5),))]
        for body in ("cancellers", "killers"):
            if gs.seat(body):
                paths.append(Path(body, (count_requirement(body, gs.seat(body), 1),)))
        return tuple(paths)
