"""The training protocol behind the live coordinator: model, data, payload checks, validators.

:class:`LiveEngine` adapts :mod:`protocol.training` to a coordinator whose miners are remote:
uploads arrive as validated safetensors dicts with a timing status, and everything a miner needs is
derivable from the public config, ``data_seed``, its uid and the window. Each window the engine
runs every validator's Gauntlet evaluation (spec §3 steps 8–10), the weight schedule, the outer
step on the gathered uploads (§3 step 12, §9.3) and the Yuma epoch (weights → emission).

Live miners pull θ from the coordinator every window, so they are in sync by construction: the
sync score is 1 and no debug dicts are exchanged (a documented deviation from §6.3).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from protocol.training.compression import CompressedGradient, compress_pseudo_gradient
from protocol.training.config import CONFIGS, TrainingConfig
from protocol.training.data import (
    assign_batches,
    eval_indices,
    make_source,
    random_pool_uid,
)
from protocol.training.models import lm_loss, make_model, param_dict
from protocol.training.validation import validate_gradient
from protocol.training.validator import (
    NEGATIVE_MATCH_SCORE,
    ValidatorState,
    aggregate,
    binary_indicator,
    compute_weights,
    final_score,
    gradient_score,
    outer_step,
    select_eval_uids,
    select_peers,
)
from protocol.yuma import yuma_epoch

__all__ = ["LiveEngine", "WindowOutcome", "live_training_config"]

#: Value bits of the wire format live mode accepts (the paper's 2-bit codes).
VALUE_BITS = 2


@dataclass(frozen=True)
class WindowOutcome:
    """What closing one window produced.

    Attributes
    ----------
    model
        θ for the next window.
    global_step
        Outer steps taken so far.
    scores
        Per miner uid: the lead validator's view (final, ordinal, BMA, gradient score, evaluated).
    weights
        Per uid: the consensus incentive share from the epoch.
    emission_rao
        Per uid: rao credited this window (miners, validators, burn uid).
    metrics
        Window-level numbers (held-out loss, gathered peers...).
    """

    model: dict[str, torch.Tensor]
    global_step: int
    scores: dict[int, dict[str, Any]]
    weights: dict[int, float]
    emission_rao: dict[int, int]
    metrics: dict[str, Any]


def live_training_config(
    name: str, overrides: Mapping[str, Any], n_validators: int, max_miners: int
) -> TrainingConfig:
    """The training config of a live subnet: the named base, the overrides, the live validator count
    and one (honest) role slot per possible miner uid."""
    return replace(
        CONFIGS[name], **dict(overrides), n_validators=n_validators, roles=("honest",) * max_miners
    )


class LiveEngine:
    """Model, data and validators of one live subnet.

    Parameters
    ----------
    config
        The training config (see :func:`live_training_config`).
    validator_stakes
        Stake (TAO) of validators 0..V-1.
    seed
        Root seed; split with :class:`numpy.random.SeedSequence` into model, data and validator seeds.
    emission_per_window
        TAO the epoch splits each window.
    """

    def __init__(
        self,
        config: TrainingConfig,
        validator_stakes: Sequence[float],
        *,
        seed: int,
        emission_per_window: float,
    ) -> None:
        if config.n_validators != len(validator_stakes):
            raise ValueError(
                f"config.n_validators={config.n_validators} != {len(validator_stakes)} stakes"
            )
        self.config = config
        self.stakes = tuple(float(s) for s in validator_stakes)
        self.seed = seed
        self.emission_per_window = emission_per_window
        model_ss, data_ss, val_ss = np.random.SeedSequence(seed).spawn(3)
        self.model_seed = int(model_ss.generate_state(1)[0])
        self.data_seed = int(data_ss.generate_state(1)[0])
        self.validator_seed = int(val_ss.generate_state(1)[0])
        self.model = make_model(config, seed=self.model_seed)
        self.shapes = {n: tuple(p.shape) for n, p in self.model.named_parameters()}
        self.source = make_source(
            config.data,
            seq_len=config.seq_len,
            n_sequences=config.n_sequences,
            n_held_out=config.n_held_out,
            seed=self.data_seed,
        )
        self.n_uids = config.n_uids
        self.validators = [
            ValidatorState.create(
                v, self.n_uids, beta=config.openskill_beta, tau=config.openskill_tau
            )
            for v in range(config.n_validators)
        ]
        self.bonds = torch.zeros(self.n_uids, self.n_uids, dtype=torch.float64)
        self.lead = int(np.argmax(self.stakes))
        self.windows_seen = 0

    @classmethod
    def from_live_config(cls, live: Any) -> LiveEngine:
        """Build from a :class:`sim.live.config.LiveConfig`."""
        config = live_training_config(
            live.training_config,
            live.training_overrides,
            len(live.validator_stakes),
            live.max_miners,
        )
        return cls(
            config,
            live.validator_stakes,
            seed=live.seed,
            emission_per_window=live.emission_per_window,
        )

    # ------------------------------------------------------------------ layout
    @property
    def burn_uid(self) -> int:
        """The owner's burn uid (right after the validators)."""
        return self.config.burn_uid

    @property
    def first_miner_uid(self) -> int:
        """The uid the first registered miner gets."""
        return self.config.first_miner_uid

    def uid_name(self, uid: int) -> str:
        """Account name for a non-miner uid (``validator-0``, ``burn``)."""
        if uid == self.burn_uid:
            return "burn"
        if uid < self.config.n_validators:
            return f"validator-{uid}"
        return f"uid-{uid}"

    def initial_model(self) -> dict[str, torch.Tensor]:
        """θ at window 0."""
        return param_dict(self.model)

    def reference_payload(self) -> dict[str, torch.Tensor]:
        """A well-formed upload (used only for its tensor names, dtypes and shapes)."""
        gen = torch.Generator().manual_seed(0)
        delta = {n: torch.randn(s, generator=gen) for n, s in self.shapes.items()}
        result = compress_pseudo_gradient(
            delta,
            None,
            chunk=self.config.chunk,
            topk=self.config.topk,
            ef_beta=self.config.ef_beta,
            bins=self.config.quant_bins,
            value_range=self.config.quant_range,
        )
        return result.gradient.to_dict(VALUE_BITS)

    def check_payload(self, tensors: Mapping[str, torch.Tensor]) -> str:
        """The structural checks of spec §2 step 9 (``""`` when valid, else the reason)."""
        result = validate_gradient(
            tensors,
            self.shapes,
            chunk=self.config.chunk,
            topk=self.config.topk,
            bins=self.config.quant_bins,
        )
        return "" if result.ok else result.reason

    def assignment(self, uid: int, window: int) -> dict[str, Any]:
        """The data a miner trains on in ``window`` (Templar's MinerSampler)."""
        pool = assign_batches(uid, window, len(self.source.sequences), self.config.pool_size)
        return {
            "pool": pool.tolist(),
            "inner_steps": self.config.inner_steps,
            "batch_size": self.config.batch_size,
        }

    def public_config(self) -> dict[str, Any]:
        """Everything a miner needs to rebuild the model and data locally."""
        cfg = asdict(self.config)
        cfg.pop("roles")
        return {"config": cfg, "data_seed": self.data_seed, "value_bits": VALUE_BITS}

    # ------------------------------------------------------------------ windows
    def _loss(self, theta: Mapping[str, torch.Tensor], ids: np.ndarray) -> float:
        with torch.no_grad():
            return float(
                lm_loss(self.model, dict(theta), self.source.sequences[torch.as_tensor(ids)])
            )

    def _evaluate(
        self,
        state: ValidatorState,
        validator: int,
        window: int,
        theta: Mapping[str, torch.Tensor],
        gathered: Mapping[int, CompressedGradient],
        statuses: Mapping[int, str],
        miner_uids: Sequence[int],
    ) -> dict[int, dict[str, Any]]:
        """One validator's window (§3 steps 8–10): pick uids, score them, update ratings and final."""
        cfg = self.config
        rng = np.random.default_rng([self.validator_seed, validator, window])
        ordinals = {u: state.skill.ordinal(u) for u in miner_uids}
        chosen = select_eval_uids(
            list(miner_uids),
            ordinals,
            state.last_eval,
            window,
            uids_per_window=cfg.uids_per_window,
            n_bins=cfg.n_bins,
            rng=rng,
        )
        rand_pool = assign_batches(
            random_pool_uid(int(rng.integers(2**31))),
            window,
            len(self.source.sequences),
            cfg.pool_size,
        )
        rand_ids = eval_indices(rand_pool, cfg.n_eval, int(rng.integers(2**31)))
        before_rand = self._loss(theta, rand_ids)
        reference = list(gathered.values())
        match: dict[int, float] = {}
        details: dict[int, dict[str, Any]] = {}
        for uid in chosen:
            state.last_eval[uid] = window
            status = statuses.get(uid, "missing")
            if uid not in gathered:
                match[uid] = NEGATIVE_MATCH_SCORE
                if status == "invalid":
                    state.final[uid] = 0.0
                else:  # missing, too early or too late (§6.6)
                    state.slash(uid, 0.75)
                details[uid] = {"evaluated": True, "status": status}
                continue
            own_pool = assign_batches(uid, window, len(self.source.sequences), cfg.pool_size)
            own_ids = eval_indices(own_pool, cfg.n_eval, int(rng.integers(2**31)))
            before_own = self._loss(theta, own_ids)
            step = aggregate(
                [gathered[uid]], chunk=cfg.chunk, mode=cfg.aggregation, clip_reference=reference
            )
            probe = outer_step(theta, step, cfg.outer_lr * cfg.eval_lr_factor)
            after_own, after_rand = self._loss(probe, own_ids), self._loss(probe, rand_ids)
            score = gradient_score(before_rand, after_rand)
            indicator = binary_indicator(before_own, after_own, before_rand, after_rand)
            state.bma[uid] = (1 - cfg.bma_alpha) * state.bma[uid] + cfg.bma_alpha * indicator
            state.record_eval(uid, score)
            match[uid] = score if math.isfinite(score) else NEGATIVE_MATCH_SCORE
            details[uid] = {
                "evaluated": True,
                "status": status,
                "gradient_score": score,
                "indicator": indicator,
            }
        state.skill.rate(match)
        state.windows_processed += 1
        for uid in match:
            state.final[uid] = final_score(
                state.skill.ordinal(uid),
                float(state.bma[uid]),
                float(state.sync[uid]),
                windows_since_start=state.windows_processed,
                threshold=cfg.bma_threshold,
                warmup=cfg.bma_warmup_windows,
            )
        state.weights = compute_weights(state.final, cfg)
        return details

    def close_window(
        self,
        window: int,
        theta: Mapping[str, torch.Tensor],
        uploads: Mapping[int, Mapping[str, torch.Tensor]],
        statuses: Mapping[int, str],
        miner_uids: Sequence[int],
    ) -> WindowOutcome:
        """Score ``window``, take the outer step and run the epoch.

        Parameters
        ----------
        window
            The window being closed.
        theta
            θ the miners trained from.
        uploads
            Accepted (already validated) uploads by uid, as safetensors dicts.
        statuses
            Per registered miner: ``ok``, ``missing``, ``invalid``, ``too_early`` or ``too_late``.
        miner_uids
            Registered miner uids.
        """
        cfg = self.config
        gathered: dict[int, CompressedGradient] = {}
        statuses = dict(statuses)
        for uid, tensors in sorted(uploads.items()):
            # Checked on upload; checked again here so a damaged file can only cost its own uid.
            result = validate_gradient(
                tensors, self.shapes, chunk=cfg.chunk, topk=cfg.topk, bins=cfg.quant_bins
            )
            if result.ok and result.gradient is not None:
                gathered[uid] = result.gradient
            else:
                statuses[uid] = "invalid"
        per_validator = [
            self._evaluate(state, v, window, theta, gathered, statuses, miner_uids)
            for v, state in enumerate(self.validators)
        ]
        # Outer step on the lead validator's gather list: accepted uploads ranked by its weights.
        lead = self.validators[self.lead]
        rng = np.random.default_rng([self.validator_seed, 10**6, window])
        eligible = [u for u in gathered if not lead.excluded_from_gather(u)]
        gather, _reserve = select_peers(
            eligible,
            lead.weights,
            gather_count=cfg.gather_peer_count,
            reserve_count=cfg.reserve_peer_count,
            rng=rng,
        )
        if gather:
            update = aggregate([gathered[u] for u in gather], chunk=cfg.chunk, mode=cfg.aggregation)
            new_theta = outer_step(theta, update, cfg.outer_lr)
            self.windows_seen += 1
        else:
            new_theta = dict(theta)
        weights = torch.zeros(self.n_uids, self.n_uids, dtype=torch.float64)
        for v, state in enumerate(self.validators):
            weights[v] = torch.as_tensor(state.weights, dtype=torch.float64)
        stake = torch.zeros(self.n_uids, dtype=torch.float64)
        stake[: len(self.stakes)] = torch.tensor(self.stakes, dtype=torch.float64)
        rao = self.emission_per_window * 1e9
        epoch = yuma_epoch(weights, stake, self.bonds, rao_emission=rao)
        self.bonds = epoch.bonds.to(torch.float64)
        emission = _floor_conserving(epoch.emission.cpu().numpy(), round(rao))
        scores = {}
        for uid in miner_uids:
            lead_view = per_validator[self.lead].get(uid, {"evaluated": False})
            scores[uid] = lead_view | {
                "final": float(lead.final[uid]),
                "ordinal": lead.skill.ordinal(uid),
                "bma": float(lead.bma[uid]),
                "gathered": uid in gather,
            }
        incentive = epoch.incentive.cpu().numpy()
        return WindowOutcome(
            model=new_theta,
            global_step=self.windows_seen,
            scores=scores,
            weights={u: float(incentive[u]) for u in range(self.n_uids) if incentive[u] > 0},
            emission_rao={u: int(e) for u, e in enumerate(emission) if e > 0},
            metrics={
                "held_out_loss": self._held_out_loss(new_theta),
                "gathered": len(gather),
                "uploads": len(gathered),
            },
        )

    def _held_out_loss(self, theta: Mapping[str, torch.Tensor]) -> float:
        with torch.no_grad():
            return float(lm_loss(self.model, dict(theta), self.source.held_out))

    # ------------------------------------------------------------------ persistence
    def export_state(self) -> dict[str, Any]:
        """JSON-friendly validator state, bonds and step count (see :meth:`import_state`)."""
        return {
            "windows_seen": self.windows_seen,
            "bonds": self.bonds.tolist(),
            "validators": [_state_to_json(s) for s in self.validators],
        }

    def import_state(self, doc: Mapping[str, Any]) -> None:
        """Restore :meth:`export_state`'s output."""
        self.windows_seen = int(doc["windows_seen"])
        self.bonds = torch.tensor(doc["bonds"], dtype=torch.float64)
        self.validators = [_state_from_json(d, self.config) for d in doc["validators"]]


