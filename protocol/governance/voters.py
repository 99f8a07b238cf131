"""The voter model: persons who judge a matter from a noisy private signal, and may be bought.

A **matter** is something governance may act on: an exploit in progress, a scam subnet, an
intervention somebody wants, a false alarm, the reversal of a time-limited action. It has a
ground truth (``warranted``), maybe a target subnet, and maybe a *faction* (the intent of a
proposer who wants it done against the merits). A **person** judges it:

* **signal** — a private signal of whether acting is warranted, correct with probability
  ``accuracy`` (in [0.5, 1]; 0.5 is a coin, 1 always right);
* **self-interest** — ``exposure`` to subnets: positive when the person holds the subnet's
  alpha (it loses when the subnet is hit), negative when it is the subnet's rival (it gains).
  A ``self_interested`` person votes its exposure on a matter that targets such a subnet,
  else its signal; a ``captured`` person votes for its captor's moves (matters whose faction is
  ``captured``), else its signal; benevolent persons vote their signal;
* **leader** — with probability ``correlation`` a follower copies its leader's ballot (the
  leader's own view of the matter, or aye when the leader proposed it): "one person controls
  the keys" at correlation 1;
* **turnout** — the probability it votes at all; **reaction** — how long it takes to act once
  a poll opens (exponential, plus a fixed minimum), so a slow voter can miss a short poll;
* **bribe price** — TAO for which it flips a nay into an aye for a faction that pays.

Every draw a person makes on a matter comes from one generator keyed by the run's seed, the
matter's key and the person's key (:func:`matter_rng`), never by a referendum id or a policy,
and always in the same order and number (:class:`Draws`): the same person has the same signal,
turnout, copy decision and reaction time on the same matter under every governance policy, and
a higher ``accuracy`` only turns wrong signals right (the uniform draw is shared).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .actors import Intent
from .base import GovernanceError

__all__ = [
    "MATTER_KEY",
    "MATTER_KINDS",
    "Draws",
    "Matter",
    "Person",
    "ballot",
    "draw",
    "matter_rng",
    "own_ballot",
]

#: Namespace of the voter model's generators in a run's seed space (the ASCII of "matt").
MATTER_KEY = 0x6D617474

#: Kinds of matter and their integer tags (the first element of a matter's key).
MATTER_KINDS: dict[str, int] = {
    "intervention": 1,
    "exploit": 2,
    "scam": 3,
    "false_alarm": 4,
    "reversal": 5,
    "false_alarm_schedule": 6,
}


@dataclass(frozen=True)
class Person:
    """One decider: a roster person or a stake holder.

    Parameters
    ----------
    id
        Its account or seat name in the electorate.
    key
        A stable integer for its generators: the roster position for roster persons, an
        offset plus the account index for stake holders (the same under every policy).
    intent
        ``benevolent_competent``, ``benevolent_erring``, ``self_interested`` or ``captured``.
    accuracy
        Probability its private signal on a matter is right, in [0.5, 1].
    exposure
        Subnet → signed exposure in [-1, 1]: > 0 holds its alpha, < 0 is its rival.
    bribe_price
        TAO it takes to flip a nay into an aye (None: not for sale).
    turnout
        Probability it votes on a matter at all.
    leader
        Id of the person whose ballot it may copy (None: nobody).
    correlation
        Probability it copies its leader's ballot.
    reaction_mean_blocks
        Mean of the exponential part of its reaction time (blocks).
    reaction_min_blocks
        Fixed part of its reaction time (blocks).
    """

    id: str
    key: int
    intent: str = Intent.BENEVOLENT_COMPETENT.value
    accuracy: float = 1.0
    exposure: Mapping[int, float] = field(default_factory=dict)
    bribe_price: float | None = None
    turnout: float = 1.0
    leader: str | None = None
    correlation: float = 0.0
    reaction_mean_blocks: float = 0.0
    reaction_min_blocks: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "intent", Intent(self.intent).value)
        object.__setattr__(self, "exposure", {int(k): float(v) for k, v in self.exposure.items()})
        if not 0.5 <= self.accuracy <= 1.0:
            raise GovernanceError(
                f"person {self.id!r}.accuracy: expected a value in [0.5, 1], got {self.accuracy}"
            )
        for name in ("turnout", "correlation"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise GovernanceError(
                    f"person {self.id!r}.{name}: expected a probability, got {value}"
                )
        for netuid, value in self.exposure.items():
            if not -1.0 <= value <= 1.0:
                raise GovernanceError(
                    f"person {self.id!r}.exposure[{netuid}]: expected a value in "
                    f"[-1, 1], got {value}"
                )
        if self.bribe_price is not None and self.bribe_price < 0:
            raise GovernanceError(
                f"person {self.id!r}.bribe_price: expected >= 0, got {self.bribe_price}"
            )
        if self.reaction_mean_blocks < 0 or self.reaction_min_blocks < 0:
            raise GovernanceError(f"person {self.id!r}: reaction times must be >= 0")


@dataclass(frozen=True)
class Matter:
    """Something governance may act on.

    Parameters
    ----------
    key
        ``(kind, a, b)`` integers fixed by the run's shocks and events, never by the policy
        (:data:`MATTER_KINDS` tag, then e.g. the shock index and a look number).
    warranted
        Ground truth: acting is right (an exploit, a scam) or wrong (a false alarm, a hit on
        a healthy subnet).
    target
        The subnet the action hits, if any.
    hurts_target
        True when the action suppresses its target (False for a reversal that restores it).
    faction
        The intent of whoever wants it done regardless of the merits (``"self_interested"``
        or ``"captured"``), or ``""``.
    urgent
        Whether it is an emergency (a running exploit): policies offer their fast tracks.
    """

    key: tuple[int, int, int]
    warranted: bool
    target: int | None = None
    hurts_target: bool = True
    faction: str = ""
    urgent: bool = False

    def __post_init__(self) -> None:
        key = tuple(int(k) for k in self.key)
        if len(key) != 3:
            raise GovernanceError(f"matter key: expected three integers, got {self.key!r}")
        object.__setattr__(self, "key", key)


@dataclass(frozen=True)
class Draws:
    """Everything a person draws on one matter, always the same four numbers in order."""

    signal_uniform: float
    turnout_uniform: float
    copy_uniform: float
    reaction_exponential: float

    def signal_right(self, person: Person) -> bool:
        """Whether ``person``'s private signal is right."""
        return self.signal_uniform < person.accuracy

    def votes(self, person: Person) -> bool:
        """Whether ``person`` turns out."""
        return self.turnout_uniform < person.turnout

    def copies(self, person: Person) -> bool:
        """Whether ``person`` copies its leader on this matter."""
        return person.leader is not None and self.copy_uniform < person.correlation

    def reaction_blocks(self, person: Person) -> int:
        """Blocks ``person`` takes to act once a poll opens."""
        return person.reaction_min_blocks + round(
            self.reaction_exponential * person.reaction_mean_blocks
        )


