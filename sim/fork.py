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

Whatever cannot be shared exactly is not: policies whose configs differ beyond
``governance.policy`` and ``governance.policy_config``, desks that would schedule different
events when built (false alarms), or a desk that acts before any matter run one by one
through :func:`sim.api.run`.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sim import build, engine
from sim.config import SimConfig

if TYPE_CHECKING:
    from sim.api import RunResult, ScenarioLike
    from sim.desks.governance import GovernanceDesk
    from sim.model import GovSimModel

__all__ = ["GOVERNANCE_FREE_EVENTS", "run_configs", "run_policies"]

#: Event handlers that never reach governance (neither directly nor through an event they
#: schedule for the same step). Any other due event ends the shared prefix: a handler added
#: later is assumed to reach governance until it is listed here.
GOVERNANCE_FREE_EVENTS: frozenset[str] = frozenset(
    {"quality_jump", "team_exit", "token_sale", "miner_move"}
)


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


def _same_but_policy(configs: Sequence[SimConfig]) -> bool:
    base = configs[0]
    for config in configs[1:]:
        aligned = config.model_copy(
            update={
                "governance": config.governance.model_copy(
                    update={
                        "policy": base.governance.policy,
                        "policy_config": base.governance.policy_config,
                    }
                )
            }
        )
        if aligned != base:
            return False
    return True


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
    """:func:`run_policies` on validated configs that differ only in their governance policy
    (``governance.policy`` and ``governance.policy_config``) and share one seed; configs that
    differ in anything else run one by one.

    Returns
    -------
    list of RunResult
        One per config, each equal to ``sim.api.run(config)``.
    """
    from sim import api

    def one_by_one() -> list[Any]:
        return [_guarded(api.run, return_exceptions, c, threads=threads) for c in configs]

    if len(configs) < 2 or not _same_but_policy(configs):
        return one_by_one()
    start = time.perf_counter()
    with engine.torch_threads(threads):
        try:
            model, desks = _shared_prefix(configs)
        except _PrefixOverrunError as exc:  # a bug in the prefix rule: correct, only slower
            warnings.warn(f"run_policies: {exc}; running the policies one by one", stacklevel=2)
            return one_by_one()
        except Exception:
            return one_by_one()  # each run meets (and reports) the failure itself
        if model is None:
            return one_by_one()
        prefix_s = time.perf_counter() - start
        try:
            return [
                _guarded(_finish, return_exceptions, model, config, desk, desks, prefix_s)
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
    configs: Sequence[SimConfig],
) -> tuple[GovSimModel | None, list[GovernanceDesk]]:
    """The model run up to the first step where governance is reached, with every config's
    desk on it; ``(None, [])`` when the desks cannot share it."""
    from sim.model import GovSimModel
    from sim.seeds import RunStreams

    streams = RunStreams.from_seed(configs[0].seed)
    # every desk starts from the governance stream as its own run's desk would
    governance_rng = copy.deepcopy(streams.governance)
    model = GovSimModel(configs[0], streams=streams)
    desks = [model.governance]
    # What the first desk scheduled when the model built it (false alarms), from a twin built
    # the same way: every other desk must schedule exactly that, which the queue already holds.
    twin, scheduled = _built_desk(model, configs[0], copy.deepcopy(governance_rng))
    for governor in twin.governors:
        governor.remove()
    for config in configs[1:]:
        desk, added = _built_desk(model, config, copy.deepcopy(governance_rng))
        desks.append(desk)
        if added != scheduled:
            engine.release(model)
            return None, []
    first = model.governance
    model.governance = _Fanout(model, desks)
    try:
        while not model.finished and not _governance_due(model):
            model.step()
            if not all(_quiet(d) for d in desks):
                raise _PrefixOverrunError("a desk has a matter after a step of the shared prefix")
    except BaseException:
        engine.release(model)
        raise
    finally:
        model.governance = first
    return model, desks


def _finish(
    model: GovSimModel,
    config: SimConfig,
    desk: GovernanceDesk,
    desks: Sequence[GovernanceDesk],
    prefix_s: float,
) -> RunResult:
    """Copy the prefix model with ``desk`` as its governance and run it to the end."""
    from sim import api

    start = time.perf_counter()
    shared_governance, shared_config = model.governance, model.config
    model.governance, model.config = desk, config
    try:
        memo: dict[int, Any] = {}
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
