"""The sweep runner: plan a study, run it on any executor, resume it (docs/studies.md).

A study is a list of runs. Run ``(scenario, replication)`` is one call of the model
(``sim.run`` by default) with the scenario's validated config, one governance policy and an
integer seed derived from the study's root entropy. Configs are validated once, before the
plan (``sim.schema``); workers receive the :class:`~sim.config.SimConfig` objects themselves,
and the store keeps their JSON for the record (read back, and validated once, by
:func:`resume` and :func:`replay`). Scenarios are (design point, policy) pairs;
the seed's spawn key is ``(point, replication)``, so every policy sees the same random numbers
for the same point and replication (common random numbers: policy differences are not
drowned in seed noise).

The runner depends only on ``Executor.submit`` and ``concurrent.futures.wait`` (at most
``2 * executor.max_workers`` runs in flight when the executor says how many workers it has). The
task, :func:`run_one`, is a module-level function that never raises: a failure comes back as
data (status ``FAILED`` with its traceback), a broken or cancelled executor marks runs
``ABORTED``, and :func:`resume` re-submits everything that did not succeed with
``attempt + 1`` and the recorded seed.
"""

from __future__ import annotations

import importlib
import json
import math
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    CancelledError,
    Executor,
    Future,
    wait,
)
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.config import SimConfig
from sim.executors import pin_threads
from sim.sampling import Point, new_entropy, run_seed
from sim.store import MANIFEST_COLUMNS, PartWriter, StudyStore

__all__ = [
    "RunConfig",
    "RunRef",
    "StudyPlan",
    "SweepSummary",
    "market_draws",
    "plan_study",
    "prefix_group",
    "replay",
    "resume",
    "run_bundle",
    "run_cost",
    "run_one",
    "run_sweep",
    "stored_configs",
]

_VERSIONED_PACKAGES = ("govsim", "numpy", "scipy", "torch", "mesa", "pandas", "pyarrow", "pydantic")


@dataclass(frozen=True)
class RunConfig:
    """How every run of a study is executed.

    Parameters
    ----------
    model
        ``"module:function"`` called as ``fn(config, policy=..., seed=...)`` and returning an
        object with ``timeseries`` (DataFrame), ``kpis`` (dict) and ``events``. Default ``sim:run``.
    mode
        ``"trajectory"`` stores timeseries, KPIs and events; ``"kpi"`` stores only KPIs.
    market_uncertainty
        ``"prior"``: every replication draws the fitted market constants (one joint row of
        ``scenarios/data/market_prior.toml``; the outer Monte Carlo of docs/studies.md), the
        same for every policy and design point of the replication, and recorded per run in the
        manifest's ``market_draw``; a design point that sets a market constant keeps its value.
        ``"off"`` (default): the scenario's constants.
    """

    model: str = "sim:run"
    mode: Literal["trajectory", "kpi"] = "trajectory"
    market_uncertainty: Literal["off", "prior"] = "off"

    def __post_init__(self) -> None:
        if ":" not in self.model:
            raise ValueError(f"RunConfig.model: expected 'module:function', got {self.model!r}")
        if self.mode not in ("trajectory", "kpi"):
            raise ValueError(f"RunConfig.mode: expected 'trajectory' or 'kpi', got {self.mode!r}")
        if self.market_uncertainty not in ("off", "prior"):
            raise ValueError(
                "RunConfig.market_uncertainty: expected 'off' or 'prior', got "
                f"{self.market_uncertainty!r}"
            )


@dataclass(frozen=True)
class RunRef:
    """What a worker sends back: a small reference, never the results themselves."""

    run_id: str
    attempt: int
    status: str
    part_path: str | None
    n_rows: int
    seed: int
    wall_s: float
    worker: str
    error: str | None = None
    traceback: str | None = None

    @classmethod
    def unfinished(
        cls,
        run_id: str,
        attempt: int,
        status: str,
        seed: int,
        error: str,
        *,
        wall_s: float = 0.0,
        worker: str = "",
        traceback: str | None = None,
    ) -> RunRef:
        """A run that wrote no part: ``FAILED`` (its own error) or ``ABORTED`` (the executor's)."""
        return cls(run_id, attempt, status, None, 0, int(seed), wall_s, worker, error, traceback)


