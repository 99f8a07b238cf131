"""govsim's scenario library: TOML files validated by :mod:`sim.schema`, shipped as package data.

``govsim scenarios list`` describes them and every command that takes a SCENARIO accepts a name
from here, from any directory (:func:`sim.library.resolve_scenario`). ``data/`` holds the real
data the library and the calibration read (a replayable SN15 epoch, market events and prior).
"""

from __future__ import annotations

from pathlib import Path

#: The installed package directory (files are read by path: ``extends`` is relative to a file).
SCENARIO_DIR = Path(__file__).resolve().parent
DATA_DIR = SCENARIO_DIR / "data"


def library() -> dict[str, Path]:
    """The shipped scenario files by name (file stem), sorted; ``live/`` holds live mode's."""
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.toml"))}
