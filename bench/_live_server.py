"""A ``govsim live serve`` subprocess on loopback, for the live bench scripts."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def coordinator(
    scenario_toml: str,
    workdir: Path,
    *,
    log: IO[bytes] | int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    start_timeout_s: float = 120.0,
) -> Iterator[tuple[subprocess.Popen, str]]:
    """Write ``scenario_toml`` into ``workdir``, serve it, wait until it answers; yield
    ``(process, url)`` and kill the process group on exit.

    Raises
    ------
    SystemExit
        If the coordinator does not answer within ``start_timeout_s`` or exits first.
    """
    scenario = workdir / "scenario.toml"
    scenario.write_text(scenario_toml)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # fmt: off
    command = [sys.executable, "-m", "sim", "live", "serve", "--scenario", str(scenario),
               "--host", "127.0.0.1", "--port", str(port), "--state-dir", str(workdir / "state")]
    # fmt: on
    server = subprocess.Popen(
        command,
        cwd=REPO,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ | (env or {}),
    )
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                httpx.get(f"{url}/v1/clock", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"coordinator did not start (see {workdir})") from None
                time.sleep(0.2)
        yield server, url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
