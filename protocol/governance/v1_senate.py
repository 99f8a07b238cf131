"""``v1_senate``: legacy Triumvirate proposes, Senate votes, Root closes (subtensor @ ``f5e11478a^``).

Rules (``pallet_collective`` and ``runtime/src/lib.rs`` @ ``f5e11478a^``):

* only the 3 Triumvirate members propose (``CanPropose``); a motion lasts at least
  ``CouncilMotionDuration`` = 12 h = 3 600 blocks;
* the Senate is the ≤ 12 root-registered delegates with the most root stake (at least
  ``SenateRequiredStakePercentage`` = 1 % of it in code; the docs say 2 %);
* threshold ``⌊n/2⌋ + 1`` of the seated senators, fixed when proposed;
* Root must ``close``: ``pallet_collective::close`` approves as soon as the ayes reach the
  threshold (before the end) and disapproves when the nays make it unreachable; after the end a
  motion without the threshold is disapproved (here: ``Expired``). ``close_mode = "at_end"``
  closes only at the end of the motion (the 12 h minimum as a delay);
* Root may ``disapprove_proposal`` (``cancel``/``veto`` here) at any time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from protocol.levers import Lever
from protocol.units import Blocks

from ._common import last_vote_block, require_member
from .base import (
    BodySpec,
    Electorate,
    GovernanceError,
    GovernancePolicy,
    GovState,
    Path,
    Referendum,
    RefState,
    count_requirement,
)
from .config import param
from .registry import register_policy

__all__ = ["V1SenateConfig", "V1SenatePolicy"]


@dataclass(frozen=True)
class V1SenateConfig:
    """Config of the V1 bicameral governance (defaults from the runtime @ ``f5e11478a^``)."""

    triumvirate_size: int = param(3, lo=1, hi=16, doc="CouncilMaxMembers = 3")
    senate_size: int = param(12, lo=1, hi=64, doc="SenateMaxMembers = 12")
    required_stake_fraction: float = param(
        0.01, lo=0.0, hi=1.0, doc="SenateRequiredStakePercentage 1 % (docs: 2 %)"
    )
    motion_duration: int = param(
        3_600, lo=3_600, hi=10_000_000, doc="CouncilMotionDuration 12 h, the minimum"
    )
    close_mode: str = param(
        "early", choices=("early", "at_end"), doc="Root closes once decided (code) or at the end"
    )
    max_proposals: int = param(10, lo=1, hi=1_000, doc="CouncilMaxProposals = 10")
    sudo_retained: bool = param(
        False,
        doc='the sudo key still exists alongside (V1 always had it; a switch for V2): propose(track="sudo") by Root executes next block',
    )


@register_policy("v1_senate")
class V1SenatePolicy(GovernancePolicy):
    """Triumvirate proposes; > 50 % of the ≤ 12 root-stake Senate approves; Root closes or vetoes."""

    Config = V1SenateConfig

    def seat_bodies(self) -> Mapping[str, BodySpec]:
        """The Triumvirate from the roster; the Senate by the policy's own stake rule."""
        return {
            "triumvirate": BodySpec(self.config.triumvirate_size, "actors", "proposes motions"),
            "senate": BodySpec(
                self.config.senate_size,
                "policy",
                "top root stakers with at least required_stake_fraction of it",
            ),
        }

    def vetoers(self, gs: GovState, ref: Referendum) -> tuple[str, ...]:
        """Root may disapprove a motion at any time (``disapprove_proposal``)."""
        return (gs.electorate.root,) if ref.state == RefState.ONGOING else ()

    def _senate(self, electorate: Electorate) -> tuple[str, ...]:
        if "senate" in electorate.bodies:
            return electorate.body("senate")[: self.config.senate_size]
        floor = self.config.required_stake_fraction * electorate.total_stake
        eligible = [w for w, s in electorate.stakes.items() if s >= floor and s > 0]
        return electorate.top_by_stake(self.config.senate_size, eligible)

    def _choose_seats(
        self, electorate: Electorate, block: Blocks, gs: GovState | None
    ) -> dict[str, tuple[str, ...]]:
        seats = dict(electorate.bodies)
        seats["triumvirate"] = electorate.body("triumvirate")[: self.config.triumvirate_size]
        seats["senate"] = self._senate(electorate)
        seats["root"] = (electorate.root,)
        return seats

    def _on_electorate(self, gs: GovState, block: Blocks) -> GovState:
        # adjust_senate runs on every root registration: membership follows stake at once.
        from dataclasses import replace

        return replace(gs, seats=self._choose_seats(gs.electorate, block, gs))

    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        require_member(gs, "triumvirate", proposer, "propose")
        open_motions = sum(1 for r in gs.active())
        if open_motions >= self.config.max_proposals:
            raise GovernanceError(f"too many open motions ({open_motions}, CouncilMaxProposals)")

    def _check_canceller(self, gs: GovState, ref: Referendum, actor: str) -> None:
        if actor != gs.electorate.root:
            raise GovernanceError(f"{actor!r} may not disapprove: only Root can")

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks, track: str | None
    ) -> Referendum:
        senate = gs.seat("senate")
        if not senate:
            raise GovernanceError("the Senate is empty: nobody could vote")
        ref = Referendum(
            pid,
            proposer,
            lever,
            "senate",
            RefState.ONGOING,
            block,
            block + self.config.motion_duration,
            voters=senate,
            weights=tuple(1.0 for _ in senate),
        )
        return ref.with_info(threshold=len(senate) // 2 + 1)

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        at_end = self.config.close_mode == "at_end"
        for ref in gs.active():
            if ref.state != RefState.ONGOING:
                continue
            assert ref.deadline is not None
            need = int(ref.get("threshold"))
            t = self.tally(ref, gs.electorate, min(now, ref.deadline))
            when = last_vote_block(ref.votes, ref.submitted)
            seats = len(ref.voters)
            if t.aye_count >= need:
                close_at = ref.deadline if at_end else when
                if close_at <= now:
                    gs = self._schedule(gs, ref, close_at, close_at)
            elif t.nay_count > seats - need:
                close_at = ref.deadline if at_end else when
                if close_at <= now:
                    gs = self._close(gs, ref, RefState.REJECTED, close_at, "rejected")
            elif now >= ref.deadline:
                gs = self._close(gs, ref, RefState.EXPIRED, ref.deadline, "expired")
        return self._run_scheduled(gs, now)

    def _is_open_for_votes(self, ref: Referendum, block: Blocks) -> bool:
        return ref.state == RefState.ONGOING and ref.deadline is not None and block <= ref.deadline

    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """0 when Root closes as soon as decided (code), else the 12 h motion duration (1 with sudo)."""
        if self.config.close_mode == "early":
            return 0
        return 1 if self.config.sudo_retained else self.config.motion_duration

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """1 triumvir + ⌊n/2⌋ + 1 senators + Root to close (7 of 12 senators, as the dTAO vote needed)."""
        senate = gs.seat("senate")
        reqs = (
            count_requirement("triumvirate", gs.seat("triumvirate"), 1),
            count_requirement("senate", senate, len(senate) // 2 + 1),
            count_requirement("root", gs.seat("root"), 1),
        )
        delay = self.config.motion_duration if self.config.close_mode == "at_end" else 0
        paths = [Path("senate_majority", reqs, delay)]
        if self.config.sudo_retained:
            paths.append(Path("sudo", (count_requirement("root", gs.seat("root"), 1),), 1))
        return tuple(paths)

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """Root veto; n − ⌊n/2⌋ senators; or all triumvirs refusing to propose."""
        senate = gs.seat("senate")
        n = len(senate)
        return (
            Path("root_disapprove", (count_requirement("root", gs.seat("root"), 1),)),
            Path("senate_nays", (count_requirement("senate", senate, n - (n // 2 + 1) + 1),)),
            Path(
                "no_proposal",
                (
                    count_requirement(
                        "triumvirate", gs.seat("triumvirate"), len(gs.seat("triumvirate"))
                    ),
                ),
            ),
        )
