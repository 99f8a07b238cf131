"""AppTest (headless) tests of every explorer page: widgets by key, assertions on data and metrics."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP_PATH, free_port

PAGES = [
    "app_pages/scenario.py",
    "app_pages/compare.py",
    "app_pages/yuma_playground.py",
    "app_pages/studies.py",
    "app_pages/ground_truth.py",
]


def open_page(page: str | None = None) -> AppTest:
    """The explorer, run once, switched to ``page`` and run again."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def assert_clean(at: AppTest) -> None:
    """No uncaught exception reached the page."""
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads(page: str) -> None:
    at = open_page(page)
    assert_clean(at)
    assert at.title, f"{page} shows no title"


# -- studies -----------------------------------------------------------------------------------


@pytest.fixture()
def study_dir(tmp_path: Path) -> Path:
    """A small study directory written through the real planner and store (two policies)."""
    from sim.runner import plan_study
    from sim.store import StudyStore

    plan = plan_study([{}], [{}], ["sudo", "v2_24h"], replications=3, entropy=7)
    store = StudyStore(tmp_path / "study")
    store.create(plan.sweep, plan.scenarios, plan.manifest)
    manifest = store.manifest()
    writer = store.writer()
    for idx, row in manifest.iterrows():
        # A stand-in run: harm differs by policy so the KPI table has something to show.
        base = 10.0 if row["policy"] == "sudo" else 2.0
        days = np.arange(5, dtype=float)
        timeseries = pd.DataFrame(
            {"day": days, "tao_price_usd": 300 - base * days + row["replication"]}
        )
        kpis = pd.DataFrame(
            [{"harm_tao": base + row["replication"], "final_price": 300 - 4 * base}]
        )
        manifest.loc[idx, "part_path"] = writer.write(
            row["run_id"], 0, {"timeseries": timeseries, "kpis": kpis}
        )
        manifest.loc[idx, "status"] = "SUCCEEDED"
    store.write_manifest(manifest)
    return store.root


def test_studies_page_browses_a_study(study_dir: Path) -> None:
    at = open_page("app_pages/studies.py")
    at.text_input(key="studies_dir").input(str(study_dir)).run()
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs"] == "6"
    assert metrics["Succeeded"] == "6"
    assert metrics["Policies"] == "2"
    summary = at.session_state["studies_kpi_summary"]
    harm = summary[summary["kpi"] == "harm_tao"].set_index("policy")
    assert harm.loc["sudo", "mean"] == pytest.approx(11.0)
    assert harm.loc["v2_24h", "mean"] == pytest.approx(3.0)
    assert harm.loc["sudo", "ci_lo"] < 11.0 < harm.loc["sudo", "ci_hi"]


def test_studies_page_writes_the_report_of_a_study(study_dir: Path) -> None:
    at = open_page("app_pages/studies.py")
    at.text_input(key="studies_dir").input(str(study_dir)).run()
    assert not (study_dir / "report.html").exists()
    at.button(key="studies_report").click().run()
    assert_clean(at)
    assert not at.error
    assert (study_dir / "report.html").is_file()
    # The report is shown now, and the button is gone.
    with pytest.raises(KeyError):
        at.button(key="studies_report")


def test_studies_page_reports_a_missing_directory(tmp_path: Path) -> None:
    at = open_page("app_pages/studies.py")
    at.text_input(key="studies_dir").input(str(tmp_path / "nothing")).run()
    assert_clean(at)
    assert any("not a study directory" in e.value for e in at.error)


# -- ground truth and live ---------------------------------------------------------------------


def test_live_status_unreachable_is_a_message() -> None:
    at = open_page("app_pages/ground_truth.py")
    at.text_input(key="live_url").input(f"http://127.0.0.1:{free_port()}/status").run()
    at.button(key="live_fetch").click().run()
    assert_clean(at)
    assert any("Coordinator not reachable" in e.value for e in at.error)
    assert at.session_state["live_status"] is None


# -- Yuma playground ---------------------------------------------------------------------------


