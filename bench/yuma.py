"""Benchmark the Yuma epoch: one subnet in both modes, and the float "network year".

* single subnet: 256 uids, 64 validators with dense weights, Yuma 3 (subtensor's default for a new subnet) and the
  classic path; exact (chain fixed point, numpy) and float (torch float64) per-epoch times;
* network year: 128 subnets x 256 uids (64 validators, dense weights) x 7 300 epochs, float64,
  batched, bonds updated in place, on the ``--backend`` (default ``auto``: the fused numba
  kernel on CPU) and, for comparison, on the torch path (``--torch-epochs``, 0 skips it). A
  slice of the epochs is timed and extrapolated unless ``--full-year``; a torch profile of one
  network epoch says where the time goes; ``first_call_s`` is the first fused call in the
  process (numba compilation, or loading its on-disk cache).
* ``--kernel-only``: the fused numba kernel (steps 5-10 and bond storage) alone, on the
  arguments of one network epoch shaped like the simulator's full-year network (128 subnets x
  256 uids, 64 permit holders at scattered uids of which ``--setters`` 16 set weights and hold
  bonds): ``kernel_us_per_subnet`` (process CPU time per subnet, median and best of
  ``--repeats`` calls, each on a fresh copy of the bonds), and ``kernel_live_us_per_subnet``
  the same with the simulator's hint of which rows may hold weights or bonds (``live_rows``:
  the simulator passes it, so this is the figure that matches a simulated epoch).

The last line is ``key=value`` pairs.

Usage::

    .venv/bin/python bench/yuma.py                    # 30 network epochs, extrapolated
    .venv/bin/python bench/yuma.py --epochs 100 --threads 2   # 1 thread is the default
    .venv/bin/python bench/yuma.py --full-year
    .venv/bin/python bench/yuma.py --backend torch
    .venv/bin/python bench/yuma.py --kernel-only      # the fused kernel alone
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from protocol.yuma import EpochParams, yuma_epoch
from protocol.yuma.exact_epoch import exact_epoch
from protocol.yuma.replay import state_tensors
from protocol.yuma.state import parse_state

EPOCHS_PER_YEAR = 7_300


def random_state(n: int, validators: int, *, yuma3: bool, seed: int) -> dict:
    """A dense JSON state: ``validators`` staked uids weighting every uid, bonds from a prior run."""
    rng = np.random.default_rng(seed)
    weights = [
        {str(j): int(v) for j, v in enumerate(rng.integers(1, 65536, n))} for _ in range(validators)
    ] + [{} for _ in range(n - validators)]
    bonds = [
        {str(j): int(v) for j, v in enumerate(rng.integers(0, 65536, n))} for _ in range(validators)
    ] + [{} for _ in range(n - validators)]
    stake = [int(s) for s in rng.integers(10**12, 10**15, validators)] + [0] * (n - validators)
    return {
        "n": n, "block": 10_000, "tempo": 360, "stake": stake, "reg": [0] * n,
        "last_update": [9_999] * n, "weights": weights, "bonds": bonds, "yuma3": yuma3,
        "validator_permit_prev": [True] * validators + [False] * (n - validators),
        "max_validators": validators,
    }  # fmt: skip


def median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and process-CPU time of ``fn`` in milliseconds (after one warm-up call)."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu_start)
    return 1e3 * statistics.median(walls), 1e3 * statistics.median(cpus)


def single_subnet(repeats: int, backend: str = "auto") -> dict[str, float]:
    """Per-epoch times of one 256-uid subnet in both modes and both bond paths."""
    figures: dict[str, float] = {}
    for label, yuma3 in (("yuma3", True), ("classic", False)):
        state = parse_state(random_state(256, 64, yuma3=yuma3, seed=1))
        kwargs = state_tensors(state)
        for mode, fn in (
            ("exact", lambda s=state: exact_epoch(s)),
            ("float", lambda k=kwargs: yuma_epoch(**k, backend=backend)),
        ):
            wall, cpu = median_ms(fn, repeats)
            figures[f"{mode}_{label}_ms"] = wall
            figures[f"{mode}_{label}_cpu_ms"] = cpu
    return figures


def network(subnets: int, uids: int, validators: int, seed: int) -> dict[str, torch.Tensor]:
    """Dense random network inputs: validators are the first ``validators`` uids of each subnet."""
    gen = torch.Generator().manual_seed(seed)
    weights = torch.zeros(subnets, uids, uids, dtype=torch.float64)
    weights[:, :validators] = torch.rand(
        subnets, validators, uids, generator=gen, dtype=torch.float64
    )
    stake = torch.zeros(subnets, uids, dtype=torch.float64)
    stake[:, :validators] = (
        torch.rand(subnets, validators, generator=gen, dtype=torch.float64) * 1e15
    )
    permits = torch.zeros(subnets, uids, dtype=torch.bool)
    permits[:, :validators] = True
    return {
        "weights": weights,
        "stake": stake,
        "bonds": torch.zeros(subnets, uids, uids, dtype=torch.float64),
        "validator_permit_prev": permits,
        "last_update": torch.full((subnets, uids), 9_999, dtype=torch.int64),
        "registration": torch.zeros(subnets, uids, dtype=torch.int64),
    }


def sparse_network(
    subnets: int, uids: int, permits: int, setters: int, seed: int
) -> dict[str, torch.Tensor]:
    """The full-year network's shape: ``permits`` staked uids at random positions (the slice
    rows are scattered, as in the simulator), of which the first ``setters`` set dense weights
    and hold bonds from a prior run; the other permit holders have neither."""
    gen = torch.Generator().manual_seed(seed)
    holders = torch.stack([torch.randperm(uids, generator=gen)[:permits] for _ in range(subnets)])
    at = torch.arange(subnets)[:, None]
    setting = holders[:, :setters]
    weights = torch.zeros(subnets, uids, uids, dtype=torch.float64)
    weights[at, setting] = torch.rand(subnets, setters, uids, generator=gen, dtype=torch.float64)
    bonds = torch.zeros(subnets, uids, uids, dtype=torch.float64)
    bonds[at, setting] = torch.rand(subnets, setters, uids, generator=gen, dtype=torch.float64)
    stake = torch.zeros(subnets, uids, dtype=torch.float64)
    stake[at, holders] = torch.rand(subnets, permits, generator=gen, dtype=torch.float64) * 1e15
    permit = torch.zeros(subnets, uids, dtype=torch.bool)
    permit[at, holders] = True
    return {
        "weights": weights,
        "stake": stake,
        "bonds": bonds,
        "validator_permit_prev": permit,
        "last_update": torch.full((subnets, uids), 9_999, dtype=torch.int64),
        "registration": torch.zeros(subnets, uids, dtype=torch.int64),
    }


def kernel_only(args: argparse.Namespace) -> dict[str, float]:
    """Process CPU time of the fused kernel alone per subnet (median and best of ``repeats``).

    One network epoch runs through :func:`yuma_epoch` with the kernel wrapped, which records
    the kernel's arguments; the kernel is then called on them ``repeats`` times, each time on
    a fresh copy of the old bonds (it updates them in place).
    """
    from protocol.yuma import _fused

    inputs = sparse_network(args.subnets, args.uids, args.validators, args.setters, seed=4)
    params = EpochParams(max_validators=args.validators)
    kernel = _fused.fused_slice_epoch
    recorded: list[tuple] = []

    def record(*kernel_args: object) -> None:
        recorded.append(kernel_args)
        kernel(*kernel_args)

    _fused.fused_slice_epoch = record
    try:
        yuma_epoch(**inputs, params=params, rao_emission=1e9, block=10_000, backend="fused")
    finally:
        _fused.fused_slice_epoch = kernel
    if not recorded:
        raise SystemExit("--kernel-only: the epoch did not call the fused kernel")
    kernel_args = list(recorded[0])
    old_bonds = np.array(kernel_args[3])
    names = list(inspect.signature(kernel.py_func).parameters)

    def per_subnet_us(arguments: list) -> list[float]:
        seconds = []
        for _ in range(args.repeats + 1):  # the first call is a warm-up
            bonds = old_bonds.copy()
            arguments[3] = arguments[4] = bonds  # read and written in place, as the glue does
            cpu_start = time.process_time()
            kernel(*arguments)
            seconds.append(time.process_time() - cpu_start)
        return [1e6 * s / args.subnets for s in seconds[1:]]

    plain = per_subnet_us(list(kernel_args))
    # the simulator's hint: rows that hold neither weights nor bonds are not read
    live = (inputs["weights"] != 0).any(-1) | (inputs["bonds"] != 0).any(-1)
    hinted = list(kernel_args)
    hinted[names.index("live_rows")] = live.numpy()
    hinted[names.index("has_live_rows")] = True
    with_hint = per_subnet_us(hinted)
    return {
        "kernel_us_per_subnet": statistics.median(plain),
        "kernel_best_us_per_subnet": min(plain),
        "kernel_live_us_per_subnet": statistics.median(with_hint),
        "kernel_live_best_us_per_subnet": min(with_hint),
    }


def _time_epochs(
    inputs: dict[str, torch.Tensor], params: EpochParams, epochs: int, backend: str
) -> tuple[float, float]:
    """Wall and process-CPU seconds per network epoch over ``epochs`` epochs (after a warm-up)."""

    def step(block: int) -> None:
        yuma_epoch(
            **inputs, params=params, rao_emission=1e9, block=block, inplace_bonds=True,
            backend=backend,
        )  # fmt: skip

    step(10_000)  # warm-up
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(epochs):
        step(10_000 + 360 * epoch)
    # process CPU time: with one thread, what the wall time would be on an idle core
    return (time.perf_counter() - start) / epochs, (time.process_time() - cpu_start) / epochs


def network_year(args: argparse.Namespace) -> dict[str, float]:
    """Time ``args.epochs`` batched network epochs (or a full year) and extrapolate."""
    inputs = network(args.subnets, args.uids, args.validators, seed=2)
    params = EpochParams(max_validators=args.validators)
    epochs = EPOCHS_PER_YEAR if args.full_year else args.epochs
    per_epoch, cpu_per_epoch = _time_epochs(inputs, params, epochs, args.backend)
    figures = {
        "network_epoch_ms": 1e3 * per_epoch,
        "network_year_s": per_epoch * EPOCHS_PER_YEAR,
        "network_epoch_cpu_ms": 1e3 * cpu_per_epoch,
        "network_year_cpu_s": cpu_per_epoch * EPOCHS_PER_YEAR,
        "network_epochs_timed": float(epochs),
    }
    if args.torch_epochs > 0 and args.backend != "torch":
        torch_wall, torch_cpu = _time_epochs(inputs, params, args.torch_epochs, "torch")
        figures["torch_network_epoch_ms"] = 1e3 * torch_wall
        figures["torch_network_epoch_cpu_ms"] = 1e3 * torch_cpu
        figures["torch_network_year_cpu_s"] = torch_cpu * EPOCHS_PER_YEAR
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        yuma_epoch(
            **inputs, params=params, rao_emission=1e9, block=10_000, inplace_bonds=True,
            backend=args.backend,
        )  # fmt: skip
    print(f"where one network epoch ({args.backend}) spends its time (torch profiler, self CPU):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="network epochs to time")
    parser.add_argument("--full-year", action="store_true", help="time all 7 300 epochs")
    parser.add_argument("--subnets", type=int, default=128)
    parser.add_argument("--uids", type=int, default=256)
    parser.add_argument("--validators", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20, help="single-subnet repetitions")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--backend", choices=["auto", "torch", "fused"], default="auto", help="float backend"
    )
    parser.add_argument(
        "--torch-epochs", type=int, default=10, help="network epochs timed on torch (0: skip)"
    )
    parser.add_argument(
        "--kernel-only", action="store_true", help="time the fused kernel alone (see above)"
    )
    parser.add_argument(
        "--setters", type=int, default=16, help="--kernel-only: permit holders that set weights"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.kernel_only:
        figures = kernel_only(args)
        print(
            f"fused kernel alone, {args.subnets} subnets x {args.uids} uids, {args.validators} "
            f"permits ({args.setters} setting weights), process CPU time per subnet: "
            f"median {figures['kernel_us_per_subnet']:.1f} us, "
            f"best {figures['kernel_best_us_per_subnet']:.1f} us; with the simulator's live-row "
            f"hint: median {figures['kernel_live_us_per_subnet']:.1f} us, "
            f"best {figures['kernel_live_best_us_per_subnet']:.1f} us"
        )
        print(" ".join(f"{key}={value:.3f}" for key, value in figures.items()))
        return

    start = time.perf_counter()
    yuma_epoch(**network(2, 8, 4, seed=3), params=EpochParams(max_validators=4), backend="auto")
    first_call = time.perf_counter() - start
    print(f"first fused call in this process (numba compile or cache load): {first_call:.2f} s")
    figures = {"first_call_s": first_call}
    figures.update(single_subnet(args.repeats, args.backend))
    for key, value in figures.items():
        print(f"single subnet 256 uids / 64 validators: {key} = {value:.2f}")
    year = network_year(args)
    scope = "full year" if args.full_year else f"{args.epochs} epochs, extrapolated to 7 300"
    if "torch_network_epoch_cpu_ms" in year:
        print(
            f"torch path for comparison: {year['torch_network_epoch_ms']:.1f} ms per network "
            f"epoch (process CPU time {year['torch_network_epoch_cpu_ms']:.1f} ms, "
            f"{year['torch_network_year_cpu_s']:.0f} s per year)"
        )
    print(
        f"network {args.subnets} x {args.uids} uids ({args.validators} validators), "
        f"backend {args.backend}, {scope}: "
        f"{year['network_epoch_ms']:.1f} ms per network epoch, {year['network_year_s']:.0f} s per year "
        f"(process CPU time: {year['network_epoch_cpu_ms']:.1f} ms, {year['network_year_cpu_s']:.0f} s)"
    )
    figures.update(year)
    figures["threads"] = float(args.threads)
    print(" ".join(f"{key}={value:.3f}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
