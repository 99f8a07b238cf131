"""Prepared GPU check: gpu-small ground-truth rounds with the miners' replicas trained batched.

Every miner's H inner AdamW steps run inside ``torch.func.vmap`` over a replica axis
(``protocol.training.miner.train_replicas``, ``config.replica_chunk`` replicas per call to bound
memory). Prints per-round time, training tokens/s and the share of time in training, compression,
scoring (validators) and the outer step; the last line is ``key=value`` pairs.

Usage (GPU): ``.venv/bin/python bench/gpu_training.py --device cuda --rounds 5``.
Smoke test anywhere: ``.venv/bin/python bench/gpu_training.py --device cpu --tiny``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from protocol.training import get_config, init_run, run_round
from protocol.training.config import default_roles


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--miners", type=int, default=None, help="default: the config's 28")
    parser.add_argument("--replica-chunk", type=int, default=None, help="replicas per vmapped call")
    parser.add_argument(
        "--tiny", action="store_true", help="a 2-layer d=128 GPT, H=2: CPU smoke test"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(
            "error: --device cuda but no CUDA device is available (use --device cpu --tiny)"
        )
    if args.device == "cpu":
        torch.set_num_threads(1)  # small CPU smoke runs: threads only contend on a shared machine
    config = get_config("gpu-small")
    if args.miners is not None:
        config = config.with_miners(args.miners)
    if args.tiny:
        config = dataclasses.replace(
            config,
            d_model=128,
            n_layers=2,
            n_heads=4,
            seq_len=64,
            inner_steps=2,
            batch_size=4,
            n_eval=4,
            uids_per_window=4,
            roles=default_roles(6) if args.miners is None else config.roles,
        )
    if args.replica_chunk is not None:
        config = dataclasses.replace(config, replica_chunk=args.replica_chunk)
    started = time.perf_counter()
    state = init_run(config, seed=args.seed, device=args.device)
    n_params = sum(t.numel() for t in state.theta.values())
    print(
        f"device={args.device} params={n_params / 1e6:.1f}M miners={config.n_miners} "
        f"H={config.inner_steps} B={config.batch_size} T={config.seq_len} "
        f"replica_chunk={config.replica_chunk or config.n_miners}"
    )
    phases: dict[str, float] = {}
    tokens, round_times = 0, []
    for r in range(args.rounds):
        _sync(args.device)
        t0 = time.perf_counter()
        m = run_round(state)
        _sync(args.device)
        dt = time.perf_counter() - t0
        round_times.append(dt)
        tokens += m.tokens
        for key, value in m.timings.items():
            phases[key] = phases.get(key, 0.0) + value
        print(
            f"round {r}: {dt:7.2f} s  loss {m.held_out_loss:.3f}  contributors {m.contributors}  "
            f"tokens/s {m.tokens / dt:,.0f}  upload {m.upload_bytes / 2**20:.2f} MiB"
        )
    total = sum(round_times)
    share = {k: v / max(sum(phases.values()), 1e-9) for k, v in phases.items()}
    peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else 0.0
    # Round 0 includes one-time warm-up (kernels, vmap tracing); steady state excludes it.
    steady = round_times[1:] or round_times
    print(
        f"device={args.device} params_m={n_params / 1e6:.1f} miners={config.n_miners} rounds={args.rounds} "
        f"seconds={time.perf_counter() - started:.1f} round_s_steady={sum(steady) / len(steady):.2f} "
        f"tokens_per_s={tokens / total:.0f} share_train={share.get('train', 0):.3f} "
        f"share_compress={share.get('compress', 0):.3f} share_score={share.get('score', 0):.3f} "
        f"share_outer={share.get('outer', 0):.3f} peak_gib={peak:.1f}"
    )


if __name__ == "__main__":
    main()
