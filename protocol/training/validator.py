"""Gauntlet validator (templar ``neurons/validator.py``; arXiv:2505.21684) and the shared
aggregation and outer step (templar ``TopKCompressor.batch_decompress`` in
``src/tplr/compress.py``).

Pure scoring functions (gradient score, binary indicator, sync score, final score, weight schedules,
median-norm clipping, aggregation) plus :class:`ValidatorState`, the per-validator book-keeping the
penalty table mutates window by window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: config imports nothing from here, but keep modules decoupled
    from protocol.training.config import TrainingConfig

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from openskill.models import PlackettLuce, PlackettLuceRating

from protocol.training.compression import (
    CompressedGradient,
    chunk_sides,
    from_chunks,
)

__all__ = [
    "EvalRecord",
    "OpenSkillBook",
    "Submission",
    "ValidatorState",
    "ValidatorWindowResult",
    "aggregate",
    "binary_indicator",
    "compute_weights",
    "debug_slices",
    "final_score",
    "gradient_score",
    "index_overlap",
    "outer_step",
    "power2_weights",
    "process_window",
    "rank_weights",
    "select_eval_uids",
    "select_peers",
    "steps_behind",
    "sync_score",
]

NEGATIVE_MATCH_SCORE = -99.0
ZERO_SCORE_FLOOR = 1e-4
NAUGHTY_WINDOWS = 20


# --- scores (templar neurons/validator.py) --------------------------------------------------------


def gradient_score(loss_before_rand: float, loss_after_rand: float) -> float:
    """``(L_before_rand − L_after_rand) / L_before_rand`` (templar LossScore)."""
    return (loss_before_rand - loss_after_rand) / loss_before_rand


def binary_indicator(
    before_own: float, after_own: float, before_rand: float, after_rand: float
) -> int:
    """+1 if the relative improvement on the miner's own data beats that on random data, else −1.

    Templar's binary indicator (one-covenant/templar PR #66).
    """
    imp_own = (before_own - after_own) / before_own
    imp_rand = (before_rand - after_rand) / before_rand
    return 1 if imp_own > imp_rand else -1


def debug_slices(params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``flatten()[10:12]`` of every tensor: the debug dict a miner uploads after its outer step."""
    return {n: p.detach().flatten()[10:12].clone() for n, p in params.items()}


def steps_behind(
    miner_debug: Mapping[str, torch.Tensor],
    validator_params: Mapping[str, torch.Tensor],
    step_scale: Mapping[str, torch.Tensor],
) -> float:
    """Interquartile mean of |θ_val − θ_miner| / EMA|Δθ per step| over all debug entries.

    As templar's ``evaluate_miner_sync``.
    """
    ratios = []
    for name, values in miner_debug.items():
        current = validator_params[name].detach().flatten()[10:12]
        scale = step_scale[name].clamp_min(1e-12)
        ratios.append(((current - values.to(current.device)).abs() / scale).float().cpu())
    r = torch.cat(ratios).sort().values
    n = r.numel()
    lo, hi = n // 4, n - n // 4
    return float(r[lo:hi].mean()) if hi > lo else float(r.mean())


def sync_score(avg_steps_behind: float, max_steps: float = 3.0) -> float:
    """``max(0, 1 − min(x, max)/max) ** 2.5`` (templar ``evaluate_miner_sync``)."""
    return max(0.0, 1.0 - min(avg_steps_behind, max_steps) / max_steps) ** 2.5


def final_score(
    ordinal: float,
    bma: float,
    sync: float,
    *,
    windows_since_start: int,
    threshold: float = 0.10,
    warmup: int = 10,
) -> float:
    """``ordinal · max(0, BMA) · sync``, with BMA below the threshold zeroed after warmup.

    As templar's ``update_openskill_ratings``.
    """
    bma_pos = max(0.0, bma)
    if windows_since_start >= warmup and bma_pos < threshold:
        bma_pos = 0.0
    return ordinal * bma_pos * sync


