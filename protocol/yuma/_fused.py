"""A fused CPU kernel (numba) for the heavy part of the float epoch (steps 5-10 and bond storage).

The torch path (:mod:`protocol.yuma.float_epoch`) makes a dozen passes over the ``[B, k, n]``
validator slice (gather, masks, normalisation, sort-based κ-median, clipping, matmuls, bond EMA,
scatter). Here each subnet is processed in one go: its ``k`` weight rows and bond rows are read
from memory once into per-subnet scratch buffers (``k x n`` float64, ~130 KB at 64 x 256, which
stays in the L2 cache) and the new bond rows are written once; the rows a little ahead are
prefetched, as a subnet's slice rows are scattered 2 KB stretches that the hardware prefetcher
picks up late (at the simulator's scale the kernel is bound by reading those rows). The
κ-median is a bisection over all columns at once, finished by a stake-weighted quickselect on
the few columns it leaves open, instead of a sort.

Float semantics are those of the torch path; results agree to rounding (summation order, and
near-ties of the κ threshold). The cheap ``[B, n]`` steps (activity, stake, permits, emission
split) stay in torch. Compiled with :func:`protocol._numba.jit` (once per machine, without the
GIL so that callers may run subnets in threads); without numba the torch path runs. The
wrappers take and return the stages of :mod:`protocol.yuma.stages`, as the torch path's do.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from protocol._numba import HAVE_NUMBA, jit
from protocol.yuma._fused_prep import KernelRows
from protocol.yuma.stages import EpochInputs, SliceOutputs, ValidatorSlice

if TYPE_CHECKING:
    from protocol.yuma.params import EpochParams

__all__ = [
    "LA1_QUARTILE_TIE_RTOL",
    "LIQUID_NONE",
    "LIQUID_V1",
    "LIQUID_V2",
    "check_live_rows",
    "finish_rows",
    "fresh_copy",
    "fused_available",
    "fused_slice_epoch",
    "la1_logit",
    "run_fused_slice",
    "slice_kernel",
]

_INT64_MAX = torch.iinfo(torch.int64).max
_INT64_MIN = torch.iinfo(torch.int64).min

#: Liquid-alpha modes of the kernel: off, LA1 (classic path), LA2 (Yuma 3 path).
LIQUID_NONE, LIQUID_V1, LIQUID_V2 = 0, 1, 2

#: LA1 treats consensus quartiles closer than this (relative to the upper one) as tied. On chain
#: (I32F32) tied consensus values are bit-equal, but in float the row sums behind them round in
#: a backend's own summation order, so a tie can come out an ulp apart and flip LA1 between its
#: tied rate (``clamp(0.5, alpha_low, alpha_high)``) and a near-vertical logistic. Float noise is ~1e-14 relative at most; distinct
#: chain values differ by at least 2^-32 (~2e-10), well above this.
LA1_QUARTILE_TIE_RTOL = 1e-12


def la1_logit(alpha: float) -> float:
    """LA1's ``safe_ln(1 / alpha - 1)`` of an alpha bound: 0 where the log is undefined.

    subtensor ``calculate_logistic_params`` (PR #568) takes ``safe_ln`` of ``1 / alpha - 1``,
    which is 0 when ``ln`` fails (``alpha = 1``); a zero bound never reaches it (``a = b = 0``).
    """
    if alpha <= 0.0:
        return 0.0
    odds = 1.0 / alpha - 1.0
    return math.log(odds) if odds > 0.0 else 0.0


#: Every kernel here lets LLVM reassociate its sums so that they vectorise (within rounding, as
#: torch's own sums are); no other fast-math flag.
_jit = jit(reassoc=True)


if HAVE_NUMBA:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def _prefetch(typingctx, array, index):  # type: ignore[no-untyped-def]
        """Ask the CPU to bring ``array[index]``'s cache line in (LLVM ``llvm.prefetch``).

        A hint only: it changes no value, and the CPU may ignore it (it never faults).
        """
        signature = types.void(array, index)

        def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
            data = context.make_array(sig.args[0])(context, builder, args[0]).data
            address = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
            i32 = ir.IntType(32)
            fn_type = ir.FunctionType(ir.VoidType(), [address.type, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.prefetch.p0")
            # read, keep in all cache levels, data cache
            builder.call(fn, [address, i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return signature, codegen

else:  # pragma: no cover - exercised only where numba is missing

    def _prefetch(array: np.ndarray, index: int) -> None:
        """A no-op without numba (the hint matters only to compiled code)."""


#: Slice rows read ahead of the one being processed. Each row is a separate 2 KB stretch of
#: a large array (the rows of a subnet are scattered uids), which the hardware prefetcher
#: picks up only after its first lines; asking for the rows ahead overlaps their memory
#: latency with the current row's work.
ROWS_AHEAD = 2


@_jit
def _prefetch_row(row: np.ndarray) -> None:
    """Prefetch every cache line (8 float64) of a contiguous row."""
    for offset in range(0, row.shape[0], 8):
        _prefetch(row, offset)


@_jit
def _copy_row(destination: np.ndarray, source: np.ndarray) -> None:
    """``destination[:] = source`` for two rows of the same length, as a plain loop.

    numba compiles a slice assignment from an array as a broadcasting copy with a bounds
    clamp per element (scalar); this one vectorises.
    """
    for j in range(destination.shape[0]):
        destination[j] = source[j]


@_jit
def _kappa_median(values: np.ndarray, stakes: np.ndarray, count: int, kappa: float) -> float:
    """Stake-weighted κ-median of ``values[:count]`` (all with stake > 0), by quickselect.

    Walking the values in descending order and accumulating stake, the result is the first value
    where the running stake reaches ``kappa``; if it never does, the smallest value (the torch
    path's "last staked row"). A three-way partition around a pivot decides per round whether
    that value is above, equal to or below the pivot. ``values`` and ``stakes`` are permuted.
    """
    lo, hi = 0, count
    need = kappa
    while True:
        pivot = values[lo + (hi - lo) // 2]
        # [lo, gt) > pivot, [gt, i) == pivot, [lt_start, hi) < pivot (Dutch national flag)
        gt, i, lt_start = lo, lo, hi
        while i < lt_start:
            v = values[i]
            if v > pivot:
                values[i], values[gt] = values[gt], v
                stakes[i], stakes[gt] = stakes[gt], stakes[i]
                gt += 1
                i += 1
            elif v < pivot:
                lt_start -= 1
                values[i], values[lt_start] = values[lt_start], v
                stakes[i], stakes[lt_start] = stakes[lt_start], stakes[i]
            else:
                i += 1
        above = 0.0
        for m in range(lo, gt):
            above += stakes[m]
        if gt > lo and above >= need:
            hi = gt
            continue
        equal = 0.0
        for m in range(gt, lt_start):
            equal += stakes[m]
        if above + equal >= need or lt_start == hi:
            return pivot
        need -= above + equal
        lo = lt_start


@_jit
def _liquid_alpha_v1(
    consensus: np.ndarray,
    alpha_low: float,
    alpha_high: float,
    logit_low: float,
    logit_high: float,
    fallback: float,
    out: np.ndarray,
) -> None:
    """LA1 per-miner rates into ``out`` (see :func:`protocol.yuma.float_epoch.liquid_alpha_v1`)."""
    n = consensus.shape[0]
    ordered = np.sort(consensus)
    quantiles = np.empty(2)
    for q_index in range(2):
        position = (0.25 if q_index == 0 else 0.75) * (n - 1)
        low_i = int(np.floor(position))
        high_i = int(np.ceil(position))
        frac = position - low_i
        quantiles[q_index] = ordered[low_i] + frac * (ordered[high_i] - ordered[low_i])
    c_low, c_high = quantiles[0], quantiles[1]
    # subtensor compute_ema_bonds[_sparse] / calculate_logistic_params (PR #568): an upper
    # quartile of 0 falls back; tied quartiles or a zero bound give a = b = 0 (alpha 0.5, clamped)
    if c_high == 0.0:
        out[:] = fallback
        return
    if c_high - c_low <= LA1_QUARTILE_TIE_RTOL * c_high or alpha_low == 0.0 or alpha_high == 0.0:
        slope = 0.0
        offset = 0.0
    else:
        slope = (logit_high - logit_low) / (c_low - c_high)
        offset = logit_low + slope * c_low
    for j in range(n):
        alpha = 1.0 / (1.0 + np.exp(offset - slope * consensus[j]))
        out[j] = min(max(alpha, alpha_low), alpha_high)


@_jit
def _liquid_alpha_v2(
    weight: float, bond: float, consensus: float, alpha_low: float, alpha_high: float, slope: float
) -> float:
    """LA2 rate of one entry (see :func:`protocol.yuma.float_epoch.liquid_alpha_v2`)."""
    if weight >= bond:
        x = min(max(weight - consensus, 0.0), 1.0)
    else:
        x = min(max(bond - weight, 0.0), 1.0)
    exponent = min(max(slope * (x - 0.5), -20.0), 20.0)
    sigmoid = 1.0 / (1.0 + np.exp(exponent))
    alpha = alpha_low + sigmoid * (alpha_high - alpha_low)
    return min(max(alpha, alpha_low), alpha_high)


#: Bisection rounds of the κ-median over all columns at once; then a column's bracket rarely
#: holds more than one distinct value (those columns finish with a small exact selection).
BISECTION_ROUNDS = 11


@_jit
def _next_up32(values: np.ndarray) -> None:
    """``np.nextafter(values, inf)`` in place for a float32 array, on the bit patterns.

    Bit for bit what ``np.nextafter`` gives (NaN and +inf stay, ±0 becomes the smallest
    subnormal, finite values step one unit in the last place up), without its per-element
    library call.
    """
    bits = values.view(np.int32)
    for j in range(values.shape[0]):
        x = values[j]
        b = bits[j]
        if x == 0.0:
            b = 1
        elif x > 0.0:
            b = b + 1 if x < np.inf else b
        elif x < 0.0:
            b -= 1
        bits[j] = b


@jit
def _bisect(
    w32: np.ndarray,
    staked: np.ndarray,
    n_staked: int,
    stake32: np.ndarray,
    kappa32: np.float32,
    low: np.ndarray,
    high: np.ndarray,
    mid: np.ndarray,
    above32: np.ndarray,
) -> None:
    """:data:`BISECTION_ROUNDS` rounds of the κ-median's bisection of every column.

    Per round, ``mid = 0.5 * (low + high)``, the float32 stake of the ``staked`` rows at or
    above it, and ``low = mid`` where that reaches ``kappa32``, else ``high = mid``. Four rows
    per pass over the columns, the running sum kept in a register between them: each
    column's sum still adds its rows one at a time in row order (this kernel is compiled
    without reassociation), as one row per pass does, with a quarter of the loads and stores.
    The bracket update is a select into both arrays (a branch per column mispredicts, and a
    store to one of two arrays compiles to a scatter).
    """
    n = w32.shape[1]
    zero = np.float32(0.0)
    for _ in range(BISECTION_ROUNDS):
        for j in range(n):
            mid[j] = np.float32(0.5) * (low[j] + high[j])
            above32[j] = zero
        m = 0
        while m + 4 <= n_staked:
            a0, a1, a2, a3 = stake32[m], stake32[m + 1], stake32[m + 2], stake32[m + 3]
            row0, row1 = w32[staked[m]], w32[staked[m + 1]]
            row2, row3 = w32[staked[m + 2]], w32[staked[m + 3]]
            for j in range(n):
                t = mid[j]
                acc = above32[j]
                acc += a0 if row0[j] >= t else zero
                acc += a1 if row1[j] >= t else zero
                acc += a2 if row2[j] >= t else zero
                acc += a3 if row3[j] >= t else zero
                above32[j] = acc
            m += 4
        while m < n_staked:
            a = stake32[m]
            row = w32[staked[m]]
            for j in range(n):
                above32[j] += a if row[j] >= mid[j] else zero
            m += 1
        for j in range(n):
            up = above32[j] >= kappa32
            t = mid[j]
            lo = low[j]
            hi = high[j]
            low[j] = t if up else lo
            high[j] = hi if up else t


@jit
def _check_brackets(
    w_buf: np.ndarray,
    w32: np.ndarray,
    stake: np.ndarray,
    staked: np.ndarray,
    n_staked: int,
    low: np.ndarray,
    high: np.ndarray,
    stake_above: np.ndarray,
    stake_inside: np.ndarray,
    inside_low: np.ndarray,
    inside_high: np.ndarray,
) -> None:
    """Per column of ``w_buf``, over the ``staked`` rows: the float64 stake above its bracket
    ``[low, high)`` (compared in float32, ``w32``), the stake inside it and the smallest and
    largest value inside it (``±inf`` for none).

    The sums add the rows in row order (compiled without reassociation), four rows per pass
    over the columns with the running values in registers between them.
    """
    n = w_buf.shape[1]
    for j in range(n):
        stake_above[j] = 0.0
        stake_inside[j] = 0.0
        inside_low[j] = np.inf
        inside_high[j] = -np.inf
    m = 0
    while m + 4 <= n_staked:
        r0, r1, r2, r3 = staked[m], staked[m + 1], staked[m + 2], staked[m + 3]
        a0, a1, a2, a3 = stake[r0], stake[r1], stake[r2], stake[r3]
        row0, row1, row2, row3 = w_buf[r0], w_buf[r1], w_buf[r2], w_buf[r3]
        f0, f1, f2, f3 = w32[r0], w32[r1], w32[r2], w32[r3]
        for j in range(n):
            lo32 = low[j]
            hi32 = high[j]
            sums = (stake_above[j], stake_inside[j], inside_low[j], inside_high[j])
            sums = _bracket_row(sums, f0[j], row0[j], a0, lo32, hi32)
            sums = _bracket_row(sums, f1[j], row1[j], a1, lo32, hi32)
            sums = _bracket_row(sums, f2[j], row2[j], a2, lo32, hi32)
            sums = _bracket_row(sums, f3[j], row3[j], a3, lo32, hi32)
            stake_above[j], stake_inside[j], inside_low[j], inside_high[j] = sums
        m += 4
    while m < n_staked:
        r = staked[m]
        a = stake[r]
        row = w_buf[r]
        row32 = w32[r]
        for j in range(n):
            sums = (stake_above[j], stake_inside[j], inside_low[j], inside_high[j])
            sums = _bracket_row(sums, row32[j], row[j], a, low[j], high[j])
            stake_above[j], stake_inside[j], inside_low[j], inside_high[j] = sums
        m += 1


@jit
def _bracket_row(
    sums: tuple[float, float, float, float],
    value32: np.float32,
    value: float,
    stake: float,
    low: np.float32,
    high: np.float32,
) -> tuple[float, float, float, float]:  # pragma: no cover - compiled by numba
    """One row's entry added to a column's (stake above, stake inside, smallest inside,
    largest inside) for :func:`_check_brackets`: selects, no branches."""
    above, inside, smallest, largest = sums
    is_above = value32 >= high
    is_inside = (value32 >= low) & ~is_above
    above += stake if is_above else 0.0
    inside += stake if is_inside else 0.0
    smallest = min(smallest, value if is_inside else np.inf)
    largest = max(largest, value if is_inside else -np.inf)
    return above, inside, smallest, largest


@_jit
def _bracketed_median(
    w_buf: np.ndarray,
    w32: np.ndarray,
    stake: np.ndarray,
    staked: np.ndarray,
    n_staked: int,
    kappa: float,
    stake32: np.ndarray,
    scratch32: np.ndarray,
    scratch64: np.ndarray,
    column_values: np.ndarray,
    column_stakes: np.ndarray,
    out: np.ndarray,
) -> None:
    """κ-median of every column of ``w_buf`` ``[k, n]`` over the ``staked`` rows, into ``out``.

    The stake at or above ``t``, ``S(t)``, does not increase with ``t``, and the consensus
    ``c`` is the largest value with ``S(c) >= κ`` (the total stake must reach κ). Keeping
    ``S(low) >= κ > S(high)`` (from the column's staked minimum to just above its maximum),
    bisection narrows ``[low, high)`` around ``c`` for all columns at once with vectorisable
    row-by-row passes (no per-column sort). The search runs on float32 copies ``w32`` (twice
    the SIMD width); rounding to float32 is monotone, so a float32 bracket is a float64
    interval, and the bracket is then checked in float64 (stake above it < κ <= stake in and
    above it). A checked bracket with a single distinct value gives ``c``; one with several
    values is resolved by :func:`_kappa_median` on those values (κ less the stake above); a
    bracket that fails the check (float32 stake sums within rounding of κ) by
    :func:`_kappa_median` on the column.

    ``stake32`` (``[k]`` float32), ``scratch32`` (``[6, n]`` float32) and ``scratch64``
    (``[6, n]``) are work arrays. The range pass's running minima and maxima alternate between
    two arrays (read one, write the other): an in-place ``a[j] = min(a[j], x)`` compiles to
    masked stores, which are slow on some x86 cores (AMD Zen), where two buffers take plain
    stores. The bisection and the check run in :func:`_bisect` and :func:`_check_brackets`.
    """
    n = w_buf.shape[1]
    mid = scratch32[0]
    above32 = scratch32[1]
    kappa32 = np.float32(kappa)
    for m in range(n_staked):
        stake32[m] = np.float32(stake[staked[m]])
    # the column's staked range brackets c (float32 rounding keeps the order)
    low, low_next = scratch32[2], scratch32[3]
    high, high_next = scratch32[4], scratch32[5]
    low[:] = np.inf
    high[:] = -np.inf
    for m in range(n_staked):
        row = w32[staked[m]]
        for j in range(n):
            low_next[j] = min(low[j], row[j])
            high_next[j] = max(high[j], row[j])
        low, low_next = low_next, low
        high, high_next = high_next, high
    _next_up32(high)
    _bisect(w32, staked, n_staked, stake32, kappa32, low, high, mid, above32)
    # float64 check of each bracket: stake above it, stake in it, its smallest/largest value
    stake_above = scratch64[0]
    stake_inside = scratch64[1]
    inside_low = scratch64[2]
    inside_high = scratch64[3]
    _check_brackets(
        w_buf, w32, stake, staked, n_staked, low, high,
        stake_above, stake_inside, inside_low, inside_high,
    )  # fmt: skip
    for j in range(n):
        checked = stake_above[j] < kappa and stake_above[j] + stake_inside[j] >= kappa
        if checked and inside_low[j] == inside_high[j]:
            out[j] = inside_high[j]
            continue
        count = 0
        for m in range(n_staked):
            r = staked[m]
            if not checked or (w32[r, j] >= low[j] and w32[r, j] < high[j]):
                column_values[count] = w_buf[r, j]
                column_stakes[count] = stake[r]
                count += 1
        need = kappa - stake_above[j] if checked else kappa
        out[j] = _kappa_median(column_values, column_stakes, count, need)


@_jit
def fused_slice_epoch(
    weights: np.ndarray,
    present: np.ndarray,
    has_present: bool,
    bonds_in: np.ndarray,
    bonds_out: np.ndarray,
    rows: np.ndarray,
    row_valid: np.ndarray,
    keep_self: np.ndarray,
    drop_from: np.ndarray,
    registration: np.ndarray,
    recent: np.ndarray,
    stake: np.ndarray,
    keep_new: np.ndarray,
    lost: np.ndarray,
    live_rows: np.ndarray,
    has_live_rows: bool,
    kappa: float,
    bonds_penalty: float,
    bonds_moving_average: float,
    yuma3: bool,
    liquid: int,
    alpha_low: float,
    alpha_high: float,
    steepness: float,
    logit_low: float,
    logit_high: float,
    sparse_bond_drop: bool,
    consensus_out: np.ndarray,
    incentive_out: np.ndarray,
    trust_out: np.ndarray,
    dividends_out: np.ndarray,
) -> None:
    """Steps 5-10 of the float epoch and the bond storage rule for every subnet of a batch.

    Parameters
    ----------
    weights, bonds_in
        ``[B, n, n]`` float64 raw weights and previous bonds (read only on slice rows).
    present
        ``[B, n, n]`` bool explicit weight entries (used only when ``has_present``).
    bonds_out
        ``[B, n, n]`` float64 where new slice rows are stored (may be ``bonds_in`` itself: each
        row is read before it is written). It must hold the old bonds: rows that keep their
        bonds, and (default Yuma 3 pass) permit rows with no weights and all-zero bonds, whose
        new bonds are all zero, are not written.
    rows, row_valid, keep_self
        ``[B, k]`` slice rows, whether each is a real permit row, whether it keeps its
        self-weight (the owner).
    drop_from
        ``[B, k]`` int64: column ``j`` of row ``r`` is masked when
        ``registration[b, j] >= drop_from[b, r]`` (outdated and uncommitted weights, padding).
    registration
        ``[B, n]`` int64 registration blocks (zeros when not modelled).
    recent
        ``[B, n]`` bool: miners registered since the last tempo (their old bonds count as 0).
    stake
        ``[B, k]`` consensus stake of the slice rows.
    keep_new, lost
        ``[B, k]`` bond storage rule: store the new row / clear the row / keep the old row.
    live_rows
        ``[B, n]`` bool, used only when ``has_live_rows``: ``False`` where the caller knows that
        uid's weight row and bond row are all ``+0.0`` (and, with ``has_present``, its row of
        explicit entries all ``False``); such slice rows are not read. Rows wrongly marked
        ``False`` give wrong results (see :func:`check_live_rows`).
    kappa, bonds_penalty, bonds_moving_average, yuma3, liquid, alpha_low, alpha_high, steepness,
    logit_low, logit_high, sparse_bond_drop
        Resolved epoch parameters (``liquid`` is ``LIQUID_NONE``/``LIQUID_V1``/``LIQUID_V2``;
        the logits are LA1's, :func:`la1_logit` of the alpha bounds).
    consensus_out, incentive_out
        ``[B, n]`` outputs.
    trust_out, dividends_out
        ``[B, k]`` outputs per slice row.
    """
    n_batch, k = rows.shape
    n = weights.shape[2]
    w_buf = np.empty((k, n))
    w32_buf = np.empty((k, n), dtype=np.float32)
    new_buf = np.empty((k, n))
    delta_buf = np.empty((k, n)) if not yuma3 else np.empty((1, 1))
    exists_buf = np.zeros((k, n), dtype=np.bool_)
    column_values = np.empty(k)
    column_stakes = np.empty(k)
    staked = np.empty(k, dtype=np.int64)
    ranks = np.empty(n)
    col_a = np.empty(n)
    col_b = np.empty(n)
    col_alpha = np.empty(n)
    stake32 = np.empty(k, dtype=np.float32)
    scratch32 = np.empty((6, n), dtype=np.float32)
    scratch64 = np.empty((6, n))
    wb_row = np.empty(n)
    clip_row = np.empty(n)
    old_row = np.empty(n)
    per_row = np.empty(k)
    row_total = np.empty(k)
    row_zero = np.zeros(k, dtype=np.bool_)
    known_zero = np.zeros(k, dtype=np.bool_)
    unchanged = np.zeros(k, dtype=np.bool_)
    stored = np.zeros(k, dtype=np.bool_)
    median_stake = np.empty(k)
    # rows of w_buf / w32_buf known to hold +0.0 everywhere (left so by an earlier subnet):
    # a known-zero slice row then needs no 2 KB clear (most permit rows set no weights)
    w_clear = np.zeros(k, dtype=np.bool_)
    w32_clear = np.zeros(k, dtype=np.bool_)
    rate = 1.0 - bonds_moving_average
    la2_slope = steepness / -100.0
    for b in range(n_batch):
        # 5 weights of the slice rows: self-weight, outdated/uncommitted masks, normalisation
        # (staked rows also in float32 for the κ-median's search)
        zero_seen = False
        for r in range(k):
            known_zero[r] = has_live_rows and not live_rows[b, rows[b, r]]
        for r in range(k):
            if r + ROWS_AHEAD < k:
                ahead = rows[b, r + ROWS_AHEAD]
                if not (has_live_rows and not live_rows[b, ahead]):
                    _prefetch_row(weights[b, ahead])
            elif b + 1 < n_batch and r + ROWS_AHEAD - k < k:
                ahead = rows[b + 1, r + ROWS_AHEAD - k]
                if not (has_live_rows and not live_rows[b + 1, ahead]):
                    _prefetch_row(weights[b + 1, ahead])
            src = rows[b, r]
            if known_zero[r]:
                # all +0.0 (the caller's word): what the masked copy below would give, and
                # the sum, the zero test and the explicit entries of an all-zero row
                if not w_clear[r]:
                    w_buf[r, :] = 0.0
                    w_clear[r] = True
                if has_present:
                    exists_buf[r, :] = False
                row_total[r] = 0.0
                row_zero[r] = True
                if stake[b, r] > 0 and not zero_seen:
                    if not w32_clear[r]:
                        w32_buf[r, :] = np.float32(0.0)
                        w32_clear[r] = True
                    zero_seen = True
                continue
            w_clear[r] = False
            threshold = drop_from[b, r]
            self_column = -1 if keep_self[b, r] else src
            source = weights[b, src]
            registered = registration[b]
            total = 0.0
            for j in range(n):
                # branch-free so that the loop vectorises
                keep = (registered[j] < threshold) & (j != self_column)
                v = source[j] if keep else 0.0
                w_buf[r, j] = v
                total += v
            if has_present:
                for j in range(n):
                    keep = (registered[j] < threshold) & (j != self_column)
                    exists_buf[r, j] = keep and present[b, src, j]
            # one division per row, then products (a vector division per element costs more
            # than the pass's memory traffic); within an ulp of the torch path's division
            row_total[r] = total
            row_zero[r] = False
            if total == 0.0:
                # exactly zero entries (not a zero sum of mixed signs): see the bond pass;
                # a count, not an early exit, so that the loop vectorises
                nonzero = 0
                for j in range(n):
                    nonzero += w_buf[r, j] != 0.0
                row_zero[r] = nonzero == 0
            inverse = 1.0 / total if total > 0 else 1.0
            if stake[b, r] > 0 and total == 0.0:
                # all zeros: nothing to normalise, and only the first such row enters the
                # κ-median (as the zero row of step 6), so only it needs the float32 copy
                if not zero_seen:
                    for j in range(n):
                        w32_buf[r, j] = np.float32(w_buf[r, j])
                    w32_clear[r] = False
                    zero_seen = True
            elif stake[b, r] > 0:
                for j in range(n):
                    v = w_buf[r, j] * inverse
                    w_buf[r, j] = v
                    w32_buf[r, j] = np.float32(v)
                w32_clear[r] = False
            elif total > 0:
                for j in range(n):
                    w_buf[r, j] *= inverse

        for r in range(min(ROWS_AHEAD, k)):
            if not known_zero[r]:
                _prefetch_row(bonds_in[b, rows[b, r]])
        # 6 κ-median consensus over the staked rows
        # Staked rows with no weight (permit holders that set none) are all zeros: they enter
        # the median as one zero row carrying their summed stake, so its passes read each
        # distinct row once (the stake at or above any value is the same).
        stake_total = 0.0
        n_staked = 0
        zero_row = -1
        zero_stake = 0.0
        for r in range(k):
            stake_total += stake[b, r]
            median_stake[r] = stake[b, r]
            if stake[b, r] > 0:
                if row_total[r] != 0.0:  # NaN rows (unvalidated input) stay as they are
                    staked[n_staked] = r
                    n_staked += 1
                else:
                    zero_row = r if zero_row < 0 else zero_row
                    zero_stake += stake[b, r]
        if zero_row >= 0:
            staked[n_staked] = zero_row
            n_staked += 1
            median_stake[zero_row] = zero_stake
        if stake_total <= 0 or n_staked == 0:
            consensus_out[b, :] = 0.0
        elif kappa <= 0 or stake_total < kappa:
            # κ <= 0: the largest staked value already carries >= κ; κ above the total stake:
            # never reached, the smallest staked value (the torch path's last staked row)
            largest = kappa <= 0
            consensus_out[b, :] = -np.inf if largest else np.inf
            for m in range(n_staked):
                row = w_buf[staked[m]]
                for j in range(n):
                    if largest:
                        consensus_out[b, j] = max(consensus_out[b, j], row[j])
                    else:
                        consensus_out[b, j] = min(consensus_out[b, j], row[j])
        else:
            _bracketed_median(
                w_buf, w32_buf, median_stake, staked, n_staked, kappa, stake32, scratch32, scratch64,
                column_values, column_stakes, consensus_out[b],
            )  # fmt: skip
        any_consensus = False
        for j in range(n):
            if consensus_out[b, j] != 0.0:
                any_consensus = True
                break

        # 7-10 clipping, validator trust and ranks, bond weights, previous and new bonds in one
        # pass over the rows (the incentive is needed only for the dividends, after it)
        use_la2 = yuma3 and liquid == LIQUID_V2 and any_consensus
        col_a[:] = 0.0
        col_b[:] = 0.0
        any_recent = False
        for j in range(n):
            if recent[b, j]:
                any_recent = True
                break
        consensus_row = consensus_out[b]
        # a zero weight row clips to zero only against a non-negative consensus (not NaN)
        negative = 0
        for j in range(n):
            negative += not consensus_row[j] >= 0.0
        consensus_nonneg = negative == 0
        ranks[:] = 0.0
        for r in range(k):
            if r + ROWS_AHEAD < k and not known_zero[r + ROWS_AHEAD]:
                _prefetch_row(bonds_in[b, rows[b, r + ROWS_AHEAD]])
            # loop-invariant branches outside the column loops, so that these vectorise
            unchanged[r] = False
            stored[r] = False
            w_row = w_buf[r]
            a = stake[b, r]
            new_row = new_buf[r]
            trust = 0.0
            if (
                yuma3
                and not use_la2
                and bonds_penalty == 1.0
                and row_valid[b, r]
                and not any_recent
            ):
                # the HEAD default (Yuma 3, β = 1, no liquid alpha) in a single pass per row
                old_source = bonds_in[b, rows[b, r]]
                if row_zero[r] and consensus_nonneg:
                    # No weights and no bonds (permit holders that set no weights): every
                    # clipped weight and new bond is exactly 0, so the row adds nothing to the
                    # ranks, column sums or dividends and its stored bonds stay as they are.
                    # Scanning the old row is cheaper than the pass and the write-back.
                    nonzero = 0
                    if not known_zero[r]:
                        for j in range(n):
                            nonzero += old_source[j] != 0.0
                    if nonzero == 0:
                        trust_out[b, r] = 0.0
                        unchanged[r] = True
                        continue
                if keep_new[b, r]:
                    # the new row goes straight to its storage (no second copy at step 12);
                    # the old row is copied first, as bonds_out may be bonds_in
                    _copy_row(old_row, old_source)
                    old_source = old_row
                    new_row = bonds_out[b, rows[b, r]]
                    stored[r] = True
                low_rate = rate < 0.5  # torch.lerp's two branches
                for j in range(n):
                    clipped = min(w_row[j], consensus_row[j])
                    trust += clipped
                    ranks[j] += a * clipped
                    old = old_source[j]
                    if low_rate:
                        new = old + rate * (clipped - old)
                    else:
                        new = clipped - (clipped - old) * (1.0 - rate)
                    new_row[j] = new
                    col_a[j] += new
                trust_out[b, r] = trust
                continue
            for j in range(n):
                clipped = min(w_row[j], consensus_row[j])
                clip_row[j] = clipped
                trust += clipped
                ranks[j] += a * clipped
            trust_out[b, r] = trust
            if bonds_penalty == 0.0:
                _copy_row(wb_row, w_row)
            elif bonds_penalty == 1.0:
                _copy_row(wb_row, clip_row)
            else:
                for j in range(n):
                    w = w_row[j]
                    wb_row[j] = max(w + bonds_penalty * (clip_row[j] - w), 0.0)
            if row_valid[b, r] and not known_zero[r]:
                _copy_row(old_row, bonds_in[b, rows[b, r]])
                if any_recent:
                    for j in range(n):
                        if recent[b, j]:
                            old_row[j] = 0.0
            else:
                old_row[:] = 0.0
            if yuma3 and use_la2:
                for j in range(n):
                    wb, old, c = wb_row[j], old_row[j], consensus_row[j]
                    alpha = _liquid_alpha_v2(wb, old, c, alpha_low, alpha_high, la2_slope)
                    new = min((1.0 - alpha) * old + max(alpha * wb, 0.0), 1.0)
                    if sparse_bond_drop:
                        # on chain only entries present in the weight row survive
                        exists = wb > 0
                        if has_present and bonds_penalty == 0.0:
                            exists = exists_buf[r, j]
                        elif has_present and bonds_penalty == 1.0:
                            exists = exists_buf[r, j] and not (w_row[j] > c and c == 0.0)
                        if not exists:
                            new = 0.0
                    new_row[j] = new
                    col_a[j] += new
            elif yuma3:
                if rate < 0.5:  # torch.lerp's two branches
                    for j in range(n):
                        new = old_row[j] + rate * (wb_row[j] - old_row[j])
                        new_row[j] = new
                        col_a[j] += new
                else:
                    for j in range(n):
                        new = wb_row[j] - (wb_row[j] - old_row[j]) * (1.0 - rate)
                        new_row[j] = new
                        col_a[j] += new
            else:
                delta_row = delta_buf[r]
                for j in range(n):
                    new_row[j] = old_row[j]
                    col_a[j] += old_row[j]
                    delta = wb_row[j] * a
                    delta_row[j] = delta
                    col_b[j] += delta
        rank_total = 0.0
        for j in range(n):
            rank_total += ranks[j]
        for j in range(n):
            incentive_out[b, j] = ranks[j] / rank_total if rank_total > 0 else ranks[j]
        if yuma3:
            # Σ_j B_ij / (Σ_i B_ij) I_j, then stake-weighted and normalised
            for j in range(n):
                col_b[j] = incentive_out[b, j] / col_a[j] if col_a[j] > 0 else 0.0
            for r in range(k):
                acc = 0.0
                if not unchanged[r]:  # an unchanged (all-zero) row's sum is 0
                    new_row = bonds_out[b, rows[b, r]] if stored[r] else new_buf[r]
                    for j in range(n):
                        acc += new_row[j] * col_b[j]
                per_row[r] = acc * stake[b, r]
        else:
            if liquid == LIQUID_V1:
                _liquid_alpha_v1(
                    consensus_out[b], alpha_low, alpha_high, logit_low, logit_high, rate, col_alpha
                )
            else:
                col_alpha[:] = rate
            # EMA of the column-normalised ΔB and previous bonds, normalised again
            for j in range(n):
                col_a[j] = col_a[j] if col_a[j] > 0 else 1.0
                col_b[j] = col_b[j] if col_b[j] > 0 else 1.0
            ema_sum = np.zeros(n)
            for r in range(k):
                for j in range(n):
                    alpha = col_alpha[j]
                    ema = alpha * (delta_buf[r, j] / col_b[j]) + (1.0 - alpha) * (
                        new_buf[r, j] / col_a[j]
                    )
                    new_buf[r, j] = ema
                    ema_sum[j] += ema
            col_max = np.zeros(n)
            for r in range(k):
                acc = 0.0
                for j in range(n):
                    ema = new_buf[r, j] / ema_sum[j] if ema_sum[j] > 0 else new_buf[r, j]
                    new_buf[r, j] = ema
                    acc += ema * incentive_out[b, j]
                    col_max[j] = max(col_max[j], ema)
                per_row[r] = acc
            # stored classic bonds are column max-upscaled
            for r in range(k):
                for j in range(n):
                    if col_max[j] > 0:
                        new_buf[r, j] /= col_max[j]
        dividend_total = 0.0
        for r in range(k):
            dividend_total += per_row[r]
        for r in range(k):
            dividends_out[b, r] = per_row[r] / dividend_total if dividend_total > 0 else per_row[r]

        # 12 storage: new rows for kept/new permits, cleared rows for lost ones, else untouched
        for r in range(k):
            dst = rows[b, r]
            if keep_new[b, r]:
                if not unchanged[r] and not stored[r]:
                    _copy_row(bonds_out[b, dst], new_buf[r])
            elif lost[b, r]:
                bonds_out[b, dst] = 0.0


@_jit
def finish_rows(
    rows: np.ndarray,
    trust_slice: np.ndarray,
    dividends_slice: np.ndarray,
    incentive: np.ndarray,
    active_stake: np.ndarray,
    stake: np.ndarray,
    rao_emission: np.ndarray,
    validator_trust_out: np.ndarray,
    dividends_out: np.ndarray,
    server_out: np.ndarray,
    validator_out: np.ndarray,
    emission_out: np.ndarray,
) -> None:
    """Step 11 of the float epoch (``_finish`` in :mod:`protocol.yuma.float_epoch`) per subnet.

    Scatters the slice's trust and dividends ``[B, k]`` back to uids and splits the emission:
    ``server = I / Σ(I + D)``, ``validator = D / Σ(I + D)`` and ``emission = (I + D) / Σ(I + D)``
    times ``rao_emission``; with nothing to split the validator part and the emission follow the
    active stake (the stake if no validator is active). The torch path's element-wise
    arithmetic; its sums agree to rounding.
    """
    n_batch, n = incentive.shape
    k = rows.shape[1]
    for b in range(n_batch):
        validator_trust_out[b, :] = 0.0
        dividends_out[b, :] = 0.0
        for r in range(k):
            validator_trust_out[b, rows[b, r]] = trust_slice[b, r]
            dividends_out[b, rows[b, r]] = dividends_slice[b, r]
        total = 0.0
        active_total = 0.0
        for j in range(n):
            total += incentive[b, j] + dividends_out[b, j]
            active_total += active_stake[b, j]
        safe = total if total > 0 else 1.0
        nothing = total == 0
        fallback = active_stake[b] if active_total > 0 else stake[b]
        scale = rao_emission[b]
        for j in range(n):
            combined = incentive[b, j] + dividends_out[b, j]
            server_out[b, j] = incentive[b, j] / safe * scale
            if nothing:
                validator_out[b, j] = fallback[j] * scale
                emission_out[b, j] = fallback[j] * scale
            else:
                validator_out[b, j] = dividends_out[b, j] / safe * scale
                emission_out[b, j] = combined / safe * scale


def fused_available() -> bool:
    """Whether the fused kernel can run here (numba is installed)."""
    return HAVE_NUMBA


def fresh_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous copy of a CPU tensor in numpy-allocated memory.

    numpy advises the kernel to back large allocations with huge pages; torch's CPU allocator
    does not, and first-touch page faults then cost more than the copy (a fresh 67 MB
    ``[128, 256, 256]`` float64 clone: ~36 ms CPU with torch, ~11 ms this way, measured).
    """
    out = np.empty(tuple(tensor.shape), dtype=tensor.numpy().dtype)
    np.copyto(out, tensor.numpy())
    return torch.from_numpy(out)


def _liquid_mode(params: EpochParams) -> int:
    """The kernel's liquid-alpha mode for the resolved parameters (as the torch path picks it)."""
    if not params.liquid_alpha:
        return LIQUID_NONE
    if params.yuma3:
        return LIQUID_V2 if params.liquid_alpha_version == "v2" else LIQUID_NONE
    return LIQUID_V1 if params.liquid_alpha_version == "v1" else LIQUID_NONE


def _drop_from(inputs: EpochInputs, rows: np.ndarray, row_valid: np.ndarray) -> np.ndarray:
    """``[B, k]`` registration block from which a slice row's weight entries are masked.

    Outdated weights (``last_update <= registration``) and uncommitted ones
    (``commit_block < registration``) are both "registration at or above a per-row block";
    padding rows (no permit) mask everything, and so does every row when the chain's permit
    vector is empty (HEAD ``mask_rows_sparse``). Integer work in numpy (CPU inputs).
    """
    if inputs.empty_permit_vector:
        return np.full(rows.shape, _INT64_MIN, dtype=np.int64)
    drop_from = np.full(rows.shape, _INT64_MAX, dtype=np.int64)
    if inputs.registration is not None:
        at = (np.arange(rows.shape[0])[:, None], rows)  # [b, rows[b, r]] (a row gather)
        if inputs.last_update is not None:
            drop_from = np.minimum(drop_from, inputs.last_update.numpy()[at])
        if inputs.commit_block is not None:
            commit = inputs.commit_block.numpy()[at]
            drop_from = np.minimum(drop_from, np.minimum(commit, _INT64_MAX - 1) + 1)
    return np.where(row_valid, drop_from, _INT64_MIN)


def _recent(inputs: EpochInputs, params: EpochParams) -> np.ndarray:
    """``[B, n]`` miners registered since the last tempo (their previous bonds count as 0);
    integer work in numpy (CPU inputs)."""
    B, n = inputs.stake.shape
    if inputs.block is None or inputs.registration is None:
        return np.zeros((B, n), dtype=np.bool_)
    block = inputs.block.numpy()
    if params.scheduling == "head":
        lms = inputs.lms.numpy()
        last_tempo = np.where(lms == 0, block - params.tempo, lms + 1)
    else:
        last_tempo = block - params.tempo
    return last_tempo[:, None] <= inputs.registration.numpy()


def run_fused_slice(
    inputs: EpochInputs,
    params: EpochParams,
    validators: ValidatorSlice,
    *,
    inplace_bonds: bool = False,
) -> SliceOutputs:
    """Steps 5-10 and bond storage of the float epoch with :func:`fused_slice_epoch` (CPU).

    The twin of the torch path's ``_torch_slice`` in :mod:`protocol.yuma.float_epoch`.

    Parameters
    ----------
    inputs
        The epoch's inputs (CPU, float64).
    params
        Resolved parameters (after the mechanism's forced values).
    validators
        Steps 1-4: the validator slice, the permits and the slice's consensus stake (after the
        mechanism's ``consensus_stake``).
    inplace_bonds
        Write the new bond rows into ``inputs.bonds``; otherwise into a copy.

    Returns
    -------
    SliceOutputs
    """
    B, n = inputs.stake.shape
    k = validators.rows.shape[1]
    if inplace_bonds and inputs.bonds.is_contiguous():
        bonds_out = inputs.bonds
    else:
        # the kernel reads each row's old bonds before it writes that row, so the copy serves
        # as both input and output
        bonds_out = fresh_copy(inputs.bonds)
    outputs = SliceOutputs(  # numpy-allocated buffers: no tensor dispatch each
        consensus=torch.from_numpy(np.empty((B, n))),
        incentive=torch.from_numpy(np.empty((B, n))),
        trust=torch.from_numpy(np.empty((B, k))),
        dividends=torch.from_numpy(np.empty((B, k))),
        bonds=bonds_out,
    )
    present = inputs.weights_present
    slice_kernel(
        inputs.weights.contiguous().numpy(),
        present.contiguous().numpy() if present is not None else None,
        outputs.bonds.numpy(),
        _kernel_rows(inputs, params, validators),
        params,
        outputs.consensus.numpy(),
        outputs.incentive.numpy(),
        outputs.trust.numpy(),
        outputs.dividends.numpy(),
    )
    if inplace_bonds and bonds_out is not inputs.bonds:
        inputs.bonds.copy_(bonds_out)
        return dataclasses.replace(outputs, bonds=inputs.bonds)
    return outputs


def _kernel_rows(
    inputs: EpochInputs, params: EpochParams, validators: ValidatorSlice
) -> KernelRows:
    """The kernel's row inputs derived from the stages (bool/int gathers and compares, in
    numpy on views of the CPU tensors)."""
    B, n = inputs.stake.shape
    rows = np.ascontiguousarray(validators.rows.numpy())
    row_valid = np.ascontiguousarray(validators.row_valid.numpy())
    registration = (
        inputs.registration.contiguous().numpy()
        if inputs.registration is not None
        else np.zeros((B, n), dtype=np.int64)
    )
    at = (np.arange(B)[:, None], rows)  # [b, rows[b, r]] (a row gather)
    keep_new = validators.permit.numpy()[at]
    return KernelRows(
        rows=rows,
        row_valid=row_valid,
        keep_self=rows == inputs.owner_uid.numpy()[:, None],
        drop_from=_drop_from(inputs, rows, row_valid),
        registration=registration,
        recent=_recent(inputs, params),
        slice_stake=validators.slice_stake.to(torch.float64).contiguous().numpy(),
        keep_new=keep_new,
        lost=validators.permit_prev.numpy()[at] & ~keep_new,
    )


#: The kernel's placeholder for "no explicit weight entries" (never read).
_NO_PRESENT = np.zeros((1, 1, 1), np.bool_)
#: The kernel's placeholder for "no row hint" (never read).
_NO_LIVE_ROWS = np.zeros((1, 1), np.bool_)


def check_live_rows(
    live_rows: np.ndarray,
    weights: np.ndarray,
    bonds: np.ndarray,
    present: np.ndarray | None = None,
) -> None:
    """Raise unless every row that ``live_rows`` marks ``False`` is all ``+0.0`` in
    ``weights`` and ``bonds`` (``[B, n, n]``) and has no explicit entry in ``present``.

    The kernel trusts ``live_rows`` (checking it would read the rows it lets the kernel skip):
    a debugging aid for callers and tests.

    Raises
    ------
    ValueError
        Naming the first wrongly marked row.
    """
    dead = ~np.asarray(live_rows, dtype=np.bool_)
    # +0.0 exactly: -0.0 compares equal to 0 but the kernel's copy would keep its sign
    checks = [("weights", weights), ("bonds", bonds)]
    for name, matrix in checks:
        bits = np.asarray(matrix, dtype=np.float64).view(np.int64)
        wrong = dead & (bits != 0).any(axis=2)
        if wrong.any():
            b, uid = (int(i) for i in np.argwhere(wrong)[0])
            raise ValueError(
                f"live_rows: row {uid} of batch {b} is marked zero but its {name} are not"
            )
    if present is not None:
        wrong = dead & np.asarray(present, dtype=np.bool_).any(axis=2)
        if wrong.any():
            b, uid = (int(i) for i in np.argwhere(wrong)[0])
            raise ValueError(
                f"live_rows: row {uid} of batch {b} is marked zero but has explicit entries"
            )


def slice_kernel(
    weights: np.ndarray,
    present: np.ndarray | None,
    bonds: np.ndarray,
    rows: KernelRows,
    params: EpochParams,
    consensus_out: np.ndarray,
    incentive_out: np.ndarray,
    trust_out: np.ndarray,
    dividends_out: np.ndarray,
) -> None:
    """:func:`fused_slice_epoch` on numpy arrays, with the resolved ``params`` unpacked.

    ``weights`` ``[B, n, n]`` float64 and ``present`` (bool, or ``None``) as the kernel takes
    them; ``bonds`` holds the old bonds on entry and the stored ones on return (in place);
    ``rows`` are the kernel's row inputs. Outputs: ``consensus_out``, ``incentive_out``
    ``[B, n]``, ``trust_out``, ``dividends_out`` ``[B, k]``.
    """
    arguments = (
        weights,
        present if present is not None else _NO_PRESENT,
        present is not None,
        bonds,
        bonds,
        rows.rows,
        rows.row_valid,
        rows.keep_self,
        rows.drop_from,
        rows.registration,
        rows.recent,
        rows.slice_stake,
        rows.keep_new,
        rows.lost,
        rows.live_rows if rows.live_rows is not None else _NO_LIVE_ROWS,
        rows.live_rows is not None,
        float(params.kappa),
        float(params.bonds_penalty),
        float(params.bonds_moving_average),
        bool(params.yuma3),
        _liquid_mode(params),
        float(params.alpha_low),
        float(params.alpha_high),
        float(params.steepness),
        la1_logit(params.alpha_low),
        la1_logit(params.alpha_high),
        bool(params.sparse_bond_drop),
        consensus_out,
        incentive_out,
        trust_out,
        dividends_out,
    )
    if torch.autograd.profiler._is_profiler_enabled:
        with torch.profiler.record_function("yuma::fused_slice_epoch"):  # names it in profiles
            fused_slice_epoch(*arguments)
    else:  # the range costs more than a small network's kernel call when nobody records
        fused_slice_epoch(*arguments)