@dataclass(frozen=True)
class StudyPlan:
    """Everything written before the first submit: sweep metadata, scenarios and manifest.

    ``configs`` holds the validated config of each scenario (by ``scenario_id``): what the
    workers receive. ``scenarios`` stores their JSON.
    """

    sweep: dict[str, Any]
    scenarios: pd.DataFrame
    manifest: pd.DataFrame
    configs: tuple[SimConfig, ...] = ()


@dataclass
class SweepSummary:
    """Counts by status after a sweep or resume, and the wall time."""

    root: Path
    counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every run succeeded."""
        return set(self.counts) <= {"SUCCEEDED"}

    def line(self) -> str:
        """One readable line: ``12 runs: 11 SUCCEEDED, 1 FAILED in 8.3 s``."""
        total = sum(self.counts.values())
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        return f"{total} runs: {parts} in {self.wall_s:.1f} s"


# -- the task -------------------------------------------------------------------------------
def _resolve(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _flat_scalars(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested KPI dicts to ``a.b`` keys; numpy scalars become Python scalars."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat_scalars(value, prefix=f"{name}."))
        elif isinstance(value, np.generic):
            out[name] = value.item()
        else:
            out[name] = value
    return out


#: KPI keys the manifest already holds: dropped so joins never see two columns of one name.
_MANIFEST_OWNED = ("policy", "scenario_id", "point", "replication", "run_id", "attempt")


def result_tables(result: Any, mode: str) -> dict[str, pd.DataFrame]:
    """Turn a model result into the store's tables (``kpis`` always; the rest in trajectories)."""
    kpis = {
        k: v
        for k, v in _flat_scalars(dict(result.kpis)).items()
        if k not in _MANIFEST_OWNED and not k.startswith("_")
    }
    tables = {"kpis": pd.DataFrame([kpis])}
    if mode == "trajectory":
        series = getattr(result, "timeseries", None)
        if isinstance(series, pd.DataFrame):
            tables["timeseries"] = series.reset_index(drop=series.index.name is None)
        events = getattr(result, "events", None)
        if isinstance(events, pd.DataFrame):
            frame = events
        elif events:
            frame = pd.DataFrame([e if isinstance(e, Mapping) else asdict(e) for e in events])
        else:
            frame = pd.DataFrame()
        if not frame.empty:
            tables["events"] = frame
    return tables


def run_one(
    run_id: str,
    attempt: int,
    config: SimConfig,
    policy: str,
    seed: int,
    run_config: RunConfig,
    writer: PartWriter,
) -> RunRef:
    """Run one simulation and write its tables; never raises (failures are data).

    Parameters
    ----------
    run_id, attempt
        Identify the run and this try of it.
    config
        The scenario's validated config (never validated again here).
    policy
        The governance policy of the run.
    seed
        The model's integer seed (from the manifest).
    run_config
        The study's :class:`RunConfig`.
    writer
        The study's part writer.

    Returns
    -------
    RunRef
        ``SUCCEEDED`` with the part file and row count, or ``FAILED`` with the traceback.
    """
    pin_threads()
    from sim.store import _TOKEN, _worker_token

    if _TOKEN["token"] is None:
        _TOKEN["token"] = _worker_token()
    start = time.perf_counter()
    try:
        model = _resolve(run_config.model)
        pin_threads()  # again: importing the model may have just loaded torch
        result = model(config, policy=policy, seed=int(seed))
        tables = result_tables(result, run_config.mode)
        part = writer.write(run_id, attempt, tables)
        n_rows = len(tables.get("timeseries", tables["kpis"]))
        return RunRef(
            run_id,
            attempt,
            "SUCCEEDED",
            part,
            n_rows,
            int(seed),
            time.perf_counter() - start,
            _TOKEN["token"],
        )
    except Exception as exc:
        return RunRef.unfinished(
            run_id,
            attempt,
            "FAILED",
            seed,
            f"{type(exc).__name__}: {exc}",
            wall_s=time.perf_counter() - start,
            worker=str(_TOKEN["token"]),
            traceback=traceback.format_exc(),
        )


