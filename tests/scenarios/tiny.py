"""Helpers for the study tests: shrink library scenarios to tiny, fast runs.

Also a model entry point that fails on purpose for one scenario (``name = "fail-me"``), used to
check that one failed run never loses the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.config import SimConfig
from sim.schema import Scenario

REPO = Path(__file__).resolve().parents[2]
LIBRARY = sorted((REPO / "scenarios").glob("*.toml"))

#: A small network: enough subnets for every library shock (netuid <= 5), few uids and stakers.
TINY_NETWORK: dict[str, Any] = {
    "network.n_subnets": 6,
    "network.n_uids": 16,
    "network.n_validators": 4,
    "stakers.n_stakers": 8,
}


def tiny_overrides(scenario: Scenario, horizon_days: float = 1.0) -> dict[str, Any]:
    """Overrides that shrink ``scenario`` to ``horizon_days`` on a small network.

    Shock days are scaled into the shorter horizon, so every shock still happens, in order.
    """
    scale = horizon_days / scenario.config.horizon_days
    out: dict[str, Any] = {"horizon_days": horizon_days, **TINY_NETWORK}
    for i, shock in enumerate(scenario.config.shocks):
        out[f"shocks.{i}.day"] = round(shock.day * scale, 6)
    return out


def tiny_config(config: SimConfig, horizon_days: float = 1.0) -> SimConfig:
    """``config`` (already validated) shrunk as :func:`tiny_overrides` shrinks a scenario."""
    body = config.model_dump(mode="json")
    scale = horizon_days / config.horizon_days
    body["horizon_days"] = horizon_days
    for path, value in TINY_NETWORK.items():
        section, field = path.split(".")
        body[section][field] = value
    for shock in body["shocks"]:
        shock["day"] = round(shock["day"] * scale, 6)
    return SimConfig.model_validate(body)


def tiny_set_args(scenario: Scenario, horizon_days: float = 1.0) -> list[str]:
    """The same overrides as ``--set PATH=VALUE`` command-line arguments."""
    args: list[str] = []
    for path, value in tiny_overrides(scenario, horizon_days).items():
        args += ["--set", f"{path}={value}"]
    return args


def run_or_fail(config: Any, policy: str | None = None, seed: int | None = None) -> Any:
    """``sim.run``, except that a scenario named ``fail-me`` raises (an injected failure)."""
    if config.name == "fail-me":
        raise RuntimeError("injected failure for scenario 'fail-me'")
    from sim import run

    return run(config, policy=policy, seed=seed)
