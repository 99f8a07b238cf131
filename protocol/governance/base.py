"""The governance interface: proposals (referenda) as a state machine over blocks.

Every policy (one class in one file) decides *when* a lever executes; what a lever does is the
economy's business (``protocol.economy.apply_lever``). A policy is a validated frozen config;
all mutable facts live in an explicit :class:`GovState` (frozen dataclasses, copied on change),
so a state can be pickled, copied, branched and replayed. Time is the block number; nothing
reads a clock; randomness only enters through an explicit ``rng`` argument.

Life of a proposal (docs/governance.md, "The interface")::

    propose(action) -> decide(votes, time) -> schedule(delay) -> {execute | cancel}

with the referendum states of ``pallets/referenda/README.md`` (:class:`RefState`).

Calls at a block first bring the state up to that block (so outcomes whose time came in between
are settled at their own block), then act, then settle what the action decided at once (a
threshold reached by this vote). Events produced along the way are held in ``GovState.pending``
and handed out by :meth:`GovernancePolicy.advance`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from protocol.levers import (
    HaltChain,
    Lever,
    ResumeChain,
    SetEmissionEnabled,
    SetRegistrationAllowed,
    SetSubtokenEnabled,
)
from protocol.units import Blocks

from .config import build_config

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "SEAT_SOURCES",
    "BodySpec",
    "Electorate",
    "ExecutionRecord",
    "GovEvent",
    "GovState",
    "GovernanceError",
    "GovernancePolicy",
    "Path",
    "RefState",
    "Referendum",
    "Requirement",
    "SubnetInfo",
    "Tally",
    "Vote",
    "count_requirement",
    "inverse_lever",
    "stake_requirement",
]


class GovernanceError(ValueError):
    """An action the policy's rules do not allow (wrong actor, closed referendum, time reversal)."""


class RefState(enum.StrEnum):
    """Referendum states (subtensor ``pallets/referenda/README.md``, branch ``governance-wiring``)."""

    ONGOING = "Ongoing"
    APPROVED = "Approved"
    DELEGATED = "Delegated"
    REJECTED = "Rejected"
    EXPIRED = "Expired"
    FAST_TRACKED = "FastTracked"
    CANCELLED = "Cancelled"
    KILLED = "Killed"
    ENACTED = "Enacted"


#: States in which a referendum may still change (receive votes, be scheduled, be killed).
ACTIVE_STATES: frozenset[RefState] = frozenset(
    {RefState.ONGOING, RefState.APPROVED, RefState.FAST_TRACKED}
)
#: States a referendum never leaves (ENACTED may be re-opened only by a reverting policy).
FINAL_STATES: frozenset[RefState] = frozenset(
    {RefState.REJECTED, RefState.EXPIRED, RefState.CANCELLED, RefState.KILLED, RefState.ENACTED}
)


@dataclass(frozen=True)
class Vote:
    """One ballot (or signature, or trade direction in futarchy).

    ``conviction`` is OpenGov's lock multiplier index (0 = 0.1x, 1..6 = 1x..6x); ``veto`` is
    Cosmos's NoWithVeto (counted as a nay too); ``abstain`` counts toward quorum only.
    """

    voter: str
    pid: int
    aye: bool
    block: Blocks
    conviction: int = 0
    veto: bool = False
    abstain: bool = False


#: Where a body's members come from (:class:`BodySpec`): the scenario's roster of persons in
#: order, the stake holders ranked by stake, or the policy's own rule over the electorate.
SEAT_SOURCES: tuple[str, ...] = ("actors", "holders", "policy")