def test_playground_steps_epochs_in_both_modes() -> None:
    at = open_page("app_pages/yuma_playground.py")
    at.button(key="yuma_step").click().run()
    assert_clean(at)
    table = at.session_state["yuma_table"]
    assert set(table["mode"]) == {"float", "exact"}
    assert table["epoch"].max() == 0
    exact = table[table["mode"] == "exact"].set_index("uid")
    # Dissent preset: uid 2 (10 % stake) favours miner 5 and is clipped by κ.
    assert exact.loc[3, "incentive"] > exact.loc[5, "incentive"]
    assert exact["dividends"].sum() == pytest.approx(1.0, abs=1e-3)
    at.number_input(key="yuma_n_epochs").set_value(4).run()
    at.button(key="yuma_run").click().run()
    assert_clean(at)
    table = at.session_state["yuma_table"]
    assert table["epoch"].max() == 4
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epochs run"] == "5"
    # Float and exact agree to u16 rounding on this small subnet.
    assert float(metrics["max |float − exact|"]) < 1e-3


def test_playground_is_deterministic_and_kappa_matters() -> None:
    at = open_page("app_pages/yuma_playground.py")
    at.selectbox(key="yuma_preset").set_value("cabal").run()

    def incentive_after_reset(kappa: float) -> pd.Series:
        at.slider(key="yuma_kappa").set_value(kappa).run()
        at.button(key="yuma_reset").click().run()
        at.button(key="yuma_step").click().run()
        assert_clean(at)
        table = at.session_state["yuma_table"]
        assert table["epoch"].max() == 0
        return table[table["mode"] == "exact"].set_index("uid")["incentive"]

    first = incentive_after_reset(0.5)
    assert first.equals(incentive_after_reset(0.5))
    # The 40 % cabal is a minority at κ = 0.5 (its miner 5 gets nothing), a majority at κ = 0.3.
    assert first.loc[5] == 0.0
    assert incentive_after_reset(0.3).loc[5] > 0.0


def test_playground_invalid_table_is_a_message() -> None:
    at = open_page("app_pages/yuma_playground.py")
    stake = at.session_state["yuma_base_stake"].copy()
    stake.iloc[0, 0] = -5.0
    at.session_state["yuma_base_stake"] = stake
    at.session_state["yuma_editor_version"] += 1
    at.run()
    assert_clean(at)
    assert any("stake[uid 0]" in e.value for e in at.error)


# -- ground truth ------------------------------------------------------------------------------


def test_ground_truth_round_scores_strategies() -> None:
    at = open_page("app_pages/ground_truth.py")
    at.number_input(key="gt_windows").set_value(1).run()
    at.button(key="gt_run").click().run()
    assert_clean(at)
    by_strategy = at.session_state["gt_by_strategy"]
    assert "honest" in set(by_strategy["strategy"])
    assert by_strategy["weight_share"].sum() == pytest.approx(1.0)
    assert by_strategy["mean_weight"].is_monotonic_decreasing


# -- scenario: uploads -------------------------------------------------------------------------


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    """Switch the Scenario page's source to Upload and upload ``content`` as ``name``."""
    at.radio(key="scn_source").set_value("Upload").run()
    at.file_uploader(key="scn_upload").set_value((name, content, "application/toml")).run()
    return at


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"horizon_days = [1, 2", "invalid TOML"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[network]\nn_subnets = 0\n", "network.n_subnets"),
        (b"[network]\nn_uids = 8\nn_validators = 9\n", "n_validators"),
        (b'extends = "no_such_base.toml"\n', "no_such_base"),
        (b"[nope]\nx = 1\n", "'nope' is unknown"),
        (b'horizon_days = "3 TAO"\n', "time units"),
    ],
)
def test_invalid_upload_is_a_clear_error(content: bytes, message: str) -> None:
    at = upload(open_page("app_pages/scenario.py"), "mine.toml", content)
    assert_clean(at)
    errors = [e.value for e in at.error]
    assert any(message in e and "mine.toml" in e for e in errors), errors


def test_valid_upload_becomes_the_scenario() -> None:
    content = b'name = "tiny upload"\nhorizon_days = 3\n[network]\nn_subnets = 2\nn_uids = 16\nn_validators = 4\n'
    at = upload(open_page("app_pages/scenario.py"), "tiny.toml", content)
    assert_clean(at)
    assert not at.error
    assert at.session_state["scenario"].name == "tiny upload"
    assert at.number_input(key="scn_param_network__n_subnets").value == 2
    assert at.number_input(key="scn_param_horizon_days").value == 3


# -- scenario: runs ----------------------------------------------------------------------------

