"""The work desk: miners work, validators weigh the work, the chain pays for it.

Every step, :meth:`WorkDesk.act` lets the skills move (an Ornstein-Uhlenbeck step in
log-skill), the miner cohorts submit work (:class:`~sim.agents.miners.MinerWork`: real
contribution, apparent quality, detectable duplicates, cost) and, at the validators' cadence,
the validator cohorts observe it with noise and write their weight rows. :meth:`WorkDesk.settle`
puts the new rows on chain, runs the chain for the step's blocks (``sim.chain.advance_chain``)
and books what each uid earned: the growth of its own stake, at spot price.

The desk holds the miner uid grid (:class:`MinerGrid`) and the validator slots
(:class:`ValidatorGrid`) as ``sim.build`` made them; the registration desk moves miners
between subnets through :meth:`WorkDesk.move_miner`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from protocol import economy
from protocol._numba import jit, pairwise_sum
from protocol.economy.amm import spot_price_array
from protocol.economy.state import EconomyParams, NetworkState
from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim import chain
from sim.agents.miners import (
    MinerCohort,
    MinerObservation,
    MinerWork,
    apply_measured_quality,
    evolve_log_skill,
)
from sim.agents.validators import (
    ValidatorCohort,
    ValidatorObservation,
    normalise_rows,
    observed_quality_and_squared_rows,
)
from sim.config import SimConfig

if TYPE_CHECKING:
    from sim.metrics import Recorder

__all__ = ["MinerGrid", "ValidatorGrid", "WorkDesk", "WorkHost", "reveal_lag_steps"]


class WorkHost(Protocol):
    """What the work desk reads and calls on its model."""

    config: SimConfig
    block: int
    state: NetworkState
    params: EconomyParams
    recorder: Recorder


@dataclass
class MinerGrid:
    """The miner uids of every subnet (``[S, U]`` arrays) and what each carries between steps.

    Attributes
    ----------
    is_miner
        True where a uid is a miner's (the owner's and validators' uids are not).
    vacant
        True where the miner has moved away (the uid scores and earns nothing).
    log_skill, mean_log_skill
        Each miner's log-skill now and its long-run mean.
    strategy
        Each miner uid's strategy name ("" elsewhere).
    cohorts
        Strategy name -> the cohort (Mesa agent) deciding for its uids.
    measured_factors, measured_lag_blocks
        Measured quality over skill and the block it applies from, per uid (None without
        ``miners.calibration_file``).
    """

    is_miner: np.ndarray
    vacant: np.ndarray
    log_skill: np.ndarray
    mean_log_skill: np.ndarray
    strategy: np.ndarray
    cohorts: dict[str, MinerCohort]
    measured_factors: np.ndarray | None = None
    measured_lag_blocks: np.ndarray | None = None


@dataclass
class ValidatorGrid:
    """The validator slots of every subnet (``[S, V]``) and the cabal's miners.

    Attributes
    ----------
    uids
        The validators' uids on every subnet ``[V]``.
    strategy
        Each slot's strategy name ``[S, V]``.
    cohorts
        Strategy name -> the cohort (Mesa agent) setting its slots' weights.
    cabal_miners
        ``[S, U]`` miner uids controlled by the subnet's cabal.
    """

    uids: np.ndarray
    strategy: np.ndarray
    cohorts: dict[str, ValidatorCohort]
    cabal_miners: np.ndarray


@jit
def _stake_weighted_rows(
    hotkey_alpha: np.ndarray, uids: np.ndarray, past: np.ndarray, mean: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``mean[s] = sum_v stake[s, v] * past[s, v]`` over the validator slots that set weights
    (a row with a positive sum), ``stake[s, v] = hotkey_alpha[s, uids[v]]``: the array
    version's operations (kept in the tests), the rows summed pairwise as numpy does and the
    slots added one by one from 0.0 as ``einsum`` adds them."""
    n_subnets, n_slots, n = past.shape
    # the sums in a row of the kernel's own: they vectorise (LLVM cannot rule out that
    # ``mean`` overlaps ``past``, so sums kept in ``mean`` do not)
    total = np.empty(n)
    for s in range(n_subnets):
        total[:] = 0.0
        for v in range(n_slots):
            row = past[s, v]
            sets = (0.0 + pairwise_sum(row, 0, n)) > 0
            weight = hotkey_alpha[s, uids[v]] if sets else 0.0
            for u in range(n):
                total[u] += weight * row[u]
        mean[s] = total


