"""The harm vector: each part from hand-made records, the aggregation worked by hand, the
``[verdict]`` table, and the exploit ranking on a small run (sudo halts, market_only cannot)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from protocol.units import BLOCKS_PER_DAY
from sim.config import DEFAULT_HARM_WEIGHTS, HARM_COMPONENTS, SimConfig
from sim.harm import (
    HarmPrices,
    HarmVector,
    Hit,
    TargetedLoss,
    aggregate,
    emission_removed_tao,
    halted_days,
    harm_vector,
    intervention_hits,
    reaggregate,
    resolve_weights,
    reversal_weights,
    targeted_loss,
)
from sim.schema import ScenarioError, load_scenario, validate_config
from tests.scenarios.tiny import REPO, TINY_NETWORK


def _series() -> pd.DataFrame:
    """Subnet 0 earns 10/5/2 TAO a day (miners/validators/owner) until day 3, then 2/1/0;
    its alpha halves and its share drops to 0. Subnet 1 is untouched."""
    rows = []
    for day in range(6):
        after = day >= 4
        rows.append(
            {
                "netuid": 0,
                "day": float(day),
                "income_miners_tao": 0.0 if day == 0 else (2.0 if after else 10.0),
                "income_validators_tao": 0.0 if day == 0 else (1.0 if after else 5.0),
                "income_owner_tao": 0.0 if day == 0 else (0.0 if after else 2.0),
                "alpha_price_tao": 0.5 if after else 1.0,
                "stake_alpha": 100.0,
                "emission_share": 0.0 if after else 0.1,
            }
        )
        rows.append(
            {
                "netuid": 1,
                "day": float(day),
                "income_miners_tao": 1.0,
                "income_validators_tao": 1.0,
                "income_owner_tao": 1.0,
                "alpha_price_tao": 1.0,
                "stake_alpha": 50.0,
                "emission_share": 0.9,
            }
        )
    return pd.DataFrame(rows)


def test_targeted_loss_against_the_pre_hit_income_rate() -> None:
    hits = [Hit(0, 3.0, justified=False)]
    loss = targeted_loss(_series(), hits)
    # Rates over days (0, 3]: 10, 5, 2 a day; 2 days after record 3: 20 - 4, 10 - 2, 4 - 0.
    assert loss.miners == pytest.approx(16.0)
    assert loss.validators == pytest.approx(8.0)
    assert loss.owner == pytest.approx(4.0)
    assert loss.stake == pytest.approx(100.0 * (1.0 - 0.5))
    assert loss.total == pytest.approx(78.0)
    assert loss.subnets == (0,)
    # A shorter window reads the same rate here; a hit on a scam subnet is not counted.
    assert targeted_loss(_series(), hits, window_days=1.0).total == pytest.approx(78.0)
    assert targeted_loss(_series(), hits, scams=[0]).total == 0.0
    # A hit with no per-subnet rows cannot be measured: NaN, never 0.
    assert math.isnan(targeted_loss(pd.DataFrame({"netuid": [-1], "day": [0.0]}), hits).total)
    assert targeted_loss(_series(), []).total == 0.0


def test_emission_removed_only_for_unwarranted_hits_on_healthy_subnets() -> None:
    series = _series()
    per_day = 3600.0
    # Share 0.1 lost over records 4 and 5 (one day each): 0.2 days of the network's emission.
    assert emission_removed_tao(
        series, [Hit(0, 3.0, False)], emission_tao_per_day=per_day
    ) == pytest.approx(0.2 * per_day)
    assert emission_removed_tao(series, [Hit(0, 3.0, True)], emission_tao_per_day=per_day) == 0
    assert (
        emission_removed_tao(series, [Hit(0, 3.0, False)], emission_tao_per_day=per_day, scams=[0])
        == 0
    )


def test_halted_days_union_of_halts_cut_by_resume() -> None:
    day = BLOCKS_PER_DAY

    def halt(block: int, blocks: int) -> dict:
        return {
            "kind": "executed",
            "block": block,
            "lever": "halt_chain",
            "lever_detail": {"kind": "halt_chain", "duration_blocks": blocks},
        }

    assert halted_days([halt(day, day)], 30 * day) == 1.0
    # Overlapping halts: [1, 2) and [1.5, 3) days -> 2 days.
    assert halted_days([halt(day, day), halt(day * 3 // 2, day * 3 // 2)], 30 * day) == 2.0
    # Resumed after half a day; clipped at the end of the run; a halt inside an upgrade.
    resume = {
        "kind": "executed",
        "block": day * 3 // 2,
        "lever": "resume_chain",
        "lever_detail": {"kind": "resume_chain"},
    }
    assert halted_days([halt(day, day), resume], 30 * day) == 0.5
    assert halted_days([halt(day, 10 * day)], 2 * day) == 1.0
    upgrade = {
        "kind": "executed",
        "block": 0,
        "lever": "any_change",
        "lever_detail": {
            "kind": "any_change",
            "effects": [{"kind": "halt_chain", "duration_blocks": day}],
        },
    }
    assert halted_days([upgrade], 30 * day) == 1.0
    assert halted_days([], 30 * day) == 0.0


def test_aggregation_worked_by_hand() -> None:
    vector = HarmVector(
        holders_return=0.05,
        holders_usd=1000.0,
        lost_exploit_tao=8.0,
        lost_scam_tao=2.0,
        targeted=TargetedLoss(16.0, 8.0, 4.0, 50.0, (0,)),
        emission_removed_tao=720.0,
        halted_days=1.0,
        prices=HarmPrices(tao_usd=2.0, halt_day_usd=500.0),
    )
    assert vector.usd() == {
        "holders": 1000.0,
        "lost": 20.0,
        "targeted": 156.0,
        "emission_removed": 1440.0,
        "halted": 500.0,
    }
    # Defaults: 1 each, emission removed 0 (the targeted income already holds it).
    assert vector.total == 1000.0 + 20.0 + 156.0 + 500.0
    other = HarmVector(
        **{**vector.__dict__, "weights": resolve_weights({"emission_removed": 1.0, "halted": 0.0})}
    )
    assert other.total == 1000.0 + 20.0 + 156.0 + 1440.0
    kpis = vector.kpis()
    assert kpis["harm.total"] == 1676.0
    assert kpis["harm.lost_tao"] == 10.0 and kpis["harm.targeted_tao"] == 78.0
    # Re-weighting the stored columns gives the same totals.
    frame = pd.DataFrame([kpis])
    assert reaggregate(frame).iloc[0] == 1676.0
    assert reaggregate(frame, {"emission_removed": 1.0, "halted": 0.0}).iloc[0] == 2616.0
    # A weighted NaN part makes the total NaN; an unweighted one is left out.
    assert math.isnan(aggregate({**vector.usd(), "targeted": math.nan}))
    assert aggregate({**vector.usd(), "emission_removed": math.nan}) == 1676.0


def test_harm_vector_from_records() -> None:
    events = [
        {
            "kind": "executed",
            "block": 3 * BLOCKS_PER_DAY,
            "day": 3.0,
            "lever": "x",
            "targets": [0],
            "justified": False,
            "reversal": False,
            "lever_detail": {"kind": "x"},
        },
        {
            "kind": "executed",
            "block": 4 * BLOCKS_PER_DAY,
            "day": 4.0,
            "lever": "x",
            "targets": [0],
            "justified": True,
            "reversal": True,
            "lever_detail": {"kind": "x"},
        },
        {
            "kind": "executed",
            "block": BLOCKS_PER_DAY,
            "day": 1.0,
            "lever": "halt_chain",
            "targets": [],
            "justified": True,
            "reversal": False,
            "lever_detail": {"kind": "halt_chain", "duration_blocks": BLOCKS_PER_DAY // 2},
        },
    ]
    assert intervention_hits(events) == [Hit(0, 3.0, False)]
    vector = harm_vector(
        price_start_usd=2.0,
        price_end_usd=1.9,
        circulating_tao=10_000.0,
        stolen_tao=8.0,
        scam_tao=2.0,
        events=events,
        timeseries=_series(),
        end_block=5 * BLOCKS_PER_DAY,
        emission_tao_per_day=3600.0,
    )
    assert vector.holders_return == pytest.approx(0.05)
    assert vector.holders_usd == pytest.approx(1000.0)
    assert vector.targeted.total == pytest.approx(78.0)
    assert vector.emission_removed_tao == pytest.approx(720.0)
    assert vector.halted_days == 0.5
    # A halt day is priced at the day's emission at the starting price by default.
    assert vector.prices == HarmPrices(2.0, 7200.0)
    assert vector.total == pytest.approx(1000.0 + 20.0 + 156.0 + 0.5 * 7200.0)


def test_reversal_weights_tie_the_totals() -> None:
    a = {"holders": 10.0, "lost": 60.0, "targeted": 0.0, "emission_removed": 0.0, "halted": 0.0}
    b = {"holders": 12.0, "lost": 10.0, "targeted": 0.0, "emission_removed": 0.0, "halted": 1.0}
    tie = reversal_weights(a, b)
    assert tie["halted"] == 48.0
    assert aggregate(a) == pytest.approx(aggregate(b, {"halted": tie["halted"]}))
    assert tie["lost"] == pytest.approx(1.0 - 47.0 / 50.0)
    assert tie["targeted"] is None and tie["emission_removed"] is None
    # b has the larger holders' loss: weighing it 24.5 times closes the gap of 47.
    assert tie["holders"] == pytest.approx(24.5)
    assert reversal_weights(b, a)["lost"] == tie["lost"]


def test_verdict_table_in_the_scenario() -> None:
    config = validate_config({"verdict": {"weights": {"halted": 3.0}, "halt_day_usd": 1e6}})
    assert config.verdict.resolved_weights() == {**DEFAULT_HARM_WEIGHTS, "halted": 3.0}
    assert config.verdict.halt_day_usd == 1e6
    assert SimConfig().verdict.resolved_weights() == DEFAULT_HARM_WEIGHTS
    assert set(DEFAULT_HARM_WEIGHTS) == set(HARM_COMPONENTS)
    with pytest.raises(ScenarioError, match=r"verdict\.weights\.speed.*harm component"):
        validate_config({"verdict": {"weights": {"speed": 1.0}}}, source="f.toml")
    with pytest.raises(ScenarioError, match=r"verdict\.weights\.halted"):
        validate_config({"verdict": {"weights": {"halted": -1.0}}}, source="f.toml")
    with pytest.raises(ScenarioError, match=r"verdict\.frobnicate"):
        validate_config({"verdict": {"frobnicate": 1}}, source="f.toml")
    with pytest.raises(ValueError, match="not a harm component"):
        resolve_weights({"speed": 1.0})


@pytest.mark.slow
def test_letting_an_exploit_run_is_more_harmful_than_halting_it() -> None:
    """exploit_2024 shrunk: a theft from day 0.5; sudo halts it after 20 hours, market_only
    cannot act. Same seed: the run that loses more TAO ranks worse under the defaults."""
    from sim import run

    scenario = load_scenario(REPO / "scenarios" / "exploit_2024.toml", check_sweep=False)
    config = scenario.to_config(
        overrides={"horizon_days": 4.0, "shocks.0.day": 0.5, **TINY_NETWORK}
    )
    halted = run(config, policy="sudo", seed=11).kpis
    open_ = run(config, policy="market_only", seed=11).kpis
    assert halted["harm.halted_days"] == pytest.approx(1.0, abs=0.1)
    assert open_["harm.halted_days"] == 0.0
    assert open_["harm.lost_tao"] > 2.5 * halted["harm.lost_tao"] > 0
    assert open_["harm.total"] > halted["harm.total"]
    # Every part is in the KPIs, and the total is their weighted sum.
    for kpis in (halted, open_):
        parts = {c: kpis[f"harm.{c}_usd"] for c in HARM_COMPONENTS}
        assert kpis["harm.total"] == pytest.approx(aggregate(parts))