#: The model whose runs of one design point and seed share their prefix (``sim.fork``).
_SHARING_MODEL = "sim:run"
#: Tasks per worker a study's bundles are cut into at least (when there are runs enough).
_TASKS_PER_WORKER = 4


def run_bundle(
    items: Sequence[tuple[str, int, SimConfig, str]],
    seed: int,
    run_config: RunConfig,
    writer: PartWriter,
) -> list[RunRef]:
    """Run design points that differ only in late fields (:func:`prefix_group`) under one seed
    and several policies, sharing the runs' common prefix (:func:`sim.fork.run_configs`), and
    write each run's tables; never raises.

    Parameters
    ----------
    items
        ``(run_id, attempt, config, policy)`` of each run.
    seed, run_config, writer
        As for :func:`run_one` (one seed for every item).

    Returns
    -------
    list of RunRef
        One per item, in order: each run succeeds or fails on its own, and each equals what
        :func:`run_one` would store for it.
    """
    pin_threads()
    from sim.store import _TOKEN, _worker_token

    if _TOKEN["token"] is None:
        _TOKEN["token"] = _worker_token()
    worker = str(_TOKEN["token"])
    start = time.perf_counter()
    results: list[Any] = []
    try:
        from sim.api import load_config
        from sim.fork import run_configs

        pin_threads()
        for _, _, config, policy in items:
            try:
                results.append(load_config(config, policy=policy, seed=int(seed)))
            except Exception as exc:  # this run's config: the others still run
                results.append(exc)
        ready = [k for k, r in enumerate(results) if isinstance(r, SimConfig)]
        outcomes = run_configs([results[k] for k in ready], return_exceptions=True)
        for k, outcome in zip(ready, outcomes, strict=True):
            results[k] = outcome
    except Exception as exc:  # not one run's failure: every run of the bundle reports it
        results = [exc] * len(items)
    refs = []
    for (run_id, attempt, _, _), result in zip(items, results, strict=True):
        try:
            if isinstance(result, BaseException):
                raise result
            tables = result_tables(result, run_config.mode)
            part = writer.write(run_id, attempt, tables)
            n_rows = len(tables.get("timeseries", tables["kpis"]))
            refs.append(
                RunRef(
                    run_id,
                    attempt,
                    "SUCCEEDED",
                    part,
                    n_rows,
                    int(seed),
                    float(result.wall_s),
                    worker,
                )
            )
        except Exception as exc:
            refs.append(
                RunRef.unfinished(
                    run_id,
                    attempt,
                    "FAILED",
                    seed,
                    f"{type(exc).__name__}: {exc}",
                    wall_s=time.perf_counter() - start,
                    worker=worker,
                    traceback="".join(traceback.format_exception(exc)),
                )
            )
    return refs


# -- planning -------------------------------------------------------------------------------
def _package_versions() -> dict[str, str]:
    out = {}
    for name in _VERSIONED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _code_version() -> str | None:
    """The git commit of the working tree, when there is one (provenance only)."""
    head = Path(__file__).resolve().parents[1] / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()
        return ref
    except OSError:
        return None


