"""What an agent sees of its model: the run's configuration and the clock.

Agents are Mesa agents, so the model passed to their constructors is a ``mesa.Model`` (Mesa
registers the agent with it); past construction an agent reads only what :class:`AgentHost`
names. Anything else an agent needs comes in its observation (``MinerObservation``,
``StakerObservation``...), built by the desk that asks it to decide.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sim.config import SimConfig

__all__ = ["AgentHost"]


@runtime_checkable
class AgentHost(Protocol):
    """The model as an agent reads it."""

    @property
    def config(self) -> SimConfig:
        """The run's configuration (strategy constants live in its sections)."""
        ...

    @property
    def day(self) -> float:
        """Simulated days since the start."""
        ...
