"""Vectorised I32F32 fixed-point arithmetic on numpy int64 arrays, with the chain's rounding.

Values are the raw bits (``x * 2**32``). The chain (substrate-fixed) multiplies as
``(a * b) >> 32`` (floor) and divides as ``(a << 32) / b`` truncating toward zero, with
``safe_div`` returning 0 for a zero divisor or an overflowing quotient (``checked_div`` of
``encointer/substrate-fixed`` v0.6.0 ``src/arith.rs``, then ``unwrap_or(0)``).

The exact products need up to 96 bits. Instead of Python integers we estimate the result in
float64 and correct it with the residual computed in wrapping 64-bit integer arithmetic: the
residual is small, so its value modulo 2**64 is its true value. Two correction rounds make the
result exact whenever the true quotient is below 2**62 (every epoch quantity is below 2**49).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FRAC",
    "ONE",
    "U16_MAX",
    "fx_div",
    "fx_from_u16",
    "fx_mul",
    "fx_normalize",
    "fx_to_float",
    "fx_to_u16_proportion",
    "u16_proportion",
]

FRAC = 32
ONE = 1 << FRAC
U16_MAX = 65_535
_TWO32 = float(ONE)
_Q_LIMIT = float(1 << 62)


def _u64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.int64, copy=False).view(np.uint64)


@np.errstate(over="ignore", invalid="ignore")
def fx_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """I32F32 ``a * b``: ``floor(a_bits * b_bits / 2**32)`` (floor also for negatives)."""
    a_arr, b_arr = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    estimate = np.floor(a_arr.astype(np.float64) * b_arr.astype(np.float64) / _TWO32)
    q = estimate.astype(np.int64)
    # residual a*b - q*2^32, exact modulo 2^64 and small in absolute value
    for _ in range(2):
        r = (_u64(a_arr) * _u64(b_arr) - (_u64(q) << np.uint64(FRAC))).view(np.int64)
        q = q + np.floor(r.astype(np.float64) / _TWO32).astype(np.int64)
    r = (_u64(a_arr) * _u64(b_arr) - (_u64(q) << np.uint64(FRAC))).view(np.int64)
    q = np.where(r < 0, q - 1, q)
    q = np.where(r >= ONE, q + 1, q)
    return q


@np.errstate(over="ignore", invalid="ignore")
def fx_div(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """I32F32 ``safe_div``: ``trunc(a_bits * 2**32 / b_bits)``; 0 if ``b == 0`` or on overflow."""
    a_arr, b_arr = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    negative = (a_arr < 0) ^ (b_arr < 0)
    ua = np.abs(a_arr)
    ub = np.abs(b_arr)
    zero = ub == 0
    ub_safe = np.where(zero, 1, ub)
    estimate = np.floor(ua.astype(np.float64) * _TWO32 / ub_safe.astype(np.float64))
    overflow = estimate >= _Q_LIMIT
    q = np.where(overflow, 0.0, estimate).astype(np.int64)
    for _ in range(2):
        r = ((_u64(ua) << np.uint64(FRAC)) - _u64(q) * _u64(ub_safe)).view(np.int64)
        q = q + np.floor(r.astype(np.float64) / ub_safe.astype(np.float64)).astype(np.int64)
    r = ((_u64(ua) << np.uint64(FRAC)) - _u64(q) * _u64(ub_safe)).view(np.int64)
    q = np.where(r < 0, q - 1, q)
    q = np.where(r >= ub_safe, q + 1, q)
    q = np.where(negative, -q, q)
    return np.where(zero | overflow, 0, q)


def fx_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``inplace_normalize`` along ``axis``: divide by the (exact) sum; a zero sum leaves x as is."""
    total = x.sum(axis=axis, keepdims=True)
    return np.where(total != 0, fx_div(x, total), x)


def fx_from_u16(u: np.ndarray | int) -> np.ndarray:
    """``u16_to_fixed``: the integer value as I32F32 (65535 → 65535.0)."""
    return np.asarray(u, dtype=np.int64) << FRAC


def u16_proportion(u: np.ndarray | int) -> np.ndarray:
    """``I32F32(u) / I32F32(65535)``: a stored u16 proportion as I32F32 (floor)."""
    return (np.asarray(u, dtype=np.int64) << FRAC) // U16_MAX


def fx_to_u16_proportion(x: np.ndarray) -> np.ndarray:
    """``fixed_proportion_to_u16``: ``floor(x * 65535)``, saturated to [0, 65535]."""
    bounded = np.clip(np.asarray(x, dtype=np.int64), 0, 1 << 40)
    return np.clip((bounded * U16_MAX) >> FRAC, 0, U16_MAX)


def fx_to_float(x: np.ndarray | int) -> np.ndarray:
    """I32F32 bits as float64 (for reporting and comparisons)."""
    return np.asarray(x, dtype=np.int64).astype(np.float64) / _TWO32


_E_BITS = 11_674_931_554  # substrate-fixed's E constant truncated to 32 fractional bits


def fx_exp(x: np.ndarray) -> np.ndarray:
    """substrate-fixed ``transcendental::exp`` on I32F32 (inputs already clamped to [-20, 20]).

    A 31-term Taylor series of ``exp(|x|)`` with floor multiplications and truncating divisions
    by the term index, inverted for negative inputs; ``exp(0) = 1`` and ``exp(1) = E`` exactly.
    The series is truncated, so this is the chain's approximation, not the true exponential.
    """
    x = np.asarray(x, dtype=np.int64)
    operand = np.abs(x)
    result = operand + ONE
    term = operand.copy()
    for i in range(2, FRAC):
        term = fx_mul(term, operand) // i  # positive: floor == truncation
        result = result + term
    result = np.where(x < 0, fx_div(ONE, result), result)
    result = np.where(x == ONE, _E_BITS, result)
    return np.where(x == 0, ONE, result)
