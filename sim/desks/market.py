"""The market desk: the TAO price over a run, the step's net sales and governance repricing.

The desk holds the :class:`sim.market.MarketState` and this step's net TAO sold; the rules are
``sim.market``'s pure functions. Everyone who sells TAO to the outside world (stakers, owners,
thieves, teams, an authority) adds to the step's sales with :meth:`MarketDesk.add_sold`; an
executed intervention reprices governance risk at once (:meth:`MarketDesk.reprice`); at the
end of the step :meth:`MarketDesk.step` moves the price with the sales and a news draw.
"""

from __future__ import annotations

import numpy as np

from sim.config import MarketConfig
from sim.market import (
    MarketState,
    initial_market,
    market_step,
    premium_jump,
    price_security_losses,
)

__all__ = ["MarketDesk"]


class MarketDesk:
    """The TAO market of one run.

    Parameters
    ----------
    config
        Market constants.
    rng
        The run's market stream (exogenous news).
    """

    def __init__(self, config: MarketConfig, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng
        self.state: MarketState = initial_market(config)
        self.sold_tao = 0.0  # net TAO sold to the outside world during this step

    @property
    def price_usd(self) -> float:
        """TAO price now (USD)."""
        return self.state.price_usd

    @property
    def premium(self) -> float:
        """Governance-risk discount now (log-price units)."""
        return self.state.premium

    def open_step(self) -> None:
        """Start counting a new step's sales."""
        self.sold_tao = 0.0

    def add_sold(self, tao: float) -> None:
        """``tao`` TAO went to the outside world this step (negative for purchases)."""
        self.sold_tao += tao

    def reprice(self, severity: float) -> None:
        """Discount governance risk after an executed intervention of ``severity``."""
        self.state = premium_jump(self.state, severity, self.config)

    def step(self, dt_days: float, *, stolen_tao_total: float = 0.0, scam_tao: float = 0.0) -> None:
        """Move the price over ``dt_days``: security losses, net sales and one news draw.

        ``stolen_tao_total`` is all TAO stolen by exploits so far (the part not yet priced is
        new) and ``scam_tao`` the TAO emitted this step to scam subnets still emitting: both
        lower confidence through the security discount (docs/calibration.md).
        """
        self.state = price_security_losses(
            self.state, stolen_tao_total=stolen_tao_total, scam_tao=scam_tao, cfg=self.config
        )
        shock = float(self.rng.standard_normal())
        self.state = market_step(
            self.state, self.config, dt_days=dt_days, net_tao_sold=self.sold_tao, shock=shock
        )
