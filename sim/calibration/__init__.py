"""Calibration of the TAO market's constants to documented events, as a range.

- :mod:`sim.calibration.events`: the catalogue of interventions and incidents
  (``scenarios/data/events.toml``), validated at load.
- :mod:`sim.calibration.replay`: each event replayed in the simulator, its one-day TAO move
  measured against a baseline run; runs are cached.
- :mod:`sim.calibration.fit`: the joint grid posterior of ``contagion_beta``,
  ``duration_exponent`` and ``security_beta``.
- :mod:`sim.calibration.prior`: the shipped fit (``scenarios/data/market_prior.toml``) and
  :func:`sample_market_constants` for studies that draw the constants per replication.

Run ``python -m sim.calibration`` (or ``govsim calibrate``) to refit; docs/calibration.md
explains the method and shows each event's fit.
"""

from __future__ import annotations

from sim.calibration.events import EventCatalog, EventsFileError, MarketEvent, load_events
from sim.calibration.fit import PARAMETERS, FitResult, fit_market, format_fit
from sim.calibration.prior import (
    MarketPrior,
    ParameterBand,
    PriorFileError,
    format_prior_range,
    load_market_prior,
    market_prior_range,
    sample_market_constants,
    with_market_constants,
)
from sim.calibration.replay import (
    EVENT_DAY,
    Replayer,
    covenant_scenario,
    july_2024_scenario,
    one_day_drawdown,
)

__all__ = [
    "EVENT_DAY",
    "PARAMETERS",
    "EventCatalog",
    "EventsFileError",
    "FitResult",
    "MarketEvent",
    "MarketPrior",
    "ParameterBand",
    "PriorFileError",
    "Replayer",
    "covenant_scenario",
    "fit_market",
    "format_fit",
    "format_prior_range",
    "july_2024_scenario",
    "load_events",
    "load_market_prior",
    "market_prior_range",
    "one_day_drawdown",
    "sample_market_constants",
    "with_market_constants",
]
