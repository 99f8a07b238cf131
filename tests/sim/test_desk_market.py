"""The market desk: step sales move the price, interventions reprice governance risk."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import MarketConfig
from sim.desks.market import MarketDesk
from sim.market import market_step, premium_jump

QUIET = MarketConfig(news_enabled=False, drift_per_year=0.0)


def test_step_sales_are_counted_per_step_and_move_the_price() -> None:
    selling = MarketDesk(QUIET, np.random.default_rng(0))
    calm = MarketDesk(QUIET, np.random.default_rng(0))
    selling.open_step()
    selling.add_sold(5_000.0)
    selling.add_sold(1_000.0)
    assert selling.sold_tao == 6_000.0
    selling.step(1.0)
    calm.step(1.0)
    assert selling.price_usd < calm.price_usd == pytest.approx(QUIET.tao_price_usd)
    selling.open_step()
    assert selling.sold_tao == 0.0  # the next step starts from nothing


def test_step_is_market_step_with_one_news_draw_from_the_desks_stream() -> None:
    cfg = MarketConfig()
    desk = MarketDesk(cfg, np.random.default_rng(3))
    desk.add_sold(250.0)
    before = desk.state
    desk.step(0.05)
    shock = float(np.random.default_rng(3).standard_normal())
    assert desk.state == market_step(before, cfg, dt_days=0.05, net_tao_sold=250.0, shock=shock)


def test_reprice_discounts_governance_risk_at_once() -> None:
    desk = MarketDesk(QUIET, np.random.default_rng(0))
    start = desk.state
    desk.reprice(0.5)
    assert desk.state == premium_jump(start, 0.5, QUIET)
    assert desk.premium > 0 and desk.price_usd < start.price_usd
    desk.reprice(0.0)  # nothing alarming: nothing changes
    assert desk.state == premium_jump(start, 0.5, QUIET)
