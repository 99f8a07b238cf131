"""A numba pass that checks committed weight rows (:func:`protocol.economy.network.with_validator_weights`).

The torch path reads the ``[S, k, n]`` rows twice (row sums, then a minimum over every entry);
here one pass gives both. Without numba the torch path runs.
"""

from __future__ import annotations

import numpy as np

try:  # numba is an optional speed-up
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "copy_weight_rows", "weight_row_sums"]


def _jit(fn):  # type: ignore[no-untyped-def]
    """``numba.njit(cache=True, nogil=True)`` when numba is installed, else the plain function.

    ``reassoc`` lets the sums vectorise (the order differs from torch's within rounding; only
    their sign and finiteness are used).
    """
    if not HAVE_NUMBA:
        return fn
    return numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})(fn)


@_jit
def weight_row_sums(rows: np.ndarray, sums_out: np.ndarray) -> bool:
    """Row sums of ``rows`` ``[S, k, n]`` into ``sums_out`` ``[S, k]``; whether every entry is
    ``>= 0`` (``False`` for a negative or NaN entry)."""
    n_subnets, k, n = rows.shape
    bad = 0
    for s in range(n_subnets):
        for r in range(k):
            total = 0.0
            for j in range(n):
                v = rows[s, r, j]
                total += v
                bad += not v >= 0.0  # counted, not branched on, so that the loop vectorises
            sums_out[s, r] = total
    return bad == 0


@_jit
def copy_weight_rows(weights: np.ndarray, uids: np.ndarray, rows: np.ndarray) -> None:
    """``weights[s, uids[r], :] = rows[s, r, :]`` in place (3x ``index_copy_``'s speed here)."""
    n_subnets, k, n = rows.shape
    for s in range(n_subnets):
        for r in range(k):
            destination = weights[s, uids[r]]
            source = rows[s, r]
            for j in range(n):
                destination[j] = source[j]