def plan_study(
    configs: Sequence[SimConfig | Mapping[str, Any]],
    points: Sequence[Point],
    policies: Sequence[str],
    replications: int,
    *,
    entropy: int | None = None,
    run_config: RunConfig | None = None,
    meta: Mapping[str, Any] | None = None,
    common_seeds: bool = False,
) -> StudyPlan:
    """Lay out a study: one scenario per (design point, policy), ``replications`` runs each.

    Parameters
    ----------
    configs
        The validated config of each design point, aligned with ``points``. A plain mapping
        is validated here, once (``sim.schema.validate_config``).
    points
        The design points (parameter path -> value), stored as scenario columns.
    policies
        Governance policy names; every point runs under each.
    replications
        Runs per scenario (seeds).
    entropy
        The study's root entropy; drawn fresh when None.
    run_config
        How runs execute; default :class:`RunConfig`.
    meta
        Extra provenance for ``sweep.json`` (scenario file, its text, ...).
    common_seeds
        Give every design point the same seeds (spawn key ``(0, replication)``), so points are
        compared on common random numbers too (a sensitivity analysis); default: each point
        its own (``(point, replication)``).

    Notes
    -----
    With ``run_config.market_uncertainty == "prior"`` each replication's market constants are
    drawn here, once (:func:`sim.calibration.prior.replication_market_draw`), and stored in
    the manifest's ``market_draw`` column (JSON), so every executor, :func:`resume` and
    :func:`replay` apply the same constants.
    """
    if len(configs) != len(points):
        raise ValueError("plan_study: configs and points must have the same length")
    if replications < 1:
        raise ValueError(f"replications: expected >= 1, got {replications}")
    if not policies:
        raise ValueError("policies: expected at least one policy")
    entropy = new_entropy() if entropy is None else int(entropy)
    run_config = run_config or RunConfig()
    validated = [_validated(cfg, p) for p, cfg in enumerate(configs)]
    draws, uncertainty = _replication_draws(run_config, entropy, replications)
    scenario_rows: list[dict[str, Any]] = []
    scenario_configs: list[SimConfig] = []
    runs: list[dict[str, Any]] = []
    for p, (point, cfg) in enumerate(zip(points, validated, strict=True)):
        # Keys in the config's own order: strategies are assigned in mix order, so a sorted
        # copy would replay differently from the run.
        text = json.dumps(cfg.model_dump(mode="json"), default=str)
        for policy in policies:
            sid = len(scenario_rows)
            scenario_rows.append(
                {"scenario_id": sid, "point": p, "policy": policy, **point, "config": text}
            )
            scenario_configs.append(cfg)
            for r in range(replications):
                runs.append(
                    {
                        "run_id": f"s{sid:04d}-r{r:04d}",
                        "scenario_id": sid,
                        "point": p,
                        "policy": policy,
                        "replication": r,
                        "spawn_key": f"{0 if common_seeds else p},{r}",
                        "seed": run_seed(entropy, 0 if common_seeds else p, r),
                        "status": "PENDING",
                        "attempt": 0,
                        "part_path": None,
                        "n_rows": 0,
                        "wall_s": math.nan,
                        "worker": None,
                        "error": None,
                        "traceback": None,
                        "market_draw": _draw_text(draws.get(r), point),
                    }
                )
    sweep = {
        "entropy": str(entropy),
        "spawn_key": "(0, replication)" if common_seeds else "(point, replication)",
        "market_uncertainty": uncertainty,
        "replications": replications,
        "policies": list(policies),
        "n_points": len(points),
        "run_config": asdict(run_config),
        "code_version": _code_version(),
        "packages": _package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **dict(meta or {}),
    }
    manifest = pd.DataFrame(runs, columns=list(MANIFEST_COLUMNS))
    return StudyPlan(sweep, pd.DataFrame(scenario_rows), manifest, tuple(scenario_configs))


def _replication_draws(
    run_config: RunConfig, entropy: int, replications: int
) -> tuple[dict[int, dict[str, float]], dict[str, Any]]:
    """The market constants of every replication, and their provenance for ``sweep.json``."""
    if run_config.market_uncertainty == "off":
        return {}, {"mode": "off"}
    from sim.calibration.prior import default_prior_path, load_market_prior, replication_market_draw

    prior = load_market_prior()
    draws = {r: replication_market_draw(prior, entropy, r) for r in range(replications)}
    return draws, {
        "mode": "prior",
        "prior_file": str(default_prior_path()),
        "prior_created": prior.created,
        "prior_command": prior.command,
        "constants": sorted(f"market.{name}" for name in prior.samples),
        "draw_spawn_key": "(2**40, replication)",
    }


