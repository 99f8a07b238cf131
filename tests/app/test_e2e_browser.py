"""Real-browser smoke tests: Playwright driving Debian's chromium against ``streamlit run app.py``.

Screenshots are kept under ``test-artifacts/`` for a person to look at. Skipped when
``/usr/bin/chromium`` is missing (``make test`` installs it with apt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from sim import explorer
from tests.app.conftest import CHROMIUM, wait_for_app_run

expect.set_options(timeout=60_000)  # a shared CI box can be slow to rerun the script

pytestmark = [
    pytest.mark.e2e,
    # pytest-playwright 0.10's session-scoped base_url fixture warns under pytest 9 (spec §6.3 item 8).
    pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

CHART = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"


def open_url(page: Any, url: str) -> None:
    """Load ``url`` and wait until the app has finished its first run."""
    page.goto(url)
    page.wait_for_selector("[data-testid='stAppViewContainer']")
    wait_for_app_run(page)


def click_key(page: Any, key: str) -> None:
    """Click the button whose widget key is ``key`` and wait for the rerun to finish."""
    page.locator(f".st-key-{key} button").click()
    wait_for_app_run(page)


def wait_for_charts(page: Any, count: int = 1) -> None:
    """Vega charts draw after the script run ends: wait until ``count`` of them are painted."""
    page.locator(CHART).nth(count - 1).wait_for(state="visible", timeout=60_000)


def test_app_loads_and_playground_steps_and_draws(
    page: Any, streamlit_url: str, artifacts_dir: Path
) -> None:
    page.set_default_timeout(60_000)
    open_url(page, f"{streamlit_url}/yuma_playground")
    nav = page.locator("[data-testid='stSidebarNav']")
    for title in (
        "Scenario",
        "Compare policies",
        "Yuma playground",
        "Studies",
        "Ground truth & live",
    ):
        assert nav.get_by_text(title, exact=True).count() == 1, title
    click_key(page, "yuma_run")
    wait_for_charts(page, 2)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stMetricValue']").first.inner_text() == "10"
    page.screenshot(path=str(artifacts_dir / "yuma_playground.png"), full_page=True)


TINY_SCENARIO = """
name = "tiny browser run"
description = "two subnets, four days, a sudo suspension of SN0 on day 2"
horizon_days = 4
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
day = 2
lever = {kind = "set_emission_enabled", netuid = 0, enabled = false}
"""


@pytest.mark.skipif(not explorer.simulation_available(), reason="sim.run (issue 5) not available")
def test_scenario_runs_and_charts_render(
    page: Any, streamlit_url: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY_SCENARIO)
    page.set_default_timeout(90_000)
    open_url(page, streamlit_url)  # Scenario is the default page, served at /
    page.locator(".st-key-scn_source").get_by_text("Upload").click()
    wait_for_app_run(page)
    file_input = page.locator(".st-key-scn_upload input[type='file']")
    expect(file_input).to_be_enabled()  # the uploader is disabled until the rerun lands
    file_input.set_input_files(str(scenario))
    wait_for_app_run(page)
    expect(page.get_by_text("tiny browser run").first).to_be_visible()
    wait_for_app_run(page)
    click_key(page, "scn_run")
    wait_for_charts(page, 6)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stMetric']").count() == 4
    page.screenshot(path=str(artifacts_dir / "scenario_run.png"), full_page=True)
