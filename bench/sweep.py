"""Sweep throughput: sequential vs process pool vs Dask (local or a running cluster).

Runs one study of ``--runs`` runs (covenant_2026 over ``--horizon-days``, 40 by default: about
2-3 s a run; a 6-subnet x 16-uid network, CRN seeds, KPI mode) on each executor and prints wall
times including executor start and shutdown. On a machine shared with other work the parallel
figures drop with the others' load: the first line prints the load average, compare it with the
one after the run. ``--executors`` also takes ``dask://HOST:PORT``: a cluster started beforehand
with ``dask scheduler`` / ``dask worker --preload sim.executors`` (docs/studies.md, Scaling
out), timed from connecting to it (its workers' start-up is not included; their CPU is not
counted as this process's children). The last line holds the figures as ``key=value`` pairs:

- ``speedup_process``: sequential wall / process-pool wall (goal >= 1.8 with 2 workers);
- ``speedup_dask`` / ``dask_overhead``: sequential wall / Dask local wall, and Dask local wall /
  process-pool wall (1.0 = no overhead); ``speedup_dask_remote`` / ``dask_remote_overhead``
  the same for a ``dask://`` cluster.

It also prints the pieces of the process pool's wall time, which stay meaningful on a loaded
machine (CPU seconds) or show where the time went (wall seconds):

- ``worker_start_s`` / ``worker_start_cpu_s``: pool start until its slowest worker can take a
  task (spawn, imports, preload), wall; CPU seconds a worker spent on that (mean);
- ``run_cpu_seq_s`` / ``run_cpu_pool_s``: CPU seconds per run, in the driver (sequential,
  including its one-off imports) and in the pool's workers (their CPU minus start-up);
- ``pool_idle_s``: process-pool wall minus start-up minus a worker's busy time (mean over
  workers): dispatch gaps, the tail where one worker waits for the other, and shutdown;
- ``speedup_cpu_model``: sequential CPU / (start-up CPU + pool run CPU / workers), the speed-up
  an idle machine gives when the tail is empty (an upper bound of ``speedup_process``).

Every executor must give identical KPIs; the script checks that and fails otherwise.

    .venv/bin/python bench/sweep.py --runs 32 --workers 2
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is sys.path[0], and bench/sim.py would shadow the sim package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(REPO))

from sim.executors import make_executor  # noqa: E402
from sim.runner import RunConfig, plan_study, run_sweep  # noqa: E402
from sim.schema import load_scenario  # noqa: E402
from sim.store import StudyStore  # noqa: E402


def _plan(runs: int, horizon_days: float, policies: list[str]):
    scenario = load_scenario(REPO / "scenarios" / "covenant_2026.toml")
    scale = horizon_days / scenario.config.horizon_days
    overrides = {
        "horizon_days": horizon_days,
        "network.n_subnets": 6,
        "network.n_uids": 16,
        "network.n_validators": 4,
        "stakers.n_stakers": 8,
    }
    for i, shock in enumerate(scenario.config.shocks):
        overrides[f"shocks.{i}.day"] = round(shock.day * scale, 6)
    config = scenario.to_config(overrides=overrides).model_dump(mode="json")
    replications = max(1, runs // len(policies))
    return plan_study(
        [config], [{}], policies, replications, entropy=2026, run_config=RunConfig(mode="kpi")
    )


@dataclass
class Timing:
    """One executor's sweep: wall seconds (with start and shutdown) and where they went."""

    wall: float
    start: float
    shutdown: float
    driver_cpu: float
    children_cpu: float
    kpis: pd.DataFrame
    manifest: pd.DataFrame
    worker_start: dict[int, tuple[float, float]] = field(default_factory=dict)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(kind: str, workers: int, plan, root: Path) -> Timing:
    """Run ``plan`` on a fresh ``kind`` executor; time it from its start to its shutdown."""
    gc.collect()
    gc.disable()
    try:
        children = _children_cpu()
        cpu = time.process_time()
        start = time.perf_counter()
        executor = make_executor(kind, workers=workers)
        started = time.perf_counter()
        probe = 0.0
        worker_start: dict[int, tuple[float, float]] = {}
        try:
            summary = run_sweep(plan, root, executor, progress=False)
            if hasattr(executor, "startup_times"):
                # Answered from what the workers recorded at start; not part of the wall time.
                t_probe = time.perf_counter()
                worker_start = executor.startup_times()
                probe = time.perf_counter() - t_probe
        finally:
            t_shutdown = time.perf_counter()
            executor.shutdown(wait=True)
            shutdown = time.perf_counter() - t_shutdown
        wall = time.perf_counter() - start - probe
        driver_cpu = time.process_time() - cpu
        children_cpu = _children_cpu() - children
    finally:
        gc.enable()
    if not summary.ok:
        raise SystemExit(f"{kind}: {summary.line()}")
    store = StudyStore(root)
    kpis = store.table("kpis").drop(columns=["attempt"]).reset_index(drop=True)
    return Timing(
        wall,
        started - start,
        shutdown,
        driver_cpu,
        children_cpu,
        kpis,
        store.manifest(),
        worker_start,
    )


