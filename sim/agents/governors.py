"""Governance persons: the roster of ``[governance] actors``, seated by whatever policy runs.

The roster is the same under every policy: the configured actor groups in order, topped up to
``governance.roster_size`` with default persons (docs/model.md, "The voter model"). A policy
declares the bodies it needs (:meth:`protocol.governance.GovernancePolicy.seat_bodies`);
:func:`seat_roster` fills each body that comes from the roster with its first persons in
order, so the first person is the first seat of every main body (and Root) whichever policy
runs. Stake-holder bodies (a jury pool) and bodies a policy ranks itself (V1's Senate, V2's
collectives) are filled from the economy's stake holders by the governance desk.

Each person is a Mesa agent holding a :class:`protocol.governance.voters.Person`: intent,
signal accuracy, exposure, bribe price, turnout, leader and correlation, reaction time. How a
person judges a matter and votes is ``protocol.governance.voters``; when it does so is the
governance desk's event queue (:func:`on_cast_vote`, :func:`on_veto`, :func:`on_false_alarm`).
"""

from __future__ import annotations

from collections.abc import Sequence

import mesa

from protocol.governance import GovernancePolicy
from protocol.governance.voters import Person
from protocol.levers import lever_from_dict
from sim.agents.events import EVENT_HANDLERS, EventHost
from sim.agents.host import AgentHost
from sim.config import ActorConfig, GovernanceConfig

__all__ = ["INTENTS", "Governor", "make_person", "seat_roster"]

INTENTS: tuple[str, ...] = (
    "benevolent_competent",
    "benevolent_erring",
    "self_interested",
    "captured",
)


def make_person(
    name: str, key: int, group: ActorConfig | None, cfg: GovernanceConfig, leader: str | None
) -> Person:
    """The :class:`Person` of roster member ``name`` (attributes from ``group``, else the
    ``[governance]`` defaults).

    Parameters
    ----------
    name
        Its roster name.
    key
        Its roster position (the key of its random draws on every matter).
    group
        Its actor group (None for a default person).
    cfg
        The governance section (defaults).
    leader
        The roster name of its leader (None: it follows nobody).
    """
    intent = group.intent if group is not None else "benevolent_competent"
    accuracy = group.accuracy if group is not None and group.accuracy is not None else None
    if accuracy is None:
        accuracy = cfg.signal_accuracy
        if intent == "benevolent_erring":
            accuracy = min(accuracy, 1.0 - cfg.erring_error_probability)
        accuracy = max(accuracy, 0.5)
    correlation = cfg.correlation
    if group is not None and group.correlation is not None:
        correlation = group.correlation
    mean = cfg.reaction_blocks
    if group is not None and group.reaction_blocks is not None:
        mean = group.reaction_blocks
    follows = leader if leader is not None and leader != name and correlation > 0 else None
    return Person(
        id=name,
        key=key,
        intent=intent,
        accuracy=accuracy,
        exposure=dict(group.exposure) if group is not None else {},
        bribe_price=group.bribe_price_tao if group is not None else None,
        turnout=group.turnout if group is not None else 1.0,
        leader=follows,
        correlation=correlation if follows is not None else 0.0,
        reaction_mean_blocks=float(mean),
        reaction_min_blocks=cfg.vote_delay_blocks,
    )


class Governor(mesa.Agent):
    """One person on the governance roster.

    Parameters
    ----------
    model
        The Mesa model.
    person
        Who it is and how it judges (``protocol.governance.voters.Person``).
    weight
        Its stake in stake-weighted votes (TAO).
    tied_to
        The only body it may sit in ('' = any body seated from the roster).
    """

    #: The model as a person reads it (Mesa registers the agent with the ``mesa.Model``).
    model: AgentHost

    def __init__(self, model: mesa.Model, person: Person, weight: float, tied_to: str = "") -> None:
        super().__init__(model)
        self.person = person
        self.name = person.id
        self.intent = person.intent
        self.weight = weight
        self.tied_to = tied_to
        #: Bodies it sits in under the running policy (filled by :func:`seat_roster`).
        self.seats: list[str] = []


def _leader_of(group: ActorConfig | None, cfg: GovernanceConfig, first: str) -> str:
    if group is not None and group.leader:
        found = cfg.resolve_person(group.leader)
        if found is None:
            raise ValueError(f"governance.actors.leader: {group.leader!r} names no person")
        return found
    return first


def seat_roster(
    model: mesa.Model, policy: GovernancePolicy, cfg: GovernanceConfig
) -> list[Governor]:
    """The roster as Mesa agents, seated in ``policy``'s roster bodies.

    Each ``"actors"`` body of ``policy.seat_bodies()`` takes its first ``size`` persons in
    roster order (persons tied to another body skipped); a body the roster leaves short is
    topped up with default persons, appended to the roster after it (a third-party policy
    with a 12-seat council gets 9 default persons beyond a 3-person roster). A size-0 body
    takes the persons tied to it by name, and nobody else.

    Raises
    ------
    ValueError
        Naming ``governance.actors`` when a person's name is taken twice.
    """
    entries: Sequence[tuple[str, ActorConfig | None]] = cfg.roster()
    first = entries[0][0]
    people: list[Governor] = []
    for key, (name, group) in enumerate(entries):
        person = make_person(name, key, group, cfg, _leader_of(group, cfg, first))
        people.append(
            Governor(model, person, group.weight if group else 1.0, group.body if group else "")
        )
    for body, spec in policy.seat_bodies().items():
        if spec.source != "actors":
            continue
        if spec.size == 0:
            members = [g for g in people if g.tied_to == body]
        else:
            members = [g for g in people if g.tied_to in ("", body)][: spec.size]
            while len(members) < spec.size:
                key = len(people)
                name = f"actor{key}"
                if any(g.name == name for g in people):
                    raise ValueError(
                        f"governance.actors: the default person {name!r} clashes "
                        "with a label; rename the group"
                    )
                extra = Governor(model, make_person(name, key, None, cfg, first), 1.0)
                people.append(extra)
                members.append(extra)
        for g in members:
            g.seats.append(body)
    return people


@EVENT_HANDLERS.register("cast_vote")
def on_cast_vote(
    model: EventHost, *, pid: int, voter: str, at: int, matter: tuple[int, int, int] | None = None
) -> None:
    """A person or stake holder casts its ballot on a referendum (scheduled at block ``at``),
    judging ``matter`` (the proposal's, or a later look at it)."""
    model.governance.cast_vote(pid, voter, at, matter)


@EVENT_HANDLERS.register("veto")
def on_veto(model: EventHost, *, pid: int, actor: str, at: int) -> None:
    """Someone who may stop a referendum on its own (Root, a guardian) acts on its judgement."""
    model.governance.veto(pid, actor, at)


@EVENT_HANDLERS.register("false_alarm")
def on_false_alarm(model: EventHost, *, person: str, index: int, netuid: int) -> None:
    """A benevolent but erring person believes a healthy subnet is a scam and asks for action."""
    lever = lever_from_dict({"kind": model.config.governance.response_lever, "netuid": netuid})
    model.governance.false_alarm(person, index, netuid, lever)
