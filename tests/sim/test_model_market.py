"""The TAO market: severity, premium, impact, and the shipped calibration still holding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protocol.levers import HaltChain, SetEmissionEnabled, SetHyperparameter, TokenSale
from sim.calibration import covenant_scenario, one_day_drawdown
from sim.config import MarketConfig, SimConfig
from sim.market import (
    initial_market,
    intervention_severity,
    market_step,
    premium_jump,
    price_security_losses,
    scam_emission_tao,
    security_jump,
    sqrt_impact,
)
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
    assert halt == pytest.approx(0.5 * (1 / 30) ** CFG.duration_exponent)
    root = MarketConfig(duration_exponent=0.5)  # square-root-of-time scaling
    assert _severity(HaltChain(duration_blocks=7_200), justified=True, cfg=root) == pytest.approx(
        0.5 * math.sqrt(1 / 30)
    )
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


# ------------------------------------------------------------------ the security channel


def test_security_jump_prices_lost_tao_against_circulating_supply() -> None:
    cfg = MarketConfig(security_beta=20.0, circulating_tao=8_000_000.0)
    hit = security_jump(initial_market(cfg), 32_000.0, cfg)
    assert hit.security_premium == pytest.approx(20.0 * 32_000.0 / 8_000_000.0)
    assert hit.security_permanent == pytest.approx(cfg.premium_floor_fraction * 0.08)
    assert hit.price_usd == pytest.approx(cfg.tao_price_usd * math.exp(-0.08))
    assert security_jump(initial_market(cfg), 0.0, cfg) == initial_market(cfg)
    off = MarketConfig(security_beta=0.0)
    assert security_jump(initial_market(off), 32_000.0, off).price_usd == off.tao_price_usd
    # It fades like the governance premium: the transient part halves per half-life.
    later = market_step(hit, cfg, dt_days=cfg.premium_half_life_days, net_tao_sold=0.0, shock=0.0)
    assert later.security_transient == pytest.approx(hit.security_transient / 2)
    assert later.security_permanent == hit.security_permanent
    assert hit.price_usd < later.price_usd < cfg.tao_price_usd


def test_security_losses_are_priced_once_and_accumulate() -> None:
    cfg = MarketConfig(security_beta=10.0)
    state = initial_market(cfg)
    state = price_security_losses(state, stolen_tao_total=5_000.0, scam_tao=0.0, cfg=cfg)
    again = price_security_losses(state, stolen_tao_total=5_000.0, scam_tao=0.0, cfg=cfg)
    assert again == state  # the same theft is not priced twice
    more = price_security_losses(state, stolen_tao_total=7_000.0, scam_tao=500.0, cfg=cfg)
    assert more.stolen_tao_priced == 7_000.0 and more.scam_tao_lost == 500.0
    assert more.security_loss_tao == 7_500.0
    assert more.security_premium == pytest.approx(10.0 * 7_500.0 / cfg.circulating_tao)
    shares = np.array([0.1, 0.3, 0.6])
    live = np.array([False, True, False])
    assert scam_emission_tao(shares, live, 0.5, 360) == pytest.approx(0.3 * 0.5 * 360)
    assert scam_emission_tao(shares, np.zeros(3, dtype=bool), 0.5, 360) == 0.0


def _exploit_run(detection_days: float, security_beta: float | None = None) -> tuple[float, float]:
    """TAO price and stolen TAO at day 12 of a theft halted after ``detection_days``."""
    from sim.api import run

    market = {"news_enabled": False}
    if security_beta is not None:
        market["security_beta"] = security_beta
    config = SimConfig.model_validate(
        {
            "name": "exploit-duration",
            "horizon_days": 12.0,
            "network": {"n_subnets": 4, "n_uids": 16, "n_validators": 2},
            "stakers": {"n_stakers": 8},
            "market": market,
            "governance": {
                "policy": "sudo",
                "detection_delay_blocks": round(detection_days * 7_200),
            },
            "shocks": [
                {
                    "kind": "exploit",
                    "day": 1.0,
                    "damage_tao_per_block": 1.0,
                    "max_damage_tao": 1_000_000.0,
                    "sold_fraction": 1.0,
                }
            ],
        }
    )
    result = run(config)
    return float(result.kpis["tao.price_end_usd"]), float(result.kpis["exploits.stolen_tao"])


@pytest.mark.slow
def test_an_exploit_running_ten_days_hurts_more_than_one_halted_in_a_day() -> None:
    """Same theft rate, same halt, same seed: only how long the theft runs differs."""
    fast_price, fast_stolen = _exploit_run(1.0)
    slow_price, slow_stolen = _exploit_run(10.0)
    assert slow_stolen > 5 * fast_stolen > 0
    assert slow_price < fast_price
    # The security channel is what makes the difference, not the thief's sales alone.
    fast_off, _ = _exploit_run(1.0, security_beta=0.0)
    slow_off, _ = _exploit_run(10.0, security_beta=0.0)
    gap_on = math.log(fast_price / slow_price)
    gap_off = math.log(fast_off / slow_off)
    expected = CFG.security_beta * (slow_stolen - fast_stolen) / CFG.circulating_tao
    assert gap_on - gap_off > 0.5 * expected > 0


def _scam_run(detection_days: float, security_beta: float | None = None) -> float:
    """TAO price at day 3 of a scam subnet suspended after ``detection_days``."""
    from sim.api import run

    market = {"news_enabled": False}
    if security_beta is not None:
        market["security_beta"] = security_beta
    config = SimConfig.model_validate(
        {
            "name": "scam-duration",
            "horizon_days": 3.0,
            "network": {"n_subnets": 4, "n_uids": 16, "n_validators": 2},
            "stakers": {"n_stakers": 8},
            "market": market,
            "governance": {"policy": "sudo", "scam_detection_days": detection_days},
            "shocks": [{"kind": "scam_subnet", "day": 0.25, "netuid": 1}],
        }
    )
    return float(run(config).kpis["tao.price_end_usd"])


@pytest.mark.slow
def test_a_scam_left_emitting_longer_costs_confidence() -> None:
    """TAO emitted to a scam subnet while it runs is priced as lost: a later stop costs more.

    The later suspension also hits a smaller emission share (the scam's share falls as its
    stakers leave), so its governance premium is smaller; comparing with the security channel
    off isolates the channel: it lowers the late-stop price relative to the early one by about
    security_beta x (about 1 500 more TAO emitted to the scam) / circulating TAO.
    """
    fast, slow = _scam_run(0.25), _scam_run(2.5)
    fast_off, slow_off = _scam_run(0.25, security_beta=0.0), _scam_run(2.5, security_beta=0.0)
    channel = math.log(fast / slow) - math.log(fast_off / slow_off)
    assert channel > 0.5 * CFG.security_beta * 1_000.0 / CFG.circulating_tao
