"""The cabal ledger's epoch kernel: numpy's sums and the array version's operations, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from protocol._numba import pairwise_sum
from protocol.units import RAO_PER_TAO
from sim.cabal import _book_epoch, _fair_shares


def _wide(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values over many magnitudes (sums in another order round differently), some -0.0."""
    values = rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 17, shape)
    values[rng.random(shape) < 0.05] = -0.0
    return values


@pytest.mark.parametrize("seed", range(4))
def test_thepairwise_sum_is_numpys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for count in [*range(0, 40), *rng.integers(40, 700, 60).tolist()]:
        values = _wide(rng, (count,))
        assert np.float64(0.0 + pairwise_sum(values, 0, count)).tobytes() == (
            values.sum().tobytes()
        )


def test_the_pairwise_sum_of_one_halving_is_numpys() -> None:
    """Counts around one halving (two blocks of at most 128, the fast path) and the first
    that need a second one, compiled and as Python, at an offset into the array."""
    rng = np.random.default_rng(11)
    python = getattr(pairwise_sum, "py_func", pairwise_sum)
    for count in (129, 135, 136, 137, 143, 144, 200, 248, 249, 255, 256, 257, 263, 264, 265, 272):
        values = _wide(rng, (count + 3,))
        want = values[3:].sum().tobytes()
        assert np.float64(0.0 + pairwise_sum(values, 3, count)).tobytes() == want
        assert np.float64(0.0 + python(values, 3, count)).tobytes() == want


def _divide_where(
    numerator: np.ndarray, denominator: np.ndarray, mask: np.ndarray, fill: float
) -> np.ndarray:
    """``np.divide(numerator, denominator, where=mask)`` into an array of ``fill``."""
    return np.where(mask, numerator / np.where(mask, denominator, 1.0), fill)


def _fair_shares_arrays(
    weights_all: np.ndarray,
    s: np.ndarray,
    stake: np.ndarray,
    honest: np.ndarray,
    miner_masks: np.ndarray,
    validator_masks: np.ndarray,
) -> np.ndarray:
    """The array version the kernel replaced (``CabalLedger``'s fair miner and validator
    shares)."""
    weights = weights_all[s]
    setting = honest & (weights.sum(axis=2) > 0)
    reference = np.einsum("kv,kvn->kn", np.where(setting, stake, 0.0), weights)
    on = np.where(miner_masks, reference, 0.0).sum(axis=2)
    part = np.where(validator_masks, stake, 0.0).sum(axis=2)
    return np.array(
        (
            _divide_where(on[1], on[0], on[0] > 0, np.nan),
            _divide_where(part[1], part[0], part[0] > 0, 0.0),
        )
    )


