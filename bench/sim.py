"""Benchmark the simulator at scale: N subnets x U uids for D simulated days on one core.

Times construction and stepping separately (``gc`` disabled while timing, one torch thread),
and splits the step time into the protocol's share (chain steps: coinbase, Yuma epochs, drains)
and the simulator's own (agents, market, recording). For runs too long to wait for,
``--days`` can be a slice: the last line also projects a full year from the measured rate.

    .venv/bin/python bench/sim.py --subnets 128 --uids 256 --days 2
    .venv/bin/python bench/sim.py --subnets 8 --uids 64 --days 90        # explorer default
    .venv/bin/python bench/sim.py --subnets 128 --uids 256 --days 7 --tempo 7200  # daily epochs
    .venv/bin/python bench/sim.py --days 3 --profile /tmp/sim.prof   # cProfile of the run
    .venv/bin/python bench/sim.py --scenario scenarios/covenant_2026.toml  # a shipped scenario

With ``--scenario`` the network, agents and shocks come from the file (its own horizon unless
``--days`` is given; ``--policy`` and ``--seed`` still apply); the size flags are ignored.

Wall time depends on what else the machine runs; process CPU time (``cpu_s``, this process
only) is the figure to compare on a shared machine. The projected year uses the CPU rate
(``projected_year_cpu_s``) and the wall rate (``projected_year_s``).

The last line is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import time
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
from sim.model import GovSimModel  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=128)
    parser.add_argument("--uids", type=int, default=256)
    parser.add_argument("--validators", type=int, default=16)
    parser.add_argument("--stakers", type=int, default=32)
    parser.add_argument(
        "--scenario", default=None, help="a scenario TOML file instead of the synthetic network"
    )
    parser.add_argument("--days", type=float, default=None, help="horizon (default 2, or the file's)")
    parser.add_argument("--tempo", type=int, default=360, help="blocks per epoch (360 on chain)")
    parser.add_argument(
        "--weights-every", type=int, default=1, help="tempos between validators' weight updates"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="sudo")
    parser.add_argument("--device", default="cpu", help="only cpu: the model runs on CPU tensors")
    parser.add_argument(
        "--profile", default=None, help="write a cProfile of the run (stepping only) to this file"
    )
    args = parser.parse_args()
    if args.device != "cpu":
        raise SystemExit("--device: the simulator runs on CPU (protocol kernels take a device)")
    torch.set_num_threads(1)
    if args.scenario is not None:
        config = _scenario_config(args.scenario, args.days, args.policy, args.seed)
    else:
        config = _synthetic_config(args)
    net = config.network
    args.subnets, args.uids, args.validators, args.tempo = (
        net.n_subnets,
        net.n_uids,
        net.n_validators,
        net.tempo,
    )
    args.weights_every = config.validators.weights_every_tempos
    _bench(args, config)


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


def _bench(args: argparse.Namespace, config: Any) -> None:
    """Time construction, the first step and the rest of the run; print the figures."""
    gc.disable()
    c0 = time.process_time()
    t0 = time.perf_counter()
    model = GovSimModel(config)
    t_init = time.perf_counter() - t0
    cpu_init = time.process_time() - c0
    import sim.chain as sim_chain

    chain_time = 0.0
    original = sim_chain.advance_chain

    def timed(*a: Any, **k: Any) -> Any:
        nonlocal chain_time
        s = time.perf_counter()
        out = original(*a, **k)
        chain_time += time.perf_counter() - s
        return out

    sim_chain.advance_chain = timed
    # The first step pays one-off costs (lazy imports, loading the compiled epoch kernel):
    # timed apart, so the per-day rates are the steady state's (the projected year adds them).
    c0 = time.process_time()
    t0 = time.perf_counter()
    model.step()
    t_first = time.perf_counter() - t0
    cpu_first = time.process_time() - c0
    first_blocks = model.block
    chain_time = 0.0
    profiler = cProfile.Profile() if args.profile else None
    c1 = time.process_time()
    t1 = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    model.run()
    if profiler is not None:
        profiler.disable()
    t_run = time.perf_counter() - t1
    cpu_run = time.process_time() - c1
    sim_chain.advance_chain = original
    steps = model.steps_done
    engine.release(model)
    gc.enable()
    days = model.block / BLOCKS_PER_DAY
    timed_days = (model.block - first_blocks) / BLOCKS_PER_DAY
    if timed_days <= 0:
        raise SystemExit("--days: too short to time anything after the first step")
    per_day = t_run / timed_days
    cpu_per_day = cpu_run / timed_days
    if profiler is not None:
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    print(f"mesa {engine.MESA_VERSION}, torch {torch.__version__}, 1 thread")
    print(
        f"{args.subnets} subnets x {args.uids} uids, {args.validators} validators, tempo {args.tempo}"
    )
    print(
        f"init {t_init:.2f} s; first step {t_first:.2f} s wall, {cpu_first:.2f} s CPU; "
        f"{steps - 1} more steps over {timed_days:g} days in {t_run:.2f} s wall, "
        f"{cpu_run:.2f} s CPU"
    )
    print(
        f"chain (protocol) {chain_time:.2f} s = {chain_time / t_run:.0%}; simulator {t_run - chain_time:.2f} s"
    )
    print(
        f"scenario={Path(args.scenario).stem if args.scenario else 'synthetic'} "
        f"subnets={args.subnets} uids={args.uids} tempo={args.tempo} "
        f"weights_every={args.weights_every} days={days:g} steps={steps} "
        f"init_s={t_init:.2f} init_cpu_s={cpu_init:.2f} first_step_s={t_first:.2f} first_step_cpu_s={cpu_first:.2f} "
        f"run_s={t_run:.2f} cpu_s={cpu_run:.2f} chain_s={chain_time:.2f} "
        f"s_per_day={per_day:.3f} cpu_s_per_day={cpu_per_day:.3f} "
        f"projected_year_s={t_init + t_first + per_day * 365:.0f} "
        f"projected_year_cpu_s={cpu_init + cpu_first + cpu_per_day * 365:.0f}"
    )


if __name__ == "__main__":
    main()