def _draw_text(draw: Mapping[str, float] | None, point: Mapping[str, Any]) -> str | None:
    """A replication's draw as JSON, less the constants the design point sets itself."""
    if not draw:
        return None
    fixed = {k for k in point if k == "market" or k.startswith("market.")}
    kept = {k: v for k, v in draw.items() if "market" not in fixed and k not in fixed}
    return json.dumps(kept, sort_keys=True) if kept else None


def _with_draw(config: SimConfig, draw: Any) -> SimConfig:
    """``config`` with a run's recorded market draw (manifest ``market_draw``) applied."""
    if not isinstance(draw, str) or not draw:
        return config
    from sim.calibration.prior import with_market_constants

    return with_market_constants(config, json.loads(draw))


def market_draws(store: StudyStore | str | Path) -> pd.DataFrame:
    """The market constants every run drew (one row per run; empty columns when none did).

    Returns
    -------
    DataFrame
        ``run_id, point, policy, replication`` and one ``market.<constant>`` column per drawn
        constant (NaN where a design point set it itself).
    """
    store = store if isinstance(store, StudyStore) else StudyStore(store)
    manifest = store.manifest()
    rows = [json.loads(d) if isinstance(d, str) and d else {} for d in manifest["market_draw"]]
    draws = pd.DataFrame(rows, index=manifest.index)
    return pd.concat([manifest[["run_id", "point", "policy", "replication"]], draws], axis=1)


def _validated(config: SimConfig | Mapping[str, Any], point: int) -> SimConfig:
    if isinstance(config, SimConfig):
        return config
    from sim.schema import validate_config

    return validate_config(config, source=f"design point {point}")


def stored_configs(store: StudyStore) -> dict[int, SimConfig]:
    """The configs of a stored study by ``scenario_id``, validated once each (read from disk).

    A config that no longer validates (a study written by another version) is left out; its
    runs then fail as data with the validation error (see :func:`_execute`).
    """
    from sim.schema import ScenarioError, validate_config

    out: dict[int, SimConfig] = {}
    scenarios = store.scenarios()
    for sid, text in zip(scenarios["scenario_id"], scenarios["config"], strict=True):
        try:
            out[int(sid)] = validate_config(
                json.loads(str(text)), source=f"{store.scenarios_path} scenario {sid}"
            )
        except (ScenarioError, ValueError) as exc:
            out[int(sid)] = _Invalid(str(exc))  # type: ignore[assignment]
    return out


@dataclass(frozen=True)
class _Invalid:
    """A stored config that did not validate: its runs fail with this error."""

    error: str


# -- execution ------------------------------------------------------------------------------
_BLOCKS_PER_DAY = 7200  # protocol.units.BLOCKS_PER_DAY (12 s blocks); kept local: no torch import


def run_cost(config: SimConfig | Mapping[str, Any]) -> float:
    """A relative cost estimate of one run of ``config`` (a SimConfig or its dict).

    Model steps (horizon x steps per day) times the agents touched per step (subnet UIDs and
    stakers). Only the order of estimates matters: the runner submits costly runs first so the
    sweep does not end with one worker busy on a long run while the others idle. Fields that
    are missing count as the schema's defaults.
    """
    if isinstance(config, SimConfig):
        config = config.model_dump()
    network = config.get("network") or {}
    tempo = max(1, int(network.get("tempo", 360)))
    steps_per_day = {"block": _BLOCKS_PER_DAY, "day": 1}.get(
        str(config.get("step", "tempo")), _BLOCKS_PER_DAY / tempo
    )
    agents = int(network.get("n_subnets", 1)) * int(network.get("n_uids", 1)) + int(
        (config.get("stakers") or {}).get("n_stakers", 0)
    )
    return float(config.get("horizon_days", 90.0)) * steps_per_day * max(1, agents)


def _safe_cost(config: Any) -> float:
    """:func:`run_cost`, or 0 for a config it cannot read (the run itself reports the error)."""
    if isinstance(config, _Invalid):
        return 0.0
    try:
        return run_cost(config)
    except (AttributeError, TypeError, ValueError):
        return 0.0


