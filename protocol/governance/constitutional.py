"""``constitutional``: the community's "#CONST" safety track (community "Constitutional OpenGov n Safety Track" posts, April–May 2026; comments on subtensor PR #2198).

Two chambers decide together: a **stake chamber** (root stake; passes with more Yes than No
stake and a turnout of at least ``stake_quorum``) and a **random jury** of ``jury_size`` drawn
from the ``"jury_pool"`` body (a majority of the whole jury). Votes run ``voting_period``
(3 d); a passed action then waits ``timelock`` (2 d) before it executes.

* **Time-limited suppression.** A lever that switches something off and can be undone
  (``inverse_lever``) lapses ``suppression_duration`` (30 d) after execution (``reverted`` event
  with the inverse lever) unless a re-vote of the same lever has executed meanwhile.
* **Appeal.** Within ``appeal_window`` (7 d) of execution anyone may ``appeal``; the jury votes
  for ``appeal_period`` (3 d) and a majority reverts the action (the appeal referendum executes
  the inverse lever).
* **Emergency pause.** ``emergency_k`` members of the ``"emergency"`` body can pause at once
  (``track="emergency"``, next block), but the pause lapses after ``emergency_duration`` (24 h,
  like safe mode) unless ratified by a normal vote.

The jury draw is deterministic given ``jury_seed`` and the referendum id (numpy
``SeedSequence``), so runs replay exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from protocol.levers import Lever
from protocol.units import Blocks

from ._common import last_vote_block
from .base import (
    BodySpec,
    GovernanceError,
    GovernancePolicy,
    GovEvent,
    GovState,
    Path,
    Referendum,
    RefState,
    Vote,
    count_requirement,
    inverse_lever,
    stake_requirement,
)
from .config import PolicyConfigError, param
from .registry import register_policy

__all__ = ["ConstitutionalConfig", "ConstitutionalPolicy"]


@dataclass(frozen=True)
class ConstitutionalConfig:
    """Config of the #CONST safety track (community proposal: values are design defaults)."""

    voting_period: int = param(21_600, lo=1, hi=100_000_000, doc="chamber vote 3 d")
    timelock: int = param(14_400, lo=0, hi=100_000_000, doc="timelock after passing 2 d")
    stake_quorum: float = param(0.2, lo=0.0, hi=1.0, doc="stake chamber turnout needed")
    jury_size: int = param(12, lo=1, hi=1_000, doc="random jury size")
    jury_seed: int = param(0, lo=0, doc="seed of the deterministic jury draw")
    suppression_duration: int = param(
        216_000, lo=1, hi=100_000_000, doc="a suppression lapses after 30 d unless re-voted"
    )
    appeal_window: int = param(50_400, lo=0, hi=100_000_000, doc="appeal within 7 d of execution")
    appeal_period: int = param(21_600, lo=1, hi=100_000_000, doc="jury appeal vote 3 d")
    emergency_k: int = param(2, lo=1, hi=100, doc="emergency pause signatures")
    emergency_duration: int = param(
        7_200, lo=1, hi=100_000_000, doc="emergency pause lapses after 24 h (safe-mode length)"
    )
    emergency_size: int = param(
        3, lo=1, hi=100, doc="members of the emergency body (the roster's first persons)"
    )

    def check(self) -> None:
        """Cross-field rule: the pause needs no more signatures than the body has."""
        if self.emergency_k > self.emergency_size:
            raise PolicyConfigError(
                f"emergency_k: {self.emergency_k} signatures cannot exceed "
                f"emergency_size={self.emergency_size}"
            )


