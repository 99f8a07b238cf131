"""The outer Monte Carlo over the market constants: one draw per replication, seeded from the
study's entropy, the same for every policy and point, recorded per run and applied on every
executor, on resume and on replay; the ranking read over the draws."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibration.prior import (
    load_market_prior,
    replication_market_draw,
    with_market_constants,
)
from sim.config import SimConfig
from sim.executors import make_executor
from sim.runner import RunConfig, market_draws, plan_study, replay, run_sweep
from sim.sampling import market_seed_sequence, run_seed
from sim.schema import Scenario, ScenarioError, load_scenario
from sim.stats import wilson_interval
from sim.store import MANIFEST_COLUMNS, StudyStore, atomic_write_parquet
from sim.uncertainty import ranking_stability
from tests.scenarios.tiny import REPO, tiny_overrides

EXPLOIT = REPO / "scenarios" / "exploit_2024.toml"
POLICIES = ["sudo", "market_only"]
PRIOR = RunConfig(mode="kpi", market_uncertainty="prior")


def _configs(n_points: int = 2, horizon: float = 0.25) -> tuple[list[SimConfig], list[dict]]:
    scenario = load_scenario(EXPLOIT, check_sweep=False)
    points = [{}, {"governance.detection_delay_blocks": 300}][:n_points]
    configs = [
        scenario.to_config(overrides={**p, **tiny_overrides(scenario, horizon)}) for p in points
    ]
    return configs, points


def _draws(plan) -> pd.Series:
    return plan.manifest.set_index("run_id")["market_draw"]


def test_one_draw_per_replication_shared_by_policies_and_points() -> None:
    configs, points = _configs()
    plan = plan_study(configs, points, POLICIES, 3, entropy=99, run_config=PRIOR)
    manifest = plan.manifest
    assert manifest["market_draw"].notna().all()
    for rep, group in manifest.groupby("replication"):
        # Common random numbers: every policy and point of a replication, one draw.
        assert group["market_draw"].nunique() == 1
        assert json.loads(group["market_draw"].iloc[0]) == replication_market_draw(None, 99, rep)
    assert manifest.drop_duplicates("replication")["market_draw"].nunique() == 3
    # The draw is a whole posterior row drawn with the study's seed sequence.
    prior = load_market_prior()
    rng = np.random.default_rng(market_seed_sequence(99, 1))
    row = int(rng.integers(0, prior.n_samples, size=1)[0])
    draw = json.loads(manifest[manifest["replication"] == 1]["market_draw"].iloc[0])
    assert draw == {f"market.{k}": float(prior.samples[k][row]) for k in prior.samples}
    # Planning again gives the same draws; another entropy others; off gives none.
    again = plan_study(configs, points, POLICIES, 3, entropy=99, run_config=PRIOR)
    pd.testing.assert_series_equal(_draws(plan), _draws(again))
    other = plan_study(configs, points, POLICIES, 3, entropy=100, run_config=PRIOR)
    assert not _draws(plan).equals(_draws(other))
    off = plan_study(configs, points, POLICIES, 3, entropy=99)
    assert off.manifest["market_draw"].isna().all()
    assert off.sweep["market_uncertainty"] == {"mode": "off"}
    assert plan.sweep["market_uncertainty"]["mode"] == "prior"
    # The model seeds are the runner's, untouched by the draws.
    assert manifest["seed"].tolist() == off.manifest["seed"].tolist()


def test_a_point_that_sets_a_market_constant_keeps_it() -> None:
    configs, _ = _configs(1)
    beta = configs[0].with_updates(market__contagion_beta=1.0)
    plan = plan_study(
        [configs[0], beta],
        [{}, {"market.contagion_beta": 1.0}],
        ["sudo"],
        2,
        entropy=7,
        run_config=PRIOR,
    )
    by_point = {
        p: [json.loads(d) for d in g["market_draw"]] for p, g in plan.manifest.groupby("point")
    }
    assert all("market.contagion_beta" in d for d in by_point[0])
    assert all(
        "market.contagion_beta" not in d and "market.security_beta" in d for d in by_point[1]
    )


def test_common_seeds_across_points() -> None:
    configs, points = _configs()
    plan = plan_study(configs, points, POLICIES, 2, entropy=5, common_seeds=True)
    for rep, group in plan.manifest.groupby("replication"):
        assert set(group["seed"]) == {run_seed(5, 0, rep)}
        assert set(group["spawn_key"]) == {f"0,{rep}"}
    assert plan.sweep["spawn_key"] == "(0, replication)"


def _store_frames(root: Path) -> dict[str, pd.DataFrame]:
    store = StudyStore(root)
    manifest = store.manifest().drop(columns=["part_path", "wall_s", "worker", "attempt"])
    kpis = store.table("kpis").drop(columns=["attempt"])
    return {
        "manifest": manifest.sort_values("run_id").reset_index(drop=True),
        "kpis": kpis.reset_index(drop=True),
    }


@pytest.mark.slow
def test_draws_identical_on_every_executor_and_applied_to_the_runs(
    tmp_path: Path, process_pool: Executor
) -> None:
    configs, points = _configs(1, horizon=0.25)
    plan = plan_study(configs, points, POLICIES, 2, entropy=2026, run_config=PRIOR)
    roots = {}
    # The draws are made when the study is planned; one worker in the driver and two pool
    # workers (the shared two-worker pool of conftest.py) must store the same runs with them.
    for kind, workers in (("sequential", 1), ("process", 2)):
        root = tmp_path / f"{kind}{workers}"
        if kind == "process":
            summary = run_sweep(plan, root, process_pool, progress=False)
        else:
            with make_executor(kind, workers=workers) as executor:
                summary = run_sweep(plan, root, executor, progress=False)
        assert summary.counts == {"SUCCEEDED": 4}
        roots[(kind, workers)] = root
    first = _store_frames(roots[("sequential", 1)])
    for key, root in roots.items():
        frames = _store_frames(root)
        for name in first:
            pd.testing.assert_frame_equal(
                first[name], frames[name], check_exact=True, obj=f"{key} {name}"
            )
    # Each run ran with its replication's constants: replay rebuilds it bit for bit.
    root = roots[("process", 2)]
    draws = market_draws(root)
    assert set(draws.columns) >= {
        "market.contagion_beta",
        "market.duration_exponent",
        "market.security_beta",
    }
    run_id = draws["run_id"].iloc[-1]
    result = replay(root, run_id)
    row = draws.set_index("run_id").loc[run_id]
    assert result.config.market.contagion_beta == row["market.contagion_beta"]
    assert result.config.market.security_beta == row["market.security_beta"]
    kpis = StudyStore(root).table("kpis").set_index("run_id")
    assert result.kpis["harm.total"] == kpis.loc[run_id, "harm.total"]
    # Different replications (different constants, different seeds) give different runs.
    assert kpis["harm.total"].nunique() > 1
    # The report says what the intervals rest on: the fitted range the runs drew from.
    from sim.report import build_report, summarize_study

    html = build_report(root, summary=summarize_study(root, conformance=False)).read_text()
    assert "Market constants: the fitted range the runs drew from" in html
    assert "market.contagion_beta" in html


def test_old_manifest_without_draws_reads(tmp_path: Path) -> None:
    configs, points = _configs(1)
    plan = plan_study(configs, points, ["sudo"], 1, entropy=1)
    store = StudyStore(tmp_path)
    store.create(plan.sweep, plan.scenarios, plan.manifest)
    atomic_write_parquet(plan.manifest.drop(columns=["market_draw"]), store.manifest_path)
    manifest = store.manifest()
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert manifest["market_draw"].isna().all()
    store.write_manifest(manifest)  # and writes back whole


def test_with_market_constants_validates_the_market_only() -> None:
    config = SimConfig()
    drawn = with_market_constants(config, {"market.contagion_beta": 2.0})
    assert drawn.market.contagion_beta == 2.0 and drawn.network == config.network
    with pytest.raises(ValueError, match="contagion_beta"):
        with_market_constants(config, {"market.contagion_beta": -1.0})
    with pytest.raises(ValueError, match="expected 'market"):
        with_market_constants(config, {"network.kappa": 0.5})


def test_a_bad_recorded_draw_fails_its_run_only(tmp_path: Path) -> None:
    """A run whose recorded draw does not validate is FAILED with the reason and no part; the
    study's other runs finish and are stored (one run's failure never costs another's)."""
    configs, points = _configs(1, horizon=0.25)
    plan = plan_study(configs, points, ["sudo"], 2, entropy=2026, run_config=PRIOR)
    manifest = plan.manifest.copy()
    bad = manifest.index[0]
    manifest.loc[bad, "market_draw"] = json.dumps({"market.contagion_beta": -1.0})
    plan = dataclasses.replace(plan, manifest=manifest)
    with make_executor("sequential", workers=1) as executor:
        summary = run_sweep(plan, tmp_path, executor, progress=False)
    assert summary.counts == {"SUCCEEDED": 1, "FAILED": 1}
    stored = StudyStore(tmp_path).manifest().set_index("run_id")
    failed = stored.loc[manifest.loc[bad, "run_id"]]
    assert failed["status"] == "FAILED"
    assert failed["error"].startswith("market_draw: ") and "contagion_beta" in failed["error"]
    assert not isinstance(failed["part_path"], str) or not failed["part_path"]
    assert len(StudyStore(tmp_path).table("kpis")) == 1