def _longest_first(
    todo: Iterable[int], manifest: pd.DataFrame, costs: Mapping[int, float]
) -> list[int]:
    """``todo`` ordered by estimated run cost, largest first (stable: ties keep their order)."""
    order = list(todo)
    return sorted(order, key=lambda idx: -costs[int(manifest.at[idx, "scenario_id"])])


def prefix_group(config: SimConfig | _Invalid) -> str | None:
    """The key under which design points may share their runs' prefix: ``config`` without
    its policy and without the fields the model reads only once governance has acted
    (:data:`sim.fork.LATE_FIELDS`); None for a config that could not be read."""
    from sim.fork import LATE_FIELDS

    if not isinstance(config, SimConfig):
        return None
    body = config.model_dump(mode="json")
    for path in (*LATE_FIELDS, "governance.policy", "governance.policy_config"):
        *sections, name = path.split(".")
        node = body
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(name, None)
    return json.dumps(body, sort_keys=True, default=str)


def _bundles(
    order: Sequence[int],
    manifest: pd.DataFrame,
    run_config: RunConfig,
    capacity: int,
    share_prefix: bool,
    groups_of: Mapping[int, str | None] | None = None,
) -> list[list[int]]:
    """Manifest rows grouped into tasks, in ``order``: the runs of one seed and market draw
    go together when their design points have the same ``groups_of[scenario_id]`` (their
    runs share a prefix, :func:`run_bundle`; without ``groups_of``, or where it is None, the
    runs of one design point); a group is split into near-equal tasks of at most
    ``len(order) / (4 capacity)`` runs, so that the workers get about four tasks each and
    finish together; one run a task when ``share_prefix`` is off or the study runs its own
    model."""
    if not share_prefix or run_config.model != _SHARING_MODEL:
        return [[idx] for idx in order]
    groups: dict[tuple[Any, int, str], list[int]] = {}
    for idx in order:
        draw = manifest.at[idx, "market_draw"]
        group = None
        if groups_of is not None:
            group = groups_of.get(int(manifest.at[idx, "scenario_id"]))
        point = ("point", int(manifest.at[idx, "point"])) if group is None else group
        key = (point, int(manifest.at[idx, "seed"]), draw if isinstance(draw, str) else "")
        groups.setdefault(key, []).append(idx)
    size = math.ceil(len(order) / (_TASKS_PER_WORKER * capacity)) if capacity else len(order)
    tasks = []
    for rows in groups.values():
        parts = math.ceil(len(rows) / max(size, 1))
        tasks += [part.tolist() for part in np.array_split(np.array(rows, dtype=int), parts)]
    return tasks


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", disable=not enabled, leave=False)


#: What a run's result writes into its manifest row: every field of :class:`RunRef` but the
#: two the row already holds.
_RESULT_FIELDS = tuple(f.name for f in fields(RunRef) if f.name not in {"run_id", "seed"})


def _apply(manifest: pd.DataFrame, index: int, ref: RunRef) -> None:
    for key in _RESULT_FIELDS:
        manifest.at[index, key] = getattr(ref, key)


