"""``python -m sim.calibration``: the same command as ``govsim calibrate``."""

from __future__ import annotations

from sim.cli.calibrate import calibrate

if __name__ == "__main__":  # pragma: no cover - a script
    calibrate(prog_name="python -m sim.calibration")
