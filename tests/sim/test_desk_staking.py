"""The staking desk: flags, beliefs, TAO sales, stakers' exits and owners' decisions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import numpy as np
import pytest
import torch

from protocol import economy
from protocol.economy import NetworkState, TradeBook
from protocol.economy.state import MARKET_ACCOUNT
from protocol.levers import SetEmissionEnabled, SetHyperparameter
from protocol.units import RAO_PER_TAO
from sim import chain, engine
from sim.agents.stakers import (
    StakerObservation,
    YieldRiskStaker,
    softmax,
    staked_fraction_target,
)
from sim.api import load_config
from sim.desks.governance import ProposalMeta
from sim.desks.staking import limit_trades
from sim.model import GovSimModel
from tests.protocol.test_economy_scalar_paths import _reference_stake, _reference_unstake

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


def _record_trades(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple]]:
    """Log every trade a book makes (and still make it)."""
    log: list[tuple[str, tuple]] = []
    for name in ("stake", "unstake", "transfer"):
        original = getattr(TradeBook, name)

        def logged(
            book: TradeBook, *args: Any, _name: str = name, _original: Any = original
        ) -> Any:
            log.append((_name, args))
            return _original(book, *args)

        monkeypatch.setattr(TradeBook, name, logged)
    return log


def _replay(state: NetworkState, log: list[tuple[str, tuple]], params: Any) -> NetworkState:
    """The logged trades one state at a time, in their tensor formulation (no book)."""
    for name, args in log:
        if name == "transfer":
            source, target, amount = args
            balances = state.balances.clone()
            balances.numpy()[source] -= float(amount)
            balances.numpy()[target] += float(amount)
            state = state.replace(balances=balances)
        else:
            trade = _reference_stake if name == "stake" else _reference_unstake
            state = trade(state, *args[:3], float(args[3]), params.fee_rate)
    return state


def _same_state(a: NetworkState, b: NetworkState) -> bool:
    return all(
        getattr(a, f.name).numpy().tobytes() == getattr(b, f.name).numpy().tobytes()
        if isinstance(getattr(a, f.name), torch.Tensor)
        else getattr(a, f.name) == getattr(b, f.name)
        for f in fields(NetworkState)
    )


def test_a_round_trades_on_one_book_as_its_trades_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _model(owners={"mix": {"extractive": 1.0}}, stakers={"n_stakers": 6})
    try:
        log = _record_trades(monkeypatch)
        S = model.config.network.n_subnets
        seen: list[bool] = []
        start = model.state
        original_act = type(model.stakers[0]).act

        def act(staker: Any, obs: Any) -> Any:
            seen.append(model.state is start)  # the round's trades wait in its book
            return original_act(staker, obs)

        monkeypatch.setattr(type(model.stakers[0]), "act", act)
        model.staking.owners_act()
        assert model.staking._book is None
        after_owners = model.state
        assert _same_state(after_owners, _replay(start, log, model.params))
        owner_trades = len(log)
        assert owner_trades > 0
        start = model.state
        model.staking.update_flags([_meta(SetEmissionEnabled(netuid=0))])
        for i, staker in enumerate(model.stakers):
            staker.next_action_day = 0.0
            if i % 2:
                staker.belief *= 3.0  # worried: sells TAO too
        yields = np.linspace(0.1, 2.0, S)
        model.staking.stakers_act(yields, np.ones(S))
        kinds = {name for name, _ in log[owner_trades:]}
        assert kinds == {"stake", "unstake", "transfer"}, kinds
        assert seen and all(seen)
        assert _same_state(model.state, _replay(start, log[owner_trades:], model.params))
        assert economy.check_ledger(model.state).ok
    finally:
        engine.release(model)


def test_a_failing_staker_leaves_the_trades_before_it_in_the_state(
    monkeypatch: pytest.MonkeyPatch, model: GovSimModel
) -> None:
    log = _record_trades(monkeypatch)
    start = model.state
    model.staking.update_flags([_meta(SetEmissionEnabled(netuid=0))])
    for staker in model.stakers:
        staker.next_action_day = 0.0
    original_act = type(model.stakers[0]).act
    calls = []

    def act(staker: Any, obs: Any) -> Any:
        calls.append(staker)
        if len(calls) == 3:
            raise RuntimeError("a broken strategy")
        return original_act(staker, obs)

    monkeypatch.setattr(type(model.stakers[0]), "act", act)
    S = model.config.network.n_subnets
    with pytest.raises(RuntimeError, match="a broken strategy"):
        model.staking.stakers_act(np.zeros(S), np.ones(S))
    assert log and model.staking._book is None
    assert _same_state(model.state, _replay(start, log, model.params))


def _act_as_written(staker: YieldRiskStaker, obs: StakerObservation) -> tuple[np.ndarray, float]:
    """``YieldRiskStaker.act`` as it was written: the softmax over all scores."""
    cfg = staker.model.config.stakers
    base = cfg.yield_sensitivity * obs.yields + np.log(np.maximum(obs.utility, 1e-9))
    flag_hazard = cfg.target_subnet_hazard_per_year * obs.flagged
    open_to_buy = obs.tradable & ~obs.flagged
    speed = np.where(obs.flagged, 1.0, cfg.rebalance_fraction)
    total_before = float(obs.holdings_tao.sum())
    wealth = obs.liquid_tao + total_before
    scores = base - staker.risk_aversion * (staker.belief + flag_hazard)
    weights = softmax(scores, open_to_buy)
    staked_target = wealth * staked_fraction_target(staker.belief, staker.risk_aversion, cfg)
    delta = np.where(obs.tradable, speed * (staked_target * weights - obs.holdings_tao), 0.0)
    freed = -delta[delta < 0].sum()
    buys = delta[delta > 0].sum()
    budget = obs.liquid_tao + freed
    if buys > budget > 0:
        delta = np.where(delta > 0, delta * budget / buys, delta)
    elif buys > 0 and budget <= 0:
        delta = np.minimum(delta, 0.0)
    shrink = max(total_before - staked_target, 0.0)
    worried = staker.belief > cfg.belief_prior_per_year
    return delta, cfg.sell_fraction * min(shrink, freed) if worried else 0.0


@pytest.mark.parametrize("seed", range(4))
def test_a_yield_risk_staker_decides_as_the_softmax_over_all_scores(
    model: GovSimModel, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    S = model.config.network.n_subnets
    stakers = [s for s in model.stakers if isinstance(s, YieldRiskStaker)]
    assert stakers
    for _ in range(30):
        # one round: the common arrays, and the terms the stakers share
        common = {
            "yields": rng.random(S),
            "utility": rng.random(S) * 2.0,
            "flagged": rng.random(S) < 0.3,
            "tradable": rng.random(S) < (0.6 if seed == 3 else 0.9),
        }
        shared: dict[str, Any] = {}
        for staker in stakers:
            staker.belief = float(rng.uniform(0.0, 5.0))
            obs = StakerObservation(
                **common,
                holdings_tao=rng.random(S) * 100.0 * (rng.random(S) < 0.7),
                liquid_tao=float(rng.uniform(0.0, 50.0)),
                shared=shared,
            )
            delta, sell = staker.act(obs)
            want_delta, want_sell = _act_as_written(staker, obs)
            assert delta.tobytes() == want_delta.tobytes()
            assert np.float64(sell).tobytes() == np.float64(want_sell).tobytes()


def _limit_trades_sorting_all(
    delta: np.ndarray, urgent: np.ndarray, k: int, min_trade: float
) -> np.ndarray:
    """``limit_trades`` as it was written: the k largest by a full sort, then the size test."""
    size = np.abs(delta)
    keep = np.zeros(delta.shape, dtype=bool)
    keep[np.argsort(-size, kind="stable")[:k]] = True
    keep &= size > min_trade
    keep |= urgent & (delta < 0)
    return np.where(keep, delta, 0.0)


def test_limit_trades_equals_the_full_sort() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5_000):
        n = int(rng.integers(1, 20))
        delta = rng.normal(size=n) * rng.choice([0.1, 1.0, 10.0])
        if rng.random() < 0.3:
            delta = np.round(delta)  # ties, and trades of exactly the threshold
        if rng.random() < 0.05:
            delta[rng.integers(n)] = np.nan
        urgent = rng.random(n) < rng.choice([0.0, 0.2])
        k, min_trade = int(rng.integers(1, 6)), float(rng.choice([0.0, 0.5, 1.0]))
        want = _limit_trades_sorting_all(delta, urgent, k, min_trade)
        assert limit_trades(delta, urgent, k, min_trade).tobytes() == want.tobytes()
