"""Measured miner behaviour from ground-truth training runs, for the agent model.

``govsim ground-truth ... --calibrate FILE`` writes what real SparseLoCo / Gauntlet rounds measured
per ground-truth role (``protocol.training.calibration``). This module reads that file (pure,
no model) into a :class:`MinerCalibration`: for each of the agent model's miner strategies
(honest, lazy, copier, sybil) the weight a validator gives one of its uids relative to one
honest uid, the spread of its scores, and how many weight-setting rounds pass before that
weight collapses (detection lag).

Ground-truth roles map onto model strategies by :data:`ROLE_FOR_STRATEGY` (the first role
present in the file wins): a model ``lazy`` miner is measured by a ``lazy`` role, else by a
``free_rider`` (a lazy miner taken to the limit); a ``copier`` by ``copier``/``copier_full``/
``copier_partial``; ``sybil`` by ``sybil``. A strategy without a measured role keeps the model's
own mechanics. ``honest`` is required: every ratio is relative to it.

Files of format version 1 (NaN for missing statistics, no ``format_version``) and version 2
(``null``) are both read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ROLE_FOR_STRATEGY",
    "CalibrationFileError",
    "MinerCalibration",
    "StrategyCalibration",
    "calibration_from_dict",
    "load_miner_calibration",
    "measured_quality_factors",
]

SCHEMA = "govsim.training.calibration/1"
SUPPORTED_FORMAT_VERSIONS = (1, 2)

#: Model miner strategy -> ground-truth roles that measure it, in order of preference.
ROLE_FOR_STRATEGY: dict[str, tuple[str, ...]] = {
    "honest": ("honest",),
    "lazy": ("lazy", "free_rider"),
    "copier": ("copier", "copier_full", "copier_partial"),
    "sybil": ("sybil",),
}

# A per-uid lognormal spread larger than this would make single uids dominate a subnet.
_MAX_SPREAD = 1.0


class CalibrationFileError(ValueError):
    """A calibration file is missing, unreadable or does not follow the schema."""


@dataclass(frozen=True)
class StrategyCalibration:
    """Measured behaviour of one model miner strategy.

    Attributes
    ----------
    role
        Ground-truth role it was measured as.
    relative_weight
        Final-round weight of one uid of this role over that of one honest uid (>= 0).
    score_spread
        Coefficient of variation of the role's gradient score (std / |mean|), capped at 1;
        0 when unmeasured.
    detection_rounds
        Weight-setting rounds before the weight collapses to ``relative_weight`` (mean rounds
        to zero weight; 0 when the role was never zeroed or zeroed from the start).
    detected_fraction
        Share of the role's uids that reached zero weight in the run (fraction).
    """

    role: str
    relative_weight: float
    score_spread: float
    detection_rounds: float
    detected_fraction: float


@dataclass(frozen=True)
class MinerCalibration:
    """Measured miner behaviour, per model strategy.

    Attributes
    ----------
    source
        The file it was read from.
    config
        Ground-truth configuration name (e.g. ``cpu-tiny``).
    rounds
        Rounds the statistics were measured over.
    format_version
        1 (NaN for missing statistics) or 2 (null).
    strategies
        Model strategy name -> its measured behaviour (only strategies with a measured role).
    """

    source: str
    config: str
    rounds: int
    format_version: int
    strategies: dict[str, StrategyCalibration]


def _fail(source: str, key: str, message: str) -> CalibrationFileError:
    return CalibrationFileError(f"{source}: {key}: {message}")


def _number(value: Any, source: str, key: str, *, allow_missing: bool = False) -> float:
    """A finite float (or NaN when ``allow_missing`` and the value is null/NaN)."""
    if value is None and allow_missing:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, key, f"expected a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        if allow_missing and math.isnan(x):
            return math.nan
        raise _fail(source, key, f"expected a finite number, got {value!r}")
    return x


def _section(parent: dict, name: str, source: str, key: str) -> dict:
    if name not in parent:
        raise _fail(source, f"{key}.{name}" if key else name, "missing")
    value = parent[name]
    if not isinstance(value, dict):
        raise _fail(source, f"{key}.{name}" if key else name, f"expected an object, got {value!r}")
    return value


def _strategy(role: str, stats: dict, honest_per_uid: float, source: str) -> StrategyCalibration:
    key = f"roles.{role}"
    n_uids = _number(stats.get("n_uids"), source, f"{key}.n_uids")
    if n_uids < 1 or n_uids != int(n_uids):
        raise _fail(source, f"{key}.n_uids", f"expected an integer >= 1, got {n_uids!r}")
    final = _number(stats.get("final_weight_share"), source, f"{key}.final_weight_share")
    if not 0.0 <= final <= 1.0 + 1e-9:
        raise _fail(source, f"{key}.final_weight_share", f"expected a share in [0, 1], got {final}")
    score = _section(stats, "gradient_score", source, key)
    mean = _number(score.get("mean"), source, f"{key}.gradient_score.mean", allow_missing=True)
    std = _number(score.get("std"), source, f"{key}.gradient_score.std", allow_missing=True)
    if std < 0:
        raise _fail(source, f"{key}.gradient_score.std", f"expected >= 0, got {std}")
    spread = (
        min(std / abs(mean), _MAX_SPREAD)
        if math.isfinite(mean) and math.isfinite(std) and mean != 0
        else 0.0
    )
    zero = _section(stats, "rounds_to_zero_weight", source, key)
    lag = _number(zero.get("mean"), source, f"{key}.rounds_to_zero_weight.mean", allow_missing=True)
    if lag < 0:
        raise _fail(source, f"{key}.rounds_to_zero_weight.mean", f"expected >= 0, got {lag}")
    never = _number(zero.get("never"), source, f"{key}.rounds_to_zero_weight.never")
    if not 0 <= never <= n_uids:
        raise _fail(
            source, f"{key}.rounds_to_zero_weight.never", f"expected 0..{int(n_uids)}, got {never}"
        )
    return StrategyCalibration(
        role=role,
        relative_weight=(final / n_uids) / honest_per_uid,
        score_spread=spread,
        detection_rounds=lag if math.isfinite(lag) else 0.0,
        detected_fraction=1.0 - never / n_uids,
    )


def calibration_from_dict(data: Any, *, source: str = "<calibration>") -> MinerCalibration:
    """Validate parsed calibration JSON and map its roles onto the model's miner strategies.

    Parameters
    ----------
    data
        The parsed JSON document.
    source
        Name used in error messages (the file path).

    Returns
    -------
    MinerCalibration

    Raises
    ------
    CalibrationFileError
        Naming the source and the offending key, the value and what was expected.
    """
    if not isinstance(data, dict):
        raise _fail(source, "<top level>", f"expected a JSON object, got {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise _fail(source, "schema", f"expected {SCHEMA!r}, got {data.get('schema')!r}")
    version = data.get("format_version", 1)
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise _fail(
            source,
            "format_version",
            f"expected one of {SUPPORTED_FORMAT_VERSIONS}, got {version!r}",
        )
    rounds = _number(data.get("rounds"), source, "rounds")
    if rounds < 1:
        raise _fail(source, "rounds", f"expected >= 1, got {rounds}")
    roles = _section(data, "roles", source, "")
    for role, stats in roles.items():
        if not isinstance(stats, dict):
            raise _fail(source, f"roles.{role}", f"expected an object, got {stats!r}")
    honest = _section(roles, "honest", source, "roles")
    honest_final = _number(
        honest.get("final_weight_share"), source, "roles.honest.final_weight_share"
    )
    honest_uids = _number(honest.get("n_uids"), source, "roles.honest.n_uids")
    if honest_final <= 0 or honest_uids < 1:
        raise _fail(
            source,
            "roles.honest.final_weight_share",
            f"expected > 0 with n_uids >= 1 (ratios are relative to honest), got {honest_final}",
        )
    honest_per_uid = honest_final / honest_uids
    strategies: dict[str, StrategyCalibration] = {}
    for strategy, candidates in ROLE_FOR_STRATEGY.items():
        role = next((r for r in candidates if r in roles), None)
        if role is not None:
            strategies[strategy] = _strategy(role, roles[role], honest_per_uid, source)
    # Honest is the reference (relative weight 1 by definition): no detection lag, even when a
    # rank-based schedule left one honest uid unpaid late in the run.
    h = strategies["honest"]
    strategies["honest"] = StrategyCalibration(h.role, h.relative_weight, h.score_spread, 0.0, 0.0)
    return MinerCalibration(
        source=source,
        config=str(data.get("config", "")),
        rounds=int(rounds),
        format_version=int(version),
        strategies=strategies,
    )


def load_miner_calibration(path: str | Path) -> MinerCalibration:
    """Read a ``govsim ground-truth --calibrate`` file (format version 1 or 2).

    Parameters
    ----------
    path
        The JSON file.

    Returns
    -------
    MinerCalibration

    Raises
    ------
    CalibrationFileError
        If the file is missing, not JSON, or breaks the schema (the message names the file and key).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationFileError(f"{source}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)  # accepts the NaN of format version 1
    except json.JSONDecodeError as exc:
        raise CalibrationFileError(f"{source}: not valid JSON ({exc})") from None
    return calibration_from_dict(data, source=source)


def measured_quality_factors(
    calibration: MinerCalibration,
    strategy_of_uid: np.ndarray,
    *,
    weight_exponent: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per-uid multiplier of skill that reproduces the measured relative weights, ``[S, U]``.

    Validators weight ``observed ** weight_exponent``, so a measured weight ratio ``r`` is
    ``r ** (1 / weight_exponent)`` in quality. Each uid also gets a mean-one lognormal draw with
    the role's score spread (fixed per uid slot: measured dispersion, seeded).

    Parameters
    ----------
    calibration
        The loaded file.
    strategy_of_uid
        ``[S, U]`` object array of model strategy names ("" for non-miners).
    weight_exponent
        The honest validators' weight exponent (> 0).
    rng
        Seeded generator for the per-uid dispersion.

    Returns
    -------
    numpy.ndarray
        ``[S, U]`` float64 factors; NaN where the strategy is not calibrated.
    """
    factors = np.full(strategy_of_uid.shape, np.nan)
    z = rng.standard_normal(strategy_of_uid.shape)
    for name, measured in calibration.strategies.items():
        mask = strategy_of_uid == name
        sigma = measured.score_spread
        dispersion = np.exp(sigma * z[mask] - 0.5 * sigma**2)
        factors[mask] = measured.relative_weight ** (1.0 / weight_exponent) * dispersion
    return factors