@dataclass(frozen=True)
class BodySpec:
    """A seat body a policy needs, and where its members come from.

    A policy declares its bodies with :meth:`GovernancePolicy.seat_bodies`; whoever builds
    the electorate (the agent model's governance desk) fills them, so a new policy is seated
    without a table of policy names anywhere else.

    Parameters
    ----------
    size
        Seats. For ``source="actors"``: the first ``size`` persons of the roster that may sit
        in it (persons not tied to another body), topped up with default persons when the
        roster is short; 0 = only the persons that name this body explicitly (an optional
        body such as a guardian). For ``source="holders"``: the ``size`` largest stake
        holders; 0 = all of them. Ignored for ``source="policy"``.
    source
        ``"actors"`` (the roster of persons, in order: the first person is the first seat of
        every actors body), ``"holders"`` (stake holders ranked by stake, largest first) or
        ``"policy"`` (the policy chooses members from the electorate's stakes or subnets
        itself, e.g. V1's Senate; listed for documentation).
    doc
        One line on the body's role (for ``describe`` and the docs).
    """

    size: int = 0
    source: str = "actors"
    doc: str = ""

    def __post_init__(self) -> None:
        if self.source not in SEAT_SOURCES:
            raise GovernanceError(
                f"BodySpec.source: {self.source!r} is not one of {', '.join(SEAT_SOURCES)}"
            )
        if self.size < 0:
            raise GovernanceError(f"BodySpec.size: expected a count >= 0, got {self.size}")


@dataclass(frozen=True)
class SubnetInfo:
    """What governance needs to know about a subnet: its owner, age and moving price."""

    netuid: int
    owner: str
    registered_block: Blocks
    moving_price: float


@dataclass(frozen=True)
class Electorate:
    """Who may act: stakes, named seat bodies, subnets (for the Building collective), root.

    Parameters
    ----------
    stakes
        Stake (TAO) per party: root stake for stake votes, token balance for OpenGov/Cosmos.
    bodies
        Named seat lists: ``"signers"``, ``"sudo"``, ``"triumvirate"``, ``"senate"``,
        ``"proposers"``, ``"economic"``, ``"building"``, ``"guardians"``, ``"fellowship"``,
        ``"jury"``, ``"emergency"``... A policy ranks a body from stakes or subnets when it
        is not given.
    subnets
        The subnets (owner, registration block, moving price), for the Building collective.
    root
        The account that holds Root (the sudo key) where a policy keeps a root override.
    total_issuance
        Total token supply for OpenGov's support (defaults to the sum of ``stakes``).
    delegations
        Delegator → validator (Cosmos: a delegator who does not vote inherits its validator's
        vote; one who votes overrides it).
    """

    stakes: Mapping[str, float] = field(default_factory=dict)
    bodies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    subnets: tuple[SubnetInfo, ...] = ()
    root: str = "root"
    total_issuance: float | None = None
    delegations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Copy into plain dicts/tuples so later edits by the caller cannot leak in.
        object.__setattr__(self, "stakes", {str(k): float(v) for k, v in self.stakes.items()})
        object.__setattr__(
            self, "bodies", {str(k): tuple(str(m) for m in v) for k, v in self.bodies.items()}
        )
        object.__setattr__(self, "subnets", tuple(self.subnets))
        object.__setattr__(
            self, "delegations", {str(k): str(v) for k, v in self.delegations.items()}
        )
        for who, stake in self.stakes.items():
            if stake < 0:
                raise GovernanceError(
                    f"electorate.stakes[{who!r}]: stake must be >= 0, got {stake}"
                )

    def body(self, name: str) -> tuple[str, ...]:
        """Members of body ``name`` (empty when absent)."""
        return self.bodies.get(name, ())

    def stake(self, who: str) -> float:
        """Stake of ``who`` (0 when unknown)."""
        return self.stakes.get(who, 0.0)

    @property
    def total_stake(self) -> float:
        """Sum of all stakes."""
        return float(sum(self.stakes.values()))

    @property
    def issuance(self) -> float:
        """Total issuance for support ratios (explicit, else the sum of stakes)."""
        return self.total_issuance if self.total_issuance is not None else self.total_stake

    def top_by_stake(self, k: int, candidates: Iterable[str] | None = None) -> tuple[str, ...]:
        """The ``k`` largest stakers among ``candidates`` (all stakers by default); ties by id."""
        pool = list(self.stakes) if candidates is None else list(candidates)
        ranked = sorted(pool, key=lambda who: (-self.stake(who), who))
        return tuple(w for w in ranked if self.stake(w) > 0)[:k]


