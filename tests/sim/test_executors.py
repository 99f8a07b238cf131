"""Executors: the recycling process pool (workers start and preload with the pool, recycling
never waits for the old pool's tail, workers exit without teardown), at-least-once delivery
stored once, clear errors for unknown executors and Dask addresses, the Dask worker check;
the runner's import path stays light. The real Dask cluster is in test_dask_cluster.py."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.executors import (
    ExecutorError,
    RecyclingProcessPool,
    SequentialExecutor,
    _PoolContext,
    check_executor_kind,
    dask_address,
    make_executor,
    worker_identity,
    worker_mismatches,
)
from sim.runner import run_sweep
from sim.store import StoreError, StudyStore, part_name
from tests.scenarios.tiny import REPO


def _loaded(name: str) -> bool:
    """Whether this (worker) process has imported ``name``."""
    return name in sys.modules


def _sleep_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _write_then_register_atexit(path: str) -> None:
    Path(path).write_text("task done")
    # Runs only if the interpreter tears down normally; a pool worker skips that.
    atexit.register(lambda: Path(path).write_text("torn down"))


def test_workers_start_with_the_pool_and_preload() -> None:
    with make_executor("process", workers=2, preload=("json.decoder", "sim.store")) as pool:
        assert isinstance(pool, RecyclingProcessPool)
        # No task submitted yet: both workers were started by the pool itself.
        starts = pool.startup_times(timeout=120)
        assert len(starts) == 2
        for wall, cpu in starts.values():
            assert wall > 0 and cpu > 0
        assert pool.submit(_loaded, "sim.store").result(timeout=60)
        assert not pool.submit(_loaded, "sim.model").result(timeout=60)


def test_a_failing_preload_does_not_break_the_pool() -> None:
    with make_executor("process", workers=1, preload=("no_such_module_xyz",)) as pool:
        assert pool.submit(sum, [1, 2]).result(timeout=120) == 3


def test_recycling_does_not_wait_for_the_old_pools_tail() -> None:
    with RecyclingProcessPool(1, 1, preload=()) as pool:
        first_pid = pool.submit(os.getpid).result(timeout=120)
        slow = pool.submit(_sleep_pid, 3.0)  # quota used up: runs in a fresh pool
        t0 = time.monotonic()
        fast = pool.submit(os.getpid)  # quota used up again: another fresh pool
        assert time.monotonic() - t0 < 1.0, "submit waited for the retired pool to drain"
        fast_pid = fast.result(timeout=120)
        assert not slow.done(), "the next task waited for the retired pool's slow task"
        slow_pid = slow.result(timeout=120)
    assert len({first_pid, slow_pid, fast_pid}) == 3


def test_pool_workers_exit_cleanly_without_teardown(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    process = _PoolContext().Process(target=_write_then_register_atexit, args=(str(marker),))
    process.start()
    process.join(timeout=120)
    assert process.exitcode == 0
    assert marker.read_text() == "task done"


def test_importing_the_runner_leaves_scipy_stats_alone() -> None:
    # sim.sampling imports scipy.stats (~0.6-0.9 s of CPU) only when a design needs it; every
    # sweep worker imports sim.runner, and so sim.sampling.
    code = (
        "import sys, sim.runner, sim.schema; "
        "from sim.sampling import lhs; assert 'scipy.stats' not in sys.modules; "
        "assert len(lhs(3, {'a': (0.0, 1.0)}, seed=1)) == 3; "
        "assert 'scipy.stats' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


class _AtLeastOnceExecutor(SequentialExecutor):
    """Delivers every task the way Dask does when a worker dies: at least once, maybe more.

    Each task first runs in a "worker" that writes its part files and then dies (its result is
    lost), then runs again and delivers its result; at shutdown every task runs once more, a
    late duplicate arriving after the driver has recorded the run. Deterministic, no Dask.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[tuple] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.tasks.append((fn, args, kwargs))
        fn(*args, **kwargs)  # the attempt whose worker died after writing
        return super().submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        for fn, args, kwargs in self.tasks:
            fn(*args, **kwargs)  # late duplicates
        super().shutdown(wait=wait)


