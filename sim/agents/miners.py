"""Miners: a skill process per uid and four strategies (honest, lazy, copier, sybil).

Miners are vectorised: one Mesa agent (a *cohort*) per strategy holds a boolean mask over the
``[S, U]`` uid grid and decides for all its uids at once. The model builds a
:class:`MinerObservation`, each cohort fills its uids of a :class:`MinerWork`; validators score
that work and ``protocol.economy`` pays for it. Decide (here) and apply (the economy) stay apart.

Add a strategy by subclassing :class:`MinerCohort` and registering it in
:data:`MINER_STRATEGIES` (or pass ``"package.module:Class"`` as the strategy name).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import mesa
import numpy as np

from protocol.registry import Registry
from sim import noise_stream
from sim.agents.host import AgentHost

__all__ = [
    "MINER_STRATEGIES",
    "CopierMiners",
    "HonestMiners",
    "LazyMiners",
    "MinerCohort",
    "MinerObservation",
    "MinerWork",
    "SybilMiners",
    "apply_measured_quality",
    "evolve_log_skill",
    "relocation_choices",
]

MINER_STRATEGIES: Registry[type[MinerCohort]] = Registry("miner strategy")


@dataclass(frozen=True)
class MinerObservation:
    """What miners see when they act (arrays over the ``[S, U]`` uid grid).

    Attributes
    ----------
    skill
        Current skill of every uid (quality units).
    is_miner
        True where the uid is a miner (validator uids are False).
    income_tao_per_day
        Recent income of every uid (TAO/day).
    subnet_income_per_miner
        Mean recent income per miner uid on each subnet ``[S]`` (TAO/day).
    """

    skill: np.ndarray
    is_miner: np.ndarray
    income_tao_per_day: np.ndarray
    subnet_income_per_miner: np.ndarray


@dataclass
class MinerWork:
    """What miners submit this tempo (filled in place by the cohorts).

    Attributes
    ----------
    contribution
        Real useful work per uid (quality units); feeds the subnet's utility.
    apparent
        Quality a validator scores before any duplicate check (quality units).
    duplicate
        True where the submission is a copy of another uid's work (detectable).
    cost_per_day
        Running cost per uid (TAO/day).
    """

    contribution: np.ndarray
    apparent: np.ndarray
    duplicate: np.ndarray
    cost_per_day: np.ndarray

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> MinerWork:
        """All zeros (no work, no cost) on a grid of ``shape``."""
        return cls(np.zeros(shape), np.zeros(shape), np.zeros(shape, bool), np.zeros(shape))


def apply_measured_quality(
    work: MinerWork,
    skill: np.ndarray,
    factors: np.ndarray,
    lag_blocks: np.ndarray,
    block: int,
) -> None:
    """Overwrite the apparent quality of calibrated uids with their measured quality (in place).

    A uid whose strategy is calibrated (finite factor) and whose detection lag has passed scores
    ``skill * factor``: the weight ground truth measured for its role, relative to honest. Its
    submission is no longer flagged duplicate, because the measured weight already includes
    whatever detection the real validator did. Before the lag, the model's own mechanics hold.
    Real work (``contribution``) and cost are untouched: calibration changes what validators see.

    Parameters
    ----------
    work
        This tempo's submissions, after the cohorts acted.
    skill
        ``[S, U]`` current skill (quality units).
    factors
        ``[S, U]`` measured quality over skill; NaN where not calibrated.
    lag_blocks
        ``[S, U]`` block from which the measured quality applies.
    block
        The current block.
    """
    active = np.isfinite(factors) & (block >= lag_blocks)
    if not active.any():
        return
    work.apparent[active] = skill[active] * factors[active]
    work.duplicate[active] = False


@functools.lru_cache(maxsize=64, typed=True)
def _ou_coefficients(
    dt_days: float, volatility_per_day: float, reversion_per_day: float
) -> tuple[Any, Any]:
    """The Ornstein-Uhlenbeck step's ``(decay, sd)`` for these constants (a run's steps share
    them: computed once, the same numbers)."""
    if reversion_per_day > 0:
        decay = np.exp(-reversion_per_day * dt_days)
        sd = volatility_per_day * np.sqrt((1 - decay**2) / (2 * reversion_per_day))
    else:
        decay, sd = 1.0, volatility_per_day * np.sqrt(dt_days)
    return decay, sd


def evolve_log_skill(
    log_skill: np.ndarray,
    mean_log: np.ndarray,
    *,
    dt_days: float,
    volatility_per_day: float,
    reversion_per_day: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One exact Ornstein-Uhlenbeck step of the log-skill of every uid.

    Parameters
    ----------
    log_skill, mean_log
        Current log-skill and its long-run mean (same shape).
    dt_days
        Step length (days).
    volatility_per_day, reversion_per_day
        Diffusion (1/sqrt(day)) and mean-reversion speed (1/day).
    rng
        The run's generator for this process.

    Returns
    -------
    numpy.ndarray
        The new log-skill.
    """
    decay, sd = _ou_coefficients(dt_days, volatility_per_day, reversion_per_day)
    # numpy's draws, from a compiled twin of its PCG64 stream where it can run (same bits)
    noise = noise_stream.standard_normal(rng, log_skill.shape)
    return mean_log + (log_skill - mean_log) * decay + sd * noise


