"""Live mode, simulator side: a coordinator real miners join over signed HTTP (``docs/live.md``).

Modules: :mod:`~sim.live.config` (the ``[live]`` table), :mod:`~sim.live.engine` (the training
round with external miners), :mod:`~sim.live.coordinator` (chain side and validators),
:mod:`~sim.live.app` (its HTTP face), :mod:`~sim.live.store` (the state directory),
:mod:`~sim.live.client` and :mod:`~sim.live.miner` (the miner), :mod:`~sim.live.network` (the
simulated network around the live subnet), :mod:`~sim.live.keys` and :mod:`~sim.live.paths`
(hotkey files, default port and per-user directories).

Importing this package is cheap (no torch, no FastAPI): the explorer reads
:data:`DEFAULT_PORT` and :func:`default_coordinator_url` from here.
"""

from __future__ import annotations

from sim.live.paths import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    config_dir,
    default_coordinator_url,
    default_key_path,
    default_state_dir,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "config_dir",
    "default_coordinator_url",
    "default_key_path",
    "default_state_dir",
]
