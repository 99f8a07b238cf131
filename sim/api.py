"""The simulator's public API: ``run``, ``RunResult`` and the shipped checkers.

>>> from sim import run
>>> result = run({"horizon_days": 2, "network": {"n_subnets": 2, "n_uids": 16, "n_validators": 3},
...               "stakers": {"n_stakers": 4}}, policy="sudo", seed=1)
>>> sorted(result.kpis)[:2]
['days', 'decentralisation.decision_gini']
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import pandas as pd

from sim import engine
from sim.config import SimConfig
from sim.seeds import RunStreams, check_seed

if TYPE_CHECKING:
    from sim.model import GovSimModel
    from sim.schema import Scenario

__all__ = [
    "ConservationReport",
    "RunResult",
    "check_conservation",
    "check_determinism",
    "load_config",
    "run",
]

#: What ``run`` and ``load_config`` accept: a SimConfig, a mapping of its fields, a path to a
#: TOML scenario, or a loaded ``sim.schema.Scenario``.
ScenarioLike: TypeAlias = "SimConfig | Mapping[str, Any] | str | os.PathLike[str] | Scenario"


@dataclass(frozen=True)
class RunResult:
    """The outputs of one run.

    Attributes
    ----------
    timeseries
        Tidy time series: one row per subnet and recorded time (block, epoch, day, TAO and alpha
        prices, emission shares, stake, income per role, governance premium...).
    kpis
        Flat dict of outcome metrics (see :func:`sim.metrics.compute_kpis`).
    events
        Everything that happened, in order: shocks, proposals, votes' outcomes, executed levers.
    config
        The configuration that ran (with the seed actually used).
    wall_s
        Wall-clock seconds of the run.
    model
        The finished model with ``run(..., keep_model=True)`` (debugging, the explorer's
        network graph); None otherwise. Whoever keeps it releases it with
        ``sim.engine.release(model)``.
    """

    timeseries: pd.DataFrame
    kpis: dict[str, Any]
    events: list[dict[str, Any]]
    config: SimConfig
    wall_s: float = field(default=0.0, compare=False)
    model: GovSimModel | None = field(default=None, compare=False, repr=False)

    def fingerprint(self) -> str:
        """A hash of the time series, KPIs and events (equal for identical runs)."""
        h = hashlib.sha256()
        h.update(pd.util.hash_pandas_object(self.timeseries, index=True).values.tobytes())
        h.update(repr(sorted(self.kpis.items())).encode())
        h.update(repr(self.events).encode())
        return h.hexdigest()


def load_config(
    scenario: ScenarioLike, *, policy: str | None = None, seed: int | None = None
) -> SimConfig:
    """Turn a scenario (config, dict, TOML path or Scenario) into a validated :class:`SimConfig`.

    A ``SimConfig`` (or a ``Scenario``'s) is used as it is: it was validated when it was built.
    A dict or a file is validated here, once. ``policy`` and ``seed`` are checked on their own
    and replace the fields without validating the rest again.

    Parameters
    ----------
    scenario
        A ``SimConfig``, a dict of its fields (units allowed), a path to a scenario TOML file
        (read with ``sim.schema.load_scenario``; its ``[sweep]`` is not built), or a
        ``sim.schema.Scenario``.
    policy
        Governance policy name overriding the scenario's (its ``policy_config`` is dropped:
        another policy's fields would not fit).
    seed
        Seed overriding the scenario's: an integer in [0, 2^63 - 1].

    Raises
    ------
    ValueError
        With the offending field named (a ``sim.schema.ScenarioError`` for dicts and files).
    """
    from sim.schema import Scenario, load_scenario, validate_config

    if isinstance(scenario, SimConfig):
        config = scenario
    elif isinstance(scenario, Scenario):
        config = scenario.config
    elif isinstance(scenario, Mapping):
        config = validate_config(scenario, source="<config dict>")
    elif isinstance(scenario, str | os.PathLike):
        config = load_scenario(scenario, check_sweep=False).config
    else:
        raise ValueError(
            f"scenario: expected SimConfig, dict, path or Scenario, got {type(scenario).__name__}"
        )
    if policy is not None and policy != config.governance.policy:
        config = config.with_policy(policy)
    if seed is not None and seed != config.seed:
        config = config.model_copy(update={"seed": check_seed(seed)})
    return config


def run(
    scenario: ScenarioLike,
    policy: str | None = None,
    seed: int | None = None,
    *,
    keep_model: bool = False,
    threads: int | None = 1,
) -> RunResult:
    """Simulate one scenario under one governance policy with one seed.

    The seed is checked here, once, and the run's random streams are spawned from it here
    (``sim.seeds.RunStreams``); the model receives generators, never a seed to coerce.

    Parameters
    ----------
    scenario
        A ``SimConfig``, a dict, or a path to a scenario TOML file.
    policy
        Governance policy name (overrides the scenario's ``governance.policy``).
    seed
        Root seed, a non-negative integer (overrides the scenario's ``seed``). Same config and
        seed, same outputs. Generators are refused: a run is replayed from its recorded seed.
    keep_model
        Keep the finished model on ``result.model`` instead of releasing it (debugging only;
        release it with ``sim.engine.release`` when done).
    threads
        torch intra-op threads during the run (restored afterwards); None leaves the setting.

    Returns
    -------
    RunResult

    Raises
    ------
    ValueError
        Naming the field, when the seed or the scenario is invalid.
    """
    from sim.model import GovSimModel

    config, streams = _config_and_streams(scenario, policy, seed)
    start = time.perf_counter()
    with engine.torch_threads(threads):
        model = GovSimModel(config, streams=streams)
        return _run_model(model, config, start, keep_model)


def _config_and_streams(
    scenario: ScenarioLike, policy: str | None, seed: object
) -> tuple[SimConfig, RunStreams]:
    """The validated config (seed checked first) and the run's streams, spawned once."""
    config = load_config(scenario, policy=policy, seed=None if seed is None else check_seed(seed))
    return config, RunStreams.from_seed(config.seed)


def _run_model(model: GovSimModel, config: SimConfig, start: float, keep_model: bool) -> RunResult:
    from sim.metrics import compute_kpis

    try:
        model.run()
        result = RunResult(
            timeseries=model.recorder.timeseries(),
            kpis=compute_kpis(model),
            events=list(model.event_log),
            config=config,
            wall_s=time.perf_counter() - start,
            model=model if keep_model else None,
        )
    finally:
        if not keep_model:
            engine.release(model)
    return result


def check_determinism(
    scenario: ScenarioLike, *, seed: int = 0, other_seed: int | None = None
) -> bool:
    """Run ``scenario`` twice with ``seed`` (and once with another seed) and compare.

    Parameters
    ----------
    scenario
        Anything :func:`run` accepts (use a small one: it runs two or three times).
    seed
        The seed of the repeated runs.
    other_seed
        If given, also check that this seed gives different outputs.

    Returns
    -------
    bool
        True when the repeated runs are identical (and the other seed differs).

    Raises
    ------
    AssertionError
        With what differed, when the check fails.
    """
    first = run(scenario, seed=seed)
    second = run(scenario, seed=seed)
    pd.testing.assert_frame_equal(first.timeseries, second.timeseries, check_exact=True)
    assert _same(first.kpis, second.kpis), "kpis differ between identical runs"
    assert first.events == second.events, "event lists differ between identical runs"
    if other_seed is not None:
        third = run(scenario, seed=other_seed)
        assert third.fingerprint() != first.fingerprint(), (
            f"seeds {seed} and {other_seed} gave identical runs"
        )
    return True


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
            continue  # both NaN
        if x != y:
            return False
    return True


@dataclass(frozen=True)
class ConservationReport:
    """The ledger checked at every step of a run: steps checked and the worst gaps (rao)."""

    steps: int
    ok: bool
    worst_tao_gap: float
    worst_alpha_gap: float
    first_failure: str = ""


def check_conservation(
    scenario: ScenarioLike, *, seed: int | None = None, strict: bool = True
) -> ConservationReport:
    """Run ``scenario`` and check the economy's ledger after construction and every step.

    Parameters
    ----------
    scenario
        Anything :func:`run` accepts (keep it small).
    seed
        Seed override.
    strict
        Raise ``AssertionError`` at the first failing step.

    Returns
    -------
    ConservationReport
    """
    from protocol.economy import check_ledger
    from sim.model import GovSimModel

    config, streams = _config_and_streams(scenario, None, seed)
    with engine.torch_threads(1):
        model = GovSimModel(config, streams=streams)
        return _check_model_ledger(model, strict, check_ledger)


def _check_model_ledger(model: GovSimModel, strict: bool, check_ledger: Any) -> ConservationReport:
    worst_tao = worst_alpha = 0.0
    steps = 0
    failure = ""
    try:
        while True:
            report = check_ledger(model.state)
            worst_tao = max(worst_tao, abs(float(report.tao_discrepancy)))
            worst_alpha = max(worst_alpha, float(report.alpha_discrepancy.abs().max()))
            if not report.ok and not failure:
                failure = f"block {model.block}: {report}"
                if strict:
                    raise AssertionError(f"ledger broken at step {steps}: {failure}")
            if model.finished:
                break
            model.step()
            steps += 1
    finally:
        engine.release(model)
    return ConservationReport(steps, not failure, worst_tao, worst_alpha, failure)
