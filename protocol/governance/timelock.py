"""``timelock``: an M-of-N multisig whose actions wait in a 2–30 day timelock.

Compound ``Timelock``: ``MINIMUM_DELAY = 2 days``, ``MAXIMUM_DELAY = 30 days``,
``GRACE_PERIOD = 14 days``. After the M-th signature the action is queued (``Approved``) for
``delay_blocks``; a guardian may cancel it while queued; it executes at its ETA
(``auto_execute``) or, when execution must be triggered, by a signer between ETA and
ETA + grace, after which it is stale (``Expired``). Users can exit during the delay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from protocol.levers import Lever
from protocol.units import Blocks

from .base import (
    BodySpec,
    GovernanceError,
    GovState,
    Path,
    Referendum,
    RefState,
    count_requirement,
)
from .config import param
from .multisig import MultisigConfig, MultisigPolicy
from .registry import register_policy

__all__ = ["TimelockConfig", "TimelockPolicy"]


@dataclass(frozen=True)
class TimelockConfig(MultisigConfig):
    """Config of multisig + timelock (Compound Timelock / Safe)."""

    delay_blocks: Blocks = param(
        14_400, lo=14_400, hi=216_000, doc="timelock delay: 2 d (min) … 30 d (max)"
    )
    grace_blocks: Blocks = param(100_800, lo=1, hi=10_000_000, doc="GRACE_PERIOD 14 d")
    guardian_body: str = param("guardians", doc="body whose members may cancel a queued action")
    auto_execute: bool = param(
        True, doc="execute at ETA; else a signer must call execute() within grace"
    )


@register_policy("timelock")
class TimelockPolicy(MultisigPolicy):
    """M-of-N signatures, then a 2–30 day timelock during which a guardian can cancel."""

    Config = TimelockConfig

    def seat_bodies(self) -> Mapping[str, BodySpec]:
        """The signers, then the guardians (only persons who name the guardian body: the
        design leaves the guardian optional)."""
        return {
            **super().seat_bodies(),
            self.config.guardian_body: BodySpec(
                0, "actors", "guardians: may cancel a queued action"
            ),
        }

    def vetoers(self, gs: GovState, ref: Referendum) -> tuple[str, ...]:
        """A guardian, while the action is queued."""
        return gs.seat(self.config.guardian_body) if ref.state == RefState.APPROVED else ()

    def _check_canceller(self, gs: GovState, ref: Referendum, actor: str) -> None:
        if actor not in gs.seat(self.config.guardian_body):
            raise GovernanceError(f"{actor!r} may not cancel: not a guardian")

    def execute(self, gs: GovState, actor: str, pid: int, block: Blocks) -> GovState:
        """Trigger a queued action between its ETA and ETA + grace (``auto_execute=False``)."""
        gs = self._sync(gs, block)
        ref = gs.ref(pid)
        if actor not in gs.seat(self.config.body):
            raise GovernanceError(f"{actor!r} may not execute: not a signer")
        if ref.state != RefState.APPROVED or ref.scheduled is None or block < ref.scheduled:
            raise GovernanceError(
                f"referendum {pid} is not executable at {block} ({ref.state.value})"
            )
        return self._enact(gs, ref, block)

    def _run_scheduled(self, gs: GovState, now: Blocks) -> GovState:
        if self.config.auto_execute:
            return super()._run_scheduled(gs, now)
        for ref in gs.active():
            if (
                ref.state == RefState.APPROVED
                and ref.scheduled is not None
                and ref.scheduled + self.config.grace_blocks < now
            ):
                stale = replace(ref, decided=ref.decided)
                gs = self._close(
                    gs, stale, RefState.EXPIRED, ref.scheduled + self.config.grace_blocks, "expired"
                )
        return gs

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """n − k + 1 signers refusing, or one guardian cancelling."""
        paths = list(super().block_paths(gs))
        guardians = gs.seat(self.config.guardian_body)
        if guardians:
            paths.append(
                Path(
                    "guardian_cancel", (count_requirement(self.config.guardian_body, guardians, 1),)
                )
            )
        return tuple(paths)

    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """The timelock delay (2–30 d)."""
        return self.config.delay_blocks
