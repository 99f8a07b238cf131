"""Real-browser tests: Playwright driving Debian's chromium against ``govsim app``.

The tour checks the navigation and opens every page in one browser session (so the Compare page uses the Scenario page's
scenario and the Studies page finds the comparison), runs the Compare page's default (4 policies
x 4 seeds on the study runner) and finds its verdict and its frontier chart. Screenshots go to ``test-artifacts/``; with
``GOVSIM_SCREENSHOTS=1`` the tour runs the flagship scenario (``covenant_2026``, several minutes)
and writes the screenshots of ``docs/app.md`` to ``docs/img/``. Skipped when
``/usr/bin/chromium`` is missing (``make browser`` installs it with apt).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.app.conftest import CHROMIUM, wait_for_app_run

expect.set_options(timeout=60_000)  # a shared CI box can be slow to rerun the script

pytestmark = [
    pytest.mark.e2e,
    # pytest-playwright's session-scoped base_url fixture warns under pytest 9.
    pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Set to 1 to refresh the screenshots of docs/app.md (runs the flagship scenario: slow).
SCREENSHOTS = os.environ.get("GOVSIM_SCREENSHOTS") == "1"
CHART = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"
PAGES = ("Scenario", "Compare policies", "Yuma playground", "Studies", "Ground truth & live")


@pytest.fixture()
def shots(artifacts_dir: Path) -> Path:
    """Where screenshots go: docs/img with GOVSIM_SCREENSHOTS=1, else test-artifacts/."""
    if not SCREENSHOTS:
        return artifacts_dir
    path = REPO_ROOT / "docs" / "img"
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_url(page: Any, url: str) -> None:
    """Load ``url`` and wait until the app has finished its first run."""
    page.goto(url)
    page.wait_for_selector("[data-testid='stAppViewContainer']")
    wait_for_app_run(page)


def click_key(page: Any, key: str) -> None:
    """Click the button whose widget key is ``key`` and wait for the rerun to finish."""
    page.locator(f".st-key-{key} button").click()
    wait_for_app_run(page)


def go_to(page: Any, title: str) -> None:
    """Switch page through the sidebar navigation (the session, and its state, stay)."""
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    expect(page.locator("h1", has_text=title.split(" &")[0]).first).to_be_visible()
    wait_for_app_run(page)


def wait_for_charts(page: Any, count: int = 1, timeout_ms: float = 60_000) -> None:
    """Vega charts draw after the script run ends: wait until ``count`` of them are painted."""
    page.locator(CHART).nth(count - 1).wait_for(state="visible", timeout=timeout_ms)


def assert_no_exception(page: Any) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def shoot(page: Any, directory: Path, name: str) -> None:
    """Save a screenshot of the page as it is now, the window as tall as the page's content.

    Streamlit scrolls inside its own container, so a full-page screenshot is the window.
    """
    height = page.evaluate(
        "document.querySelector(\"[data-testid='stMainBlockContainer']\").scrollHeight"
    )
    page.set_viewport_size({"width": 1400, "height": int(min(max(height + 120, 900), 2400))})
    page.wait_for_timeout(1_000)  # the charts re-lay out to the new size
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


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


@pytest.mark.slow
def test_tour_of_every_page(page: Any, streamlit_url: str, shots: Path, tmp_path: Path) -> None:
    run_timeout_ms = 900_000 if SCREENSHOTS else 300_000
    page.set_default_timeout(90_000)
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    open_url(page, streamlit_url)  # Scenario is the default page, served at /
    nav = page.locator("[data-testid='stSidebarNav']")
    for title in PAGES:
        assert nav.get_by_text(title, exact=True).count() == 1, title

    # -- Scenario: the flagship for the docs, else a tiny upload; run it under its policy.
    if not SCREENSHOTS:
        scenario = tmp_path / "tiny.toml"
        scenario.write_text(TINY_SCENARIO)
        page.locator(".st-key-scn_source").get_by_text("Upload").click()
        wait_for_app_run(page)
        file_input = page.locator(".st-key-scn_upload input[type='file']")
        expect(file_input).to_be_enabled()  # the uploader is disabled until the rerun lands
        file_input.set_input_files(str(scenario))
        wait_for_app_run(page)
        expect(page.get_by_text("tiny browser run").first).to_be_visible()
        wait_for_app_run(page)
    page.locator(".st-key-scn_run button").click()
    page.locator("[data-testid='stMetric']").first.wait_for(timeout=run_timeout_ms)
    wait_for_app_run(page, timeout_ms=run_timeout_ms)
    wait_for_charts(page, 6)
    assert_no_exception(page)
    assert page.locator("[data-testid='stMetric']").count() == 4
    shoot(page, shots, "scenario")

    # -- Compare: the default (4 policies x 4 seeds) on the process pool, then the verdict.
    go_to(page, "Compare policies")
    chips = page.locator(".st-key-cmp_policies [data-tag]")
    expect(chips).to_have_count(4)
    page.locator(".st-key-cmp_run button").click()
    verdict = page.locator(".st-key-cmp_verdict")
    verdict.wait_for(state="visible", timeout=run_timeout_ms)
    wait_for_app_run(page)
    assert "significantly less harm than sudo" in verdict.inner_text()
    # The frontier: harm against measured days to act, its verdict naming the Pareto set.
    frontier = page.locator(".st-key-cmp_frontier_verdict")
    expect(frontier).to_be_visible()
    assert "Pareto-efficient" in frontier.inner_text()
    expect(page.get_by_text("Frontier: harm against reaction speed")).to_be_visible()
    wait_for_charts(page, 3)  # the frontier, the harm by policy and the timeline
    assert_no_exception(page)
    shoot(page, shots, "compare")

    # -- Studies: the comparison just run is a study; write its report and read it.
    go_to(page, "Studies")
    expect(page.locator("[data-testid='stMetricValue']").first).to_have_text("16")
    click_key(page, "studies_report")
    page.get_by_text("report.html").first.wait_for(timeout=120_000)
    assert_no_exception(page)
    shoot(page, shots, "studies")

    # -- Yuma playground: ten epochs of the dissent preset.
    go_to(page, "Yuma playground")
    click_key(page, "yuma_run")
    wait_for_charts(page, 2)
    assert_no_exception(page)
    expect(page.locator("[data-testid='stMetricValue']").first).to_have_text("10")
    shoot(page, shots, "yuma_playground")

    # -- Ground truth & live: one CPU round, scored by strategy.
    go_to(page, "Ground truth & live")
    page.locator(".st-key-gt_run button").click()
    page.locator("[data-testid='stMetric']").first.wait_for(timeout=run_timeout_ms)
    wait_for_app_run(page, timeout_ms=run_timeout_ms)
    wait_for_charts(page, 1)
    assert_no_exception(page)
    shoot(page, shots, "ground_truth")

    # Nothing left the machine: no usage statistics, no fonts or icons from a CDN.
    assert hosts == {streamlit_url.removeprefix("http://")}, hosts
