"""Time ground-truth training rounds on CPU (default: cpu-tiny, 10 miners, 20 rounds).

Usage: ``.venv/bin/python bench/training.py [--config cpu-tiny] [--miners 10] [--rounds 20] [--seed 0]
[--threads 1]``.
Prints per-phase time shares; the last line is ``key=value`` pairs. The target for cpu-tiny with 10
miners is 20 rounds in <= 60 s on this (shared, 2-core) machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from protocol.training import get_config, init_run, run_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cpu-tiny")
    parser.add_argument("--miners", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (0: torch's default); tiny ops lose more to threading than they gain",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = get_config(args.config).with_miners(args.miners)
    started = time.perf_counter()
    state = init_run(config, seed=args.seed)
    init_s = time.perf_counter() - started
    phases: dict[str, float] = {}
    metrics = []
    for _ in range(args.rounds):
        m = run_round(state)
        metrics.append(m)
        for key, value in m.timings.items():
            phases[key] = phases.get(key, 0.0) + value
    total = time.perf_counter() - started
    phase_total = sum(phases.values())
    for key, value in phases.items():
        print(f"{key:<10} {value:8.2f} s  {100 * value / phase_total:5.1f} %")
    tokens = sum(m.tokens for m in metrics)
    print(
        f"config={args.config} miners={args.miners} rounds={args.rounds} threads={torch.get_num_threads()} "
        f"seconds={total:.2f} "
        f"init_seconds={init_s:.2f} seconds_per_round={(total - init_s) / args.rounds:.3f} "
        f"tokens_per_s={tokens / total:.0f} loss_first={metrics[0].held_out_loss:.3f} "
        f"loss_last={metrics[-1].held_out_loss:.3f} optimal={metrics[-1].optimal_loss:.3f}"
    )


if __name__ == "__main__":
    main()
