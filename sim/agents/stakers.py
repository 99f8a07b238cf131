"""Stakers and nominators: allocate TAO across subnets by yield and perceived governance risk.

Their flows are the transmission channel from governance shocks to emissions: stake buys alpha
from a subnet's pool (in-flow), unstaking sells it (out-flow), and the economy's share rule
(docs/economy.md) turns flows and prices into each subnet's TAO emission share.

Each staker is a Mesa agent with its own wealth, risk aversion and *belief* about governance
risk (discretionary interventions per year). The belief jumps after every observed intervention
(in proportion to its severity) and decays back to the prior; a pending proposal against a
subnet (visible during a timelock or vote) is a subnet-specific hazard, so stakers can leave
before it executes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import mesa
import numpy as np

from protocol._numba import jit, pairwise_sum
from protocol.registry import Registry
from sim.agents.host import AgentHost
from sim.config import StakersConfig

__all__ = [
    "STAKER_STRATEGIES",
    "PassiveStaker",
    "Staker",
    "StakerObservation",
    "YieldRiskStaker",
    "decay_belief",
    "softmax",
    "staked_fraction_target",
]

STAKER_STRATEGIES: Registry[type[Staker]] = Registry("staker strategy")


@dataclass(frozen=True)
class StakerObservation:
    """Public information a staker uses (arrays over subnets ``[S]``).

    Attributes
    ----------
    yields
        Annualised nominator yield in TAO terms (1/year).
    utility
        Real value the subnet produces (quality units, > 0).
    flagged
        True where a pending or recent intervention targets the subnet.
    tradable
        True where staking is possible (active, trading on, chain not halted).
    holdings_tao
        This staker's position per subnet at spot price (TAO).
    liquid_tao
        This staker's free TAO balance (TAO).
    shared
        What a strategy derives from the round's common arrays (``yields`` to ``tradable``),
        kept for the other stakers of the round: the desk passes one dict to every observation
        of a round; leave it out for an observation of its own.
    """

    yields: np.ndarray
    utility: np.ndarray
    flagged: np.ndarray
    tradable: np.ndarray
    holdings_tao: np.ndarray
    liquid_tao: float
    shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def softmax(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Softmax of ``scores`` over ``mask`` (zero elsewhere; all zero if the mask is empty)."""
    out = np.zeros_like(scores, dtype=float)
    if not mask.any():
        return out
    s = scores[mask]
    e = np.exp(s - s.max())
    out[mask] = e / e.sum()
    return out


def decay_belief(belief: float, prior: float, *, dt_days: float, half_life_days: float) -> float:
    """Exponential decay of a belief toward its prior."""
    return prior + (belief - prior) * 0.5 ** (dt_days / half_life_days)


def staked_fraction_target(belief: float, risk_aversion: float, cfg: StakersConfig) -> float:
    """Share of wealth a staker wants staked: falls as governance risk rises above the prior.

    ``staked_fraction · exp(−risk_aversion · max(belief − prior, 0))``, and 0 once the belief
    exceeds ``exit_hazard_per_year`` (the staker leaves subnets altogether).
    """
    if belief >= cfg.exit_hazard_per_year:
        return 0.0
    excess = max(belief - cfg.belief_prior_per_year, 0.0)
    return cfg.staked_fraction * float(np.exp(-risk_aversion * excess))


class Staker(mesa.Agent):
    """A staker (nominator) with an account on chain.

    Parameters
    ----------
    model
        The Mesa model.
    account
        Its account index in the economy's ``NetworkState``.
    risk_aversion
        Weight on perceived hazard (1/(events per year)).
    phase_days
        Offset of its rebalancing cadence (days), so stakers do not all act at once.
    """

    name: ClassVar[str] = "base"
    #: The model as a staker reads it (Mesa registers the staker with the ``mesa.Model``).
    model: AgentHost

    def __init__(
        self, model: mesa.Model, account: int, risk_aversion: float, phase_days: float
    ) -> None:
        super().__init__(model)
        self.account = account
        self.risk_aversion = risk_aversion
        self.phase_days = phase_days
        cfg: StakersConfig = model.config.stakers
        self.belief = cfg.belief_prior_per_year
        self.next_action_day = phase_days

    def observe_intervention(self, severity: float) -> None:
        """Update the governance-risk belief after an executed discretionary intervention."""
        cfg: StakersConfig = self.model.config.stakers
        self.belief += cfg.belief_learning_rate * severity / cfg.severity_reference

    def decay(self, dt_days: float) -> None:
        """Let the belief relax toward the prior over ``dt_days``."""
        cfg: StakersConfig = self.model.config.stakers
        self.belief = decay_belief(
            self.belief,
            cfg.belief_prior_per_year,
            dt_days=dt_days,
            half_life_days=cfg.belief_half_life_days,
        )

    def act(self, obs: StakerObservation) -> tuple[np.ndarray, float]:
        """Desired change of TAO staked per subnet ``[S]`` and TAO to sell on the market.

        Positive entries stake more, negative ones unstake (in TAO at spot price). Decide from
        ``obs``: during the desk's round the model's ``state`` is the state before the round's
        trades (they wait in the desk's trading book).
        """
        raise NotImplementedError