TINY_SCENARIO = b"""
name = "tiny"
description = "two subnets, three days, a sudo suspension on day 1"
horizon_days = 3
[network]
n_subnets = 2
n_uids = 8
n_validators = 2
[stakers]
n_stakers = 4
[governance]  # the authority's seat is self-interested, so it proposes the suspension
actors = [{ count = 1, intent = "self_interested", label = "authority" }]
[[shocks]]
kind = "intervention"
day = 1
lever = {kind = "set_emission_enabled", netuid = 0, enabled = false}
"""


def run_tiny(seed: int, at: AppTest | None = None) -> AppTest:
    """Upload the tiny scenario (once), set the seed and press Run with an empty run cache."""
    import streamlit as st

    st.cache_data.clear()  # the result must be recomputed, not fetched
    at = at or upload(open_page("app_pages/scenario.py"), "tiny.toml", TINY_SCENARIO)
    at.number_input(key="scn_seed").set_value(seed).run()
    at.button(key="scn_run").click().run()
    assert_clean(at)
    return at


def end_price(at: AppTest) -> str:
    return {m.label: m.value for m in at.metric}["TAO price at the end (USD)"]


def test_scenario_run_charts_data_events_and_graph() -> None:
    at = run_tiny(seed=5)
    result = at.session_state["scn_result"]
    assert not result.timeseries.empty
    assert set(result.timeseries["netuid"]) == {0, 1}
    # The timelines mark the configured shock and the sudo suspension it leads to, on day 1.
    marks = at.session_state["scn_marks"]
    assert set(marks["category"]) == {"governance", "shock"}
    executed = marks[marks["label"].str.startswith("executed")]
    assert executed["day"].between(1.0, 1.1).any()
    assert list(marks.loc[marks["category"] == "shock", "label"]) == [
        "shock: intervention set_emission_enabled SN0"
    ]
    # Other events (the proposal itself, ...) only on demand.
    assert "proposed" in set(result.events["kind"])
    at.toggle(key="scn_other_events").set_value(True).run()
    assert_clean(at)
    more = at.session_state["scn_marks"]
    assert len(more) > len(marks) and "other" in set(more["category"])
    graph = at.session_state["scn_graph"]
    roles = {data["role"] for _, data in graph.nodes(data=True)}
    assert {"validator", "miner"} <= roles
    assert graph.number_of_edges() > 0


def test_scenario_is_deterministic_through_the_ui_and_seed_matters() -> None:
    at = run_tiny(seed=5)
    first = end_price(at)
    assert end_price(run_tiny(seed=5, at=at)) == first
    assert end_price(run_tiny(seed=6, at=at)) != first


def test_invalid_parameter_combination_is_a_message() -> None:
    at = upload(open_page("app_pages/scenario.py"), "tiny.toml", TINY_SCENARIO)
    at.number_input(key="scn_param_network__n_validators").set_value(9).run()
    assert_clean(at)
    assert any("n_validators" in e.value for e in at.error)


# -- compare -----------------------------------------------------------------------------------


def finish_comparison(at: AppTest, timeout_s: float = 300) -> AppTest:
    """Wait for the Compare page's running study, then rerun the page to show its results."""
    job = at.session_state["cmp_job"]
    assert job.wait(timeout=timeout_s), "the comparison did not finish in time"
    at.run()
    assert_clean(at)
    return at


