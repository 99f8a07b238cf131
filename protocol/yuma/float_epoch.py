"""The Yuma epoch in float64 torch, batched over a leading dimension (subnets or replicates).

Every step follows the on-chain sparse epoch (subtensor ``epoch/run_epoch.rs``
``epoch_mechanism``, docs/yuma.md) with float arithmetic. The heavy
steps work on the *validator slice*: only rows holding a previous validator permit can carry
weights and active stake, so weights and bonds are gathered into ``[B, k, n]`` with ``k`` the
largest permit count in the batch (≤ ``max_validators`` + owner), instead of ``[B, n, n]``.

Bond rows outside the slice are assumed empty (the chain keeps that invariant: a row's bonds are
cleared when it loses its permit, and a newly registered uid starts without bonds). The exact
mode (:mod:`protocol.yuma.exact_epoch`) makes no such assumption.

:func:`run_float_epoch` runs steps 1-4 here, then steps 5-10 and step 11 on one of two backends
(:func:`resolve_backend`): the torch path below (``_torch_slice``, ``_finish``: the reference,
any device) or the fused numba kernel (:mod:`protocol.yuma._fused`). Both take and return the
stages of :mod:`protocol.yuma.stages`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from protocol._numba import HAVE_NUMBA, Backend, choose_backend, jit
from protocol.yuma._fused import (
    LA1_QUARTILE_TIE_RTOL,
    finish_rows,
    fresh_copy,
    la1_logit,
    run_fused_slice,
    slice_kernel,
)
from protocol.yuma._fused_prep import KernelRows, permit_rows, slice_masks, stake_rows
from protocol.yuma.params import EpochParams
from protocol.yuma.result import EpochResult
from protocol.yuma.stages import EpochInputs, SliceOutputs, ValidatorSlice

if TYPE_CHECKING:
    from protocol.yuma.mechanisms import Mechanism

__all__ = [
    "FusedEpoch",
    "col_normalize",
    "consensus_torch_sort",
    "fused_epoch_applies",
    "fused_epoch_arrays",
    "liquid_alpha_v1",
    "liquid_alpha_v2",
    "normalize",
    "resolve_backend",
    "run_float_epoch",
    "topk_nonzero",
    "topk_nonzero_array",
    "weighted_median_consensus",
]


def normalize(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Divide by the sum along ``dim``; slices summing to 0 are returned unchanged."""
    total = x.sum(dim, keepdim=True)
    return x / torch.where(total > 0, total, torch.ones_like(total))


def col_normalize(x: torch.Tensor) -> torch.Tensor:
    """Normalise ``[B, k, n]`` columns (over validators); all-zero columns stay zero."""
    return normalize(x, dim=1)


def topk_nonzero(stake: torch.Tensor, k: int) -> torch.Tensor:
    """The chain's ``is_topk_nonzero``: top-``k`` non-zero stakes, ties to the higher uid.

    The chain sorts stably in ascending order and drops the first ``n - k``. The same set is
    found without a sort: stakes above the k-th largest win, and of the stakes equal to it the
    highest uids fill the remaining places (a quickselect, about 3x faster than a sort of
    ``[128, 256]``).
    """
    n = stake.shape[-1]
    if stake.device.type == "cpu" and not stake.requires_grad:  # common exits, in numpy
        candidates = stake.numpy() != 0
        if n < k or bool((candidates.sum(-1) <= k).all()):
            return torch.from_numpy(candidates)
    nonzero = stake != 0
    if n < k:
        return nonzero
    if bool((nonzero.sum(-1) <= k).all()):
        return nonzero  # at most k candidates everywhere: no selection needed
    if k == 0:
        return torch.zeros_like(nonzero)
    threshold = torch.kthvalue(stake, n - k + 1, dim=-1, keepdim=True).values
    above = stake > threshold
    tied = stake == threshold
    places_left = k - above.sum(-1, keepdim=True)
    if bool((tied.sum(-1, keepdim=True) <= places_left).all()):
        return nonzero & (above | tied)  # every tie fits (the usual case): no ranking needed
    rank_from_highest_uid = tied.flip(-1).cumsum(-1).flip(-1)  # 1 for the highest tied uid
    return nonzero & (above | (tied & (rank_from_highest_uid <= places_left)))


def topk_nonzero_array(stake: np.ndarray, k: int) -> np.ndarray:
    """:func:`topk_nonzero` of a ``[B, n]`` float64 array, as a numpy bool array.

    With numba and no NaN stake, a per-row selection (:func:`_topk_nonzero_rows`: the k-th
    largest stake, the stakes above it, and of those equal to it the highest uids); the set is
    the same (it is defined by the order of the stakes alone). Otherwise the torch function.
    """
    n = stake.shape[-1]
    nonzero = stake != 0
    if n < k or bool((nonzero.sum(-1) <= k).all()):
        return nonzero
    if HAVE_NUMBA and stake.ndim == 2 and k > 0 and not bool(np.isnan(stake).any()):
        out = np.empty(stake.shape, dtype=np.bool_)
        _topk_nonzero_rows(stake, k, out)
        return out
    return topk_nonzero(torch.from_numpy(stake), k).numpy()