# --- weight schedules (templar update_weights) ----------------------------------------------------


def rank_weights(
    final: np.ndarray,
    *,
    burn_uid: int,
    burn_rate: float = 0.5,
    gather_count: int = 20,
    reserve_count: int = 10,
) -> np.ndarray:
    """Gather-reserve rank schedule: linspace(2, 1) over the top G, 0.5^j over the next R, reserve
    capped at half the smallest gather weight, burn ``burn_rate`` to ``burn_uid`` (templar
    ``update_weights``).

    UIDs with final ≤ 0 get nothing; with no positive scorer everything goes to the burn UID.
    """
    weights = np.zeros_like(final, dtype=np.float64)
    candidates = [u for u in np.argsort(-final, kind="stable") if final[u] > 0 and u != burn_uid]
    gather, reserve = (
        candidates[:gather_count],
        candidates[gather_count : gather_count + reserve_count],
    )
    if not gather:
        weights[burn_uid] = 1.0
        return weights
    p = np.linspace(2.0, 1.0, len(gather))
    weights[gather] = (1 - burn_rate) * 0.75 * p / p.sum()
    if reserve:
        q = 0.5 ** np.arange(len(reserve))
        w_r = (1 - burn_rate) * 0.25 * q / q.sum()
        min_g = weights[gather].min()
        if w_r.max() > min_g:
            w_r = w_r * (min_g / w_r.max()) * 0.5
        weights[reserve] = w_r
    weights *= (1 - burn_rate) / weights.sum()
    weights[burn_uid] = burn_rate
    return weights


def power2_weights(final: np.ndarray, *, burn_uid: int, burn_rate: float = 0.0) -> np.ndarray:
    """Paper-era schedule: ``s² / Σ s²`` over positive scores, then ``burn_rate`` to the burn UID.

    The Gauntlet paper's power-2 normalisation (arXiv:2505.21684).
    """
    pos = np.where(final > 0, final, 0.0).astype(np.float64)
    pos[burn_uid] = 0.0
    weights = np.zeros_like(pos)
    if pos.sum() <= 0:
        weights[burn_uid] = 1.0
        return weights
    weights = (1 - burn_rate) * pos**2 / (pos**2).sum()
    weights[burn_uid] += burn_rate
    return weights


def compute_weights(final: np.ndarray, config: TrainingConfig) -> np.ndarray:
    """The configured schedule (``config.weight_schedule``: ``rank`` or ``power2``); sums to 1."""
    if config.weight_schedule == "power2":
        return power2_weights(final, burn_uid=config.burn_uid, burn_rate=config.burn_rate)
    return rank_weights(
        final,
        burn_uid=config.burn_uid,
        burn_rate=config.burn_rate,
        gather_count=config.gather_peer_count,
        reserve_count=config.reserve_peer_count,
    )


# --- aggregation and outer step (templar compress.py) ---------------------------------------------


