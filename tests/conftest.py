"""Shared fixtures for govsim's tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SN15_PATH = REPO_ROOT / "scenarios" / "data" / "sn15_block4769998.json"


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
