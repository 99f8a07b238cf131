"""The training protocol behind the live coordinator: :mod:`protocol.training`'s own round.

:class:`LiveEngine` holds a :class:`protocol.training.RunState` (``init_run``) whose miner uids are
all external: every window the coordinator hands the accepted uploads to
:func:`protocol.training.run_round` as :class:`~protocol.training.ExternalUpload` objects, so peer
lists, gathering with reserve fill-in, every validator's Gauntlet window (``process_window``:
penalties, overlap, OpenSkill, final scores, weights), weights on chain every
``windows_per_weights`` windows, the Yuma epoch and the outer step are the ground-truth round's,
unchanged. The engine adds what a real clock and real money need: mapping receive times onto the
round's virtual put window, whole-rao emission per uid, and JSON export/import of the run state.

Live miners pull θ every window, so their debug slices are those of θ itself (sync score 1; a
documented deviation from the ground-truth round, where miners upload debug dicts; see
``docs/live.md``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from protocol.training import (
    CONFIGS,
    ExternalUpload,
    TrainingConfig,
    compress_pseudo_gradient,
    init_run,
    run_round,
    validate_gradient,
    worker_task,
)
from protocol.training.validator import OpenSkillBook, ValidatorState, debug_slices
from protocol.yuma import yuma_epoch

__all__ = ["VALUE_BITS", "LiveEngine", "WindowOutcome", "live_training_config"]

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
        Per registered miner uid: the lead validator's view (status, gathered, gradient score,
        indicator, BMA, ordinal, sync, final score, weight).
    weights
        Per uid with a positive share: the consensus incentive from the epoch.
    emission_rao
        Per uid: whole rao credited this window (miners, validators, burn uid).
    metrics
        Window-level numbers (held-out loss, contributors, upload bytes...).
    weights_window
        The window whose validator weights were on chain for this window's epoch (weights go on
        chain every ``windows_per_weights`` windows); ``None`` before any weights.
    """

    model: dict[str, torch.Tensor]
    global_step: int
    scores: dict[int, dict[str, Any]]
    weights: dict[int, float]
    emission_rao: dict[int, int]
    metrics: dict[str, Any]
    weights_window: int | None = None


def live_training_config(
    name: str,
    overrides: Mapping[str, Any],
    *,
    validators: int,
    validator_stake: float,
    max_miners: int,
) -> TrainingConfig:
    """The training config of a live subnet: the named base, the overrides, the live validators
    and one ``live`` role slot per possible miner uid (never simulated: every miner is external)."""
    return replace(
        CONFIGS[name],
        **dict(overrides),
        n_validators=validators,
        validator_stake=validator_stake,
        roles=("live",) * max_miners,
    )


