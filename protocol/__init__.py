"""govsim's protocol layer: the real rules of a Bittensor-style network.

Pure functions over arrays (torch, numpy at the edges) and frozen dataclasses, batched over
subnets and replicates. No Mesa, no Streamlit, no I/O. Variants (consensus mechanisms, coinbase
eras, governance policies, miner strategies) plug in through small registries
(:class:`protocol.registry.Registry`), so a new one is one file.

Sub-packages
------------
yuma        the Yuma Consensus epoch, float (batched torch) and exact (chain fixed point) modes
economy     the dTAO economy: emission, subnet shares, pools, coinbase, drain, registration
governance  governance policies as state machines over proposals whose payloads are levers
training    ground-truth training rounds (SparseLoCo miners, Gauntlet validators)
live        pure message formats and checks for live mode (signing, payload validation)
"""

from __future__ import annotations

__all__ = ["levers", "registry", "units"]
