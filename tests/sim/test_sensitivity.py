"""The sensitivity engine: Morris trajectories, OAT and Morris effects on a model whose answer
is known, resume, the tornado figure, and a tiny real scenario through the real model."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.executors import SequentialExecutor
from sim.runner import RunConfig, resume
from sim.schema import ScenarioError, load_scenario
from sim.sensitivity import (
    OATResult,
    analyse_sensitivity,
    design_sensitivity,
    morris_unit_trajectories,
    run_sensitivity,
    sensitivity_parameters,
    tornado_figure,
)
from sim.store import StudyStore
from tests.scenarios.tiny import REPO, TINY_NETWORK

EXPLOIT = REPO / "scenarios" / "exploit_2024.toml"
RANGES = {
    "market.contagion_beta": [1.0, 5.0],
    "governance.detection_delay_blocks": ["1 hour", "2 days"],
}


def linear_model(config: Any, policy: str | None = None, seed: int | None = None) -> Any:
    """A stand-in model with a known answer: harm.total linear in beta and the delay (days).

    sudo: 10 beta; market_only: 5 beta + 100 delay. The contrast sudo - market_only is
    5 beta - 100 delay: beta pushes sudo behind, a long delay pushes market_only behind.
    """
    beta = config.market.contagion_beta
    delay = config.governance.detection_delay_blocks / 7200
    harm = 10 * beta if policy == "sudo" else 5 * beta + 100 * delay
    return SimpleNamespace(
        kpis={"harm.total": harm + (seed or 0) % 7 * 0.0}, timeseries=None, events=[]
    )


def test_morris_trajectories_move_one_factor_by_delta() -> None:
    points, moved = morris_unit_trajectories(4, 5, 4, np.random.default_rng(3))
    delta = 4 / (2 * 3)
    steps = np.diff(points, axis=1)
    assert points.min() >= 0.0 and points.max() <= 1.0
    assert np.all(np.count_nonzero(steps, axis=2) == 1)
    assert np.allclose(np.abs(steps).sum(axis=2), delta)
    for t in range(5):
        assert sorted(moved[t]) == [0, 1, 2, 3]
        assert np.all(np.argmax(np.abs(steps[t]), axis=1) == moved[t])
    with pytest.raises(ValueError, match="even"):
        morris_unit_trajectories(2, 1, 3, np.random.default_rng(0))


def test_parameters_are_checked_and_converted() -> None:
    scenario = load_scenario(EXPLOIT, check_sweep=False)
    params = sensitivity_parameters(scenario, RANGES)
    beta, delay = params
    assert (beta.low, beta.high, beta.integer) == (1.0, 5.0, False)
    assert (delay.low, delay.high, delay.integer, delay.base) == (300.0, 14400.0, True, 6000)
    assert delay.value(0.5) == 7350 and isinstance(delay.value(0.5), int)
    with pytest.raises(ScenarioError, match=r"sensitivity\.market\.contagion_beta.*low < high"):
        sensitivity_parameters(scenario, {"market.contagion_beta": [5.0, 1.0]})
    with pytest.raises(ScenarioError, match=r"network\.kappa"):
        sensitivity_parameters(scenario, {"network.kappa": [0.5, 2.0]})
    with pytest.raises(ScenarioError, match="no_such"):
        sensitivity_parameters(scenario, {"market.no_such": [0.0, 1.0]})


def test_design_points() -> None:
    scenario = load_scenario(EXPLOIT, check_sweep=False)
    params = sensitivity_parameters(scenario, RANGES)
    design = design_sensitivity(params, method="both", trajectories=3, levels=4, seed=1)
    roles = [r["role"] for r in design.roles]
    assert roles[:5] == ["base", "low", "high", "low", "high"]
    assert roles.count("morris") == 3 * 3
    assert design.points[1] == {"market.contagion_beta": 1.0}
    assert design.points[4] == {"governance.detection_delay_blocks": 14400}
    again = design_sensitivity(params, method="both", trajectories=3, levels=4, seed=1)
    assert again == design
    assert design_sensitivity(params, method="oat").trajectories == 0


def test_oat_and_morris_on_a_known_model(tmp_path: Path) -> None:
    scenario = load_scenario(EXPLOIT, check_sweep=False)
    result = run_sensitivity(
        scenario,
        ["sudo", "market_only"],
        RANGES,
        tmp_path / "sens",
        SequentialExecutor(),
        method="both",
        trajectories=4,
        levels=4,
        replications=2,
        entropy=11,
        run_config=RunConfig(model="tests.sim.test_sensitivity:linear_model", mode="kpi"),
        progress=False,
    )
    assert result.contrast == ("sudo", "market_only")
    assert result.output == "harm.total[sudo] - harm.total[market_only]"
    base_delay = 6000 / 7200
    y_base = 5 * 2.91 - 100 * base_delay
    oat = result.oat.table.set_index("parameter")
    assert oat.loc["market.contagion_beta", "y_base"] == pytest.approx(y_base)
    assert oat.loc["market.contagion_beta", "effect_low"] == pytest.approx(5 * (1.0 - 2.91))
    assert oat.loc["market.contagion_beta", "effect_high"] == pytest.approx(5 * (5.0 - 2.91))
    delay = oat.loc["governance.detection_delay_blocks"]
    assert delay["effect_low"] == pytest.approx(-100 * (300 / 7200 - base_delay))
    assert delay["effect_high"] == pytest.approx(-100 * (2.0 - base_delay))
    # At the base market_only does more harm (ranking sudo < market_only); a one-hour delay
    # flips it: sudo does more harm. The delay changes the ranking, beta does not.
    assert delay["ranking_base"] == "sudo < market_only"
    assert delay["ranking_low"] == "market_only < sudo"
    assert bool(delay["changes_ranking"])
    assert not bool(oat.loc["market.contagion_beta", "changes_ranking"])
    assert result.ranking_changers()[0] == "governance.detection_delay_blocks"
    # Tornado: widest swing first.
    tornado = result.tornado_table()
    assert list(tornado.columns) == ["parameter", "low_effect", "high_effect"]
    assert tornado["parameter"].tolist() == [
        "governance.detection_delay_blocks",
        "market.contagion_beta",
    ]
    # Morris on a linear model: every elementary effect is the slope times the range.
    morris = result.morris.table.set_index("parameter")
    assert morris.loc["market.contagion_beta", "mu"] == pytest.approx(5 * 4.0)
    assert morris.loc["market.contagion_beta", "sigma"] == pytest.approx(0.0, abs=1e-9)
    assert morris.loc["governance.detection_delay_blocks", "mu_star"] == pytest.approx(
        100 * (14400 - 300) / 7200, rel=1e-9
    )
    assert morris.loc["governance.detection_delay_blocks", "n_effects"] == 4
    assert result.points["n"].min() == 2
    assert any("changes the ranking" in line for line in result.lines())
    # The study directory alone gives the same reading.
    again = analyse_sensitivity(tmp_path / "sens")
    pd.testing.assert_frame_equal(again.oat.table, result.oat.table)


def test_resume_finishes_an_interrupted_sensitivity_study(tmp_path: Path) -> None:
    scenario = load_scenario(EXPLOIT, check_sweep=False)
    kwargs: dict[str, Any] = {
        "method": "oat",
        "replications": 1,
        "entropy": 3,
        "progress": False,
        "run_config": RunConfig(model="tests.sim.test_sensitivity:linear_model", mode="kpi"),
    }
    root = tmp_path / "sens"
    full = run_sensitivity(
        scenario, ["sudo", "market_only"], RANGES, root, SequentialExecutor(), **kwargs
    )
    store = StudyStore(root)
    manifest = store.manifest()
    manifest.loc[manifest.index[::2], "status"] = "PENDING"  # as if killed half way
    store.write_manifest(manifest)
    partial = analyse_sensitivity(root)
    assert partial.points["n"].min() == 0
    resumed = run_sensitivity(
        scenario,
        ["sudo", "market_only"],
        RANGES,
        root,
        SequentialExecutor(),
        resume_study=True,
        **kwargs,
    )
    pd.testing.assert_frame_equal(resumed.oat.table, full.oat.table)
    assert set(store.manifest()["status"]) == {"SUCCEEDED"}
    assert resume(root, SequentialExecutor(), progress=False).counts == {"SUCCEEDED": 10}


def test_tornado_figure_draws_every_parameter() -> None:
    table = pd.DataFrame(
        {"parameter": ["b", "a"], "low_effect": [-3.0, 1.0], "high_effect": [4.0, 2.0]}
    )
    fig = tornado_figure(
        OATResult(
            pd.DataFrame(
                {
                    "parameter": ["a", "b"],
                    "effect_low": [1.0, -3.0],
                    "effect_high": [2.0, 4.0],
                    "swing": [2.0, 4.0],
                }
            ),
            "harm.total[x] - harm.total[y]",
        )
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]  # widest on top
    assert len(ax.patches) == 4
    assert "harm.total[x]" in ax.get_xlabel()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"
    assert len(tornado_figure(table).axes[0].patches) == 4


@pytest.mark.slow
def test_sensitivity_on_a_tiny_real_scenario(tmp_path: Path) -> None:
    """exploit_2024 shrunk to 1.5 days on a small network, through the real model."""
    overrides = {"horizon_days": 1.5, "shocks.0.day": 0.2, **TINY_NETWORK}
    scenario = load_scenario(EXPLOIT, check_sweep=False, overrides=overrides)
    ranges = {
        "governance.detection_delay_blocks": ["1 hour", "1 day"],
        "market.security_beta": [1.4, 25.4],
    }
    result = run_sensitivity(
        scenario,
        ["sudo", "market_only"],
        ranges,
        tmp_path / "s",
        SequentialExecutor(),
        method="both",
        trajectories=1,
        replications=1,
        entropy=5,
        progress=False,
    )
    assert result.points["n"].min() == 1
    oat = result.oat.table.set_index("parameter")
    # market_only never halts, so sudo's advantage (a negative contrast) grows with gamma and
    # shrinks as sudo's detection is slower.
    assert (
        oat.loc["market.security_beta", "effect_high"]
        < 0
        < oat.loc["market.security_beta", "effect_low"]
    )
    assert oat.loc["governance.detection_delay_blocks", "effect_high"] > 0
    assert result.morris.table["n_effects"].sum() == 2
    fig = result.figure()
    assert len(fig.axes[0].patches) == 4


def test_points_differing_after_the_fork_share_a_prefix_and_store_the_same(
    tmp_path: Path,
) -> None:
    """covenant_2026 shrunk to half a day: the OAT points of β differ only in a field read
    after the cut, so under one seed all their runs are one task (one prefix), and the study
    stores exactly what it stores with one run a task."""
    from sim.runner import run_sweep
    from sim.sensitivity import plan_sensitivity
    from tests.scenarios.tiny import tiny_overrides
    from tests.sim.test_runner import _assert_same_store

    covenant = REPO / "scenarios" / "covenant_2026.toml"
    scenario = load_scenario(covenant, check_sweep=False)
    scenario = load_scenario(covenant, check_sweep=False, overrides=tiny_overrides(scenario, 0.5))
    ranges = {"market.contagion_beta": [1.0, 25.0]}
    design = design_sensitivity(sensitivity_parameters(scenario, ranges), method="oat")
    plan = plan_sensitivity(scenario, ["sudo", "multisig"], design, replications=1, entropy=9)
    tasks: dict[bool, list[int]] = {}
    for share in (True, False):
        executor = SequentialExecutor()
        executor.max_workers = 0  # type: ignore[attr-defined]  # unknown: tasks are not cut
        sizes = tasks.setdefault(share, [])
        original = executor.submit

        def submit(
            fn: Any, *args: Any, _sizes: list[int] = sizes, _original: Any = original, **kw: Any
        ) -> Any:
            _sizes.append(len(args[0]) if fn.__name__ == "run_bundle" else 1)
            return _original(fn, *args, **kw)

        executor.submit = submit  # type: ignore[method-assign]
        summary = run_sweep(
            plan, tmp_path / str(share), executor, progress=False, share_prefix=share
        )
        assert summary.counts == {"SUCCEEDED": 6}
    assert tasks[True] == [6]  # 3 points x 2 policies under the one seed
    assert tasks[False] == [1] * 6
    _assert_same_store(tmp_path / "True", tmp_path / "False")
