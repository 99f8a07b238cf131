"""An example third-party-style variant in one file: Yuma with a per-validator stake cap.

Each validator's share of active stake is capped at ``params.stake_cap`` before consensus,
incentive and dividends; the excess is redistributed proportionally over the uncapped
validators (water-filling), so a whale cannot dominate the κ-median alone. Everything else is
the chain epoch. Float mode only.
"""

from __future__ import annotations

import torch

from protocol.yuma.float_epoch import normalize
from protocol.yuma.mechanisms import CONSENSUS, Mechanism
from protocol.yuma.params import EpochParams

__all__ = ["StakeCappedYuma", "cap_shares"]


def cap_shares(stake: torch.Tensor, cap: float, *, iterations: int = 8) -> torch.Tensor:
    """Cap each normalised share of ``stake`` ``[B, k]`` at ``cap``, redistributing the excess.

    Water-filling: repeatedly clip to ``cap`` and rescale the uncapped entries so the total stays
    1. When ``k * cap < 1`` every holder ends at the same share. Zero entries stay zero.
    """
    shares = normalize(stake)
    for _ in range(iterations):
        capped = shares >= cap
        free = shares.masked_fill(capped, 0.0)
        room = 1.0 - capped.sum(-1, keepdim=True) * cap
        free_total = free.sum(-1, keepdim=True)
        scale = torch.where(
            free_total > 0, room / torch.where(free_total > 0, free_total, 1.0), 0.0
        )
        shares = torch.where(capped, torch.full_like(shares, cap), free * scale.clamp(min=0.0))
    # leave rows without stake untouched; renormalise (covers k * cap < 1)
    return torch.where(stake.sum(-1, keepdim=True) > 0, normalize(shares), stake)


class StakeCappedYuma(Mechanism):
    """The chain epoch with validator stake shares capped at ``params.stake_cap``."""

    def consensus_stake(self, stake: torch.Tensor, params: EpochParams) -> torch.Tensor:
        """Cap validator stake shares (see :func:`cap_shares`)."""
        return cap_shares(stake, params.stake_cap)


CONSENSUS.add("stake_capped", StakeCappedYuma("stake_capped", exact=False))