def _execute(
    store: StudyStore,
    manifest: pd.DataFrame,
    todo: Iterable[int],
    executor: Executor,
    *,
    configs: Mapping[int, SimConfig | _Invalid],
    progress: bool,
    flush_every_s: float,
    max_in_flight: int | None = None,
    share_prefix: bool = True,
) -> SweepSummary:
    """Submit the manifest rows ``todo``; record each outcome; flush the manifest atomically.

    ``configs`` maps ``scenario_id`` to the validated config every run of it receives.
    """
    start = time.perf_counter()
    sweep = store.sweep()
    run_config = RunConfig(**sweep["run_config"])
    writer = store.writer()
    manifest = manifest.astype(
        {"part_path": object, "worker": object, "error": object, "traceback": object}
    )
    futures: dict[Future, int] = {}
    costs = {sid: _safe_cost(cfg) for sid, cfg in configs.items()}
    order = _longest_first(todo, manifest, costs)
    capacity = int(getattr(executor, "max_workers", 0) or 0)
    groups_of = {sid: prefix_group(cfg) for sid, cfg in configs.items()}
    queue = deque(_bundles(order, manifest, run_config, capacity, share_prefix, groups_of))
    # Keep a bounded number of tasks in flight: the driver records results as they come, a
    # recycling pool never waits on a long queue, and Ctrl-C leaves the rest PENDING.
    limit = max_in_flight or (2 * capacity if capacity else len(queue)) or 1
    bar = _progress(len(order), store.root.name, progress)

    def record(idx: int, ref: RunRef) -> None:
        _apply(manifest, idx, ref)
        bar.update(1)
        if ref.status != "SUCCEEDED":
            bar.write(f"{ref.run_id}: {ref.status}: {ref.error}")

    def unfinished(row: pd.Series, status: str, error: str, trace: str | None = None) -> RunRef:
        return RunRef.unfinished(
            row["run_id"], int(row["attempt"]), status, row["seed"], error, traceback=trace
        )

    def aborted(row: pd.Series, exc: BaseException, trace: str | None = None) -> RunRef:
        return unfinished(row, "ABORTED", f"{type(exc).__name__}: {exc}", trace)

    def submit_next() -> None:
        ready: list[tuple[int, pd.Series, SimConfig]] = []
        for idx in queue.popleft():
            row = manifest.loc[idx]
            config = configs.get(int(row["scenario_id"]))
            if not isinstance(config, SimConfig):
                error = config.error if isinstance(config, _Invalid) else "no config stored"
                record(idx, unfinished(row, "FAILED", f"ScenarioError: {error}"))
                continue
            try:
                config = _with_draw(config, row.get("market_draw"))
            except ValueError as exc:
                record(idx, unfinished(row, "FAILED", f"market_draw: {exc}"))
                continue
            ready.append((idx, row, config))
        if not ready:
            return
        try:
            if len(ready) == 1:
                _, row, config = ready[0]
                fut = executor.submit(
                    run_one,
                    row["run_id"],
                    int(row["attempt"]),
                    config,
                    str(row["policy"]),
                    int(row["seed"]),
                    run_config,
                    writer,
                )
            else:
                items = [
                    (row["run_id"], int(row["attempt"]), config, str(row["policy"]))
                    for _, row, config in ready
                ]
                fut = executor.submit(
                    run_bundle, items, int(ready[0][1]["seed"]), run_config, writer
                )
        except BrokenExecutor as exc:
            for idx, row, _ in ready:
                record(idx, aborted(row, exc))
            return
        futures[fut] = [idx for idx, _, _ in ready]

    flush_interval = flush_every_s
    try:
        last_flush = time.perf_counter()
        while queue or futures:
            while queue and len(futures) < limit:
                submit_next()
            if not futures:
                continue
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            interrupted: BaseException | None = None
            for fut in done:
                indices = futures.pop(fut)
                rows = [manifest.loc[idx] for idx in indices]
                try:
                    result = fut.result()
                    refs = [result] if isinstance(result, RunRef) else list(result)
                except (KeyboardInterrupt, SystemExit) as exc:
                    # Ctrl-C inside a task run in this thread: record the other finished
                    # runs first, then stop (these runs stay PENDING for resume).
                    interrupted = interrupted or exc
                    continue
                except (BrokenExecutor, CancelledError) as exc:
                    refs = [aborted(row, exc) for row in rows]
                except Exception as exc:  # e.g. a Dask worker that died
                    trace = traceback.format_exc()
                    refs = [aborted(row, exc, trace) for row in rows]
                for idx, ref in zip(indices, refs, strict=True):
                    record(idx, ref)
            if interrupted is not None:
                raise interrupted
            if time.perf_counter() - last_flush >= flush_interval:
                flush_start = time.perf_counter()
                store.write_manifest(manifest)
                last_flush = time.perf_counter()
                # A large manifest costs tens of ms to write: keep its rewrites under ~5 % of
                # the driver's time, which on a small machine is the workers' time too.
                flush_interval = max(flush_every_s, 20.0 * (last_flush - flush_start))
    finally:
        bar.close()
        store.write_manifest(manifest)
    counts = manifest["status"].value_counts().to_dict()
    return SweepSummary(
        store.root, {str(k): int(v) for k, v in counts.items()}, time.perf_counter() - start
    )


