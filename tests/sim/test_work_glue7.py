"""The revealed consensus kernel: the array version's stake-weighted rows, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from sim.desks.work import _stake_weighted_rows


def _stake_weighted_rows_arrays(
    hotkey_alpha: np.ndarray, uids: np.ndarray, past: np.ndarray
) -> np.ndarray:
    """The array version the kernel replaced (``WorkDesk.revealed_consensus``)."""
    stake = hotkey_alpha[:, uids]
    setters = past.sum(axis=2) > 0
    w = np.where(setters, stake, 0.0)
    return np.einsum("sv,svn->sn", w, past)


@pytest.mark.parametrize("seed", range(5))
def test_the_stake_weighted_rows_are_the_arrays(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(60):
        S, n = int(rng.integers(1, 40)), int(rng.integers(2, 300))
        V = int(rng.integers(1, min(n, 24) + 1))
        uids = rng.choice(n, V, replace=False).astype(np.int64)
        hotkey_alpha = np.abs(rng.standard_normal((S, n))) * 10.0 ** rng.integers(-3, 16, (S, n))
        past = np.abs(rng.standard_normal((S, V, n))) * 10.0 ** rng.integers(-6, 3, (S, V, n))
        past[rng.random((S, V)) < 0.3] = 0.0  # slots that set no weights
        want = _stake_weighted_rows_arrays(hotkey_alpha, uids, past)
        got = np.empty((S, n))
        _stake_weighted_rows(hotkey_alpha, uids, past, got)
        assert got.tobytes() == want.tobytes()


def test_the_python_twin_weighs_alike() -> None:
    """Without numba the kernel runs as Python (``protocol._numba.jit``): the same rows."""
    rows = getattr(_stake_weighted_rows, "py_func", _stake_weighted_rows)
    rng = np.random.default_rng(3)
    hotkey_alpha, past = rng.random((4, 20)) * 1e12, rng.random((4, 3, 20))
    past[1, 2] = 0.0
    uids = np.array([0, 4, 9])
    got = np.empty((4, 20))
    rows(hotkey_alpha, uids, past, got)
    assert got.tobytes() == _stake_weighted_rows_arrays(hotkey_alpha, uids, past).tobytes()
