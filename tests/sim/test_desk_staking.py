"""The staking desk: flags, beliefs, TAO sales, stakers' exits and owners' decisions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from protocol import economy
from protocol.economy.state import MARKET_ACCOUNT
from protocol.levers import SetEmissionEnabled, SetHyperparameter
from protocol.units import RAO_PER_TAO
from sim import chain, engine
from sim.api import load_config
from sim.desks.governance import ProposalMeta
from sim.desks.staking import limit_trades
from sim.model import GovSimModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY: dict[str, Any] = {
    "horizon_days": 2,
    "network": {"n_subnets": 3, "n_uids": 8, "n_validators": 2},
    "stakers": {"n_stakers": 4},
}


def _model(**sections: Any) -> GovSimModel:
    return GovSimModel(load_config({**TINY, **sections}))


@pytest.fixture()
def model() -> Iterator[GovSimModel]:
    m = _model()
    yield m
    engine.release(m)


def _meta(lever: Any, *, reversal: bool = False) -> ProposalMeta:
    targets = (lever.netuid,) if getattr(lever, "netuid", None) is not None else ()
    return ProposalMeta(0, lever, "self_interested", False, 0, reversal=reversal, targets=targets)


def test_limit_trades_keeps_the_largest_and_every_urgent_sale() -> None:
    delta = np.array([5.0, -4.0, 3.0, -0.5, 0.05])
    urgent = np.array([False, False, False, True, False])
    assert limit_trades(delta, urgent, 2, 0.1).tolist() == [5.0, -4.0, 0.0, -0.5, 0.0]
    assert limit_trades(delta, urgent, 5, 0.1).tolist() == [5.0, -4.0, 3.0, -0.5, 0.0]


def test_flags_pending_moves_against_emission_and_subnets_already_off(model: GovSimModel) -> None:
    desk = model.staking
    pending = [
        _meta(SetEmissionEnabled(netuid=0)),
        _meta(SetEmissionEnabled(netuid=1, enabled=True), reversal=True),  # an undo: no threat
        _meta(SetHyperparameter("kappa", 0.5, netuid=1)),  # not aimed at emission
    ]
    desk.update_flags(pending)
    assert desk.flagged.tolist() == [True, False, False]
    model.state, _ = economy.apply_lever(model.state, SetEmissionEnabled(netuid=2), model.params)
    desk.update_flags([])
    assert desk.flagged.tolist() == [False, False, True]


def test_an_intervention_raises_beliefs_and_tells_the_targeted_owners(model: GovSimModel) -> None:
    desk = model.staking
    cfg = model.config.stakers
    before = [s.belief for s in model.stakers]
    desk.observe_intervention(0.0, (1,))  # nothing alarming happened
    assert [s.belief for s in model.stakers] == before
    assert not desk.targeted_since_owner_acted.any()
    desk.observe_intervention(0.4, (1, 7))  # subnet 7 does not exist
    rise = cfg.belief_learning_rate * 0.4 / cfg.severity_reference
    assert [s.belief for s in model.stakers] == pytest.approx([b + rise for b in before])
    assert desk.targeted_since_owner_acted.tolist() == [False, True, False]
    desk.decay_beliefs(1e6)
    assert [s.belief for s in model.stakers] == pytest.approx(
        [cfg.belief_prior_per_year] * len(before)
    )


def test_sold_tao_leaves_for_the_market_and_counts_as_cash_out(model: GovSimModel) -> None:
    account = int(model.staker_accounts[0])
    held = float(model.state.balances[account])
    market_before = float(model.state.balances[MARKET_ACCOUNT])
    model.staking.sell_tao(account, 10 * RAO_PER_TAO)
    assert float(model.state.balances[account]) == pytest.approx(held - 10 * RAO_PER_TAO)
    assert float(model.state.balances[MARKET_ACCOUNT]) == pytest.approx(
        market_before + 10 * RAO_PER_TAO
    )
    assert model.market.sold_tao == pytest.approx(10.0)
    assert model.recorder.cash_out_usd[account] == pytest.approx(10.0 * model.market.price_usd)
    model.staking.sell_tao(account, 10 * held)  # never more than it holds
    assert float(model.state.balances[account]) == 0.0
    assert economy.check_ledger(model.state).ok


def test_stakers_leave_a_flagged_subnet_at_once(model: GovSimModel) -> None:
    accounts = model.staker_accounts
    held = chain.account_alpha(model.state)[accounts, 0]
    assert (held > 0).all()
    model.staking.update_flags([_meta(SetEmissionEnabled(netuid=0))])
    S = model.config.network.n_subnets
    for staker in model.stakers[1:]:
        staker.next_action_day = 0.0  # due today; the first one is not
    model.stakers[0].next_action_day = 0.5
    model.staking.stakers_act(np.zeros(S), np.ones(S))
    left = chain.account_alpha(model.state)[accounts, 0]
    assert left[0] == held[0]
    assert (left[1:] < 1e-6 * held[1:]).all(), (held, left)
    cadence = model.config.stakers.cadence_days
    assert [s.next_action_day for s in model.stakers] == [0.5] + [cadence] * (len(accounts) - 1)
    assert economy.check_ledger(model.state).ok


def test_a_targeted_high_value_owner_exits_and_sells_its_treasury() -> None:
    model = _model(
        owners={"mix": {"high_value": 1.0}, "exit_treasury_tao": 1_000.0, "exit_sell_days": 2.0}
    )
    try:
        model.staking.observe_intervention(0.3, (1,))
        model.staking.owners_act()
        exits = [e for e in model.event_log if e["kind"] == "owner_exit"]
        assert [e["netuid"] for e in exits] == [1]
        assert model.owners[1].exited and not model.owners[0].exited
        [sale] = model.shocks.sales
        assert (sale.amount_tao, sale.netuid, sale.seller) == (1_000.0, None, "team1")
        assert not model.staking.targeted_since_owner_acted.any()  # told once
    finally:
        engine.release(model)


def test_an_extractive_owner_dumps_what_it_unstakes() -> None:
    model = _model(owners={"mix": {"extractive": 1.0}})
    try:
        account = int(model.state.owner_account[0])
        before = model.recorder.cash_out_usd[account]
        model.staking.owners_act()
        assert model.recorder.cash_out_usd[account] > before
        assert model.market.sold_tao > 0
        assert economy.check_ledger(model.state).ok
    finally:
        engine.release(model)
