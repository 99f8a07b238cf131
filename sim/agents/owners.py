"""Subnet owners: honest builder, extractive owner, and a high-value builder who can exit.

An owner sets its subnet's *utility* (the real value the subnet produces: a multiplier on what
its miners deliver), decides how much of its owner cut it sells, and, for the high-value
builder ("Covenant-like"), whether to leave when governance turns against it: it then stops
work (utility collapses), and sells its alpha and an off-chain treasury on a schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mesa

from protocol.registry import Registry
from sim.agents.host import AgentHost
from sim.config import OwnersConfig

__all__ = [
    "OWNER_STRATEGIES",
    "ExtractiveOwner",
    "HighValueOwner",
    "HonestOwner",
    "Owner",
    "OwnerAction",
    "OwnerObservation",
]

OWNER_STRATEGIES: Registry[type[Owner]] = Registry("owner strategy")


@dataclass(frozen=True)
class OwnerObservation:
    """What an owner sees of its own subnet.

    Attributes
    ----------
    targeted
        An executed intervention hit this subnet since the owner last acted.
    alpha_held
        Alpha the owner's coldkey holds on the subnet (alpha units).
    """

    targeted: bool
    alpha_held: float


@dataclass(frozen=True)
class OwnerAction:
    """An owner's decision for one day.

    Attributes
    ----------
    sell_alpha
        Alpha to unstake and sell (alpha units).
    exit
        True on the day the team leaves.
    """

    sell_alpha: float
    exit: bool = False


class Owner(mesa.Agent):
    """The owner of one subnet.

    Parameters
    ----------
    model
        The Mesa model.
    netuid
        Its subnet.
    base_utility
        The subnet's utility under this owner (quality units).
    """

    name: ClassVar[str] = "base"
    #: Multiplier on the drawn subnet utility for this owner type.
    utility_factor: ClassVar[float] = 1.0
    #: The model as an owner reads it (Mesa registers the owner with the ``mesa.Model``).
    model: AgentHost

    def __init__(self, model: mesa.Model, netuid: int, base_utility: float) -> None:
        super().__init__(model)
        self.netuid = netuid
        self.utility = base_utility * self.params().get("utility_factor", self.utility_factor)
        self.exited = False
        self.exit_day: float | None = None

    def params(self) -> dict[str, float]:
        """This type's overrides from ``owners.strategy_params``."""
        return dict(self.model.config.owners.strategy_params.get(self.name, {}))

    def sell_fraction(self) -> float:
        """Fraction of held alpha sold per day (override)."""
        return self.model.config.owners.honest_sell_fraction

    def act(self, obs: OwnerObservation) -> OwnerAction:
        """The agent policy: sell part of the cut; exit if this type does.

        Decide from ``obs``: during the desk's round the model's ``state`` is the state before
        the round's trades (they wait in the desk's trading book).
        """
        if self.exited:
            return OwnerAction(sell_alpha=obs.alpha_held / max(self._days_left(), 1.0))
        return OwnerAction(sell_alpha=self.sell_fraction() * obs.alpha_held)

    def leave(self, day: float) -> None:
        """Stop working on the subnet (utility drops to ``exit_quality_factor``)."""
        cfg: OwnersConfig = self.model.config.owners
        self.exited = True
        self.exit_day = day
        self.utility *= cfg.exit_quality_factor

    def _days_left(self) -> float:
        cfg: OwnersConfig = self.model.config.owners
        if self.exit_day is None:
            return cfg.exit_sell_days
        return self.exit_day + cfg.exit_sell_days - self.model.day


@OWNER_STRATEGIES.register("honest")
class HonestOwner(Owner):
    """Builds steadily and sells a small part of its cut."""

    name = "honest"


@OWNER_STRATEGIES.register("extractive")
class ExtractiveOwner(Owner):
    """Produces little and dumps most of its owner cut every day."""

    name = "extractive"
    utility_factor = 0.4

    def sell_fraction(self) -> float:
        return self.model.config.owners.extractive_sell_fraction


@OWNER_STRATEGIES.register("high_value")
class HighValueOwner(Owner):
    """A Covenant-like builder: high utility, but leaves when its subnet is targeted."""

    name = "high_value"
    utility_factor = 2.5

    def act(self, obs: OwnerObservation) -> OwnerAction:
        cfg: OwnersConfig = self.model.config.owners
        if obs.targeted and not self.exited and cfg.exit_on_intervention:
            self.leave(self.model.day)
            return OwnerAction(sell_alpha=obs.alpha_held / max(cfg.exit_sell_days, 1.0), exit=True)
        return super().act(obs)