@dataclass(frozen=True)
class Tally:
    """Weighted and counted votes of one referendum at one block."""

    aye: float
    nay: float
    abstain: float
    veto: float
    aye_count: int
    nay_count: int
    electorate: float
    seats: int
    aye_capital: float = 0.0  # ayes without conviction (OpenGov support)

    @property
    def turnout(self) -> float:
        """Weight that voted (aye + nay + abstain), as a fraction of the electorate."""
        return (self.aye + self.nay + self.abstain) / self.electorate if self.electorate else 0.0


@dataclass(frozen=True)
class Referendum:
    """One proposal and everything decided about it.

    ``voters``/``weights`` are the electorate snapshot taken when the poll opened (empty
    ``voters`` means "anyone with stake in the current electorate"). Block fields are ``None``
    until they happen. ``info`` holds policy-specific numbers as sorted ``(key, value)`` pairs.
    """

    pid: int
    proposer: str
    lever: Lever
    track: str
    state: RefState
    submitted: Blocks
    deadline: Blocks | None
    voters: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    votes: tuple[Vote, ...] = ()
    decided: Blocks | None = None
    scheduled: Blocks | None = None
    executed: Blocks | None = None
    parent: int | None = None
    child: int | None = None
    confirm_since: Blocks | None = None
    info: tuple[tuple[str, float], ...] = ()

    def get(self, key: str, default: float = 0.0) -> float:
        """A policy-specific number from ``info``."""
        return dict(self.info).get(key, default)

    def with_info(self, **values: float) -> Referendum:
        """A copy with ``info`` keys set."""
        merged = dict(self.info)
        merged.update(values)
        return replace(self, info=tuple(sorted(merged.items())))

    def latest_votes(self, upto: Blocks | None = None) -> dict[str, Vote]:
        """Each voter's latest vote (a re-vote replaces the earlier one), up to block ``upto``."""
        out: dict[str, Vote] = {}
        for v in self.votes:
            if upto is None or v.block <= upto:
                out[v.voter] = v
        return out


@dataclass(frozen=True)
class ExecutionRecord:
    """The log line of an executed action (every execution is logged with its votes and blocks)."""

    pid: int
    proposer: str
    lever: Lever
    track: str
    votes: tuple[Vote, ...]
    submitted: Blocks
    decided: Blocks
    executed: Blocks


@dataclass(frozen=True)
class GovEvent:
    """Something that happened to a referendum at ``block``.

    ``kind`` is one of ``executed``, ``reverted`` (a time-limited or recomputed action lapsed;
    ``lever`` is then the inverse lever to apply), ``approved``, ``delegated``, ``fast_tracked``,
    ``rejected``, ``expired``, ``cancelled``, ``killed``, ``rotated``.
    """

    kind: str
    pid: int
    block: Blocks
    lever: Lever | None = None
    state: RefState | None = None


@dataclass(frozen=True)
class GovState:
    """The whole governance state at ``block``; replace, never mutate."""

    block: Blocks
    electorate: Electorate
    seats: Mapping[str, tuple[str, ...]]
    referenda: tuple[Referendum, ...] = ()
    log: tuple[ExecutionRecord, ...] = ()
    pending: tuple[GovEvent, ...] = ()
    next_rotation: Blocks | None = None
    aux: tuple[tuple[str, Any], ...] = ()

    def ref(self, pid: int) -> Referendum:
        """The referendum with id ``pid``."""
        if not 0 <= pid < len(self.referenda):
            raise GovernanceError(f"unknown referendum {pid}")
        return self.referenda[pid]

    def seat(self, body: str) -> tuple[str, ...]:
        """Current members of ``body`` (after rotation)."""
        return self.seats.get(body, ())

    def aux_get(self, key: str, default: Any = None) -> Any:
        """A policy-specific state value."""
        return dict(self.aux).get(key, default)

    def active(self) -> tuple[Referendum, ...]:
        """Referenda that can still change."""
        return tuple(r for r in self.referenda if r.state in ACTIVE_STATES)


