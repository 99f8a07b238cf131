"""Benchmark the simulator: a run in a warm worker, or a network of N subnets x U uids for D days.

A worker of a sweep or a study imports the packages once, loads the compiled kernels once and
then runs scenario after scenario; what each run costs there is the figure this script gives.
It builds the run's config, does one warm-up run (imports, numba kernels, lazy imports and the
first call of every code path), then ``--repeat`` measured runs of ``sim.api.run`` (build the
model, step it to the horizon, KPIs, time series, release), each in this process's CPU time
(``time.process_time``: on a shared machine the figure to compare; wall time is printed too),
with one torch thread and the garbage collector as in a normal run. The chain's share
(``sim.chain.advance_chain``: coinbase, Yuma epochs, drains) is measured in the same runs.

    .venv/bin/python bench/sim.py --scenario scenarios/covenant_2026.toml   # run_cpu_s=
    .venv/bin/python bench/sim.py --full-year                                # full_year_s=
    .venv/bin/python bench/sim.py --full-year --days 3                       # projected year
    .venv/bin/python bench/sim.py --subnets 8 --uids 64 --validators 8 --days 90
    .venv/bin/python bench/sim.py --scenario scenarios/covenant_2026.toml --profile /tmp/r.prof

``--scenario`` takes the network, agents and shocks from the file (its own horizon unless
``--days`` is given; ``--policy`` and ``--seed`` still apply; the size flags are ignored).
``--full-year`` is the scale goal: 128 subnets x 256 uids, 16 validators setting weights every
tempo (360 blocks), 365 days, one measured run (``--repeat 1`` unless given) and no warm-up run
(its one-off costs are a few seconds of a multi-minute run and are included). With ``--days``
shorter than a year it times that slice after one warm-up step and projects the year
(``projected=1``): construction + first step + the per-day rate x 365.

The last line is ``key=value`` pairs: ``run_cpu_s`` (the fastest measured run, CPU seconds),
``run_cpu_median_s``, ``run_s`` (its wall time), ``chain_cpu_s`` and ``steps``; with
``--full-year`` also ``full_year_s`` (CPU seconds of a simulated year; measured, or projected
when ``projected=1``) and ``full_year_wall_s``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# This file is bench/sim.py: run as a script, its folder would shadow the ``sim`` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import torch  # noqa: E402

from protocol.units import BLOCKS_PER_DAY  # noqa: E402
from sim import engine  # noqa: E402
from sim.api import load_config  # noqa: E402
from sim.api import run as run_scenario  # noqa: E402
from sim.model import GovSimModel  # noqa: E402


def _versions() -> str:
    """The header line: versions, the CPU and numpy's SIMD targets (the same code runs about
    twice as fast on one 2-core machine as on another, so figures name their machine)."""
    import numpy as np

    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy < 2
        from numpy.core import _multiarray_umath as umath
    features = umath.__cpu_features__
    simd = "+".join(t for t in umath.__cpu_dispatch__ if features.get(t)) or "baseline"
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"mesa {engine.MESA_VERSION}, torch {torch.__version__}, numpy {np.__version__} "
        f"({simd}), 1 thread, {cpu}"
    )


#: The full-year goal's network: 128 subnets x 256 uids, 16 validators, weights every tempo.
FULL_YEAR = {"subnets": 128, "uids": 256, "validators": 16, "tempo": 360, "weights_every": 1}
DAYS_PER_YEAR = 365.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=128)
    parser.add_argument("--uids", type=int, default=256)
    parser.add_argument("--validators", type=int, default=16)
    parser.add_argument("--stakers", type=int, default=32)
    parser.add_argument(
        "--scenario", default=None, help="a scenario TOML file instead of the synthetic network"
    )
    parser.add_argument(
        "--full-year",
        action="store_true",
        help="the scale goal: 128 x 256, 16 validators, weights every tempo, 365 days",
    )
    parser.add_argument(
        "--days", type=float, default=None, help="horizon (default 2, the file's, or 365)"
    )
    parser.add_argument("--tempo", type=int, default=360, help="blocks per epoch (360 on chain)")
    parser.add_argument(
        "--weights-every", type=int, default=1, help="tempos between validators' weight updates"
    )
    parser.add_argument("--repeat", type=int, default=None, help="measured runs (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="sudo")
    parser.add_argument("--device", default="cpu", help="only cpu: the model runs on CPU tensors")
    parser.add_argument(
        "--profile", default=None, help="write a cProfile of one more run to this file"
    )
    args = parser.parse_args()
    if args.device != "cpu":
        raise SystemExit("--device: the simulator runs on CPU (protocol kernels take a device)")
    if args.full_year:
        if args.scenario is not None:
            raise SystemExit("--full-year: a synthetic network; leave out --scenario")
        for name, value in FULL_YEAR.items():
            setattr(args, name, value)
        args.days = DAYS_PER_YEAR if args.days is None else args.days
    torch.set_num_threads(1)
    if args.scenario is not None:
        config = _scenario_config(args.scenario, args.days, args.policy, args.seed)
    else:
        config = _synthetic_config(args)
    if args.full_year and config.horizon_days < DAYS_PER_YEAR:
        _bench_slice(args, config)
    else:
        _bench_runs(args, config)


def _scenario_config(path: str, days: float | None, policy: str, seed: int) -> Any:
    """The scenario's config under ``policy`` and ``seed`` (horizon ``days`` if given)."""
    config = load_config(path, policy=policy, seed=seed)
    if days is None:
        return config
    return load_config({**config.model_dump(), "horizon_days": days})