def aggregate(
    gradients: Sequence[CompressedGradient],
    *,
    chunk: int = 64,
    mode: str = "scatter_mean",
    clip_reference: Sequence[CompressedGradient] | None = None,
) -> dict[str, torch.Tensor]:
    """Dense aggregate of the gathered messages, each clipped to the median norm (templar's
    ``TopKCompressor.batch_decompress``; ``sum_over_R`` is the paper's rule, arXiv:2508.15706).

    Parameters
    ----------
    gradients
        The gathered peers' messages (validated).
    chunk
        Chunk side used by the messages.
    mode
        ``"scatter_mean"`` (code: mean over the peers that selected each coordinate) or
        ``"sum_over_R"`` (paper: Σ/R).
    clip_reference
        Messages whose median norm defines the clip (default: ``gradients`` themselves); the validator's
        single-peer eval clips against the window's gathered set.
    """
    if mode not in ("scatter_mean", "sum_over_R"):
        raise ValueError(f"aggregation mode must be scatter_mean or sum_over_R, got {mode!r}")
    out: dict[str, torch.Tensor] = {}
    reference = list(clip_reference) if clip_reference is not None else list(gradients)
    for name in gradients[0].tensors:
        ref_norms = torch.stack([g.tensors[name].values().norm() for g in reference])
        median = ref_norms.median()
        cts = [g.tensors[name] for g in gradients]
        vals = [
            ct.values() * torch.clamp(median / ct.values().norm().clamp_min(1e-30), max=1.0)
            for ct in cts
        ]
        shape = cts[0].shape
        chunk_size = int(np.prod(chunk_sides(shape, chunk)))
        idx = torch.cat([ct.idx for ct in cts], dim=1)
        val = torch.cat(vals, dim=1)
        zeros = torch.zeros(idx.shape[0], chunk_size, dtype=val.dtype, device=val.device)
        if mode == "scatter_mean":
            dense = zeros.scatter_reduce(1, idx, val, reduce="mean", include_self=False)
        else:
            dense = zeros.scatter_add(1, idx, val) / len(cts)
        out[name] = from_chunks(dense, shape, chunk)
    return out


def outer_step(
    params: Mapping[str, torch.Tensor], update: Mapping[str, torch.Tensor], lr: float
) -> dict[str, torch.Tensor]:
    """SGD outer step ``θ ← θ − α·Δ``; a tensor whose update is not finite is left unchanged."""
    out = {}
    for name, p in params.items():
        d = update.get(name)
        out[name] = p if d is None or not bool(torch.isfinite(d).all()) else p - lr * d.to(p.dtype)
    return out


# --- copy detection (templar) ---------------------------------------------------------------------


def index_overlap(gradients: Sequence[CompressedGradient], chunk: int = 64) -> np.ndarray:
    """Pairwise top-k index overlap: size-weighted mean over tensors of per-chunk |I_i ∩ I_j| / k."""
    n = len(gradients)
    if n == 0:
        return np.zeros((0, 0))
    total = torch.zeros(n, n, dtype=torch.float64)
    weight = 0
    for name in gradients[0].tensors:
        cts = [g.tensors[name] for g in gradients]
        n_chunks, k = cts[0].idx.shape
        chunk_size = int(np.prod(chunk_sides(cts[0].shape, chunk)))
        if k >= chunk_size:  # sent densely: every peer "selects" every index, no information
            continue
        masks = torch.zeros(n, n_chunks, chunk_size, dtype=torch.float32, device=cts[0].idx.device)
        for i, ct in enumerate(cts):
            masks[i].scatter_(1, ct.idx, 1.0)
        flat = masks.reshape(n, -1)
        per_tensor = (flat @ flat.T).double().cpu() / (n_chunks * k)
        size = int(np.prod(cts[0].shape))
        total += per_tensor * size
        weight += size
    return (total / max(weight, 1)).numpy()


# --- peer selection (templar) ---------------------------------------------------------------------


def select_peers(
    candidates: Sequence[int],
    ranking: np.ndarray,
    *,
    gather_count: int,
    reserve_count: int,
    rng: np.random.Generator,
) -> tuple[list[int], list[int]]:
    """Rank ``candidates`` by ``ranking`` (ties in random order); top ``gather_count`` gather, next reserve."""
    cands = list(candidates)
    tiebreak = rng.permutation(len(cands))
    order = sorted(range(len(cands)), key=lambda i: (-float(ranking[cands[i]]), int(tiebreak[i])))
    ranked = [cands[i] for i in order]
    return ranked[:gather_count], ranked[gather_count : gather_count + reserve_count]


