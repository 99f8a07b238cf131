"""Governance actors: the seats of the chosen policy, with intents and correlation.

The policy (``protocol.governance``) decides *when* a lever executes; these agents decide *what*
to propose and *how to vote*. Each seat is a Mesa agent with an intent (governance.md §7.1):

``benevolent_competent``
    proposes halts against exploits and suspensions of scam subnets; votes for exactly the
    warranted actions;
``benevolent_erring``
    the same, but votes the wrong way with ``erring_error_probability`` and files false-positive
    proposals at ``error_rate_per_year``;
``self_interested`` / ``captured``
    votes for its faction's proposals (and for warranted ones).

Votes come from ``protocol.governance.actors.decide_votes``: seats of one body form a
correlation group (with probability ``governance.correlation`` a seat copies its group's
leader), so perfectly correlated signers act as one key; a self-interested seat counts the
targets of its faction's proposals as rivals.
Stake holders (validator and staker accounts) vote on stake-weighted referenda as
``benevolent_competent`` voters with ``holder_turnout``.

:class:`GovernanceDesk` is the model's glue: it builds the electorate, keeps the policy state,
files proposals, schedules votes on the model's event queue and hands executed levers to the
model (which applies them through ``protocol.economy.apply_lever``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from protocol.governance import (
    ACTIVE_STATES,
    Electorate,
    GovernanceError,
    GovernancePolicy,
    GovState,
    SubnetInfo,
    make_policy,
)
from protocol.governance.actors import Actor, DecisionContext, cast_votes, decide_votes
from protocol.levers import Lever
from protocol.units import RAO_PER_TAO
from sim.agents.events import EVENT_HANDLERS
from sim.config import ActorConfig, GovernanceConfig

if TYPE_CHECKING:
    from sim.model import GovSimModel, ProposalMeta

__all__ = ["INTENTS", "GovernanceDesk", "Governor", "main_body", "seat_bodies"]

INTENTS: tuple[str, ...] = (
    "benevolent_competent",
    "benevolent_erring",
    "self_interested",
    "captured",
)
_FACTION = frozenset({"self_interested", "captured"})

#: Seat bodies each built-in policy reads from the electorate (the first is the main body).
_POLICY_BODIES: dict[str, tuple[str, ...]] = {
    "v1_senate": ("triumvirate",),
    "v2_two_stage": ("triumvirate", "proposers"),
    "v2_1h_draft": ("triumvirate", "proposers"),
    "opengov": ("fellowship", "cancellers"),
}


def seat_bodies(policy: GovernancePolicy) -> dict[str, int]:
    """Seat bodies the policy needs filled and their sizes (0 = any size).

    Bodies named in the policy's config (``body``, ``guardian_body``) come first; known
    policies add their fixed bodies (triumvirate, proposers, fellowship...).
    """
    cfg = policy.config
    out: dict[str, int] = {}
    body = getattr(cfg, "body", None)
    if isinstance(body, str) and body:
        out[body] = int(getattr(cfg, "n", 0) or 0)
    for name in _POLICY_BODIES.get(policy.name, ()):
        size = int(getattr(cfg, f"{name}_size", 0) or 0)
        out.setdefault(name, size if name == "triumvirate" else 0)
    guardian = getattr(cfg, "guardian_body", None)
    if isinstance(guardian, str) and guardian:
        out.setdefault(guardian, 0)
    return out


def main_body(policy: GovernancePolicy) -> str | None:
    """The body whose seats propose and decide (None for pure stake or market policies)."""
    bodies = seat_bodies(policy)
    return next(iter(bodies), None)


class Governor(mesa.Agent):
    """One governance seat.

    Parameters
    ----------
    model
        The Mesa model.
    name
        The seat's name in the electorate.
    body
        The body it sits in.
    intent
        Its intent model.
    weight
        Its stake/vote weight (TAO-equivalent for stake-weighted policies).
    """

    def __init__(self, model: mesa.Model, name: str, body: str, intent: str, weight: float) -> None:
        super().__init__(model)
        if intent not in INTENTS:
            raise ValueError(f"governance.actors.intent: unknown intent {intent!r}")
        self.name = name
        self.body = body
        self.intent = intent
        self.weight = weight

    def actor(self, *, rivals: frozenset[int] = frozenset()) -> Actor:
        """This seat as a ``protocol.governance`` decider (its body is its correlation group)."""
        cfg: GovernanceConfig = self.model.config.governance
        return Actor(
            id=self.name,
            intent=self.intent,
            stake=self.weight,
            group=self.body,
            error_rate=cfg.erring_error_probability,
            rivals=rivals if self.intent == "self_interested" else frozenset(),
        )


class GovernanceDesk:
    """The policy, its state and its seats, wired to the model.

    Parameters
    ----------
    model
        The model (for the economy state, the event queue and applying levers).
    rng
        The run's governance stream.
    """

    def __init__(self, model: GovSimModel, rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        cfg = model.config.governance
        try:
            self.policy = make_policy(cfg.policy, dict(cfg.policy_config))
        except Exception as exc:  # RegistryError or PolicyConfigError: name the field
            raise ValueError(f"governance.policy: {exc}") from exc
        self.governors = self._make_seats(cfg.actors)
        self.meta: dict[int, ProposalMeta] = {}
        self._seen = 0
        self._pending_events: tuple[Any, ...] = ()
        try:
            self.gs: GovState = self.policy.init(model.block, self.electorate())
        except GovernanceError as exc:
            raise ValueError(f"governance.actors: {exc} (policy {cfg.policy!r})") from exc
        self._schedule_erring_proposals()

    # ------------------------------------------------------------------ seats and electorate
    def _make_seats(self, actors: tuple[ActorConfig, ...]) -> list[Governor]:
        bodies = seat_bodies(self.policy)
        main = main_body(self.policy)
        groups = list(actors)
        if not groups and main is not None:
            groups = [ActorConfig(count=max(bodies.get(main, 0), 1))]
        seats: list[Governor] = []
        counters: dict[str, int] = {}
        for group in groups:
            body = group.body or main or "signers"
            for _ in range(group.count):
                i = counters.get(body, 0)
                if bodies.get(body, 0) and i >= bodies[body]:
                    # A fixed-size body (a 1-key sudo, a 3-seat triumvirate) takes the first
                    # seats in the configured order, so one actor list serves every policy.
                    break
                counters[body] = i + 1
                name = f"{body}{i}"
                seats.append(Governor(self.model, name, body, group.intent, group.weight))
        # Fixed-size bodies the actors left short are topped up with competent seats.
        for body, size in bodies.items():
            while size and counters.get(body, 0) < size:
                i = counters.get(body, 0)
                counters[body] = i + 1
                seats.append(Governor(self.model, f"{body}{i}", body, "benevolent_competent", 1.0))
        # Proposers of a two-stage policy default to the triumvirs when not configured.
        if "proposers" in bodies and counters.get("proposers", 0) == 0:
            for g in [s for s in seats if s.body == "triumvirate"]:
                seats.append(
                    Governor(self.model, f"proposer_{g.name}", "proposers", g.intent, g.weight)
                )
        return seats

    def electorate(self) -> Electorate:
        """Stakes (TAO value per account), seat bodies and subnets of the network now."""
        model = self.model
        st = model.state
        prices = model.alpha_prices()
        alpha = model.account_alpha() / RAO_PER_TAO
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

    def _intent_of(self, name: str) -> str:
        for g in self.governors:
            if g.name == name:
                return g.intent
        return "benevolent_competent"

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
    ) -> int | None:
        """File ``lever`` on behalf of an actor with ``intent``; None if nobody may propose it."""
        from sim.model import ProposalMeta, _lever_targets

        model = self.model
        self.gs, _ = self._advance_to(model.block)
        proposer = self._proposer_for(lever, intent, justified)
        if proposer is None:
            model.log_event(
                "proposal_refused",
                lever=lever.kind,
                intent=intent,
                justified=justified,
                reason=f"no actor may propose under {self.policy.name}",
            )
            return None
        try:
            self.gs, pid = self.policy.propose(self.gs, proposer, lever, model.block)
        except GovernanceError as exc:
            model.log_event("proposal_refused", lever=lever.kind, intent=intent, reason=str(exc))
            return None
        self.meta[pid] = ProposalMeta(
            pid=pid,
            lever=lever,
            intent=intent,
            justified=justified,
            proposed_block=model.block,
            duration_days=duration_days,
            exploit_id=exploit_id,
            reversal=reversal,
            targets=_lever_targets(lever),
        )
        model.log_event(
            "proposed",
            pid=pid,
            lever=lever.kind,
            proposer=proposer,
            intent=intent,
            justified=justified,
            reversal=reversal,
            targets=list(_lever_targets(lever)),
        )
        self._discover()
        self._drain_events()
        return pid

    def _discover(self) -> None:
        """Register referenda opened since the last look (children of two-stage policies too)."""
        while self._seen < len(self.gs.referenda):
            ref = self.gs.referenda[self._seen]
            if ref.pid not in self.meta and ref.parent is not None and ref.parent in self.meta:
                from dataclasses import replace

                self.meta[ref.pid] = replace(self.meta[ref.parent], pid=ref.pid)
            if ref.pid in self.meta:
                self._schedule_votes(ref.pid)
            self._seen += 1

    def _schedule_votes(self, pid: int) -> None:
        cfg = self.model.config.governance
        ref = self.gs.ref(pid)
        seat_names = {g.name for g in self.governors}
        seat_voters = [v for v in ref.voters if v in seat_names] if ref.voters else []
        others = [v for v in ref.voters if v not in seat_names] if ref.voters else []
        if not ref.voters:
            others = sorted(self.gs.electorate.stakes)
        if seat_voters:
            self.model.schedule(
                self.model.block + cfg.vote_delay_blocks,
                "cast_votes",
                priority=2,
                pid=pid,
                voters=seat_voters,
            )
        if others:
            self.model.schedule(
                self.model.block + cfg.holder_vote_delay_blocks,
                "cast_votes",
                priority=3,
                pid=pid,
                voters=others,
            )

    def cast_votes(self, pid: int, voters: list[str]) -> None:
        """Let ``voters`` decide on referendum ``pid`` (``decide_votes``) and submit the ballots."""
        model = self.model
        cfg = model.config.governance
        meta = self.meta[pid]
        self.gs, _ = self._advance_to(model.block)
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
            block=model.block,
            target_netuid=meta.targets[0] if meta.targets else None,
            captor_wants=faction or meta.justified,
        )
        ballots = decide_votes(actors, ref, context, self.rng, correlation=cfg.correlation)
        self.gs = cast_votes(self.policy, self.gs, ballots)
        self._discover()
        self._drain_events()

    def parties(self) -> dict[str, str]:
        """Seat -> independent party (perfectly correlated bodies count as one party)."""
        from protocol.governance.actors import independence_groups

        return dict(
            independence_groups(
                [g.actor() for g in self.governors], self.model.config.governance.correlation
            )
        )

    def open_proposals(self) -> list[ProposalMeta]:
        """Metadata of proposals that can still execute (public: stakers can react)."""
        return [self.meta[r.pid] for r in self.gs.active() if r.pid in self.meta]

    # ------------------------------------------------------------------ time
    def _advance_to(self, block: int) -> tuple[GovState, tuple[Any, ...]]:
        gs, events = self.policy.advance(self.gs, max(block, self.gs.block), self.rng)
        self._pending_events = self._pending_events + events
        return gs, events

    def advance(self) -> None:
        """Bring governance to the model's block and apply what executed."""
        self.gs, _ = self._advance_to(self.model.block)
        self._discover()
        self._drain_events()

    def _drain_events(self) -> None:
        events = self._pending_events
        self._pending_events = ()
        for ev in events:
            meta = self.meta.get(ev.pid)
            if ev.kind == "executed" and ev.lever is not None:
                self.model.apply_executed(ev.lever, meta, ev.block)
            elif ev.kind == "reverted" and ev.lever is not None:
                from dataclasses import replace

                rev = replace(meta, reversal=True) if meta else None
                self.model.apply_executed(ev.lever, rev, ev.block)
            else:
                self.model.log_event(
                    f"gov_{ev.kind}",
                    pid=ev.pid,
                    lever=ev.lever.kind if ev.lever is not None else "",
                    justified=bool(meta.justified) if meta else False,
                    intent=meta.intent if meta else "",
                )

    def refresh_electorate(self) -> None:
        """Give the policy fresh stakes and subnets (daily)."""
        self.gs = self.policy.update_electorate(
            self.gs, self.electorate(), max(self.model.block, self.gs.block)
        )
        self._discover()

    # ------------------------------------------------------------------ erring seats
    def _schedule_erring_proposals(self) -> None:
        cfg = self.model.config
        erring = [g for g in self.governors if g.intent == "benevolent_erring"]
        if not erring or cfg.governance.error_rate_per_year <= 0:
            return
        years = cfg.horizon_days / 365.0
        n = self.rng.poisson(cfg.governance.error_rate_per_year * years * len(erring))
        for day in np.sort(self.rng.uniform(0.0, cfg.horizon_days, n)):
            netuid = int(self.rng.integers(cfg.network.n_subnets))
            self.model.schedule(round(day * 7_200), "erroneous_proposal", netuid=netuid)


@EVENT_HANDLERS.register("cast_votes")
def on_cast_votes(model: GovSimModel, *, pid: int, voters: list[str]) -> None:
    """Seats or holders vote on a referendum."""
    model.desk.cast_votes(pid, voters)


@EVENT_HANDLERS.register("erroneous_proposal")
def on_erroneous_proposal(model: GovSimModel, *, netuid: int) -> None:
    """A benevolent but erring seat moves against a healthy subnet (a false positive)."""
    from protocol.levers import lever_from_dict

    lever = lever_from_dict({"kind": model.config.governance.response_lever, "netuid": netuid})
    model.propose(lever, intent="benevolent_erring", justified=False, duration_days=None)