def test_a_run_delivered_several_times_is_stored_once(tmp_path: Path) -> None:
    from sim.report import verdict
    from tests.sim.test_runner import _assert_same_store, _plan

    plan = _plan(1, 2, horizon=0.25)  # 2 policies x 2 seeds
    with _AtLeastOnceExecutor() as executor:
        assert run_sweep(plan, tmp_path / "retried", executor, progress=False).ok
    assert run_sweep(plan, tmp_path / "once", SequentialExecutor(), progress=False).ok
    store = StudyStore(tmp_path / "retried")
    run_ids = sorted(store.manifest()["run_id"])
    kpis = store.table("kpis")
    assert sorted(kpis["run_id"]) == run_ids, "a run's KPIs were stored more than once"
    series = store.table("timeseries")
    assert series.groupby("run_id").size().nunique() == 1
    # The verdict pairs runs by (point, replication): it failed on duplicates with
    # "ValueError: cannot handle a non-unique multi-index!".
    assert verdict(kpis).line
    _assert_same_store(tmp_path / "retried", tmp_path / "once")
    # A stray copy of a recorded attempt under another name (an older govsim named parts by
    # worker) is never read: readers take the part file the manifest records.
    recorded = store.manifest().iloc[0]
    part = store.root / "kpis" / recorded["part_path"]
    shutil.copy(part, part.with_name("part-oldworker123x0a1b2c-00001.parquet"))
    assert sorted(store.table("kpis")["run_id"]) == run_ids


def test_a_worker_that_does_not_see_the_study_fails_the_run_clearly(tmp_path: Path) -> None:
    from sim.runner import RunConfig, run_one

    elsewhere = StudyStore(tmp_path / "not-mounted-here").writer()
    ref = run_one(
        "s0000-r0000",
        0,
        {"horizon_days": 0.05},
        "sudo",
        1,
        RunConfig(model="tests.sim.test_executors:_tiny_result"),
        elsewhere,
    )
    assert ref.status == "FAILED", ref
    assert "every worker mounts at the same path" in ref.error
    assert not (tmp_path / "not-mounted-here").exists()


def _tiny_result(config, policy=None, seed=None):  # type: ignore[no-untyped-def]
    """A stand-in model: one KPI row, no simulation."""
    from types import SimpleNamespace

    return SimpleNamespace(kpis={"x": 1.0}, timeseries=None, events=None)


def test_part_names_are_keyed_by_run_and_attempt() -> None:
    assert part_name("s0001-r0002", 3) == "part-s0001-r0002-a0003.parquet"
    for bad_id in ("../x", "a/b", "", "-x"):
        with pytest.raises(StoreError, match="run_id"):
            part_name(bad_id, 0)
    with pytest.raises(StoreError, match="attempt"):
        part_name("s0000-r0000", -1)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("threads", "expected one of sequential, process, dask-local, dask://HOST:PORT, ray$"),
        ("dask", "did you mean 'dask-local'"),
        ("proces", "did you mean 'process'"),
        ("10.0.0.5:8786", "did you mean 'dask://10.0.0.5:8786'"),
        ("dask://10.0.0.5", "expected dask://HOST:PORT"),
        ("dask://:8786", "expected dask://HOST:PORT"),
        ("http://10.0.0.5:8786", "expected dask://HOST:PORT"),
        ("dask://10.0.0.5:http", "port 'http': expected a number from 1 to 65535"),
        ("tcp://10.0.0.5:70000", "port '70000': expected a number from 1 to 65535"),
    ],
)
def test_unknown_executor_kinds_and_addresses_are_clear_errors(kind: str, message: str) -> None:
    with pytest.raises(ExecutorError, match=message):
        check_executor_kind(kind)
    with pytest.raises(ExecutorError, match=message):
        make_executor(kind)


def test_dask_addresses() -> None:
    assert dask_address("dask://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert dask_address("tcp://node-7.cluster:08786") == "tcp://node-7.cluster:8786"
    assert dask_address("dask://[::1]:8786") == "tcp://[::1]:8786"


def test_no_scheduler_at_the_address_is_a_clear_error() -> None:
    pytest.importorskip("distributed")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(
        ExecutorError, match=rf"no Dask scheduler answered at tcp://127.0.0.1:{port}"
    ):
        make_executor(f"dask://127.0.0.1:{port}", connect_timeout_s=2)
    assert time.monotonic() - t0 < 60


def test_worker_mismatches_name_each_worker_and_package() -> None:
    local = worker_identity()
    assert local["govsim"] and local["python"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert worker_mismatches({"tcp://a:1": dict(local)}, local) == []
    older = {**local, "torch": "0.0.1"}
    missing = ModuleNotFoundError("No module named 'sim'")
    problems = worker_mismatches({"tcp://b:2": missing, "tcp://a:1": older}, local)
    assert problems == [
        f"tcp://a:1: torch 0.0.1 (here {local['torch']})",
        "tcp://b:2: cannot run govsim tasks (ModuleNotFoundError: No module named 'sim')",
    ]
    assert worker_mismatches({"tcp://c:3": {**local, "govsim": None}}, local) == [
        f"tcp://c:3: govsim missing (here {local['govsim']})"
    ]
