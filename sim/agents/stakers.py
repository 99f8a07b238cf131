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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import mesa
import numpy as np

from protocol._numba import jit, pairwise_sum
from protocol.registry import Registry
from sim.agents.host import AgentHost
from sim.config import StakersConfig

__all__ = [
    "STAKER_STRATEGIES",
    "PassiveStaker",
    "RoundDecisions",
    "Staker",
    "StakerObservation",
    "YieldRiskStaker",
    "decay_belief",
    "decide_round",
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
        common = _shared_common(obs.shared, obs.yields, obs.utility, obs.flagged, obs.tradable, cfg)
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
    yields: np.ndarray,
    utility: np.ndarray,
    flagged: np.ndarray,
    tradable: np.ndarray,
    cfg: StakersConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What every yield-risk staker of a round computes alike: the scores before the staker's
    own hazard term and the flagged subnets' extra hazard, both on the subnets open to buy;
    those subnets' indices; the adjustment speed (the same array operations as one staker at a
    time)."""
    base = cfg.yield_sensitivity * yields + np.log(np.maximum(utility, 1e-9))
    flag_hazard = cfg.target_subnet_hazard_per_year * flagged
    # Nobody buys into a subnet that a pending or executed intervention threatens.
    open_index = np.flatnonzero(tradable & ~flagged)
    speed = np.where(flagged, 1.0, cfg.rebalance_fraction)  # leave a threatened subnet now
    return base[open_index], flag_hazard[open_index], open_index, speed


def _shared_common(
    shared: dict[str, Any],
    yields: np.ndarray,
    utility: np.ndarray,
    flagged: np.ndarray,
    tradable: np.ndarray,
    cfg: StakersConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_yield_risk_common` of the round, computed by its first yield-risk staker and
    kept in the round's ``shared`` dict for the others."""
    common = shared.get(YieldRiskStaker.name)
    if common is None:
        common = shared[YieldRiskStaker.name] = _yield_risk_common(
            yields, utility, flagged, tradable, cfg
        )
    return common


#: ``YieldRiskStaker.act`` as this module defines it: :func:`decide_round` decides for the
#: stakers whose ``act`` it is (a subclass's or a test's own ``act`` is asked one at a time).
_YIELD_RISK_ACT = YieldRiskStaker.act


class RoundDecisions(NamedTuple):
    """What :func:`decide_round` decided for a round's stakers (row / entry ``i``: staker ``i``).

    Attributes
    ----------
    decided
        True where the staker's decision is below; False: ask its ``act``.
    delta
        Desired change of TAO staked per subnet ``[D, S]`` (``act``'s first value).
    sell
        TAO to sell on the market (``act``'s second value).
    wealth
        Free TAO plus the holdings' total, as ``liquid_tao + float(holdings_tao.sum())``.
    """

    decided: list[bool]
    delta: np.ndarray
    sell: list[float]
    wealth: list[float]


