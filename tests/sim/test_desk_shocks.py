"""The shock desk, run on a bare host (no GovSimModel): thefts, sales and scams."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from protocol import economy
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState
from protocol.levers import HaltChain
from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim.config import MarketConfig
from sim.desks.market import MarketDesk
from sim.desks.shocks import SCAM_UTILITY_FACTOR, ShockDesk


@dataclass
class _Owner:
    utility: float


@dataclass
class BareHost:
    """Exactly what ``ShockHost`` names: a network, a clock, owners, a market, an event log."""

    state: NetworkState
    params: EconomyParams
    block: int = 0
    owners: list[Any] = field(default_factory=lambda: [_Owner(1.0), _Owner(2.0), _Owner(3.0)])
    market: MarketDesk = field(
        default_factory=lambda: MarketDesk(MarketConfig(), np.random.default_rng(0))
    )
    events: list[dict[str, Any]] = field(default_factory=list)

    def log_event(self, kind: str, **info: Any) -> None:
        self.events.append({"block": self.block, "kind": kind, **info})


@pytest.fixture()
def host() -> BareHost:
    params = EconomyParams(tempo=360)
    state = economy.new_network(3, 8, params=params, seed=1, n_validators=2)
    return BareHost(state=state, params=params)


def _free_tao(state: NetworkState) -> np.ndarray:
    return state.balances.numpy() / RAO_PER_TAO


def test_an_exploit_drains_wallets_to_the_market_until_its_cap(host: BareHost) -> None:
    desk = ShockDesk(host)
    before = _free_tao(host.state)
    eid = desk.start_exploit(damage_tao_per_block=1.0, max_damage_tao=500.0, sold_fraction=0.5)
    assert host.events[-1]["kind"] == "exploit_start" and desk.exploit_active(eid)
    desk.step(360)  # 360 TAO of 500
    after = _free_tao(host.state)
    victims = np.arange(1, before.size)
    assert before[victims].sum() - after[victims].sum() == pytest.approx(360.0)
    assert after[MARKET_ACCOUNT] - before[MARKET_ACCOUNT] == pytest.approx(360.0)
    # every wallet loses the same share of its free TAO
    lost = 1 - after[victims] / before[victims]
    assert np.allclose(lost[before[victims] > 0], lost[before[victims] > 0][0])
    assert host.market.sold_tao == pytest.approx(180.0)  # half of it dumped on the market
    host.block += 360
    desk.step(360)  # only 140 left to take
    ex = desk.exploits[eid]
    assert ex.stolen_tao == pytest.approx(500.0)
    assert (ex.stopped_by, ex.stopped_block) == ("exhausted", 720)
    assert not desk.exploit_active(eid)
    assert economy.check_ledger(host.state).ok


def test_a_halt_stops_running_exploits_and_a_halted_chain_is_not_robbed(host: BareHost) -> None:
    desk = ShockDesk(host)
    first = desk.start_exploit(1.0, 10_000.0, 1.0)
    host.state, _ = economy.apply_lever(host.state, HaltChain(duration_blocks=7_200), host.params)
    second = desk.start_exploit(1.0, 10_000.0, 1.0)
    desk.step(360)
    assert desk.exploits[first].stolen_tao == desk.exploits[second].stolen_tao == 0.0
    desk.halt(block=100)
    assert [(ex.stopped_by, ex.stopped_block) for ex in desk.exploits] == [
        ("halt", 100),
        ("halt", 100),
    ]
    assert not desk.exploit_active(first)


def test_a_tao_sale_is_spread_evenly_over_its_window(host: BareHost) -> None:
    desk = ShockDesk(host)
    desk.add_sale(1_000.0, netuid=None, over_days=1.0, seller="team0")
    host.block = BLOCKS_PER_DAY // 2 - 360
    desk.step(360)  # half the window has passed by the end of this step
    assert desk.sales[0].sold_tao == pytest.approx(500.0)
    assert host.market.sold_tao == pytest.approx(500.0)
    host.block = BLOCKS_PER_DAY
    desk.step(360)
    desk.step(360)  # past the end: nothing more to sell
    assert desk.sales[0].sold_tao == pytest.approx(1_000.0)
    assert host.market.sold_tao == pytest.approx(1_000.0)


def test_an_alpha_sale_swaps_against_the_pool_unless_the_chain_is_halted(host: BareHost) -> None:
    desk = ShockDesk(host)
    pool_before = float(host.state.pool_tao[1])
    desk.add_sale(50.0, netuid=1, over_days=0.01, seller="authority")
    halted, _ = economy.apply_lever(host.state, HaltChain(), host.params)
    host.state = halted
    desk.step(360)
    assert desk.sales[0].sold_tao == 0.0
    host.block = 7_200  # the halt has lapsed
    host.state = host.state.replace(block=7_200)
    desk.step(360)
    assert desk.sales[0].sold_tao == pytest.approx(50.0)
    assert float(host.state.pool_tao[1]) < pool_before  # TAO left the pool for the seller
    assert host.market.sold_tao > 0
    assert economy.check_ledger(host.state).ok


def test_a_scam_subnet_loses_its_utility(host: BareHost) -> None:
    desk = ShockDesk(host)
    host.block = 42
    desk.mark_scam(2)
    assert host.owners[2].utility == pytest.approx(3.0 * SCAM_UTILITY_FACTOR)
    assert host.owners[1].utility == 2.0
    assert desk.scam_subnets == {2: 42}
    assert host.events[-1] == {"block": 42, "kind": "scam_subnet", "netuid": 2}
