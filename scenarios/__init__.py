"""govsim's scenario library: TOML files validated by :mod:`sim.schema`."""

from __future__ import annotations

from pathlib import Path

SCENARIO_DIR = Path(__file__).resolve().parent
DATA_DIR = SCENARIO_DIR / "data"


def library() -> dict[str, Path]:
    """The shipped scenario files by name (file stem)."""
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.toml"))}
