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
    "observed_quality_and_squared_rows",
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
    squared_rows
        Optional ``(weights, slots)``: a ``[S, V, U]`` weight array whose rows in the slots of
        ``slots`` ``[S, V]`` already hold ``honest_weights(2.0)``
        (:func:`observed_quality_and_squared_rows`); a cohort writing those rows into that
        array leaves them as they are.
    """

    observed: np.ndarray
    revealed_consensus: np.ndarray
    cabal_miners: np.ndarray
    squared_rows: tuple[np.ndarray, np.ndarray] | None = None
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

    def honest_rows(self, exponent: float, mask: np.ndarray) -> np.ndarray:
        """``honest_weights(exponent)[mask]``, ``[k, U]`` for the slots of ``mask`` ``[S, V]``.

        With the square (numba, float64) and no shared array yet, only these rows are
        computed (the same operations row by row) instead of every slot's.
        """
        rows = self._honest.get(exponent)
        if rows is None and exponent == 2.0 and _can_divide_rows(self.observed):
            picked = self.observed[mask]
            out = np.empty(picked.shape)
            if picked.size:
                _squared_normalised_rows(picked, out)
            return out
        return self.honest_weights(exponent)[mask]

    def write_honest_rows(self, exponent: float, mask: np.ndarray, out: np.ndarray) -> None:
        """Write ``honest_weights(exponent)`` into the rows of ``out`` ``[S, V, U]`` where
        ``mask`` ``[S, V]`` is True (``np.copyto(out, ..., where=mask[..., None])``).

        With the square (numba, float64, C-contiguous ``out``) and no shared array yet, the
        rows are computed straight into ``out``: no ``[S, V, U]`` array and no copy of it.
        """
        if exponent == 2.0 and self.squared_rows is not None:
            written, slots = self.squared_rows
            if out is written and not (mask & ~slots).any():
                return  # already there
        fits = (
            HAVE_NUMBA
            and out.shape == self.observed.shape
            and out.dtype == np.float64
            and out.flags.c_contiguous
            and mask.shape == out.shape[:2]
        )
        if (
            fits
            and exponent == 2.0
            and exponent not in self._honest
            and _can_divide_rows(self.observed)
        ):
            _squared_normalised_masked_rows(self.observed, mask, out)
            return
        rows = self.honest_weights(exponent)
        if fits:
            _copy_masked_rows(rows, mask, out)
        else:
            np.copyto(out, rows, where=mask[..., None])


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
def _squared_normalised_row(source: np.ndarray, row: np.ndarray) -> None:  # pragma: no cover
    """``row = source**2`` scaled to sum to 1 (an all-zero or NaN-sum row 0): the squares
    numpy's ``**2.0`` takes (``x * x``), numpy's row sum (:func:`pairwise_sum`, after the
    identity 0 that ``np.add.reduce`` starts from) and the divisions of :func:`_divide_rows`."""
    n = row.shape[0]
    for j in range(n):
        x = source[j]
        row[j] = x * x
    total = 0.0 + pairwise_sum(row, 0, n)
    if total > 0:
        for j in range(n):
            row[j] = row[j] / total
    else:
        for j in range(n):
            row[j] = 0.0


@jit
def _squared_normalised_rows(
    observed: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``out = observed**2`` with rows ``[rows, n]`` scaled to sum to 1, one pass per row
    (:func:`_squared_normalised_row`)."""
    for i in range(observed.shape[0]):
        _squared_normalised_row(observed[i], out[i])