class LiveEngine:
    """Model, data and validators of one live subnet (a ground-truth run with external miners).

    Parameters
    ----------
    config
        The training config (see :func:`live_training_config`).
    seed
        The run's seed (``init_run``); public, since miners rebuild the data from it.
    emission_per_window
        TAO the epoch splits each window.
    """

    def __init__(self, config: TrainingConfig, *, seed: int, emission_per_window: float) -> None:
        self.config = config
        self.seed = seed
        self.emission_per_window = emission_per_window
        self.state = init_run(config, seed)
        self.shapes = dict(self.state.shapes)
        self._warm_up_epoch()

    def _warm_up_epoch(self) -> None:
        """Run one throw-away epoch at start-up: the epoch's CPU kernel is compiled (or loaded from
        its cache) on first use, which must not eat into the first window's time."""
        n = self.config.n_uids
        weights = torch.zeros(n, n, dtype=torch.float64)
        weights[: self.config.n_validators, self.burn_uid] = 1.0
        stake = torch.zeros(n, dtype=torch.float64)
        stake[: self.config.n_validators] = 1.0
        yuma_epoch(weights, stake, torch.zeros(n, n, dtype=torch.float64), owner_uid=self.burn_uid)

    @classmethod
    def from_live_config(cls, live: Any) -> LiveEngine:
        """Build from a :class:`sim.live.config.LiveConfig`."""
        config = live_training_config(
            live.training_config,
            live.training_overrides,
            validators=live.validators,
            validator_stake=live.validator_stake,
            max_miners=live.max_miners,
        )
        return cls(config, seed=live.seed, emission_per_window=live.emission_per_window)

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
        """Account name of a non-miner uid (``validator-0``, ``burn``)."""
        if uid == self.burn_uid:
            return "burn"
        if uid < self.config.n_validators:
            return f"validator-{uid}"
        return f"uid-{uid}"

    def initial_model(self) -> dict[str, torch.Tensor]:
        """θ of the run's current window."""
        return {k: v.detach().clone() for k, v in self.state.theta.items()}

    def reference_payload(self) -> dict[str, torch.Tensor]:
        """A well-formed upload (used only for its tensor names, dtypes and shapes)."""
        gen = torch.Generator().manual_seed(0)
        delta = {n: torch.randn(s, generator=gen) for n, s in self.shapes.items()}
        cfg = self.config
        result = compress_pseudo_gradient(
            delta,
            None,
            chunk=cfg.chunk,
            topk=cfg.topk,
            ef_beta=cfg.ef_beta,
            bins=cfg.quant_bins,
            value_range=cfg.quant_range,
        )
        return result.gradient.to_dict(VALUE_BITS)

    def check_payload(self, tensors: Mapping[str, torch.Tensor]) -> str:
        """``validate_gradient``'s structural checks (``""`` when valid, else the reason)."""
        cfg = self.config
        result = validate_gradient(
            tensors, self.shapes, chunk=cfg.chunk, topk=cfg.topk, bins=cfg.quant_bins
        )
        return "" if result.ok else result.reason

    @property
    def window(self) -> int:
        """The window the run is in (the next one to close)."""
        return self.state.window

    def assignment(self, uid: int) -> dict[str, Any]:
        """The work order of miner ``uid`` for the run's current window (``worker_task``)."""
        task = worker_task(self.state, uid)
        return {
            "window": task.window,
            "global_step": task.global_step,
            "sequence_ids": task.sequence_ids.tolist(),
            "hparams": task.hparams,
        }

    def public_config(self) -> dict[str, Any]:
        """Everything a miner needs to rebuild the model and data locally (``init_run``)."""
        cfg = asdict(self.config)
        cfg.pop("roles")
        return {"config": cfg, "seed": self.seed, "value_bits": VALUE_BITS}

    # ------------------------------------------------------------------ windows
    def close_window(
        self,
        window: int,
        uploads: Mapping[int, Mapping[str, torch.Tensor]],
        put_fractions: Mapping[int, float],
        statuses: Mapping[int, str],
        miner_uids: Sequence[int],
        *,
        emission_tao: float | None = None,
    ) -> WindowOutcome:
        """Run the ground-truth round for ``window`` with every miner external.

        Parameters
        ----------
        window
            Must be the run's current window.
        uploads
            Accepted uploads by uid (safetensors dicts).
        put_fractions
            Per accepted upload: where in the live put window it arrived, in [0, 1]; mapped onto
            the round's virtual put window so upload order (the overlap rule's "later uploader")
            is kept.
        statuses
            Per registered miner without an accepted upload: ``invalid`` (a refused malformed
            upload: scored invalid), or ``missing`` / ``too_early`` / ``too_late`` (scored missing,
            the same ×0.75 penalty).
        miner_uids
            Registered miner uids (for the scores returned).
        emission_tao
            TAO the epoch splits this window (default ``emission_per_window``; a simulated
            network around the live subnet sets it per window).
        """
        state = self.state
        if window != state.window:
            raise ValueError(f"window {window} is not the run's current window {state.window}")
        opens, closes = state.clock.put_window(window)
        debug = debug_slices(state.theta)  # live miners trained from θ itself
        external: dict[int, ExternalUpload] = {}
        for uid in state.miner_uids:
            if uid in uploads:
                put_time = opens + float(np.clip(put_fractions.get(uid, 0.0), 0.0, 1.0)) * (
                    closes - opens
                )
                external[uid] = ExternalUpload(dict(uploads[uid]), put_time, debug)
            elif statuses.get(uid) == "invalid":
                external[uid] = ExternalUpload(
                    {}, opens
                )  # an empty message fails validation: invalid
            else:
                external[uid] = ExternalUpload(None, math.inf)
        bonds_before = state.bonds.clone()
        backup, theta = self.export_state(), dict(state.theta)
        try:
            round_metrics = run_round(state, external)
            total = self.emission_per_window if emission_tao is None else emission_tao
            emission = self._emission(bonds_before, total)
        except Exception:
            self.import_state(backup, theta)  # a failed window leaves the run as it was
            raise
        by_uid = {rec.uid: rec for rec in round_metrics.uids}
        scores = {}
        for uid in miner_uids:
            rec = by_uid[uid]
            scores[uid] = {
                "status": rec.status,
                "gathered": rec.gathered,
                "evaluated": rec.evaluated,
                "gradient_score": None if math.isnan(rec.gradient_score) else rec.gradient_score,
                "indicator": rec.indicator,
                "bma": rec.bma,
                "ordinal": rec.ordinal,
                "sync": rec.sync,
                "final": rec.final_score,
                "weight": rec.weight,
            }
        incentive = state.incentive
        every = self.config.windows_per_weights
        return WindowOutcome(
            model={k: v.detach().clone() for k, v in state.theta.items()},
            global_step=state.global_step,
            scores=scores,
            weights={u: float(incentive[u]) for u in range(len(incentive)) if incentive[u] > 0},
            emission_rao={u: int(e) for u, e in enumerate(emission) if e > 0},
            metrics={
                "held_out_loss": round_metrics.held_out_loss,
                "optimal_loss": round_metrics.optimal_loss,
                "contributors": round_metrics.contributors,
                "gather_list_size": round_metrics.gather_list_size,
                "upload_bytes": round_metrics.upload_bytes,
                "burn_weight": round_metrics.burn_weight,
            },
            # run_round puts weights on chain when window % windows_per_weights == 0.
            weights_window=window - window % every if state.chain_weights.any() else None,
        )

    def reset_uid(self, uid: int) -> None:
        """Forget a miner uid that a new hotkey took (a pruned registration).

        As subtensor's ``clear_neuron`` does on ``replace_neuron``: weights *to* the uid are
        zeroed on chain and its incentive is reset; every validator also forgets its scores of the
        uid (rating, BMA, final score, sync, penalties and evaluation history), so the new hotkey
        starts where a fresh uid does and neither inherits nor pays for the old one's record.
        """
        state = self.state
        if uid not in state.miner_uids:
            raise ValueError(f"uid {uid} is not a miner uid of this subnet")
        state.chain_weights[:, uid] = 0.0
        state.incentive[uid] = 0.0
        state.last_upload[uid] = -1  # as a slot nobody used yet (init_run's value)
        for validator in state.validators:
            validator.reset_peer(uid)
            validator.weights[uid] = 0.0
            for book in (
                validator.last_eval,
                validator.miss_streak,
                validator.miss_history,
                validator.naughty_until,
                validator.inactive_windows,
            ):
                book.pop(uid, None)

    def _emission(self, bonds_before: torch.Tensor, total_tao: float) -> np.ndarray:
        """Whole rao per uid for this window: the round's epoch (same inputs) in rao."""
        cfg, state = self.config, self.state
        total = round(total_tao * 1e9)
        if not state.chain_weights.any():
            return np.zeros(cfg.n_uids, dtype=np.int64)  # no weights on chain yet: nothing is paid
        if cfg.chain == "yuma_lite":
            return _floor_conserving(state.incentive, total)
        stake = np.zeros(cfg.n_uids)
        stake[: cfg.n_validators] = cfg.validator_stake
        result = yuma_epoch(
            torch.as_tensor(state.chain_weights, dtype=torch.float64),
            torch.as_tensor(stake, dtype=torch.float64),
            bonds_before,
            rao_emission=float(total),
            owner_uid=cfg.burn_uid,
        )
        return _floor_conserving(result.emission.cpu().numpy(), total)

    # ------------------------------------------------------------------ persistence
    def export_state(self) -> dict[str, Any]:
        """The run state as JSON (θ itself is checkpointed by the coordinator as safetensors)."""
        s = self.state
        return {
            "window": s.window,
            "global_step": s.global_step,
            "tokens_total": s.tokens_total,
            "gather_list": list(s.gather_list),
            "reserve_list": list(s.reserve_list),
            "last_upload": {str(k): v for k, v in s.last_upload.items()},
            "step_scale": None
            if s.step_scale is None
            else {k: v.tolist() for k, v in s.step_scale.items()},
            "chain_weights": s.chain_weights.tolist(),
            "bonds": s.bonds.tolist(),
            "incentive": s.incentive.tolist(),
            "validators": [_validator_to_json(v) for v in s.validators],
        }

    def import_state(self, doc: Mapping[str, Any], theta: Mapping[str, torch.Tensor]) -> None:
        """Restore :meth:`export_state`'s output and θ."""
        s = self.state
        s.window = int(doc["window"])
        s.global_step = int(doc["global_step"])
        s.tokens_total = int(doc["tokens_total"])
        s.gather_list = [int(u) for u in doc["gather_list"]]
        s.reserve_list = [int(u) for u in doc["reserve_list"]]
        s.last_upload = {int(k): int(v) for k, v in doc["last_upload"].items()}
        s.step_scale = (
            None
            if doc["step_scale"] is None
            else {k: torch.tensor(v, dtype=s.theta[k].dtype) for k, v in doc["step_scale"].items()}
        )
        s.chain_weights = np.asarray(doc["chain_weights"], dtype=np.float64)
        s.bonds = torch.tensor(doc["bonds"], dtype=torch.float64)
        s.incentive = np.asarray(doc["incentive"], dtype=np.float64)
        s.validators = [_validator_from_json(d, self.config) for d in doc["validators"]]
        s.theta = {k: v.to(s.device) for k, v in theta.items()}
        s.theta_history = deque([s.theta], maxlen=self.config.stale_skip + 1)
        s.debug = {u: debug_slices(s.theta) for u in s.miner_uids}


