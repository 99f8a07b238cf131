"""Study throughput: a 1,000-run sensitivity of flagship size (covenant_2026), measured or
projected.

The study is ``govsim sensitivity scenarios/covenant_2026.toml --policies sudo,multisig`` over
four parameters (the market's contagion β over its reported band, the signers' correlation,
the exit's quality factor and the governance-risk premium's half-life), one-at-a-time plus
``--trajectories`` Morris trajectories, ``--replications`` seeds: 69 points x 2 policies x 8
= 1,104 runs by default, each a full covenant_2026 run (16 subnets x 64 uids, 40 days).

Without ``--full`` the script measures the two parts of the study's wall time separately:

1. **The runs.** A slice of ``--slice`` runs spread over the design (whole design points and
   seeds, every policy of each: the runner runs them together, simulating their common
   prefix once) goes through the real runner on a process pool of ``--workers`` workers;
   ``run_cpu_s`` is the workers' CPU per run (their start-up CPU taken out; a worker's first
   run, with its lazy imports, is in).
2. **Everything else.** The whole study (every run of the plan) goes through the same
   runner, store, analysis and report with a stand-in model that returns a real run's KPI row
   at once: ``overhead_wall_s`` is that study's wall time (worker start-up and recycling,
   dispatch, per-run Parquet parts, manifest flushes, the analysis and ``report.html``;
   ``overhead_cpu_s``: the CPU of the driver and the workers together).

and projects ``projected_wall_s = runs x run_cpu_s / workers + overhead_wall_s`` (the
overhead is counted in full, as if it never overlapped with the runs). With ``--full`` it runs
the real study through ``govsim sensitivity`` and reports its wall time (``wall_s``).

On a machine shared with other work, wall times rise with the others' load (the first line
prints the load average); CPU seconds are the figures to compare there.

    .venv/bin/python bench/sensitivity.py                  # slice + overhead, projected
    .venv/bin/python bench/sensitivity.py --full           # the whole study (about 1,100 runs)

Last line: ``runs=... workers=... measured_runs=... run_cpu_s=... run_s=... overhead_wall_s=...
overhead_ms_per_run=... projected_wall_s=... goal_s=900 goal_run_cpu_s=...`` (``wall_s=`` with
``--full``); ``goal_run_cpu_s`` is the worker CPU a run may cost for the study to finish
within the goal, given the measured overhead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is sys.path[0], and bench/sim.py would shadow the sim package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(REPO))

SCENARIO = REPO / "scenarios" / "covenant_2026.toml"
POLICIES = ("sudo", "multisig")
RANGES: dict[str, list[Any]] = {
    "market.contagion_beta": [2.3, 3.6],
    "governance.correlation": [0.0, 1.0],
    "owners.exit_quality_factor": [0.0, 0.5],
    "market.premium_half_life_days": [3.0, 30.0],
}
#: The study-throughput goal: 1,000 flagship runs within 15 minutes on 2 cores.
GOAL_S = 900.0
#: Where the stand-in model finds the KPI row it returns (set before the workers start).
_KPI_ENV = "GOVSIM_BENCH_KPI_ROW"


def stand_in_model(config: Any, policy: str | None = None, seed: int | None = None) -> Any:
    """A real run's KPI row, returned at once (the study's overhead without the simulation).

    ``harm.total`` moves with the design's parameters, the policy and the seed, so the
    analysis has effects to compute.
    """
    from types import SimpleNamespace

    kpis = json.loads(Path(os.environ[_KPI_ENV]).read_text())
    shift = (
        config.market.contagion_beta * 1e6
        + config.governance.correlation * 3e6
        + (2e6 if policy == "sudo" else 0.0)
        + (seed or 0) % 97 * 1e3
    )
    kpis["harm.total"] = float(kpis.get("harm.total") or 0.0) + shift
    return SimpleNamespace(kpis=kpis, timeseries=None, events=[])


def plan(trajectories: int, replications: int, entropy: int, model: str = "sim:run") -> Any:
    """The study plan (its sweep.json records the design)."""
    from sim.runner import RunConfig
    from sim.schema import load_scenario
    from sim.sensitivity import design_sensitivity, plan_sensitivity, sensitivity_parameters

    scenario = load_scenario(SCENARIO, check_sweep=False)
    params = sensitivity_parameters(scenario, RANGES)
    design = design_sensitivity(
        params, method="both", trajectories=trajectories, levels=4, seed=entropy
    )
    return plan_sensitivity(
        scenario,
        list(POLICIES),
        design,
        replications=replications,
        entropy=entropy,
        run_config=RunConfig(model=model, mode="kpi"),
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclasses.dataclass
class Slice:
    """The measured slice: runs, wall seconds and the workers' CPU per run."""

    runs: int
    wall_s: float
    run_cpu_s: float
    kpi_row: dict[str, Any]