@dataclass(frozen=True)
class Requirement:
    """``body`` members whose summed ``weights`` reach ``need`` (``>`` when ``strict``)."""

    body: str
    members: tuple[str, ...]
    weights: tuple[float, ...]
    need: float
    strict: bool = False

    def met_by(self, actors: Iterable[str]) -> bool:
        """Whether the acting ``actors`` satisfy this requirement."""
        acting = set(actors)
        total = sum(w for m, w in zip(self.members, self.weights, strict=True) if m in acting)
        eps = 1e-12
        return total > self.need + eps if self.strict else total >= self.need - eps


@dataclass(frozen=True)
class Path:
    """A way to pass (or block) a proposal: all ``requirements`` together, taking ``delay``."""

    name: str
    requirements: tuple[Requirement, ...]
    delay: Blocks = 0


def inverse_lever(lever: Lever) -> Lever | None:
    """The lever that undoes ``lever`` when there is one (toggles and halts), else ``None``."""
    if isinstance(lever, SetRegistrationAllowed):
        return SetRegistrationAllowed(netuid=lever.netuid, allowed=not lever.allowed)
    if isinstance(lever, SetSubtokenEnabled):
        return SetSubtokenEnabled(netuid=lever.netuid, enabled=not lever.enabled)
    if isinstance(lever, SetEmissionEnabled):
        return SetEmissionEnabled(netuid=lever.netuid, enabled=not lever.enabled)
    if isinstance(lever, HaltChain):
        return ResumeChain()
    return None


def count_requirement(body: str, members: Iterable[str], need: int) -> Requirement:
    """A one-seat-one-vote requirement: ``need`` of ``members``."""
    ms = tuple(members)
    return Requirement(body, ms, tuple(1.0 for _ in ms), float(need))


def stake_requirement(
    body: str, stakes: Mapping[str, float], fraction: float, *, strict: bool = True
) -> Requirement:
    """A stake-weighted requirement: more than ``fraction`` of the total stake."""
    ms = tuple(sorted(stakes))
    ws = tuple(float(stakes[m]) for m in ms)
    return Requirement(body, ms, ws, fraction * sum(ws), strict=strict)