@jit
def _kth_smallest(values: np.ndarray, keys: np.ndarray, t: int) -> float:  # pragma: no cover
    """The ``t``-th smallest (0-based) of the NaN-free ``values`` (``keys``: a ``uint64``
    buffer of the same length, overwritten).

    Each value's bits become an unsigned key in the values' order (``-0.0`` just below
    ``0.0``, which compare equal where the result is used); the key of the ``t``-th smallest
    is the largest ``K`` with at least ``n - t`` keys ``>= K``, found by bisection on the
    key range with a branch-free count per round (at most 64 rounds; every four rounds the
    keys still in range are packed, so the rounds soon count a few). Any exact selection
    gives the same value; this one has no data-dependent branches, which a partition-based
    select (``np.partition``) mispredicts about every other element on varied stakes.
    """
    n = values.shape[0]
    bits = values.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    low = np.uint64(0xFFFFFFFFFFFFFFFF)
    high = np.uint64(0)
    for j in range(n):
        b = bits[j]
        key = ~b if b & sign else b | sign
        keys[j] = key
        low = min(low, key)
        high = max(high, key)
    need = n - t
    # count(keys >= low) >= need > count(keys >= high + 1), counting the ``above`` keys
    # dropped above the range; every few rounds the keys left in [low, high] are packed to
    # the front (branch-free), so later rounds count only those
    above = 0
    m = n
    while low < high:
        for _ in range(4):
            if low == high:
                break
            mid = low + (high - low + np.uint64(1)) // np.uint64(2)
            count = above
            for j in range(m):
                count += 1 if keys[j] >= mid else 0
            if count >= need:
                low = mid
            else:
                high = mid - np.uint64(1)
        kept = 0
        for j in range(m):
            key = keys[j]
            keys[kept] = key
            above += 1 if key > high else 0
            kept += 1 if (key >= low) & (key <= high) else 0
        m = kept
    # the key back to the value's bits
    keys[0] = low ^ sign if low & sign else ~low
    return keys[:1].view(np.float64)[0]