def measure_slice(full_plan: Any, n: int, workers: int, root: Path) -> Slice:
    """Run about ``n`` runs spread over the design on a process pool; the workers' CPU per run.

    The slice takes whole prefix groups, as the study runs them: under one replication,
    every policy of the design points that differ only in fields read after the fork
    (``sim.runner.prefix_group``) shares one prefix (``sim.fork``). Groups are taken evenly
    over the design until about ``n`` runs.
    """
    from sim.executors import make_executor
    from sim.runner import prefix_group, run_sweep
    from sim.store import StudyStore

    full = full_plan.manifest
    keys = {sid: prefix_group(cfg) for sid, cfg in enumerate(full_plan.configs)}
    by_group = full.assign(prefix=full["scenario_id"].map(keys))
    groups = list(by_group.groupby(["prefix", "replication"], sort=False).groups.values())
    per_group = len(full) / len(groups)
    wanted = max(1, round(n / per_group))
    step = max(1, len(groups) // wanted)
    rows = [i for group in groups[::step][:wanted] for i in group]
    manifest = full.loc[rows].reset_index(drop=True)
    sliced = dataclasses.replace(full_plan, manifest=manifest)
    before = _children_cpu()
    start = time.perf_counter()
    with make_executor("process", workers=workers) as pool:
        startup = pool.startup_times()
        summary = run_sweep(sliced, root, pool, progress=False)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - before - sum(c for _, c in startup.values())
    if not summary.ok:
        raise SystemExit(f"the slice failed: {summary.line()}")
    kpis = StudyStore(root).table("kpis").iloc[0]
    row = {
        k: (None if v != v else v)
        for k, v in kpis.items()  # NaN -> None (JSON)
        if k not in ("run_id", "attempt", "scenario_id", "policy", "point", "replication")
    }
    return Slice(
        len(manifest), wall, cpu / len(manifest), json.loads(json.dumps(row, default=float))
    )


def measure_overhead(
    trajectories: int,
    replications: int,
    entropy: int,
    workers: int,
    kpi_row: dict[str, Any],
    root: Path,
) -> dict[str, float]:
    """The whole study with the stand-in model: plan, runs, analysis, CSVs and the report."""
    from sim.cli.sensitivity import _write_tables
    from sim.executors import make_executor
    from sim.report import build_report
    from sim.runner import run_sweep
    from sim.sensitivity import analyse_sensitivity

    row_file = root.parent / "stand_in_kpi_row.json"
    row_file.write_text(json.dumps(kpi_row))
    os.environ[_KPI_ENV] = str(row_file)
    times: dict[str, float] = {}
    cpu_start = time.process_time() + _children_cpu()
    start = time.perf_counter()
    stand_in = plan(trajectories, replications, entropy, model="bench.sensitivity:stand_in_model")
    times["plan_s"] = time.perf_counter() - start
    mark = time.perf_counter()
    with make_executor("process", workers=workers) as pool:
        summary = run_sweep(stand_in, root, pool, progress=False)
    times["runs_s"] = time.perf_counter() - mark
    if not summary.ok:
        raise SystemExit(f"the stand-in study failed: {summary.line()}")
    mark = time.perf_counter()
    result = analyse_sensitivity(root)
    _write_tables(result, root)
    times["analysis_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    build_report(root)
    times["report_s"] = time.perf_counter() - mark
    times["wall_s"] = time.perf_counter() - start
    times["cpu_s"] = time.process_time() + _children_cpu() - cpu_start  # driver + workers
    return times


def run_full(trajectories: int, replications: int, entropy: int, workers: int, root: Path) -> float:
    """The real study through ``govsim sensitivity``; its wall time."""
    args = [
        sys.executable,
        "-m",
        "sim",
        "sensitivity",
        str(SCENARIO),
        "--policies",
        ",".join(POLICIES),
        "--method",
        "both",
        "--trajectories",
        str(trajectories),
        "--replications",
        str(replications),
        "--entropy",
        str(entropy),
        "--workers",
        str(workers),
        "--out",
        str(root),
    ]
    for path, (low, high) in RANGES.items():
        args += ["--params", f"{path}={low}:{high}"]
    print(" ".join(args[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(args, check=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    """Parse the options, measure, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trajectories", type=int, default=12)
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--slice",
        type=int,
        default=16,
        help="Runs in the measured slice (at least 4 x workers x policies, so "
        "that the runner keeps each point's policies in one task, as it "
        "does in the whole study).",
    )
    parser.add_argument("--entropy", type=int, default=2026)
    parser.add_argument("--full", action="store_true", help="Run the whole study.")
    parser.add_argument("--out", type=Path, default=None, help="Keep the study here.")
    parser.add_argument(
        "--kpi-row",
        type=Path,
        default=None,
        help="With --slice 0: a KPI row (JSON) for the stand-in model; the "
        "overhead alone is measured (no projection).",
    )
    args = parser.parse_args()
    if 0 < args.slice < 4 * args.workers * len(POLICIES):
        print(
            f"warning: a slice under {4 * args.workers * len(POLICIES)} runs is cut into one "
            "run a task (the runner's bundles leave every worker about four tasks): it "
            "measures runs without their shared prefix",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    full_plan = plan(args.trajectories, args.replications, args.entropy)
    runs = len(full_plan.manifest)
    points = int(full_plan.sweep["n_points"])
    print(
        f"study: {points} points x {len(POLICIES)} policies x {args.replications} "
        f"replications = {runs} runs of covenant_2026 on {args.workers} workers",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="govsim-bench-sens-") as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if args.full:
            wall = run_full(
                args.trajectories, args.replications, args.entropy, args.workers, root / "full"
            )
            print(f"runs={runs} workers={args.workers} wall_s={wall:.1f} goal_s={GOAL_S:.0f}")
            return
        if args.slice > 0:
            measured = measure_slice(full_plan, args.slice, args.workers, root / "slice")
            (root / "kpi_row.json").write_text(json.dumps(measured.kpi_row))
            print(
                f"slice: {measured.runs} runs in {measured.wall_s:.1f} s wall, "
                f"{measured.run_cpu_s:.2f} s worker CPU per run (KPI row kept in "
                f"{root / 'kpi_row.json'})",
                flush=True,
            )
        elif args.kpi_row is None:
            raise SystemExit("--slice 0 needs --kpi-row FILE (written by an earlier run)")
        else:
            measured = Slice(0, 0.0, float("nan"), json.loads(args.kpi_row.read_text()))
        overhead = measure_overhead(
            args.trajectories,
            args.replications,
            args.entropy,
            args.workers,
            measured.kpi_row,
            root / "stand_in",
        )
        print(
            "stand-in study (no simulation): "
            + ", ".join(f"{k} {v:.1f}" for k, v in overhead.items()),
            flush=True,
        )
        print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    projected = runs * measured.run_cpu_s / args.workers + overhead["wall_s"]
    run_s = measured.wall_s / measured.runs if measured.runs else float("nan")
    # The CPU a run may cost for the study to meet the goal with this overhead.
    budget = (GOAL_S - overhead["wall_s"]) * args.workers / runs
    print(
        f"runs={runs} workers={args.workers} measured_runs={measured.runs} "
        f"run_cpu_s={measured.run_cpu_s:.3f} run_s={run_s:.3f} "
        f"overhead_wall_s={overhead['wall_s']:.1f} "
        f"overhead_ms_per_run={1000 * overhead['wall_s'] / runs:.1f} "
        f"overhead_cpu_s={overhead['cpu_s']:.1f} "
        f"analysis_s={overhead['analysis_s']:.1f} report_s={overhead['report_s']:.1f} "
        f"projected_wall_s={projected:.0f} goal_s={GOAL_S:.0f} "
        f"goal_run_cpu_s={budget:.2f}"
    )


if __name__ == "__main__":
    main()
