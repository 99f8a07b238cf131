"""A real Dask cluster: a study survives a worker killed mid-way and equals the sequential one.

``dask scheduler`` and two ``dask worker`` processes are started from their own command-line
entry points (the venv's ``dask`` script, this worktree on ``PYTHONPATH``) on loopback, on
ports the OS picks. The study runs through the ``govsim`` CLI with ``--executor
dask://HOST:PORT``; once runs are coming back and one worker holds a run, that worker is killed
with SIGKILL (its nanny too: the machine is gone). Dask re-runs the lost tasks on the other
worker; the study must finish with every run stored exactly once and the same store as the
sequential executor's. Every process is killed at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim.executors import _DASK_WORKER_ENV
from sim.schema import load_scenario
from tests.scenarios.tiny import REPO, tiny_set_args
from tests.sim.test_runner import COVENANT, POLICIES, _assert_same_store

pytest.importorskip("distributed")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(540)]

BIN = Path(sys.executable).parent
SEEDS = 4
HORIZON_DAYS = 1.0
#: Seconds allowed for each phase on a loaded 2-core machine (typical: a tenth of that).
START_TIMEOUT_S = 180.0
STUDY_TIMEOUT_S = 240.0


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


class LoopbackCluster:
    """A scheduler and workers started with ``dask scheduler`` / ``dask worker`` on 127.0.0.1.

    Each process runs in its own session (process group), so killing a worker also kills its
    nanny's child, and :meth:`close` leaves nothing behind. Logs go to files in ``workdir``.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.scheduler_file = workdir / "scheduler.json"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {
            **os.environ,
            **_DASK_WORKER_ENV,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
            ),
            "DASK_TEMPORARY_DIRECTORY": str(workdir / "scratch"),
        }
        self.address = ""

    def log(self, name: str) -> Path:
        """The log file of process ``name``."""
        return self.workdir / f"{name}.log"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with self.log(name).open("wb") as log:
            proc = subprocess.Popen(
                args,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = proc
        return proc

    def logs(self) -> str:
        """The end of every process's log, for failure messages."""
        return "\n".join(
            f"--- {name} (exit {proc.poll()}) ---\n{_tail(self.log(name))}"
            for name, proc in self.processes.items()
        )

    def start_scheduler(self) -> str:
        """Start ``dask scheduler`` on a free port; return its ``tcp://`` address."""
        dask = BIN / "dask"
        if not dask.exists():
            pytest.fail(f"{dask} is missing: install the dask extra (pip install -e '.[dask]')")
        proc = self._spawn(
            "scheduler",
            [
                str(dask),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(self.scheduler_file),
                "--idle-timeout",
                "900",  # a safety net should this test's clean-up never run
            ],
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"dask scheduler exited with {proc.returncode}\n{self.logs()}")
            try:
                self.address = json.loads(self.scheduler_file.read_text())["address"]
                return self.address
            except (OSError, ValueError, KeyError):
                time.sleep(0.2)
        pytest.fail(
            f"dask scheduler wrote no {self.scheduler_file.name} in "
            f"{START_TIMEOUT_S:.0f} s\n{self.logs()}"
        )

    def start_worker(self, name: str) -> None:
        """Start one single-threaded ``dask worker`` (with its nanny) that preloads govsim."""
        self._spawn(
            name,
            [
                str(BIN / "dask"),
                "worker",
                "--scheduler-file",
                str(self.scheduler_file),
                "--host",
                "127.0.0.1",
                "--name",
                name,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--dashboard-address",
                "127.0.0.1:0",
                "--memory-limit",
                "0",
                "--local-directory",
                str(self.workdir / name),
                "--preload",
                "sim.executors",
                "--death-timeout",
                "120",  # leave if the scheduler is gone for good
            ],
        )

    def kill(self, name: str) -> None:
        """SIGKILL process ``name`` and everything in its session."""
        proc = self.processes[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def close(self) -> None:
        """Kill every process this cluster started."""
        for proc in reversed(self.processes.values()):
            with contextlib.suppress(ProcessLookupError):  # the session has already gone
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[tuple[LoopbackCluster, Any]]:
    """The scheduler, workers ``victim`` and ``survivor``, and a client for watching them."""
    from distributed import Client

    workdir = tmp_path / "cluster"
    workdir.mkdir()
    loopback = LoopbackCluster(workdir)
    client = None
    try:
        address = loopback.start_scheduler()
        for name in ("victim", "survivor"):
            loopback.start_worker(name)
        client = Client(address, set_as_default=False, timeout=START_TIMEOUT_S)
        try:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        except TimeoutError:
            pytest.fail(
                f"2 dask workers did not join in {START_TIMEOUT_S:.0f} s\n{loopback.logs()}"
            )
        yield loopback, client
    finally:
        if client is not None:
            client.close()
        loopback.close()


def _worker_address(client: Any, name: str) -> str:
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return next(addr for addr, info in workers.items() if info.get("name") == name)


def _succeeded(manifest_path: Path) -> int:
    try:
        return int((pd.read_parquet(manifest_path)["status"] == "SUCCEEDED").sum())
    except (OSError, ValueError):
        return 0  # not written yet, or replaced while read


def _finished_after(story: list[tuple], key: str, when: float) -> bool:
    """Whether the scheduler's story of ``key`` has it finishing (``memory``) after ``when``."""
    return any(
        len(event) >= 7 and event[1] == key and event[3] == "memory" and float(event[-1]) > when
        for event in story
    )


def test_study_survives_a_killed_worker_and_equals_sequential(
    cluster: tuple[LoopbackCluster, Any], tmp_path: Path
) -> None:
    loopback, client = cluster
    common = [
        "--policies",
        ",".join(POLICIES),
        "--seeds",
        str(SEEDS),
        "--entropy",
        "18",
        "--no-report",
        "--quiet",
        *tiny_set_args(load_scenario(COVENANT), HORIZON_DAYS),
    ]
    n_runs = len(POLICIES) * SEEDS
    out = tmp_path / "dask"
    govsim = BIN / "govsim"
    command = [str(govsim)] if govsim.exists() else [sys.executable, "-m", "sim"]
    executor = "dask://" + loopback.address.removeprefix("tcp://")
    driver_log = tmp_path / "driver.log"
    with driver_log.open("wb") as log:
        driver = subprocess.Popen(
            [
                *command,
                "compare",
                str(COVENANT),
                "--out",
                str(out),
                "--executor",
                executor,
                *common,
            ],
            cwd=REPO,
            env=loopback.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def context() -> str:
        return f"--- driver (exit {driver.poll()}) ---\n{_tail(driver_log)}\n{loopback.logs()}"

    try:
        victim = _worker_address(client, "victim")
        held: list[str] = []
        deadline = time.monotonic() + STUDY_TIMEOUT_S
        # Kill the victim once runs come back and it holds at least one run.
        while not held:
            if driver.poll() is not None:
                pytest.fail(f"the study ended before a worker could be killed\n{context()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no run came back in {STUDY_TIMEOUT_S:.0f} s\n{context()}")
            if _succeeded(out / "manifest.parquet") >= 1:
                held = [str(key) for key in client.processing(workers=[victim]).get(victim, ())]
            if not held:
                time.sleep(0.05)
        killed_at = time.time()
        loopback.kill("victim")
        try:
            driver.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the study did not finish in {STUDY_TIMEOUT_S:.0f} s after the kill\n{context()}"
            )
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(timeout=30)
    output = driver_log.read_text(errors="replace")
    assert driver.returncode == 0, f"govsim compare failed\n{context()}"
    assert f"{n_runs} runs: {n_runs} SUCCEEDED" in output, context()
    assert "verdict:" in output, context()  # pairs runs: fails on a run stored twice

    # The victim is gone and Dask re-ran what it held on the survivor.
    assert loopback.processes["victim"].poll() is not None
    assert list(client.scheduler_info()["workers"]) == [_worker_address(client, "survivor")]
    story = client.story(*held)
    assert any(_finished_after(story, key, killed_at) for key in held), (
        f"none of the killed worker's runs {held} was re-run after the kill\n{context()}"
    )

    # Each run stored once: one part file per run, one KPI row per run.
    assert len(list((out / "kpis").glob("part-*.parquet"))) == n_runs
    from sim.store import StudyStore

    kpis = StudyStore(out).table("kpis")
    assert kpis["run_id"].is_unique and len(kpis) == n_runs

    # The same study on the sequential executor: the same runs, seeds and results.
    from click.testing import CliRunner

    from sim.cli import main

    sequential = tmp_path / "sequential"
    result = CliRunner().invoke(
        main,
        ["compare", str(COVENANT), "--out", str(sequential), "--executor", "sequential", *common],
    )
    assert result.exit_code == 0, result.output
    _assert_same_store(out, sequential)
