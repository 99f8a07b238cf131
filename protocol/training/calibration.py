"""Measured statistics of ground-truth runs for the agent model (``govsim ground-truth --calibrate``).

Pure: takes :class:`~protocol.training.round.RoundMetrics` records, returns a JSON-ready dict.

Schema ``govsim.training.calibration/1``, format version 2::

    {"schema": ..., "format": "govsim.training.calibration", "format_version": 2, "config": str, "seeds": [int], "rounds": int,
     "network": {"final_loss", "optimal_loss", "loss_curve": [float], "contributors_mean",
                 "honest_overlap_mean", "honest_overlap_max", "upload_bytes", "ratio_vs_fp32",
                 "rank_stability_kendall_tau", "weight_vs_marginal_value_spearman"},
     "roles": {role: {"n_uids", "gradient_score": {"mean", "std", "q10", "q50", "q90", "n"},
                      "p_indicator_positive", "bma_final_mean", "final_weight_share",
                      "weight_share_mean", "overlap_flag_rate", "invalid_rate", "late_or_early_rate",
                      "steps_behind_mean", "marginal_value_mean",
                      "rounds_to_zero_weight": {"mean", "max", "never"}}}}

``marginal_value`` is the leave-one-out held-out loss gain of a gathered peer (docs/training.md,
"Calibration").

``rounds_to_zero_weight`` is, per UID, the first round from which its weight stays 0 to the end
(``never`` counts UIDs still paid in the last round).

Missing statistics (no finite sample) are ``None`` (JSON ``null``), so the output serialises with
``json.dumps(..., allow_nan=False)``. Format version 1 files (no ``format_version`` key) wrote
them as ``NaN``; ``sim.calibration_gt`` reads both.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from protocol.training.round import RoundMetrics

__all__ = ["FORMAT", "FORMAT_VERSION", "SCHEMA", "calibration_stats", "nan_to_none"]

SCHEMA = "govsim.training.calibration/1"
FORMAT = "govsim.training.calibration"
#: 2: missing statistics are null instead of NaN; ``format``/``format_version`` keys added.
FORMAT_VERSION = 2


def nan_to_none(value: object) -> object:
    """Replace every non-finite float in nested dicts/lists by ``None`` (JSON ``null``).

    Parameters
    ----------
    value
        A JSON-ready structure (dicts, lists, str, int, float, bool, None).

    Returns
    -------
    object
        The same structure with NaN and +-inf replaced by ``None``.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nan_to_none(v) for v in value]
    return value


def _dist(values: Sequence[float]) -> dict[str, float]:
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {
            "mean": math.nan,
            "std": math.nan,
            "q10": math.nan,
            "q50": math.nan,
            "q90": math.nan,
            "n": 0,
        }
    q10, q50, q90 = np.quantile(v, [0.1, 0.5, 0.9])
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "q10": float(q10),
        "q50": float(q50),
        "q90": float(q90),
        "n": int(v.size),
    }


def _nan_stat(values: Sequence[float], stat: str) -> float:
    """Mean or max over finite values; NaN (without a warning) when there are none."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan
    return float(v.mean() if stat == "mean" else v.max())


def _rank_stability(rounds: Sequence[RoundMetrics]) -> list[float]:
    """Kendall τ between consecutive rounds' gradient-score rankings of the UIDs evaluated in both."""
    from scipy.stats import kendalltau

    taus = []
    for prev, cur in itertools.pairwise(rounds):
        a = {
            r.uid: r.gradient_score
            for r in prev.uids
            if r.evaluated and math.isfinite(r.gradient_score)
        }
        b = {
            r.uid: r.gradient_score
            for r in cur.uids
            if r.evaluated and math.isfinite(r.gradient_score)
        }
        common = sorted(set(a) & set(b))
        if len(common) >= 3:
            tau = kendalltau([a[u] for u in common], [b[u] for u in common]).statistic
            if math.isfinite(tau):
                taus.append(float(tau))
    return taus


def _weight_value_correlation(rounds: Sequence[RoundMetrics]) -> list[float]:
    """Per round: Spearman ρ between the weight and the leave-one-out value of the gathered peers."""
    from scipy.stats import spearmanr

    rhos = []
    for m in rounds:
        pairs = [(r.weight, r.marginal_value) for r in m.uids if math.isfinite(r.marginal_value)]
        if len(pairs) >= 3 and len({p[0] for p in pairs}) > 1 and len({p[1] for p in pairs}) > 1:
            rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
            if math.isfinite(rho):
                rhos.append(float(rho))
    return rhos


def _rounds_to_zero(weights: np.ndarray) -> float:
    """First round index from which the weight stays 0; NaN if still paid at the end."""
    paid = np.flatnonzero(weights > 0)
    if paid.size == 0:
        return 0.0
    last = int(paid[-1])
    return math.nan if last == len(weights) - 1 else float(last + 1)


