"""``govsim app`` from a plain (non-editable) install, run outside the checkout.

The wheel is built from a copy of the tracked files, installed with ``--no-deps`` into a fresh
virtual environment whose dependencies come from this environment's ``site-packages`` (a
``.pth`` line: nothing is downloaded, torch is not reinstalled). From an empty temporary
directory, ``govsim app --help`` answers and ``govsim app --headless`` serves the explorer
(HTTP 200); with chromium present (``-m e2e``), a browser also sees the Scenario page render.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import free_port, wait_for_health

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REPO_ROOT / ".git").exists(), reason="needs a git checkout"),
]


def _copy_tracked_files(dest: Path) -> None:
    """Copy what git tracks (links stay links), so the build sees what a clone would."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, target = REPO_ROOT / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with govsim installed from its wheel; yields the venv's bin directory."""
    base = tmp_path_factory.mktemp("install")
    source, wheels, venv = base / "src", base / "wheels", base / "venv"
    _copy_tracked_files(source)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(source)],
        check=True, timeout=600,
    )  # fmt: skip
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # The dependencies (torch, streamlit...) from this environment, after the venv's own files.
    Path(purelib, "_govsim_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    wheel = next(wheels.glob("govsim-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, timeout=600,
    )  # fmt: skip
    yield venv / "bin"


def _env() -> dict[str, str]:
    """The environment without this checkout on the path (``PYTHONPATH`` from pytest or a shell)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "OMP_NUM_THREADS": "1", "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}


def test_the_installed_explorer_is_the_wheels_not_the_checkouts(installed: Path) -> None:
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run(
            [str(installed / "python"), "-c",
             "import app_pages, sim, sim.explorer; from sim.cli.app_cmd import find_app; "
             "print(app_pages.__file__); print(sim.__file__); print(find_app())"],
            cwd=cwd, env=_env(), check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
    venv = installed.parent.resolve()
    for path in map(Path, out):
        assert path.resolve().is_relative_to(venv), path
    app_path = Path(out[2])
    assert app_path.name == "app.py" and (app_path.parent / "app_pages" / ".streamlit").is_dir()


def test_govsim_app_help_works_outside_the_checkout(installed: Path) -> None:
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run(
            [str(installed / "govsim"), "app", "--help"],
            cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "explorer" in result.stdout and "--port" in result.stdout


@contextlib.contextmanager
def _serve(bin_dir: Path, cwd: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``govsim app --headless`` on a free local port in ``cwd``; yields (url, process, log)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = cwd / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(bin_dir / "govsim"), "app", "--headless", "--address", "127.0.0.1",
             "--port", str(port)],
            cwd=cwd, env=_env(), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_health(url, proc, log_path, timeout_s=120)
        yield url, proc, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_govsim_app_serves_the_explorer_outside_the_checkout(installed: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        with (
            _serve(installed, cwd) as (url, _, log_path),
            urllib.request.urlopen(url, timeout=30) as response,
        ):
            assert response.status == 200
            assert "<html" in response.read().decode().lower()
        assert "Traceback" not in log_path.read_text(), log_path.read_text()
        # `govsim app` became the server: stopping it stopped Streamlit, nothing is left behind.
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=5)
        assert sorted(p.name for p in cwd.iterdir()) == ["server.log"]


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning")
def test_the_installed_explorer_renders_and_sends_nothing_out(installed: Path, page: Any) -> None:
    """The Scenario page renders in chromium from the installed files, under the shipped config.

    With usage statistics on, the page would fetch ``https://data.streamlit.io/metrics.json``;
    here no request leaves 127.0.0.1.
    """
    with tempfile.TemporaryDirectory() as tmp, _serve(installed, Path(tmp)) as (url, _, log_path):
        hosts: set[str] = set()
        page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
        page.goto(url)
        heading = page.locator("h1", has_text="Scenario")
        heading.first.wait_for(timeout=120_000)
        assert page.locator("[data-testid='stException']").count() == 0
        page.wait_for_timeout(2_000)  # the metrics fetch, if any, starts right after load
        assert hosts == {url.removeprefix("http://")}, hosts
        assert "Traceback" not in log_path.read_text(), log_path.read_text()
