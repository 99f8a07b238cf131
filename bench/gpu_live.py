"""One live window with a CUDA miner (prepared GPU check; also runs with ``--device cpu``).

Starts ``govsim live serve`` on loopback in a subprocess (validators on the coordinator's CPU),
then runs a miner in this process on ``--device``: it creates a hotkey, registers, pulls θ and
its assignment, trains H inner steps, uploads its compressed pseudo-gradient in the put window,
and waits for the window to be scored. On CUDA the default config is ``gpu-small`` (8 layers,
d = 512, ctx 256, H = 30, B = 32, about 25M parameters) with 150 s windows; on CPU ``cpu-tiny``
with 8 s windows.

Usage::

    .venv/bin/python bench/gpu_live.py --device cuda          # on a GPU machine
    .venv/bin/python bench/gpu_live.py --device cpu           # the same path on CPU

Last line: ``device=... config=... windows=... accepted=... train_s=... payload_bytes=... emission_tao=...``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _live_server import coordinator  # noqa: E402  (bench/ is on the path)

from sim.live.client import LiveClient  # noqa: E402
from sim.live.keys import load_or_create_key  # noqa: E402
from sim.live.miner import run_miner  # noqa: E402

DEFAULTS = {"cuda": ("gpu-small", 150.0, 40.0), "cpu": ("cpu-tiny", 8.0, 3.0)}


def main() -> None:
    """Run one live window and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--config", default=None, help="training config (default by device)")
    parser.add_argument("--window-seconds", type=float, default=None)
    parser.add_argument("--put-seconds", type=float, default=None)
    parser.add_argument(
        "--windows",
        type=int,
        default=1,
        help="windows to mine (earnings start once weights are set)",
    )
    parser.add_argument(
        "--others",
        default="",
        help="strategies of extra miner processes on the same device, e.g. honest,poisoner "
        "(a lone miner earns nothing: its rating only moves against others)",
    )
    args = parser.parse_args()
    kind = "cuda" if args.device.startswith("cuda") else "cpu"
    config, window_s, put_s = DEFAULTS[kind]
    config = args.config or config
    window_s = args.window_seconds or window_s
    put_s = args.put_seconds or put_s

    workdir = Path(tempfile.mkdtemp(prefix="govsim-gpu-live-"))
    scenario = (
        f"[live]\nwindow_seconds = {window_s}\nput_window_seconds = {put_s}\n"
        f'training_config = "{config}"\nmax_upload_bytes = {256 * 1024 * 1024}\n'
    )
    with (
        open(workdir / "coordinator.log", "wb") as log,
        coordinator(scenario, workdir, log=log, start_timeout_s=300) as (_, url),
    ):
        _mine(args, url, workdir, config, window_s)


def _mine(args: argparse.Namespace, url: str, workdir: Path, config: str, window_s: float) -> None:
    """Run this miner (and the ``--others``) against the coordinator at ``url``; print figures."""
    others: list[subprocess.Popen] = []
    try:
        for i, strategy in enumerate(s for s in args.others.split(",") if s):
            others.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "sim",
                        "live",
                        "mine",
                        "--coordinator",
                        url,
                        "--key",
                        str(workdir / f"other{i}.json"),
                        "--device",
                        args.device,
                        "--strategy",
                        strategy,
                        "--windows",
                        str(args.windows),
                        "--seed",
                        str(i + 1),
                    ],
                    cwd=REPO,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                )
            )
        key, _ = load_or_create_key(workdir / "miner.json")
        client = LiveClient(url, key, timeout=600)
        started = time.perf_counter()
        report = run_miner(
            client, device=args.device, strategy_name="honest", windows=args.windows, seed=0
        )
        wall = time.perf_counter() - started
        for proc in others:
            proc.wait(timeout=4 * window_s + 60)
        names = {client.hotkey: "honest (this miner)"}
        for i, strategy in enumerate(s for s in args.others.split(",") if s):
            other_key, _ = load_or_create_key(workdir / f"other{i}.json")
            names[LiveClient(url, other_key).hotkey] = strategy
        for miner in httpx.get(f"{url}/v1/status", timeout=10).json()["miners"]:
            print(
                f"uid {miner['uid']} {names.get(miner['hotkey'], '?')}: "
                f"earned {miner['emission_tao']:.6f} TAO"
            )
        uploads = report["uploads"]
        upload = uploads[-1]
        print(
            f"{len(uploads)} live window(s) on {args.device} ({config}, {window_s:g} s windows) "
            f"in {wall:.1f} s wall"
        )
        print(
            f"device={args.device} config={config} windows={len(uploads)} "
            f"accepted={sum(int(u['accepted']) for u in uploads)} "
            f"train_s={upload['train_seconds']:.2f} steps={upload['steps']} "
            f"payload_bytes={upload['bytes']} emission_tao={report['emission_tao']:.6f} wall_s={wall:.1f}"
        )
    finally:
        for proc in others:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