def test_market_uncertainty_study_key(tmp_path: Path) -> None:
    scenario = load_scenario(EXPLOIT, check_sweep=False)
    assert scenario.market_uncertainty == "prior"
    child = tmp_path / "child.toml"
    child.write_text(f'extends = "{EXPLOIT}"\nmarket_uncertainty = "off"\n')
    loaded = load_scenario(child, check_sweep=False)
    assert loaded.market_uncertainty == "off"
    assert Scenario.from_dict(loaded.to_dict()).market_uncertainty == "off"
    child.write_text(f'extends = "{EXPLOIT}"\nmarket_uncertainty = "maybe"\n')
    with pytest.raises(ScenarioError, match=r"market_uncertainty: got 'maybe'; expected \"prior\""):
        load_scenario(child, check_sweep=False)
    with pytest.raises(ValueError, match="market_uncertainty"):
        RunConfig(market_uncertainty="maybe")  # type: ignore[arg-type]


def _kpis(a: list[float], b: list[float]) -> pd.DataFrame:
    rows = [
        {"policy": p, "point": 0, "replication": r, "harm.total": v}
        for p, values in (("a", a), ("b", b))
        for r, v in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_ranking_stability_settled_and_flipping() -> None:
    settled = ranking_stability(_kpis([1, 2, 3, 4, 5, 6, 7, 8], [5, 6, 7, 8, 9, 10, 11, 12]))
    pair = settled.pairs[0]
    assert (pair.a, pair.b, pair.n, pair.share_a_less) == ("a", "b", 8, 1.0)
    assert pair.settled and not pair.flips and pair.leader == "a"
    assert pair.diff.mean == -4.0
    assert "settled" in pair.line()
    # a wins in 5 of 8 replications, loses big in 3: the mean says b, the share says a.
    flipping = ranking_stability(_kpis([1, 1, 1, 1, 1, 9, 9, 9], [2, 2, 2, 2, 2, 2, 2, 2]))
    pair = flipping.pairs[0]
    assert pair.share_a_less == 5 / 8
    ci = wilson_interval(5, 8)
    assert (pair.share_low, pair.share_high) == pytest.approx((ci.low, ci.high))
    assert pair.flips and flipping.flipping == (pair,)
    assert "flips inside the range" in pair.line()
    # With the draws: where in the range the ranking turns.
    draws = pd.DataFrame(
        {
            "run_id": range(8),
            "point": 0,
            "policy": "a",
            "replication": range(8),
            "market.security_beta": [1, 2, 3, 4, 5, 20, 30, 40],
        }
    )
    pair = ranking_stability(_kpis([1, 1, 1, 1, 1, 9, 9, 9], [2] * 8), draws=draws).pairs[0]
    assert pair.by_constant["market.security_beta"] == (1.0, 0.25)
    table = flipping.table()
    assert list(table["settled"]) == [False]