@jit
def _income_per_miner_rows(
    is_miner: np.ndarray, vacant: np.ndarray, income: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``np.where(active, income, 0.0).sum(axis=1) / np.maximum(active.sum(axis=1), 1)`` with
    ``active = is_miner & ~vacant``: each row's masked copy summed in numpy's order, divided
    by its count of active uids (at least 1) in one pass."""
    n_subnets, n = income.shape
    row = np.empty(n)
    for s in range(n_subnets):
        count = 0
        for u in range(n):
            if is_miner[s, u] and not vacant[s, u]:
                row[u] = income[s, u]
                count += 1
            else:
                row[u] = 0.0
        out[s] = (0.0 + pairwise_sum(row, 0, n)) / max(count, 1)


#: The state fields :func:`sim.chain.uid_owned_alpha` reads.
_OWNED_ALPHA_INPUTS = frozenset(("owner_shares", "total_shares", "hotkey_alpha"))


def _uid_owned_alpha(state: NetworkState) -> np.ndarray:
    """:func:`sim.chain.uid_owned_alpha` of ``state``, kept with it: a step's holdings after
    the chain are the next step's before it, unless a trade or registration came between."""
    return state.derived(
        "uid_owned_alpha", _OWNED_ALPHA_INPUTS, lambda: chain.uid_owned_alpha(state)
    )


def reveal_lag_steps(config: SimConfig, blocks_per_step: int) -> int:
    """Steps before set weights become public: one tempo, ``1 + reveal_tempos`` with commit-reveal.

    Examples
    --------
    >>> from sim.config import SimConfig
    >>> config = SimConfig.model_validate({"network": {"commit_reveal": True, "reveal_tempos": 1}})
    >>> reveal_lag_steps(config, 360), reveal_lag_steps(config, 7_200)
    (2, 1)
    """
    net = config.network
    lag = (1 + net.reveal_tempos) if net.commit_reveal else 1
    return max(1, math.ceil(lag * net.tempo / blocks_per_step))


class WorkDesk:
    """Miners' work, validators' weights and the chain step that pays them.

    Parameters
    ----------
    host
        The model.
    miners, validators
        The grids ``sim.build`` made.
    blocks_per_step
        Blocks in one model step (for the commit-reveal lag).
    skill_rng, observe_rng, miners_rng
        The run's skill, observation and miner streams.
    """

    def __init__(
        self,
        host: WorkHost,
        miners: MinerGrid,
        validators: ValidatorGrid,
        *,
        blocks_per_step: int,
        skill_rng: np.random.Generator,
        observe_rng: np.random.Generator,
        miners_rng: np.random.Generator,
    ) -> None:
        self.host = host
        self.miners = miners
        self.validators = validators
        self.skill_rng = skill_rng
        self.observe_rng = observe_rng
        self.miners_rng = miners_rng
        S, n = miners.is_miner.shape
        V = len(validators.uids)
        self.uid_income_tao = np.zeros((S, n))
        self.uid_cost_tao = np.zeros((S, n))
        self.recent_income = np.zeros((S, n))  # TAO/day, EMA over ~1 day
        self.submitted: MinerWork | None = None  # the latest step's work
        self.reveal_lag_steps = reveal_lag_steps(host.config, blocks_per_step)
        self.weights = np.zeros((S, V, n))
        self.weight_history: list[np.ndarray] = []
        self._next_weights_block = 0
        self._weights_changed = False

    # ------------------------------------------------------------------ decide
    def act(self, n_blocks: int) -> None:
        """Miners work; validators observe it and set weights (decide only)."""
        host = self.host
        grid = self.miners
        mcfg = host.config.miners
        dt = n_blocks / BLOCKS_PER_DAY
        grid.log_skill = evolve_log_skill(
            grid.log_skill,
            grid.mean_log_skill,
            dt_days=dt,
            volatility_per_day=mcfg.skill_volatility_per_day,
            reversion_per_day=mcfg.skill_mean_reversion_per_day,
            rng=self.skill_rng,
        )
        skill = np.where(grid.vacant | ~grid.is_miner, 0.0, np.exp(grid.log_skill))
        obs = MinerObservation(
            skill=skill,
            is_miner=grid.is_miner & ~grid.vacant,
            income_tao_per_day=self.recent_income,
            subnet_income_per_miner=self.subnet_income_per_miner(),
        )
        work = MinerWork.empty(skill.shape)
        for cohort in grid.cohorts.values():
            cohort.act(obs, work, self.miners_rng)
        if grid.measured_factors is not None:
            apply_measured_quality(
                work, skill, grid.measured_factors, grid.measured_lag_blocks, host.block
            )
        work.apparent[grid.vacant] = 0.0
        work.contribution[grid.vacant] = 0.0
        work.cost_per_day[grid.vacant] = 0.0
        self.submitted = work
        self.uid_cost_tao += work.cost_per_day * dt
        if host.block < self._next_weights_block and self.weight_history:
            # Validators set weights at their own cadence; the chain keeps the last ones.
            self._weights_changed = False
            self._remember(self.weights)
            return
        cfg = host.config
        every = cfg.validators.weights_every_tempos * cfg.network.tempo
        self._next_weights_block = host.block + every
        self._weights_changed = True
        cohorts = self.validators.cohorts.values()
        # the rows the honest cohorts set, made in the observation's pass (zeros elsewhere)
        squared = [m for m in (c.squared_slots() for c in cohorts) if m is not None]
        slots = np.logical_or.reduce(squared) if squared else None
        observed, weights = observed_quality_and_squared_rows(
            work.apparent,
            work.duplicate,
            obs.is_miner,
            slots,
            n_validators=cfg.network.n_validators,
            noise=cfg.validators.observation_noise,
            detection=mcfg.copier_detection,
            rng=self.observe_rng,
        )
        written = None if weights is None or slots is None else (weights, slots)
        vobs = ValidatorObservation(
            observed, self.revealed_consensus(), self.validators.cabal_miners, written
        )
        if weights is None:
            weights = np.zeros(observed.shape, dtype=observed.dtype)  # (calloc: no fill pass)
        for vcohort in cohorts:
            vcohort.act(vobs, weights)
        self.weights = weights
        self._remember(weights)

    def _remember(self, weights: np.ndarray) -> None:
        """Keep the weights of the last ``reveal_lag_steps + 1`` steps."""
        self.weight_history.append(weights)
        if len(self.weight_history) > self.reveal_lag_steps + 1:
            self.weight_history.pop(0)

    def revealed_consensus(self) -> np.ndarray:
        """Stake-weighted mean of the weights the chain has revealed, ``[S, n]``."""
        S, _, n = self.weights.shape
        if len(self.weight_history) < self.reveal_lag_steps:
            return np.zeros((S, n))
        past = self.weight_history[-self.reveal_lag_steps]
        mean = np.empty((S, n))
        _stake_weighted_rows(
            self.host.state.view("hotkey_alpha"), np.asarray(self.validators.uids), past, mean
        )
        return normalise_rows(mean)

    # ------------------------------------------------------------------ apply
    def settle(self, n_blocks: int) -> list[Any]:
        """Put new weights on chain, run the chain ``n_blocks`` blocks and book the income.

        Returns the economy's step results of the chain run.
        """
        host = self.host
        if self._weights_changed:
            # Only the validators' rows: the model owns the tensors, so no [S, n, n] copy.
            host.state = economy.with_validator_weights(
                host.state, torch.from_numpy(self.weights), self.validators.uids, in_place=True
            )
        before_alpha = _uid_owned_alpha(host.state)
        before_balance = host.state.view("balances").copy()
        host.state, results = chain.advance_chain(host.state, host.params, n_blocks)
        gained = np.maximum(_uid_owned_alpha(host.state) - before_alpha, 0.0) / RAO_PER_TAO
        # chain.alpha_prices on the new state's views (its pool tensors are not made)
        view = host.state.view
        prices = spot_price_array(view("pool_tao"), view("pool_alpha"), view("pool_weight_alpha"))
        income = gained * prices[:, None]  # TAO
        self.uid_income_tao += income
        dt = n_blocks / BLOCKS_PER_DAY
        decay = 0.5 ** (dt / 1.0)
        self.recent_income = decay * self.recent_income + (1 - decay) * income / max(dt, 1e-12)
        host.recorder.add_balance_income(host.state.view("balances") - before_balance)
        host.recorder.add_step_income(income, gained, results, prices)
        return results

    # ------------------------------------------------------------------ reads
    def subnet_income_per_miner(self) -> np.ndarray:
        """Mean recent income per active miner uid on each subnet ``[S]`` (TAO/day)."""
        grid = self.miners
        income = self.recent_income
        if (
            income.dtype == np.float64
            and grid.is_miner.dtype == grid.vacant.dtype == np.bool_
            and grid.is_miner.shape == grid.vacant.shape == income.shape
        ):
            out = np.empty(income.shape[0])
            _income_per_miner_rows(grid.is_miner, grid.vacant, income, out)
            return out
        active = grid.is_miner & ~grid.vacant
        total = np.where(active, income, 0.0).sum(axis=1)
        return total / np.maximum(active.sum(axis=1), 1)

    def subnet_work_factor(self) -> np.ndarray:
        """Mean real work of a subnet's miners relative to the configured mean skill ``[S]``."""
        grid = self.miners
        if self.submitted is None:
            return np.ones(grid.is_miner.shape[0])
        active = grid.is_miner & ~grid.vacant
        mean = np.where(active, self.submitted.contribution, 0.0).sum(axis=1) / np.maximum(
            active.sum(axis=1), 1
        )
        return np.maximum(mean / max(self.host.config.miners.skill_mean, 1e-9), 1e-3)

    # ------------------------------------------------------------------ moves
    def move_miner(self, src: int, uid: int, dst: int, new: int) -> None:
        """Miner ``uid`` of ``src`` now works uid ``new`` of ``dst``: it takes its skill along."""
        grid = self.miners
        grid.log_skill[dst, new] = grid.log_skill[src, uid]
        grid.vacant[dst, new] = False
        grid.vacant[src, uid] = True
        name = grid.strategy[src, uid]
        old = grid.strategy[dst, new]
        if old:
            grid.cohorts[old].mask[dst, new] = False
        grid.cohorts[name].mask[dst, new] = True
        grid.strategy[dst, new] = name
        if grid.measured_factors is not None:  # the measured behaviour travels with the miner
            grid.measured_factors[dst, new] = grid.measured_factors[src, uid]
            grid.measured_lag_blocks[dst, new] = grid.measured_lag_blocks[src, uid]
        self.recent_income[dst, new] = 0.0
