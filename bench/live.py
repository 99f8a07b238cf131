"""Signed uploads per second a live coordinator sustains on loopback.

Starts ``govsim live serve`` in a subprocess (one uvicorn worker), registers ``--miners`` hotkeys,
pre-signs one upload per hotkey (a real compressed pseudo-gradient of the chosen training config,
so the payload size is realistic), waits for the put window, then sends them from
``--concurrency`` client threads and times the whole batch. Every upload must be accepted (200):
signature check, nonce, rate limit, size cap, the payload checks (layout, NaN/inf, range,
``validate_gradient``'s rules) and an fsynced upload-log record each. The coordinator's CPU time
per upload (from ``/proc``) is printed too: on a shared machine it is steadier than the rate.

Usage::

    .venv/bin/python bench/live.py [--configs cpu-tiny,cpu-small] [--miners 300] [--concurrency 16]

Last line: ``uploads_per_s_<config>=... payload_bytes_<config>=... miners=... concurrency=...``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _live_server import coordinator  # noqa: E402  (bench/ is on the path)

from protocol.live import encode_payload, seal  # noqa: E402
from protocol.training.compression import compress_pseudo_gradient  # noqa: E402
from protocol.training.models import make_model  # noqa: E402
from sim.live.client import LiveClient  # noqa: E402
from sim.live.miner import training_config_from_info  # noqa: E402


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _payload(info: dict) -> bytes:
    config = training_config_from_info(info["training"]["config"])
    gen = torch.Generator().manual_seed(0)
    delta = {
        n: torch.randn(p.shape, generator=gen) * 1e-3
        for n, p in make_model(config).named_parameters()
    }
    result = compress_pseudo_gradient(
        delta,
        None,
        chunk=config.chunk,
        topk=config.topk,
        ef_beta=config.ef_beta,
        bins=config.quant_bins,
        value_range=config.quant_range,
    )
    return encode_payload(result.gradient.to_dict(2))


def measure(config: str, miners: int, concurrency: int) -> tuple[float, int, float]:
    """Uploads per second for one training config.

    Returns
    -------
    rate, payload bytes, coordinator CPU milliseconds per upload
    """
    workdir = Path(tempfile.mkdtemp(prefix="govsim-live-bench-"))
    window_s, put_s = 30.0, 25.0
    scenario = (
        f"[live]\nwindow_seconds = {window_s}\nput_window_seconds = {put_s}\n"
        f'training_config = "{config}"\nmax_miners = {miners}\n'
        "rate_per_second = 100.0\nrate_burst = 100\n"
        # Every bench hotkey registers from loopback: lift the per-address share.
        "[live.registration]\nmax_address_share = 1.0\n"
    )
    try:
        with coordinator(scenario, workdir, env={"OMP_NUM_THREADS": "1"}) as (server, url):
            return _measure_against(server, url, config, miners, concurrency)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # 300 uploads of gpu-small are ~230 MB


def _measure_against(
    server: subprocess.Popen, url: str, config: str, miners: int, concurrency: int
) -> tuple[float, int, float]:
    """The timed batch against a running coordinator (see :func:`measure`)."""
    keys = [Ed25519PrivateKey.generate() for _ in range(miners)]
    first = LiveClient(url, keys[0])
    body = _payload(first.info())
    http = httpx.Client(base_url=url, timeout=60)
    for i, key in enumerate(keys):
        client = LiveClient(url, key)
        client.http = http
        if i % 20 == 0:  # registering is slow on a busy machine: keep the window fresh
            first.server_clock()
        client.window_hint = first.window_hint
        client.register()
    # Sign everything before the clock starts: the bench measures the server.
    clock = first.server_clock()
    window = clock["window"]
    opens = clock["genesis"] + (window + 1) * clock["window_seconds"]
    headers = [
        seal(
            key,
            method="PUT",
            path=f"/v1/gradient/{window}",
            nonce=time.time_ns(),
            window=window,
            body=body,
        )
        | {"content-type": "application/octet-stream"}
        for key in keys
    ]
    time.sleep(max(0.0, opens - first.server_now() + 0.1))
    clients = [httpx.Client(base_url=url, timeout=60) for _ in range(concurrency)]

    def send(i: int) -> int:
        client = clients[i % concurrency]
        return client.put(f"/v1/gradient/{window}", content=body, headers=headers[i]).status_code

    server_cpu = _cpu_seconds(server.pid)
    client_cpu = time.process_time()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        codes = list(pool.map(send, range(miners)))
    elapsed = time.perf_counter() - started
    server_ms = (_cpu_seconds(server.pid) - server_cpu) / miners * 1e3
    client_ms = (time.process_time() - client_cpu) / miners * 1e3
    accepted = sum(c == 200 for c in codes)
    if accepted != miners:
        raise SystemExit(f"only {accepted} of {miners} uploads accepted: {sorted(set(codes))}")
    print(
        f"{config}: {accepted} signed uploads of {len(body)} bytes in {elapsed:.2f} s "
        f"({accepted / elapsed:.1f}/s) with {concurrency} client threads on loopback; "
        f"CPU per upload: coordinator {server_ms:.2f} ms, clients {client_ms:.2f} ms"
    )
    return accepted / elapsed, len(body), server_ms


def main() -> None:
    """Run the benchmark for each config and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", default="cpu-tiny,cpu-small", help="training configs (payload sizes)"
    )
    parser.add_argument("--miners", type=int, default=300, help="uploads in each timed batch")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    args = parser.parse_args()
    fields = []
    for config in args.configs.split(","):
        rate, size, server_ms = measure(config, args.miners, args.concurrency)
        key = config.replace("-", "_")
        fields += [
            f"uploads_per_s_{key}={rate:.1f}",
            f"payload_bytes_{key}={size}",
            f"server_cpu_ms_{key}={server_ms:.2f}",
        ]
    print(" ".join([*fields, f"miners={args.miners}", f"concurrency={args.concurrency}"]))


if __name__ == "__main__":
    main()
