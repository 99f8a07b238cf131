"""AppTest (headless) tests of every explorer page: widgets by key, assertions on data and metrics."""

from __future__ import annotations

from pathlib import Path

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