def calibration_stats(
    runs: Sequence[Sequence[RoundMetrics]], *, config_name: str, seeds: Sequence[int]
) -> dict:
    """Aggregate per-role statistics over one or more runs (one list of rounds per seed).

    Parameters
    ----------
    runs
        Rounds of each run, in order.
    config_name, seeds
        Recorded in the output for provenance.

    Returns
    -------
    dict
        JSON-ready statistics; a statistic with no finite sample is ``None``.
    """
    roles: dict[str, dict[str, list]] = {}
    for rounds in runs:
        uids = [r.uid for r in rounds[0].uids]
        weights = {
            u: np.array([next(x for x in m.uids if x.uid == u).weight for m in rounds])
            for u in uids
        }
        for record in rounds[0].uids:
            acc = roles.setdefault(
                record.role,
                {
                    k: []
                    for k in (
                        "uids",
                        "scores",
                        "indicators",
                        "bma",
                        "final_weight",
                        "weights",
                        "flags",
                        "invalid",
                        "timing",
                        "behind",
                        "zero",
                        "marginal",
                    )
                },
            )
            acc["uids"].append(record.uid)
            acc["zero"].append(_rounds_to_zero(weights[record.uid]))
        for m in rounds:
            for r in m.uids:
                acc = roles[r.role]
                if r.evaluated and math.isfinite(r.gradient_score):
                    acc["scores"].append(r.gradient_score)
                    acc["indicators"].append(r.indicator)
                acc["weights"].append(r.weight)
                acc["flags"].append(r.overlap_offender)
                acc["invalid"].append(r.status == "invalid")
                acc["timing"].append(r.status in ("too_late", "too_early"))
                acc["behind"].append(r.steps_behind)
                acc["marginal"].append(r.marginal_value)
        for r in rounds[-1].uids:
            roles[r.role]["bma"].append(r.bma)
            roles[r.role]["final_weight"].append(r.weight)
    out_roles = {}
    n_runs = max(len(runs), 1)
    for role, acc in sorted(roles.items()):
        zero = np.asarray(acc["zero"], dtype=np.float64)
        finite_zero = zero[np.isfinite(zero)]
        behind = [b for b in acc["behind"] if math.isfinite(b)]
        out_roles[role] = {
            "n_uids": len(acc["uids"]) // n_runs,
            "gradient_score": _dist(acc["scores"]),
            "p_indicator_positive": float(np.mean([i > 0 for i in acc["indicators"]]))
            if acc["indicators"]
            else math.nan,
            "bma_final_mean": float(np.mean(acc["bma"])),
            "final_weight_share": float(np.sum(acc["final_weight"]) / n_runs),
            "weight_share_mean": float(np.sum(acc["weights"]) / (n_runs * len(runs[0]))),
            "overlap_flag_rate": float(np.mean(acc["flags"])),
            "invalid_rate": float(np.mean(acc["invalid"])),
            "late_or_early_rate": float(np.mean(acc["timing"])),
            "steps_behind_mean": float(np.mean(behind)) if behind else math.nan,
            "marginal_value_mean": _nan_stat(acc["marginal"], "mean"),
            "rounds_to_zero_weight": {
                "mean": float(finite_zero.mean()) if finite_zero.size else math.nan,
                "max": float(finite_zero.max()) if finite_zero.size else math.nan,
                "never": int(np.sum(~np.isfinite(zero))),
            },
        }
    last = [rounds[-1] for rounds in runs]
    all_rounds = [m for rounds in runs for m in rounds]
    curve = np.mean([[m.held_out_loss for m in rounds] for rounds in runs], axis=0)
    network = {
        "final_loss": float(np.mean([m.held_out_loss for m in last])),
        "optimal_loss": float(last[0].optimal_loss),
        "loss_curve": [float(x) for x in curve],
        "contributors_mean": float(np.mean([m.contributors for m in all_rounds])),
        "honest_overlap_mean": _nan_stat([m.honest_overlap_mean for m in all_rounds], "mean"),
        "honest_overlap_max": _nan_stat([m.honest_overlap_max for m in all_rounds], "max"),
        "upload_bytes": _nan_stat([m.upload_bytes for m in all_rounds], "mean"),
        "ratio_vs_fp32": _nan_stat([m.ratio_vs_fp32 for m in all_rounds], "mean"),
        "weight_vs_marginal_value_spearman": _nan_stat(
            [rho for rounds in runs for rho in _weight_value_correlation(rounds)], "mean"
        ),
        "rank_stability_kendall_tau": _nan_stat(
            [t for rounds in runs for t in _rank_stability(rounds)], "mean"
        ),
    }
    stats = {
        "schema": SCHEMA,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config_name,
        "seeds": [int(s) for s in seeds],
        "rounds": len(runs[0]),
        "network": network,
        "roles": out_roles,
    }
    return nan_to_none(stats)
