"""One window of the Templar / Covenant protocol end to end: miners train and upload, the lead
validator's peer list is gathered, validators score and set weights, the Yuma epoch turns weights
into emissions, and everyone applies the same outer step (templar ``neurons/{miner,validator}.py``;
docs/training.md, "A round").

:func:`init_run` builds the state of a run from ``(config, seed, device)``; :func:`run_round` advances it
by one window and returns a :class:`RoundMetrics` record (no I/O).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from protocol.training.clock import VirtualClock
from protocol.training.compression import CompressedGradient, compress_pseudo_gradient, wire_size
from protocol.training.config import TrainingConfig
from protocol.training.data import assign_batches, make_source, random_pool_uid
from protocol.training.miner import MINER_STRATEGIES, MinerContext, steps_for, train_replicas
from protocol.training.models import lm_loss, make_model, param_dict
from protocol.training.validation import validate_gradient
from protocol.training.validator import (
    Submission,
    ValidatorState,
    aggregate,
    debug_slices,
    index_overlap,
    outer_step,
    process_window,
    select_peers,
)

__all__ = [
    "ExternalUpload",
    "RoundMetrics",
    "RunState",
    "UidRecord",
    "WorkerTask",
    "init_run",
    "run_round",
    "worker_task",
    "yuma_lite",
]

RECENT_WINDOWS = 2


@dataclass
class RunState:
    """Everything a run carries between windows (mutable; built by :func:`init_run`)."""

    config: TrainingConfig
    seed: int
    device: torch.device
    model: nn.Module
    source: object
    sequences: torch.Tensor
    held_out: torch.Tensor
    theta: dict[str, torch.Tensor]
    shapes: dict[str, tuple[int, ...]]
    clock: VirtualClock
    validators: list[ValidatorState]
    errors: dict[int, dict[str, torch.Tensor] | None]
    theta_history: deque
    debug: dict[int, dict[str, torch.Tensor]]
    last_upload: dict[int, int]
    step_scale: dict[str, torch.Tensor] | None = None
    chain_weights: np.ndarray | None = None
    bonds: torch.Tensor | None = None
    incentive: np.ndarray | None = None
    gather_list: list[int] = field(default_factory=list)
    reserve_list: list[int] = field(default_factory=list)
    window: int = 0
    global_step: int = 0
    tokens_total: int = 0

    @property
    def miner_uids(self) -> list[int]:
        """Miner UIDs, in order."""
        return list(range(self.config.first_miner_uid, self.config.n_uids))

    def role(self, uid: int) -> str:
        """The strategy name of miner ``uid``."""
        return self.config.roles[uid - self.config.first_miner_uid]


@dataclass(frozen=True)
class UidRecord:
    """Per-UID outcome of one round (one validator's view: the lead, UID 0)."""

    uid: int
    role: str
    status: str
    in_gather_list: bool
    gathered: bool
    evaluated: bool
    gradient_score: float
    indicator: int
    bma: float
    ordinal: float
    sync: float
    steps_behind: float
    final_score: float
    weight: float
    incentive: float
    emission: float
    max_overlap: float
    marginal_value: float
    overlap_offender: bool


@dataclass(frozen=True)
class RoundMetrics:
    """Metrics of one round; ``timings`` (seconds) is the only non-deterministic field.

    docs/training.md, "Calibration", says how they feed the agent model.
    """

    window: int
    global_step: int
    held_out_loss: float
    optimal_loss: float
    tokens: int
    tokens_total: int
    contributors: int
    gather_list_size: int
    honest_overlap_mean: float
    honest_overlap_max: float
    upload_bytes: float
    payload_bits_per_value: float
    ratio_vs_fp32: float
    aggregate_norm: float
    cosine_to_dense_mean: float
    transmitted_fraction: float
    error_feedback_norm: float
    burn_weight: float
    weight_sum: float
    uids: tuple[UidRecord, ...]
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def to_rows(self) -> list[dict]:
        """One flat dict per UID, round fields repeated (for a Parquet table)."""
        base = {k: v for k, v in asdict(self).items() if k not in ("uids", "timings")}
        return [{**base, **asdict(rec)} for rec in self.uids]

    def weight_by_role(self) -> dict[str, float]:
        """Total weight per miner role."""
        out: dict[str, float] = {}
        for rec in self.uids:
            out[rec.role] = out.get(rec.role, 0.0) + rec.weight
        return out


@dataclass(frozen=True)
class ExternalUpload:
    """An upload made outside the simulation (live mode: a real worker acting as miner ``uid``).

    ``payload`` is a :class:`CompressedGradient` or its flat tensor dict (e.g. loaded from
    safetensors; validated here, a malformed one is scored as invalid), or ``None`` for no upload.
    ``put_time`` is the storage's LastModified time on the run's virtual clock
    (:meth:`~protocol.training.clock.VirtualClock.put_window`), ``debug`` the worker's
    ``flatten()[10:12]`` slices after its previous outer step (``None``: absent, sync slashed).
    """

    payload: CompressedGradient | dict[str, torch.Tensor] | None
    put_time: float
    debug: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class WorkerTask:
    """Everything a live worker needs for one window: derivable from (uid, window, global step, θ)."""

    uid: int
    window: int
    global_step: int
    theta: dict[str, torch.Tensor]
    sequence_ids: np.ndarray  # [H, B] ids into the run's training sequences
    put_window: tuple[float, float]
    hparams: dict[str, float | int | str]


def worker_task(state: RunState, uid: int) -> WorkerTask:
    """The work order for miner ``uid`` in the current window (live mode, docs/live.md)."""
    cfg = state.config
    if uid not in state.miner_uids:
        raise ValueError(
            f"uid {uid} is not a miner UID ({state.miner_uids[0]}..{state.miner_uids[-1]})"
        )
    pool = assign_batches(uid, state.window, state.sequences.shape[0], cfg.pool_size)
    ids = pool[: cfg.inner_steps * cfg.batch_size].reshape(cfg.inner_steps, cfg.batch_size)
    hparams = {
        k: getattr(cfg, k)
        for k in (
            "inner_steps",
            "batch_size",
            "inner_lr",
            "weight_decay",
            "grad_clip",
            "chunk",
            "topk",
            "ef_beta",
            "quant_bins",
            "quant_range",
            "outer_lr",
            "aggregation",
        )
    }
    return WorkerTask(
        uid,
        state.window,
        state.global_step,
        {k: v.clone() for k, v in state.theta.items()},
        ids,
        state.clock.put_window(state.window),
        hparams,
    )


def init_run(config: TrainingConfig, seed: int = 0, device: str | torch.device = "cpu") -> RunState:
    """Build a run: data source, model θ, validator states, empty chain.

    Parameters
    ----------
    config
        The run's configuration.
    seed
        The one seed of the run; every stream derives from it.
    device
        ``"cpu"`` or a CUDA device.
    """
    for role in config.roles:
        MINER_STRATEGIES.get(role)  # unknown roles fail here, naming the registry's known names
    device = torch.device(device)
    children = np.random.SeedSequence(seed).spawn(2)
    data_seed, model_seed = (int(c.generate_state(1)[0]) for c in children)
    source = make_source(
        config.data,
        seq_len=config.seq_len,
        n_sequences=config.n_sequences,
        n_held_out=config.n_held_out,
        seed=data_seed,
    )
    if config.pool_size > source.sequences.shape[0]:
        raise ValueError(
            f"pool size {config.pool_size} exceeds the {source.sequences.shape[0]} sequences"
        )
    model = make_model(config, seed=model_seed, device=device)
    theta = param_dict(model)
    n = config.n_uids
    validators = [
        ValidatorState.create(v, n, beta=config.openskill_beta, tau=config.openskill_tau)
        for v in range(config.n_validators)
    ]
    miners = range(config.first_miner_uid, n)
    return RunState(
        config=config,
        seed=seed,
        device=device,
        model=model,
        source=source,
        sequences=source.sequences.to(device),
        held_out=source.held_out.to(device),
        theta=theta,
        shapes={k: tuple(v.shape) for k, v in theta.items()},
        clock=VirtualClock(config.blocks_per_window, config.put_window_seconds),
        validators=validators,
        errors=dict.fromkeys(miners),
        theta_history=deque([theta], maxlen=config.stale_skip + 1),
        debug={u: debug_slices(theta) for u in miners},
        last_upload=dict.fromkeys(miners, -1),  # the first-start dummy upload (templar miner)
        chain_weights=np.zeros((n, n)),
        bonds=torch.zeros(n, n, dtype=torch.float64),
        incentive=np.zeros(n),
    )


def yuma_lite(weights: np.ndarray, stake: np.ndarray) -> np.ndarray:
    """Flagged fast chain: stake-weighted median of validators' weights per UID, normalised.

    ``chain="yuma_lite"`` selects it instead of the Yuma epoch (docs/training.md, "A round").
    """
    validators = np.flatnonzero(stake > 0)
    rows = weights[validators]
    rows = rows / np.maximum(rows.sum(axis=1, keepdims=True), 1e-30)
    s = stake[validators] / stake[validators].sum()
    consensus = np.zeros(weights.shape[1])
    for j in range(weights.shape[1]):
        order = np.argsort(rows[:, j])
        cum = np.cumsum(s[order])
        consensus[j] = rows[order[np.searchsorted(cum, 0.5)], j]
    total = consensus.sum()
    return consensus / total if total > 0 else consensus


def _rng(state: RunState, stream: int, uid: int = 0) -> np.random.Generator:
    return np.random.default_rng([state.seed, state.window, stream, uid])


def _loss(state: RunState, params: dict[str, torch.Tensor], ids: np.ndarray) -> float:
    with torch.no_grad():
        batch = state.sequences[torch.as_tensor(ids, device=state.device)]
        return float(lm_loss(state.model, params, batch))


def _refresh_peers(state: RunState) -> None:
    """Lead validator's gather / reserve list every ``peer_replacement_frequency`` windows.

    As templar's ``select_initial_peers`` / ``select_next_peers``.
    """
    cfg, lead, w = state.config, state.validators[0], state.window
    if state.gather_list and w % cfg.peer_replacement_frequency:
        return
    active = [u for u in state.miner_uids if state.last_upload[u] >= w - RECENT_WINDOWS + 1]
    candidates = [
        u for u in active if not lead.is_naughty(u, w) and not lead.excluded_from_gather(u)
    ]
    ranking = state.incentive if not state.gather_list else lead.weights
    state.gather_list, state.reserve_list = select_peers(
        candidates,
        ranking,
        gather_count=cfg.gather_peer_count,
        reserve_count=cfg.reserve_peer_count,
        rng=_rng(state, 1),
    )


def _train_miners(state: RunState, skip: set[int]) -> tuple[dict, dict, dict, int]:
    """Pools, batched inner training and pseudo-gradients of every training miner."""
    cfg, w = state.config, state.window
    n_seq = state.sequences.shape[0]
    pools, consumed, deltas = {}, {}, {}
    train_uids, starts, batch_ids, n_steps = [], [], [], []
    for uid in state.miner_uids:
        strategy = MINER_STRATEGIES.get(state.role(uid))
        pools[uid] = assign_batches(uid, w, n_seq, cfg.pool_size)
        consumed[uid] = pools[uid][: cfg.inner_steps * cfg.batch_size]
        steps = 0 if uid in skip else steps_for(strategy, cfg)
        if steps == 0:
            continue
        data_uid = (
            random_pool_uid(int(_rng(state, 2, uid).integers(2**31)))
            if strategy.data == "random"
            else uid
        )
        ids = assign_batches(data_uid, w, n_seq, cfg.pool_size)[: cfg.inner_steps * cfg.batch_size]
        start = state.theta_history[0] if strategy.skips_outer_steps else state.theta
        train_uids.append(uid)
        starts.append(start)
        batch_ids.append(ids)
        n_steps.append(steps)
    tokens = 0
    if train_uids:
        stacked = {n: torch.stack([s[n] for s in starts]) for n in state.theta}
        ids = torch.as_tensor(np.stack(batch_ids), device=state.device)
        batches = state.sequences[ids].reshape(len(train_uids), cfg.inner_steps, cfg.batch_size, -1)
        mask = (
            torch.arange(cfg.inner_steps, device=state.device)[None, :]
            < torch.tensor(n_steps, device=state.device)[:, None]
        )
        group = cfg.replica_chunk or len(train_uids)
        parts = []
        for lo in range(0, len(train_uids), group):
            sl = slice(lo, lo + group)
            part, _ = train_replicas(
                state.model,
                {n: t[sl] for n, t in stacked.items()},
                batches[sl],
                mask[sl],
                lr=cfg.inner_lr,
                betas=cfg.betas,
                weight_decay=cfg.weight_decay,
                grad_clip=cfg.grad_clip,
            )
            parts.append(part)
        final = {n: torch.cat([p[n] for p in parts]) for n in state.theta}
        for r, uid in enumerate(train_uids):
            deltas[uid] = {n: starts[r][n] - final[n][r] for n in state.theta}
        tokens = sum(n_steps) * cfg.batch_size * cfg.seq_len
    return pools, consumed, deltas, tokens


def run_round(
    state: RunState, external: Mapping[int, ExternalUpload] | None = None
) -> RoundMetrics:
    """Advance the run by one window and return its metrics.

    ``external`` maps miner UIDs to uploads made outside the simulation (live mode); those UIDs are
    not simulated this window and their payloads go through the same validation and scoring.

    Steps: peer list refresh; miners' H inner steps, error feedback, compression and uploads (with put
    times on the virtual clock); gather with reserve fill-in; each validator's Gauntlet window
    (:func:`~protocol.training.validator.process_window`); weights on chain every
    ``windows_per_weights`` windows; the Yuma epoch; the shared outer step; debug dicts and the sync
    EMA; held-out loss.
    """
    cfg, w = state.config, state.window
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    _refresh_peers(state)
    external = dict(external or {})
    unknown = sorted(set(external) - set(state.miner_uids))
    if unknown:
        raise ValueError(f"external uploads for non-miner UIDs {unknown}")
    pools, consumed, deltas, tokens = _train_miners(state, set(external))
    timings["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    put_start, _ = state.clock.put_window(w)
    uploads: dict[int, CompressedGradient] = {}
    put_times: dict[int, float] = {}
    transmitted, ef_norms = [], []
    order = sorted(
        state.miner_uids, key=lambda u: MINER_STRATEGIES.get(state.role(u)).uploads_after_peers()
    )
    invalid_reasons: dict[int, str] = {}
    for uid, upload in external.items():
        if upload.payload is None:
            continue
        put_times[uid] = upload.put_time
        state.last_upload[uid] = w
        check = validate_gradient(
            upload.payload, state.shapes, chunk=cfg.chunk, topk=cfg.topk, bins=cfg.quant_bins
        )
        if check.ok:
            uploads[uid] = check.gradient
        else:
            invalid_reasons[uid] = check.reason
    for uid in order:
        if uid in external:
            continue
        strategy = MINER_STRATEGIES.get(state.role(uid))
        rng = _rng(state, 3, uid)
        ctx = MinerContext(
            uid, w, deltas.get(uid), dict(uploads), state.shapes, rng, cfg, state.device
        )
        built = strategy.build_delta(ctx)
        if isinstance(built, CompressedGradient):
            uploads[uid] = built
        elif built is not None:
            result = compress_pseudo_gradient(
                built,
                state.errors[uid],
                chunk=cfg.chunk,
                topk=cfg.topk,
                ef_beta=cfg.ef_beta,
                bins=cfg.quant_bins,
                value_range=cfg.quant_range,
            )
            state.errors[uid] = result.error
            uploads[uid] = result.gradient
            transmitted.append(result.transmitted_fraction)
            ef_norms.append(result.error_norm)
        low, high = strategy.upload_offset
        put_times[uid] = put_start + float(rng.uniform(low, high))
        state.last_upload[uid] = w
    timings["compress"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    submissions: dict[int, Submission] = {}
    for uid in state.miner_uids:
        gradient = uploads.get(uid)
        status, reason = "missing", ""
        if uid in invalid_reasons:
            status, reason = "invalid", invalid_reasons[uid]
        elif gradient is not None:
            status = state.clock.upload_status(w, put_times[uid])
            if status == "ok":
                check = validate_gradient(
                    gradient, state.shapes, chunk=cfg.chunk, topk=cfg.topk, bins=cfg.quant_bins
                )
                status, reason = ("ok", "") if check.ok else ("invalid", check.reason)
        submissions[uid] = Submission(
            uid,
            status,
            gradient,
            put_times.get(uid, math.inf),
            external[uid].debug if uid in external else state.debug.get(uid),
            pools[uid],
            consumed[uid],
            reason,
        )
    gathered = [u for u in state.gather_list if submissions[u].status == "ok"]
    skipped = [u for u in state.gather_list if submissions[u].status != "ok"]
    for uid in state.reserve_list:
        if len(gathered) >= len(state.gather_list):
            break
        if submissions[uid].status == "ok":
            gathered.append(uid)
    active = {u for u in state.miner_uids if state.last_upload[u] >= w - RECENT_WINDOWS + 1}
    rand_pool = assign_batches(
        random_pool_uid(int(_rng(state, 4).integers(2**31))),
        w,
        state.sequences.shape[0],
        cfg.pool_size,
    )
    results = []
    for validator in state.validators:
        results.append(
            process_window(
                validator,
                window=w,
                global_step=state.global_step,
                miner_uids=state.miner_uids,
                submissions=submissions,
                gather_list=state.gather_list,
                gathered=gathered,
                skipped=skipped,
                active=active,
                theta=state.theta,
                step_scale=state.step_scale,
                loss_on_ids=lambda p, ids: _loss(state, p, ids),
                random_pool=rand_pool,
                config=cfg,
                rng=_rng(state, 5, validator.uid),
            )
        )
    timings["score"] = time.perf_counter() - t0

    # Chain: weights every windows_per_weights windows, an epoch every window.
    if w % cfg.windows_per_weights == 0:
        for validator in state.validators:
            state.chain_weights[validator.uid] = validator.weights
    emission = _epoch(state)

    # Outer step with the gathered set (miners and validators alike).
    t0 = time.perf_counter()
    agg_norm, cosine = 0.0, float("nan")
    marginal: dict[int, float] = {}
    if gathered:
        update = aggregate(
            [submissions[u].gradient for u in gathered], chunk=cfg.chunk, mode=cfg.aggregation
        )
        new_theta = outer_step(state.theta, update, cfg.outer_lr)
        if cfg.measure_marginal_value:
            marginal = _marginal_values(state, gathered, submissions, new_theta)
        agg_norm = float(torch.sqrt(sum(u.pow(2).sum() for u in update.values())))
        honest = [deltas[u] for u in state.miner_uids if state.role(u) == "honest" and u in deltas]
        if honest:
            dense = {n: sum(d[n] for d in honest) / len(honest) for n in state.theta}
            dot = sum(float((update[n] * dense[n]).sum()) for n in update)
            norm_dense = math.sqrt(sum(float(d.pow(2).sum()) for d in dense.values()))
            cosine = dot / max(agg_norm * norm_dense, 1e-30)
        change = {n: (new_theta[n] - state.theta[n]).flatten()[10:12].abs() for n in new_theta}
        if state.step_scale is None:
            state.step_scale = change
        else:
            a = cfg.sync_ema_alpha
            state.step_scale = {n: (1 - a) * state.step_scale[n] + a * change[n] for n in change}
        state.theta = new_theta
        state.global_step += 1
    state.theta_history.append(state.theta)
    fresh, lagged = debug_slices(state.theta), debug_slices(state.theta_history[0])
    for uid in state.miner_uids:
        stale = MINER_STRATEGIES.get(state.role(uid)).skips_outer_steps
        state.debug[uid] = lagged if stale else fresh
    timings["outer"] = time.perf_counter() - t0

    with torch.no_grad():
        held_out = float(lm_loss(state.model, state.theta, state.held_out))
    state.tokens_total += tokens
    metrics = _metrics(
        state,
        submissions,
        gathered,
        results[0],
        uploads,
        emission,
        held_out,
        tokens,
        transmitted,
        ef_norms,
        agg_norm,
        cosine,
        marginal,
        timings,
    )
    state.window += 1
    return metrics


def _held_out(state: RunState, params: Mapping[str, torch.Tensor]) -> float:
    with torch.no_grad():
        return float(lm_loss(state.model, params, state.held_out))


def _marginal_values(
    state: RunState,
    gathered: list[int],
    submissions: Mapping[int, Submission],
    new_theta: Mapping[str, torch.Tensor],
) -> dict[int, float]:
    """Leave-one-out value of each gathered peer: held-out loss of the outer step
    without the peer minus the loss with everyone (positive: the peer helped)."""
    cfg = state.config
    if len(gathered) < 2:
        return {}
    with_all = _held_out(state, new_theta)
    values = {}
    for uid in gathered:
        others = [submissions[u].gradient for u in gathered if u != uid]
        update = aggregate(others, chunk=cfg.chunk, mode=cfg.aggregation)
        values[uid] = _held_out(state, outer_step(state.theta, update, cfg.outer_lr)) - with_all
    return values


def _epoch(state: RunState) -> np.ndarray:
    """Incentive through the project's Yuma epoch (or the flagged Yuma-lite); returns emission shares."""
    cfg = state.config
    stake = np.zeros(cfg.n_uids)
    stake[: cfg.n_validators] = cfg.validator_stake
    if not state.chain_weights.any():
        state.incentive = np.zeros(cfg.n_uids)
        return np.zeros(cfg.n_uids)
    if cfg.chain == "yuma_lite":
        state.incentive = yuma_lite(state.chain_weights, stake)
        return state.incentive.copy()
    from protocol.yuma import yuma_epoch  # imported lazily: the epoch package is large

    result = yuma_epoch(
        torch.as_tensor(state.chain_weights, dtype=torch.float64),
        torch.as_tensor(stake, dtype=torch.float64),
        state.bonds,
        rao_emission=1.0,
        owner_uid=cfg.burn_uid,
    )
    state.bonds = result.bonds
    state.incentive = result.incentive.numpy().astype(np.float64)
    return result.emission.numpy().astype(np.float64)


def _metrics(
    state,
    submissions,
    gathered,
    lead_result,
    uploads,
    emission,
    held_out,
    tokens,
    transmitted,
    ef_norms,
    agg_norm,
    cosine,
    marginal,
    timings,
) -> RoundMetrics:
    cfg, lead = state.config, state.validators[0]
    valid = [u for u in state.miner_uids if submissions[u].status == "ok"]
    overlap_all = index_overlap([uploads[u] for u in valid], cfg.chunk) if len(valid) > 1 else None
    max_overlap = dict.fromkeys(state.miner_uids, 0.0)
    honest_pairs = []
    if overlap_all is not None:
        for i, a in enumerate(valid):
            others = [overlap_all[i, j] for j in range(len(valid)) if j != i]
            max_overlap[a] = float(max(others))
            for j in range(i + 1, len(valid)):
                if state.role(a) == "honest" and state.role(valid[j]) == "honest":
                    honest_pairs.append(float(overlap_all[i, j]))
    sizes = [wire_size(uploads[u]) for u in valid[:1]]
    records = []
    for uid in state.miner_uids:
        ev = lead_result.evaluated.get(uid)
        records.append(
            UidRecord(
                uid=uid,
                role=state.role(uid),
                status=submissions[uid].status,
                in_gather_list=uid in state.gather_list,
                gathered=uid in gathered,
                evaluated=ev is not None,
                gradient_score=float("nan")
                if ev is None or ev.gradient_score is None
                else ev.gradient_score,
                indicator=0 if ev is None or ev.indicator is None else ev.indicator,
                bma=float(lead.bma[uid]),
                ordinal=lead.skill.ordinal(uid),
                sync=float(lead.sync[uid]),
                steps_behind=float(lead_result.steps_behind.get(uid, float("nan"))),
                final_score=float(lead.final[uid]),
                weight=float(lead.weights[uid]),
                incentive=float(state.incentive[uid]),
                emission=float(emission[uid]),
                max_overlap=max_overlap[uid],
                overlap_offender=uid in lead_result.overlap_offenders,
                marginal_value=marginal.get(uid, float("nan")),
            )
        )
    return RoundMetrics(
        window=state.window,
        global_step=state.global_step,
        held_out_loss=held_out,
        optimal_loss=float(state.source.optimal_loss),
        tokens=tokens,
        tokens_total=state.tokens_total,
        contributors=len(gathered),
        gather_list_size=len(state.gather_list),
        honest_overlap_mean=float(np.mean(honest_pairs)) if honest_pairs else float("nan"),
        honest_overlap_max=float(np.max(honest_pairs)) if honest_pairs else float("nan"),
        upload_bytes=float(sizes[0].serialized_bytes) if sizes else float("nan"),
        payload_bits_per_value=sizes[0].payload_bits_per_value if sizes else float("nan"),
        ratio_vs_fp32=sizes[0].ratio_vs_fp32 if sizes else float("nan"),
        aggregate_norm=agg_norm,
        cosine_to_dense_mean=cosine,
        transmitted_fraction=float(np.mean(transmitted)) if transmitted else float("nan"),
        error_feedback_norm=float(np.mean(ef_norms)) if ef_norms else float("nan"),
        burn_weight=float(lead.weights[cfg.burn_uid]),
        weight_sum=float(lead.weights.sum()),
        uids=tuple(records),
        timings=timings,
    )
