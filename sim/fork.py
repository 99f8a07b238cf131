"""Run one scenario and seed under several governance policies, sharing what they share.

Under every policy a run has the same actors, signals and seeds, and governance only reads the
network until the first matter reaches it (a proposal, an exploit or a scam to answer, a
reversal, a false alarm, a vote). Up to that step every policy's run is the same run, bit for
bit: :func:`run_policies` simulates that prefix once, with every policy's governance desk
attached and kept up to date (each with its own copy of the governance stream, so each is
exactly where its own run would have it), then copies the model once per policy at the fork
point and finishes each copy under its own desk. Each result equals what :func:`sim.api.run`
gives for that policy and seed (tested against independent runs: time series, KPIs, events).

In ``covenant_2026`` the first matter is the cut on day 30 of 40, so 12 policies cost about
``0.75 + 12 x 0.25 = 3.75`` runs instead of 12.

Runs that differ in more than their policy (a study's design points) share a prefix too
when the fields they differ in are not read before the fork: the model is built and run on a
guarded view of the first config (:class:`_GuardedConfig`) that refuses to give those fields
out, and each copy gets its own config at the fork. A read of such a field (or anything the
guard cannot vouch for: a method of the config, a comparison, a copy) ends the attempt, and
the runs share by design point only. :data:`LATE_FIELDS` lists the fields a study's runner
puts together on that bet.

Whatever cannot be shared exactly is not: desks that would schedule different events when
built (false alarms), or a desk that acts before any matter run one by one through
:func:`sim.api.run`.
"""

from __future__ import annotations

import copy
import inspect
import time
import types
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sim import build, engine
from sim.config import SimConfig

if TYPE_CHECKING:
    from sim.api import RunResult, ScenarioLike
    from sim.desks.governance import GovernanceDesk
    from sim.model import GovSimModel

__all__ = ["GOVERNANCE_FREE_EVENTS", "LATE_FIELDS", "run_configs", "run_policies"]

#: Event handlers that never reach governance (neither directly nor through an event they
#: schedule for the same step). Any other due event ends the shared prefix: a handler added
#: later is assumed to reach governance until it is listed here.
GOVERNANCE_FREE_EVENTS: frozenset[str] = frozenset(
    {"quality_jump", "team_exit", "token_sale", "miner_move"}
)


#: Scenario fields the library's scenarios read only once governance has acted (probed on
#: covenant_2026, exploit_2024 and governance_frontier): the market's constants of an
#: intervention's price (contagion β, the duration exponent) and of an unstopped loss (the
#: security β), the exit's quality factor (a ``team_exit`` shock before the first matter reads
#: it early), the warranted share of random interventions (read when one arrives), and what
#: only the governance desk reads (the signers' correlation, the voters' signal accuracy, the
#: detection delay). A study's runs that differ only in these and in their policy are run
#: together (:func:`sim.runner.prefix_group`); the guard checks every read, so a field read
#: earlier costs the prefix simulated so far, never a wrong result.
LATE_FIELDS: tuple[str, ...] = (
    "market.contagion_beta",
    "market.duration_exponent",
    "market.security_beta",
    "owners.exit_quality_factor",
    "events.intervention_warranted_share",
    "governance.correlation",
    "governance.signal_accuracy",
    "governance.detection_delay_blocks",
)
#: Fields in which runs sharing a prefix may differ without a guard (each desk reads its own).
_POLICY_FIELDS = frozenset({"governance.policy", "governance.policy_config"})


