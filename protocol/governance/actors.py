"""Deciders: actors with an intent, a stake and a correlation group, and their votes.

docs/governance.md, "Actors": every seat has an intent model (benevolent-competent,
benevolent-erring, self-interested, captured) and seats may be correlated — a "3-person
multisig" whose signers follow one leader is one key. The agent model calls
:func:`decide_votes` to get the ballots of its actors on a referendum and feeds them to the
policy (``policy.vote``, or :func:`cast_votes`). All randomness comes from the ``rng`` given.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from protocol.units import Blocks

from .base import GovernanceError, GovernancePolicy, GovState, Referendum, Vote

__all__ = [
    "Actor",
    "DecisionContext",
    "Intent",
    "cast_votes",
    "decide_votes",
    "independence_groups",
    "intended_vote",
]


class Intent(enum.StrEnum):
    """What a decider wants (docs/model.md, "The voter model")."""

    BENEVOLENT_COMPETENT = "benevolent_competent"  # stops scams and exploits, never errs
    BENEVOLENT_ERRING = "benevolent_erring"  # means well, wrong with probability error_rate
    SELF_INTERESTED = "self_interested"  # protects own subnets, targets rivals
    CAPTURED = "captured"  # votes as its captor (or coercer) wants


@dataclass(frozen=True)
class Actor:
    """A decider.

    Parameters
    ----------
    id
        The account id used in the electorate (seat or staker).
    intent
        Its :class:`Intent`.
    stake
        Its stake (TAO) — informational; policies read stakes from the electorate.
    group
        Correlation group (e.g. one organisation, one coercer); ``None``: its own.
    error_rate
        Probability a benevolent-erring actor votes against the merits.
    turnout
        Probability it votes at all.
    interests
        Subnets it owns or is invested in (a self-interested actor defends them).
    rivals
        Subnets it wants hurt (a self-interested actor votes to suppress them).
    """

    id: str
    intent: Intent = Intent.BENEVOLENT_COMPETENT
    stake: float = 0.0
    group: str | None = None
    error_rate: float = 0.1
    turnout: float = 1.0
    interests: frozenset[int] = field(default_factory=frozenset)
    rivals: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in ("error_rate", "turnout"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise GovernanceError(
                    f"actor {self.id!r}.{name}: expected a probability, got {value}"
                )
        object.__setattr__(self, "intent", Intent(self.intent))
        object.__setattr__(self, "interests", frozenset(self.interests))
        object.__setattr__(self, "rivals", frozenset(self.rivals))

    @property
    def party(self) -> str:
        """The independent party it belongs to (its group, else itself)."""
        return self.group if self.group is not None else self.id


@dataclass(frozen=True)
class DecisionContext:
    """What deciders know about a proposal.

    ``harmful`` is the ground truth (the lever hurts the network, e.g. suspending a productive
    subnet); ``target_netuid`` the subnet it hits; ``captor_wants`` how a captor wants the vote;
    ``block`` when the ballots are cast.
    """

    harmful: bool
    block: Blocks
    target_netuid: int | None = None
    captor_wants: bool = True


def intended_vote(actor: Actor, ctx: DecisionContext, rng: np.random.Generator) -> bool:
    """The aye/nay an actor would cast on its own (True = aye)."""
    merit = not ctx.harmful
    if actor.intent == Intent.BENEVOLENT_COMPETENT:
        return merit
    if actor.intent == Intent.BENEVOLENT_ERRING:
        return merit if rng.random() >= actor.error_rate else not merit
    if actor.intent == Intent.CAPTURED:
        return ctx.captor_wants
    # Self-interested: defend own subnets, hit rivals, otherwise follow the merits.
    if ctx.target_netuid is not None and ctx.target_netuid in actor.interests:
        return False
    if ctx.target_netuid is not None and ctx.target_netuid in actor.rivals:
        return True
    return merit


def decide_votes(
    actors: Sequence[Actor],
    proposal: Referendum,
    context: DecisionContext,
    rng: np.random.Generator,
    *,
    correlation: float = 0.0,
) -> list[Vote]:
    """Ballots of ``actors`` on ``proposal`` (only those with a vote on it, if it has a voter set).

    Within a correlation group, each member copies the group leader's decision (the first
    member by id) with probability ``correlation`` and decides on its own otherwise; at
    ``correlation = 1`` a group votes as one key.

    Parameters
    ----------
    actors
        The deciders.
    proposal
        The referendum being decided (its ``voters`` snapshot filters who may vote).
    context
        Ground truth and the block of the ballots.
    rng
        The only source of randomness.
    correlation
        Seat correlation in [0, 1].

    Returns
    -------
    list[Vote]
        One ballot per participating actor, ordered by actor id.
    """
    if not 0.0 <= correlation <= 1.0:
        raise GovernanceError(f"correlation: expected a value in [0, 1], got {correlation}")
    eligible = [
        a
        for a in sorted(actors, key=lambda a: a.id)
        if not proposal.voters or a.id in proposal.voters
    ]
    leaders: dict[str, bool] = {}
    ballots: list[Vote] = []
    for actor in eligible:
        own = intended_vote(actor, context, rng)
        party = actor.party
        if party not in leaders:
            leaders[party] = own
            decision = own
        else:
            decision = leaders[party] if rng.random() < correlation else own
        if rng.random() < actor.turnout:
            ballots.append(Vote(actor.id, proposal.pid, decision, context.block))
    return ballots


def cast_votes(policy: GovernancePolicy, gs: GovState, votes: Iterable[Vote]) -> GovState:
    """Feed ``votes`` to ``policy`` in order; ballots it refuses (closed poll) are skipped."""
    for v in votes:
        try:
            gs = policy.vote(
                gs,
                v.voter,
                v.pid,
                v.aye,
                v.block,
                conviction=v.conviction,
                veto=v.veto,
                abstain=v.abstain,
            )
        except GovernanceError:
            continue
    return gs


def independence_groups(
    actors: Iterable[Actor], correlation: float, *, perfect: float = 1.0
) -> Mapping[str, str]:
    """Actor id → independent party for the metrics (docs/governance.md, "Metrics").

    Members of a group count as one party when ``correlation >= perfect`` ("signers whose
    intents are perfectly correlated count as one"), else each is its own party.
    """
    return {a.id: (a.party if correlation >= perfect else a.id) for a in actors}