def relocation_choices(
    income: np.ndarray,
    subnet_income: np.ndarray,
    candidates: np.ndarray,
    *,
    threshold: float,
    probability: float,
    rng: np.random.Generator,
) -> list[tuple[int, int, int]]:
    """Which under-earning miners move, and where (the best-paying other subnet).

    Parameters
    ----------
    income
        Recent income per uid ``[S, U]`` (TAO/day).
    subnet_income
        Mean income per miner per subnet ``[S]`` (TAO/day).
    candidates
        Boolean ``[S, U]``: uids of this cohort allowed to move.
    threshold
        Move when income < threshold x the best subnet's mean income.
    probability
        Chance that an under-earning miner acts on it this time.
    rng
        The run's generator.

    Returns
    -------
    list of (from_netuid, uid, to_netuid)
    """
    if subnet_income.size < 2 or not candidates.any():
        return []
    best = int(np.argmax(subnet_income))
    best_income = float(subnet_income[best])
    if best_income <= 0:
        return []
    under = candidates & (income < threshold * best_income)
    under[best, :] = False
    rows, cols = np.nonzero(under)
    if rows.size == 0:
        return []
    moving = rng.random(rows.size) < probability
    return [(int(r), int(c), best) for r, c in zip(rows[moving], cols[moving], strict=True)]


class MinerCohort(mesa.Agent):
    """All miner uids that follow one strategy.

    Parameters
    ----------
    model
        The Mesa model.
    mask
        Boolean ``[S, U]``: the cohort's uids.
    params
        Strategy parameters (``miners.strategy_params[name]`` merged over the defaults).
    """

    name: ClassVar[str] = "base"
    defaults: ClassVar[dict[str, float]] = {}
    #: The model as a cohort reads it (Mesa registers the cohort with the ``mesa.Model``).
    model: AgentHost

    def __init__(self, model: mesa.Model, mask: np.ndarray, params: dict[str, Any]) -> None:
        super().__init__(model)
        self.mask = mask
        self.params = {**self.defaults, **params}

    def work(self, obs: MinerObservation, out: MinerWork, rng: np.random.Generator) -> None:
        """Fill ``out`` at this cohort's uids (override in strategies)."""
        raise NotImplementedError

    def act(self, obs: MinerObservation, out: MinerWork, rng: np.random.Generator) -> None:
        """The agent policy: write this cohort's submissions into ``out``."""
        self.work(obs, out, rng)


@MINER_STRATEGIES.register("honest")
class HonestMiners(MinerCohort):
    """Do the work with full effort; the cost is the full compute cost."""

    name = "honest"
    defaults: ClassVar[dict[str, float]] = {"cost_factor": 1.0}

    def work(self, obs: MinerObservation, out: MinerWork, rng: np.random.Generator) -> None:
        m = self.mask
        np.copyto(out.contribution, obs.skill, where=m)
        np.copyto(out.apparent, obs.skill, where=m)
        np.copyto(
            out.cost_per_day,
            self.params["cost_factor"] * self.model.config.miners.compute_cost_tao_per_day,
            where=m,
        )


@MINER_STRATEGIES.register("lazy")
class LazyMiners(MinerCohort):
    """Deliver a fraction ``effort`` of what the skill allows, at that fraction of the cost."""

    name = "lazy"
    defaults: ClassVar[dict[str, float]] = {}

    def work(self, obs: MinerObservation, out: MinerWork, rng: np.random.Generator) -> None:
        m = self.mask
        effort = float(self.params.get("effort", self.model.config.miners.lazy_effort))
        np.multiply(effort, obs.skill, out=out.contribution, where=m)
        np.multiply(effort, obs.skill, out=out.apparent, where=m)
        np.copyto(
            out.cost_per_day, effort * self.model.config.miners.compute_cost_tao_per_day, where=m
        )


@MINER_STRATEGIES.register("copier")
class CopierMiners(MinerCohort):
    """Resubmit a strong peer's work: scores like the peer unless a validator spots the copy.

    The copied peer is the best honest-looking submission on the same subnet this tempo, so a
    copier adds nothing to the subnet's utility and pays only a small cost.
    """

    name = "copier"
    defaults: ClassVar[dict[str, float]] = {"cost_factor": 0.05}

    def work(self, obs: MinerObservation, out: MinerWork, rng: np.random.Generator) -> None:
        m = self.mask
        if not m.any():
            return
        visible = np.where(obs.is_miner & ~m, obs.skill, 0.0)
        best_peer = visible.max(axis=1, keepdims=True)  # [S, 1]
        np.copyto(out.contribution, 0.0, where=m)
        np.copyto(out.apparent, best_peer, where=m)
        np.copyto(out.duplicate, True, where=m)
        np.copyto(
            out.cost_per_day,
            self.params["cost_factor"] * self.model.config.miners.compute_cost_tao_per_day,
            where=m,
        )


@MINER_STRATEGIES.register("sybil")
class SybilMiners(MinerCohort):
    """One budget spread over ``sybil_uids`` uids: the same model answers on every uid.

    Each uid looks as good as the whole budget, but together they contribute one unit of work
    and share one compute cost; the copies are detectable like a copier's.
    """

    name = "sybil"
    defaults: ClassVar[dict[str, float]] = {}

    def work(self, obs: MinerObservation, out: MinerWork, rng: np.random.Generator) -> None:
        m = self.mask
        k = max(int(self.params.get("uids", self.model.config.miners.sybil_uids)), 1)
        np.divide(obs.skill, k, out=out.contribution, where=m)
        np.copyto(out.apparent, obs.skill, where=m)
        np.copyto(out.duplicate, k > 1, where=m)
        np.copyto(out.cost_per_day, self.model.config.miners.compute_cost_tao_per_day / k, where=m)
