"""``multisig``: k-of-n signers, executed the block after the k-th signature (the status quo).

The April 2026 sudo key is, per the subtensor governance README, a "sudo-based triumvirate
multisig"; its threshold k is not public (``n = 3`` per Covenant's statement, so ``k`` is a
parameter). ``signer_correlation`` is the correlation between signers' intents used by the actor
model and the key-control metric: perfectly correlated signers count as one independent party.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

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
from .config import PolicyConfigError, param
from .registry import register_policy

__all__ = ["MultisigConfig", "MultisigPolicy"]


@dataclass(frozen=True)
class MultisigConfig:
    """Config of a k-of-n multisig (defaults: the status-quo 3-signer key, k unknown → 2)."""

    k: int = param(2, lo=1, hi=64, doc="signatures needed (not public for the sudo multisig)")
    n: int = param(3, lo=1, hi=64, doc="number of signers (3 per Covenant's statement)")
    body: str = param("signers", doc="electorate body holding the signers")
    delay_blocks: Blocks = param(
        1,
        lo=0,
        hi=10_000_000,
        doc="blocks from the k-th signature to execution (pallet_sudo: next block)",
    )
    expiry_blocks: Blocks | None = param(
        None, lo=1, doc="blocks after which an unsigned proposal expires (None: never)"
    )
    signer_correlation: float = param(
        0.0, lo=0.0, hi=1.0, doc="correlation of signers' intents (1: one party)"
    )
    proposer_signs: bool = param(
        True, doc="the proposer's submission counts as its signature (Safe)"
    )

    def check(self) -> None:
        """Cross-field rule: k <= n."""
        if self.k > self.n:
            raise PolicyConfigError(f"k: {self.k} signatures cannot exceed n={self.n} signers")


@register_policy("multisig")
class MultisigPolicy(GovernancePolicy):
    """k-of-n signers; executes ``delay_blocks`` after the k-th signature; no veto."""

    Config = MultisigConfig

    def seat_bodies(self) -> Mapping[str, BodySpec]:
        """The ``n`` signers, the first ``n`` persons of the roster."""
        return {
            self.config.body: BodySpec(self.config.n, "actors", "signers: proposing is signing")
        }

    def _choose_seats(
        self, electorate: Electorate, block: Blocks, gs: GovState | None
    ) -> dict[str, tuple[str, ...]]:
        seats = dict(electorate.bodies)
        signers = electorate.body(self.config.body)
        if len(signers) != self.config.n:
            raise GovernanceError(
                f"electorate.bodies[{self.config.body!r}]: expected n={self.config.n} signers, "
                f"got {len(signers)}"
            )
        return seats

    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        require_member(gs, self.config.body, proposer, "propose")

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks, track: str | None
    ) -> Referendum:
        signers = gs.seat(self.config.body)
        deadline = None if self.config.expiry_blocks is None else block + self.config.expiry_blocks
        ref = Referendum(
            pid,
            proposer,
            lever,
            "multisig",
            RefState.ONGOING,
            block,
            deadline,
            voters=signers,
            weights=tuple(1.0 for _ in signers),
        )
        if self.config.proposer_signs:
            from .base import Vote

            ref = replace(ref, votes=(Vote(proposer, pid, True, block),))
        return ref

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        cfg = self.config
        for ref in gs.active():
            if ref.state != RefState.ONGOING:
                continue
            t = self.tally(ref, gs.electorate, now)
            when = last_vote_block(ref.votes, ref.submitted)
            if (
                ref.deadline is not None
                and now > ref.deadline
                and when <= ref.deadline
                and t.aye_count < cfg.k
            ):
                gs = self._close(gs, ref, RefState.EXPIRED, ref.deadline, "expired")
            elif t.aye_count >= cfg.k:
                gs = self._schedule(gs, ref, when, when + cfg.delay_blocks)
            elif t.nay_count > cfg.n - cfg.k:
                gs = self._close(gs, ref, RefState.REJECTED, when, "rejected")
        return self._run_scheduled(gs, now)

    def independent_parties(self, gs: GovState) -> dict[str, str]:
        """Perfectly correlated signers (``signer_correlation = 1``) are one party."""
        if self.config.signer_correlation >= 1.0:
            return dict.fromkeys(gs.seat(self.config.body), f"{self.config.body}:correlated")
        return {}

    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """``delay_blocks`` (1 for sudo: the next block)."""
        return self.config.delay_blocks

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """k signers."""
        signers = gs.seat(self.config.body)
        return (
            Path(
                "signatures",
                (count_requirement(self.config.body, signers, self.config.k),),
                self.config.delay_blocks,
            ),
        )

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """n − k + 1 signers refusing to sign."""
        signers = gs.seat(self.config.body)
        need = self.config.n - self.config.k + 1
        return (Path("refuse", (count_requirement(self.config.body, signers, need),), 0),)
