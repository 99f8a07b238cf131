"""Sweep throughput: sequential vs process pool vs Dask local on the same small study.

Runs one study of ``--runs`` runs (covenant_2026 over ``--horizon-days``, 40 by default: about
2-3 s a run, like engine.md §4.1's workload; a 6-subnet x 16-uid network, CRN seeds, KPI mode)
on each executor and prints wall times including executor start and shutdown. On a machine
shared with other work the parallel figures drop with the others' load: the first line prints
the load average, compare it with the one after the run. The last line holds the figures as ``key=value`` pairs:

- ``speedup_process``: sequential wall / process-pool wall (goal >= 1.8 with 2 workers);
- ``dask_overhead``: Dask local wall / process-pool wall (1.0 = no overhead).

Every executor must give identical KPIs; the script checks that and fails otherwise.

    .venv/bin/python bench/sweep.py --runs 32 --workers 2
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
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
    overrides = {"horizon_days": horizon_days, "network.n_subnets": 6, "network.n_uids": 16,
                 "network.n_validators": 4, "stakers.n_stakers": 8}
    for i, shock in enumerate(scenario.config.shocks):
        overrides[f"shocks.{i}.day"] = round(shock.day * scale, 6)
    config = scenario.to_config(overrides=overrides).model_dump(mode="json")
    replications = max(1, runs // len(policies))
    return plan_study([config], [{}], policies, replications, entropy=2026,
                      run_config=RunConfig(mode="kpi"))


def _time(kind: str, workers: int, plan, root: Path) -> tuple[float, float, pd.DataFrame]:
    """Wall seconds including start and shutdown, seconds spent starting, and the KPIs."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        executor = make_executor(kind, workers=workers)
        started = time.perf_counter()
        try:
            summary = run_sweep(plan, root, executor, progress=False)
        finally:
            executor.shutdown(wait=True)
        wall = time.perf_counter() - start
    finally:
        gc.enable()
    if not summary.ok:
        raise SystemExit(f"{kind}: {summary.line()}")
    kpis = StudyStore(root).table("kpis").drop(columns=["attempt"]).reset_index(drop=True)
    return wall, started - start, kpis


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
    print(f"{len(plan.manifest)} runs of covenant_2026 ({args.horizon_days} days, 6x16 network), "
          f"{args.workers} workers, cpu_count={os.cpu_count()}, load={os.getloadavg()[0]:.1f}")
    walls: dict[str, float] = {}
    reference: pd.DataFrame | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            wall, startup, kpis = _time(kind, args.workers, plan, Path(tmp) / kind)
            walls[kind] = wall
            per_run = wall / len(plan.manifest)
            print(f"{kind:>12}: {wall:7.1f} s  (start {startup:4.1f} s, {per_run:.2f} s/run)")
            if reference is None:
                reference = kpis
            else:
                pd.testing.assert_frame_equal(reference, kpis, check_exact=True)
    print("KPIs identical on every executor: yes")
    figures: dict[str, float] = {"runs": len(plan.manifest), "workers": args.workers,
                                 "load_before": round(load_before, 1)}
    figures.update({f"wall_{k.replace('-', '_')}_s": round(v, 2) for k, v in walls.items()})
    if "sequential" in walls and "process" in walls:
        figures["speedup_process"] = round(walls["sequential"] / walls["process"], 2)
    if "dask-local" in walls and "sequential" in walls:
        figures["speedup_dask"] = round(walls["sequential"] / walls["dask-local"], 2)
    if "dask-local" in walls and "process" in walls:
        figures["dask_overhead"] = round(walls["dask-local"] / walls["process"], 2)
    figures["load_after"] = round(os.getloadavg()[0], 1)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
