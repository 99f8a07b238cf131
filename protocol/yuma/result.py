"""The result object of one (batched) Yuma epoch."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

__all__ = ["EpochResult"]


@dataclass(frozen=True)
class EpochResult:
    """Outputs of a Yuma epoch; every field is ``[B, n]`` (``bonds`` is ``[B, n, n]``).

    Unbatched calls return the same fields without the leading batch dimension.

    Attributes
    ----------
    consensus, incentive, dividends, validator_trust
        Proportions in [0, 1] (float mode: float64; the chain stores ``floor(x * 65535)``).
    server_emission, validator_emission, emission
        Emission in the unit of ``rao_emission`` (float mode is not floored).
    validator_permit
        New permits (``vp_new``), bool.
    active
        Uids whose weights are recent enough (``last_update + cutoff >= block``), bool.
    stake
        Normalised stake after the stake threshold.
    active_stake
        Normalised stake of active, permitted validators (the consensus weights).
    bonds
        New bonds in the float storage representation (u16 value / 65535): classic bonds are
        column max-upscaled, Yuma 3 bonds are absolute. Rows follow the chain's storage rule.
    mechanism
        Name of the consensus mechanism that produced the result.
    """

    consensus: torch.Tensor
    incentive: torch.Tensor
    dividends: torch.Tensor
    validator_trust: torch.Tensor
    server_emission: torch.Tensor
    validator_emission: torch.Tensor
    emission: torch.Tensor
    validator_permit: torch.Tensor
    active: torch.Tensor
    stake: torch.Tensor
    active_stake: torch.Tensor
    bonds: torch.Tensor
    mechanism: str = "yuma"

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensor fields by name."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }

    def to_numpy(self) -> dict[str, Any]:
        """All tensor fields as numpy arrays (moved to CPU), plus ``mechanism``."""
        out: dict[str, Any] = {k: v.detach().cpu().numpy() for k, v in self.tensors().items()}
        out["mechanism"] = self.mechanism
        return out

    def unbatched(self) -> EpochResult:
        """Drop a leading batch dimension of size 1."""
        return EpochResult(**{k: v[0] for k, v in self.tensors().items()}, mechanism=self.mechanism)

    def total_emission(self) -> np.ndarray:
        """Per-batch sum of ``emission`` (a conservation check)."""
        return self.emission.sum(-1).detach().cpu().numpy()
