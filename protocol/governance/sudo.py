"""``sudo``: one key, executed next block (``pallet_sudo``, the subtensor governance README).

No on-chain constraint or delay: "Effective next block. Only social checks". This is the
multisig with k = n = 1 on the body ``"sudo"`` (the key); use ``multisig`` for k-of-n signers.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.units import Blocks

from .config import param
from .multisig import MultisigConfig, MultisigPolicy
from .registry import register_policy

__all__ = ["SudoConfig", "SudoPolicy"]


@dataclass(frozen=True)
class SudoConfig(MultisigConfig):
    """Config of the single sudo key."""

    k: int = param(1, lo=1, hi=1, doc="one key")
    n: int = param(1, lo=1, hi=1, doc="one key")
    body: str = param("sudo", doc="electorate body holding the sudo key")
    delay_blocks: Blocks = param(1, lo=0, hi=1, doc="pallet_sudo: effective next block")


@register_policy("sudo")
class SudoPolicy(MultisigPolicy):
    """One key; any lever executes the block after it is submitted; nothing can stop it."""

    Config = SudoConfig
