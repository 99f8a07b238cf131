"""The Yuma epoch in the chain's integer fixed point (I32F32 / I64F64 / I96F32), bit-exact.

Follows subtensor HEAD's sparse ``epoch_mechanism`` step by step (``pallets/subtensor/src/
epoch/run_epoch.rs`` @ ``14bc6f9f``; docs/yuma.md). Matrices are
dense numpy int64 arrays of I32F32 bits plus boolean "entry present" masks where the sparse
representation matters (clipping drops, interpolation, the liquid-alpha bond drop). Only rows
that carry active stake, weights or bonds are computed; the other rows are empty on chain too.

Vectors over uids use numpy int64 as well; stake normalisation (I64F64) and the emission
multiplication (I96F32) use Python integers. The liquid-alpha sigmoid uses substrate-fixed's
Taylor-series ``exp`` (:func:`~protocol.yuma.fixedpoint.fx_exp`); only LA1 (2024-25 era) evaluates
its logistic in float64 (its quartiles and branch rule are fixed point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain

import numpy as np

from protocol.yuma.fixedpoint import (
    FRAC,
    ONE,
    U16_MAX,
    fx_div,
    fx_exp,
    fx_from_u16,
    fx_mul,
    fx_normalize,
    fx_to_u16_proportion,
    u16_proportion,
)
from protocol.yuma.state import SubnetState

__all__ = ["ExactResult", "dense_rows", "exact_epoch", "exact_weighted_median"]

_NO_COMMIT = (1 << 63) - 1


@dataclass(frozen=True)
class ExactResult:
    """Chain outputs of one exact epoch (u16 proportions, u64 emissions, stored bond rows).

    The ``*_fx`` fields hold the I32F32 bits before storage conversion (for diagnostics).
    """

    consensus_u16: list[int]
    incentive_u16: list[int]
    dividends_u16: list[int]
    validator_trust_u16: list[int]
    stake_weight_u16: list[int]
    server_emission: list[int]
    validator_emission: list[int]
    emission: list[int]
    bonds: list[dict[int, int]]
    validator_permit: list[bool]
    active: list[bool]
    consensus_fx: np.ndarray
    incentive_fx: np.ndarray
    dividends_fx: np.ndarray


def _col_normalize(x: np.ndarray) -> np.ndarray:
    """``inplace_col_normalize_sparse``: divide by column sums; zero columns untouched."""
    total = x.sum(axis=0, keepdims=True)
    return np.where(total != 0, fx_div(x, total), x)


def _topk_nonzero(stake: np.ndarray, k: int) -> np.ndarray:
    """``is_topk_nonzero``: stable ascending sort, the first n-k uids lose (ties → higher uid)."""
    n = len(stake)
    result = stake != 0
    if n < k:
        return result
    order = np.argsort(stake, kind="stable")
    result[order[: n - k]] = False
    return result


def exact_weighted_median(stake: np.ndarray, values: np.ndarray, kappa: int) -> np.ndarray:
    """Chain ``weighted_median_col_sparse`` on I32F32 bits.

    Parameters
    ----------
    stake
        ``[p]`` positive stake of the consensus set (renormalised here, as on chain).
    values
        ``[p, n]`` weights of those rows (missing entries 0).
    kappa
        κ as I32F32 bits (the chain's ``majority``).

    Returns
    -------
    numpy.ndarray
        ``[n]`` consensus bits: the largest value ``v`` with ``stake(W >= v) >= κ`` (all integer
        sums, so exactly the quickselect's choice); the column minimum if no value qualifies.
    """
    p, n = values.shape
    if p == 0:
        return np.zeros(n, dtype=np.int64)
    use = fx_normalize(stake)
    order = np.argsort(-values, axis=0, kind="stable")
    ordered = np.take_along_axis(values, order, axis=0)
    reached = np.cumsum(use[order], axis=0) < kappa
    position = np.minimum(reached.sum(axis=0), p - 1)
    return ordered[position, np.arange(n)]


def _stake_i64f64(value: int | float) -> int:
    """I64F64 bits of a stake amount (``from_num`` rounds floats to nearest)."""
    if isinstance(value, int):
        return value << 64
    return round(Fraction(value) * (1 << 64))


def dense_rows(rows: tuple[dict[int, int], ...], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sparse u16 rows → dense int64 values and a presence mask (two bulk conversions)."""
    values = np.zeros((n, n), dtype=np.int64)
    present = np.zeros((n, n), dtype=bool)
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    total = int(lengths.sum())
    if total:
        row_ids = np.repeat(np.arange(len(rows)), lengths)
        cols = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=total)
        vals = np.fromiter(
            chain.from_iterable(row.values() for row in rows), dtype=np.int64, count=total
        )
        values[row_ids, cols] = vals
        present[row_ids, cols] = True
    return values, present


def _liquid_alpha_v2(
    w_bonds: np.ndarray, old_bonds: np.ndarray, consensus: np.ndarray, state: SubnetState
) -> np.ndarray:
    """LA2 ``alpha_sigmoid`` per (i, j) as I32F32 bits, in the chain's fixed point."""
    lo = int(u16_proportion(state.alpha_low_u16))
    hi = int(u16_proportion(state.alpha_high_u16))
    c = consensus[None, :]
    buy = np.clip(w_bonds - c, 0, ONE)
    sell = np.clip(old_bonds - w_bonds, 0, ONE)
    x = np.where(w_bonds >= old_bonds, buy, sell)
    slope = int(fx_div(state.steepness << FRAC, -100 << FRAC))
    exponent = np.clip(fx_mul(slope, x - (ONE >> 1)), -20 << FRAC, 20 << FRAC)
    sigmoid = fx_div(ONE, ONE + fx_exp(exponent))
    alpha = lo + fx_mul(sigmoid, hi - lo)
    return np.clip(alpha, lo, hi)


def _chain_quantile(values: np.ndarray, q: float) -> int:
    """The chain's ``quantile`` on I32F32 bits: linear interpolation, product floored.

    ``pallets/subtensor/src/epoch/math.rs`` ``quantile`` (LA1 era, e.g. subtensor 5073ade60):
    ``low + (high - low) * weight`` with ``weight = pos - floor(pos)`` as I32F32, 0 if empty.
    """
    ordered = np.sort(values)
    if len(ordered) == 0:
        return 0
    position = q * (len(ordered) - 1)
    low_i, high_i = math.floor(position), math.ceil(position)
    low, high = int(ordered[low_i]), int(ordered[high_i])
    if low_i == high_i:
        return low
    weight = round(Fraction(position - low_i) * ONE)  # from_num rounds to nearest
    return low + int(fx_mul(high - low, weight))


def _la1_logit_bits(alpha: int) -> float:
    """``safe_ln(1 / alpha - 1)`` of an I32F32 alpha bound (``safe_ln`` is 0 where ``ln`` fails)."""
    odds = int(fx_div(ONE, alpha)) - ONE
    return math.log(odds / ONE) if odds > 0 else 0.0


def _liquid_alpha_v1(consensus: np.ndarray, state: SubnetState, fallback: int) -> np.ndarray:
    """LA1 per-miner alpha (logistic through the consensus quartiles), I32F32 bits ``[n]``.

    The branch rule is the chain's, in its fixed point (subtensor ``pallets/subtensor/src/
    epoch/run_epoch.rs``, earlier ``epoch.rs``, ``compute_ema_bonds[_sparse]`` and
    ``calculate_logistic_params`` as merged in PR #568, 5c66560a2, and on main from PR #552,
    2024-07-02, until liquid alpha v2 replaced them, 1b0c63a71, 2025-05-28):

    * no consensus, all of it zero, or an upper quartile ``c_high`` of 0: ``fallback``
      (``1 - bonds_moving_average``; the guard is ``c_high > c_low || c_high != 0 || c_low < 0``);
    * ``c_high <= c_low`` (tied quartiles) or a zero alpha bound: ``calculate_logistic_params``
      returns ``a = b = 0``, so every alpha is ``clamp(1 / (1 + e^0), alpha_low, alpha_high)``,
      i.e. ``clamp(0.5, ...)``;
    * otherwise (a zero lower quartile included) the logistic.

    The quartiles and the clamp bounds are the chain's bits; the logistic itself is evaluated
    in float64 (the chain's ``safe_ln``/``safe_exp`` are not reproduced bit for bit).
    """
    if len(consensus) == 0 or not bool((consensus != 0).any()):
        return np.full(len(consensus), fallback, dtype=np.int64)
    c_high = _chain_quantile(consensus, 0.75)
    c_low = _chain_quantile(consensus, 0.25)
    if not (c_high > c_low or c_high != 0 or c_low < 0):
        return np.full(len(consensus), fallback, dtype=np.int64)
    lo = int(u16_proportion(state.alpha_low_u16))
    hi = int(u16_proportion(state.alpha_high_u16))
    if c_high <= c_low or lo == 0 or hi == 0:
        flat = max(min(ONE >> 1, hi), lo)  # alpha.min(alpha_high).max(alpha_low)
        return np.full(len(consensus), flat, dtype=np.int64)
    logit_lo, logit_hi = _la1_logit_bits(lo), _la1_logit_bits(hi)
    low_f, high_f = c_low / ONE, c_high / ONE
    a = (logit_hi - logit_lo) / (low_f - high_f)
    b = logit_lo + a * low_f
    with np.errstate(over="ignore"):  # a steep logistic: exp overflows to inf, alpha to 0
        alpha = 1.0 / (1.0 + np.exp(b - a * (consensus.astype(np.float64) / ONE)))
    return np.clip(np.rint(alpha * ONE).astype(np.int64), lo, hi)


def exact_epoch(state: SubnetState) -> ExactResult:
    """Run one chain-exact epoch on a validated :class:`SubnetState`.

    Parameters
    ----------
    state
        The subnet state (chain integers).

    Returns
    -------
    ExactResult
        u16/u64 outputs equal to what subtensor HEAD stores.
    """
    n, block = state.n, state.block
    owner = state.owner_uid
    last_update = np.array(state.last_update, dtype=np.int64)
    registration = np.array(state.reg, dtype=np.int64)

    # 1 activity (u64 saturating add)
    active = np.array([lu + state.activity_cutoff >= block for lu in state.last_update], dtype=bool)

    # 2 stake: I64F64 threshold and normalisation, then truncation to I32F32
    raw = [_stake_i64f64(s) for s in state.stake]
    filtered = [
        0 if (i != owner and (bits >> 64) < state.stake_threshold) else bits
        for i, bits in enumerate(raw)
    ]
    total = sum(filtered)
    if total:
        filtered = [(bits << 64) // total for bits in filtered]
    stake = np.array([bits >> FRAC for bits in filtered], dtype=np.int64)

    # 3 permits. An empty stored vector (HEAD run_epoch.rs reads ValidatorPermit as stored):
    # the owner's permit is set through get_mut, a no-op on an empty vector; see steps 4 and 5.
    vp_list = list(state.validator_permit_prev)
    if owner is not None and owner < len(vp_list):
        vp_list[owner] = True
    vp_old = np.array(vp_list, dtype=bool)
    has_permits = len(vp_old) > 0
    vp_new = _topk_nonzero(stake, state.max_validators)
    if owner is not None:
        vp_new[owner] = True

    # 4 active stake: inplace_mask_vector returns early on an empty mask (no permit masking)
    active_stake = np.where(active, stake, 0)
    if has_permits:
        active_stake = np.where(vp_old, active_stake, 0)
    active_stake = fx_normalize(active_stake)

    # 5 weights: masks, then row normalisation
    w_u16, present = dense_rows(state.weights, n)
    b_u16, b_present = dense_rows(state.bonds, n)
    if has_permits:
        present &= vp_old[:, None]
    else:
        # mask_rows_sparse reads a missing mask entry as "masked" (unwrap_or(true)): with an
        # empty permit vector every weight row is dropped, the owner's included (since
        # subtensor 37f7b284, main 2025-09-24; before it the length assert panicked).
        present[:] = False
    diagonal = np.eye(n, dtype=bool)
    if owner is not None:
        diagonal[owner, owner] = False
    present &= ~diagonal
    present &= ~(last_update[:, None] <= registration[None, :])
    if state.commit_reveal is not None:
        commits = np.array(
            [_NO_COMMIT if c is None else min(c, _NO_COMMIT) for c in state.commit_reveal],
            dtype=np.int64,
        )
        present &= ~(commits[:, None] < registration[None, :])
    # rows that can carry anything: stake in consensus, weights or bonds
    rows = np.flatnonzero((active_stake > 0) | present.any(axis=1) | b_present.any(axis=1))
    a = active_stake[rows]
    present = present[rows]
    weights = np.where(present, fx_from_u16(w_u16[rows]), 0)
    row_sum = weights.sum(axis=1, keepdims=True)
    weights = np.where(row_sum > 0, fx_div(weights, row_sum), weights)

    # 6 consensus
    kappa = int(fx_div(state.kappa_u16 << FRAC, U16_MAX << FRAC))
    in_consensus = a > 0
    consensus = exact_weighted_median(a[in_consensus], weights[in_consensus], kappa)

    # 7 clipping (sparse: an entry above a zero consensus is dropped)
    above = weights > consensus[None, :]
    clipped_present = present & ~(above & (consensus[None, :] == 0))
    clipped = np.where(clipped_present, np.minimum(weights, consensus[None, :]), 0)
    trust_rows = clipped.sum(axis=1)

    # 8 incentive
    ranks = fx_mul(a[:, None], clipped).sum(axis=0)
    incentive = fx_normalize(ranks)

    # 9 weights for bonds, recently registered miners
    beta = int(fx_div(state.bonds_penalty_u16 << FRAC, U16_MAX << FRAC))
    if beta == 0:
        w_bonds, wb_present = weights, present
    elif beta == ONE:
        w_bonds, wb_present = clipped, clipped_present
    else:
        interp = weights + fx_mul(beta, clipped - weights)
        wb_present = interp > 0
        w_bonds = np.where(wb_present, interp, 0)
    last_tempo = max(block - state.tempo, 0) if state.lms == 0 else state.lms + 1
    recent = last_tempo <= registration
    bonds_present = b_present[rows] & ~recent[None, :]
    bma = ((state.bma_u32 << 64) // 1_000_000) >> FRAC
    alpha = ONE - bma

    # 10 bonds and dividends
    if state.yuma3:
        old = np.where(bonds_present, u16_proportion(b_u16[rows]), 0)
        liquid = (
            state.liquid_alpha
            and state.liquid_alpha_version == "v2"
            and bool((consensus != 0).any())
        )
        if liquid:
            alphas = _liquid_alpha_v2(w_bonds, old, consensus, state)
            decayed = np.where(bonds_present, fx_mul(ONE - alphas, old), 0)
            increase = np.maximum(fx_mul(alphas, w_bonds), 0)
            value = np.minimum(decayed + increase, ONE)
            # sparse quirk: only entries present in the weight row survive
            ema = np.where(wb_present & (value > 0), value, 0)
        else:
            value = np.where(wb_present, fx_mul(alpha, w_bonds), 0) + np.where(
                bonds_present, fx_mul(ONE - alpha, old), 0
            )
            ema = np.where(value > 0, value, 0)
        per_validator = fx_mul(_col_normalize(ema), incentive[None, :]).sum(axis=1)
        dividends_rows = fx_normalize(fx_mul(per_validator, a))
        stored_fx = ema
    else:
        old = _col_normalize(np.where(bonds_present, fx_from_u16(b_u16[rows]), 0))
        delta = _col_normalize(np.where(wb_present, fx_mul(w_bonds, a[:, None]), 0))
        if state.liquid_alpha and state.liquid_alpha_version == "v1":
            alpha_cols = _liquid_alpha_v1(consensus, state, alpha)[None, :]
        else:
            alpha_cols = np.int64(alpha)
        value = np.where(wb_present, fx_mul(alpha_cols, delta), 0) + np.where(
            bonds_present, fx_mul(ONE - alpha_cols, old), 0
        )
        ema = _col_normalize(np.where(value > 0, value, 0))
        dividends_rows = fx_normalize(fx_mul(incentive[None, :], ema).sum(axis=1))
        col_max = ema.max(axis=0, initial=0, keepdims=True)
        stored_fx = np.where(col_max != 0, fx_div(ema, col_max), ema)

    dividends = np.zeros(n, dtype=np.int64)
    dividends[rows] = dividends_rows
    validator_trust = np.zeros(n, dtype=np.int64)
    validator_trust[rows] = trust_rows

    # 11 emission split
    combined = incentive + dividends
    esum = int(combined.sum())
    if esum != 0:
        server = fx_div(incentive, esum)
        validator = fx_div(dividends, esum)
    else:
        server, validator = incentive, dividends
    combined = fx_normalize(combined)
    if esum == 0:
        fallback = stake if not active_stake.any() else active_stake
        validator = combined = fallback
    rao = state.rao_emission

    def to_rao(x: np.ndarray) -> list[int]:
        return [max(int(v), 0) * rao >> FRAC for v in x]

    # 12 storage
    stored_u16 = fx_to_u16_proportion(stored_fx)
    new_rows: dict[int, dict[int, int]] = {}
    for r, uid in enumerate(rows.tolist()):
        cols = np.flatnonzero(stored_u16[r])
        new_rows[uid] = dict(zip(cols.tolist(), stored_u16[r, cols].tolist(), strict=True))
    bonds_out: list[dict[int, int]] = []
    for uid in range(n):
        if vp_new[uid]:
            bonds_out.append(new_rows.get(uid, {}))
        elif has_permits and vp_old[uid]:
            bonds_out.append({})
        else:
            bonds_out.append(dict(state.bonds[uid]))
    u16 = fx_to_u16_proportion
    return ExactResult(
        consensus_u16=u16(consensus).tolist(),
        incentive_u16=u16(incentive).tolist(),
        dividends_u16=u16(dividends).tolist(),
        validator_trust_u16=u16(validator_trust).tolist(),
        stake_weight_u16=u16(stake).tolist(),
        server_emission=to_rao(server),
        validator_emission=to_rao(validator),
        emission=to_rao(combined),
        bonds=bonds_out,
        validator_permit=vp_new.tolist(),
        active=active.tolist(),
        consensus_fx=consensus,
        incentive_fx=incentive,
        dividends_fx=dividends,
    )
