"""Validators: turn observed miner quality into weights (honest, weight copier, cabal, inactive).

One Mesa agent per strategy holds a boolean mask over the ``[S, V]`` validator grid and writes
its rows of the ``[S, V, U]`` weight tensor each tempo; the economy (and through it
``protocol.yuma``) turns weights into consensus, bonds and dividends.

Why each strategy matters:

* ``weight_copier`` copies the last *revealed* consensus. Without commit-reveal that is the
  consensus of this tempo, so copying is nearly free; with commit-reveal it is ``reveal_tempos``
  old, and because miner skill moves, stale weights fall out of consensus and earn less.
* ``cabal`` boosts the miners it controls; below kappa of the stake, Yuma clips its weights to
  consensus, so its miners gain nothing.
* ``inactive`` sets no weights and earns no dividends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import mesa
import numpy as np

from protocol._numba import HAVE_NUMBA, jit, pairwise_sum
from protocol.registry import Registry
from sim import noise_stream
from sim.agents.host import AgentHost

__all__ = [
    "VALIDATOR_STRATEGIES",
    "CabalValidators",
    "HonestValidators",
    "InactiveValidators",
    "ValidatorCohort",
    "ValidatorObservation",
    "WeightCopierValidators",
    "normalise_rows",
    "observed_quality",
]

VALIDATOR_STRATEGIES: Registry[type[ValidatorCohort]] = Registry("validator strategy")


@dataclass(frozen=True)
class ValidatorObservation:
    """What validators see when they set weights.

    Attributes
    ----------
    observed
        ``[S, V, U]`` quality each validator measured for each uid (0 for validator uids).
    revealed_consensus
        ``[S, U]`` the latest consensus weights the chain has made public.
    cabal_miners
        ``[S, U]`` True for miners controlled by the subnet's cabal.
    """

    observed: np.ndarray
    revealed_consensus: np.ndarray
    cabal_miners: np.ndarray
    #: Honest weight rows of every slot per exponent, computed once per observation.
    _honest: dict[float, np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def honest_weights(self, exponent: float) -> np.ndarray:
        """``[S, V, U]`` weights an honest validator in every slot would set: the observed
        quality to the power ``exponent``, rows normalised (computed once per exponent and
        shared by the cohorts that evaluate honestly; do not modify)."""
        rows = self._honest.get(exponent)
        if rows is None:
            if exponent == 2.0 and _can_divide_rows(self.observed):
                # One pass instead of a power, a sum and a division over [S, V, U] (the same
                # squares, numpy's sums and the same divisions)
                rows = np.empty(self.observed.shape)
                n = self.observed.shape[-1]
                _squared_normalised_rows(self.observed.reshape(-1, n), rows.reshape(-1, n))
            else:
                rows = self.observed**exponent
                _normalise_rows_inplace(rows)
            self._honest[exponent] = rows
        return rows


def normalise_rows(w: np.ndarray) -> np.ndarray:
    """Scale the last axis to sum to 1; all-zero rows stay zero."""
    total = w.sum(axis=-1, keepdims=True)
    if _can_divide_rows(w):
        out = np.empty(w.shape)
        _divide_rows(w.reshape(-1, w.shape[-1]), total.reshape(-1), out.reshape(-1, w.shape[-1]))
        return out
    positive = total > 0
    # The same divisions as np.divide(..., where=positive) into zeros, without its slow path.
    return np.where(positive, w / np.where(positive, total, 1.0), 0.0)


def _normalise_rows_inplace(w: np.ndarray) -> None:
    """:func:`normalise_rows` written into ``w`` (one array less at the network's size)."""
    total = w.sum(axis=-1, keepdims=True)
    if _can_divide_rows(w):
        flat = w.reshape(-1, w.shape[-1])
        _divide_rows(flat, total.reshape(-1), flat)
        return
    positive = total > 0
    np.divide(w, np.where(positive, total, 1.0), out=w)
    if not positive.all():
        np.copyto(w, 0.0, where=~positive)


def _can_divide_rows(w: np.ndarray) -> bool:
    """Whether :func:`_divide_rows` takes ``w`` (numba, float64, C-contiguous, non-empty)."""
    return HAVE_NUMBA and w.dtype == np.float64 and w.flags.c_contiguous and w.size > 0


@jit
def _divide_rows(
    w: np.ndarray, total: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``out[i] = w[i] / total[i]`` where ``total[i] > 0``, else 0 (``out`` may be ``w``): the
    divisions and zeros of the numpy path in one pass; the sums stay numpy's."""
    rows, n = w.shape
    for i in range(rows):
        t = total[i]
        if t > 0:
            for j in range(n):
                out[i, j] = w[i, j] / t
        else:
            for j in range(n):
                out[i, j] = 0.0


@jit
def _squared_normalised_rows(
    observed: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``out = observed**2`` with rows scaled to sum to 1 (all-zero and NaN-sum rows 0): the
    squares numpy's ``**2.0`` takes (``x * x``), numpy's row sums (:func:`pairwise_sum`, after
    the identity 0 that ``np.add.reduce`` starts from) and the divisions of
    :func:`_divide_rows`, in one pass per row."""
    rows, n = observed.shape
    for i in range(rows):
        row = out[i]
        for j in range(n):
            x = observed[i, j]
            row[j] = x * x
        total = 0.0 + pairwise_sum(row, 0, n)
        if total > 0:
            for j in range(n):
                row[j] = row[j] / total
        else:
            for j in range(n):
                row[j] = 0.0


def observed_quality(
    apparent: np.ndarray,
    duplicate: np.ndarray,
    is_miner: np.ndarray,
    *,
    n_validators: int,
    noise: float,
    detection: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Quality of every uid as measured by every validator, ``[S, V, U]``.

    Multiplicative lognormal noise per (validator, uid); a duplicate submission is recognised
    with probability ``detection`` by each validator independently and then scores 0.

    Parameters
    ----------
    apparent
        ``[S, U]`` quality the submissions appear to have.
    duplicate
        ``[S, U]`` True where a submission copies another.
    is_miner
        ``[S, U]`` True for miner uids.
    n_validators
        ``V``.
    noise
        Std of the log noise (dimensionless).
    detection
        Chance a validator spots a duplicate (fraction).
    rng
        The run's generator for observation noise.

    Returns
    -------
    numpy.ndarray
        ``[S, V, U]`` float64, >= 0.
    """
    s, u = apparent.shape
    base = np.where(is_miner, apparent, 0.0)[:, None, :]
    # In place on the float32 draws (same values as ``base * exp(noise * z)``, fewer copies).
    # numpy's draws, from a compiled twin of its PCG64 stream where it can run (same bits).
    factor = noise_stream.standard_normal_float32(rng, (s, n_validators, u))
    factor *= noise
    np.exp(factor, out=factor)
    if detection > 0 and duplicate.any():
        if HAVE_NUMBA and base.dtype == np.float64:
            obs = np.empty((s, n_validators, u))
            with noise_stream.pcg64_words(rng) as words:
                if words is not None:
                    # the uniform draws made inside the pass, in numpy's order (no array)
                    detect = np.float32(detection)
                    _spot_duplicates_drawing(base[:, 0, :], factor, duplicate, detect, words, obs)
            if words is not None:
                return obs
        draws = rng.random((s, n_validators, u), dtype=np.float32)
        if HAVE_NUMBA and base.dtype == np.float64:
            # One pass instead of product, compare, mask and copy (the same products; the
            # draw is compared with ``detection`` in float32, as numpy does).
            obs = np.empty((s, n_validators, u))
            _spot_duplicates(base[:, 0, :], factor, draws, duplicate, np.float32(detection), obs)
            return obs
        obs = base * factor
        spotted = draws < detection
        spotted &= duplicate[:, None, :]
        np.copyto(obs, 0.0, where=spotted)
        return obs.astype(np.float64, copy=False)
    return (base * factor).astype(np.float64, copy=False)


@jit
def _spot_duplicates(
    base: np.ndarray,
    factor: np.ndarray,
    draws: np.ndarray,
    duplicate: np.ndarray,
    detection: np.float32,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba
    """``out[i, v, j] = base[i, j] * factor[i, v, j]``, or 0 where the submission is a duplicate
    and ``draws[i, v, j] < detection`` (validator ``v`` spotted it)."""
    s, v, u = factor.shape
    for i in range(s):
        for k in range(v):
            # branch-free, so that the loop vectorises
            for j in range(u):
                spotted = duplicate[i, j] & (draws[i, k, j] < detection)
                product = base[i, j] * np.float64(factor[i, k, j])
                out[i, k, j] = 0.0 if spotted else product


@jit
def _spot_duplicates_drawing(
    base: np.ndarray,
    factor: np.ndarray,
    duplicate: np.ndarray,
    detection: np.float32,
    words: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba
    """:func:`_spot_duplicates` with its draws taken from the stream ``words``
    (:func:`sim.noise_stream.pcg64_words`): the same values as ``rng.random(factor.shape,
    dtype=np.float32)`` in C order, but only those of duplicate submissions are made; the
    stream jumps over the others (and the generator ends where numpy's would)."""
    s, v, u = factor.shape
    high, low, inc_high, inc_low, has, buffered = noise_stream.load_words(words)
    table = noise_stream.jump_table(words, u + 2)  # a jump per draw within a subnet
    columns = np.empty(u, dtype=np.int64)
    position = 0  # draws of the stream made or skipped so far
    for i in range(s):
        n_duplicates = 0
        for j in range(u):
            if duplicate[i, j]:
                columns[n_duplicates] = j
                n_duplicates += 1
        for k in range(v):
            for j in range(u):  # vectorises
                out[i, k, j] = base[i, j] * np.float64(factor[i, k, j])
            # the row's draws while it is in the cache
            row = (i * v + k) * u
            for c in range(n_duplicates):
                j = columns[c]
                r, high, low, has, buffered = noise_stream.next_uint32_after(
                    high, low, has, buffered, row + j - position, table
                )
                position = row + j + 1
                spotted = noise_stream.uniform_float32(r) < detection
                out[i, k, j] = 0.0 if spotted else out[i, k, j]  # a select, not a branch
    high, low, has, buffered = noise_stream.skip_uint32(
        high, low, inc_high, inc_low, has, buffered, s * v * u - position, table
    )
    noise_stream.store_words(words, high, low, has, buffered)


@jit
def _copy_masked_rows(
    rows: np.ndarray, mask: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``out[s, v] = rows[s, v]`` where ``mask[s, v]`` (``np.copyto(..., where=mask)`` row by
    row: a plain copy per masked row instead of a masked copy of every element)."""
    s, v, n = out.shape
    for i in range(s):
        for k in range(v):
            if mask[i, k]:
                for j in range(n):
                    out[i, k, j] = rows[i, k, j]


class ValidatorCohort(mesa.Agent):
    """All validator slots (rows of ``[S, V]``) that follow one strategy.

    Parameters
    ----------
    model
        The Mesa model.
    mask
        Boolean ``[S, V]``.
    params
        Strategy parameters (``validators.strategy_params[name]`` over the defaults).
    """

    name: ClassVar[str] = "base"
    defaults: ClassVar[dict[str, float]] = {"weight_exponent": 2.0}
    #: The model as a cohort reads it (Mesa registers the cohort with the ``mesa.Model``).
    model: AgentHost

    def __init__(self, model: mesa.Model, mask: np.ndarray, params: dict[str, Any]) -> None:
        super().__init__(model)
        self.mask = mask
        self.params = {**self.defaults, **params}

    def honest_rows(self, obs: ValidatorObservation) -> np.ndarray:
        """Weights an honest validator in each of this cohort's slots would set ``[k, U]``."""
        return obs.honest_weights(float(self.params["weight_exponent"]))[self.mask]

    def weights(self, obs: ValidatorObservation) -> np.ndarray:
        """Rows for this cohort's slots, ``[k, U]`` (override in strategies)."""
        raise NotImplementedError

    def act(self, obs: ValidatorObservation, out: np.ndarray) -> None:
        """The agent policy: write this cohort's weight rows into ``out`` ``[S, V, U]``."""
        if self.mask.any():
            out[self.mask] = self.weights(obs)


@VALIDATOR_STRATEGIES.register("honest")
class HonestValidators(ValidatorCohort):
    """Weight miners by measured quality (sharpened by ``weight_exponent``)."""

    name = "honest"

    def weights(self, obs: ValidatorObservation) -> np.ndarray:
        return self.honest_rows(obs)

    def act(self, obs: ValidatorObservation, out: np.ndarray) -> None:
        if type(self).weights is not HonestValidators.weights:
            super().act(obs, out)  # a subclass with its own weights
        elif self.mask.any():
            # The rows straight from the shared honest weights (no [k, U] gather and scatter).
            rows = obs.honest_weights(float(self.params["weight_exponent"]))
            if HAVE_NUMBA and rows.shape == out.shape and out.flags.c_contiguous:
                _copy_masked_rows(rows, self.mask, out)
            else:
                np.copyto(out, rows, where=self.mask[..., None])


@VALIDATOR_STRATEGIES.register("weight_copier")
class WeightCopierValidators(ValidatorCohort):
    """Copy the latest revealed consensus instead of evaluating miners."""

    name = "weight_copier"

    def weights(self, obs: ValidatorObservation) -> np.ndarray:
        rows = np.nonzero(self.mask)[0]
        return normalise_rows(obs.revealed_consensus[rows])


@VALIDATOR_STRATEGIES.register("cabal")
class CabalValidators(ValidatorCohort):
    """Evaluate honestly, then multiply the weights of the cabal's own miners."""

    name = "cabal"

    def weights(self, obs: ValidatorObservation) -> np.ndarray:
        rows = np.nonzero(self.mask)[0]
        honest = self.honest_rows(obs)
        boost = float(self.params.get("boost", self.model.config.validators.cabal_weight_boost))
        own = obs.cabal_miners[rows]
        # boost = 1 is honest weighting; above 1 the cabal's miners get that many times more.
        boosted = np.where(own, honest * boost, honest)
        return normalise_rows(boosted)


@VALIDATOR_STRATEGIES.register("inactive")
class InactiveValidators(ValidatorCohort):
    """Set no weights at all."""

    name = "inactive"

    def weights(self, obs: ValidatorObservation) -> np.ndarray:
        return np.zeros((int(self.mask.sum()), obs.observed.shape[-1]))
