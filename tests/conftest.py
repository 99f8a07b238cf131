"""Shared fixtures for govsim's tests, and the order in which parallel workers take the files.

``make test`` runs ``pytest -n auto``: one worker per core, each taking whole files
(``--dist loadfile`` in pyproject's addopts), so a module's fixtures and its test order stay as
in a serial run. Workers take files in collection order; the slowest files are moved to the
front (:data:`SLOWEST_FIRST`) so that no worker starts a minute-long file while the others
finish. While the workers collect, one process compiles protocol's numba kernels
(:data:`WARM_UP`), and the first test waits for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SN15_PATH = REPO_ROOT / "scenarios" / "data" / "sn15_block4769998.json"

#: The slowest test files, about slowest first (``--durations=0``, summed per file); the others
#: follow in collection order. The live end-to-end file comes third, not second, so that it
#: does not start beside the browser tour (both start several processes at once; the live
#: windows are 4 s long). A stale list costs balance, nothing else.
SLOWEST_FIRST = (
    "tests/app/test_e2e_browser.py",
    "tests/sim/test_runner.py",
    "tests/sim/test_live_e2e.py",
    "tests/app/test_app_pages.py",
    "tests/sim/test_sensitivity_cli.py",
    "tests/sim/test_dask_cluster.py",
    "tests/sim/test_frontier.py",
    "tests/sim/test_report_sweep.py",
    "tests/sim/test_model.py",
    "tests/test_readme_tour.py",
    "tests/sim/test_sensitivity_linked.py",
    "tests/scenarios/test_covenant_2026.py",
    "tests/sim/test_cli_discover.py",
    "tests/sim/test_outer_mc.py",
    "tests/sim/test_executors.py",
    "tests/app/test_install.py",
    "tests/sim/test_runner_cli.py",
    "tests/protocol/test_training_round.py",
    "tests/sim/test_cli_inputs.py",
    "tests/sim/test_calibration.py",
    "tests/scenarios/test_fuzz_inputs.py",
)


#: One tiny run: it compiles the kernels that every simulation uses (``cache=True``: the
#: files sit next to the sources). In a clean checkout each worker, and each process a test
#: starts (pools, Dask workers, the live coordinator), would otherwise compile the same kernels
#: at once: ~50 s of CPU apiece, and a coordinator missing its start-up deadline.
WARM_UP = (
    "from sim import api; from tests.scenarios.tiny import tiny_config; "
    "api.run(tiny_config(api.load_config('scenarios/covenant_2026.toml')))"
)
_WARM_UP_PROCESS = pytest.StashKey[subprocess.Popen]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under ``-n``, start :data:`WARM_UP` in the controller before the workers start."""
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "tx", None):
        return
    config.stash[_WARM_UP_PROCESS] = subprocess.Popen(
        [sys.executable, "-c", WARM_UP],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Hold the scheduler (it starts once every worker has collected) until the warm-up ends.

    A failed warm-up is not reported here: the tests that run the same code will fail.
    """
    process = node.config.stash.get(_WARM_UP_PROCESS, None)
    if process is None:
        return
    try:
        process.wait(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, move the slowest files to the front (a stable sort: each file's tests
    keep their order). A serial run keeps pytest's order."""
    if not hasattr(config, "workerinput"):
        return
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="session")
def sn15_state() -> dict:
    """The real mainnet SN15 replay state (256 uids, 20 validators)."""
    return json.loads(SN15_PATH.read_text())


@pytest.fixture()
def artifacts_dir() -> Path:
    """Where tests keep artifacts (screenshots, reports) for a person to look at."""
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: intra-op threads only contend on the shared 2-core machine (restored after).

    Modules use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
