"""Behaviour tests that would catch a broken model.

Each compares two runs with the same seed that differ in one thing, so the exogenous noise is
identical and the difference is the effect under test. Configurations are small (a few subnets,
a few days) to keep the whole file within seconds.
"""

from __future__ import annotations

from typing import Any

from sim import engine
from sim.api import RunResult, run


def small(**sections: Any) -> dict[str, Any]:
    """A small scenario (4 subnets x 24 uids, 6 days) with section overrides merged in."""
    base: dict[str, Any] = {
        "horizon_days": 6,
        "network": {"n_subnets": 4, "n_uids": 24, "n_validators": 4},
        "stakers": {"n_stakers": 8},
        "miners": {"mix": {"honest": 1.0}},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def _subnet_income_per_day(ts, netuid: int, lo: float, hi: float) -> float:
    rows = ts[(ts.netuid == netuid) & (ts.day > lo) & (ts.day <= hi)]
    income = rows.income_miners_tao + rows.income_validators_tao + rows.income_owner_tao
    return float(income.sum()) / (hi - lo)


SUSPEND_DAY = 2.0
SUSPEND = {
    "kind": "intervention",
    "day": SUSPEND_DAY,
    "lever": {"kind": "set_registration_allowed", "netuid": 0},
    "intent": "self_interested",
}


def test_sudo_self_interested_authority_collapses_target_income_and_tao() -> None:
    scenario = small(
        horizon_days=5,
        owners={"assign": {0: "high_value"}},
        governance={"policy": "sudo", "actors": [{"count": 1, "intent": "self_interested"}]},
    )
    hit = run({**scenario, "shocks": [SUSPEND]}, seed=4)
    calm = run(scenario, seed=4)
    executed = [e for e in hit.events if e["kind"] == "executed"]
    assert len(executed) == 1 and executed[0]["targets"] == [0]
    # Executed the next block: sudo has no delay.
    assert executed[0]["executed_block"] - executed[0]["proposed_block"] <= 1
    before = _subnet_income_per_day(hit.timeseries, 0, 0.5, SUSPEND_DAY)
    after = _subnet_income_per_day(hit.timeseries, 0, SUSPEND_DAY + 1, 5)
    assert after < 0.4 * before, (before, after)
    # TAO falls relative to the same world without the intervention.
    assert hit.kpis["tao.price_end_usd"] < 0.9 * calm.kpis["tao.price_end_usd"]
    assert hit.kpis["fp.count"] == 1 and calm.kpis["fp.count"] == 0


def test_timelock_delays_the_same_intent_and_stakers_exit_first() -> None:
    delay = 14_400  # the timelock's 2-day minimum
    scenario = small(
        horizon_days=6,
        governance={
            "policy": "timelock",
            "policy_config": {"delay_blocks": delay},
            # every signer is a rival of subnet 0: they all want it hit
            "actors": [{"count": 3, "intent": "self_interested", "exposure": {0: -1.0}}],
        },
        shocks=[SUSPEND],
    )
    result = run(scenario, seed=4)
    executed = [e for e in result.events if e["kind"] == "executed"]
    assert len(executed) == 1
    assert executed[0]["executed_block"] - executed[0]["proposed_block"] >= delay
    exec_day = executed[0]["executed_block"] / 7_200
    ts = result.timeseries
    sub = ts[ts.netuid == 0].set_index("day")
    stake_before = sub.loc[sub.index <= SUSPEND_DAY, "stake_tao"].iloc[-1]
    stake_at_exec = sub.loc[sub.index < exec_day, "stake_tao"].iloc[-1]
    # Most stake left the target subnet while the action waited in the timelock.
    assert stake_at_exec < 0.5 * stake_before, (stake_before, stake_at_exec)


def _validator_income_share(result: RunResult, strategy: str) -> float:
    model = result.model
    assert model is not None
    try:
        income = model.work.uid_income_tao[:, 1 : 1 + len(model.validator_uids)]
        mask = model.work.validators.strategy == strategy
        subnets = mask.any(axis=1)
        return float(income[mask].sum() / income[subnets].sum())
    finally:
        engine.release(model)


def test_weight_copier_earns_less_with_commit_reveal() -> None:
    def scenario(commit_reveal: bool) -> dict[str, Any]:
        return small(
            horizon_days=4,
            network={"commit_reveal": commit_reveal, "reveal_tempos": 3, "tao_weight": 0.0},
            miners={"mix": {"honest": 1.0}, "skill_volatility_per_day": 0.8},
            validators={"mix": {"honest": 0.75, "weight_copier": 0.25}},
        )

    open_share = _validator_income_share(
        run(scenario(False), seed=2, keep_model=True), "weight_copier"
    )
    hidden_share = _validator_income_share(
        run(scenario(True), seed=2, keep_model=True), "weight_copier"
    )
    assert hidden_share < 0.97 * open_share, (open_share, hidden_share)


def _cabal_incomes(result: RunResult) -> tuple[float, float]:
    """(cabal validators' income, the coalition's share of its subnets' income)."""
    model = result.model
    assert model is not None
    try:
        income = model.work.uid_income_tao
        validators = model.work.validators
        V = len(validators.uids)
        cabal_validators = income[:, 1 : 1 + V][validators.strategy == "cabal"].sum()
        cabal_miners = income[validators.cabal_miners].sum()
        subnets = validators.cabal_miners.any(axis=1)
        coalition = (cabal_validators + cabal_miners) / income[subnets].sum()
        return float(cabal_validators), float(coalition)
    finally:
        engine.release(model)


def test_cabal_below_kappa_gains_nothing_that_a_majority_cabal_would() -> None:
    """Yuma clips a minority's weights to consensus, so boosting its own miners buys nothing.

    Renormalised weight rows mean a boost also *withdraws* weight from other miners, which
    shifts relative incentive by up to the cabal's stake share, and the cabal pays for it in
    dividends (lower vtrust). So below kappa the coalition's gain is small and its validators
    lose; above kappa the cabal sets the consensus and its gain is several times larger.
    """

    def gain(share: float) -> tuple[float, float]:
        def scenario(boost: float) -> dict[str, Any]:
            return small(
                horizon_days=4,
                network={"tao_weight": 0.0},
                validators={
                    "mix": {"honest": 0.75, "cabal": 0.25},
                    "cabal_weight_boost": boost,
                    "cabal_stake_share": share,
                },
            )

        honest_v, honest_share = _cabal_incomes(run(scenario(1.0), seed=2, keep_model=True))
        cabal_v, cabal_share = _cabal_incomes(run(scenario(10.0), seed=2, keep_model=True))
        return cabal_share / honest_share - 1.0, cabal_v / honest_v - 1.0

    minority_gain, minority_dividends = gain(0.3)
    majority_gain, _ = gain(0.7)
    assert minority_dividends < 0.0  # the minority cabal's validators earn less
    assert minority_gain < 0.25, minority_gain
    assert majority_gain > 0.5, majority_gain
    assert minority_gain < 0.3 * majority_gain, (minority_gain, majority_gain)


def test_exploit_is_stopped_faster_under_sudo_than_opengov() -> None:
    scenario = small(
        horizon_days=3,
        shocks=[{"kind": "exploit", "day": 1.0, "damage_tao_per_block": 5.0}],
    )
    sudo = run(scenario, policy="sudo", seed=1)
    opengov = run(scenario, policy="opengov", seed=1)
    assert sudo.kpis["exploits.mean_days_to_stop"] < 0.1  # detection (300 blocks) + next block
    assert opengov.kpis["exploits.mean_days_to_stop"] > 5 * sudo.kpis["exploits.mean_days_to_stop"]
    assert sudo.kpis["exploits.stolen_tao"] < opengov.kpis["exploits.stolen_tao"]
    assert sudo.kpis["fn.exploits_unstopped"] == 0
    # OpenGov acts too (its whitelisted track), just later: measured from detection
    assert sudo.kpis["reaction.censored"] == 0
    assert opengov.kpis["reaction.days_to_act_mean"] > 5 * sudo.kpis["reaction.days_to_act_mean"]