def select_eval_uids(
    candidates: Sequence[int],
    ordinals: Mapping[int, float],
    last_eval: Mapping[int, int],
    window: int,
    *,
    uids_per_window: int,
    n_bins: int,
    rng: np.random.Generator,
) -> list[int]:
    """Bins by OpenSkill ordinal (only with ≥ n_bins·uids_per_window candidates), one bin at random,
    then weighted sampling without replacement by windows since last evaluated (templar's
    ``select_evaluation_uids_from_bin``)."""
    cands = sorted(candidates)
    if not cands:
        return []
    if len(cands) >= n_bins * uids_per_window:
        ranked = sorted(cands, key=lambda u: -ordinals.get(u, 0.0))
        bins = np.array_split(np.array(ranked), n_bins)
        cands = sorted(int(u) for u in bins[int(rng.integers(n_bins))])
    weights = np.array([max(1, window - last_eval.get(u, -1)) for u in cands], dtype=np.float64)
    n = min(uids_per_window, len(cands))
    chosen = rng.choice(len(cands), size=n, replace=False, p=weights / weights.sum())
    return [cands[i] for i in sorted(chosen)]


# --- validator state and penalties ----------------------------------------------------------------


class OpenSkillBook:
    """OpenSkill PlackettLuce(β, τ) ratings by UID (μ = 25, σ = 25/3, ordinal μ − 3σ)."""

    def __init__(self, beta: float = 7.0, tau: float = 0.1) -> None:
        self.model = PlackettLuce(beta=beta, tau=tau)
        self.ratings: dict[int, PlackettLuceRating] = {}

    def get(self, uid: int) -> PlackettLuceRating:
        """The UID's rating, created at the defaults (μ = 25, σ = 25/3) on first use."""
        if uid not in self.ratings:
            self.ratings[uid] = self.model.rating()
        return self.ratings[uid]

    def ordinal(self, uid: int) -> float:
        """μ − 3σ (0 for a fresh rating)."""
        return float(self.get(uid).ordinal())

    def reset(self, uid: int) -> None:
        """Forget the UID's rating (back to the defaults)."""
        self.ratings.pop(uid, None)

    def rate(self, scores: Mapping[int, float]) -> None:
        """One multi-team match: one team per UID, higher score better."""
        if len(scores) < 2:
            return
        uids = sorted(scores)
        teams = self.model.rate([[self.get(u)] for u in uids], scores=[scores[u] for u in uids])
        for uid, team in zip(uids, teams, strict=True):
            self.ratings[uid] = team[0]


@dataclass
class ValidatorState:
    """Mutable per-validator book-keeping across windows (templar ``neurons/validator.py``)."""

    uid: int
    n_uids: int
    skill: OpenSkillBook
    bma: np.ndarray
    final: np.ndarray
    sync: np.ndarray
    weights: np.ndarray
    last_eval: dict[int, int] = field(default_factory=dict)
    eval_history: dict[int, deque] = field(default_factory=dict)
    consecutive_negative: dict[int, int] = field(default_factory=dict)
    miss_streak: dict[int, int] = field(default_factory=dict)
    miss_history: dict[int, deque] = field(default_factory=dict)
    naughty_until: dict[int, int] = field(default_factory=dict)
    inactive_windows: dict[int, int] = field(default_factory=dict)
    windows_processed: int = 0

    @classmethod
    def create(
        cls, uid: int, n_uids: int, *, beta: float = 7.0, tau: float = 0.1
    ) -> ValidatorState:
        """Fresh state: BMA 0, final 0, sync 1, no weights."""
        return cls(
            uid,
            n_uids,
            OpenSkillBook(beta, tau),
            np.zeros(n_uids),
            np.zeros(n_uids),
            np.ones(n_uids),
            np.zeros(n_uids),
        )

    def is_naughty(self, uid: int, window: int) -> bool:
        """Whether the UID is excluded from evaluation and gather at ``window``."""
        return self.naughty_until.get(uid, -1) > window

    def excluded_from_gather(self, uid: int) -> bool:
        """≥ 3 consecutive negative evaluations (until a positive one)."""
        return self.consecutive_negative.get(uid, 0) >= 3

    def slash(self, uid: int, factor: float, *, bma_too: bool = True) -> None:
        """Multiply a positive final score (and BMA) by ``factor``; tiny results become 0."""
        if self.final[uid] > 0:
            self.final[uid] *= factor
            if self.final[uid] < ZERO_SCORE_FLOOR:
                self.final[uid] = 0.0
        if bma_too and self.bma[uid] > 0:
            self.bma[uid] *= factor

    def reset_peer(self, uid: int) -> None:
        """Forget a peer: rating, BMA, final score, sync and evaluation history."""
        self.skill.reset(uid)
        self.bma[uid] = 0.0
        self.final[uid] = 0.0
        self.sync[uid] = 1.0
        self.eval_history.pop(uid, None)
        self.consecutive_negative.pop(uid, None)

    def record_eval(self, uid: int, score: float) -> None:
        """Track the sign history used by the negative-evaluation penalties."""
        self.eval_history.setdefault(uid, deque(maxlen=8)).append(score)
        self.consecutive_negative[uid] = (
            self.consecutive_negative.get(uid, 0) + 1 if score < 0 else 0
        )

    def record_gather(self, uid: int, missed: bool) -> None:
        """Track the gather-miss streak and the last 8 windows' misses."""
        self.miss_history.setdefault(uid, deque(maxlen=8)).append(missed)
        self.miss_streak[uid] = self.miss_streak.get(uid, 0) + 1 if missed else 0