@register_policy("constitutional")
class ConstitutionalPolicy(GovernancePolicy):
    """Two chambers (stake + random jury), timelock, time-limited suppression, appeal, emergency pause."""

    Config = ConstitutionalConfig

    def seat_bodies(self) -> Mapping[str, BodySpec]:
        """The emergency body from the roster; the jury pool: every stake holder."""
        return {
            "emergency": BodySpec(
                self.config.emergency_size, "actors", "emergency_k of them pause at once (24 h)"
            ),
            "jury_pool": BodySpec(0, "holders", "the random jury is drawn from it"),
        }

    def eligible_voters(self, gs: GovState, ref: Referendum) -> tuple[str, ...]:
        """On the normal track the jurors and every staker (the stake chamber) vote; appeals
        and pauses are their bodies' alone."""
        if ref.track != "normal":
            return ref.voters
        stakers = sorted(w for w, s in gs.electorate.stakes.items() if s > 0)
        return tuple(dict.fromkeys((*ref.voters, *stakers)))

    def paths(self, lever: Lever, *, urgent: bool) -> tuple[str | None, ...]:
        """An urgent, reversible matter goes as an emergency pause first (the pause lapses
        after 24 h unless ratified; the normal track follows)."""
        if urgent and inverse_lever(lever) is not None:
            return ("emergency", None)
        return (None,)

    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        if track == "emergency":
            if proposer not in gs.seat("emergency"):
                raise GovernanceError(f"{proposer!r} may not pause: not in the emergency body")
            if inverse_lever(lever) is None:
                raise GovernanceError(f"an emergency pause must be reversible; {lever.kind} is not")
        elif track not in (None, "normal"):
            raise GovernanceError(
                f"constitutional tracks are 'normal' and 'emergency', not {track!r}"
            )
        elif gs.electorate.stake(proposer) <= 0 and proposer not in gs.seat("emergency"):
            raise GovernanceError(f"{proposer!r} has no stake to propose")

    def draw_jury(self, gs: GovState, pid: int) -> tuple[str, ...]:
        """The jury of referendum ``pid``: ``jury_size`` members of ``jury_pool`` without replacement."""
        pool = tuple(sorted(gs.seat("jury_pool")))
        if not pool:
            raise GovernanceError("electorate.bodies['jury_pool'] is empty: no jury can be drawn")
        rng = np.random.default_rng(np.random.SeedSequence([self.config.jury_seed, pid]))
        k = min(self.config.jury_size, len(pool))
        return tuple(pool[i] for i in sorted(rng.choice(len(pool), size=k, replace=False)))

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks, track: str | None
    ) -> Referendum:
        if track == "emergency":
            body = gs.seat("emergency")
            # Proposing a pause is the proposer's own signature.
            return Referendum(
                pid,
                proposer,
                lever,
                "emergency",
                RefState.ONGOING,
                block,
                block + self.config.emergency_duration,
                voters=body,
                weights=tuple(1.0 for _ in body),
                votes=(Vote(proposer, pid, True, block),),
            )
        jury = self.draw_jury(gs, pid)
        return Referendum(
            pid,
            proposer,
            lever,
            "normal",
            RefState.ONGOING,
            block,
            block + self.config.voting_period,
            voters=jury,
            weights=tuple(1.0 for _ in jury),
        )

    def _check_voter(self, gs: GovState, ref: Referendum, voter: str) -> None:
        if ref.track == "normal" and voter not in ref.voters and gs.electorate.stake(voter) <= 0:
            raise GovernanceError(f"{voter!r} is neither a juror nor a staker")
        if ref.track != "normal" and voter not in ref.voters:
            raise GovernanceError(f"{voter!r} has no vote on {ref.track} referendum {ref.pid}")

    def appeal(self, gs: GovState, appellant: str, pid: int, block: Blocks) -> tuple[GovState, int]:
        """Appeal executed action ``pid`` within the appeal window; returns the appeal's id."""
        gs = self._sync(gs, block)
        ref = gs.ref(pid)
        undo = inverse_lever(ref.lever)
        if (
            ref.state != RefState.ENACTED
            or ref.executed is None
            or ref.get("lapsed")
            or undo is None
        ):
            raise GovernanceError(f"referendum {pid} has no reversible action in force to appeal")
        if block > ref.executed + self.config.appeal_window:
            raise GovernanceError(
                f"appeal window closed at {ref.executed + self.config.appeal_window}"
            )
        new = len(gs.referenda)
        jury = self.draw_jury(gs, new)
        appeal = Referendum(
            new,
            appellant,
            undo,
            "appeal",
            RefState.ONGOING,
            block,
            block + self.config.appeal_period,
            voters=jury,
            weights=tuple(1.0 for _ in jury),
            parent=None,
        ).with_info(appeal_of=float(pid))
        gs = replace(gs, referenda=(*gs.referenda, appeal))
        return self._settle(gs, block), new

    # ----------------------------------------------------------------- settlement
    def _chambers_pass(self, gs: GovState, ref: Referendum) -> bool:
        votes = ref.latest_votes()
        jury = set(ref.voters)
        jury_ayes = sum(1 for v in votes.values() if v.voter in jury and v.aye)
        jury_ok = jury_ayes >= len(jury) // 2 + 1
        if ref.track == "appeal":
            return jury_ok
        stakes = gs.electorate.stakes
        yes = sum(stakes.get(v.voter, 0.0) for v in votes.values() if v.aye)
        no = sum(stakes.get(v.voter, 0.0) for v in votes.values() if not v.aye and not v.abstain)
        turnout = sum(stakes.get(v.voter, 0.0) for v in votes.values())
        total = gs.electorate.total_stake
        stake_ok = total > 0 and turnout / total >= self.config.stake_quorum and yes > no
        return jury_ok and stake_ok

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        c = self.config
        for ref in gs.active():
            if ref.state != RefState.ONGOING:
                continue
            assert ref.deadline is not None
            if ref.track == "emergency":
                t = self.tally(ref, gs.electorate, now)
                if t.aye_count >= c.emergency_k:
                    when = last_vote_block(ref.votes, ref.submitted)
                    gs = self._schedule(
                        gs, ref.with_info(lasts=float(c.emergency_duration)), when, when + 1
                    )
                elif now >= ref.deadline:
                    gs = self._close(gs, ref, RefState.EXPIRED, ref.deadline, "expired")
                continue
            if now < ref.deadline:
                continue
            if self._chambers_pass(gs, ref):
                delay = 0 if ref.track == "appeal" else c.timelock
                gs = self._schedule(gs, ref, ref.deadline, ref.deadline + delay)
            else:
                gs = self._close(gs, ref, RefState.REJECTED, ref.deadline, "rejected")
        gs = self._run_scheduled(gs, now)
        return self._lapse(gs, now)

    def _enact(self, gs: GovState, ref: Referendum, at: Blocks) -> GovState:
        gs = super()._enact(gs, ref, at)
        ref = gs.ref(ref.pid)
        if ref.track == "appeal":
            # A successful appeal ends the appealed action now.
            target = gs.ref(int(ref.get("appeal_of")))
            return self._put(gs, target.with_info(lapsed=1.0, overturned=float(at)))
        if inverse_lever(ref.lever) is not None:
            lasts = ref.get("lasts", float(self.config.suppression_duration))
            ref = ref.with_info(lapses_at=float(at + int(lasts)))
            gs = self._put(gs, ref)
            # A re-vote of the same lever renews: the earlier grant no longer lapses on its own.
            for old in gs.referenda[: ref.pid]:
                if (
                    old.state == RefState.ENACTED
                    and old.lever == ref.lever
                    and not old.get("lapsed")
                ):
                    gs = self._put(gs, old.with_info(lapsed=1.0, renewed_by=float(ref.pid)))
        return gs

    def _lapse(self, gs: GovState, now: Blocks) -> GovState:
        for ref in gs.referenda:
            if (
                ref.state != RefState.ENACTED
                or ref.get("lapsed")
                or "lapses_at" not in dict(ref.info)
            ):
                continue
            at = int(ref.get("lapses_at"))
            if at <= now:
                gs = self._put(gs, ref.with_info(lapsed=1.0))
                gs = self._emit(
                    gs,
                    GovEvent("reverted", ref.pid, at, inverse_lever(ref.lever), RefState.ENACTED),
                )
        return gs

    # ----------------------------------------------------------------- analysis
    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """Voting period + timelock (5 d); only a reversible pause is faster (next block, 24 h)."""
        if inverse_lever(lever) is not None:
            return 1
        return self.config.voting_period + self.config.timelock

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """Both chambers (stake quorum unopposed + jury majority), or an emergency pause."""
        c = self.config
        stakes = {w: s for w, s in gs.electorate.stakes.items() if s > 0}
        pool = gs.seat("jury_pool")
        jury_need = min(c.jury_size, len(pool)) // 2 + 1
        paths = [
            Path(
                "chambers",
                (
                    stake_requirement("stake", stakes, c.stake_quorum, strict=False),
                    # Any jury drawn from the pool: capturing it needs a majority of the draw, i.e. at
                    # worst pool − jury + majority members of the pool.
                    count_requirement(
                        "jury_pool",
                        pool,
                        max(0, len(pool) - min(c.jury_size, len(pool))) + jury_need,
                    ),
                ),
                c.voting_period + c.timelock,
            )
        ]
        if gs.seat("emergency"):
            paths.append(
                Path(
                    "emergency_pause",
                    (count_requirement("emergency", gs.seat("emergency"), c.emergency_k),),
                    1,
                )
            )
        return tuple(paths)

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """No stake equal to the Yes side (> 50 % of stake), or a jury minority that denies a majority."""
        c = self.config
        stakes = {w: s for w, s in gs.electorate.stakes.items() if s > 0}
        pool = gs.seat("jury_pool")
        k = min(c.jury_size, len(pool))
        block_jury = k - (k // 2 + 1) + 1
        return (
            Path("stake_no", (stake_requirement("stake", stakes, 0.5, strict=False),)),
            Path(
                "jury_no",
                (count_requirement("jury_pool", pool, max(0, len(pool) - k) + block_jury),),
            ),
        )

    def voting_power(self, gs: GovState) -> dict[str, float]:
        """Stake per staker (the jury is random, one vote per juror)."""
        return {w: s for w, s in gs.electorate.stakes.items() if s > 0}