def _floor_conserving(values: np.ndarray, total: int) -> np.ndarray:
    """Whole rao per uid that sum to ``total`` (largest remainders get the leftover rao)."""
    values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, None)
    if values.sum() <= 0:
        return np.zeros(len(values), dtype=np.int64)
    scaled = values * (total / values.sum())
    floors = np.floor(scaled).astype(np.int64)
    leftover = int(total - floors.sum())
    order = np.argsort(-(scaled - floors), kind="stable")[:leftover]
    floors[order] += 1
    return floors


def _state_to_json(state: ValidatorState) -> dict[str, Any]:
    def ints(d: Mapping[int, Any]) -> dict[str, Any]:
        return {str(k): (list(v) if isinstance(v, deque) else v) for k, v in d.items()}

    return {
        "uid": state.uid,
        "n_uids": state.n_uids,
        "ratings": {str(u): [r.mu, r.sigma] for u, r in state.skill.ratings.items()},
        "bma": state.bma.tolist(),
        "final": state.final.tolist(),
        "sync": state.sync.tolist(),
        "weights": state.weights.tolist(),
        "last_eval": ints(state.last_eval),
        "eval_history": ints(state.eval_history),
        "consecutive_negative": ints(state.consecutive_negative),
        "miss_streak": ints(state.miss_streak),
        "miss_history": ints(state.miss_history),
        "naughty_until": ints(state.naughty_until),
        "inactive_windows": ints(state.inactive_windows),
        "windows_processed": state.windows_processed,
    }