@pytest.mark.parametrize("seed", range(6))
def test_the_fair_shares_kernel_is_the_arrays(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    for _ in range(40):
        S = int(rng.integers(1, 30))
        n = int(rng.integers(2, 300))
        k = int(rng.integers(1, S + 1))
        V = int(rng.integers(1, 24))
        s = np.sort(rng.choice(S, k, replace=False)).astype(np.int64)
        weights = np.abs(_wide(rng, (S, V, n)))
        weights[rng.random((S, V)) < 0.3] = 0.0  # slots that set no weights
        stake = np.abs(_wide(rng, (k, V)))
        stake[rng.random((k, V)) < 0.1] = 0.0
        honest = rng.random((k, V)) < 0.6
        miner_masks = rng.random((2, k, n)) < 0.5
        validator_masks = np.array((np.ones((k, V), bool), rng.random((k, V)) < 0.4))
        want = _fair_shares_arrays(weights, s, stake, honest, miner_masks, validator_masks)
        got = np.empty((2, k))
        _fair_shares(weights, s, stake, honest, miner_masks, validator_masks, got)
        assert got.tobytes() == want.tobytes()


def _book_epoch_arrays(
    incentive_all: np.ndarray,
    dividends_all: np.ndarray,
    miner_alpha: np.ndarray,
    validator_alpha: np.ndarray,
    s: np.ndarray,
    uids: np.ndarray,
    miner_masks: np.ndarray,
    cabal_slots: np.ndarray,
    price: np.ndarray,
    fair: np.ndarray,
    totals: np.ndarray,
) -> None:
    """The array version the kernel replaced (``CabalLedger.add``'s loop body)."""
    has_reference = np.isfinite(fair[0])
    incentive = incentive_all[s]
    cells = s[:, None] * incentive_all.shape[1] + uids[None, :]
    dividends = np.take(dividends_all, np.ascontiguousarray(cells.T)).T
    tao = np.array((miner_alpha, validator_alpha))[:, s]
    tao = tao / RAO_PER_TAO * price
    inc = np.where(miner_masks, incentive, 0.0).sum(axis=2)
    div_total = dividends.sum(axis=1)
    div_cabal = np.where(cabal_slots, dividends, 0.0).sum(axis=1)
    total = np.array((inc[0], div_total))
    paid = total > 0
    paid[0] &= has_reference
    share = _divide_where(np.array((inc[1], div_cabal)), total, paid, 0.0)
    totals += np.where(paid, np.array((tao, share * tao, fair * tao)), 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_the_epoch_kernel_books_as_the_arrays_did(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        S = int(rng.integers(1, 40))
        n = int(rng.integers(2, 300))
        k = int(rng.integers(1, S + 1))
        V = int(rng.integers(1, min(n, 24) + 1))
        s = np.sort(rng.choice(S, k, replace=False)).astype(np.int64)
        uids = rng.choice(n, V, replace=False).astype(np.int64)
        incentive = np.abs(_wide(rng, (S, n)))
        dividends = _wide(rng, (S, n))
        incentive[rng.random(S) < 0.2] = 0.0  # subnets that paid nothing
        miner_alpha, validator_alpha = _wide(rng, (S,)), _wide(rng, (S,))
        miner_masks = rng.random((2, k, n)) < 0.5
        cabal_slots = rng.random((k, V)) < 0.5
        price = np.abs(_wide(rng, (k,)))
        fair = rng.random((2, k))
        fair[0, rng.random(k) < 0.3] = np.nan
        start = _wide(rng, (3, 2, k))
        want, got = start.copy(), start.copy()
        args = (miner_masks, cabal_slots, price, fair)
        _book_epoch_arrays(incentive, dividends, miner_alpha, validator_alpha, s, uids, *args, want)
        _book_epoch(
            incentive,
            dividends,
            miner_alpha,
            validator_alpha,
            s,
            uids,
            *args,
            float(RAO_PER_TAO),
            got,
        )
        assert got.tobytes() == want.tobytes()


def test_the_kernels_python_twins_book_alike() -> None:
    """Without numba the kernels run as Python (``protocol._numba.jit``): the same numbers."""
    pairwise = getattr(pairwise_sum, "py_func", pairwise_sum)
    book = getattr(_book_epoch, "py_func", _book_epoch)
    rng = np.random.default_rng(7)
    for count in (0, 5, 64, 129, 300):
        values = _wide(rng, (count,))
        assert np.float64(0.0 + pairwise(values, 0, count)).tobytes() == values.sum().tobytes()
    S, n, k, V = 6, 40, 3, 5
    s, uids = np.array([0, 2, 5]), np.array([1, 3, 7, 9, 11])
    incentive, dividends = np.abs(_wide(rng, (S, n))), np.abs(_wide(rng, (S, n)))
    alphas = (_wide(rng, (S,)), _wide(rng, (S,)))
    args = (
        rng.random((2, k, n)) < 0.5,
        rng.random((k, V)) < 0.5,
        rng.random(k),
        rng.random((2, k)),
    )
    want, got = np.zeros((3, 2, k)), np.zeros((3, 2, k))
    _book_epoch_arrays(incentive, dividends, *alphas, s, uids, *args, want)
    book(incentive, dividends, *alphas, s, uids, *args, float(RAO_PER_TAO), got)
    assert got.tobytes() == want.tobytes()


def test_the_fair_shares_python_twin_is_the_arrays() -> None:
    """Without numba the kernel runs as Python (``protocol._numba.jit``): the same shares."""
    fair_shares = getattr(_fair_shares, "py_func", _fair_shares)
    rng = np.random.default_rng(5)
    S, V, n, s = 5, 4, 30, np.array([1, 3])
    weights = np.abs(_wide(rng, (S, V, n)))
    weights[3, 1] = 0.0
    stake, honest = np.abs(_wide(rng, (2, V))), rng.random((2, V)) < 0.7
    miner_masks = rng.random((2, 2, n)) < 0.5
    validator_masks = np.array((np.ones((2, V), bool), rng.random((2, V)) < 0.5))
    want = _fair_shares_arrays(weights, s, stake, honest, miner_masks, validator_masks)
    got = np.empty((2, 2))
    fair_shares(weights, s, stake, honest, miner_masks, validator_masks, got)
    assert got.tobytes() == want.tobytes()