class GovernancePolicy:
    """Base class of every governance policy.

    Subclasses set ``name`` and ``Config`` (a frozen dataclass declared with
    :func:`protocol.governance.config.param`) and implement :meth:`_process` (settle every active
    referendum at a block), :meth:`enforced_delay`, :meth:`pass_paths` and :meth:`block_paths`;
    they override the ``_check_*`` hooks to say who may propose, vote, cancel or kill.

    Parameters
    ----------
    config
        A mapping of config fields (validated), or an instance of ``Config``.
    **overrides
        Config fields as keywords.
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type] = object
    #: Body whose members may kill (root override); None when the policy has no kill power.
    kill_body: ClassVar[str | None] = None

    def __init__(self, config: Mapping[str, Any] | Any | None = None, **overrides: Any) -> None:
        if config is not None and isinstance(config, self.Config) and not overrides:
            self.config = config
        elif config is not None and isinstance(config, self.Config):
            self.config = build_config(self.Config, dataclasses.asdict(config), **overrides)
        else:
            self.config = build_config(self.Config, config, **overrides)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.config == self.config  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.config))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # ------------------------------------------------------------------ public interface
    def init(self, block: Blocks, electorate: Electorate) -> GovState:
        """A fresh state at ``block`` with seats chosen from ``electorate``."""
        gs = GovState(
            block=block, electorate=electorate, seats=self._choose_seats(electorate, block, None)
        )
        return self._init_extra(gs)

    def can_propose(
        self, gs: GovState, proposer: str, lever: Lever, *, track: str | None = None
    ) -> bool:
        """Whether ``proposer`` may submit ``lever`` now on ``track`` (no exception)."""
        if track == "sudo":
            return (
                bool(getattr(self.config, "sudo_retained", False))
                and proposer == gs.electorate.root
            )
        try:
            self._check_proposer(gs, proposer, lever, track)
        except GovernanceError:
            return False
        return True

    # ------------------------------------------------------------------ what a policy needs
    def seat_bodies(self) -> Mapping[str, BodySpec]:
        """The seat bodies this policy reads from the electorate, main body first.

        The default is none (stake-weighted and market policies). A policy with seats returns
        e.g. ``{"signers": BodySpec(3, "actors")}``; the agent model fills ``"actors"`` bodies
        from its roster of persons in order and ``"holders"`` bodies from stake holders ranked
        by stake. The first ``"actors"`` body is the *main* body (its first seat is Root).
        """
        return {}

    def paths(self, lever: Lever, *, urgent: bool) -> tuple[str | None, ...]:
        """Tracks to try, in order, to submit ``lever`` (``None`` = the default track).

        A proposer tries each track it may use (:meth:`can_propose`), first to last: OpenGov's
        ``"whitelisted"`` track, constitutional's ``"emergency"`` pause, Cosmos' ``"expedited"``
        proposal for ``urgent`` matters (a running exploit); the retained ``"sudo"`` key of V1
        and V2 (``sudo_retained``) for any matter, since whoever holds it need not wait. The
        default: the retained sudo key when there is one, then the default track.
        """
        if getattr(self.config, "sudo_retained", False):
            return ("sudo", None)
        return (None,)

    def voting_deadline(self, gs: GovState, ref: Referendum) -> Blocks | None:
        """Last block at which a vote on ``ref`` can still count (``None``: open-ended).

        The agent model schedules each voter's ballot after its own reaction time and drops
        those that would come after this block (a slow voter misses the poll). The default is
        the referendum's ``deadline``; a policy whose poll ends earlier (a review track that
        executes at its scheduled block) or differently says so here.
        """
        return ref.deadline

    def eligible_voters(self, gs: GovState, ref: Referendum) -> tuple[str, ...]:
        """Who may vote on ``ref``: its voter snapshot, else everyone with stake (sorted)."""
        if ref.voters:
            return ref.voters
        return tuple(sorted(w for w, s in gs.electorate.stakes.items() if s > 0))

    def vetoers(self, gs: GovState, ref: Referendum) -> tuple[str, ...]:
        """Members who may stop ``ref`` on their own now (Root's disapproval or kill, a
        guardian, a canceller); default none. The agent model lets each of them act on its
        own judgement of the matter (:meth:`cancel`, else :meth:`kill`)."""
        return ()

    def main_body(self) -> str | None:
        """The first ``"actors"`` body of :meth:`seat_bodies` (None when there is none)."""
        return next(
            (name for name, spec in self.seat_bodies().items() if spec.source == "actors"), None
        )

    def propose(
        self, gs: GovState, proposer: str, lever: Lever, block: Blocks, *, track: str | None = None
    ) -> tuple[GovState, int]:
        """Submit ``lever`` at ``block``; returns the new state and the referendum id.

        Raises
        ------
        GovernanceError
            If ``proposer`` may not propose (or the queue is full).
        """
        gs = self._sync(gs, block)
        pid = len(gs.referenda)
        if track == "sudo":
            return self._sudo_call(gs, pid, proposer, lever, block), pid
        self._check_proposer(gs, proposer, lever, track)
        ref = self._open(gs, pid, proposer, lever, block, track)
        gs = replace(gs, referenda=(*gs.referenda, ref))
        return self._settle(gs, block), pid

    def vote(
        self,
        gs: GovState,
        voter: str,
        pid: int,
        aye: bool,
        block: Blocks,
        *,
        conviction: int = 0,
        veto: bool = False,
        abstain: bool = False,
    ) -> GovState:
        """Cast (or replace) ``voter``'s vote on referendum ``pid`` at ``block``.

        Raises
        ------
        GovernanceError
            If the referendum is closed or ``voter`` has no vote on it.
        """
        gs = self._sync(gs, block)
        ref = gs.ref(pid)
        if not self._is_open_for_votes(ref, block):
            raise GovernanceError(f"referendum {pid} is not open for votes ({ref.state.value})")
        self._check_voter(gs, ref, voter)
        if not 0 <= conviction <= 6:
            raise GovernanceError(f"conviction must be in 0..6, got {conviction}")
        ballot = Vote(
            voter, pid, bool(aye) and not veto and not abstain, block, conviction, veto, abstain
        )
        gs = self._put(gs, replace(ref, votes=(*ref.votes, ballot)))
        return self._settle(gs, block)

    def _sudo_call(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks
    ) -> GovState:
        """Root's sudo key where the policy keeps it (``sudo_retained``): next block, no vote."""
        if not getattr(self.config, "sudo_retained", False):
            raise GovernanceError(f"{self.name} has no sudo key (sudo_retained is off)")
        if proposer != gs.electorate.root:
            raise GovernanceError(f"{proposer!r} does not hold the sudo key")
        ref = Referendum(pid, proposer, lever, "sudo", RefState.ONGOING, block, None)
        gs = replace(gs, referenda=(*gs.referenda, ref))
        gs = self._schedule(gs, ref, block, block + 1)
        return self._settle(gs, block)

    def sign(self, gs: GovState, signer: str, pid: int, block: Blocks) -> GovState:
        """A signature: an aye vote (multisig, timelock, sudo)."""
        return self.vote(gs, signer, pid, True, block)

    def cancel(self, gs: GovState, actor: str, pid: int, block: Blocks) -> GovState:
        """Cancel (veto, disapprove, guardian cancel) referendum ``pid`` if ``actor`` may."""
        gs = self._sync(gs, block)
        ref = gs.ref(pid)
        if ref.state not in ACTIVE_STATES:
            raise GovernanceError(f"referendum {pid} cannot be cancelled ({ref.state.value})")
        self._check_canceller(gs, ref, actor)
        return self._close(gs, ref, RefState.CANCELLED, block, "cancelled")

    veto = cancel

    def kill(self, gs: GovState, actor: str, pid: int, block: Blocks) -> GovState:
        """Kill referendum ``pid`` (Root's override) from Ongoing, Approved or FastTracked."""
        gs = self._sync(gs, block)
        ref = gs.ref(pid)
        if self.kill_body is None:
            raise GovernanceError(f"{self.name} has no kill power")
        killers = gs.seat(self.kill_body) or (gs.electorate.root,)
        if actor not in killers:
            raise GovernanceError(f"{actor!r} may not kill (needs {self.kill_body})")
        if ref.state not in ACTIVE_STATES:
            raise GovernanceError(f"referendum {pid} cannot be killed ({ref.state.value})")
        return self._close(gs, ref, RefState.KILLED, block, "killed")

    def advance(
        self, gs: GovState, block: Blocks, rng: np.random.Generator | None = None
    ) -> tuple[GovState, tuple[GovEvent, ...]]:
        """Bring the state to ``block``; return it and every event since the last call."""
        gs = self._sync(gs, block, rng)
        events = tuple(sorted(gs.pending, key=lambda e: e.block))
        return replace(gs, pending=()), events

    def update_electorate(self, gs: GovState, electorate: Electorate, block: Blocks) -> GovState:
        """Give the policy a fresh electorate (stakes, subnets); seats change only by its rules."""
        gs = self._sync(gs, block)
        gs = replace(gs, electorate=electorate)
        gs = self._on_electorate(gs, block)
        return self._settle(gs, block)

    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """Fewest blocks from proposal to execution of ``lever`` on the fastest path (None: never)."""
        raise NotImplementedError

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """The ways a coalition can make a proposal execute, with their delays."""
        raise NotImplementedError

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """The ways a coalition can stop a proposal."""
        raise NotImplementedError

    def voting_power(self, gs: GovState) -> dict[str, float]:
        """Decision weight per party (seats count 1 each, stakes by stake)."""
        power: dict[str, float] = {}
        for path in self.pass_paths(gs):
            for req in path.requirements:
                for m, w in zip(req.members, req.weights, strict=True):
                    power[m] = max(power.get(m, 0.0), w)
        return power

    def independent_parties(self, gs: GovState) -> dict[str, str]:
        """Member → independent party implied by the policy's own config (default: none merged).

        The metrics merge these with any ``parties`` mapping they are given.
        """
        return {}

    def describe(self) -> dict[str, Any]:
        """Name, docstring summary and config of the policy (for reports)."""
        doc = (type(self).__doc__ or "").strip().splitlines()
        bodies = {name: dataclasses.asdict(spec) for name, spec in self.seat_bodies().items()}
        return {
            "name": self.name,
            "summary": doc[0] if doc else "",
            "config": dataclasses.asdict(self.config),
            "bodies": bodies,
        }

    # ------------------------------------------------------------------ hooks
    def _choose_seats(
        self, electorate: Electorate, block: Blocks, gs: GovState | None
    ) -> dict[str, tuple[str, ...]]:
        """Seats at ``block`` (init and rotations); default: the electorate's bodies as given."""
        return dict(electorate.bodies)

    def _init_extra(self, gs: GovState) -> GovState:
        return gs

    def _on_electorate(self, gs: GovState, block: Blocks) -> GovState:
        return gs

    def _rotate(self, gs: GovState, block: Blocks) -> GovState:
        return replace(gs, next_rotation=None)

    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        raise NotImplementedError

    def _check_voter(self, gs: GovState, ref: Referendum, voter: str) -> None:
        if ref.voters and voter not in ref.voters:
            raise GovernanceError(f"{voter!r} has no vote on referendum {ref.pid} ({ref.track})")
        if not ref.voters and gs.electorate.stake(voter) <= 0:
            raise GovernanceError(f"{voter!r} has no stake to vote on referendum {ref.pid}")

    def _check_canceller(self, gs: GovState, ref: Referendum, actor: str) -> None:
        raise GovernanceError(f"{self.name} has no cancel power")

    def _is_open_for_votes(self, ref: Referendum, block: Blocks) -> bool:
        return ref.state == RefState.ONGOING and (ref.deadline is None or block <= ref.deadline)

    def _open(
        self, gs: GovState, pid: int, proposer: str, lever: Lever, block: Blocks, track: str | None
    ) -> Referendum:
        raise NotImplementedError

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        """Settle every active referendum whose outcome falls at or before ``now``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _sync(
        self, gs: GovState, block: Blocks, rng: np.random.Generator | None = None
    ) -> GovState:
        if block < gs.block:
            raise GovernanceError(
                f"time runs forward: block {block} is before state block {gs.block}"
            )
        while gs.next_rotation is not None and gs.next_rotation <= block:
            due = gs.next_rotation
            gs = self._process(gs, due, rng)
            gs = replace(gs, block=due)
            gs = self._rotate(gs, due)
        gs = self._process(gs, block, rng)
        return replace(gs, block=block)

    def _settle(self, gs: GovState, block: Blocks) -> GovState:
        return replace(self._process(gs, block, None), block=block)

    @staticmethod
    def _put(gs: GovState, ref: Referendum) -> GovState:
        refs = list(gs.referenda)
        refs[ref.pid] = ref
        return replace(gs, referenda=tuple(refs))

    @staticmethod
    def _emit(gs: GovState, *events: GovEvent) -> GovState:
        return replace(gs, pending=(*gs.pending, *events))

    def _close(
        self, gs: GovState, ref: Referendum, state: RefState, at: Blocks, kind: str
    ) -> GovState:
        ref = replace(ref, state=state, decided=ref.decided if ref.decided is not None else at)
        gs = self._put(gs, ref)
        return self._emit(gs, GovEvent(kind, ref.pid, at, ref.lever, state))

    def _schedule(
        self,
        gs: GovState,
        ref: Referendum,
        decided: Blocks,
        at: Blocks,
        state: RefState = RefState.APPROVED,
    ) -> GovState:
        """Approve ``ref`` at ``decided`` for execution at ``at``."""
        ref = replace(ref, state=state, decided=decided, scheduled=at)
        gs = self._put(gs, ref)
        kind = "fast_tracked" if state == RefState.FAST_TRACKED else "approved"
        return self._emit(gs, GovEvent(kind, ref.pid, decided, ref.lever, state))

    def _enact(self, gs: GovState, ref: Referendum, at: Blocks) -> GovState:
        """Execute ``ref`` at block ``at`` and log it."""
        decided = ref.decided if ref.decided is not None else at
        # A delegated child logs the whole history: the parent's submission and every vote.
        submitted, votes = ref.submitted, ref.votes
        parent_pid = ref.parent
        while parent_pid is not None:
            parent = gs.referenda[parent_pid]
            submitted, votes = parent.submitted, (*parent.votes, *votes)
            parent_pid = parent.parent
        record = ExecutionRecord(
            ref.pid, ref.proposer, ref.lever, ref.track, votes, submitted, decided, at
        )
        ref = replace(ref, state=RefState.ENACTED, decided=decided, executed=at, scheduled=at)
        gs = replace(self._put(gs, ref), log=(*gs.log, record))
        return self._emit(gs, GovEvent("executed", ref.pid, at, ref.lever, RefState.ENACTED))

    def _run_scheduled(self, gs: GovState, now: Blocks) -> GovState:
        """Enact every approved referendum whose scheduled block has come."""
        for ref in gs.active():
            if (
                ref.state in (RefState.APPROVED, RefState.FAST_TRACKED)
                and ref.scheduled is not None
                and ref.scheduled <= now
            ):
                gs = self._enact(gs, ref, ref.scheduled)
        return gs

    @staticmethod
    def tally(
        ref: Referendum,
        electorate: Electorate,
        upto: Blocks | None = None,
        multiplier: Mapping[int, float] | None = None,
    ) -> Tally:
        """Weighted tally of ``ref`` (snapshot weights, else current stakes).

        ``multiplier`` maps a vote's conviction to its weight multiplier (OpenGov).
        """
        if ref.voters:
            weight = dict(zip(ref.voters, ref.weights, strict=True))
            total = float(sum(ref.weights))
            seats = len(ref.voters)
        else:
            weight = dict(electorate.stakes)
            total = electorate.issuance
            seats = sum(1 for s in electorate.stakes.values() if s > 0)
        aye = nay = abstain = veto = capital = 0.0
        aye_n = nay_n = 0
        for v in ref.latest_votes(upto).values():
            w = weight.get(v.voter, 0.0)
            m = multiplier.get(v.conviction, 1.0) if multiplier else 1.0
            if v.abstain:
                abstain += w
            elif v.aye:
                aye += w * m
                capital += w
                aye_n += 1
            else:
                nay += w * m
                nay_n += 1
                if v.veto:
                    veto += w
        return Tally(aye, nay, abstain, veto, aye_n, nay_n, total, seats, capital)