@pytest.mark.slow
def test_compare_runs_policies_on_common_seeds() -> None:
    at = upload(open_page("app_pages/scenario.py"), "tiny.toml", TINY_SCENARIO)
    at.switch_page("app_pages/compare.py").run()
    at.multiselect(key="cmp_policies").set_value(["sudo", "v2_two_stage"]).run()
    at.number_input(key="cmp_seeds").set_value(2).run()
    at.button(key="cmp_run").click().run()
    assert_clean(at)
    # The study runs in the background: the page shows progress and a cancel button.
    job = at.session_state["cmp_job"]
    assert job.total == 4
    if not job.finished:
        assert at.button(key="cmp_cancel") is not None
    finish_comparison(at)
    kpis = at.session_state["cmp_results"].kpis
    assert len(kpis) == 4
    by_policy = kpis.groupby("policy")["seed"].apply(sorted)
    assert by_policy["sudo"] == by_policy["v2_two_stage"]  # common random numbers
    summary = at.session_state["cmp_kpi_summary"]
    assert set(summary["policy"]) == {"sudo", "v2_two_stage"}
    # The sudo key suspends emissions at once; the two-stage process's voters, who judge it
    # with noisy signals, may pass it too, but never more often than the key.
    executed = kpis.set_index("policy")["interventions.executed"]
    assert (executed["sudo"] >= 1).all()
    assert executed["v2_two_stage"].sum() <= executed["sudo"].sum()
    assert len(at.get("download_button")) == 3
    # The verdict compares with sudo over the same seeds, and the page shows it.
    verdict = at.session_state["cmp_verdict"]
    assert verdict.reference == "sudo"
    assert "policies do significantly less harm than sudo" in verdict.line
    shown = " ".join(m.value for m in at.markdown)
    assert "significantly less harm than sudo" in shown
    # The frontier: harm against measured days to act, can-act judged from the runs (labelled).
    view = at.session_state["cmp_frontier"]
    assert view.result.can_act_source == "runs"
    assert list(view.chart["policy"]) == ["sudo", "v2_two_stage"]
    assert set(view.chart["status"]) <= {
        "Pareto-efficient",
        "dominated",
        "cannot act (judged from the runs)",
    }
    assert "frontier: " in shown
    assert any("judged from these runs" in c.value for c in at.caption)
    # Governance marks carry the policy that acted; the shock is marked once for all.
    marks = at.session_state["cmp_marks"]
    assert set(marks.loc[marks["category"] == "governance", "policy"]) >= {"sudo"}
    assert (marks["category"] == "shock").sum() == 1
    job.discard()


def test_compare_default_is_light() -> None:
    at = open_page("app_pages/compare.py")
    assert_clean(at)
    chosen = at.multiselect(key="cmp_policies").value
    assert chosen == ["sudo", "v2_two_stage", "timelock", "stake_vote"]
    assert at.number_input(key="cmp_seeds").value == 4
    assert set(at.multiselect(key="cmp_policies").options) >= set(chosen) | {"cosmos", "opengov"}


@contextlib.contextmanager
def _serve(coordinator: Any) -> Iterator[str]:
    """Serve a live coordinator with uvicorn on a free local port; yields its status URL."""
    import threading
    import time

    live = pytest.importorskip("sim.live.app")
    uvicorn = pytest.importorskip("uvicorn")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            live.create_app(coordinator, run_ticker=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1/status"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def live_coordinator(tmp_path: Path):
    """A real coordinator (``sim.live``) served by uvicorn on a free local port."""
    pytest.importorskip("sim.live.app")
    from sim.live.config import LiveConfig
    from sim.live.coordinator import Coordinator
    from sim.live.store import StateDir

    with _serve(Coordinator(LiveConfig(), StateDir(tmp_path / "live"))) as url:
        yield url


def test_live_status_of_a_real_coordinator(live_coordinator: str) -> None:
    at = open_page("app_pages/ground_truth.py")
    at.text_input(key="live_url").input(live_coordinator).run()
    at.button(key="live_fetch").click().run()
    assert_clean(at)
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Training config"] == "cpu-tiny"
    assert metrics["Last closed window"] == "-1"
    assert metrics["Miners"] == "0"
    assert at.session_state["live_status"]["network"]["protocol"] == "govsim-live/v1"


@pytest.fixture()
def live_coordinator_with_network(tmp_path: Path):
    """A real coordinator with a simulated network around it, three windows closed, served by
    uvicorn on a free local port."""
    pytest.importorskip("sim.live.app")
    from sim.live.config import load_live_config
    from sim.live.coordinator import Coordinator
    from sim.live.network import network_for
    from sim.live.store import StateDir
    from tests.sim.test_live_network import LIVE, NETWORK, FakeClock

    path = tmp_path / "live_net.toml"
    path.write_text(NETWORK + LIVE)
    config, _ = load_live_config(path)
    clock = FakeClock()
    coordinator = Coordinator(
        config, StateDir(tmp_path / "live"), now=clock, network=network_for(path, config)
    )
    for window in range(3):
        clock.t = coordinator.clock.close_time(window) + 0.01
        coordinator.run_due()
    with _serve(coordinator) as url:
        yield url


def test_live_status_shows_the_simulated_network(live_coordinator_with_network: str) -> None:
    at = open_page("app_pages/ground_truth.py")
    at.text_input(key="live_url").input(live_coordinator_with_network).run()
    at.button(key="live_fetch").click().run()
    assert_clean(at)
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Policy"] == "sudo"
    assert metrics["Live netuid"] == "0"
    assert metrics["Simulated day"] == "0.75"  # 3 windows x 1,800 blocks
    assert metrics["Emission enabled"] == "True"
