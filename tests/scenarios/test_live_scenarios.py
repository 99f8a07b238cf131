"""The shipped live-mode scenarios load with the live table's validator."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.live.config import load_live_config

LIVE_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "live"


@pytest.mark.parametrize("path", sorted(LIVE_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_live_scenario_loads(path: Path) -> None:
    config, _rest = load_live_config(path)
    assert config.window_seconds > 0
    assert config.put_window_seconds <= config.window_seconds
    assert config.training_config in ("cpu-tiny", "cpu-small", "gpu-small")


def test_there_is_a_live_scenario() -> None:
    assert list(LIVE_DIR.glob("*.toml"))