# --- one window of validation (templar validator loop) --------------------------------------------


@dataclass(frozen=True)
class Submission:
    """What a validator can see of one miner this window.

    ``status`` is ``ok``, ``missing``, ``too_early``, ``too_late`` or ``invalid`` (with ``reason``);
    ``debug`` is the miner's debug dict from the previous window (``None`` if absent); ``pool`` its
    assigned sequence ids and ``consumed`` the part an honest miner trains on.
    """

    uid: int
    status: str
    gradient: CompressedGradient | None
    put_time: float
    debug: Mapping[str, torch.Tensor] | None
    pool: np.ndarray
    consumed: np.ndarray
    reason: str = ""


@dataclass(frozen=True)
class EvalRecord:
    """One evaluated UID: losses, gradient score, indicator (``None`` when not scored)."""

    uid: int
    status: str
    gradient_score: float | None = None
    indicator: int | None = None
    loss_before_own: float | None = None
    loss_after_own: float | None = None
    loss_after_rand: float | None = None


@dataclass(frozen=True)
class ValidatorWindowResult:
    """A validator's view of one window."""

    evaluated: dict[int, EvalRecord]
    loss_before_rand: float
    steps_behind: dict[int, float]
    overlap_uids: list[int]
    overlap: np.ndarray
    overlap_offenders: dict[int, float]
    weights: np.ndarray
    bad_window: bool


def _check_gather_misses(
    state: ValidatorState,
    gather_list: Sequence[int],
    skipped: Sequence[int],
    success_rate: float,
    window: int,
) -> None:
    """Escalating missing-gradient slashes and the 'mega' miss rule (templar)."""
    missed = set(skipped)
    for uid in gather_list:
        state.record_gather(uid, uid in missed)
    for uid in skipped:
        streak = state.miss_streak[uid]
        factor = 0.75 if streak == 1 else 0.5 if streak == 2 else 0.0
        state.slash(uid, 0.0 if success_rate < 0.4 else factor)
        history = state.miss_history[uid]
        if len(history) >= 4 and sum(history) >= 0.5 * 8:
            state.reset_peer(uid)
            state.naughty_until[uid] = window + NAUGHTY_WINDOWS