@STAKER_STRATEGIES.register("yield_risk")
class YieldRiskStaker(Staker):
    """Softmax allocation on yield, utility and hazard; partial adjustment; urgent exits."""

    name = "yield_risk"

    def act(self, obs: StakerObservation) -> tuple[np.ndarray, float]:
        cfg: StakersConfig = self.model.config.stakers
        common = obs.shared.get(self.name)
        if common is None:
            common = obs.shared[self.name] = _yield_risk_common(obs, cfg)
        open_base, open_flag_hazard, open_index, speed = common
        total_before = float(obs.holdings_tao.sum())
        wealth = obs.liquid_tao + total_before
        # softmax(base - risk_aversion * (belief + flag_hazard), open_to_buy), with the scores
        # computed on the open subnets only (elementwise: the same values there); the
        # exponential in numpy, the rest in one kernel pass (:func:`_rebalance`).
        e = np.empty(0)
        if open_index.size:
            scores = open_base - self.risk_aversion * (self.belief + open_flag_hazard)
            e = np.exp(scores - scores.max())
        staked_target = wealth * staked_fraction_target(self.belief, self.risk_aversion, cfg)
        delta = np.empty(speed.shape)
        freed = _rebalance(
            e,
            open_index,
            staked_target,
            obs.holdings_tao,
            obs.tradable,
            speed,
            obs.liquid_tao,
            delta,
        )
        shrink = max(total_before - staked_target, 0.0)
        sell = (
            cfg.sell_fraction * min(shrink, freed)
            if self.belief > cfg.belief_prior_per_year
            else 0.0
        )
        return delta, sell


@jit
def _rebalance(
    e: np.ndarray,
    open_index: np.ndarray,
    staked_target: float,
    holdings: np.ndarray,
    tradable: np.ndarray,
    speed: np.ndarray,
    liquid: float,
    delta: np.ndarray,
) -> float:  # pragma: no cover - compiled by numba
    """A yield-risk staker's trades into ``delta`` (the softmax weights ``e / sum(e)`` on the
    open subnets, the partial move toward the target, the purchases scaled to the free TAO);
    returns the TAO its sales free. The array version's operations (kept in the tests), its
    sums in numpy's order (pairwise, over the selected entries)."""
    size = delta.shape[0]
    total_e = 0.0 + pairwise_sum(e, 0, e.shape[0])
    weights = np.zeros(size)
    for i in range(open_index.shape[0]):
        weights[open_index[i]] = e[i] / total_e
    sales = np.empty(size)
    purchases = np.empty(size)
    n_sales = 0
    n_purchases = 0
    for i in range(size):
        gap = staked_target * weights[i] - holdings[i]
        d = speed[i] * gap if tradable[i] else 0.0
        delta[i] = d
        if d < 0:
            sales[n_sales] = d
            n_sales += 1
        if d > 0:
            purchases[n_purchases] = d
            n_purchases += 1
    # Cannot stake more than the free TAO after this round's sales.
    freed = -(0.0 + pairwise_sum(sales, 0, n_sales))
    buys = 0.0 + pairwise_sum(purchases, 0, n_purchases)
    budget = liquid + freed
    if buys > budget > 0:
        for i in range(size):
            if delta[i] > 0:
                delta[i] = delta[i] * budget / buys
    elif buys > 0 and budget <= 0:
        for i in range(size):  # np.minimum(delta, 0.0): NaN stays, -0.0 becomes 0.0
            d = delta[i]
            delta[i] = d if (d < 0.0 or d != d) else 0.0
    return freed


def _yield_risk_common(
    obs: StakerObservation, cfg: StakersConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What every yield-risk staker of a round computes alike: the scores before the staker's
    own hazard term and the flagged subnets' extra hazard, both on the subnets open to buy;
    those subnets' indices; the adjustment speed (the same array operations as one staker at a
    time)."""
    base = cfg.yield_sensitivity * obs.yields + np.log(np.maximum(obs.utility, 1e-9))
    flag_hazard = cfg.target_subnet_hazard_per_year * obs.flagged
    # Nobody buys into a subnet that a pending or executed intervention threatens.
    open_index = np.flatnonzero(obs.tradable & ~obs.flagged)
    speed = np.where(obs.flagged, 1.0, cfg.rebalance_fraction)  # leave a threatened subnet now
    return base[open_index], flag_hazard[open_index], open_index, speed


@STAKER_STRATEGIES.register("passive")
class PassiveStaker(Staker):
    """Never trades: a buy-and-hold nominator (baseline)."""

    name = "passive"

    def act(self, obs: StakerObservation) -> tuple[np.ndarray, float]:
        return np.zeros_like(obs.yields), 0.0
