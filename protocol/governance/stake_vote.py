"""``stake_vote``: root-validator stake vote to suppress a subnet (subtensor PR #2420).

Electorate: root-registered coldkeys with at least ``stake_threshold`` root stake. A proposal
is in force while **more than 50 % of the registered root stake** supports it, recomputed every
epoch (360 blocks) with the stakes of that epoch: the lever executes at the first epoch boundary
with a majority and is reverted (``reverted`` event with the inverse lever) at the first boundary
without one. A vote cast at an epoch block counts from the next boundary (the epoch runs first).
Root keeps an override (``cancel``), which also lifts a suppression in force.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from protocol.levers import Lever
from protocol.units import Blocks

from .base import (
    Electorate,
    GovernanceError,
    GovernancePolicy,
    GovEvent,
    GovState,
    Path,
    Referendum,
    RefState,
    count_requirement,
    inverse_lever,
    stake_requirement,
)
from .config import param
from .registry import register_policy

__all__ = ["StakeVoteConfig", "StakeVotePolicy"]


@dataclass(frozen=True)
class StakeVoteConfig:
    """Config of the root-stake suppression vote (PR #2420)."""

    threshold: float = param(
        0.5, lo=0.0, hi=1.0, doc="support must exceed 50 % of registered root stake"
    )
    epoch: int = param(360, lo=1, hi=1_000_000, doc="recomputed every epoch (tempo 360)")
    stake_threshold: float = param(
        0.0, lo=0.0, doc="StakeThreshold to join the electorate (value not in the PR; 0)"
    )
    root_override: bool = param(True, doc="Root may override (cancel / lift)")
    expiry_blocks: Blocks | None = param(
        None, lo=1, doc="a proposal that never gained a majority expires after this"
    )


@register_policy("stake_vote")
class StakeVotePolicy(GovernancePolicy):
    """More than 50 % of registered root stake suppresses; recomputed every epoch; Root overrides."""

    Config = StakeVoteConfig

    def vetoers(self, gs: GovState, ref: Referendum) -> tuple[str, ...]:
        """Root's override (``root_override``)."""
        return (gs.electorate.root,) if self.config.root_override else ()

    def eligible_voters(self, gs: GovState, ref: Referendum) -> tuple[str, ...]:
        """Root coldkeys above ``StakeThreshold``."""
        return tuple(sorted(self._registered(gs)))

    def voting_deadline(self, gs: GovState, ref: Referendum) -> Blocks | None:
        """Open-ended (support is recomputed every epoch) unless ``expiry_blocks`` is set."""
        return ref.deadline

    def _registered(self, gs: GovState) -> dict[str, float]:
        floor = self.config.stake_threshold
        return {w: s for w, s in gs.electorate.stakes.items() if s > 0 and s >= floor}

    def _choose_seats(
        self, electorate: Electorate, block: Blocks, gs: GovState | None
    ) -> dict[str, tuple[str, ...]]:
        return {**electorate.bodies, "root": (electorate.root,)}

    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        if proposer not in self._registered(gs):
            raise GovernanceError(
                f"{proposer!r} may not propose: not a root coldkey above StakeThreshold"
            )

    def _check_voter(self, gs: GovState, ref: Referendum, voter: str) -> None:
        if voter not in self._registered(gs):
            raise GovernanceError(f"{voter!r} has no registered root stake")

    def _check_canceller(self, gs: GovState, ref: Referendum, actor: str) -> None:
        if not (self.config.root_override and actor == gs.electorate.root):
            raise GovernanceError(f"{actor!r} may not override: only Root can")

    def _is_open_for_votes(self, ref: Referendum, block: Blocks) -> bool:
        return ref.state in (RefState.ONGOING, RefState.ENACTED)

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks, track: str | None
    ) -> Referendum:
        deadline = None if self.config.expiry_blocks is None else block + self.config.expiry_blocks
        return Referendum(pid, proposer, lever, "stake_vote", RefState.ONGOING, block, deadline)

    def support(self, gs: GovState, ref: Referendum) -> float:
        """Fraction of registered root stake voting aye now."""
        reg = self._registered(gs)
        total = sum(reg.values())
        aye = sum(reg.get(v.voter, 0.0) for v in ref.latest_votes().values() if v.aye)
        return aye / total if total else 0.0

    def cancel(self, gs: GovState, actor: str, pid: int, block: Blocks) -> GovState:
        """Root override: close the proposal; lift the suppression if it is in force."""
        gs = self._sync(gs, block)
        ref = gs.ref(pid)
        if ref.state not in (RefState.ONGOING, RefState.ENACTED):
            raise GovernanceError(f"referendum {pid} cannot be overridden ({ref.state.value})")
        self._check_canceller(gs, ref, actor)
        if ref.state == RefState.ENACTED:
            gs = self._emit(
                gs, GovEvent("reverted", pid, block, inverse_lever(ref.lever), RefState.CANCELLED)
            )
        return self._close(gs, ref, RefState.CANCELLED, block, "cancelled")

    veto = cancel

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        e = self.config.epoch
        boundary = (gs.block // e + 1) * e  # first epoch strictly after the last settled block
        for ref in gs.referenda:
            if ref.state not in (RefState.ONGOING, RefState.ENACTED):
                continue
            start = max(boundary, (ref.submitted // e + 1) * e)
            if (
                ref.state == RefState.ONGOING
                and ref.deadline is not None
                and ref.deadline <= now
                and (start > ref.deadline or self.support(gs, ref) <= self.config.threshold)
            ):
                gs = self._close(gs, ref, RefState.EXPIRED, ref.deadline, "expired")
                continue
            if start > now:
                continue
            majority = self.support(gs, ref) > self.config.threshold
            if ref.state == RefState.ONGOING and majority:
                gs = self._enact(gs, replace(ref, decided=start), start)
            elif ref.state == RefState.ENACTED and not majority:
                gs = self._put(gs, replace(ref, state=RefState.ONGOING))
                gs = self._emit(
                    gs,
                    GovEvent(
                        "reverted", ref.pid, start, inverse_lever(ref.lever), RefState.ONGOING
                    ),
                )
        return gs

    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """1 block: a majority formed just before an epoch boundary acts at the boundary."""
        return 1

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """More than 50 % of registered root stake."""
        return (
            Path(
                "stake_majority",
                (stake_requirement("root_stake", self._registered(gs), self.config.threshold),),
                1,
            ),
        )

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """At least 50 % of registered root stake withholding support, or Root's override."""
        paths = [
            Path(
                "stake_withhold",
                (
                    stake_requirement(
                        "root_stake", self._registered(gs), 1 - self.config.threshold, strict=False
                    ),
                ),
            )
        ]
        if self.config.root_override:
            paths.append(Path("root_override", (count_requirement("root", gs.seat("root"), 1),)))
        return tuple(paths)
