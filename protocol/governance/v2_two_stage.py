"""``v2_two_stage`` and ``v2_1h_draft``: the proposed V2 on-chain governance (subtensor PRs #2198, #2804).

Constants from branch ``governance-wiring`` ``runtime/src/governance/tracks.rs`` and
``collectives.rs``, and ``pallets/referenda/README.md``:

1. A Proposer (1–20 curated accounts) submits; ``MaxQueued = 20``, ``MaxActivePerProposer = 5``.
2. Track 0 (``PassOrFail``): the 3 triumvirs; approve 2/3 or reject 2/3 within 7 d
   (50 400 blocks), else ``Expired``. Approval → the parent becomes ``Delegated`` and a child
   referendum opens on track 1.
3. Track 1 (``Adjustable``): voters = Economic (top 16 by stake EMA) ∪ Building (top 16 mature
   subnet owners by moving price), deduplicated (≤ 32), snapshotted when the poll opens. The call
   is scheduled at ``opened + delay``; ``approve ≥ 75 %`` → ``FastTracked`` (next block),
   ``reject ≥ 51 %`` → ``Cancelled``, else ``Enacted`` at the scheduled block.
4. Delay shaping, ``net = approve − reject`` as fractions of the voters,
   ``curved(p) = 1 − (1 − p)^3`` (``curve = "linear"``: ``curved(p) = p``):
   ``approve ≥ reject``: ``delay = initial · (1 − curved(net/0.75))``;
   otherwise ``delay = initial + curved(|net|/0.51) · (max − initial)``.
5. Root ``kill`` from Ongoing, Approved, FastTracked; collectives re-chosen every 60 days.

``v2_1h_draft`` (Nov–Dec 2025 draft, branch ``governance-policy``): initial delay 1 h,
``delay = 1 h · 2^(nays − ayes)``, cancel at ≥ 17/32 nays, collectives every 6 months.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from protocol.levers import Lever
from protocol.units import Blocks

from ._common import at_least, last_vote_block, require_member
from .base import (
    BodySpec,
    Electorate,
    GovernanceError,
    GovernancePolicy,
    GovEvent,
    GovState,
    Path,
    Referendum,
    RefState,
    Tally,
    count_requirement,
)
from .config import PolicyConfigError, param
from .registry import register_policy

__all__ = ["V2Config", "V2DraftConfig", "V2DraftPolicy", "V2TwoStagePolicy", "review_delay"]

TRIUMVIRATE_TRACK = "triumvirate"
REVIEW_TRACK = "review"


@dataclass(frozen=True)
class V2Config:
    """Config of V2 (defaults: ``tracks.rs`` / ``collectives.rs`` on ``governance-wiring``)."""

    max_proposers: int = param(20, lo=1, hi=1_000, doc="Proposers: 1–20 accounts")
    triumvirate_size: int = param(3, lo=1, hi=16, doc="exactly 3 triumvirs")
    approve_threshold: float = param(2 / 3, lo=0.0, hi=1.0, doc="track 0 approve 2/3")
    reject_threshold: float = param(2 / 3, lo=0.0, hi=1.0, doc="track 0 reject 2/3")
    decision_period: int = param(50_400, lo=1, hi=100_000_000, doc="track 0: 7 d")
    economic_size: int = param(16, lo=0, hi=64, doc="Economic collective: 16")
    building_size: int = param(16, lo=0, hi=64, doc="Building collective: 16")
    initial_delay: int = param(7_200, lo=0, hi=100_000_000, doc="track 1 initial delay 24 h")
    max_delay: int = param(14_400, lo=0, hi=1_000_000_000, doc="track 1 max delay 48 h")
    fast_track_threshold: float = param(0.75, lo=0.0, hi=1.0, doc="75 % approve → next block")
    cancel_threshold: float = param(0.51, lo=0.0, hi=1.0, doc="51 % reject → Cancelled")
    curve: str = param(
        "cubic",
        choices=("cubic", "linear", "exponential"),
        doc="how the net vote maps to the delay: cubic 1 − (1 − p)^3, linear p, or exponential",
    )
    term: int = param(432_000, lo=1, hi=1_000_000_000, doc="collective term 60 d")
    min_subnet_age: int = param(1_296_000, lo=0, hi=1_000_000_000, doc="MIN_SUBNET_AGE 180 d")
    ema_alpha: float = param(0.02, lo=0.0, hi=1.0, doc="Economic stake EMA α = 0.02")
    ema_min_samples: int = param(
        210, lo=0, hi=1_000_000, doc="≥ 210 samples (~30 d) before a newcomer ranks"
    )
    economic_eligible_max: int = param(
        64, lo=1, hi=1_000, doc="EconomicEligible: max 64 root coldkeys"
    )
    max_queued: int = param(20, lo=1, hi=10_000, doc="MaxQueued = 20")
    max_active_per_proposer: int = param(5, lo=1, hi=10_000, doc="MaxActivePerProposer = 5")
    snapshot_voters: bool = param(
        True, doc="voter set snapshotted at poll open (governance-wiring) or dynamic"
    )
    root_kill: bool = param(True, doc="Root may kill")
    sudo_retained: bool = param(
        False,
        doc='the sudo key still exists alongside (V1 always had it; a switch for V2): propose(track="sudo") by Root executes next block',
    )

    def check(self) -> None:
        """Cross-field rule: initial delay ≤ max delay."""
        if self.initial_delay > self.max_delay:
            raise PolicyConfigError(
                f"initial_delay: {self.initial_delay} exceeds max_delay={self.max_delay}"
            )


def review_delay(aye: float, nay: float, voters: int, cfg: V2Config) -> int:
    """Track-1 delay in blocks for ``aye``/``nay`` seat counts out of ``voters`` (the delay shaping of ``pallets/referenda/README.md``).

    Examples
    --------
    >>> cfg = V2Config()
    >>> review_delay(0, 0, 32, cfg), review_delay(0, 16, 32, cfg) > 7_200
    (7200, True)
    """
    if cfg.curve == "exponential":
        # The draft: 1 h · 2^(nays − ayes), capped at max_delay.
        raw = cfg.initial_delay * 2.0 ** (nay - aye)
        return int(min(cfg.max_delay, raw))
    if voters <= 0:
        return cfg.initial_delay

    def curved(p: float) -> float:
        p = min(1.0, max(0.0, p))
        return 1.0 - (1.0 - p) ** 3 if cfg.curve == "cubic" else p

    net = (aye - nay) / voters
    if net >= 0:
        return round(cfg.initial_delay * (1.0 - curved(net / cfg.fast_track_threshold)))
    spread = cfg.max_delay - cfg.initial_delay
    return round(cfg.initial_delay + curved(-net / cfg.cancel_threshold) * spread)


@register_policy("v2_two_stage")
class V2TwoStagePolicy(GovernancePolicy):
    """Proposer → Triumvirate 2/3 in 7 d → 32-seat review with a vote-shaped 24–48 h delay."""

    Config = V2Config
    kill_body = "root"

    def seat_bodies(self) -> Mapping[str, BodySpec]:
        """Proposers and the Triumvirate from the roster (the same persons, in order: the
        Proposers are root-gated and mostly OTF per the 2025 README); the collectives by the
        policy's own stake and subnet rules."""
        size = self.config.triumvirate_size
        return {
            "triumvirate": BodySpec(size, "actors", "track 0: approve or reject by 2/3"),
            "proposers": BodySpec(
                min(size, self.config.max_proposers), "actors", "submit referenda"
            ),
            "economic": BodySpec(self.config.economic_size, "policy", "top stake by EMA"),
            "building": BodySpec(self.config.building_size, "policy", "mature subnets' owners"),
        }

    def voting_deadline(self, gs: GovState, ref: Referendum) -> Blocks | None:
        """Track 0 ends at its decision period; a review vote counts until the call dispatches
        (its scheduled block, which votes may move)."""
        if ref.track == REVIEW_TRACK:
            cap = ref.submitted + self.config.max_delay
            return min(ref.scheduled, cap) if ref.scheduled is not None else cap
        return ref.deadline

    def vetoers(self, gs: GovState, ref: Referendum) -> tuple[str, ...]:
        """Root may kill from Ongoing, Approved or FastTracked (``root_kill``)."""
        return (gs.electorate.root,) if self.config.root_kill else ()

    # ----------------------------------------------------------------- seats and rotation
    def _economic(self, electorate: Electorate, gs: GovState | None) -> tuple[str, ...]:
        if "economic" in electorate.bodies:
            return electorate.body("economic")[: self.config.economic_size]
        eligible = electorate.top_by_stake(self.config.economic_eligible_max)
        if gs is None:
            return eligible[: self.config.economic_size]
        ema: dict[str, float] = gs.aux_get("stake_ema", {})
        samples: dict[str, int] = gs.aux_get("ema_samples", {})
        warm = [w for w in eligible if samples.get(w, 0) >= self.config.ema_min_samples]
        ranked = sorted(warm, key=lambda w: (-ema.get(w, 0.0), w))
        return tuple(ranked[: self.config.economic_size])

    def _building(self, electorate: Electorate, block: Blocks) -> tuple[str, ...]:
        if "building" in electorate.bodies:
            return electorate.body("building")[: self.config.building_size]
        best: dict[str, float] = {}
        for sn in electorate.subnets:
            if block - sn.registered_block >= self.config.min_subnet_age:
                best[sn.owner] = max(best.get(sn.owner, 0.0), sn.moving_price)
        # At most one seat per coldkey: rank owners by their best subnet.
        ranked = sorted(best, key=lambda o: (-best[o], o))
        return tuple(ranked[: self.config.building_size])

    def _choose_seats(
        self, electorate: Electorate, block: Blocks, gs: GovState | None
    ) -> dict[str, tuple[str, ...]]:
        seats = dict(electorate.bodies)
        seats["proposers"] = electorate.body("proposers")[: self.config.max_proposers]
        seats["triumvirate"] = electorate.body("triumvirate")[: self.config.triumvirate_size]
        seats["economic"] = self._economic(electorate, gs)
        seats["building"] = self._building(electorate, block)
        seats["reviewers"] = tuple(dict.fromkeys((*seats["economic"], *seats["building"])))
        seats["root"] = (electorate.root,)
        return seats

    def _init_extra(self, gs: GovState) -> GovState:
        stakes = gs.electorate.stakes
        aux = (
            ("ema_samples", dict.fromkeys(stakes, self.config.ema_min_samples)),
            ("stake_ema", dict(stakes)),
        )
        return replace(gs, next_rotation=gs.block + self.config.term, aux=aux)

    def _on_electorate(self, gs: GovState, block: Blocks) -> GovState:
        # One EMA sample of each root coldkey's stake value (α = 0.02); seats wait for rotation.
        a = self.config.ema_alpha
        ema = dict(gs.aux_get("stake_ema", {}))
        samples = dict(gs.aux_get("ema_samples", {}))
        for who, stake in gs.electorate.stakes.items():
            ema[who] = (1 - a) * ema[who] + a * stake if who in ema else stake
            samples[who] = samples.get(who, 0) + 1
        return replace(gs, aux=(("ema_samples", samples), ("stake_ema", ema)))

    def _rotate(self, gs: GovState, block: Blocks) -> GovState:
        seats = self._choose_seats(gs.electorate, block, gs)
        gs = replace(gs, seats=seats, next_rotation=block + self.config.term)
        return self._emit(gs, GovEvent("rotated", -1, block))

    # ----------------------------------------------------------------- actions
    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        require_member(gs, "proposers", proposer, "propose")
        live = [r for r in gs.active() if r.track == TRIUMVIRATE_TRACK or r.parent is not None]
        if len(live) >= self.config.max_queued:
            raise GovernanceError(f"queue full: {len(live)} referenda (MaxQueued)")
        mine = sum(1 for r in live if r.proposer == proposer)
        if mine >= self.config.max_active_per_proposer:
            raise GovernanceError(
                f"{proposer!r} has {mine} active referenda (MaxActivePerProposer)"
            )

    def _check_voter(self, gs: GovState, ref: Referendum, voter: str) -> None:
        if ref.track == REVIEW_TRACK and not self.config.snapshot_voters:
            if voter not in gs.seat("reviewers"):
                raise GovernanceError(f"{voter!r} is not a reviewer now")
            return
        super()._check_voter(gs, ref, voter)

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks, track: str | None
    ) -> Referendum:
        tri = gs.seat("triumvirate")
        if len(tri) == 0:
            raise GovernanceError("the Triumvirate is empty")
        return Referendum(
            pid,
            proposer,
            lever,
            TRIUMVIRATE_TRACK,
            RefState.ONGOING,
            block,
            block + self.config.decision_period,
            voters=tri,
            weights=tuple(1.0 for _ in tri),
        )

    def _open_review(self, gs: GovState, parent: Referendum, at: Blocks) -> GovState:
        reviewers = gs.seat("reviewers")
        pid = len(gs.referenda)
        child = Referendum(
            pid,
            parent.proposer,
            parent.lever,
            REVIEW_TRACK,
            RefState.ONGOING,
            at,
            None,
            voters=reviewers,
            weights=tuple(1.0 for _ in reviewers),
            parent=parent.pid,
            scheduled=at + review_delay(0, 0, len(reviewers), self.config),
        )
        parent = replace(parent, state=RefState.DELEGATED, decided=at, child=pid)
        gs = self._put(replace(gs, referenda=(*gs.referenda, child)), parent)
        return self._emit(
            gs, GovEvent("delegated", parent.pid, at, parent.lever, RefState.DELEGATED)
        )

    # ----------------------------------------------------------------- settlement
    def _review_tally(self, gs: GovState, ref: Referendum, now: Blocks) -> tuple[Tally, int]:
        if self.config.snapshot_voters:
            return self.tally(ref, gs.electorate, now), len(ref.voters)
        current = gs.seat("reviewers")
        live = replace(ref, voters=current, weights=tuple(1.0 for _ in current))
        return self.tally(live, gs.electorate, now), len(current)

    def _settle_triumvirate(self, gs: GovState, ref: Referendum, now: Blocks) -> GovState:
        assert ref.deadline is not None
        n = len(ref.voters)
        t = self.tally(ref, gs.electorate, min(now, ref.deadline))
        when = last_vote_block(ref.votes, ref.submitted)
        if t.aye_count >= at_least(self.config.approve_threshold, n):
            return self._open_review(gs, ref, when)
        if t.nay_count >= at_least(self.config.reject_threshold, n):
            return self._close(gs, ref, RefState.REJECTED, when, "rejected")
        if now >= ref.deadline:
            return self._close(gs, ref, RefState.EXPIRED, ref.deadline, "expired")
        return gs

    def _settle_review(self, gs: GovState, ref: Referendum, now: Blocks) -> GovState:
        t, n = self._review_tally(gs, ref, now)
        when = last_vote_block(ref.votes, ref.submitted)
        if ref.state == RefState.ONGOING:
            if n and t.aye_count >= at_least(self.config.fast_track_threshold, n):
                return self._schedule(gs, ref, when, when + 1, RefState.FAST_TRACKED)
            if n and t.nay_count >= at_least(self.config.cancel_threshold, n):
                return self._close(gs, ref, RefState.CANCELLED, when, "cancelled")
            target = ref.submitted + review_delay(t.aye_count, t.nay_count, n, self.config)
            # A vote that pulls the target into the past reschedules to the next block.
            at = target if target > when or not ref.votes else when + 1
            at = max(at, ref.submitted)
            ref = replace(ref, scheduled=at)
            gs = self._put(gs, ref)
            if at <= now:
                gs = self._enact(gs, replace(ref, decided=at), at)
        return gs

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        # New children opened during this pass are settled in the same pass.
        pid = 0
        while pid < len(gs.referenda):
            ref = gs.referenda[pid]
            if ref.state == RefState.ONGOING and ref.track == TRIUMVIRATE_TRACK:
                gs = self._settle_triumvirate(gs, ref, now)
            elif ref.state == RefState.ONGOING and ref.track == REVIEW_TRACK:
                gs = self._settle_review(gs, ref, now)
            pid += 1
        return self._run_scheduled(gs, now)

    def _is_open_for_votes(self, ref: Referendum, block: Blocks) -> bool:
        return ref.state == RefState.ONGOING and (ref.deadline is None or block <= ref.deadline)

    # ----------------------------------------------------------------- analysis
    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """1 block: Triumvirate approval then a ≥ 75 % review fast-track dispatches next block."""
        return 1

    def default_delay(self) -> Blocks:
        """Delay with no review votes: the initial delay (24 h; draft 1 h)."""
        return self.config.initial_delay

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """1 proposer + 2 of 3 triumvirs (24 h); plus 75 % of reviewers for the fast track."""
        tri = gs.seat("triumvirate")
        reviewers = gs.seat("reviewers")
        base = (
            count_requirement("proposers", gs.seat("proposers"), 1),
            count_requirement(
                "triumvirate", tri, at_least(self.config.approve_threshold, len(tri))
            ),
        )
        fast = count_requirement(
            "reviewers", reviewers, at_least(self.config.fast_track_threshold, len(reviewers))
        )
        paths = [
            Path("triumvirate_then_delay", base, self.config.initial_delay),
            Path("fast_track", (*base, fast), 1),
        ]
        if self.config.sudo_retained:
            paths.append(Path("sudo", (count_requirement("root", gs.seat("root"), 1),), 1))
        return tuple(paths)

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """2 of 3 triumvirs (reject or abstain), 51 % of reviewers (17 of 32), or Root kill."""
        tri = gs.seat("triumvirate")
        reviewers = gs.seat("reviewers")
        n = len(tri)
        refuse = min(
            at_least(self.config.reject_threshold, n),
            n - at_least(self.config.approve_threshold, n) + 1,
        )
        paths = [
            Path("triumvirate", (count_requirement("triumvirate", tri, refuse),)),
            Path(
                "review_cancel",
                (
                    count_requirement(
                        "reviewers",
                        reviewers,
                        at_least(self.config.cancel_threshold, len(reviewers)),
                    ),
                ),
            ),
        ]
        if self.config.root_kill:
            paths.append(Path("root_kill", (count_requirement("root", gs.seat("root"), 1),)))
        return tuple(paths)

    def kill(self, gs: GovState, actor: str, pid: int, block: Blocks) -> GovState:
        """Root kill; refused when ``root_kill`` is off."""
        if not self.config.root_kill:
            raise GovernanceError("root_kill is off for this policy")
        return super().kill(gs, actor, pid, block)


@dataclass(frozen=True)
class V2DraftConfig(V2Config):
    """The Nov–Dec 2025 draft: 1 h, exponential delay, cancel ≥ 17/32, 6-month terms."""

    initial_delay: int = param(300, lo=0, hi=100_000_000, doc="1 h")
    max_delay: int = param(
        300 * 2**16,
        lo=0,
        hi=1_000_000_000,
        doc="cap of 1 h · 2^(nays−ayes) (cancel comes first at 17 nays)",
    )
    cancel_threshold: float = param(17 / 32, lo=0.0, hi=1.0, doc="cancel at ≥ 17/32 nays")
    curve: str = param(
        "exponential", choices=("cubic", "linear", "exponential"), doc="1 h · 2^(nays − ayes)"
    )
    term: int = param(
        1_296_000, lo=1, hi=1_000_000_000, doc="collectives re-chosen every 6 months (180 d)"
    )


@register_policy("v2_1h_draft")
class V2DraftPolicy(V2TwoStagePolicy):
    """The V2 draft: 1 h initial delay doubling per net nay; cancel at 17 of 32."""

    Config = V2DraftConfig
