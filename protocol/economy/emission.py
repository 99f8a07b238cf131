"""Block emission with the supply halving (subtensor ``coinbase/block_emission.rs``).

The same curve gives the TAO block emission from total issuance and each subnet's alpha
emission from its own alpha issuance (``SubnetAlphaIn + SubnetAlphaOut``).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "DEFAULT_BLOCK_EMISSION",
    "TOTAL_SUPPLY",
    "block_emission",
    "block_emission_array",
    "block_emission_tensor",
    "halving_threshold",
]

#: rao per block before the first halving.
DEFAULT_BLOCK_EMISSION: int = 1_000_000_000
#: 21 M TAO in rao.
TOTAL_SUPPLY: int = 21_000_000 * 1_000_000_000


def _halvings(issuance: int) -> int:
    """Largest k with ``issuance >= TOTAL_SUPPLY * (1 - 2**-k)`` (exact integer thresholds)."""
    k = 0
    # Thresholds are exact integers up to k = 54 (2**54 > 21e15); past that the emission is 0.
    while k < 64:
        threshold = TOTAL_SUPPLY - (TOTAL_SUPPLY >> (k + 1))
        if issuance < threshold:
            return k
        k += 1
    return k


def block_emission(issuance_rao: int | float) -> int:
    """Rao emitted per block at a given issuance (subtensor ``get_block_emission_for_issuance``).

    Parameters
    ----------
    issuance_rao
        Total issuance (TAO) or a subnet's alpha issuance, in rao.

    Returns
    -------
    int
        ``floor(1e9 / 2**k)`` with ``k = floor(log2(1 / (1 - I / 21e15)))``; 0 at or above the cap.

    Examples
    --------
    >>> block_emission(0), block_emission(10_500_000 * 10**9), block_emission(15_750_000 * 10**9)
    (1000000000, 500000000, 250000000)
    """
    issuance = int(issuance_rao)
    if issuance < 0:
        raise ValueError(f"issuance_rao: expected >= 0, got {issuance_rao}")
    if issuance >= TOTAL_SUPPLY:
        return 0
    return DEFAULT_BLOCK_EMISSION >> _halvings(issuance)


def block_emission_tensor(issuance_rao: torch.Tensor) -> torch.Tensor:
    """Batched :func:`block_emission` over a float64 tensor of issuances (rao).

    Float thresholds: results can differ from the integer version only within float rounding
    of a halving boundary (the chain's fixed-point log2 has the same caveat).
    """
    issuance = issuance_rao.to(torch.float64).clamp_min(0.0)
    frac = torch.rsub(issuance / TOTAL_SUPPLY, 1.0).clamp_min(0.0)
    # k = floor(-log2(frac)); frac == 0 means the cap is reached.
    k = torch.floor(-torch.log2(frac.clamp_min(2.0**-60)) + 1e-12)
    # DEFAULT_BLOCK_EMISSION / 2**k, as torch evaluates ``scalar / tensor`` (Tensor.__rtruediv__)
    emission = torch.floor(torch.pow(2.0, k).reciprocal() * DEFAULT_BLOCK_EMISSION)
    return torch.where(issuance >= TOTAL_SUPPLY, 0.0, emission)


def block_emission_array(issuance_rao: np.ndarray) -> np.ndarray:
    """:func:`block_emission_tensor` on a float64 numpy array, bit-identical: the arithmetic
    in numpy (the clamps at 0 as ``torch.clamp_min`` treats -0.0), ``log2`` and ``pow`` in
    torch (their vectorised versions are not numpy's)."""
    issuance = np.where(issuance_rao < 0.0, 0.0, issuance_rao)
    frac = 1.0 - issuance / TOTAL_SUPPLY
    frac = np.where(frac < 0.0, 0.0, frac)
    log2 = torch.log2(torch.from_numpy(np.maximum(frac, 2.0**-60))).numpy()
    k = np.floor(-log2 + 1e-12)
    power = torch.pow(2.0, torch.from_numpy(k)).numpy()
    emission = np.floor((1.0 / power) * DEFAULT_BLOCK_EMISSION)
    return np.where(issuance >= TOTAL_SUPPLY, 0.0, emission)


def halving_threshold(k: int) -> int:
    """Issuance (rao) at which the k-th halving happens (k >= 1)."""
    return TOTAL_SUPPLY - (TOTAL_SUPPLY >> k) if k < 64 else TOTAL_SUPPLY
