"""``cosmos``: Cosmos SDK ``x/gov`` (``cosmos-sdk`` ``x/gov/types/v1/params.go`` @ ``0c10dd0c``).

Stake-weighted votes Yes / No / NoWithVeto / Abstain, tallied at the end of the voting period
(2 d default; the Cosmos Hub used 14 d) against the bonded stake:

* quorum: voted / bonded ≥ 33.4 % (else rejected);
* veto: NoWithVeto / voted > 33.4 % → rejected (deposit burned);
* threshold: Yes / (voted − Abstain) > 50 % → passed, executed ``execution_delay`` later
  (the upgrade height).

Expedited proposals (``track="expedited"``): quorum 50 %, threshold 66.7 %, 1 d; a failing
expedited proposal becomes a regular one whose voting period runs from its start. The proposer
may cancel during voting (``proposal_cancel_ratio`` 0.5 of the deposit is burned). Delegators
inherit their validator's vote (``Electorate.delegations``) and override it by voting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    Vote,
)
from .config import PolicyConfigError, param
from .registry import register_policy

__all__ = ["CosmosConfig", "CosmosPolicy"]


@dataclass(frozen=True)
class CosmosConfig:
    """Config of Cosmos x/gov (defaults from ``params.go``)."""

    quorum: float = param(0.334, lo=0.0, hi=1.0, doc="Quorum 33.4 %")
    threshold: float = param(0.5, lo=0.0, hi=1.0, doc="Threshold 50 % of non-abstain")
    veto_threshold: float = param(0.334, lo=0.0, hi=1.0, doc="VetoThreshold 33.4 %")
    voting_period: int = param(
        14_400, lo=1, hi=100_000_000, doc="VotingPeriod 2 d (Hub: 14 d = 100 800)"
    )
    expedited_quorum: float = param(0.5, lo=0.0, hi=1.0, doc="expedited quorum 50 %")
    expedited_threshold: float = param(0.667, lo=0.0, hi=1.0, doc="ExpeditedThreshold 66.7 %")
    expedited_voting_period: int = param(
        7_200, lo=1, hi=100_000_000, doc="ExpeditedVotingPeriod 1 d"
    )
    execution_delay: int = param(
        1, lo=0, hi=100_000_000, doc="blocks from the end of voting to the upgrade height"
    )
    min_deposit: float = param(
        0.0, lo=0.0, doc="deposit the proposer must hold (TAO); deposit period not modelled"
    )
    proposal_cancel_ratio: float = param(
        0.5, lo=0.0, hi=1.0, doc="share of the deposit burned on proposer cancel"
    )

    def check(self) -> None:
        """Expedited must be faster than regular voting."""
        if self.expedited_voting_period >= self.voting_period:
            raise PolicyConfigError(
                f"expedited_voting_period: {self.expedited_voting_period} must be shorter than "
                f"voting_period={self.voting_period}"
            )


@register_policy("cosmos")
class CosmosPolicy(GovernancePolicy):
    """Stake vote: quorum 33.4 %, yes > 50 %, veto < 33.4 %, at the end of a 2-day period."""

    Config = CosmosConfig

    def paths(self, lever: Lever, *, urgent: bool) -> tuple[str | None, ...]:
        """Urgent matters go as expedited proposals first (1 d, 50 % quorum, 66.7 %)."""
        return ("expedited", None) if urgent else (None,)

    def voting_deadline(self, gs: GovState, ref: Referendum) -> Blocks | None:
        """The end of the voting period; an expedited proposal that fails falls back to a
        regular period from its submission, so votes count until that end."""
        return ref.submitted + self.config.voting_period

    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        if track not in (None, "regular", "expedited"):
            raise GovernanceError(f"cosmos has tracks 'regular' and 'expedited', not {track!r}")
        if (
            gs.electorate.stake(proposer) < self.config.min_deposit
            or gs.electorate.stake(proposer) <= 0
        ):
            raise GovernanceError(
                f"{proposer!r} cannot pay the deposit ({self.config.min_deposit})"
            )

    def _check_canceller(self, gs: GovState, ref: Referendum, actor: str) -> None:
        if actor != ref.proposer or ref.state != RefState.ONGOING:
            raise GovernanceError(f"{actor!r} may not cancel: only the proposer, during voting")

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks, track: str | None
    ) -> Referendum:
        expedited = track == "expedited"
        period = self.config.expedited_voting_period if expedited else self.config.voting_period
        return Referendum(
            pid, proposer, lever, track or "regular", RefState.ONGOING, block, block + period
        )

    @staticmethod
    def effective_votes(gs: GovState, ref: Referendum) -> dict[str, Vote]:
        """Each staker's counted vote: its own, else its validator's (delegators override)."""
        own = ref.latest_votes()
        out = dict(own)
        for delegator, validator in gs.electorate.delegations.items():
            if delegator not in own and validator in own:
                out[delegator] = replace(own[validator], voter=delegator)
        return out

    def outcome(self, gs: GovState, ref: Referendum, expedited: bool) -> str:
        """``"pass"``, ``"veto"``, ``"no_quorum"`` or ``"fail"`` for the current votes."""
        stakes = gs.electorate.stakes
        votes = self.effective_votes(gs, ref).values()
        yes = sum(stakes.get(v.voter, 0.0) for v in votes if v.aye)
        abstain = sum(stakes.get(v.voter, 0.0) for v in votes if v.abstain)
        veto = sum(stakes.get(v.voter, 0.0) for v in votes if v.veto)
        voted = sum(stakes.get(v.voter, 0.0) for v in votes)
        bonded = gs.electorate.total_stake
        quorum = self.config.expedited_quorum if expedited else self.config.quorum
        threshold = self.config.expedited_threshold if expedited else self.config.threshold
        if bonded <= 0 or voted <= 0 or voted / bonded < quorum:
            return "no_quorum"
        if veto / voted > self.config.veto_threshold:
            return "veto"
        non_abstain = voted - abstain
        if non_abstain > 0 and yes / non_abstain > threshold:
            return "pass"
        return "fail"

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        for ref in gs.active():
            if ref.state != RefState.ONGOING or ref.deadline is None or ref.deadline > now:
                continue
            expedited = ref.track == "expedited"
            result = self.outcome(gs, ref, expedited)
            if result == "pass":
                gs = self._schedule(
                    gs, ref, ref.deadline, ref.deadline + self.config.execution_delay
                )
            elif expedited and result != "veto":
                # A failed expedited proposal converts to a regular one (votes carry over).
                longer = replace(
                    ref, track="regular", deadline=ref.submitted + self.config.voting_period
                )
                gs = self._put(gs, longer)
                if longer.deadline is not None and longer.deadline <= now:
                    gs = self._process(gs, now, rng)
            else:
                state = RefState.REJECTED
                gs = self._close(
                    gs,
                    ref.with_info(deposit_burned=float(result == "veto")),
                    state,
                    ref.deadline,
                    "rejected",
                )
        return self._run_scheduled(gs, now)

    def independent_parties(self, gs: GovState) -> dict[str, str]:
        """Delegators follow their validator unless they vote: by default one party with it."""
        return dict(gs.electorate.delegations)

    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """The expedited voting period plus the execution delay (1 d + 1 block)."""
        return self.config.expedited_voting_period + self.config.execution_delay

    def _stake_req(self, gs: GovState, fraction: float, strict: bool) -> Requirement:
        stakes = gs.electorate.stakes
        ms = tuple(sorted(w for w in stakes if stakes[w] > 0))
        ws = tuple(stakes[m] for m in ms)
        return Requirement("stake", ms, ws, fraction * sum(ws), strict=strict)

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """Unopposed: a quorum of Yes (33.4 %; expedited 50 %)."""
        d = self.config.execution_delay
        return (
            Path(
                "regular",
                (self._stake_req(gs, self.config.quorum, False),),
                self.config.voting_period + d,
            ),
            Path(
                "expedited",
                (self._stake_req(gs, self.config.expedited_quorum, False),),
                self.config.expedited_voting_period + d,
            ),
        )

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """NoWithVeto from more than 33.4 % of the stake (with everyone else voting Yes)."""
        return (Path("veto", (self._stake_req(gs, self.config.veto_threshold, True),)),)
