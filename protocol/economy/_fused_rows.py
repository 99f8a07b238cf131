"""A numba pass that checks committed weight rows (:func:`protocol.economy.network.with_validator_weights`).

The torch path reads the ``[S, k, n]`` rows twice (row sums, then a minimum over every entry);
here one pass gives both. Without numba the torch path runs.
"""

from __future__ import annotations

import numpy as np

from protocol._numba import jit

__all__ = ["copy_weight_rows", "weight_row_sums"]


# ``reassoc`` lets the sums vectorise (the order differs from torch's within rounding; only
# their sign and finiteness are used)
@jit(reassoc=True)
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


@jit(reassoc=True)
def copy_weight_rows(weights: np.ndarray, uids: np.ndarray, rows: np.ndarray) -> None:
    """``weights[s, uids[r], :] = rows[s, r, :]`` in place (3x ``index_copy_``'s speed here)."""
    n_subnets, k, n = rows.shape
    for s in range(n_subnets):
        for r in range(k):
            destination = weights[s, uids[r]]
            source = rows[s, r]
            for j in range(n):
                destination[j] = source[j]
