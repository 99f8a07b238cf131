"""Steps 1-4 of the float epoch and the fused kernel's row masks in numba (CPU, float64).

The torch path of these steps (:func:`protocol.yuma.float_epoch.run_float_epoch`) is some forty
tensor operations on ``[B, n]`` arrays; on a small network each costs more in dispatch than in
arithmetic. Here the element-wise and integer work runs in three numba passes. The two row sums
(the stake normalisations) stay in torch, on the same contiguous ``[B, n]`` values as the torch
path sums, so the results are bit-identical to it: every other operation is an IEEE ``+ - * /``,
a comparison or a select (no fast-math flag), as ``tests/protocol/test_yuma_fused_prep.py``
checks.

Stages (numpy arrays in, numpy arrays out):

1. :func:`stake_rows`: the owner mask, activity, the stake threshold;
2. (torch row sum) :func:`permit_rows`: the normalised stake, the new permits where no top-k
   selection is needed, the validator slice's rows and the active stake before normalisation;
3. (torch row sum) :func:`slice_rows`: the normalised active stake, the slice's stake and the
   masks of :func:`protocol.yuma._fused.fused_slice_epoch`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from protocol._numba import jit

__all__ = ["KernelRows", "permit_rows", "slice_masks", "stake_rows"]


class KernelRows(NamedTuple):
    """The per-row inputs of :func:`protocol.yuma._fused.fused_slice_epoch`, as numpy arrays
    (``[B, k]`` unless noted): what its caller would otherwise derive from the stages."""

    rows: np.ndarray
    row_valid: np.ndarray
    keep_self: np.ndarray
    drop_from: np.ndarray
    #: ``[B, n]`` int64 registration blocks (zeros where the epoch has none).
    registration: np.ndarray
    #: ``[B, n]`` bool recently registered miners.
    recent: np.ndarray
    slice_stake: np.ndarray
    keep_new: np.ndarray
    lost: np.ndarray
    #: ``[B, n]`` bool, or ``None`` (unknown: every slice row is read): ``False`` where the
    #: uid's weight and bond rows are known to be all zero (``fused_slice_epoch``'s
    #: ``live_rows``).
    live_rows: np.ndarray | None = None


_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


@jit
def stake_rows(
    stake: np.ndarray,
    owner_uid: np.ndarray,
    last_update: np.ndarray,
    block: np.ndarray,
    has_activity: bool,
    cutoff_blocks: int,
    has_threshold: bool,
    stake_threshold: float,
    owner_mask: np.ndarray,
    active: np.ndarray,
    masked: np.ndarray,
) -> None:
    """Step 1 and the threshold of step 2, per uid ``[B, n]``.

    ``owner_mask``: the uid is the owner; ``active``: ``last_update + cutoff >= block`` (all
    ``True`` without activity); ``masked``: the stake, zero where ``floor(stake)`` is below the
    threshold (never the owner's).
    """
    n_batch, n = stake.shape
    for b in range(n_batch):
        owner = owner_uid[b]
        for j in range(n):
            is_owner = j == owner
            owner_mask[b, j] = is_owner
            active[b, j] = (last_update[b, j] + cutoff_blocks) >= block[b] if has_activity else True
            value = stake[b, j]
            if has_threshold and np.floor(value) < stake_threshold and not is_owner:
                value = 0.0
            masked[b, j] = value


@jit
def permit_rows(
    masked: np.ndarray,
    total: np.ndarray,
    owner_mask: np.ndarray,
    active: np.ndarray,
    permit_prev_in: np.ndarray,
    has_permits: bool,
    max_validators: int,
    stake: np.ndarray,
    permit: np.ndarray,
    permit_prev: np.ndarray,
    rows: np.ndarray,
    active_raw: np.ndarray,
) -> tuple[int, bool]:
    """Steps 2-4 up to the active stake's sum, per uid ``[B, n]``.

    ``stake``: ``masked`` over its row sum ``total`` ``[B]`` (unchanged where the sum is not
    positive); ``permit``: the non-zero stakes and the owner, valid only when no row has more
    than ``max_validators`` of them (otherwise the top-k selection must run: the second value
    returned is ``True``); ``permit_prev``: the previous permits with the owner's (all ``False``
    without permits); ``rows``: each row's slice uids in its first ``k`` places (``k`` the first
    value returned: the largest permit count, at least 1; every uid in uid order when ``k`` is
    ``n`` or there are no permits; else permitted uids first, each group in uid order);
    ``active_raw``: stake × active (× the old permit).
    """
    n_batch, n = masked.shape
    needs_topk = False
    k = 1
    for b in range(n_batch):
        scale = total[b] if total[b] > 0 else 1.0
        candidates = 0
        permitted = 0
        for j in range(n):
            value = masked[b, j] / scale
            stake[b, j] = value
            nonzero = value != 0
            candidates += 1 if nonzero else 0
            permit[b, j] = nonzero or owner_mask[b, j]
            held = has_permits and (permit_prev_in[b, j] or owner_mask[b, j])
            permit_prev[b, j] = held
            permitted += 1 if held else 0
            raw = value * (1.0 if active[b, j] else 0.0)
            if has_permits:
                raw = raw * (1.0 if held else 0.0)
            active_raw[b, j] = raw
        if candidates > max_validators:
            needs_topk = True
        k = max(k, permitted)
    if not has_permits:
        k = n
    for b in range(n_batch):
        if k == n:
            for j in range(n):
                rows[b, j] = j
            continue
        place = 0
        for j in range(n):
            if permit_prev[b, j]:
                rows[b, place] = j
                place += 1
        for j in range(n):
            if place >= k:
                break
            if not permit_prev[b, j]:
                rows[b, place] = j
                place += 1
    if n < max_validators:
        needs_topk = False
    return k, needs_topk


@jit
def slice_masks(
    active_raw: np.ndarray,
    total: np.ndarray,
    rows: np.ndarray,
    has_permits: bool,
    permit: np.ndarray,
    permit_prev: np.ndarray,
    owner_uid: np.ndarray,
    last_update: np.ndarray,
    has_last_update: bool,
    commit_block: np.ndarray,
    has_commit: bool,
    registration: np.ndarray,
    has_registration: bool,
    empty_permit_vector: bool,
    block: np.ndarray,
    lms: np.ndarray,
    has_recent: bool,
    head_scheduling: bool,
    tempo: int,
    active_stake: np.ndarray,
    slice_stake: np.ndarray,
    row_valid: np.ndarray,
    keep_new: np.ndarray,
    lost: np.ndarray,
    keep_self: np.ndarray,
    drop_from: np.ndarray,
    recent: np.ndarray,
) -> None:
    """The end of step 4 and the fused kernel's per-row masks.

    ``active_stake`` ``[B, n]``: ``active_raw`` over its row sum ``total``; per slice row
    ``[B, k]``: ``row_valid`` (a real permit row; every row without permits), ``slice_stake``
    (its active stake, 0 on padding), ``keep_new``/``lost`` (new permit; old permit lost),
    ``keep_self`` (the owner's row) and ``drop_from`` (the registration block from which its
    weight entries are masked: see :func:`protocol.yuma._fused._drop_from`); per uid,
    ``recent``: registered since the last tempo (:func:`protocol.yuma._fused._recent`).
    """
    n_batch, n = active_raw.shape
    k = rows.shape[1]
    for b in range(n_batch):
        scale = total[b] if total[b] > 0 else 1.0
        for j in range(n):
            active_stake[b, j] = active_raw[b, j] / scale
        if has_recent:
            last_tempo = lms[b] + 1 if head_scheduling and lms[b] != 0 else block[b] - tempo
            for j in range(n):
                recent[b, j] = last_tempo <= registration[b, j]
        else:
            for j in range(n):
                recent[b, j] = False
        owner = owner_uid[b]
        for r in range(k):
            uid = rows[b, r]
            valid = permit_prev[b, uid] if has_permits else True
            row_valid[b, r] = valid
            slice_stake[b, r] = active_stake[b, uid] * (1.0 if valid else 0.0)
            new = permit[b, uid]
            keep_new[b, r] = new
            lost[b, r] = permit_prev[b, uid] and not new
            keep_self[b, r] = uid == owner
            if empty_permit_vector:
                drop_from[b, r] = _INT64_MIN
                continue
            drop = _INT64_MAX
            if has_registration:
                if has_last_update:
                    drop = min(drop, last_update[b, uid])
                if has_commit:
                    drop = min(drop, min(commit_block[b, uid], _INT64_MAX - 1) + 1)
            drop_from[b, r] = drop if valid else _INT64_MIN
