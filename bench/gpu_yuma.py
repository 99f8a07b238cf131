"""GPU check of the Yuma epoch: the float network year on a device, and float/exact agreement there.

1. Network year: 128 subnets x 256 uids (64 validators, dense weights), float64, batched, bonds
   in place, on ``--device`` (goal on CUDA: <= 2 s for 7 300 epochs). ``--epochs`` are timed
   (with device synchronisation) and extrapolated unless ``--full-year``.
2. Agreement: ``--states`` random dense subnet states run through the float epoch on the device
   and through the chain-exact epoch on the CPU; u16 outputs must agree within 2 and emissions
   within 1e-6 of ``rao_emission``.

Runs anywhere with ``--device cpu`` (smaller defaults are fine there). The last line is
``key=value`` pairs; the exit code is 1 if agreement fails.

Usage::

    .venv/bin/python bench/gpu_yuma.py                         # CUDA
    .venv/bin/python bench/gpu_yuma.py --device cpu --epochs 3 --states 4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from yuma import EPOCHS_PER_YEAR, network, random_state

from protocol.yuma import EpochParams, replay_states, yuma_epoch
from protocol.yuma.replay import float_epoch_from_state, state_tensors
from protocol.yuma.state import parse_state

U16_TOLERANCE = 2
EMISSION_TOLERANCE = 1e-6


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (timing on CUDA is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def network_year(device: torch.device, epochs: int, full_year: bool) -> dict[str, float]:
    """Time batched network epochs on ``device`` and extrapolate to a year."""
    inputs = {k: v.to(device) for k, v in network(128, 256, 64, seed=2).items()}
    params = EpochParams(max_validators=64)
    epochs = EPOCHS_PER_YEAR if full_year else epochs

    def step(block: int) -> None:
        yuma_epoch(**inputs, params=params, rao_emission=1e9, block=block, inplace_bonds=True)

    step(10_000)
    synchronize(device)
    start = time.perf_counter()
    for epoch in range(epochs):
        step(10_000 + 360 * epoch)
    synchronize(device)
    per_epoch = (time.perf_counter() - start) / epochs
    return {"network_epoch_ms": 1e3 * per_epoch, "network_year_s": per_epoch * EPOCHS_PER_YEAR}


def agreement(device: torch.device, states: int) -> dict[str, float]:
    """Largest float-on-device vs exact-on-CPU differences over random dense states."""
    worst_u16 = 0.0
    worst_emission = 0.0
    for seed in range(states):
        raw = random_state(256, 64, yuma3=bool(seed % 2), seed=100 + seed)
        state = parse_state(raw)
        kwargs = state_tensors(state)
        kwargs["device"] = device
        on_device = yuma_epoch(**kwargs)
        exact = replay_states(raw, "exact")[0]
        # the replay's float path on the CPU, to check the device result against it too
        cpu_float, _ = float_epoch_from_state(state)
        for key, tensor in (
            ("consensus_u16", on_device.consensus),
            ("incentive_u16", on_device.incentive),
            ("dividends_u16", on_device.dividends),
        ):
            got = np.floor(tensor.cpu().numpy() * 65535 + 1e-9)
            worst_u16 = max(worst_u16, float(np.abs(got - np.array(exact[key])).max()))
            worst_u16 = max(worst_u16, float(np.abs(got - np.array(cpu_float[key])).max()))
        emission = on_device.emission.cpu().numpy()
        gap = np.abs(emission - np.array(exact["emission"], dtype=np.float64)).max()
        worst_emission = max(worst_emission, float(gap) / state.rao_emission)
    return {"agree_max_u16_diff": worst_u16, "agree_max_emission_rel": worst_emission}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="torch device (cuda, cuda:1, cpu)")
    parser.add_argument("--epochs", type=int, default=200, help="network epochs to time")
    parser.add_argument("--full-year", action="store_true")
    parser.add_argument("--states", type=int, default=8, help="random states for agreement")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False (use --device cpu)")

    figures = network_year(device, args.epochs, args.full_year)
    print(
        f"{device}: {figures['network_epoch_ms']:.2f} ms per network epoch, "
        f"{figures['network_year_s']:.1f} s per year (128 x 256 uids, 64 validators, float64)"
    )
    figures.update(agreement(device, args.states))
    ok = (
        figures["agree_max_u16_diff"] <= U16_TOLERANCE
        and figures["agree_max_emission_rel"] <= EMISSION_TOLERANCE
    )
    print(f"float on {device} vs exact: max u16 diff {figures['agree_max_u16_diff']:.0f}, "
          f"max emission diff {figures['agree_max_emission_rel']:.2e} of rao_emission")  # fmt: skip
    figures["agreement_ok"] = float(ok)
    print(f"device={device} " + " ".join(f"{k}={v:.6g}" for k, v in figures.items()))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