def _synthetic_config(args: argparse.Namespace) -> Any:
    """The synthetic network of the size flags."""
    return load_config(
        {
            "name": "bench",
            "horizon_days": 2.0 if args.days is None else args.days,
            "network": {
                "n_subnets": args.subnets,
                "n_uids": args.uids,
                "n_validators": args.validators,
                "tempo": args.tempo,
            },
            "stakers": {"n_stakers": args.stakers, "cadence_days": 1.0},
            "validators": {"weights_every_tempos": args.weights_every},
            "events": {"exploit_rate_per_year": 2.0, "scam_rate_per_year": 2.0},
        },
        policy=args.policy,
        seed=args.seed,
    )


class ChainTimer:
    """Wraps ``sim.chain.advance_chain`` and adds up the CPU time spent in it."""

    def __init__(self) -> None:
        import sim.chain as sim_chain

        self._module = sim_chain
        self._original: Callable[..., Any] = sim_chain.advance_chain
        self.cpu_s = 0.0

    def __enter__(self) -> ChainTimer:
        original = self._original

        def timed(*a: Any, **k: Any) -> Any:
            start = time.process_time()
            try:
                return original(*a, **k)
            finally:
                self.cpu_s += time.process_time() - start

        self._module.advance_chain = timed
        return self

    def __exit__(self, *exc: object) -> None:
        self._module.advance_chain = self._original


def _describe(args: argparse.Namespace, config: Any) -> str:
    net = config.network
    return (
        f"scenario={Path(args.scenario).stem if args.scenario else 'synthetic'} "
        f"subnets={net.n_subnets} uids={net.n_uids} validators={net.n_validators} "
        f"tempo={net.tempo} weights_every={config.validators.weights_every_tempos}"
    )


