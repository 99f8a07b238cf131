"""The simulator's agents, one module per family, each with a registry of strategies.

Importing this package registers the built-in strategies and event handlers.
"""

from __future__ import annotations

from sim.agents import events, governors, miners, owners, stakers, validators
from sim.agents.events import EVENT_HANDLERS
from sim.agents.miners import MINER_STRATEGIES
from sim.agents.owners import OWNER_STRATEGIES
from sim.agents.stakers import STAKER_STRATEGIES
from sim.agents.validators import VALIDATOR_STRATEGIES

__all__ = [
    "EVENT_HANDLERS",
    "MINER_STRATEGIES",
    "OWNER_STRATEGIES",
    "STAKER_STRATEGIES",
    "VALIDATOR_STRATEGIES",
    "events",
    "governors",
    "miners",
    "owners",
    "stakers",
    "validators",
]
