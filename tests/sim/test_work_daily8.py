"""The work desk's mean recent income per active miner: the numpy formula, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from sim.desks.work import _income_per_miner_rows


@pytest.mark.parametrize("compiled", [True, False])
def test_income_per_miner_rows_is_the_masked_mean(compiled: bool) -> None:
    """The work desk's kernel against the numpy formula, bit for bit (row lengths around the
    pairwise sum's blocks, empty rows, signed zeros)."""
    kernel = (
        _income_per_miner_rows
        if compiled
        else getattr(_income_per_miner_rows, "py_func", _income_per_miner_rows)
    )
    rng = np.random.default_rng(2)
    for n in (1, 7, 8, 9, 64, 130, 300):
        income = rng.standard_normal((5, n)) * 10.0 ** rng.integers(-3, 4, (5, n))
        income[rng.random((5, n)) < 0.1] = -0.0
        is_miner = rng.random((5, n)) < 0.8
        vacant = rng.random((5, n)) < 0.2
        is_miner[0] = False  # nobody active: 0 / 1
        active = is_miner & ~vacant
        want = np.where(active, income, 0.0).sum(axis=1) / np.maximum(active.sum(axis=1), 1)
        got = np.empty(5)
        kernel(is_miner, vacant, income, got)
        assert got.tobytes() == want.tobytes(), n
