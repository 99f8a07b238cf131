"""Fixtures for the explorer's tests: AppTest cache hygiene and a real browser.

Browser tests drive Debian's chromium (``/usr/bin/chromium``, installed by ``make browser``);
they are skipped when it is absent and never download a browser. The server is started the way a
user starts it, ``govsim app``, from an empty temporary directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
#: Chromium flags: no sandbox (root in CI) and no background traffic to a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
SERVER_START_TIMEOUT_S = 60.0
#: Streamlit debounces widget events; wait this long before checking that a rerun finished.
WIDGET_DEBOUNCE_MS = 210


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    """``st.cache_data`` is process-wide: clear it so AppTest instances never share results."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's chromium with the offline flags."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make test installs it with apt)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A tall viewport: Streamlit scrolls inside its own container, so screenshots show the viewport."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 2400}}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(
    url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float
) -> None:
    """Poll Streamlit's health endpoint until it answers ``ok``; fail with the server log if not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"streamlit exited early ({proc.returncode}):\n{log_path.read_text()}"
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().decode().strip() == "ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"streamlit did not become healthy in {timeout_s} s:\n{log_path.read_text()}"
    )


@pytest.fixture(scope="module")
def streamlit_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the explorer with ``govsim app`` on a free local port for one test module.

    The server runs in an empty temporary directory (so the Studies page finds nothing of the
    checkout's, and nothing is written into it); yields the base URL.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make browser installs it with apt)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cwd = tmp_path_factory.mktemp("explorer-cwd")
    cmd = [
        sys.executable, "-m", "sim", "app", "--headless",
        "--address", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
    }
    # Output goes to a file, not a pipe: a full pipe would block the server.
    with tempfile.NamedTemporaryFile("w+b", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_health(url, proc, log_path, SERVER_START_TIMEOUT_S)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_path.unlink(missing_ok=True)


def wait_for_app_run(page: Any, timeout_ms: float = 60_000) -> None:
    """Wait for Streamlit to finish a rerun (connected, and the script no longer running)."""
    page.wait_for_timeout(WIDGET_DEBOUNCE_MS)
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-connection-state='CONNECTED']",
        state="attached",
        timeout=timeout_ms,
    )
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']",
        state="attached",
        timeout=timeout_ms,
    )
