"""The initial network's spreads: what scenarios use to set how unequal subnets start."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.economy import new_network


def _price_dispersion(price_spread: float) -> float:
    state = new_network(32, 16, seed=3, n_validators=4, price_spread=price_spread)
    prices = (state.pool_tao / state.pool_alpha).numpy()
    return float(np.std(np.log(prices)))


def test_price_spread_sets_the_dispersion_of_starting_prices() -> None:
    flat, default, wide = (_price_dispersion(s) for s in (0.0, 0.8, 2.0))
    assert flat < 1e-9
    assert flat < default < wide


def test_negative_spreads_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="price_spread"):
        new_network(4, 8, seed=0, n_validators=2, price_spread=-0.1)