@jit
def _squared_normalised_masked_rows(
    observed: np.ndarray, mask: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """:func:`_squared_normalised_rows` of ``observed`` ``[S, V, U]`` written into the rows
    ``out[s, v]`` where ``mask[s, v]``; the other rows are left as they are."""
    s, v, _ = out.shape
    for i in range(s):
        for k in range(v):
            if mask[i, k]:
                _squared_normalised_row(observed[i, k], out[i, k])


@jit
def _finish_row(observed: np.ndarray, squared: bool, row: np.ndarray) -> None:  # pragma: no cover
    """``row`` = the squared normalised ``observed`` (:func:`_squared_normalised_row`) if
    ``squared``, else zeros."""
    if squared:
        _squared_normalised_row(observed, row)
    else:
        row[:] = 0.0


@jit
def _products_and_squared_rows(
    base: np.ndarray, factor: np.ndarray, out: np.ndarray, square: np.ndarray, rows: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``out[i, v, j] = base[i, j] * factor[i, v, j]`` (in float64, as numpy's product of the
    two) and :func:`_finish_row` of each row into ``rows``."""
    s, v, u = factor.shape
    for i in range(s):
        for k in range(v):
            for j in range(u):
                out[i, k, j] = base[i, j] * np.float64(factor[i, k, j])
            _finish_row(out[i, k], square[i, k], rows[i, k])


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
    return observed_quality_and_squared_rows(
        apparent, duplicate, is_miner, None, n_validators=n_validators, noise=noise,
        detection=detection, rng=rng,
    )[0]  # fmt: skip


def observed_quality_and_squared_rows(
    apparent: np.ndarray,
    duplicate: np.ndarray,
    is_miner: np.ndarray,
    slots: np.ndarray | None,
    *,
    n_validators: int,
    noise: float,
    detection: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`observed_quality` and, made in the same pass where it can, a weight array.

    The weight array ``[S, V, U]`` holds, in the rows of ``slots``, the weights
    :meth:`ValidatorObservation.honest_weights` gives for the exponent 2 (the same bits), and
    zeros in the others: the honest rows are written while each observed row is in the cache,
    and no separate array of them is made.

    Parameters
    ----------
    apparent, duplicate, is_miner, n_validators, noise, detection, rng
        As for :func:`observed_quality` (the same draws from ``rng``).
    slots
        ``[S, V]`` bool: the validator slots whose squared rows are written (``None``: no
        weight array).

    Returns
    -------
    tuple
        The observed quality, and the weight array or ``None`` where the pass cannot make it
        (no numba, another generator than PCG64, another dtype).
    """
    s, u = apparent.shape
    base = np.where(is_miner, apparent, 0.0)[:, None, :]
    # In place on the float32 draws (same values as ``base * exp(noise * z)``, fewer copies).
    # numpy's draws, from a compiled twin of its PCG64 stream where it can run (same bits).
    factor = noise_stream.standard_normal_float32(rng, (s, n_validators, u))
    factor *= noise
    np.exp(factor, out=factor)
    fused = HAVE_NUMBA and base.dtype == np.float64
    if fused and slots is not None and slots.shape == (s, n_validators):
        square = slots.astype(np.bool_, copy=False)
        rows = np.empty((s, n_validators, u))
    else:  # nothing to write: the kernels see empty arrays
        square, rows = np.zeros((0, 0), dtype=np.bool_), np.empty((0, 0, 0))
    made = rows if rows.size else None
    if detection > 0 and duplicate.any():
        if fused:
            obs = np.empty((s, n_validators, u))
            with noise_stream.pcg64_words(rng) as words:
                if words is not None:
                    # the uniform draws made inside the pass, in numpy's order (no array)
                    detect = np.float32(detection)
                    _spot_duplicates_drawing(
                        base[:, 0, :], factor, duplicate, detect, words, obs, square, rows
                    )
            if words is not None:
                return obs, made
        draws = rng.random((s, n_validators, u), dtype=np.float32)
        if fused:
            # One pass instead of product, compare, mask and copy (the same products; the
            # draw is compared with ``detection`` in float32, as numpy does).
            obs = np.empty((s, n_validators, u))
            _spot_duplicates(base[:, 0, :], factor, draws, duplicate, np.float32(detection), obs)
            return obs, None
        obs = base * factor
        spotted = draws < detection
        spotted &= duplicate[:, None, :]
        np.copyto(obs, 0.0, where=spotted)
        return obs.astype(np.float64, copy=False), None
    if made is not None:
        # numpy's float64 products (the float32 factor widened exactly), the rows alongside
        obs = np.empty((s, n_validators, u))
        _products_and_squared_rows(base[:, 0, :], factor, obs, square, rows)
        return obs, made
    return (base * factor).astype(np.float64, copy=False), None


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
    square: np.ndarray,
    rows: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba
    """:func:`_spot_duplicates` with its draws taken from the stream ``words``
    (:func:`sim.noise_stream.pcg64_words`): the same values as ``rng.random(factor.shape,
    dtype=np.float32)`` in C order, but only those of duplicate submissions are made; the
    stream jumps over the others (and the generator ends where numpy's would).

    Each draw of a row is one jump from the stream's state at the row's start, not from the
    previous draw: the draws of a row do not wait for each other (the CPU overlaps them), and
    one jump per row carries the state on.

    Unless ``rows`` is empty, each finished row also goes to :func:`_finish_row` (the squared
    rows of the slots of ``square``, zeros in the others)."""
    s, v, u = factor.shape
    high, low, inc_high, inc_low, has, buffered = noise_stream.load_words(words)
    table = noise_stream.jump_table(words, u + 2)  # a jump per draw within a row
    columns = np.empty(u, dtype=np.int64)
    for i in range(s):
        n_duplicates = 0
        for j in range(u):
            if duplicate[i, j]:
                columns[n_duplicates] = j
                n_duplicates += 1
        for k in range(v):
            for j in range(u):  # vectorises
                out[i, k, j] = base[i, j] * np.float64(factor[i, k, j])
            if n_duplicates:
                # the row's draws while it is in the cache, each from the row's first state
                for c in range(n_duplicates):
                    j = columns[c]
                    r = noise_stream.next_uint32_after(high, low, has, buffered, j, table)[0]
                    spotted = noise_stream.uniform_float32(r) < detection
                    out[i, k, j] = 0.0 if spotted else out[i, k, j]  # a select, not a branch
                high, low, has, buffered = noise_stream.skip_uint32(
                    high, low, inc_high, inc_low, has, buffered, u, table
                )
            if rows.size:
                _finish_row(out[i, k], square[i, k], rows[i, k])
        if not n_duplicates:  # no draw on the subnet: one skip over its rows
            high, low, has, buffered = noise_stream.skip_uint32(
                high, low, inc_high, inc_low, has, buffered, v * u, table
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

    def squared_slots(self) -> np.ndarray | None:
        """The slots ``[S, V]`` whose rows :meth:`act` sets to
        ``ValidatorObservation.honest_weights(2.0)`` unchanged, or ``None``: the work desk
        has those rows made in the observation's pass (``ValidatorObservation.squared_rows``).
        """
        return None

    def honest_rows(self, obs: ValidatorObservation) -> np.ndarray:
        """Weights an honest validator in each of this cohort's slots would set ``[k, U]``."""
        return obs.honest_rows(float(self.params["weight_exponent"]), self.mask)

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

    def squared_slots(self) -> np.ndarray | None:
        own = type(self).weights is HonestValidators.weights and (
            type(self).act is HonestValidators.act
        )
        return self.mask if own and float(self.params["weight_exponent"]) == 2.0 else None

    def weights(self, obs: ValidatorObservation) -> np.ndarray:
        return self.honest_rows(obs)

    def act(self, obs: ValidatorObservation, out: np.ndarray) -> None:
        if type(self).weights is not HonestValidators.weights:
            super().act(obs, out)  # a subclass with its own weights
        elif self.mask.any():
            # The rows written straight into ``out`` (no [k, U] gather and scatter).
            obs.write_honest_rows(float(self.params["weight_exponent"]), self.mask, out)


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