def _label(kind: str) -> str:
    """A figure-friendly name: ``dask-local`` -> ``dask_local``, ``dask://...`` -> ``dask_remote``."""
    return "dask_remote" if "://" in kind else kind.replace("-", "_")


def _token_pid(token: str, pids: list[int]) -> int:
    """Which of ``pids`` wrote as worker ``token`` (``<host><pid>x<hex6>``, sim.store); -1: none."""
    stem = token[:-7] if re.search(r"x[0-9a-f]{6}$", token) else token
    return next((pid for pid in pids if stem.endswith(str(pid))), -1)


def _pool_pieces(pool: Timing, sequential: Timing | None, runs: int, workers: int) -> dict:
    """The process pool's wall time taken apart (see the module docstring)."""
    starts = pool.worker_start
    start_wall = max((w for w, _ in starts.values()), default=pool.start)
    start_cpu = sum(c for _, c in starts.values()) / len(starts) if starts else 0.0
    busy = pool.manifest.groupby("worker")["wall_s"].sum()
    # A worker's idle time: the pool's wall less its own start-up and its runs.
    idle = [
        pool.wall
        - starts.get(_token_pid(token, list(starts)), (start_wall, 0.0))[0]
        - float(seconds)
        for token, seconds in busy.items()
    ]
    run_cpu_pool = (pool.children_cpu - start_cpu * len(starts)) / runs
    pieces = {
        "worker_start_s": round(start_wall, 2),
        "worker_start_cpu_s": round(start_cpu, 2),
        "run_cpu_pool_s": round(run_cpu_pool, 3),
        "pool_busy_s": round(float(busy.mean()), 2),
        "pool_idle_s": round(sum(idle) / len(idle), 2),
        "pool_shutdown_s": round(pool.shutdown, 2),
    }
    if sequential is not None:
        run_cpu_seq = sequential.driver_cpu / runs
        pieces["run_cpu_seq_s"] = round(run_cpu_seq, 3)
        pieces["speedup_cpu_model"] = round(
            sequential.driver_cpu / (start_cpu + run_cpu_pool * runs / workers), 2
        )
    return pieces


def main() -> None:
    """Parse arguments, time each executor, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--horizon-days", type=float, default=40.0)
    parser.add_argument("--executors", default="sequential,process,dask-local")
    args = parser.parse_args()
    policies = ["sudo", "v2_two_stage"]
    plan = _plan(args.runs, args.horizon_days, policies)
    kinds = args.executors.split(",")
    load_before = os.getloadavg()[0]
    print(
        f"{len(plan.manifest)} runs of covenant_2026 ({args.horizon_days} days, 6x16 network), "
        f"{args.workers} workers, cpu_count={os.cpu_count()}, load={os.getloadavg()[0]:.1f}"
    )
    timings: dict[str, Timing] = {}
    reference: pd.DataFrame | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            timing = _time(kind, args.workers, plan, Path(tmp) / _label(kind))
            timings[_label(kind)] = timing
            per_run = timing.wall / len(plan.manifest)
            print(
                f"{_label(kind):>12}: {timing.wall:7.1f} s  (start {timing.start:4.1f} s, shutdown "
                f"{timing.shutdown:4.1f} s, {per_run:.2f} s/run, driver CPU "
                f"{timing.driver_cpu:5.1f} s, workers' CPU {timing.children_cpu:5.1f} s)"
            )
            if reference is None:
                reference = timing.kpis
            else:
                pd.testing.assert_frame_equal(reference, timing.kpis, check_exact=True)
    print("KPIs identical on every executor: yes")
    walls = {kind: t.wall for kind, t in timings.items()}
    pieces = {}
    if "process" in timings:
        pieces = _pool_pieces(
            timings["process"], timings.get("sequential"), len(plan.manifest), args.workers
        )
        print("process pool pieces: " + ", ".join(f"{k} {v}" for k, v in pieces.items()))
    figures: dict[str, float] = {
        "runs": len(plan.manifest),
        "workers": args.workers,
        "load_before": round(load_before, 1),
    }
    figures.update({f"wall_{k}_s": round(v, 2) for k, v in walls.items()})
    if "sequential" in walls and "process" in walls:
        figures["speedup_process"] = round(walls["sequential"] / walls["process"], 2)
    for label, name in (("dask_local", "dask"), ("dask_remote", "dask_remote")):
        if label in walls and "sequential" in walls:
            figures[f"speedup_{name}"] = round(walls["sequential"] / walls[label], 2)
        if label in walls and "process" in walls:
            figures[f"{name}_overhead"] = round(walls[label] / walls["process"], 2)
    figures.update(pieces)
    figures["load_after"] = round(os.getloadavg()[0], 1)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