def decide_round(
    stakers: Sequence[Staker],
    yields: np.ndarray,
    utility: np.ndarray,
    flagged: np.ndarray,
    tradable: np.ndarray,
    holdings_tao: np.ndarray,
    liquid_tao: Sequence[float],
    shared: dict[str, Any],
) -> RoundDecisions:
    """The ``act`` of a round's yield-risk stakers, all at once: staker ``i`` observing the
    common arrays (``yields`` to ``tradable``, as in :class:`StakerObservation`), row ``i``
    of ``holdings_tao`` ``[D, S]`` and ``liquid_tao[i]``.

    The same float64 operations as :meth:`YieldRiskStaker.act` element by element (its sums
    row by row in numpy's order, its exponential on the same scores), so bit-identical to
    asking each staker; one numpy pass per round instead of one per staker. ``shared`` is the
    round's dict (:class:`StakerObservation`): the stakers asked one at a time reuse its
    common terms.

    Parameters
    ----------
    stakers
        The round's stakers ``[D]``; those whose ``act`` is not ``YieldRiskStaker.act`` are
        left undecided.
    yields, utility, flagged, tradable
        The round's common observation ``[S]``.
    holdings_tao
        Each staker's holdings at spot price ``[D, S]``.
    liquid_tao
        Each staker's free TAO ``[D]``.
    shared
        The round's shared dict.

    Returns
    -------
    RoundDecisions
        The decisions (undecided rows of ``delta`` are zero).
    """
    n_stakers, size = holdings_tao.shape
    decided = [type(staker).act is _YIELD_RISK_ACT for staker in stakers]
    delta = np.zeros((n_stakers, size))
    sell = [0.0] * n_stakers
    wealth = [0.0] * n_stakers
    rows = [i for i, yes in enumerate(decided) if yes]
    if not rows:
        return RoundDecisions(decided, delta, sell, wealth)
    cfg: StakersConfig = stakers[rows[0]].model.config.stakers
    open_base, open_flag_hazard, open_index, speed = _shared_common(
        shared, yields, utility, flagged, tradable, cfg
    )
    if not (holdings_tao.dtype == open_base.dtype == open_flag_hazard.dtype == np.float64):
        # (other dtypes compute in their own precision: left to the stakers' act)
        return RoundDecisions([False] * n_stakers, delta, sell, wealth)
    some = len(rows) < n_stakers
    holdings = np.ascontiguousarray(holdings_tao[rows] if some else holdings_tao, dtype=np.float64)
    belief = [stakers[i].belief for i in rows]
    risk_aversion = [stakers[i].risk_aversion for i in rows]
    liquid = np.array([liquid_tao[i] for i in rows], dtype=np.float64)
    # each row's sum over its own contiguous slice, as float(row.sum()) per staker
    total_before = holdings.sum(axis=1)
    held_wealth = liquid + total_before
    if open_index.size:
        scores = open_base - np.array(risk_aversion, dtype=np.float64)[:, None] * (
            np.array(belief, dtype=np.float64)[:, None] + open_flag_hazard
        )
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
    else:
        e = np.empty((len(rows), 0))
    fraction = np.array(
        [staked_fraction_target(b, r, cfg) for b, r in zip(belief, risk_aversion, strict=True)],
        dtype=np.float64,
    )
    staked_target = held_wealth * fraction
    decided_delta = np.empty(holdings.shape)
    freed = np.empty(len(rows))
    _rebalance_rows(
        e, open_index, staked_target, holdings, tradable, speed, liquid, decided_delta, freed
    )
    if some:
        delta[rows] = decided_delta
    else:
        delta = decided_delta
    prior, sell_fraction = cfg.belief_prior_per_year, cfg.sell_fraction
    for i, b, total, target, freed_tao, held in zip(
        rows,
        belief,
        total_before.tolist(),
        staked_target.tolist(),
        freed.tolist(),
        held_wealth.tolist(),
        strict=True,
    ):
        shrink = max(total - target, 0.0)
        sell[i] = sell_fraction * min(shrink, freed_tao) if b > prior else 0.0
        wealth[i] = held
    return RoundDecisions(decided, delta, sell, wealth)


@jit
def _rebalance_rows(
    e: np.ndarray,
    open_index: np.ndarray,
    staked_target: np.ndarray,
    holdings: np.ndarray,
    tradable: np.ndarray,
    speed: np.ndarray,
    liquid: np.ndarray,
    delta: np.ndarray,
    freed: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba
    """:func:`_rebalance` for each staker of a round (row ``i`` of ``e``, ``staked_target``,
    ``holdings``, ``liquid``, ``delta``; its freed TAO into ``freed[i]``)."""
    for i in range(delta.shape[0]):
        freed[i] = _rebalance(
            e[i], open_index, staked_target[i], holdings[i], tradable, speed, liquid[i], delta[i]
        )


@STAKER_STRATEGIES.register("passive")
class PassiveStaker(Staker):
    """Never trades: a buy-and-hold nominator (baseline)."""

    name = "passive"

    def act(self, obs: StakerObservation) -> tuple[np.ndarray, float]:
        return np.zeros_like(obs.yields), 0.0
