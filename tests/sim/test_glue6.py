"""Byte-for-byte checks of the per-step glue's fast paths against the formulas they replace:
the cabal ledger (cached masks, stacked masked sums), the market step (one new state), the
recorder's end-of-emission update."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from protocol.units import RAO_PER_TAO
from sim import market
from sim.config import MarketConfig, SimConfig


def _cabal_config(seed: int) -> SimConfig:
    from sim.schema import validate_config

    return validate_config(
        {
            "horizon_days": 1.0,
            "seed": seed,
            "network": {"n_subnets": 3, "n_uids": 24, "n_validators": 6},
            "stakers": {"n_stakers": 6},
            "validators": {
                "mix": {"honest": 0.5, "cabal": 0.5},
                "cabal_miners": 4,
                "cabal_weight_boost": 10.0,
                "cabal_stake_share": 0.7,
            },
        },
        source="test",
    )


@pytest.mark.parametrize("reduced", [1, 5, 7, 8, 9, 16, 24, 63, 64, 65, 130])
@pytest.mark.parametrize("rows", [1, 3, 5, 16])
def test_stacked_masked_row_sums_are_the_sums_one_mask_at_a_time(reduced: int, rows: int) -> None:
    """``np.where(masks[2, k, n], x[k, n], 0).sum(axis=2)`` gives each row's own contiguous
    sum, the bits of ``np.where(mask, x, 0).sum(axis=1)`` per mask (the ledger's sums)."""
    rng = np.random.default_rng(reduced * 100 + rows)
    for _ in range(20):
        x = rng.standard_normal((rows, reduced)) * 10.0 ** rng.integers(-8, 8, (rows, reduced))
        masks = rng.random((2, rows, reduced)) < 0.7
        masks[0] = True
        stacked = np.where(masks, x, 0.0).sum(axis=2)
        for i in range(2):
            one = np.where(masks[i], x, 0.0).sum(axis=1)
            assert stacked[i].tobytes() == one.tobytes()
        assert stacked[0].tobytes() == x.sum(axis=1).tobytes()


def _reference_stake(model, subnets: np.ndarray) -> np.ndarray:
    """The ledger's validator stake as it was computed before the layout cache."""
    st = model.state
    uids = model.validator_uids
    coldkeys = st.uid_coldkey.numpy()[subnets]
    k, n_accounts = coldkeys.shape[0], st.n_accounts
    registered = coldkeys >= 0
    cell = np.arange(k)[:, None] * n_accounts + coldkeys.clip(min=0)
    counts = np.bincount(cell[registered], minlength=k * n_accounts).reshape(k, n_accounts)
    ck = coldkeys[:, uids].clip(min=0)
    per_uid_count = np.maximum(np.take_along_axis(counts, ck, axis=1), 1).astype(np.float64)
    root = np.where(registered[:, uids], st.root_stake.numpy()[ck] / per_uid_count, 0.0)
    hotkey = st.hotkey_alpha.numpy()[np.ix_(subnets, uids)]
    return hotkey + model.params.tao_weight * root


def _divide_where(num: np.ndarray, den: np.ndarray, mask: np.ndarray, fill: float) -> np.ndarray:
    return np.where(mask, num / np.where(mask, den, 1.0), fill)


def _reference_increment(model, subnets: np.ndarray, results, prices) -> np.ndarray:
    """One step's addition to the ledger's ``[3, 2, k]`` totals, with the mask-at-a-time
    formulas the ledger used before."""
    s = subnets
    vuids = model.validator_uids
    is_miner = model.work.miners.is_miner[s]
    cabal_miners = model.work.validators.cabal_miners[s]
    honest = model.validator_strategy[s] == "honest"
    cabal_v = model.validator_strategy[s] == "cabal"
    price = prices[s]
    stake = _reference_stake(model, s)
    weights = model.work.weights[s]
    setting = honest & (weights.sum(axis=2) > 0)
    reference = np.einsum("kv,kvn->kn", np.where(setting, stake, 0.0), weights)
    on_miners = np.where(is_miner, reference, 0.0).sum(axis=1)
    on_cabal = np.where(cabal_miners, reference, 0.0).sum(axis=1)
    fair_miner = _divide_where(on_cabal, on_miners, on_miners > 0, np.nan)
    total_stake = stake.sum(axis=1)
    fair_validator = _divide_where(
        np.where(cabal_v, stake, 0.0).sum(axis=1), total_stake, total_stake > 0, 0.0
    )
    fair = np.array((fair_miner, fair_validator))
    has_reference = np.isfinite(fair[0])
    increment = np.zeros((3, 2, s.size))
    for result in results:
        drain = result.drain
        incentive = drain.incentive.numpy()[s]
        dividends = drain.dividends.numpy()[s][:, vuids]
        tao = np.array((drain.miner_alpha.numpy()[s], drain.validator_alpha.numpy()[s]))
        tao = tao / RAO_PER_TAO * price
        inc_total = np.where(is_miner, incentive, 0.0).sum(axis=1)
        inc_cabal = np.where(cabal_miners, incentive, 0.0).sum(axis=1)
        div_total = dividends.sum(axis=1)
        div_cabal = np.where(cabal_v, dividends, 0.0).sum(axis=1)
        total = np.array((inc_total, div_total))
        paid = total > 0
        paid[0] &= has_reference
        share = _divide_where(np.array((inc_cabal, div_cabal)), total, paid, 0.0)
        pay = np.where(paid, tao, 0.0)
        increment += np.array((pay, share * pay, np.where(paid, fair * tao, 0.0)))
    return increment


@pytest.mark.parametrize("seed", [3, 11])
def test_the_cabal_ledger_books_what_the_mask_at_a_time_formulas_book(seed: int) -> None:
    """Every step's addition to the totals, bit for bit, with a strategy change mid-run (the
    cached masks follow it)."""
    from sim import engine
    from sim.model import GovSimModel

    model = GovSimModel(_cabal_config(seed))
    try:
        ledger = model.recorder.cabal
        assert ledger is not None
        add = ledger.add
        booked: list[int] = []

        def checked_add(results, prices=None) -> None:
            read = model.alpha_prices() if prices is None else prices
            expected = ledger._totals + _reference_increment(model, ledger.subnets, results, read)
            add(results, prices)
            assert ledger._totals.tobytes() == expected.tobytes(), len(booked)
            booked.append(len(results))

        ledger.add = checked_add
        while not model.finished:
            if len(booked) == 6:
                # an honest slot of a cabal subnet turns inactive: the masks must follow
                strategy = model.validator_strategy
                s = int(ledger.subnets[0])
                strategy[s, int(np.flatnonzero(strategy[s] == "honest")[0])] = "inactive"
            model.step()
        assert len(booked) > 6 and sum(booked) > 6
    finally:
        engine.release(model)


def _reference_market_step(state, cfg, *, dt_days, net_tao_sold, shock):
    """``market_step`` as two ``dataclasses.replace`` (the state, then its price)."""
    news = (
        state.news
        + cfg.drift_per_year * dt_days / 365.0
        + (cfg.daily_volatility * np.sqrt(dt_days) * shock if cfg.news_enabled else 0.0)
    )
    premium_decay = market._decay(cfg.premium_half_life_days, dt_days)
    flow_usd = net_tao_sold * state.price_usd
    accumulator = (
        state.flow_accumulator_usd * market._decay(cfg.impact_decay_half_life_days, dt_days)
        + flow_usd
    )
    level = market.sqrt_impact(accumulator, cfg)
    previous_level = state.impact_transient / max(1.0 - cfg.permanent_impact_fraction, 1e-12)
    impact_permanent = state.impact_permanent
    increase = level - previous_level
    if increase * flow_usd > 0.0:
        impact_permanent += cfg.permanent_impact_fraction * increase
    new = replace(
        state,
        news=news,
        premium_transient=state.premium_transient * premium_decay,
        flow_accumulator_usd=accumulator,
        impact_transient=(1.0 - cfg.permanent_impact_fraction) * level,
        impact_permanent=impact_permanent,
        security_transient=state.security_transient * premium_decay,
    )
    return replace(new, price_usd=market._price(new, cfg))


def test_market_step_is_the_two_replaces_it_stands_for() -> None:
    cfg = MarketConfig()
    rng = np.random.default_rng(7)
    state = market.security_jump(
        market.premium_jump(market.initial_market(cfg), 0.3, cfg), 20_000.0, cfg
    )
    for _ in range(300):
        kwargs = {
            "dt_days": float(rng.choice([0.05, 1.0, 0.3])),
            "net_tao_sold": float(rng.standard_normal() * 10.0 ** rng.integers(0, 5)),
            "shock": float(rng.standard_normal()),
        }
        new = market.market_step(state, cfg, **kwargs)
        assert new == _reference_market_step(state, cfg, **kwargs)
        assert (
            np.float64(new.price_usd).tobytes()
            == np.float64(_reference_market_step(state, cfg, **kwargs).price_usd).tobytes()
        )
        state = new


def test_end_of_emission_when_every_subnet_emits_is_all_nan() -> None:
    """The recorder's shortcut when every subnet emits gives the general update's bits."""
    before = np.array([np.nan, 3.5, np.nan, 1.0])
    emitting = np.ones(4, dtype=bool)
    general = np.where(np.isnan(before) & (emitting == 0), 2.0, before)
    general = np.where(emitting, np.nan, general)
    assert np.full(emitting.shape, np.nan).tobytes() == general.tobytes()


def test_limit_trade_list_keeps_what_limit_trades_keeps() -> None:
    """The desk's list version of ``limit_trades``: the same trades kept, bit for bit, also
    with ties, signed zeros and NaN."""
    from sim.desks.staking import _limit_trade_list, limit_trades

    rng = np.random.default_rng(5)
    for trial in range(3000):
        n = int(rng.integers(1, 20))
        delta = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 3)
        if trial % 3 == 0:  # ties and signed zeros
            delta = rng.choice([-2.0, -1.0, -0.0, 0.0, 1.0, 2.0], n)
        if trial % 50 == 0:
            delta[rng.integers(n)] = np.nan
        urgent = rng.random(n) < 0.2
        k = int(rng.integers(0, 6))
        min_trade = float(rng.choice([0.0, 0.1, 1.0]))
        expected = limit_trades(delta, urgent, k, min_trade)
        got = np.array(_limit_trade_list(delta.tolist(), urgent.tolist(), k, min_trade))
        assert got.tobytes() == expected.tobytes(), (delta, urgent, k, min_trade)


@pytest.mark.parametrize("reversion", [0.0, 0.05, 1.0])
def test_evolve_log_skill_draws_and_steps_as_before(reversion: float) -> None:
    """The cached step coefficients give the same new log-skill (and the same draws)."""
    from sim.agents.miners import evolve_log_skill

    log_skill = np.random.default_rng(1).standard_normal((4, 9))
    mean_log = np.full((4, 9), 0.3)
    for dt in (0.05, 0.05, 1.0):
        if reversion > 0:
            decay = np.exp(-reversion * dt)
            sd = 0.02 * np.sqrt((1 - decay**2) / (2 * reversion))
        else:
            decay, sd = 1.0, 0.02 * np.sqrt(dt)
        noise = np.random.default_rng(9).standard_normal(log_skill.shape)
        expected = mean_log + (log_skill - mean_log) * decay + sd * noise
        got = evolve_log_skill(
            log_skill,
            mean_log,
            dt_days=dt,
            volatility_per_day=0.02,
            reversion_per_day=reversion,
            rng=np.random.default_rng(9),
        )
        assert got.tobytes() == expected.tobytes()
