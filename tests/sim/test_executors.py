"""The recycling process pool: workers start (and preload) with the pool, recycling never waits
for the old pool's tail, workers exit without interpreter teardown; the runner's import path
stays light."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
from pathlib import Path

from sim.executors import RecyclingProcessPool, _PoolContext, make_executor
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
    code = ("import sys, sim.runner, sim.schema; "
            "from sim.sampling import lhs; assert 'scipy.stats' not in sys.modules; "
            "assert len(lhs(3, {'a': (0.0, 1.0)}, seed=1)) == 3; "
            "assert 'scipy.stats' in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)