def _bench_runs(args: argparse.Namespace, config: Any) -> None:
    """Warm-up run, then ``--repeat`` measured runs of ``sim.api.run``; print the figures."""
    repeat = args.repeat if args.repeat is not None else (1 if args.full_year else 3)
    if repeat < 1:
        raise SystemExit("--repeat: expected >= 1")
    if not args.full_year:
        run_scenario(config)  # warm-up: imports, kernels, first calls
    cpu: list[float] = []
    wall: list[float] = []
    chain: list[float] = []
    steps = 0
    days = 0.0
    for _ in range(repeat):
        with ChainTimer() as timer:
            c0, t0 = time.process_time(), time.perf_counter()
            result = run_scenario(config)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
        chain.append(timer.cpu_s)
        days = float(result.kpis["days"])
        steps = round(days * BLOCKS_PER_DAY / _blocks_per_step(config))
    if args.profile:
        _profile(args.profile, lambda: run_scenario(config))
    best = min(range(repeat), key=cpu.__getitem__)
    print(_versions())
    print(
        f"{_describe(args, config)}: {days:g} days in {steps} steps; "
        f"CPU s per run {', '.join(f'{c:.2f}' for c in cpu)} (chain "
        f"{', '.join(f'{c:.2f}' for c in chain)}); wall s {', '.join(f'{w:.2f}' for w in wall)}"
    )
    line = (
        f"{_describe(args, config)} days={days:g} steps={steps} runs={repeat} "
        f"run_cpu_s={cpu[best]:.3f} run_cpu_median_s={statistics.median(cpu):.3f} "
        f"run_s={wall[best]:.3f} chain_cpu_s={chain[best]:.3f} "
        f"cpu_s_per_day={cpu[best] / max(days, 1e-9):.4f}"
    )
    if args.full_year:
        line += f" full_year_s={cpu[best]:.1f} full_year_wall_s={wall[best]:.1f} projected=0"
    print(line)


def _blocks_per_step(config: Any) -> int:
    return {"block": 1, "day": BLOCKS_PER_DAY}.get(config.step, config.network.tempo)


def _bench_slice(args: argparse.Namespace, config: Any) -> None:
    """Time a slice of the year after the first step and project the whole year."""
    c0, t0 = time.process_time(), time.perf_counter()
    model = GovSimModel(config)
    cpu_init, wall_init = time.process_time() - c0, time.perf_counter() - t0
    # The first step pays one-off costs (lazy imports, loading the compiled epoch kernel):
    # timed apart, so the per-day rate is the steady state's (the projection adds them).
    c0, t0 = time.process_time(), time.perf_counter()
    model.step()
    cpu_first, wall_first = time.process_time() - c0, time.perf_counter() - t0
    first_blocks = model.block
    with ChainTimer() as timer:
        c0, t0 = time.process_time(), time.perf_counter()
        if args.profile:  # the profiler's overhead is in this slice's figures: a guide only
            _profile(args.profile, model.run)
        else:
            model.run()
        cpu_run, wall_run = time.process_time() - c0, time.perf_counter() - t0
    steps = model.steps_done
    timed_days = (model.block - first_blocks) / BLOCKS_PER_DAY
    engine.release(model)
    if timed_days <= 0:
        raise SystemExit("--days: too short to time anything after the first step")
    cpu_day, wall_day = cpu_run / timed_days, wall_run / timed_days
    year_cpu = cpu_init + cpu_first + cpu_day * DAYS_PER_YEAR
    year_wall = wall_init + wall_first + wall_day * DAYS_PER_YEAR
    print(_versions())
    print(
        f"{_describe(args, config)}: init {cpu_init:.2f} s CPU; first step {cpu_first:.2f} s "
        f"CPU; {steps - 1} more steps over {timed_days:g} days in {cpu_run:.2f} s CPU "
        f"({wall_run:.2f} s wall), chain {timer.cpu_s:.2f} s CPU"
    )
    print(
        f"{_describe(args, config)} days={timed_days:g} steps={steps} "
        f"cpu_s_per_day={cpu_day:.4f} chain_cpu_s={timer.cpu_s:.3f} "
        f"full_year_s={year_cpu:.1f} full_year_wall_s={year_wall:.1f} projected=1"
    )


def _profile(path: str, work: Callable[[], Any]) -> None:
    """A cProfile of ``work`` written to ``path``; the top of it printed."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    profiler.dump_stats(path)
    pstats.Stats(path).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
