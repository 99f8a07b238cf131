"""The governance desk: the policy, its state and its seats, wired to the model.

The policy (``protocol.governance``) decides *when* a lever executes; the seats
(``sim.agents.governors.Governor``) and stake holders decide *how to vote*; this desk keeps the
policy's state and runs the paperwork between them:

1. :meth:`GovernanceDesk.propose` files a lever for an actor with an intent (the first seat,
   or outsider with stake, that the policy lets propose it) and records its
   :class:`ProposalMeta`;
2. every referendum the policy opens (children of two-stage policies too) gets its votes
   scheduled on the model's event queue: seats after ``vote_delay_blocks``, holders after
   ``holder_vote_delay_blocks``; :meth:`GovernanceDesk.cast_votes` lets them decide
   (``protocol.governance.actors.decide_votes``) and submits the ballots;
3. :meth:`GovernanceDesk.advance` brings the policy to the model's block; each executed or
   reverted lever is applied to the economy (``apply_lever``), priced by the market
   (``sim.market.intervention_severity``) and handed to the model as an :class:`Executed`, so
   the market, holders and running thefts react; a time-limited lever schedules its reversal.

Erring seats file false positives at ``governance.error_rate_per_year`` (scheduled at the
start from the governance stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from protocol import economy
from protocol.economy.state import EconomyParams, NetworkState
from protocol.governance import (
    ACTIVE_STATES,
    Electorate,
    GovernanceError,
    GovernancePolicy,
    GovState,
    SubnetInfo,
    inverse_lever,
)
from protocol.governance.actors import (
    Actor,
    DecisionContext,
    cast_votes,
    decide_votes,
    independence_groups,
)
from protocol.levers import Lever, TokenSale, lever_targets
from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim import chain
from sim.config import SimConfig
from sim.market import intervention_severity

if TYPE_CHECKING:
    from sim.agents.governors import Governor

__all__ = ["Executed", "GovernanceDesk", "GovernanceHost", "ProposalMeta"]

#: Intents that vote for their faction's proposals (and count its targets as rivals).
_FACTION = frozenset({"self_interested", "captured"})
#: Policy events that settle a referendum one way or the other.
_DECISIONS = frozenset(
    {"approved", "fast_tracked", "rejected", "expired", "cancelled", "killed", "executed"}
)


class GovernanceHost(Protocol):
    """What the governance desk reads and calls on its model."""

    config: SimConfig
    block: int
    state: NetworkState
    params: EconomyParams

    def schedule(self, block: int, handler: str, *, priority: int = 0, **args: Any) -> None: ...

    def log_event(self, kind: str, **info: Any) -> None: ...

    def react(self, executed: Executed) -> None: ...


@dataclass(frozen=True)
class ProposalMeta:
    """What the model knows about a proposal beyond the policy's referendum.

    The blocks trace a proposal's life: when its need was noticed, when it was filed, when the
    policy settled it and when it took effect (None until it happens, or when it never does).

    Attributes
    ----------
    pid
        The referendum id (children of two-stage policies get their own, same metadata).
    lever
        What it would do.
    intent
        The proposing actor's intent (decides how the faction votes).
    justified
        Ground truth: whether the action is warranted (for the FP/FN metrics).
    proposed_block
        When it was filed.
    duration_days
        How long it lasts before its reversal is proposed (None: until undone).
    exploit_id
        The exploit a halt answers, if any.
    reversal
        True when it undoes an earlier lever.
    targets
        Subnets it acts on (``protocol.levers.lever_targets``).
    detected_block
        When the actor noticed what it answers (an exploit, a scam, a false alarm); None for
        decisions that answer no detection.
    decided_block
        When the policy first settled it (approved, fast-tracked, rejected, expired,
        cancelled, killed, or executed straight away).
    executed_block
        When it executed.
    """

    pid: int
    lever: Lever
    intent: str
    justified: bool
    proposed_block: int
    duration_days: float | None = None
    exploit_id: int | None = None
    reversal: bool = False
    targets: tuple[int, ...] = field(default_factory=tuple)
    detected_block: int | None = None
    decided_block: int | None = None
    executed_block: int | None = None


@dataclass(frozen=True)
class Executed:
    """A lever that took effect, as the rest of the model reacts to it.

    Attributes
    ----------
    lever
        The lever applied (for a reversal, the inverse lever).
    block
        When it executed.
    targets
        Subnets it acts on.
    severity
        How alarming the market finds it (``sim.market.intervention_severity``; 0 for
        reversals and sales).
    tao_raised
        TAO a token sale raised on the market (TAO; 0 for other levers).
    """

    lever: Lever
    block: int
    targets: tuple[int, ...]
    severity: float
    tao_raised: float = 0.0


class GovernanceDesk:
    """The policy, its state and its seats, wired to the model.

    Parameters
    ----------
    host
        The model (economy state, clock, event queue, reactions).
    policy
        The governance policy (``sim.build.governance_policy``).
    governors
        The seats (``sim.build.governors``).
    rng
        The run's governance stream.

    Raises
    ------
    ValueError
        Naming ``governance.actors`` when the policy refuses the seats it is given.
    """

    def __init__(
        self,
        host: GovernanceHost,
        policy: GovernancePolicy,
        governors: list[Governor],
        rng: np.random.Generator,
    ) -> None:
        self.host = host
        self.policy = policy
        self.governors = governors
        self.rng = rng
        self.meta: dict[int, ProposalMeta] = {}
        self._seen = 0
        self._pending_events: tuple[Any, ...] = ()
        try:
            self.gs: GovState = policy.init(host.block, self.electorate())
        except GovernanceError as exc:
            raise ValueError(
                f"governance.actors: {exc} (policy {host.config.governance.policy!r})"
            ) from exc
        self._schedule_erring_proposals()

    # ------------------------------------------------------------------ electorate
    def electorate(self) -> Electorate:
        """Stakes (TAO value per account), seat bodies and subnets of the network now."""
        st = self.host.state
        prices = chain.alpha_prices(st)
        alpha = chain.account_alpha(st) / RAO_PER_TAO
        value = (
            st.balances.numpy() / RAO_PER_TAO + st.root_stake.numpy() / RAO_PER_TAO + alpha @ prices
        )
        names = st.account_names
        stakes: dict[str, float] = {}
        holders = [i for i, nm in enumerate(names) if nm.startswith(("validator", "staker"))]
        for i in holders:
            if value[i] > 0:
                stakes[names[i]] = float(value[i])
        bodies: dict[str, list[str]] = {}
        for g in self.governors:
            bodies.setdefault(g.body, []).append(g.name)
            stakes[g.name] = stakes.get(g.name, 0.0) + g.weight
        subnets = tuple(
            SubnetInfo(
                netuid=s,
                owner=names[int(st.owner_account[s])],
                registered_block=int(st.registered_block[s]),
                moving_price=float(st.moving_price[s]),
            )
            for s in range(st.n_subnets)
            if bool(st.active[s])
        )
        return Electorate(
            stakes=stakes,
            bodies={k: tuple(v) for k, v in bodies.items()},
            subnets=subnets,
            root=self._root_name(),
            total_issuance=float(st.total_issuance) / RAO_PER_TAO,
        )

    def _root_name(self) -> str:
        for g in self.governors:
            if g.body in ("sudo", "signers", "triumvirate"):
                return g.name
        return "root"

    def refresh_electorate(self) -> None:
        """Give the policy fresh stakes and subnets (daily)."""
        self.gs = self.policy.update_electorate(
            self.gs, self.electorate(), max(self.host.block, self.gs.block)
        )
        self._discover()

    def parties(self) -> dict[str, str]:
        """Seat -> independent party (perfectly correlated bodies count as one party)."""
        return dict(
            independence_groups(
                [g.actor() for g in self.governors], self.host.config.governance.correlation
            )
        )

    # ------------------------------------------------------------------ proposals
    def _proposer_for(self, lever: Lever, intent: str, justified: bool) -> str | None:
        """Who files the proposal: a seat with the intent; for a warranted action any seat.

        An unwarranted move needs a seat holder who wants it: if no seat has that intent, only
        open policies (anyone with stake may propose) let an outsider with stake try.
        """
        seats = [g.name for g in self.governors if g.intent == intent]
        if justified:
            seats += [g.name for g in self.governors if g.intent != intent]
        stakes = self.gs.electorate.stakes
        seat_names = {g.name for g in self.governors}
        outsiders = sorted(
            (k for k in stakes if k not in seat_names), key=lambda k: (-stakes[k], k)
        )
        for name in [*seats, *outsiders]:
            if self.policy.can_propose(self.gs, name, lever):
                return name
        return None

    def propose(
        self,
        lever: Lever,
        *,
        intent: str,
        justified: bool,
        duration_days: float | None,
        exploit_id: int | None = None,
        reversal: bool = False,
        detected_block: int | None = None,
    ) -> int | None:
        """File ``lever`` on behalf of an actor with ``intent``; None if nobody may propose it."""
        host = self.host
        self.gs, _ = self._advance_to(host.block)
        proposer = self._proposer_for(lever, intent, justified)
        if proposer is None:
            host.log_event(
                "proposal_refused",
                lever=lever.kind,
                intent=intent,
                justified=justified,
                reason=f"no actor may propose under {self.policy.name}",
            )
            return None
        try:
            self.gs, pid = self.policy.propose(self.gs, proposer, lever, host.block)
        except GovernanceError as exc:
            host.log_event("proposal_refused", lever=lever.kind, intent=intent, reason=str(exc))
            return None
        targets = lever_targets(lever)
        self.meta[pid] = ProposalMeta(
            pid=pid,
            lever=lever,
            intent=intent,
            justified=justified,
            proposed_block=host.block,
            duration_days=duration_days,
            exploit_id=exploit_id,
            reversal=reversal,
            targets=targets,
            detected_block=detected_block,
        )
        host.log_event(
            "proposed",
            pid=pid,
            lever=lever.kind,
            proposer=proposer,
            intent=intent,
            justified=justified,
            reversal=reversal,
            targets=list(targets),
        )
        self._discover()
        self._drain_events()
        return pid

    def open_proposals(self) -> list[ProposalMeta]:
        """Metadata of proposals that can still execute (public: stakers can react)."""
        return [self.meta[r.pid] for r in self.gs.active() if r.pid in self.meta]

    def _discover(self) -> None:
        """Register referenda opened since the last look (children of two-stage policies too)."""
        while self._seen < len(self.gs.referenda):
            ref = self.gs.referenda[self._seen]
            if ref.pid not in self.meta and ref.parent is not None and ref.parent in self.meta:
                self.meta[ref.pid] = replace(self.meta[ref.parent], pid=ref.pid)
            if ref.pid in self.meta:
                self._schedule_votes(ref.pid)
            self._seen += 1

    # ------------------------------------------------------------------ votes
    def _schedule_votes(self, pid: int) -> None:
        host = self.host
        cfg = host.config.governance
        ref = self.gs.ref(pid)
        seat_names = {g.name for g in self.governors}
        seat_voters = [v for v in ref.voters if v in seat_names] if ref.voters else []
        others = [v for v in ref.voters if v not in seat_names] if ref.voters else []
        if not ref.voters:
            others = sorted(self.gs.electorate.stakes)
        if seat_voters:
            host.schedule(
                host.block + cfg.vote_delay_blocks,
                "cast_votes",
                priority=2,
                pid=pid,
                voters=seat_voters,
            )
        if others:
            host.schedule(
                host.block + cfg.holder_vote_delay_blocks,
                "cast_votes",
                priority=3,
                pid=pid,
                voters=others,
            )

    def cast_votes(self, pid: int, voters: list[str]) -> None:
        """Let ``voters`` decide on referendum ``pid`` (``decide_votes``) and submit the ballots."""
        host = self.host
        cfg = host.config.governance
        meta = self.meta[pid]
        self.gs, _ = self._advance_to(host.block)
        ref = self.gs.ref(pid)
        if ref.state not in ACTIVE_STATES:
            return
        faction = meta.intent in _FACTION
        rivals = frozenset(meta.targets) if faction else frozenset()
        by_name = {g.name: g for g in self.governors}
        voted = ref.latest_votes()
        actors = [
            by_name[v].actor(rivals=rivals)
            if v in by_name
            else Actor(id=v, turnout=cfg.holder_turnout)  # stake holders: benevolent
            for v in voters
            if v not in voted
        ]
        context = DecisionContext(
            harmful=not meta.justified,
            block=host.block,
            target_netuid=meta.targets[0] if meta.targets else None,
            captor_wants=faction or meta.justified,
        )
        ballots = decide_votes(actors, ref, context, self.rng, correlation=cfg.correlation)
        self.gs = cast_votes(self.policy, self.gs, ballots)
        self._discover()
        self._drain_events()

    # ------------------------------------------------------------------ time and execution
    def _advance_to(self, block: int) -> tuple[GovState, tuple[Any, ...]]:
        gs, events = self.policy.advance(self.gs, max(block, self.gs.block), self.rng)
        self._pending_events = self._pending_events + events
        return gs, events

    def advance(self) -> None:
        """Bring governance to the model's block and apply what executed."""
        self.gs, _ = self._advance_to(self.host.block)
        self._discover()
        self._drain_events()

    def _drain_events(self) -> None:
        events = self._pending_events
        self._pending_events = ()
        for ev in events:
            meta = self.meta.get(ev.pid)
            if meta is not None:
                meta = self._note_progress(meta, ev.kind, ev.block)
            if ev.kind == "executed" and ev.lever is not None:
                self._execute(ev.lever, meta, ev.block)
            elif ev.kind == "reverted" and ev.lever is not None:
                self._execute(ev.lever, replace(meta, reversal=True) if meta else None, ev.block)
            else:
                self.host.log_event(
                    f"gov_{ev.kind}",
                    pid=ev.pid,
                    lever=ev.lever.kind if ev.lever is not None else "",
                    justified=bool(meta.justified) if meta else False,
                    intent=meta.intent if meta else "",
                )

    def _note_progress(self, meta: ProposalMeta, kind: str, block: int) -> ProposalMeta:
        """Record when a proposal was first decided and when it executed."""
        changes: dict[str, int] = {}
        if kind in _DECISIONS and meta.decided_block is None:
            changes["decided_block"] = block
        if kind == "executed" and meta.executed_block is None:
            changes["executed_block"] = block
        if not changes:
            return meta
        meta = replace(meta, **changes)
        self.meta[meta.pid] = meta
        return meta

    def _execute(self, lever: Lever, meta: ProposalMeta | None, executed_block: int) -> None:
        """Apply an executed lever to the economy; the market and agents react; log it."""
        host = self.host
        shares = chain.emission_shares(host.state, host.params)
        host.state, result = economy.apply_lever(host.state, lever, host.params)
        host.params = result.params
        justified = bool(meta.justified) if meta else False
        reversal = bool(meta.reversal) if meta else False
        targets = lever_targets(lever)
        severity = 0.0
        if not reversal:
            severity = intervention_severity(
                lever,
                emission_shares=shares,
                justified=justified,
                delay_blocks=executed_block - meta.proposed_block if meta else 0,
                cfg=host.config.market,
                duration_days=meta.duration_days if meta else None,
            )
        raised = result.tao_raised / RAO_PER_TAO if isinstance(lever, TokenSale) else 0.0
        host.react(Executed(lever, executed_block, targets, severity, max(raised, 0.0)))
        host.log_event(
            "executed",
            lever=lever.kind,
            lever_detail=lever.to_dict(),
            intent=meta.intent if meta else "",
            justified=justified,
            reversal=reversal,
            targets=list(targets),
            emission_share_hit=float(sum(shares[s] for s in targets if 0 <= s < len(shares))),
            severity=severity,
            proposed_block=meta.proposed_block if meta else executed_block,
            executed_block=executed_block,
            applied=result.applied,
            detail=result.detail,
        )
        if meta and meta.duration_days and not reversal:
            inverse = inverse_lever(lever)
            if inverse is not None:
                when = executed_block + round(meta.duration_days * BLOCKS_PER_DAY)
                host.schedule(
                    max(when, host.block), "reverse", lever=inverse.to_dict(), intent=meta.intent
                )

    # ------------------------------------------------------------------ erring seats
    def _schedule_erring_proposals(self) -> None:
        cfg = self.host.config
        erring = [g for g in self.governors if g.intent == "benevolent_erring"]
        if not erring or cfg.governance.error_rate_per_year <= 0:
            return
        years = cfg.horizon_days / 365.0
        n = self.rng.poisson(cfg.governance.error_rate_per_year * years * len(erring))
        for day in np.sort(self.rng.uniform(0.0, cfg.horizon_days, n)):
            netuid = int(self.rng.integers(cfg.network.n_subnets))
            self.host.schedule(round(day * BLOCKS_PER_DAY), "erroneous_proposal", netuid=netuid)
