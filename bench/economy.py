"""Benchmark: one simulated year of a 128-subnet × 256-uid network with per-tempo epochs (CPU).

Tempo mode (``tempo_step``, one batched Yuma epoch over all subnets per tempo) and per-block
mode (``run_blocks`` = ``block_step`` × n with one bonds copy; each subnet's epoch on its own
staggered block). Both are timed over a
slice and extrapolated to a year unless ``--full-year`` is given; a cProfile pass over a short
slice says where the time goes. Wall time and this process's CPU time are both reported: on a
shared machine the CPU time (with ``--threads 1``) is the steadier figure. The last line is
``key=value`` pairs.

Usage::

    .venv/bin/python bench/economy.py                      # slices, extrapolated
    .venv/bin/python bench/economy.py --full-year          # the whole year in tempo mode
    .venv/bin/python bench/economy.py --subnets 16 --uids 64 --tempos 20 --blocks 200
    .venv/bin/python bench/economy.py --threads 1 --backend torch   # the torch reference paths

``--backend`` (default ``auto``: the fused numba kernels on CPU; ``--epoch-backend`` is an
older name) is passed to ``tempo_step``, ``run_blocks`` and ``with_validator_weights``: it picks
the implementation of the epoch, the drain's payouts and the weight-row check alike
(``protocol/_numba.py``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from collections.abc import Callable

import torch

from protocol.economy import (
    EconomyParams,
    NetworkState,
    check_ledger,
    new_network,
    run_blocks,
    tempo_step,
    with_validator_weights,
    with_weights,
)
from protocol.units import BLOCKS_PER_DAY

#: Functions whose cumulative time the profile reports (name → label).
PROFILED = {
    "yuma_epoch": "epoch (protocol.yuma)",
    "fused_slice_epoch": "fused Yuma kernel",
    "payouts_fused": "drain payouts",
    "drain": "drain incl. epoch",
    "run_coinbase": "coinbase",
    "with_weights": "weight re-commit",
    "with_validator_weights": "weight re-commit (validator rows)",
    "decay_registration_burn": "registration burn decay",
    "replace": "state replace",
}


def _run_tempos(
    state: NetworkState, params: EconomyParams, n: int, backend: str = "auto"
) -> NetworkState:
    # The run owns its state, as the simulator does: one copy of the bonds, weights and
    # last_update, then epochs write bonds in place (bonds_owned) and validators re-commit only
    # their own weight rows in place each tempo, so they stay active.
    state = state.replace(
        bonds=state.bonds.clone(),
        weights=state.weights.clone(),
        last_update=state.last_update.clone(),
    )
    validator_uids = torch.nonzero(state.weights.sum(dim=(0, 2)) > 0).flatten()
    validator_rows = state.weights[:, validator_uids, :].clone()
    for _ in range(n):
        state = with_validator_weights(
            state, validator_rows, validator_uids, in_place=True, backend=backend
        )
        state, _ = tempo_step(state, params, bonds_owned=True, backend=backend)
    return state


def _run_blocks(
    state: NetworkState, params: EconomyParams, n: int, backend: str = "auto"
) -> NetworkState:
    # run_blocks copies the bonds once per tempo-long chunk instead of once per drained block.
    done = 0
    while done < n:
        state = with_weights(state)
        chunk = min(params.tempo, n - done)
        state, _ = run_blocks(state, params, chunk, backend=backend)
        done += chunk
    return state


def _profile(fn: Callable[..., object], *args: object) -> dict[str, float]:
    profiler = cProfile.Profile()
    profiler.enable()
    fn(*args)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())  # tottime over every function
    out = {"total": total}
    for (filename, _, name), value in stats.items():
        # Only govsim's own functions (``replace`` also names dataclasses.replace).
        if name in PROFILED and "protocol" in filename:
            out[name] = out.get(name, 0.0) + value[3]  # cumulative time
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=128)
    parser.add_argument("--uids", type=int, default=256)
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--tempos", type=int, default=60, help="tempos timed in tempo mode")
    parser.add_argument("--blocks", type=int, default=360, help="blocks timed in block mode")
    parser.add_argument("--full-year", action="store_true", help="run the whole year in tempo mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument(
        "--backend", "--epoch-backend", dest="backend", choices=["auto", "torch", "fused"],
        default="auto", help="kernel backend of the epochs, payouts and weight rows",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    backend = args.backend

    params = EconomyParams()
    year_blocks = round(args.days * BLOCKS_PER_DAY)
    year_tempos = year_blocks // params.tempo
    t0 = time.perf_counter()
    state = new_network(args.subnets, args.uids, params=params, seed=args.seed)
    build_s = time.perf_counter() - t0
    state = _run_tempos(state, params, 1, backend)  # warm-up (allocations, first-call overheads)

    n_tempos = year_tempos if args.full_year else min(args.tempos, year_tempos)
    t0, c0 = time.perf_counter(), time.process_time()
    tempo_state = _run_tempos(state, params, n_tempos, backend)
    tempo_s = time.perf_counter() - t0
    tempo_cpu = time.process_time() - c0
    tempo_year_s = tempo_s * year_tempos / n_tempos
    ledger_tempo = check_ledger(tempo_state)

    # Block mode from a fresh network, whose epochs are staggered over the tempo (tempo mode
    # aligns them), after a short warm-up.
    n_blocks = min(args.blocks, year_blocks)
    fresh = _run_blocks(
        new_network(args.subnets, args.uids, params=params, seed=args.seed), params, 3, backend
    )
    t0, c0 = time.perf_counter(), time.process_time()
    block_state = _run_blocks(fresh, params, n_blocks, backend)
    block_s = time.perf_counter() - t0
    block_cpu = time.process_time() - c0
    block_year_s = block_s * year_blocks / n_blocks
    ledger_block = check_ledger(block_state)

    # 40 tempos, so that the run's one-off copies of the bonds and weights weigh little
    prof_tempo = _profile(_run_tempos, state, params, max(2, min(40, n_tempos)), backend)
    prof_block = _profile(_run_blocks, fresh, params, max(10, min(120, n_blocks)), backend)

    load = os.getloadavg()
    print(
        f"load average (1, 5, 15 min) at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"on {os.cpu_count()} CPUs (other processes inflate wall times; CPU time is steadier)"
    )
    print(
        f"network: {args.subnets} subnets x {args.uids} uids, tempo {params.tempo}, "
        f"{year_tempos} tempos = {year_blocks} blocks per {args.days:g} days; "
        f"torch threads {torch.get_num_threads()}; backend {backend}; "
        f"build {build_s:.2f} s"
    )
    kind = "full year" if args.full_year else f"{n_tempos} tempos, extrapolated"
    print(
        f"tempo mode: {tempo_s:.2f} s for {n_tempos} tempos ({1e3 * tempo_s / n_tempos:.1f} ms/tempo) "
        f"-> {tempo_year_s:.0f} s per year ({kind}); process CPU time "
        f"{tempo_cpu * year_tempos / n_tempos:.0f} s per year; "
        f"ledger {'ok' if ledger_tempo.ok else 'BROKEN'}"
    )
    print(
        f"block mode: {block_s:.2f} s for {n_blocks} blocks ({1e3 * block_s / n_blocks:.2f} ms/block) "
        f"-> {block_year_s:.0f} s per year (extrapolated); process CPU time "
        f"{block_cpu * year_blocks / n_blocks:.0f} s per year; "
        f"ledger {'ok' if ledger_block.ok else 'BROKEN'}"
    )
    for label, prof in (("tempo mode", prof_tempo), ("block mode", prof_block)):
        total = prof["total"]
        parts = ", ".join(
            f"{PROFILED[name]} {100 * prof.get(name, 0.0) / total:.0f}%"
            for name in PROFILED
            if name in prof
        )
        print(f"profile ({label}, share of profiled time): {parts}")
    epoch_share = prof_tempo.get("yuma_epoch", 0.0) / prof_tempo["total"]
    print(
        f"subnets={args.subnets} uids={args.uids} tempo_ms={1e3 * tempo_s / n_tempos:.1f} "
        f"tempo_year_s={tempo_year_s:.0f} tempo_year_cpu_s={tempo_cpu * year_tempos / n_tempos:.0f} "
        f"tempo_full_year={int(args.full_year)} "
        f"block_ms={1e3 * block_s / n_blocks:.2f} block_year_s={block_year_s:.0f} "
        f"block_year_cpu_s={block_cpu * year_blocks / n_blocks:.0f} "
        f"epoch_share_tempo={epoch_share:.2f} ledger_ok={int(ledger_tempo.ok and ledger_block.ok)} "
        f"load1={load[0]:.2f}"
    )


if __name__ == "__main__":
    main()
