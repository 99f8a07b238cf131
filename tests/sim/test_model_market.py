"""The TAO market: severity, premium, impact, and the shipped calibration still holding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protocol.levers import HaltChain, SetEmissionEnabled, SetHyperparameter, TokenSale
from sim.calibration import covenant_scenario, one_day_drawdown
from sim.config import MarketConfig
from sim.market import initial_market, intervention_severity, market_step, premium_jump, sqrt_impact
from sim.metrics import cvar, gini, hhi, nakamoto

CFG = MarketConfig()
SHARES = np.array([0.07, 0.33, 0.6])


def _severity(lever, **kw) -> float:
    args = {"emission_shares": SHARES, "justified": False, "delay_blocks": 0, "cfg": CFG}
    args.update(kw)
    return intervention_severity(lever, **args)


def test_severity_scales_with_share_legitimacy_delay_and_reversal() -> None:
    cut = _severity(SetEmissionEnabled(netuid=0))
    assert cut == pytest.approx(0.07)  # open-ended: time factor 1
    assert _severity(SetEmissionEnabled(netuid=1)) == pytest.approx(0.33)
    assert _severity(SetEmissionEnabled(netuid=0), justified=True) == pytest.approx(0.035)
    week = 7 * 7_200
    assert _severity(SetEmissionEnabled(netuid=0), delay_blocks=week) == pytest.approx(0.035)
    assert _severity(SetEmissionEnabled(netuid=0, enabled=True)) == 0.0  # a reversal
    assert _severity(TokenSale(amount_tao=1.0)) == 0.0  # acts through impact instead
    halt = _severity(HaltChain(duration_blocks=7_200), justified=True)
    assert halt == pytest.approx(0.5 * math.sqrt(1 / 30))
    assert _severity(SetHyperparameter(name="kappa", value=0.6)) == pytest.approx(1.0)


def test_premium_jumps_then_partly_decays() -> None:
    state = premium_jump(initial_market(CFG), 0.07, CFG)
    assert state.price_usd == pytest.approx(
        CFG.tao_price_usd * math.exp(-CFG.contagion_beta * 0.07)
    )
    later = market_step(state, CFG, dt_days=CFG.premium_half_life_days, net_tao_sold=0.0, shock=0.0)
    assert later.premium_transient == pytest.approx(state.premium_transient / 2)
    assert later.premium_permanent == state.premium_permanent > 0
    assert state.price_usd < later.price_usd < CFG.tao_price_usd


def test_sales_push_the_price_down_and_buys_up() -> None:
    start = initial_market(CFG)
    sold = market_step(start, CFG, dt_days=1.0, net_tao_sold=30_000.0, shock=0.0)
    bought = market_step(start, CFG, dt_days=1.0, net_tao_sold=-30_000.0, shock=0.0)
    assert sold.price_usd < CFG.tao_price_usd < bought.price_usd
    usd = 30_000.0 * CFG.tao_price_usd
    assert 1 - sold.price_usd / CFG.tao_price_usd == pytest.approx(
        1 - math.exp(-sqrt_impact(usd, CFG)), rel=1e-9
    )
    # After the flow stops the transient half of the impact fades, the permanent half stays.
    calm = sold
    for _ in range(60):
        calm = market_step(calm, CFG, dt_days=1.0, net_tao_sold=0.0, shock=0.0)
    assert sold.price_usd < calm.price_usd < CFG.tao_price_usd


def test_news_switch() -> None:
    off = MarketConfig(news_enabled=False)
    assert (
        market_step(initial_market(off), off, dt_days=1.0, net_tao_sold=0.0, shock=3.0).price_usd
        == off.tao_price_usd
    )
    on = market_step(initial_market(CFG), CFG, dt_days=1.0, net_tao_sold=0.0, shock=3.0)
    assert on.price_usd == pytest.approx(CFG.tao_price_usd * math.exp(3 * CFG.daily_volatility))


def test_concentration_metrics() -> None:
    assert cvar(np.arange(100.0), 0.05) == pytest.approx(2.0)
    assert hhi(np.array([1.0, 1.0, 1.0, 1.0])) == pytest.approx(0.25)
    assert gini(np.array([1.0, 1.0, 1.0])) == pytest.approx(0.0)
    assert gini(np.array([0.0, 0.0, 1.0])) > 0.6
    # A June 2024-like root stake: top five, the rest spread thin -> NC 2 and 4.
    root = np.array([0.25, 0.135, 0.11, 0.09, 0.065] + [0.035] * 10)
    assert nakamoto(root, 1 / 3) == 2
    assert nakamoto(root, 1 / 2) == 4


def test_shipped_calibration_reproduces_april_2026() -> None:
    """The default contagion_beta still gives a 16-23 % one-day fall for a ~7 % subnet."""
    config = covenant_scenario(CFG.contagion_beta)
    drawdown, info = one_day_drawdown(config)
    assert 0.16 <= drawdown <= 0.23, drawdown
    share = info["executed"][0]["emission_share_hit"]
    assert 0.05 <= share <= 0.09
