"""The Yuma Consensus epoch: batched float64 torch mode and chain-exact fixed-point mode.

Public API
----------
yuma_epoch(weights, stake, bonds, *, params, rao_emission, ...) -> EpochResult
    One batched float64 epoch (``[B, n, n]`` weights) on CPU or CUDA.
replay_states(states, mode="exact" | "float") -> list[dict]
    Replay JSON subnet states (the ``govsim yuma replay`` schema, docs/yuma.md) in either mode.
EpochParams, EpochResult
    Frozen hyperparameters (chain defaults) and the result object.
CONSENSUS
    Registry of consensus mechanisms ("yuma", "yuma_classic", "yuma3", "yuma3_liquid",
    "yuma_liquid_v1", "stake_capped", ...); a variant is one file (see ``stake_capped.py``).
StateError
    ``ValueError`` raised for invalid JSON states; its message names the key.
neuron_to_prune, immortal_owner_uids, blocks_until_next_epoch
    The pruning choice for registrations and epoch scheduling (HEAD and legacy).

"HEAD" in this package means subtensor's ``main`` @ ``14bc6f9f`` (2026-06-30), the version
followed; older behaviour is named by date or commit.
"""

from __future__ import annotations

# the bundled variants register themselves in CONSENSUS on import (one file each)
from protocol.yuma import stake_capped  # noqa: F401
from protocol.yuma.epoch import yuma_epoch
from protocol.yuma.mechanisms import CONSENSUS, Mechanism, get_mechanism
from protocol.yuma.params import EpochParams, ParamsError, blocks_until_next_epoch
from protocol.yuma.pruning import immortal_owner_uids, neuron_to_prune
from protocol.yuma.replay import replay_states
from protocol.yuma.result import EpochResult
from protocol.yuma.state import StateError

__all__ = [
    "CONSENSUS",
    "EpochParams",
    "EpochResult",
    "Mechanism",
    "ParamsError",
    "StateError",
    "blocks_until_next_epoch",
    "get_mechanism",
    "immortal_owner_uids",
    "neuron_to_prune",
    "replay_states",
    "yuma_epoch",
]
