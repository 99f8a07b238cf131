"""``market_only``: no discretionary lever at all (docs/governance.md, "The policies").

Emission follows TaoFlow and automatic deregistration alone (docs/economy.md); nobody can propose,
so nothing ever executes. It is the lower bound on discretionary risk and the upper bound on
scam persistence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol.levers import Lever
from protocol.units import Blocks

from .base import GovernanceError, GovernancePolicy, GovState, Path
from .registry import register_policy

__all__ = ["MarketOnlyConfig", "MarketOnlyPolicy"]


@dataclass(frozen=True)
class MarketOnlyConfig:
    """No parameters: the market is the only governor."""


@register_policy("market_only")
class MarketOnlyPolicy(GovernancePolicy):
    """No discretionary lever: every proposal is refused; TaoFlow and deregistration decide."""

    Config = MarketOnlyConfig

    def _check_proposer(self, gs: GovState, proposer: str, lever: Lever, track: str | None) -> None:
        raise GovernanceError(f"market_only has no discretionary levers: {lever.kind} refused")

    def _process(self, gs: GovState, now: Blocks, rng: np.random.Generator | None) -> GovState:
        return gs

    def enforced_delay(self, lever: Lever) -> Blocks | None:
        """None: no lever ever executes through governance."""
        return None

    def pass_paths(self, gs: GovState) -> tuple[Path, ...]:
        """No way to pass."""
        return ()

    def block_paths(self, gs: GovState) -> tuple[Path, ...]:
        """Nothing to block."""
        return ()