class _Tripwire:
    """Where a guard notes the first read it refused (an ``except`` in the model may swallow
    the error; the prefix loop checks this after every step)."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def trip(self, reason: str) -> _PrefixOverrunError:
        if self.reason is None:
            self.reason = reason
        return _PrefixOverrunError(reason)


class _GuardedConfig:
    """A config section seen during a shared prefix: its fields, except the ``late`` ones.

    ``late`` maps a field name to None (the field may not be read at all) or to the late
    fields below it (a section, itself guarded). Other fields are the section's own values
    (equal in every run of the group). Properties and methods of the section run with the
    guard as ``self``; anything else (pydantic's methods, comparison, hashing, copying) is
    refused: the guard cannot tell what it would read.
    """

    __slots__ = ("_children", "_late", "_path", "_section", "_trip")

    def __init__(self, section: Any, late: dict[str, Any], path: str, trip: _Tripwire) -> None:
        object.__setattr__(self, "_section", section)
        object.__setattr__(self, "_late", late)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_trip", trip)
        object.__setattr__(self, "_children", {})

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() sees the section's class
        return type(self._section)

    def __getattr__(self, name: str) -> Any:
        section, late = self._section, self._late
        where = f"{self._path}{name}"
        if name in late:
            if late[name] is None:
                raise self._trip.trip(f"{where} was read during the shared prefix")
            child = self._children.get(name)
            if child is None:
                child = _GuardedConfig(getattr(section, name), late[name], f"{where}.", self._trip)
                self._children[name] = child
            return child
        cls = type(section)
        if name in cls.model_fields:
            return getattr(section, name)
        member = getattr(cls, name, None)
        if isinstance(member, property) and member.fget is not None:
            return member.fget(self)
        if inspect.isfunction(member) and not name.startswith(("model_", "_")):
            return types.MethodType(member, self)
        raise self._trip.trip(f"{where} was used during the shared prefix")

    def __setattr__(self, name: str, value: Any) -> None:
        raise self._trip.trip(f"{self._path}{name} was set during the shared prefix")

    def __eq__(self, other: object) -> bool:
        raise self._trip.trip(f"{self._path or 'config'} was compared during the shared prefix")

    def __hash__(self) -> int:
        raise self._trip.trip(f"{self._path or 'config'} was hashed during the shared prefix")

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        raise self._trip.trip(f"{self._path or 'config'} was copied during the shared prefix")

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise self._trip.trip(f"{self._path or 'config'} was pickled during the shared prefix")

    def __iter__(self) -> Any:
        raise self._trip.trip(f"{self._path or 'config'} was iterated during the shared prefix")

    def __repr__(self) -> str:
        raise self._trip.trip(f"{self._path or 'config'} was printed during the shared prefix")

    __str__ = __repr__

    def own_sections(self, config: Any) -> dict[int, Any]:
        """``{id(guard): section}`` for this guard and every guard below it: ``config``'s own
        sections in their place (a deep-copy memo)."""
        out = {id(self): config}
        for name, child in self._children.items():
            out.update(child.own_sections(getattr(config, name)))
        return out


def _late_tree(paths: Sequence[tuple[str, ...]], config: Any) -> dict[str, Any]:
    """The ``late`` argument of :class:`_GuardedConfig` for dotted ``paths`` into ``config``:
    a path stops at the first value that is not a config section (a list of shocks, a table,
    a number), which is then late as a whole."""
    from pydantic import BaseModel

    tree: dict[str, Any] = {}
    for path in paths:
        node, section = tree, config
        for depth, name in enumerate(path):
            if name in node and node[name] is None:
                break  # late as a whole already
            value = getattr(section, name)
            if depth == len(path) - 1 or not isinstance(value, BaseModel):
                node[name] = None
                break
            node = node.setdefault(name, {})
            section = value
    return tree


def _leaves(data: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(data, dict) and data:
        out: dict[tuple[str, ...], Any] = {}
        for key, value in data.items():
            out.update(_leaves(value, (*prefix, str(key))))
        return out
    return {prefix: data}


def differing_fields(configs: Sequence[SimConfig]) -> list[tuple[str, ...]]:
    """Paths (as tuples) of the config fields whose values differ between ``configs``,
    besides the policy; ``seed`` included."""
    dumps = [_leaves(c.model_dump(mode="python")) for c in configs]
    paths = set().union(*dumps)
    out = []
    for path in sorted(paths):
        values = [d.get(path, _MISSING) for d in dumps]
        differs = any(v != values[0] or type(v) is not type(values[0]) for v in values[1:])
        if differs and ".".join(path[:2]) not in _POLICY_FIELDS:
            out.append(path)
    return out


_MISSING = object()


class _Fanout:
    """The model's governance during the shared prefix: every policy's desk, kept current.

    ``advance`` and ``refresh_electorate`` go to every desk; ``open_proposals`` is empty for
    all of them before the first matter (checked). Anything else means the prefix went too far
    and raises.
    """

    def __init__(self, model: GovSimModel, desks: Sequence[GovernanceDesk]) -> None:
        self.model = model
        self.desks = list(desks)

    def advance(self) -> None:
        for desk in self.desks:
            self._reading(desk.advance)

    def refresh_electorate(self) -> None:
        for desk in self.desks:
            self._reading(desk.refresh_electorate)

    def _reading(self, call: Callable[[], None]) -> None:
        """Run a desk's ``call``, which must leave the network, the log and the queue alone
        (a policy that acts on its own, unprompted, cannot share the prefix)."""
        m = self.model
        before = (m.state, m.params, len(m.event_log), len(m._queue))
        call()
        after = (m.state, m.params, len(m.event_log), len(m._queue))
        if any(x is not y for x, y in zip(before[:2], after[:2], strict=True)) or (
            before[2:] != after[2:]
        ):
            raise _PrefixOverrunError("a governance desk acted during the shared prefix")

    def open_proposals(self) -> list[Any]:
        return []

    def __getattr__(self, name: str) -> Any:
        raise _PrefixOverrunError(f"governance.{name} was used during the shared prefix")


class _PrefixOverrunError(RuntimeError):
    """Governance was reached before the fork point (a bug in the prefix rule)."""


def _quiet(desk: GovernanceDesk) -> bool:
    """True while ``desk`` has nothing of its own: no proposal, case or pending event."""
    return not (desk.meta or desk.cases or desk._pending_events or desk._matters)


def _governance_due(model: GovSimModel) -> bool:
    """True when an event due at the coming step may reach governance."""
    return any(
        entry[3] not in GOVERNANCE_FREE_EVENTS for entry in model._queue if entry[0] <= model.block
    )


def _built_desk(
    model: GovSimModel, config: SimConfig, rng: Any
) -> tuple[GovernanceDesk, list[tuple[int, int, str, str]]]:
    """``config``'s governance desk on ``model`` as its own run would build it, and the events
    building it scheduled (taken back out of the model's queue)."""
    from sim.desks import GovernanceDesk

    queue, seq = list(model._queue), model._seq
    running = model.config
    model.config = config  # the desk reads its policy and settings from the host's config
    try:
        policy = build.governance_policy(config)
        seats = build.governors(model, policy, config.governance)
        desk = GovernanceDesk(model, policy, seats, rng)
    finally:
        model.config = running
    added = sorted(
        (block, priority, handler, repr(args))
        for block, priority, n, handler, args in model._queue
        if n >= seq
    )
    model._queue, model._seq = queue, seq
    return desk, added


def run_policies(
    scenario: ScenarioLike,
    policies: Sequence[str],
    seed: int | None = None,
    *,
    threads: int | None = 1,
    return_exceptions: bool = False,
) -> list[Any]:
    """Simulate ``scenario`` with ``seed`` under each of ``policies``, sharing the common prefix.

    Parameters
    ----------
    scenario
        Anything :func:`sim.api.run` accepts.
    policies
        Policy names, each run once (order kept).
    seed
        Root seed (the scenario's when None).
    threads
        torch intra-op threads during the runs.
    return_exceptions
        Return a run's exception in its place instead of raising it (the other policies' runs
        still finish), as :func:`asyncio.gather` does.

    Returns
    -------
    list of RunResult
        One per policy, each equal to ``sim.api.run(scenario, policy, seed)`` (``wall_s``
        counts the shared prefix in every run).
    """
    from sim import api

    if not policies:
        return []
    configs = [api.load_config(scenario, policy=p, seed=seed) for p in policies]
    return run_configs(configs, threads=threads, return_exceptions=return_exceptions)


def run_configs(
    configs: Sequence[SimConfig],
    *,
    threads: int | None = 1,
    return_exceptions: bool = False,
) -> list[Any]:
    """:func:`run_policies` on validated configs that share one seed.

    Configs that differ only in their governance policy (``governance.policy`` and
    ``governance.policy_config``) share the prefix up to the first matter. Configs that differ
    in other fields too share it when none of those fields is read before the fork (checked
    as the prefix runs, see :class:`_GuardedConfig`); otherwise they share it by groups that
    differ only in their policy. Configs with different seeds run one by one.

    Returns
    -------
    list of RunResult
        One per config, each equal to ``sim.api.run(config)``.
    """
    from sim import api

    def one_by_one() -> list[Any]:
        return [_guarded(api.run, return_exceptions, c, threads=threads) for c in configs]

    if len(configs) < 2:
        return one_by_one()
    late = differing_fields(configs)
    if any(path == ("seed",) for path in late):
        return one_by_one()
    if late:
        results = _run_shared(configs, late, threads, return_exceptions)
        return (
            results
            if results is not None
            else _by_policy_groups(configs, threads=threads, return_exceptions=return_exceptions)
        )
    results = _run_shared(configs, [], threads, return_exceptions)
    return results if results is not None else one_by_one()


def _by_policy_groups(
    configs: Sequence[SimConfig], *, threads: int | None, return_exceptions: bool
) -> list[Any]:
    """:func:`run_configs` on each group of ``configs`` that differ only in their policy."""
    groups: list[list[int]] = []
    for k, config in enumerate(configs):
        for group in groups:
            if not differing_fields([configs[group[0]], config]):
                group.append(k)
                break
        else:
            groups.append([k])
    results: list[Any] = [None] * len(configs)
    for group in groups:
        outcomes = run_configs(
            [configs[k] for k in group], threads=threads, return_exceptions=return_exceptions
        )
        for k, outcome in zip(group, outcomes, strict=True):
            results[k] = outcome
    return results


def _run_shared(
    configs: Sequence[SimConfig],
    late: Sequence[tuple[str, ...]],
    threads: int | None,
    return_exceptions: bool,
) -> list[Any] | None:
    """Every config's run from one prefix that never reads the ``late`` fields; None when
    that cannot be done (the caller then runs them another way)."""
    start = time.perf_counter()
    with engine.torch_threads(threads):
        try:
            model, desks, guard = _shared_prefix(configs, late)
        except _PrefixOverrunError as exc:
            if not late:  # a bug in the prefix rule: correct, only slower
                warnings.warn(f"run_policies: {exc}; running the policies one by one", stacklevel=3)
            return None
        except Exception:
            return None  # each run meets (and reports) the failure itself
        if model is None:
            return None
        prefix_s = time.perf_counter() - start
        try:
            return [
                _guarded(_finish, return_exceptions, model, config, desk, desks, prefix_s, guard)
                for config, desk in zip(configs, desks, strict=True)
            ]
        finally:
            engine.release(model)


def _guarded(work: Callable[..., Any], return_exceptions: bool, *args: Any, **kw: Any) -> Any:
    if not return_exceptions:
        return work(*args, **kw)
    try:
        return work(*args, **kw)
    except Exception as exc:
        return exc


def _shared_prefix(
    configs: Sequence[SimConfig], late: Sequence[tuple[str, ...]] = ()
) -> tuple[GovSimModel | None, list[GovernanceDesk], _GuardedConfig | None]:
    """The model run up to the first step where governance is reached, with every config's
    desk on it, built and run on a view of ``configs[0]`` that refuses the ``late`` fields
    (the returned guard; None when there are none); ``(None, [], None)`` when the desks
    cannot share it."""
    from sim.model import GovSimModel
    from sim.seeds import RunStreams

    streams = RunStreams.from_seed(configs[0].seed)
    # every desk starts from the governance stream as its own run's desk would
    governance_rng = copy.deepcopy(streams.governance)
    trip = _Tripwire()
    guard = _GuardedConfig(configs[0], _late_tree(late, configs[0]), "", trip) if late else None
    host_config: Any = configs[0] if guard is None else guard
    model = GovSimModel(host_config, streams=streams, governance_config=configs[0])
    desks = [model.governance]
    # What the first desk scheduled when the model built it (false alarms), from a twin built
    # the same way: every other desk must schedule exactly that, which the queue already holds.
    try:
        twin, scheduled = _built_desk(model, configs[0], copy.deepcopy(governance_rng))
        for governor in twin.governors:
            governor.remove()
        for config in configs[1:]:
            desk, added = _built_desk(model, config, copy.deepcopy(governance_rng))
            desks.append(desk)
            if added != scheduled:
                engine.release(model)
                return None, [], None
        first = model.governance
        model.governance = _Fanout(model, desks)
        try:
            while not model.finished and not _governance_due(model):
                model.step()
                if trip.reason is not None:
                    raise _PrefixOverrunError(trip.reason)
                if not all(_quiet(d) for d in desks):
                    raise _PrefixOverrunError(
                        "a desk has a matter after a step of the shared prefix"
                    )
        finally:
            model.governance = first
        if trip.reason is not None:
            raise _PrefixOverrunError(trip.reason)
    except BaseException:
        engine.release(model)
        raise
    return model, desks, guard


def _finish(
    model: GovSimModel,
    config: SimConfig,
    desk: GovernanceDesk,
    desks: Sequence[GovernanceDesk],
    prefix_s: float,
    guard: _GuardedConfig | None = None,
) -> RunResult:
    """Copy the prefix model with ``desk`` as its governance and ``config`` in place of the
    guarded view (and of each section of it the model kept), and run it to the end."""
    from sim import api

    start = time.perf_counter()
    shared_governance, shared_config = model.governance, model.config
    model.governance, model.config = desk, config
    try:
        memo: dict[int, Any] = {} if guard is None else guard.own_sections(config)
        own = copy.deepcopy(model, memo)
    finally:
        model.governance, model.config = shared_governance, shared_config
    # the other policies' persons were registered with the prefix model: not this run's agents
    for other in desks:
        if other is desk:
            continue
        for governor in other.governors:
            clone = memo.get(id(governor))
            if clone is not None:
                clone.remove()
    return api._run_model(own, config, start - prefix_s, keep_model=False)