def _check_overlap(
    state: ValidatorState,
    gathered: Sequence[int],
    submissions: Mapping[int, Submission],
    *,
    global_step: int,
    window: int,
    config: TrainingConfig,
) -> tuple[np.ndarray, dict[int, float]]:
    """Pairwise index overlap of the gathered set; the later uploader of a pair is the offender."""
    grads = [submissions[u].gradient for u in gathered]
    overlap = index_overlap(grads, config.chunk) if len(grads) > 1 else np.zeros((len(grads),) * 2)
    offenders: dict[int, float] = {}
    for i in range(len(gathered)):
        for j in range(i + 1, len(gathered)):
            if overlap[i, j] < config.idx_overlap_threshold:
                continue
            a, b = gathered[i], gathered[j]
            later = a if submissions[a].put_time > submissions[b].put_time else b
            offenders[later] = max(offenders.get(later, 0.0), float(overlap[i, j]))
    if global_step >= config.overlap_slash_after_step:
        for uid, value in offenders.items():
            if value >= 0.6:
                state.reset_peer(uid)
                state.naughty_until[uid] = window + NAUGHTY_WINDOWS
            elif value >= 0.5:
                state.reset_peer(uid)
            else:
                state.slash(uid, 0.5)
    return overlap, offenders


def process_window(
    state: ValidatorState,
    *,
    window: int,
    global_step: int,
    miner_uids: Sequence[int],
    submissions: Mapping[int, Submission],
    gather_list: Sequence[int],
    gathered: Sequence[int],
    skipped: Sequence[int],
    active: set[int],
    theta: Mapping[str, torch.Tensor],
    step_scale: Mapping[str, torch.Tensor] | None,
    loss_on_ids: Callable[[Mapping[str, torch.Tensor], np.ndarray], float],
    random_pool: np.ndarray,
    config: TrainingConfig,
    rng: np.random.Generator,
) -> ValidatorWindowResult:
    """Score one window as a Gauntlet validator and recompute its weights.

    Parameters
    ----------
    state
        This validator's state (mutated).
    window, global_step
        The sync window and the number of outer steps taken so far.
    miner_uids
        All miner UIDs.
    submissions
        Per miner: status, message, put time, debug dict, data pool.
    gather_list, gathered, skipped
        The lead validator's gather list, the peers actually gathered (with reserve fill-ins), and
        the gather-list peers skipped (missing, late, early or invalid).
    active
        UIDs that uploaded in the last ``recent_windows`` windows.
    theta
        The validator's current replica (before this window's outer step).
    step_scale
        EMA of |Δθ[10:12]| per outer step (``None`` before the first step: sync not measured).
    loss_on_ids
        ``loss_on_ids(params, ids) -> float``: mean loss of ``params`` on training sequences ``ids``.
    random_pool
        The window's random pool (a fake UID's assignment).
    config
        The run's :class:`~protocol.training.config.TrainingConfig`.
    rng
        This validator's generator for this window.
    """
    state.windows_processed += 1
    # Inactivity: ×0.75 per inactive window, reset after 3.
    for uid in miner_uids:
        if uid in active:
            state.inactive_windows[uid] = 0
            continue
        state.inactive_windows[uid] = state.inactive_windows.get(uid, 0) + 1
        state.slash(uid, 0.75)
        if state.inactive_windows[uid] >= 3:
            state.reset_peer(uid)
    success_rate = len(gathered) / max(len(gather_list), 1)
    _check_gather_misses(state, gather_list, skipped, success_rate, window)
    overlap, offenders = _check_overlap(
        state, list(gathered), submissions, global_step=global_step, window=window, config=config
    )
    # Sync score for gathered peers.
    behind: dict[int, float] = {}
    if step_scale is not None:
        for uid in gathered:
            debug = submissions[uid].debug
            x = float("inf") if debug is None else steps_behind(debug, theta, step_scale)
            behind[uid] = x
            state.sync[uid] = sync_score(x, config.sync_max_steps)
            if x > config.sync_slash_steps:
                state.slash(uid, 0.75)
    # Evaluation: bins, weighted choice of UIDs, own/random losses.
    candidates = [u for u in miner_uids if u in active and not state.is_naughty(u, window)]
    ordinals = {u: state.skill.ordinal(u) for u in candidates}
    chosen = select_eval_uids(
        candidates,
        ordinals,
        state.last_eval,
        window,
        uids_per_window=config.uids_per_window,
        n_bins=config.n_bins,
        rng=rng,
    )
    eval_seed = int(rng.integers(2**32))
    rand_ids = np.random.default_rng(eval_seed).choice(
        random_pool, min(config.n_eval, len(random_pool)), replace=False
    )
    loss_before_rand = loss_on_ids(theta, rand_ids)
    gathered_grads = [submissions[u].gradient for u in gathered]
    eval_lr = config.outer_lr * config.eval_lr_factor
    evaluated: dict[int, EvalRecord] = {}
    match: dict[int, float] = {}
    for uid in chosen:
        sub = submissions[uid]
        state.last_eval[uid] = window
        if sub.status in ("missing", "too_late", "too_early"):
            state.slash(uid, 0.75)
            match[uid] = NEGATIVE_MATCH_SCORE
            evaluated[uid] = EvalRecord(uid, sub.status)
            continue
        if sub.status == "invalid":
            state.final[uid] = 0.0
            match[uid] = NEGATIVE_MATCH_SCORE
            evaluated[uid] = EvalRecord(uid, sub.status)
            continue
        source = sub.pool if config.own_eval_from == "assigned_pool" else sub.consumed
        own_ids = np.random.default_rng(eval_seed ^ uid).choice(
            source, min(config.n_eval, len(source)), replace=False
        )
        update = aggregate(
            [sub.gradient],
            chunk=config.chunk,
            mode="scatter_mean",
            clip_reference=gathered_grads or [sub.gradient],
        )
        stepped = outer_step(theta, update, eval_lr)
        before_own = loss_on_ids(theta, own_ids)
        after_own = loss_on_ids(stepped, own_ids)
        after_rand = loss_on_ids(stepped, rand_ids)
        score = gradient_score(loss_before_rand, after_rand)
        indicator = binary_indicator(before_own, after_own, loss_before_rand, after_rand)
        state.bma[uid] = (1 - config.bma_alpha) * state.bma[uid] + config.bma_alpha * indicator
        state.record_eval(uid, score)
        match[uid] = score
        evaluated[uid] = EvalRecord(uid, "ok", score, indicator, before_own, after_own, after_rand)
    # Ratings and final scores for this window's match (OpenSkill, then final score).
    state.skill.rate(match)
    for uid in match:
        if evaluated[uid].status == "invalid":
            state.final[uid] = 0.0
            continue
        state.final[uid] = final_score(
            state.skill.ordinal(uid),
            state.bma[uid],
            state.sync[uid],
            windows_since_start=state.windows_processed,
            threshold=config.bma_threshold,
            warmup=config.bma_warmup_windows,
        )
    # Negative-evaluation penalty, skipped in a bad window (5th-best score negative).
    scored = sorted(
        (r.gradient_score for r in evaluated.values() if r.gradient_score is not None), reverse=True
    )
    bad_window = bool(scored) and scored[min(4, len(scored) - 1)] < 0
    if not bad_window:
        for uid, record in evaluated.items():
            history = state.eval_history.get(uid)
            if (
                record.gradient_score is not None
                and history
                and sum(s < 0 for s in history) > 0.5 * len(history)
            ):
                state.slash(uid, 0.25)
    miner_final = np.zeros(state.n_uids)
    miner_final[list(miner_uids)] = state.final[list(miner_uids)]
    state.weights = compute_weights(miner_final, config)
    return ValidatorWindowResult(
        evaluated,
        loss_before_rand,
        behind,
        list(gathered),
        overlap,
        offenders,
        state.weights.copy(),
        bad_window,
    )
