"""Every library scenario is documented, validates, and runs a short horizon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim import run
from sim.schema import load_scenario
from tests.scenarios.tiny import LIBRARY, tiny_overrides

EXPECTED = {
    "baseline",
    "covenant_2026",
    "exploit_2024",
    "weight_copying",
    "validator_cabal",
    "stake_concentration",
    "captured_governance",
    "voter_accuracy",
    "governance_frontier",
}


def test_library_is_complete() -> None:
    assert {p.stem for p in LIBRARY} == EXPECTED


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_documented_at_top(path: Path) -> None:
    head = path.read_text().splitlines()[:6]
    assert head[0].startswith(f"# {path.stem} ")
    assert sum(line.startswith("#") for line in head) >= 4


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_validates_and_runs_a_short_horizon(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    policies = scenario.policy_names()
    assert policies
    points = scenario.points()
    # Every design point validates at full size ...
    assert len(scenario.point_configs()) == len(points)
    # ... and the last one runs for half a day on a small network.
    config = scenario.to_config(policies[-1], {**points[-1], **tiny_overrides(scenario, 0.5)})
    result = run(config, policy=policies[-1], seed=3)
    assert not result.timeseries.empty
    assert np.isfinite(result.kpis["tao.price_end_usd"])
    assert result.kpis["days"] == pytest.approx(0.5)