def run_sweep(
    plan: StudyPlan,
    root: str | Path,
    executor: Executor,
    *,
    overwrite: bool = False,
    progress: bool = True,
    flush_every_s: float = 0.5,
    max_in_flight: int | None = None,
    share_prefix: bool = True,
) -> SweepSummary:
    """Write the study directory, then run every run of ``plan`` on ``executor``.

    Parameters
    ----------
    plan
        From :func:`plan_study`.
    root
        The study directory (must not hold a study unless ``overwrite``).
    executor
        Any ``concurrent.futures.Executor`` (see :func:`sim.executors.make_executor`).
    overwrite
        Replace an existing study there.
    progress
        Show a tqdm progress bar.
    flush_every_s
        Minimum seconds between manifest rewrites while runs complete (always at the end);
        a manifest that takes long to write is rewritten less often (at most ~5 % of the
        time goes to rewriting it).
    max_in_flight
        Tasks submitted but not finished at any time; default twice the executor's workers
        (everything at once when the executor does not say how many it has).
    share_prefix
        Run the policies of one seed together, simulating the part of the run before
        governance is first reached once (``sim.fork``; every run's results are those of
        running it alone): those of one design point, and those of design points that
        differ only in fields read after that part (:func:`prefix_group`). Off: one run per
        task.

    Returns
    -------
    SweepSummary
    """
    store = StudyStore(root)
    store.create(plan.sweep, plan.scenarios, plan.manifest, overwrite=overwrite)
    manifest = store.manifest()
    configs = (
        dict(enumerate(plan.configs))
        if len(plan.configs) == len(plan.scenarios)
        else stored_configs(store)
    )
    return _execute(
        store,
        manifest,
        range(len(manifest)),
        executor,
        configs=configs,
        progress=progress,
        flush_every_s=flush_every_s,
        max_in_flight=max_in_flight,
        share_prefix=share_prefix,
    )


def resume(
    root: str | Path,
    executor: Executor,
    *,
    progress: bool = True,
    flush_every_s: float = 0.5,
    max_in_flight: int | None = None,
    share_prefix: bool = True,
) -> SweepSummary:
    """Re-run every ``PENDING``, ``FAILED`` or ``ABORTED`` run with ``attempt + 1``.

    Succeeded runs are never recomputed; seeds come from the manifest, so the final store
    equals an uninterrupted run's (part files of unrecorded attempts are ignored by readers).
    """
    store = StudyStore(root)
    manifest = store.manifest()
    todo = manifest.index[manifest["status"] != "SUCCEEDED"].tolist()
    manifest.loc[todo, "attempt"] = manifest.loc[todo, "attempt"] + 1
    manifest.loc[todo, "status"] = "PENDING"
    store.write_manifest(manifest)
    return _execute(
        store,
        manifest,
        todo,
        executor,
        configs=stored_configs(store),
        progress=progress,
        flush_every_s=flush_every_s,
        max_in_flight=max_in_flight,
        share_prefix=share_prefix,
    )


def replay(root: str | Path, run_id: str) -> Any:
    """Re-run one stored run in this process with its recorded config, policy and seed.

    Returns the model's result; it equals the stored run bit for bit (the run's recorded
    market draw, if any, applied).
    """
    store = StudyStore(root)
    manifest = store.manifest().set_index("run_id")
    if run_id not in manifest.index:
        raise KeyError(f"run {run_id!r} is not in {store.root}/manifest.parquet")
    row = manifest.loc[run_id]
    scenario = store.scenarios().set_index("scenario_id").loc[int(row["scenario_id"])]
    run_config = RunConfig(**store.sweep()["run_config"])
    from sim.schema import validate_config

    config = validate_config(
        json.loads(scenario["config"]),
        source=f"{store.scenarios_path} scenario {row['scenario_id']}",
    )
    config = _with_draw(config, row.get("market_draw"))
    model = _resolve(run_config.model)
    return model(config, policy=row["policy"], seed=int(row["seed"]))