def _state_from_json(doc: Mapping[str, Any], config: TrainingConfig) -> ValidatorState:
    state = ValidatorState.create(
        int(doc["uid"]), int(doc["n_uids"]), beta=config.openskill_beta, tau=config.openskill_tau
    )
    for uid, (mu, sigma) in doc["ratings"].items():
        state.skill.ratings[int(uid)] = state.skill.model.rating(mu=mu, sigma=sigma)
    for name in ("bma", "final", "sync", "weights"):
        setattr(state, name, np.asarray(doc[name], dtype=np.float64))
    state.last_eval = {int(k): int(v) for k, v in doc["last_eval"].items()}
    state.eval_history = {int(k): deque(v, maxlen=8) for k, v in doc["eval_history"].items()}
    state.consecutive_negative = {int(k): int(v) for k, v in doc["consecutive_negative"].items()}
    state.miss_streak = {int(k): int(v) for k, v in doc["miss_streak"].items()}
    state.miss_history = {int(k): deque(v, maxlen=8) for k, v in doc["miss_history"].items()}
    state.naughty_until = {int(k): int(v) for k, v in doc["naughty_until"].items()}
    state.inactive_windows = {int(k): int(v) for k, v in doc["inactive_windows"].items()}
    state.windows_processed = int(doc["windows_processed"])
    return state
