"""Fixtures shared by the simulator's tests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor

import pytest

from sim.executors import make_executor


@pytest.fixture(scope="session")
def process_pool() -> Iterator[Executor]:
    """One two-worker ``"process"`` executor (the simulator preloaded), for the tests that need a
    real pool but not a fresh one: each new pool costs every worker the simulator's imports
    (~4 s of CPU). The studies run on it are independent; a pool reuses its workers anyway."""
    with make_executor("process", workers=2) as pool:
        yield pool
