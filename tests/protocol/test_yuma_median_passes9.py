"""The fused kernel's κ-median passes and its reuse of cleared row buffers, against plain
one-row-at-a-time references, byte for byte.

:func:`protocol.yuma._fused._bisect` and :func:`protocol.yuma._fused._check_brackets` read
several rows per pass over the columns; every column's sums must still add the rows one at a
time in row order, as the reference does (a reordered float sum changes results near ties of
κ). The kernel clears a row buffer only when an earlier subnet left values in it: a slot that
holds a live row in one subnet and a known-zero row in the next must read as zero.
"""

from __future__ import annotations

import numpy as np
import pytest

from protocol.yuma import EpochParams
from protocol.yuma._fused import (
    BISECTION_ROUNDS,
    _bisect,
    _check_brackets,
    fused_available,
)
from protocol.yuma.float_epoch import fused_epoch_arrays
from protocol.yuma.mechanisms import get_mechanism

pytestmark = pytest.mark.skipif(not fused_available(), reason="numba is not installed")


def _reference_bisect(
    w32: np.ndarray,
    staked: np.ndarray,
    stake32: np.ndarray,
    kappa32: np.float32,
    low: np.ndarray,
    high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The bisection one row per pass, in float32 scalars (the kernel's former loop)."""
    low, high = low.copy(), high.copy()
    n = w32.shape[1]
    for _ in range(BISECTION_ROUNDS):
        with np.errstate(invalid="ignore"):  # inf + -inf: no staked rows
            mid = np.float32(0.5) * (low + high)
        above = np.zeros(n, np.float32)
        for m, r in enumerate(staked):
            for j in range(n):
                above[j] = above[j] + (stake32[m] if w32[r, j] >= mid[j] else np.float32(0.0))
        for j in range(n):
            if above[j] >= kappa32:
                low[j] = mid[j]
            else:
                high[j] = mid[j]
    return low, high


def _reference_check(
    w: np.ndarray,
    w32: np.ndarray,
    stake: np.ndarray,
    staked: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """The bracket check one row per pass, in Python floats (the kernel's former loop)."""
    n = w.shape[1]
    above = [0.0] * n
    inside = [0.0] * n
    smallest = [np.inf] * n
    largest = [-np.inf] * n
    for r in staked:
        for j in range(n):
            is_above = w32[r, j] >= high[j]
            is_inside = w32[r, j] >= low[j] and not is_above
            above[j] += stake[r] if is_above else 0.0
            inside[j] += stake[r] if is_inside else 0.0
            value = w[r, j] if is_inside else np.inf
            smallest[j] = value if value < smallest[j] else smallest[j]
            value = w[r, j] if is_inside else -np.inf
            largest[j] = value if value > largest[j] else largest[j]
    return tuple(np.array(x) for x in (above, inside, smallest, largest))


def _rows(rng: np.random.Generator, k: int, n: int, levels: int, nan: bool) -> np.ndarray:
    """``[k, n]`` normalised weight rows from a few levels (ties), zero rows and entries, and
    optionally a NaN."""
    raw = rng.integers(0, levels + 1, (k, n)) / levels if levels else rng.random((k, n))
    raw[rng.random((k, n)) < 0.2] = 0.0
    raw[rng.random(k) < 0.2] = 0.0
    totals = raw.sum(axis=1, keepdims=True)
    w = np.divide(raw, totals, out=raw.copy(), where=totals > 0)
    if nan:
        w[rng.integers(k), rng.integers(n)] = np.nan
    return w


@pytest.mark.parametrize("n_staked", [0, 1, 3, 4, 5, 8, 9, 17])
@pytest.mark.parametrize("levels", [0, 2, 3])
def test_passes_match_one_row_per_pass(n_staked: int, levels: int) -> None:
    rng = np.random.default_rng(1000 * n_staked + levels)
    k, n = 20, 13  # 13 columns: vector loops and their scalar tails
    for trial in range(6):
        w = _rows(rng, k, n, levels, nan=trial == 5)
        w32 = w.astype(np.float32)
        staked = rng.permutation(k)[:n_staked].astype(np.int64)
        # equal stakes make sums that land on κ exactly; one huge stake dominates
        stake = rng.choice([0.25, 1.0, 3.0, 1e6, 1e-9], size=k)
        stake = stake / stake[staked].sum() if n_staked else stake
        stake32 = stake[staked].astype(np.float32)
        kappa = [0.5, 0.25, 1.0, 0.0, 0.75, 2.0][trial]
        kappa32 = np.float32(kappa)
        if n_staked:
            low = w32[staked].min(axis=0)
            high = np.nextafter(w32[staked].max(axis=0), np.float32(np.inf))
        else:
            low = np.full(n, np.inf, np.float32)
            high = np.full(n, -np.inf, np.float32)
        want_low, want_high = _reference_bisect(w32, staked, stake32, kappa32, low, high)
        got_low, got_high = low.copy(), high.copy()
        mid = np.empty(n, np.float32)
        above32 = np.empty(n, np.float32)
        _bisect(w32, staked, n_staked, stake32, kappa32, got_low, got_high, mid, above32)
        assert got_low.tobytes() == want_low.tobytes()
        assert got_high.tobytes() == want_high.tobytes()

        got = tuple(np.empty(n) for _ in range(4))
        _check_brackets(w, w32, stake, staked, n_staked, got_low, got_high, *got)
        want = _reference_check(w, w32, stake, staked, got_low, got_high)
        for name, x, y in zip(("above", "inside", "low", "high"), got, want, strict=True):
            assert x.tobytes() == y.tobytes(), name


def test_sums_keep_row_order() -> None:
    """Stakes whose float32 sum depends on the order: 1 + 2^-24 + 2^-24 is 1 added in row
    order but 1 + 2^-23 (the next float32) with the small ones added first."""
    tiny = np.float32(2.0**-24)
    stake32 = np.array([1.0, tiny, tiny, 0.0, 0.0], np.float32)
    w32 = np.ones((5, 1), np.float32)
    staked = np.arange(5, dtype=np.int64)
    kappa32 = np.float32(1.0) + np.float32(2.0**-23)  # reached only by the reordered sum
    low = np.zeros(1, np.float32)
    high = np.full(1, 2.0, np.float32)
    want = _reference_bisect(w32, staked, stake32, kappa32, low, high)
    got_low, got_high = low.copy(), high.copy()
    _bisect(w32, staked, 5, stake32, kappa32, got_low, got_high, *np.empty((2, 1), np.float32))
    assert got_low.tobytes() == want[0].tobytes() and got_high.tobytes() == want[1].tobytes()
    assert got_low[0] == 0.0  # never reached: the bracket stays at the bottom
    stake = np.array([1.0, 2.0**-53, 2.0**-53, 0.0, 0.0])
    got = tuple(np.empty(1) for _ in range(4))
    _check_brackets(w32.astype(np.float64), w32, stake, staked, 5, got_low, got_high, *got)
    assert got[0][0] == 1.0  # 1 + 2^-53 + 2^-53 in row order (not 1 + 2^-52)


def _epoch(weights: np.ndarray, bonds: np.ndarray, live_rows: np.ndarray | None) -> tuple:
    """The fused epoch (Yuma 3) on a copy of ``bonds``: its results and the new bonds."""
    B, n, _ = weights.shape
    mechanism = get_mechanism("yuma3")
    params = mechanism.resolve_params(EpochParams(kappa=0.5, max_validators=n))
    stake = np.tile(np.linspace(1.0, 2.0, n), (B, 1))
    new_bonds = bonds.copy()
    result = fused_epoch_arrays(
        weights,
        stake,
        new_bonds,
        np.ones(B),
        np.full(B, -1, dtype=np.int64),
        np.zeros(B, dtype=np.int64),
        params,
        mechanism,
        live_rows=live_rows,
    )
    return result, new_bonds


def test_cleared_buffers_follow_live_and_dead_rows_across_subnets() -> None:
    """Slot ``r`` alternates between a live row and a known-zero row from subnet to subnet
    (and twice dead in a row): results equal those without the hint, byte for byte."""
    rng = np.random.default_rng(9)
    B, n = 6, 8
    weights = rng.random((B, n, n))
    bonds = rng.random((B, n, n))
    dead = np.zeros((B, n), dtype=np.bool_)
    dead[0::2, 1::2] = True
    dead[1::2, 0::2] = True
    dead[3:5, 3] = True
    dead[:, 7] = True  # always dead
    weights[dead] = 0.0
    bonds[dead] = 0.0
    want, want_bonds = _epoch(weights, bonds, None)
    got, got_bonds = _epoch(weights, bonds, ~dead)
    for name, value in zip(got._fields, got, strict=True):
        assert value.tobytes() == getattr(want, name).tobytes(), name
    assert got_bonds.tobytes() == want_bonds.tobytes()
