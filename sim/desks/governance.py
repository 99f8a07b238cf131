"""The governance desk: the policy, its state and its persons, wired to the model.

The policy (``protocol.governance``) decides *when* a lever executes; persons and stake holders
judge each matter and decide *whether* to propose, vote aye or nay, or veto
(``protocol.governance.voters``); this desk keeps the policy's state and runs the paperwork:

1. :meth:`GovernanceDesk.propose` takes a **matter** (an exploit, a scam, an intervention, a
   false alarm, a reversal) and finds its proposer: the person who raised it, then roster
   persons in order, then stake holders by stake, whoever first may use one of the policy's
   tracks for it (:meth:`~protocol.governance.GovernancePolicy.paths`, fastest first) and
   believes it warranted;
2. every referendum the policy opens (children of two-stage policies too) gets each eligible
   voter's ballot scheduled on the model's event queue after that voter's own reaction time;
   a ballot that would come after the policy's :meth:`voting_deadline` is a missed vote;
   Root, guardians and cancellers (:meth:`vetoers`) act on their own judgement the same way;
3. :meth:`GovernanceDesk.advance` brings the policy to the model's block; each executed or
   reverted lever is applied to the economy (``apply_lever``), priced by the market
   (``sim.market.intervention_severity``) and handed to the model as an :class:`Executed`, so
   the market, holders and running thefts react; a time-limited lever schedules its reversal.

Every draw a person makes on a matter is keyed by (run seed, matter, person) and never by a
referendum id or the policy (``protocol.governance.voters.draw``), so the same persons hold the
same signals under every policy. False alarms are drawn per erring person at the start, from
generators keyed the same way. Each proposal's :class:`ProposalMeta` and each warranted or
harmful need's :class:`Case` record the blocks of detection, proposal, decision and execution
for the KPIs (``sim.governance_kpis``).
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
    Referendum,
    SubnetInfo,
    inverse_lever,
)
from protocol.governance.voters import (
    MATTER_KINDS,
    Draws,
    Matter,
    Person,
    draw,
    matter_rng,
    own_ballot,
)
from protocol.levers import Lever, TokenSale, lever_targets
from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim import chain
from sim.config import SimConfig
from sim.market import intervention_severity

if TYPE_CHECKING:
    from sim.agents.governors import Governor

__all__ = [
    "HOLDER_KEY_OFFSET",
    "Case",
    "Executed",
    "GovernanceDesk",
    "GovernanceHost",
    "ProposalMeta",
]

#: Stake holders' person keys start here (plus the account index), clear of roster positions.
HOLDER_KEY_OFFSET = 1_000_000
#: Policy events that settle a referendum one way or the other.
_DECISIONS = frozenset(
    {"approved", "fast_tracked", "rejected", "expired", "cancelled", "killed", "executed"}
)
#: Account-name prefixes of the economy's stake holders.
_HOLDER_PREFIXES = ("validator", "staker")


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
        The intent of whoever wanted it (decides the faction that may pay bribes).
    justified
        Ground truth: whether the action is warranted.
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
        When the need was noticed (an exploit, a scam, a false alarm; an intervention's day);
        None for reversals.
    decided_block
        When the policy first settled it (approved, fast-tracked, rejected, expired,
        cancelled, killed, or executed straight away); for a two-stage proposal, its last
        stage's decision.
    executed_block
        When it (or its child referendum) executed.
    matter
        The key of the matter it answers (``protocol.governance.voters.Matter.key``).
    proposer
        Who filed it.
    track
        The policy track it went on (None: the default track).
    root_pid
        The top-level referendum it belongs to (itself unless it is a child).
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
    matter: tuple[int, int, int] = (0, 0, 0)
    proposer: str = ""
    track: str | None = None
    root_pid: int | None = None


@dataclass
class Case:
    """One need governance should answer (or refuse), across all its proposals.

    An exploit is one case however many times persons look at it and propose a halt; a scam,
    an intervention and a false alarm are one case each.

    Attributes
    ----------
    kind
        ``"exploit"``, ``"scam"``, ``"intervention"`` or ``"false_alarm"``.
    warranted
        Ground truth.
    detected_block
        When it was noticed (the first look).
    proposals
        Proposals filed for it.
    executed_block
        When the first of them executed (None: never).
    """

    kind: str
    warranted: bool
    detected_block: int
    proposals: int = 0
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
    """The policy, its state and its persons, wired to the model.

    Parameters
    ----------
    host
        The model (economy state, clock, event queue, reactions).
    policy
        The governance policy (``sim.build.governance_policy``).
    governors
        The roster of persons, seated in the policy's bodies (``sim.build.governors``).
    rng
        The run's governance stream (the policy's own randomness, e.g. futarchy's noise).

    Raises
    ------
    ValueError
        Naming ``governance.actors`` when the policy refuses the seats it is given or a
        person's name is an account's.
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
        self.seed = int(host.config.seed)
        self.meta: dict[int, ProposalMeta] = {}
        self.cases: dict[tuple[int, int], Case] = {}
        self.bribes_paid_tao = 0.0
        self.missed_votes = 0
        self.false_alarms = 0
        self._persons: dict[str, Person] = {g.name: g.person for g in governors}
        self._roster = frozenset(self._persons)
        accounts = set(host.state.account_names)
        clash = sorted(set(self._persons) & accounts)
        if clash:
            raise ValueError(
                f"governance.actors.label: {clash[0]!r} is an account's name; choose another label"
            )
        self._matters: dict[tuple[int, int, int], Matter] = {}
        self._initiators: dict[tuple[int, int, int], str] = {}
        self._draws: dict[tuple[tuple[int, int, int], str], Draws] = {}
        self._decided: dict[tuple[tuple[int, int, int], str], bool] = {}
        self._veto_planned: set[tuple[int, str]] = set()
        self._vote_planned: set[tuple[int, str]] = set()
        self._seen = 0
        self._pending_events: tuple[Any, ...] = ()
        try:
            self.gs: GovState = policy.init(host.block, self.electorate())
        except GovernanceError as exc:
            raise ValueError(
                f"governance.actors: {exc} (policy {host.config.governance.policy!r})"
            ) from exc
        self._schedule_false_alarms()

    # ------------------------------------------------------------------ electorate
    def _holder_values(self) -> dict[str, float]:
        """TAO value of every validator and staker account with some (free + root + alpha)."""
        st = self.host.state
        prices = chain.alpha_prices(st)
        alpha = chain.account_alpha(st) / RAO_PER_TAO
        value = (
            st.view("balances") / RAO_PER_TAO + st.view("root_stake") / RAO_PER_TAO + alpha @ prices
        )
        return {
            name: float(value[i])
            for i, name in enumerate(st.account_names)
            if name.startswith(_HOLDER_PREFIXES) and value[i] > 0
        }

    def electorate(self) -> Electorate:
        """Stakes (TAO value per account and person), seat bodies and subnets of the network now.

        Roster bodies come from the persons' seats; ``"holders"`` bodies are the largest stake
        holders (all of them for size 0); Root is the roster's first person.
        """
        st = self.host.state
        names = st.account_names
        holders = self._holder_values()
        stakes = dict(holders)
        bodies: dict[str, list[str]] = {}
        for g in self.governors:
            stakes[g.name] = stakes.get(g.name, 0.0) + g.weight
            for body in g.seats:
                bodies.setdefault(body, []).append(g.name)
        ranked = sorted(holders, key=lambda k: (-holders[k], k))
        for body, spec in self.policy.seat_bodies().items():
            if spec.source == "holders":
                bodies[body] = ranked[: spec.size] if spec.size else ranked
        # whole-array reads once, as Python numbers (per-element tensor indexing costs ~µs each)
        owner_account = st.view("owner_account").tolist()
        registered_block = st.view("registered_block").tolist()
        moving_price = st.view("moving_price").tolist()
        active = st.view("active").tolist()
        subnets = tuple(
            SubnetInfo(
                netuid=s,
                owner=names[int(owner_account[s])],
                registered_block=int(registered_block[s]),
                moving_price=float(moving_price[s]),
            )
            for s in range(st.n_subnets)
            if bool(active[s])
        )
        return Electorate(
            stakes=stakes,
            bodies={k: tuple(v) for k, v in bodies.items()},
            subnets=subnets,
            root=self.governors[0].name,
            total_issuance=float(st.total_issuance) / RAO_PER_TAO,
        )

    def refresh_electorate(self) -> None:
        """Give the policy fresh stakes and subnets (daily)."""
        self.gs = self.policy.update_electorate(
            self.gs, self.electorate(), max(self.host.block, self.gs.block)
        )
        self._discover()

    def parties(self) -> dict[str, str]:
        """Person -> independent party: a person who always copies its leader (correlation 1)
        is one party with it."""
        return {
            p.id: (p.leader if p.leader is not None and p.correlation >= 1.0 else p.id)
            for p in self._persons.values()
        }

    # ------------------------------------------------------------------ persons and judgement
    def person(self, who: str) -> Person:
        """The :class:`Person` behind roster member or account ``who`` (stake holders and
        subnet owners get the ``[governance]`` holder defaults)."""
        found = self._persons.get(who)
        if found is not None:
            return found
        cfg = self.host.config.governance
        names = self.host.state.account_names
        index = names.index(who) if who in names else len(names)
        found = Person(
            id=who,
            key=HOLDER_KEY_OFFSET + index,
            accuracy=cfg.holder_accuracy
            if cfg.holder_accuracy is not None
            else cfg.signal_accuracy,
            bribe_price=cfg.holder_bribe_price_tao,
            turnout=cfg.holder_turnout,
            reaction_mean_blocks=float(cfg.holder_reaction_blocks),
            reaction_min_blocks=cfg.holder_vote_delay_blocks,
        )
        self._persons[who] = found
        return found

    def bribe_prices(self) -> dict[str, float | None]:
        """Bribe price of every roster person and stake holder (None: not for sale)."""
        who = dict.fromkeys((*self._roster, *self.gs.electorate.stakes))
        return {w: self.person(w).bribe_price for w in who}

    def first_with_intent(self, intent: str) -> str | None:
        """The first roster person with ``intent`` (None when nobody has it)."""
        return next((g.name for g in self.governors if g.intent == intent), None)

    def draws(self, matter: Matter, who: str) -> Draws:
        """``who``'s draws on ``matter`` (cached; the same under every policy)."""
        key = (matter.key, who)
        found = self._draws.get(key)
        if found is None:
            found = self._draws[key] = draw(self.seed, matter, self.person(who))
        return found

    def judged(self) -> dict[tuple[tuple[int, int, int], str], Draws]:
        """Every (matter key, person) drawn so far and its draws (for checks across policies)."""
        return dict(self._draws)

    def _own(self, matter: Matter, who: str, proposer: str) -> bool:
        # Whoever filed or raised a matter backs it.
        backs = who == proposer or who == self._initiators.get(matter.key)
        return own_ballot(self.person(who), matter, self.draws(matter, who), proposer=backs)

    def decide(self, matter: Matter, who: str, proposer: str, faction: str) -> bool:
        """``who``'s ballot on ``matter``: its leader's with its correlation, else its own; a
        nay on a faction's proposal flips to aye when the faction can pay its bribe price.
        Decided once per person and matter (a two-stage proposal's stages see the same)."""
        key = (matter.key, who)
        if key in self._decided:
            return self._decided[key]
        person = self.person(who)
        draws = self.draws(matter, who)
        aye = self._own(matter, who, proposer)
        initiator = self._initiators.get(matter.key)
        if who not in (proposer, initiator) and person.leader is not None and draws.copies(person):
            aye = self._own(matter, person.leader, proposer)
        price = person.bribe_price
        budget = self.host.config.governance.bribe_budget_tao - self.bribes_paid_tao
        if not aye and faction and price is not None and price <= budget:
            self.bribes_paid_tao += price
            aye = True
            self.host.log_event("bribe", person=who, price_tao=price, matter=list(matter.key))
        self._decided[key] = aye
        return aye

    def _candidates(self, initiator: str | None) -> list[str]:
        """Who may file a matter, in order: its initiator, the roster, stake holders by stake."""
        stakes = self.gs.electorate.stakes
        roster = [g.name for g in self.governors]
        on_roster = set(roster)
        holders = sorted((k for k in stakes if k not in on_roster), key=lambda k: (-stakes[k], k))
        out = [initiator] if initiator is not None else []
        return list(dict.fromkeys([*out, *roster, *holders]))

    # ------------------------------------------------------------------ proposals
    def propose(
        self,
        lever: Lever,
        *,
        matter: Matter,
        intent: str,
        initiator: str | None,
        duration_days: float | None,
        exploit_id: int | None = None,
        reversal: bool = False,
        detected_block: int | None = None,
    ) -> int | None:
        """File ``lever`` for ``matter``; None if nobody who may propose it wants to.

        The proposer is the first, track by track in the policy's order
        (:meth:`~protocol.governance.GovernancePolicy.paths`), of the initiator (who always
        wants it), the roster persons and the stake holders (who want it when their own
        judgement of the matter says aye) that the policy lets use that track.
        """
        host = self.host
        self.gs, _ = self._advance_to(host.block)
        self._matters[matter.key] = matter
        if initiator is not None:
            self._initiators[matter.key] = initiator
        case = self._case(matter, detected_block)
        tracks = self.policy.paths(lever, urgent=matter.urgent)
        chosen: tuple[str, str | None] | None = None
        for track in tracks:
            for who in self._candidates(initiator):
                if not self.policy.can_propose(self.gs, who, lever, track=track):
                    continue
                if who == initiator or self._own(matter, who, proposer=""):
                    chosen = (who, track)
                    break
            if chosen is not None:
                break
        if chosen is None:
            host.log_event(
                "proposal_refused",
                lever=lever.kind,
                intent=intent,
                justified=matter.warranted,
                reason=f"nobody who may propose it under {self.policy.name} wants it",
            )
            return None
        proposer, track = chosen
        try:
            self.gs, pid = self.policy.propose(self.gs, proposer, lever, host.block, track=track)
        except GovernanceError as exc:
            host.log_event("proposal_refused", lever=lever.kind, intent=intent, reason=str(exc))
            return None
        if case is not None:
            case.proposals += 1
        targets = lever_targets(lever)
        self.meta[pid] = ProposalMeta(
            pid=pid,
            lever=lever,
            intent=intent,
            justified=matter.warranted,
            proposed_block=host.block,
            duration_days=duration_days,
            exploit_id=exploit_id,
            reversal=reversal,
            targets=targets,
            detected_block=detected_block,
            matter=matter.key,
            proposer=proposer,
            track=track,
            root_pid=pid,
        )
        host.log_event(
            "proposed",
            pid=pid,
            lever=lever.kind,
            proposer=proposer,
            track=track or "",
            intent=intent,
            justified=matter.warranted,
            reversal=reversal,
            targets=list(targets),
        )
        self._discover()
        self._drain_events()
        return pid

    def _case(self, matter: Matter, detected_block: int | None) -> Case | None:
        kind = {v: k for k, v in MATTER_KINDS.items()}.get(matter.key[0], "")
        if kind not in ("exploit", "scam", "intervention", "false_alarm"):
            return None
        # An exploit's looks are one case; other matters are one case each.
        case_key = (
            (matter.key[0], matter.key[1])
            if kind == "exploit"
            else (matter.key[0], matter.key[1] * 1_000_003 + matter.key[2])
        )
        found = self.cases.get(case_key)
        if found is None:
            at = detected_block if detected_block is not None else self.host.block
            found = self.cases[case_key] = Case(kind, matter.warranted, at)
        return found

    def false_alarm(self, person: str, index: int, netuid: int, lever: Lever) -> int | None:
        """``person`` believes healthy subnet ``netuid`` is a scam and asks for ``lever``."""
        self.false_alarms += 1
        key = self.person(person).key
        matter = Matter(
            key=(MATTER_KINDS["false_alarm"], key, index), warranted=False, target=netuid
        )
        return self.propose(
            lever,
            matter=matter,
            intent="benevolent_erring",
            initiator=person,
            duration_days=None,
            detected_block=self.host.block,
        )

    def open_proposals(self) -> list[ProposalMeta]:
        """Metadata of proposals that can still execute (public: stakers can react)."""
        return [self.meta[r.pid] for r in self.gs.active() if r.pid in self.meta]

    def answering_exploit(self, exploit_id: int) -> bool:
        """Whether a halt answering exploit ``exploit_id`` is pending or has executed."""
        for pid, meta in self.meta.items():
            if meta.exploit_id != exploit_id:
                continue
            if meta.executed_block is not None or self.gs.ref(pid).state in ACTIVE_STATES:
                return True
        return False

    def rally(self, exploit_id: int, matter: Matter) -> None:
        """A new look at a running exploit: eligible voters who have not voted on a pending
        halt judge it afresh (``matter``: this look's evidence) and may vote now."""
        self._matters[matter.key] = matter
        for pid, meta in list(self.meta.items()):
            if meta.exploit_id != exploit_id or self.gs.ref(pid).state not in ACTIVE_STATES:
                continue
            self._schedule_votes(self.gs.ref(pid), matter)

    def _discover(self) -> None:
        """Register referenda opened since the last look (children of two-stage policies too)."""
        while self._seen < len(self.gs.referenda):
            ref = self.gs.referenda[self._seen]
            if ref.pid not in self.meta and ref.parent is not None and ref.parent in self.meta:
                parent = self.meta[ref.parent]
                self.meta[ref.pid] = replace(
                    parent, pid=ref.pid, decided_block=None, executed_block=None
                )
            if ref.pid in self.meta:
                self._schedule_votes(ref)
                self._schedule_vetoes(ref)
            self._seen += 1

    # ------------------------------------------------------------------ votes and vetoes
    def _schedule_votes(self, ref: Referendum, matter: Matter | None = None) -> None:
        """Each eligible voter's ballot at the poll's opening (or now, for a new look at the
        matter) plus its reaction time, unless that falls after the policy's voting deadline
        (a missed vote)."""
        meta = self.meta[ref.pid]
        if matter is None:
            matter = self._matters[meta.matter]
            opened = max(ref.submitted, self.gs.block)
        else:
            opened = max(self.host.block, self.gs.block)
        deadline = self.policy.voting_deadline(self.gs, ref)
        seated = self.host.config.governance.seated_holder_turnout
        voted = ref.latest_votes()
        for voter in self.policy.eligible_voters(self.gs, ref):
            if voter in voted or (ref.pid, voter) in self._vote_planned:
                continue
            person = self.person(voter)
            draws = self.draws(matter, voter)
            turnout = person.turnout
            if voter not in self._roster and voter in ref.voters:
                turnout = seated  # a stake holder holding a seat (Senate, collective, jury)
            if voter == meta.proposer:
                at = opened  # the proposer backs its proposal at once
            elif draws.turnout_uniform >= turnout:
                continue
            else:
                at = opened + draws.reaction_blocks(person)
            if deadline is not None and at > deadline:
                self.missed_votes += 1
                continue
            self._vote_planned.add((ref.pid, voter))
            self.host.schedule(
                max(at, self.host.block),
                "cast_vote",
                priority=2,
                pid=ref.pid,
                voter=voter,
                at=at,
                matter=matter.key,
            )

    def _schedule_vetoes(self, ref: Referendum) -> None:
        """Members who may stop ``ref`` alone do so, after their reaction time, when their
        judgement of the matter says nay."""
        if ref.state not in ACTIVE_STATES:
            return
        meta = self.meta[ref.pid]
        matter = self._matters[meta.matter]
        for actor in self.policy.vetoers(self.gs, ref):
            if (ref.pid, actor) in self._veto_planned or actor == meta.proposer:
                continue
            self._veto_planned.add((ref.pid, actor))
            if self.decide(matter, actor, meta.proposer, matter.faction):
                continue
            at = max(self.gs.block, ref.submitted) + self.draws(matter, actor).reaction_blocks(
                self.person(actor)
            )
            self.host.schedule(
                max(at, self.host.block), "veto", priority=2, pid=ref.pid, actor=actor, at=at
            )

    def cast_vote(
        self, pid: int, voter: str, at: int, matter_key: tuple[int, int, int] | None = None
    ) -> None:
        """``voter`` decides on referendum ``pid`` (by its judgement of ``matter_key``, the
        proposal's matter by default) and casts its ballot at block ``at`` (or now, if the
        policy's state has moved past it)."""
        block = max(at, self.gs.block)
        self.gs, _ = self._advance_to(block)
        ref = self.gs.ref(pid)
        meta = self.meta[pid]
        if ref.state not in ACTIVE_STATES:
            return
        matter = self._matters[matter_key if matter_key is not None else meta.matter]
        aye = self.decide(matter, voter, meta.proposer, matter.faction)
        try:
            self.gs = self.policy.vote(self.gs, voter, pid, aye, block)
        except GovernanceError:
            self.missed_votes += 1  # the poll closed before the ballot arrived
            return
        self._discover()
        self._drain_events()

    def veto(self, pid: int, actor: str, at: int) -> None:
        """``actor`` stops referendum ``pid`` (cancel, else kill) if it is still active."""
        block = max(at, self.gs.block)
        self.gs, _ = self._advance_to(block)
        if self.gs.ref(pid).state not in ACTIVE_STATES:
            return
        for act in (self.policy.cancel, self.policy.kill):
            try:
                self.gs = act(self.gs, actor, pid, block)
                break
            except GovernanceError:
                continue
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
                if ev.kind in ("approved", "fast_tracked"):
                    self._schedule_vetoes(self.gs.ref(ev.pid))
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
        """Record when a proposal (and its top-level proposal) was decided and executed."""
        for pid in dict.fromkeys((meta.pid, meta.root_pid)):
            if pid is None or pid not in self.meta:
                continue
            current = self.meta[pid]
            changes: dict[str, int] = {}
            if kind in _DECISIONS and current.decided_block is None:
                changes["decided_block"] = block
            if kind == "executed" and current.executed_block is None:
                changes["executed_block"] = block
            if changes:
                self.meta[pid] = replace(current, **changes)
        if kind == "executed" and not meta.reversal:
            case = self._case(self._matters[meta.matter], meta.detected_block)
            if case is not None and case.executed_block is None:
                case.executed_block = block
        return self.meta[meta.pid]

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
                    max(when, host.block),
                    "reverse",
                    lever=inverse.to_dict(),
                    intent=meta.intent,
                    initiator=meta.proposer,
                    parent=meta.matter,
                )

    # ------------------------------------------------------------------ false alarms
    def _schedule_false_alarms(self) -> None:
        """Each benevolent-erring person's false alarms over the horizon: a Poisson count at
        ``error_rate_per_year`` and uniform days and subnets, from a generator keyed by the
        run's seed and the person (never by seat or policy)."""
        cfg = self.host.config
        rate = cfg.governance.error_rate_per_year
        if rate <= 0:
            return
        years = cfg.horizon_days / 365.0
        for g in self.governors:
            if g.intent != "benevolent_erring":
                continue
            rng = matter_rng(self.seed, (MATTER_KINDS["false_alarm_schedule"], g.person.key, 0), 0)
            n = int(rng.poisson(rate * years))
            days = np.sort(rng.uniform(0.0, cfg.horizon_days, n))
            netuids = rng.integers(cfg.network.n_subnets, size=n)
            for k, (day, netuid) in enumerate(zip(days, netuids, strict=True)):
                self.host.schedule(
                    round(day * BLOCKS_PER_DAY),
                    "false_alarm",
                    person=g.name,
                    index=k,
                    netuid=int(netuid),
                )
