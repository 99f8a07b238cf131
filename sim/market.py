"""The TAO market: news, price impact of flows, a governance-risk and a security-risk discount.

Subnet (alpha) prices in TAO come from the economy's pools; this module prices TAO itself in USD.

The log price is a sum of five parts (docs/calibration.md)::

    log P = log P0 + X − premium − security − impact
    X        exogenous random walk: drift μ and daily volatility σ (news unrelated to governance)
    premium  governance-risk discount, jumps by β·severity after each discretionary
             intervention; a fraction stays for good, the rest decays with a half-life
    security security-risk discount, jumps by γ·(TAO lost / circulating TAO) for every TAO
             stolen by an unstopped exploit or emitted to an unstopped scam subnet; it decays
             like the governance premium
    impact   square-root-law impact of net TAO sales, Y·σ·sqrt(A/V), where A is a decaying
             metaorder accumulator (USD) and V the daily volume; part of each increase is permanent

``severity`` turns an executed lever into a number comparable across levers: the share of
emission (or, for chain-wide levers, of the whole network) it hits, times its expected duration
relative to an open-ended suspension to the power ``duration_exponent``, discounted when the
market sees it as justified and when a public delay preceded it. β (``contagion_beta``), the
duration exponent and γ (``security_beta``) are fitted jointly to the documented events in
``scenarios/data/events.toml`` (``python -m sim.calibration``); everything else is set a priori.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from protocol.levers import AnyChange, HaltChain, Lever, SetHyperparameter, TokenSale
from sim.config import MarketConfig

__all__ = [
    "MarketState",
    "initial_market",
    "intervention_severity",
    "market_step",
    "premium_jump",
    "price_security_losses",
    "scam_emission_tao",
    "security_jump",
    "sqrt_impact",
]


@dataclass(frozen=True)
class MarketState:
    """The TAO market at one time.

    Attributes
    ----------
    news
        Exogenous log-price component X (dimensionless).
    premium_transient, premium_permanent
        Governance-risk discount in log-price units (decaying and permanent parts).
    flow_accumulator_usd
        Decaying signed net sales of TAO (USD; positive = selling pressure).
    impact_transient, impact_permanent
        Price impact in log-price units.
    price_usd
        The resulting TAO price (USD).
    security_transient, security_permanent
        Security-risk discount in log-price units (decaying and permanent parts).
    stolen_tao_priced
        TAO stolen by exploits so far that the market has priced (TAO, cumulative).
    scam_tao_lost
        TAO emitted to unstopped scam subnets so far (TAO, cumulative).
    """

    news: float
    premium_transient: float
    premium_permanent: float
    flow_accumulator_usd: float
    impact_transient: float
    impact_permanent: float
    price_usd: float
    security_transient: float = 0.0
    security_permanent: float = 0.0
    stolen_tao_priced: float = 0.0
    scam_tao_lost: float = 0.0

    @property
    def premium(self) -> float:
        """Total governance-risk discount (log-price units)."""
        return self.premium_transient + self.premium_permanent

    @property
    def security_premium(self) -> float:
        """Total security-risk discount (log-price units)."""
        return self.security_transient + self.security_permanent

    @property
    def security_loss_tao(self) -> float:
        """TAO lost to unstopped exploits and scams so far (TAO, cumulative)."""
        return self.stolen_tao_priced + self.scam_tao_lost


def initial_market(cfg: MarketConfig) -> MarketState:
    """The market at the start of a run: the configured price, no premium, no impact."""
    return MarketState(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, float(cfg.tao_price_usd))


def _decay(half_life_days: float, dt_days: float) -> float:
    return 0.5 ** (dt_days / half_life_days)


def sqrt_impact(flow_usd: float, cfg: MarketConfig) -> float:
    """Square-root-law impact in log-price units of a signed metaorder (positive = sales).

    Parameters
    ----------
    flow_usd
        Net TAO sold (USD); negative for net buying.
    cfg
        Market constants (``impact_coefficient`` Y, ``daily_volatility`` σ, ``daily_volume_usd`` V).

    Returns
    -------
    float
        ``Y·σ·sign(Q)·sqrt(|Q|/V)``.

    Examples
    --------
    >>> from sim.config import MarketConfig
    >>> round(sqrt_impact(1_500_000.0, MarketConfig()), 4)  # 1 % of daily volume
    0.004
    """
    if flow_usd == 0.0:
        return 0.0
    magnitude = (
        cfg.impact_coefficient
        * cfg.daily_volatility
        * math.sqrt(abs(flow_usd) / cfg.daily_volume_usd)
    )
    return math.copysign(magnitude, flow_usd)


def intervention_severity(
    lever: Lever,
    *,
    emission_shares: np.ndarray,
    justified: bool,
    delay_blocks: int,
    cfg: MarketConfig,
    duration_days: float | None = None,
) -> float:
    """How alarming an executed lever is to the market (dimensionless, >= 0).

    Parameters
    ----------
    lever
        The executed lever.
    emission_shares
        Current TAO emission share of each subnet (sums to 1 over emitting subnets).
    justified
        Whether observers see the action as warranted (an exploit halt, a scam suspension).
    delay_blocks
        Enforced delay between proposal and execution (blocks); public delays scare less.
    cfg
        Market constants.
    duration_days
        Known duration of the effect (days); None means open-ended, priced as
        ``cfg.expected_suspension_days``. A halt lasts its ``duration_blocks``.

    Returns
    -------
    float
        ``scope · (duration / expected_suspension_days)^duration_exponent · justified ·
        1/(1 + delay/relief)``;
        0 for token sales (they act through price impact) and for reversals.
    """
    if isinstance(lever, TokenSale):
        return 0.0
    if getattr(lever, "enabled", None) is True or getattr(lever, "allowed", None) is True:
        return 0.0  # switching something back on is a reversal, not a new intervention
    if lever.kind == "resume_chain":
        return 0.0
    netuid = getattr(lever, "netuid", None)
    if isinstance(lever, HaltChain):
        scope = 1.0
        duration_days = lever.duration_blocks / 7_200
    elif (isinstance(lever, SetHyperparameter) and netuid is None) or (
        isinstance(lever, AnyChange) and not lever.effects
    ):
        scope = 1.0
    elif isinstance(lever, AnyChange):
        return sum(
            intervention_severity(
                effect,
                emission_shares=emission_shares,
                justified=justified,
                delay_blocks=delay_blocks,
                cfg=cfg,
                duration_days=duration_days,
            )
            for effect in lever.effects
        )
    elif netuid is not None and 0 <= netuid < len(emission_shares):
        scope = float(emission_shares[netuid])
        if isinstance(lever, SetHyperparameter):
            scope *= 0.25  # a local parameter change threatens less than a cut of emission
    else:
        scope = 0.0
    expected = cfg.expected_suspension_days
    duration = expected if duration_days is None else min(duration_days, expected)
    time_factor = (max(duration, 0.0) / expected) ** cfg.duration_exponent
    legitimacy = cfg.justified_discount if justified else 1.0
    process = 1.0 / (1.0 + (delay_blocks / 7_200) / cfg.delay_relief_days)
    return scope * time_factor * legitimacy * process / cfg.severity_scale


def premium_jump(state: MarketState, severity: float, cfg: MarketConfig) -> MarketState:
    """Add the governance-risk discount of one observed intervention (applied immediately)."""
    if severity <= 0.0:
        return state
    jump = cfg.contagion_beta * severity
    permanent = cfg.premium_floor_fraction * jump
    new = replace(
        state,
        premium_transient=state.premium_transient + jump - permanent,
        premium_permanent=state.premium_permanent + permanent,
    )
    return replace(new, price_usd=_price(new, cfg))


def security_jump(state: MarketState, loss_tao: float, cfg: MarketConfig) -> MarketState:
    """Add the security-risk discount of ``loss_tao`` TAO lost to an unstopped exploit or scam.

    Parameters
    ----------
    state
        The market before the loss is priced.
    loss_tao
        TAO newly stolen, or newly emitted to a scam subnet (TAO, >= 0).
    cfg
        Market constants (``security_beta`` γ, ``circulating_tao``, and the governance premium's
        ``premium_floor_fraction``: the same share of the jump never decays).

    Returns
    -------
    MarketState
        With the discount raised by ``γ · loss_tao / circulating_tao`` and the price updated.

    Examples
    --------
    >>> from sim.config import MarketConfig
    >>> cfg = MarketConfig(security_beta=20.0, circulating_tao=8_000_000.0)
    >>> round(security_jump(initial_market(cfg), 32_000.0, cfg).security_premium, 4)
    0.08
    """
    if loss_tao <= 0.0:
        return state
    jump = cfg.security_beta * loss_tao / cfg.circulating_tao
    permanent = cfg.premium_floor_fraction * jump
    new = replace(
        state,
        security_transient=state.security_transient + jump - permanent,
        security_permanent=state.security_permanent + permanent,
    )
    return replace(new, price_usd=_price(new, cfg))


def scam_emission_tao(
    shares: np.ndarray, live_scams: np.ndarray, tao_per_block: float, n_blocks: int
) -> float:
    """TAO emitted to unstopped scam subnets over ``n_blocks`` blocks (TAO).

    Parameters
    ----------
    shares
        TAO emission share per subnet ``[S]``.
    live_scams
        Boolean mask ``[S]``: scam subnets still emitting (not suspended, not deregistered).
    tao_per_block
        TAO emitted per block by the whole network.
    n_blocks
        Blocks in the step.
    """
    if not np.any(live_scams):
        return 0.0
    return float(np.sum(np.where(live_scams, shares, 0.0))) * tao_per_block * n_blocks


def price_security_losses(
    state: MarketState, *, stolen_tao_total: float, scam_tao: float, cfg: MarketConfig
) -> MarketState:
    """Price the TAO lost since the last call to unstopped exploits and scams.

    Parameters
    ----------
    state
        The market; ``state.stolen_tao_priced`` is the theft already priced.
    stolen_tao_total
        All TAO stolen by exploits so far (cumulative, TAO).
    scam_tao
        TAO emitted to unstopped scam subnets during this step (TAO).
    cfg
        Market constants.

    Returns
    -------
    MarketState
        With :func:`security_jump` applied to the new loss and the running totals updated.
    """
    new_theft = max(stolen_tao_total - state.stolen_tao_priced, 0.0)
    scam = max(scam_tao, 0.0)
    if new_theft == 0.0 and scam == 0.0:
        return state
    state = security_jump(state, new_theft + scam, cfg)
    return replace(
        state,
        stolen_tao_priced=state.stolen_tao_priced + new_theft,
        scam_tao_lost=state.scam_tao_lost + scam,
    )


def _price(state: MarketState, cfg: MarketConfig) -> float:
    return _price_of(
        cfg,
        state.news,
        state.premium_transient,
        state.premium_permanent,
        state.security_transient,
        state.security_permanent,
        state.impact_transient,
        state.impact_permanent,
    )


def _price_of(
    cfg: MarketConfig,
    news: float,
    premium_transient: float,
    premium_permanent: float,
    security_transient: float,
    security_permanent: float,
    impact_transient: float,
    impact_permanent: float,
) -> float:
    """The TAO price (USD) of these log-price parts (:func:`_price` of a state holding them)."""
    log_p = (
        math.log(cfg.tao_price_usd)
        + news
        - premium_transient
        - premium_permanent
        - security_transient
        - security_permanent
        - impact_transient
        - impact_permanent
    )
    return math.exp(log_p)


def market_step(
    state: MarketState,
    cfg: MarketConfig,
    *,
    dt_days: float,
    net_tao_sold: float,
    shock: float,
) -> MarketState:
    """Advance the TAO market by ``dt_days``.

    Parameters
    ----------
    state
        The market before the step.
    cfg
        Market constants.
    dt_days
        Length of the step (days).
    net_tao_sold
        TAO sold on the market during the step minus TAO bought (TAO).
    shock
        A standard-normal draw for the exogenous news (the caller owns the rng).

    Returns
    -------
    MarketState
        The market after the step (with ``price_usd`` updated).
    """
    news = (
        state.news
        + cfg.drift_per_year * dt_days / 365.0
        + (cfg.daily_volatility * math.sqrt(dt_days) * shock if cfg.news_enabled else 0.0)
    )
    premium_decay = _decay(cfg.premium_half_life_days, dt_days)
    premium_transient = state.premium_transient * premium_decay
    flow_usd = net_tao_sold * state.price_usd
    accumulator = (
        state.flow_accumulator_usd * _decay(cfg.impact_decay_half_life_days, dt_days) + flow_usd
    )
    level = sqrt_impact(accumulator, cfg)
    previous_level = state.impact_transient / max(1.0 - cfg.permanent_impact_fraction, 1e-12)
    impact_permanent = state.impact_permanent
    # Only fresh pressure (a rise of the impact level in the direction of the flow) leaves a
    # permanent mark; the decay of the accumulator gives back the transient part alone.
    increase = level - previous_level
    if increase * flow_usd > 0.0:
        impact_permanent += cfg.permanent_impact_fraction * increase
    impact_transient = (1.0 - cfg.permanent_impact_fraction) * level
    # The security discount fades like the governance premium (same half-life and floor).
    security_transient = state.security_transient * premium_decay
    # One new state with its price (not a replace and a second one for the price).
    return MarketState(
        news=news,
        premium_transient=premium_transient,
        premium_permanent=state.premium_permanent,
        flow_accumulator_usd=accumulator,
        impact_transient=impact_transient,
        impact_permanent=impact_permanent,
        price_usd=_price_of(
            cfg,
            news,
            premium_transient,
            state.premium_permanent,
            security_transient,
            state.security_permanent,
            impact_transient,
            impact_permanent,
        ),
        security_transient=security_transient,
        security_permanent=state.security_permanent,
        stolen_tao_priced=state.stolen_tao_priced,
        scam_tao_lost=state.scam_tao_lost,
    )