def matter_rng(seed: int, matter_key: tuple[int, int, int], person_key: int) -> np.random.Generator:
    """The generator of ``person_key``'s draws on ``matter_key`` in the run of ``seed``.

    Examples
    --------
    >>> a = matter_rng(7, (1, 0, 0), 3).random()
    >>> a == matter_rng(7, (1, 0, 0), 3).random() != matter_rng(7, (1, 0, 0), 4).random()
    True
    """
    kind, a, b = matter_key
    return np.random.default_rng(
        [int(seed), MATTER_KEY, int(kind), int(a), int(b), int(person_key)]
    )


def draw(seed: int, matter: Matter, person: Person) -> Draws:
    """``person``'s four draws on ``matter`` (the same under every policy)."""
    rng = matter_rng(seed, matter.key, person.key)
    u = rng.random(3)
    return Draws(float(u[0]), float(u[1]), float(u[2]), float(rng.standard_exponential()))


def own_ballot(person: Person, matter: Matter, draws: Draws, *, proposer: bool = False) -> bool:
    """The aye (True) or nay ``person`` would cast on ``matter`` by its own lights.

    The proposer backs its own proposal; a captured person backs its captor's moves; a
    self-interested person votes its exposure when the matter hits a subnet it is exposed to;
    otherwise everyone votes its private signal.
    """
    if proposer:
        return True
    if person.intent == Intent.CAPTURED.value and matter.faction == Intent.CAPTURED.value:
        return True
    if person.intent == Intent.SELF_INTERESTED.value and matter.target is not None:
        exposure = person.exposure.get(matter.target, 0.0)
        if exposure != 0.0:
            wants_it_hurt = exposure < 0.0
            return wants_it_hurt == matter.hurts_target
    return matter.warranted if draws.signal_right(person) else not matter.warranted


def ballot(
    person: Person,
    matter: Matter,
    draws: Draws,
    *,
    proposer: bool = False,
    leader_ballot: bool | None = None,
) -> bool:
    """``person``'s ballot: its leader's with probability ``correlation``, else its own.

    ``leader_ballot`` is the leader's ballot on the same matter (None when it has no leader).
    The proposer never copies: it backs what it filed.
    """
    if not proposer and leader_ballot is not None and draws.copies(person):
        return leader_ballot
    return own_ballot(person, matter, draws, proposer=proposer)