@jit
def _topk_nonzero_rows(
    stake: np.ndarray, k: int, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """:func:`topk_nonzero` per row of a NaN-free ``stake`` ``[B, n]``, ``0 < k <= n``:
    the stakes above the k-th largest, then of those equal to it the highest uids while
    places are left; only non-zero stakes."""
    n_batch, n = stake.shape
    keys = np.empty(n, dtype=np.uint64)
    for b in range(n_batch):
        row = stake[b]
        threshold = _kth_smallest(row, keys, n - k)  # torch.kthvalue(n - k + 1)
        places_left = k
        for j in range(n):
            above = row[j] > threshold
            out[b, j] = above
            places_left -= 1 if above else 0
        for j in range(n - 1, -1, -1):
            if places_left <= 0:
                break
            if row[j] == threshold:
                out[b, j] = True
                places_left -= 1
        for j in range(n):
            out[b, j] = out[b, j] and row[j] != 0


def weighted_median_consensus(
    weights: torch.Tensor, stake: torch.Tensor, kappa: float
) -> torch.Tensor:
    """Stake-weighted κ-median per column: the largest ``v`` with ``stake(W_.j >= v) >= κ``.

    Parameters
    ----------
    weights
        ``[B, k, n]`` non-negative row-normalised weights of the validator slice (missing
        entries are 0).
    stake
        ``[B, k]`` active stake (normalised; zero for rows outside the consensus set).
    kappa
        Majority threshold κ.

    Returns
    -------
    torch.Tensor
        ``[B, n]`` consensus; 0 where no validator has stake.

    Notes
    -----
    Each column's k values are sorted and the stake accumulated in value order; the result is
    the value where the stake at or above it first reaches κ. Zero-stake rows never move the
    sum, so they cannot be selected. This equals the chain's quickselect
    (``weighted_median_col_sparse``).
    On CPU the sort runs on packed int64 keys with numpy's SIMD sort (about 10x faster than
    ``torch.sort`` on 64-element rows); elsewhere it uses ``torch.sort``.
    """
    if (
        weights.device.type == "cpu"
        and weights.dtype == torch.float64
        and weights.shape[1] <= 1 << 16
    ):
        return _consensus_key_sort(weights, stake, kappa)
    return consensus_torch_sort(weights, stake, kappa)


def consensus_torch_sort(weights: torch.Tensor, stake: torch.Tensor, kappa: float) -> torch.Tensor:
    """:func:`weighted_median_consensus` with ``torch.sort`` (any device)."""
    k = weights.shape[1]
    idle = stake <= 0
    # Sorting along a contiguous last axis is markedly faster than along axis 1. Idle rows are
    # sent to the end so that they are never selected.
    columns = weights.transpose(1, 2).masked_fill(idle.unsqueeze(1), -math.inf)  # [B, n, k]
    values, order = torch.sort(columns, dim=-1, descending=True)
    sorted_stake = stake.unsqueeze(1).expand_as(columns).gather(-1, order)
    reached = sorted_stake.cumsum_(-1) < kappa
    last_staked = (k - 1 - idle.sum(-1)).clamp(min=0).view(-1, 1, 1)
    position = torch.minimum(reached.sum(-1, keepdim=True), last_staked)
    consensus = values.gather(-1, position).squeeze(-1)
    has_stake = stake.sum(-1, keepdim=True) > 0
    return torch.where(has_stake, consensus, torch.zeros_like(consensus))


def _consensus_key_sort(weights: torch.Tensor, stake: torch.Tensor, kappa: float) -> torch.Tensor:
    """CPU κ-median: sort packed keys (value bits with the row in the low bits) in numpy.

    Non-negative float64 values order like their int64 bit patterns, so replacing the lowest
    ``r`` mantissa bits by the row index gives keys that sort by value (up to 2^-(52-r)
    relative) and carry the row; the exact value is read back from ``weights``. Zero-stake rows
    get negative keys so they sort first and are never selected. The transpose to ``[B, n, k]``
    is fused into the first bit operation, and the crossing point is a ``searchsorted`` on the
    running stake instead of a comparison pass.
    """
    B, k, n = weights.shape
    row_bits = max(1, (k - 1).bit_length())
    row_mask = (1 << row_bits) - 1
    bits = weights.contiguous().view(torch.int64)
    rows = torch.arange(k, dtype=torch.int64)
    keys = torch.empty(B, n, k, dtype=torch.int64)
    torch.bitwise_and(bits.transpose(1, 2), ~row_mask, out=keys)
    keys.bitwise_or_(rows)
    idle = stake <= 0
    if bool(idle.any()):
        keys = torch.where(idle.unsqueeze(1), rows - (1 << 62), keys)
    keys.numpy().sort(axis=-1)  # in place, ascending
    order = keys.bitwise_and_(row_mask)  # [B, n, k] rows in ascending value order
    running = stake.gather(1, order.view(B, -1)).view(B, n, k).cumsum_(-1)
    total = stake.sum(-1)
    limit = (total - kappa).view(B, 1, 1).expand(B, n, 1).contiguous()
    # position p keeps stake(W >= v_p) = total - running[p - 1] >= κ, i.e. running[p - 1] <= limit;
    # the last such p is the number of running sums <= limit (capped at k - 1)
    position = torch.searchsorted(running, limit, right=True)
    # never an idle row (they sort first); with κ above the total stake this picks the smallest
    # value among staked rows, as the chain's quickselect does
    idle_rows = idle.sum(-1).view(B, 1, 1)
    position = torch.maximum(position, idle_rows).clamp_(max=k - 1)
    winner = order.gather(-1, position).view(B, 1, n)
    consensus = weights.gather(1, winner).squeeze(1)
    return consensus * (total > 0).to(consensus.dtype).unsqueeze(-1)


def liquid_alpha_v2(
    weights: torch.Tensor, bonds: torch.Tensor, consensus: torch.Tensor, params: EpochParams
) -> torch.Tensor:
    """LA2 per-(i, j) EMA rate: a sigmoid of how far a weight moves away from consensus/bond.

    ``x = clamp(w - c, 0, 1)`` when ``w >= b`` else ``clamp(b - w, 0, 1)``;
    ``α = clamp(lo + (hi - lo) / (1 + exp(clamp(-steepness/100 (x - 0.5), -20, 20))), lo, hi)``.
    """
    c = consensus.unsqueeze(1)
    buy = (weights - c).clamp(0.0, 1.0)
    sell = (bonds - weights).clamp(0.0, 1.0)
    x = torch.where(weights >= bonds, buy, sell)
    exponent = ((params.steepness / -100.0) * (x - 0.5)).clamp_(-20.0, 20.0)
    sigmoid = 1.0 / (1.0 + torch.exp(exponent))
    alpha = params.alpha_low + sigmoid * (params.alpha_high - params.alpha_low)
    return alpha.clamp_(params.alpha_low, params.alpha_high)


def _quantile(values: torch.Tensor, q: float) -> torch.Tensor:
    """Linear-interpolation quantile along the last axis (the chain's ``quantile``)."""
    ordered = torch.sort(values, dim=-1).values
    pos = q * (values.shape[-1] - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    frac = pos - lo
    return ordered[..., lo] + frac * (ordered[..., hi] - ordered[..., lo])


def liquid_alpha_v1(consensus: torch.Tensor, params: EpochParams) -> torch.Tensor | None:
    """LA1 per-miner EMA rate ``[B, 1, n]`` from a logistic through the consensus quartiles.

    The chain's rule (subtensor ``pallets/subtensor/src/epoch/run_epoch.rs``, earlier
    ``epoch.rs``: ``compute_ema_bonds[_sparse]`` and ``calculate_logistic_params`` as merged in
    PR #568, 5c66560a2, on main 2024-07-02 until liquid alpha v2, 1b0c63a71, 2025-05-28), per batch:

    * upper quartile ``c_high`` zero (all-zero consensus included): ``1 - bonds_moving_average``;
    * quartiles tied (``c_high <= c_low`` within rounding:
      :data:`~protocol.yuma._fused.LA1_QUARTILE_TIE_RTOL`) or a zero alpha bound: the logistic
      parameters are ``a = b = 0``, so every rate is ``clamp(0.5, alpha_low, alpha_high)``;
    * otherwise the logistic, also when the lower quartile is zero.
    """
    c_low = _quantile(consensus, 0.25).unsqueeze(-1)
    c_high = _quantile(consensus, 0.75).unsqueeze(-1)
    lo, hi = params.alpha_low, params.alpha_high
    logit_lo, logit_hi = la1_logit(lo), la1_logit(hi)
    used = c_high != 0
    flat = (c_high - c_low <= LA1_QUARTILE_TIE_RTOL * c_high) | (lo == 0.0) | (hi == 0.0)
    span = torch.where(flat | ~used, torch.ones_like(c_low), c_low - c_high)
    a = torch.where(flat, torch.zeros_like(span), (logit_hi - logit_lo) / span)
    b = torch.where(flat, torch.zeros_like(span), logit_lo + a * c_low)
    alpha = (1.0 / (1.0 + torch.exp(b - a * consensus))).clamp(lo, hi)
    fallback = torch.full_like(alpha, 1.0 - params.bonds_moving_average)
    return torch.where(used, alpha, fallback).unsqueeze(1)


def _flat_rows(rows: torch.Tensor, n: int) -> torch.Tensor:
    """Row indices ``[B, k]`` of ``[B, n, m]`` as indices into its ``[B * n, m]`` view."""
    offsets = torch.arange(rows.shape[0], device=rows.device).unsqueeze(1) * n
    return (rows + offsets).reshape(-1)


def _gather_rows(matrix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``matrix[b, rows[b, r], :]`` as a new ``[B, k, m]`` tensor.

    ``index_select`` on the flattened ``[B * n, m]`` view copies whole rows (about 3x faster
    than an element-wise ``gather`` here).
    """
    B, n, m = matrix.shape
    flat = matrix.reshape(B * n, m).index_select(0, _flat_rows(rows, n))
    return flat.view(B, rows.shape[1], m)


def _scatter_rows_(matrix: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``matrix[b, rows[b, r], :] = values[b, r, :]`` in place (rows unique per batch)."""
    B, n, m = matrix.shape
    if matrix.is_contiguous():
        matrix.view(B * n, m).index_copy_(0, _flat_rows(rows, n), values.reshape(-1, m))
    else:
        matrix.scatter_(1, rows.unsqueeze(-1).expand(-1, -1, m), values)
    return matrix


def _slice_rows(
    inputs: EpochInputs,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of the validator slice ``[B, k]``, whether each slot is a real permit row, and the
    chain's "old permit" flag per uid used by the bond storage rule."""
    B, n = inputs.stake.shape
    device = inputs.stake.device
    uids = torch.arange(n, device=device)
    vp = inputs.validator_permit_prev
    if vp is None:
        rows = uids.expand(B, n)
        return (
            rows,
            torch.ones(B, n, dtype=torch.bool, device=device),
            torch.zeros_like(rows, dtype=torch.bool),
        )
    # the owner always holds a permit: OR its one-hot row (no uid matches -1, no owner) into a
    # fresh copy, rather than an indexed write
    permitted = vp | (uids == inputs.owner_uid.unsqueeze(-1))
    counts = permitted.sum(-1)
    k = max(int(counts.max()), 1)
    if k == n:
        rows = uids.expand(B, n)
    elif bool((counts == k).all()):
        # the same permit count everywhere: the permitted uids in uid order, no sort
        rows = torch.nonzero(permitted)[:, 1].view(B, k)
    else:
        # stable descending sort: permitted uids first, each group in uid order
        rows = torch.sort(permitted.to(torch.int8), dim=-1, descending=True, stable=True).indices[
            :, :k
        ]
    return rows, permitted.gather(1, rows), permitted


def resolve_backend(
    backend: str, mechanism: Mechanism, device: torch.device, dtype: torch.dtype = torch.float64
) -> str:
    """The backend that runs the heavy epoch steps: ``"torch"`` or ``"fused"``.

    The rule is protocol's one backend switch (:func:`protocol._numba.choose_backend`):
    ``"auto"`` picks the fused numba kernel (:mod:`protocol.yuma._fused`) on CPU for float64
    when numba is installed and the mechanism keeps the chain's ``consensus`` and
    ``bonds_and_dividends`` hooks (overriding ``consensus_stake`` is fine), and the torch path
    otherwise (CUDA, a mechanism with its own consensus or bonds, no numba). ``"fused"`` raises
    :class:`ValueError` naming the reason where it cannot run; ``"torch"`` always runs torch.
    """
    obstacles = []
    if device.type != "cpu":
        obstacles.append(f"device {device} is not the CPU")
    if dtype != torch.float64:
        obstacles.append(f"dtype {dtype} is not float64")
    overridden = mechanism.overrides("consensus", "bonds_and_dividends")
    if overridden:
        obstacles.append(f"mechanism {mechanism.name!r} overrides {', '.join(overridden)}")
    return choose_backend(backend, obstacles)


def run_float_epoch(
    inputs: EpochInputs,
    params: EpochParams,
    mechanism: Mechanism,
    *,
    inplace_bonds: bool = False,
    backend: Backend = "auto",
) -> EpochResult:
    """Run one batched float64 epoch (see the module docstring); ``mechanism`` supplies the hooks.

    With ``inplace_bonds`` the new bonds are written into ``inputs.bonds`` (saving a full
    ``[B, n, n]`` copy per epoch), which is then the result's ``bonds``. ``backend`` picks the
    torch path or the fused CPU kernel for steps 5-10 (see :func:`resolve_backend`).
    """
    params = mechanism.resolve_params(params)
    B, n = inputs.stake.shape
    device = inputs.stake.device
    if _numba_steps_apply(inputs, params) and (
        resolve_backend(backend, mechanism, device, inputs.weights.dtype) == "fused"
    ):
        return _run_numba_epoch(inputs, params, mechanism, inplace_bonds=inplace_bonds)
    cpu = device.type == "cpu"
    # On the CPU the integer compares run in numpy on views (the same bools, no dispatch each).
    if cpu:
        owner_mask = torch.from_numpy(np.arange(n) == inputs.owner_uid.numpy()[:, None])
    else:
        owner_mask = torch.arange(n, device=device) == inputs.owner_uid.unsqueeze(-1)  # [B, n]

    # 1 activity
    if inputs.last_update is not None and inputs.block is not None and cpu:
        cutoff = inputs.last_update.numpy() + params.cutoff_blocks
        active = torch.from_numpy(cutoff >= inputs.block.numpy()[:, None])
    elif inputs.last_update is not None and inputs.block is not None:
        active = (inputs.last_update + params.cutoff_blocks) >= inputs.block.unsqueeze(-1)
    else:
        active = torch.ones(B, n, dtype=torch.bool, device=device)

    # 2 stake threshold (the owner always passes) and normalisation
    stake = inputs.stake
    if params.stake_threshold > 0:
        below = (torch.floor(stake) < params.stake_threshold) & ~owner_mask
        stake = stake.masked_fill(below, 0.0)
    stake = normalize(stake)

    # 3 permits
    vp_new = topk_nonzero(stake, params.max_validators) | owner_mask
    rows, row_valid, vp_old = _slice_rows(inputs)

    # 4 active stake
    active_stake = stake * active
    if inputs.validator_permit_prev is not None:
        active_stake = active_stake * vp_old
    active_stake = normalize(active_stake)
    a = active_stake.gather(1, rows) * row_valid  # [B, k]
    validators = ValidatorSlice(
        stake=stake,
        active=active,
        active_stake=active_stake,
        permit=vp_new,
        permit_prev=vp_old,
        rows=rows,
        row_valid=row_valid,
        slice_stake=mechanism.consensus_stake(a, params),
    )

    if resolve_backend(backend, mechanism, device, inputs.weights.dtype) == "fused":
        outputs = run_fused_slice(inputs, params, validators, inplace_bonds=inplace_bonds)
        return _finish_fused(inputs, mechanism, validators, outputs)
    outputs = _torch_slice(inputs, params, mechanism, validators, inplace_bonds=inplace_bonds)
    return _finish(inputs, mechanism, validators, outputs)


def _numba_steps_apply(inputs: EpochInputs, params: EpochParams) -> bool:
    """Whether steps 1-4 can run in numba (:mod:`protocol.yuma._fused_prep`) with results
    bit-identical to the torch steps: CPU float64 contiguous stake (so that the torch row sums
    see the same layout), a non-empty batch and integer parameters that fit an int64."""
    stake = inputs.stake
    return (
        HAVE_NUMBA
        and stake.device.type == "cpu"
        and stake.dtype == torch.float64
        and not stake.requires_grad
        and stake.is_contiguous()
        and stake.shape[0] > 0
        and stake.shape[1] > 0
        and _params_fit(params)
    )


def _row_sums(values: np.ndarray) -> np.ndarray:
    """Row sums of a contiguous ``[B, n]`` float64 array by torch, as ``normalize`` takes them
    (numpy's pairwise sums round differently)."""
    return torch.from_numpy(values).sum(-1).numpy()


def _int_rows(value: np.ndarray | None, shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """An int64 array and ``True``; a dummy of ``shape`` and ``False`` for ``None``."""
    if value is None:
        return np.zeros(shape, dtype=np.int64), False
    return value, True


class FusedEpoch(NamedTuple):
    """What :func:`fused_epoch_arrays` returns: the stages' values as numpy arrays.

    ``[B, n]``: ``stake``, ``active``, ``active_stake``, ``permit`` (as in
    :class:`~protocol.yuma.stages.ValidatorSlice`), ``consensus``, ``incentive``, and the
    step 11 outputs of :class:`~protocol.yuma.result.EpochResult` (``dividends``,
    ``validator_trust``, ``server_emission``, ``validator_emission``, ``emission``).
    """

    stake: np.ndarray
    active: np.ndarray
    active_stake: np.ndarray
    permit: np.ndarray
    consensus: np.ndarray
    incentive: np.ndarray
    dividends: np.ndarray
    validator_trust: np.ndarray
    server_emission: np.ndarray
    validator_emission: np.ndarray
    emission: np.ndarray


def fused_epoch_applies(params: EpochParams, mechanism: Mechanism, backend: Backend) -> bool:
    """Whether :func:`run_float_epoch` runs a CPU float64 epoch with contiguous inputs and
    these (resolved) ``params`` through :func:`fused_epoch_arrays` (numba steps 1-4, the fused
    kernel and the numba step 11): a caller holding numpy arrays may then call it directly.

    ``False`` where the torch path would run; for ``backend="fused"`` where the kernel cannot
    run, too (:func:`run_float_epoch` raises the error there).
    """
    return (
        HAVE_NUMBA
        and backend in ("auto", "fused")
        and _params_fit(params)
        and not mechanism.overrides("consensus", "bonds_and_dividends")
    )


def _params_fit(params: EpochParams) -> bool:
    """Whether the integer parameters of the numba steps fit an int64."""
    return (
        abs(params.cutoff_blocks) < 1 << 62
        and params.max_validators < 1 << 62
        and abs(params.tempo) < 1 << 62
    )


def fused_epoch_arrays(
    weights: np.ndarray,
    stake_in: np.ndarray,
    bonds: np.ndarray,
    rao_emission: np.ndarray,
    owner: np.ndarray,
    lms: np.ndarray,
    params: EpochParams,
    mechanism: Mechanism,
    *,
    last_update: np.ndarray | None = None,
    registration: np.ndarray | None = None,
    block: np.ndarray | None = None,
    permit_prev_in: np.ndarray | None = None,
    commit_block: np.ndarray | None = None,
    weights_present: np.ndarray | None = None,
    empty_permit_vector: bool = False,
    live_rows: np.ndarray | None = None,
) -> FusedEpoch:
    """The fused float epoch on numpy arrays (CPU): numba steps 1-4, the fused kernel for
    steps 5-10 and bond storage, numba step 11; bit-identical to :func:`run_float_epoch` on
    the fused backend, which calls it (with the checks of :func:`protocol.yuma.yuma_epoch`).

    The arrays are :class:`~protocol.yuma.stages.EpochInputs`'s, C-contiguous, unchecked:
    ``weights`` and ``bonds`` ``[B, n, n]`` and ``stake_in`` ``[B, n]`` float64,
    ``rao_emission`` ``[B]`` float64, ``owner`` and ``lms`` ``[B]`` int64; optional ``[B, n]``
    int64 ``last_update``, ``registration``, ``commit_block``, ``[B]`` int64 ``block``,
    ``[B, n]`` bool ``permit_prev_in`` and ``[B, n, n]`` bool ``weights_present``. ``params``
    are resolved (:meth:`Mechanism.resolve_params`) and :func:`fused_epoch_applies` holds.
    The new bond rows are written into ``bonds`` in place (the caller copies if it must).
    ``live_rows`` (``[B, n]`` bool, optional): ``False`` where the caller knows the uid's weight
    row and bond row to be all ``+0.0`` (and its ``weights_present`` row all ``False``); the
    kernel then does not read those rows (same results). ``None``: every permit row is read.
    The two stake row sums run in torch, as the torch path takes them
    (:mod:`protocol.yuma._fused_prep`).
    """
    B, n = stake_in.shape
    f64 = np.float64
    last_update_rows, has_last_update = _int_rows(last_update, (B, n))
    block_rows, has_block = _int_rows(block, (B,))
    registration_rows, has_registration = _int_rows(registration, (B, n))
    commit, has_commit = _int_rows(commit_block, (B, n))

    # the stages' outputs, allocated in blocks of one dtype and shape (one allocation each)
    (
        masked,
        stake,
        active_raw,
        active_stake,
        consensus,
        incentive,
        *finished,
    ) = np.empty((11, B, n), dtype=f64)
    owner_mask, active, permit, permit_prev, recent = np.empty((5, B, n), dtype=np.bool_)
    # 1 activity, 2 stake threshold
    stake_rows(
        stake_in,
        owner,
        last_update_rows,
        block_rows,
        has_last_update and has_block,
        int(params.cutoff_blocks),
        params.stake_threshold > 0,
        float(params.stake_threshold),
        owner_mask,
        active,
        masked,
    )
    # 2 normalisation, 3 permits, 4 active stake (before its normalisation)
    has_permits = permit_prev_in is not None
    rows_all = np.empty((B, n), dtype=np.int64)
    k, needs_topk = permit_rows(
        masked,
        _row_sums(masked),
        owner_mask,
        active,
        permit_prev_in if permit_prev_in is not None else owner_mask,
        has_permits,
        int(params.max_validators),
        stake,
        permit,
        permit_prev,
        rows_all,
        active_raw,
    )
    if needs_topk:  # more candidates than permits somewhere: the torch selection
        permit = topk_nonzero_array(stake, params.max_validators) | owner_mask
    rows = np.ascontiguousarray(rows_all[:, :k])
    # 4 active stake, the slice, and the kernel's row masks
    slice_stake, trust_slice, dividends_slice = np.empty((3, B, k), dtype=f64)
    row_valid, keep_new, lost, keep_self = np.empty((4, B, k), dtype=np.bool_)
    drop_from = np.empty((B, k), dtype=np.int64)
    slice_masks(
        active_raw,
        _row_sums(active_raw),
        rows,
        has_permits,
        permit,
        permit_prev,
        owner,
        last_update_rows,
        has_last_update,
        commit,
        has_commit,
        registration_rows,
        has_registration,
        empty_permit_vector,
        block_rows,
        lms,
        has_block and has_registration,
        params.scheduling == "head",
        int(params.tempo),
        active_stake,
        slice_stake,
        row_valid,
        keep_new,
        lost,
        keep_self,
        drop_from,
        recent,
    )
    if mechanism.overrides("consensus_stake"):
        consensus_stake = torch.from_numpy(slice_stake)
        consensus_stake = mechanism.consensus_stake(consensus_stake, params)
        slice_stake = consensus_stake.to(torch.float64).contiguous().numpy()
    # 5-10 and bond storage
    slice_kernel(
        weights,
        weights_present,
        bonds,
        KernelRows(
            rows=rows,
            row_valid=row_valid,
            keep_self=keep_self,
            drop_from=drop_from,
            registration=registration_rows,
            recent=recent,
            slice_stake=slice_stake,
            keep_new=keep_new,
            lost=lost,
            live_rows=live_rows,
        ),
        params,
        consensus,
        incentive,
        trust_slice,
        dividends_slice,
    )
    # 11 scatter back to uids, emission split
    finish_rows(
        rows, trust_slice, dividends_slice, incentive, active_stake, stake, rao_emission, *finished
    )
    validator_trust, dividends, server, validator, emission = finished
    return FusedEpoch(
        stake=stake,
        active=active,
        active_stake=active_stake,
        permit=permit,
        consensus=consensus,
        incentive=incentive,
        dividends=dividends,
        validator_trust=validator_trust,
        server_emission=server,
        validator_emission=validator,
        emission=emission,
    )


def _optional_rows(value: torch.Tensor | None) -> np.ndarray | None:
    """A CPU tensor as a C-contiguous numpy array (``None`` stays ``None``)."""
    return None if value is None else np.ascontiguousarray(value.numpy())


def _run_numba_epoch(
    inputs: EpochInputs, params: EpochParams, mechanism: Mechanism, *, inplace_bonds: bool
) -> EpochResult:
    """:func:`run_float_epoch` on the fused backend with steps 1-4 in numba (bit-identical to
    the torch steps; see :mod:`protocol.yuma._fused_prep`): :func:`fused_epoch_arrays` on
    views of the inputs."""
    if inplace_bonds and inputs.bonds.is_contiguous():
        bonds = inputs.bonds
    else:
        # the kernel reads each row's old bonds before it writes that row, so the copy serves
        # as both input and output
        bonds = fresh_copy(inputs.bonds)
    present = inputs.weights_present
    epoch = fused_epoch_arrays(
        inputs.weights.contiguous().numpy(),
        inputs.stake.numpy(),
        bonds.numpy(),
        inputs.rao_emission.to(torch.float64).contiguous().numpy(),
        np.ascontiguousarray(inputs.owner_uid.numpy()),
        np.ascontiguousarray(inputs.lms.numpy()),
        params,
        mechanism,
        last_update=_optional_rows(inputs.last_update),
        registration=_optional_rows(inputs.registration),
        block=_optional_rows(inputs.block),
        permit_prev_in=_optional_rows(inputs.validator_permit_prev),
        commit_block=_optional_rows(inputs.commit_block),
        weights_present=None if present is None else present.contiguous().numpy(),
        empty_permit_vector=inputs.empty_permit_vector,
    )
    if inplace_bonds and bonds is not inputs.bonds:
        inputs.bonds.copy_(bonds)
        bonds = inputs.bonds
    tensor = torch.from_numpy  # views of the fresh arrays
    return EpochResult(
        consensus=tensor(epoch.consensus),
        incentive=tensor(epoch.incentive),
        dividends=tensor(epoch.dividends),
        validator_trust=tensor(epoch.validator_trust),
        server_emission=tensor(epoch.server_emission),
        validator_emission=tensor(epoch.validator_emission),
        emission=tensor(epoch.emission),
        validator_permit=tensor(epoch.permit),
        active=tensor(epoch.active),
        stake=tensor(epoch.stake),
        active_stake=tensor(epoch.active_stake),
        bonds=bonds,
        mechanism=mechanism.name,
    )


def _torch_slice(
    inputs: EpochInputs,
    params: EpochParams,
    mechanism: Mechanism,
    validators: ValidatorSlice,
    *,
    inplace_bonds: bool,
) -> SliceOutputs:
    """Steps 5-10 and bond storage in torch (the reference path, any device); the fused twin
    is :func:`protocol.yuma._fused.run_fused_slice`."""
    rows, row_valid, a = validators.rows, validators.row_valid, validators.slice_stake
    # 5 weights: masks then row normalisation, on the slice
    all_valid = bool(row_valid.all())
    w = _gather_rows(inputs.weights, rows)  # a fresh copy: masked in place below
    present = None if inputs.weights_present is None else _gather_rows(inputs.weights_present, rows)
    # self-weights: zero each slice row's diagonal entry except the owner's, O(B k) not O(B k n)
    diagonal = rows.unsqueeze(-1)
    keep_self = (rows == inputs.owner_uid.unsqueeze(-1)).unsqueeze(-1)
    w.scatter_(2, diagonal, w.gather(2, diagonal) * keep_self)
    if present is not None:
        present.scatter_(2, diagonal, present.gather(2, diagonal) & keep_self)
    drop: torch.Tensor | None = None if all_valid else ~row_valid.unsqueeze(-1)
    if inputs.empty_permit_vector:
        # subtensor HEAD mask_rows_sparse: a missing mask entry masks its row (unwrap_or(true))
        drop = torch.ones_like(row_valid).unsqueeze(-1)
    if inputs.last_update is not None and inputs.registration is not None:
        updated = inputs.last_update.gather(1, rows)
        # build the [B, k, n] mask only if some weight can predate a registration
        if bool((updated.amin(-1) <= inputs.registration.amax(-1)).any()):
            outdated = updated.unsqueeze(-1) <= inputs.registration.unsqueeze(1)
            drop = outdated if drop is None else drop | outdated
    if inputs.commit_block is not None and inputs.registration is not None:
        committed = inputs.commit_block.gather(1, rows).unsqueeze(-1)
        uncommitted = committed < inputs.registration.unsqueeze(1)
        drop = uncommitted if drop is None else drop | uncommitted
    if drop is not None:
        w.masked_fill_(drop, 0.0)
        if present is not None:
            present &= ~drop
    row_sum = w.sum(-1, keepdim=True)
    w.div_(torch.where(row_sum > 0, row_sum, torch.ones_like(row_sum)))

    # 6-8 consensus, clipping, trust, incentive
    consensus = mechanism.consensus(w, a, params)
    clipped = torch.minimum(w, consensus.unsqueeze(1))
    trust_slice = clipped.sum(-1)
    ranks = torch.bmm(a.unsqueeze(1), clipped).squeeze(1)
    incentive = normalize(ranks)

    # 9 weights used for bonds, recently registered miners
    beta = params.bonds_penalty
    wb_present = None
    if beta == 0.0:
        w_bonds, wb_present = w, present
    elif beta == 1.0:
        w_bonds = clipped
        if present is not None:
            # sparse clipping drops entries above a zero consensus
            wb_present = present & ~((w > consensus.unsqueeze(1)) & (consensus.unsqueeze(1) == 0))
    else:
        w_bonds = (w + beta * (clipped - w)).clamp_(min=0.0)
    previous_rows = _gather_rows(inputs.bonds, rows)
    old_bonds = previous_rows if all_valid else previous_rows * row_valid.unsqueeze(-1)
    if inputs.block is not None and inputs.registration is not None:
        if params.scheduling == "head":
            last_tempo = torch.where(inputs.lms == 0, inputs.block - params.tempo, inputs.lms + 1)
        else:
            last_tempo = inputs.block - params.tempo
        recent = last_tempo.unsqueeze(-1) <= inputs.registration
        if bool(recent.any()):
            old_bonds = old_bonds.masked_fill(recent.unsqueeze(1), 0.0)

    # 10 bonds and dividends
    dividends_slice, new_bonds = mechanism.bonds_and_dividends(
        w_bonds, old_bonds, a, consensus, incentive, params, wb_present
    )

    # 12 bond storage: new rows for new permits, cleared rows for lost permits, else untouched
    keep_new = validators.permit.gather(1, rows)
    if bool(keep_new.all()):
        stored = new_bonds
    else:
        lost = (validators.permit_prev.gather(1, rows) & ~keep_new).unsqueeze(-1)
        stored = torch.where(
            keep_new.unsqueeze(-1),
            new_bonds,
            torch.where(lost, torch.zeros_like(new_bonds), previous_rows),
        )
    if inplace_bonds:
        bonds_out = inputs.bonds
    elif inputs.bonds.device.type == "cpu":
        bonds_out = fresh_copy(inputs.bonds)  # huge-page backed (cheaper to fault in)
    else:
        bonds_out = inputs.bonds.clone()
    _scatter_rows_(bonds_out, rows, stored)
    return SliceOutputs(
        consensus=consensus,
        incentive=incentive,
        trust=trust_slice,
        dividends=dividends_slice,
        bonds=bonds_out,
    )


def _finish(
    inputs: EpochInputs,
    mechanism: Mechanism,
    validators: ValidatorSlice,
    outputs: SliceOutputs,
) -> EpochResult:
    """Scatter the slice outputs back to uids and split the emission (step 11; the reference
    path, any device)."""
    B, n = inputs.stake.shape
    device, dtype = inputs.stake.device, inputs.stake.dtype
    rows, stake, active_stake = validators.rows, validators.stake, validators.active_stake
    incentive = outputs.incentive
    # scatter slice quantities back to uids
    validator_trust = torch.zeros(B, n, dtype=dtype, device=device).scatter_(1, rows, outputs.trust)
    dividends = torch.zeros(B, n, dtype=dtype, device=device).scatter_(1, rows, outputs.dividends)

    # 11 emission split
    combined = incentive + dividends
    esum = combined.sum(-1, keepdim=True)
    safe = torch.where(esum > 0, esum, torch.ones_like(esum))
    server = incentive / safe
    validator = dividends / safe
    combined_norm = combined / safe  # normalize(combined), reusing its sum
    fallback = torch.where((active_stake.sum(-1, keepdim=True) > 0), active_stake, stake)
    nothing = esum == 0
    validator = torch.where(nothing, fallback, validator)
    combined_norm = torch.where(nothing, fallback, combined_norm)
    emission_scale = inputs.rao_emission.unsqueeze(-1)

    return EpochResult(
        consensus=outputs.consensus,
        incentive=incentive,
        dividends=dividends,
        validator_trust=validator_trust,
        server_emission=server * emission_scale,
        validator_emission=validator * emission_scale,
        emission=combined_norm * emission_scale,
        validator_permit=validators.permit,
        active=validators.active,
        stake=stake,
        active_stake=active_stake,
        bonds=outputs.bonds,
        mechanism=mechanism.name,
    )


def _finish_fused(
    inputs: EpochInputs,
    mechanism: Mechanism,
    validators: ValidatorSlice,
    outputs: SliceOutputs,
) -> EpochResult:
    """:func:`_finish` in one numba pass per subnet (CPU, float64; the fused backend)."""
    B, n = inputs.stake.shape
    buffers = [np.empty((B, n)) for _ in range(5)]  # numpy-allocated: no dispatch each
    finish_rows(
        validators.rows.contiguous().numpy(),
        outputs.trust.contiguous().numpy(),
        outputs.dividends.contiguous().numpy(),
        outputs.incentive.contiguous().numpy(),
        validators.active_stake.contiguous().numpy(),
        validators.stake.contiguous().numpy(),
        inputs.rao_emission.to(torch.float64).contiguous().numpy(),
        *buffers,
    )
    validator_trust, dividends, server, validator, emission = map(torch.from_numpy, buffers)
    return EpochResult(
        consensus=outputs.consensus,
        incentive=outputs.incentive,
        dividends=dividends,
        validator_trust=validator_trust,
        server_emission=server,
        validator_emission=validator,
        emission=emission,
        validator_permit=validators.permit,
        active=validators.active,
        stake=validators.stake,
        active_stake=validators.active_stake,
        bonds=outputs.bonds,
        mechanism=mechanism.name,
    )


def classic_bonds(
    w_bonds: torch.Tensor,
    old_bonds: torch.Tensor,
    stake: torch.Tensor,
    consensus: torch.Tensor,
    incentive: torch.Tensor,
    params: EpochParams,
    w_present: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Classic chain bonds (``compute_ema_bonds_normal_sparse``): EMA of column-normalised ΔB,
    max-upscaled storage.

    Returns the slice dividends ``[B, k]`` and the stored bonds ``[B, k, n]`` (u16/65535 scale).
    """
    bonds_prev = col_normalize(old_bonds)
    delta = col_normalize(w_bonds * stake.unsqueeze(-1))
    if params.liquid_alpha and params.liquid_alpha_version == "v1":
        alpha: torch.Tensor | float = liquid_alpha_v1(consensus, params)
    else:
        alpha = 1.0 - params.bonds_moving_average
    ema = col_normalize(alpha * delta + (1.0 - alpha) * bonds_prev)
    dividends = normalize(torch.bmm(ema, incentive.unsqueeze(-1)).squeeze(-1))
    col_max = ema.amax(1, keepdim=True)
    stored = ema / torch.where(col_max > 0, col_max, torch.ones_like(col_max))
    return dividends, stored


def yuma3_bonds(
    w_bonds: torch.Tensor,
    old_bonds: torch.Tensor,
    stake: torch.Tensor,
    consensus: torch.Tensor,
    incentive: torch.Tensor,
    params: EpochParams,
    w_present: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Yuma 3 bonds (``compute_bonds_sparse``): absolute bonds in [0, 1], optional LA2, sparse bond drop.

    ``w_present`` marks weight entries that exist (possibly with value 0); without it an entry
    exists where ``w_bonds > 0``. Returns the slice dividends ``[B, k]`` and the new absolute
    bonds ``[B, k, n]``.
    """
    use_liquid = (
        params.liquid_alpha and params.liquid_alpha_version == "v2" and bool((consensus != 0).any())
    )
    if use_liquid:
        alpha = liquid_alpha_v2(w_bonds, old_bonds, consensus, params)
        # per batch: liquid alpha only where that subnet has a non-zero consensus
        any_c = (consensus != 0).any(-1).view(-1, 1, 1)
        alpha = torch.where(any_c, alpha, torch.full_like(alpha, 1.0 - params.bonds_moving_average))
        new = ((1.0 - alpha) * old_bonds + (alpha * w_bonds).clamp_(min=0.0)).clamp_(max=1.0)
        if params.sparse_bond_drop:
            # on chain only entries present in the weight row survive (present <=> > 0 here)
            exists = w_present if w_present is not None else w_bonds > 0
            new = torch.where(any_c & ~exists, torch.zeros_like(new), new)
    else:
        # α W + (1 - α) B in one fused pass
        new = torch.lerp(old_bonds, w_bonds, 1.0 - params.bonds_moving_average)
    # Σ_j (B_ij / Σ_i B_ij) I_j without materialising the column-normalised matrix
    col_sum = new.sum(1)
    weighted_incentive = torch.where(col_sum > 0, incentive / col_sum, torch.zeros_like(col_sum))
    per_validator = torch.bmm(new, weighted_incentive.unsqueeze(-1)).squeeze(-1)
    dividends = normalize(per_validator * stake)
    return dividends, new