def _floor_conserving(values: np.ndarray, total: int) -> np.ndarray:
    """Whole rao per uid, proportional to ``values``, summing to ``total`` (largest remainders)."""
    values = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0), 0.0, None)
    if values.sum() <= 0:
        return np.zeros(len(values), dtype=np.int64)
    scaled = values * (total / values.sum())
    floors = np.floor(scaled).astype(np.int64)
    leftover = int(total - floors.sum())
    order = np.argsort(-(scaled - floors), kind="stable")[:leftover]
    floors[order] += 1
    return floors


def _ints(d: Mapping[int, Any]) -> dict[str, Any]:
    return {str(k): (list(v) if isinstance(v, deque) else v) for k, v in d.items()}


def _validator_to_json(state: ValidatorState) -> dict[str, Any]:
    return {
        "uid": state.uid,
        "n_uids": state.n_uids,
        "ratings": {str(u): [r.mu, r.sigma] for u, r in state.skill.ratings.items()},
        "bma": state.bma.tolist(),
        "final": state.final.tolist(),
        "sync": state.sync.tolist(),
        "weights": state.weights.tolist(),
        "last_eval": _ints(state.last_eval),
        "eval_history": _ints(state.eval_history),
        "consecutive_negative": _ints(state.consecutive_negative),
        "miss_streak": _ints(state.miss_streak),
        "miss_history": _ints(state.miss_history),
        "naughty_until": _ints(state.naughty_until),
        "inactive_windows": _ints(state.inactive_windows),
        "windows_processed": state.windows_processed,
    }


def _validator_from_json(doc: Mapping[str, Any], config: TrainingConfig) -> ValidatorState:
    state = ValidatorState.create(
        int(doc["uid"]), int(doc["n_uids"]), beta=config.openskill_beta, tau=config.openskill_tau
    )
    skill: OpenSkillBook = state.skill
    for uid, (mu, sigma) in doc["ratings"].items():
        skill.ratings[int(uid)] = skill.model.rating(mu=mu, sigma=sigma)
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
