"""govsim's simulator: the Mesa agent-based model, scenarios, sweeps, store, reports and CLI.

Public API (imported lazily so ``import sim`` stays light):

``run(scenario, policy=None, seed=None) -> RunResult``
    Simulate one scenario (``SimConfig``, dict or TOML path).
``check_determinism(scenario, seed=0, other_seed=None) -> bool``
``check_conservation(scenario, seed=None) -> ConservationReport``
``SimConfig``
    The configuration model (``sim.config``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunResult", "SimConfig", "check_conservation", "check_determinism", "run"]


def __getattr__(name: str) -> Any:
    if name in ("run", "RunResult", "check_determinism", "check_conservation"):
        from sim import api

        return getattr(api, name)
    if name == "SimConfig":
        from sim.config import SimConfig

        return SimConfig
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
