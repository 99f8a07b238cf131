"""Governance actors: the seats of the chosen policy, with intents and correlation.

The policy (``protocol.governance``) decides *when* a lever executes; these agents decide *what*
to propose and *how to vote*. Each seat is a Mesa agent with an intent:

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

The seats are built by ``sim.build.governors``; :class:`sim.desks.governance.GovernanceDesk`
keeps the policy's state, files proposals and runs the votes these seats cast.
"""

from __future__ import annotations

import mesa

from protocol.governance import GovernancePolicy
from protocol.governance.actors import Actor
from protocol.levers import lever_from_dict
from sim.agents.events import EVENT_HANDLERS, EventHost
from sim.agents.host import AgentHost
from sim.config import GovernanceConfig

__all__ = ["INTENTS", "Governor", "main_body", "seat_bodies"]

INTENTS: tuple[str, ...] = (
    "benevolent_competent",
    "benevolent_erring",
    "self_interested",
    "captured",
)

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

    #: The model as a seat reads it (Mesa registers the seat with the ``mesa.Model``).
    model: AgentHost

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


@EVENT_HANDLERS.register("cast_votes")
def on_cast_votes(model: EventHost, *, pid: int, voters: list[str]) -> None:
    """Seats or holders vote on a referendum."""
    model.governance.cast_votes(pid, voters)


@EVENT_HANDLERS.register("erroneous_proposal")
def on_erroneous_proposal(model: EventHost, *, netuid: int) -> None:
    """A benevolent but erring seat moves against a healthy subnet (a false positive)."""
    lever = lever_from_dict({"kind": model.config.governance.response_lever, "netuid": netuid})
    model.governance.propose(
        lever,
        intent="benevolent_erring",
        justified=False,
        duration_days=None,
        detected_block=model.block,
    )
