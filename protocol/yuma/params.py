"""Epoch hyperparameters: one frozen dataclass in float units, with chain-integer conversions.

Defaults are subtensor's for a newly created subnet (``runtime/src/lib.rs`` and
``init_new_network`` in ``subnets/subnet.rs``, ``main`` @ ``14bc6f9f``; docs/yuma.md): Yuma 3 on,
64 validator permits, κ = 32767/65535, bonds moving average 0.9, bonds penalty 1, liquid alpha off
with (low, high) = (45875, 58982)/65535, steepness 1000, activity cutoff factor 13 889 ‰ of tempo.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from protocol.units import DEFAULT_TEMPO, U16_MAX

__all__ = ["EpochParams", "ParamsError", "blocks_until_next_epoch"]

KAPPA_U16_DEFAULT = 32_767
BMA_U32_DEFAULT = 900_000
BONDS_PENALTY_U16_DEFAULT = U16_MAX
ALPHA_LOW_U16_DEFAULT = 45_875
ALPHA_HIGH_U16_DEFAULT = 58_982
STEEPNESS_DEFAULT = 1_000
ACTIVITY_CUTOFF_FACTOR_MILLI = 13_889
LEGACY_ACTIVITY_CUTOFF = 5_000
MAX_VALIDATORS_DEFAULT = 64


#: Copies made by :meth:`EpochParams.with_`: (id of the original, typed changes) to
#: (original, copy); cleared when full.
_WITH_CACHE: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_WITH_CACHE_SIZE = 256


class ParamsError(ValueError):
    """An epoch parameter is outside the range the chain accepts."""


@dataclass(frozen=True)
class EpochParams:
    """Hyperparameters of one Yuma epoch (float units; chain integers via :meth:`from_chain`).

    Attributes
    ----------
    kappa
        Consensus majority threshold κ (chain ``Kappa``/65535; default 32767/65535 ≈ 0.49999).
    bonds_moving_average
        ``BondsMovingAverage``/1e6; the bond EMA weight on the new value is ``1 - bonds_moving_average``.
    bonds_penalty
        β in ``Wb = W + β (Wc - W)`` (``BondsPenalty``/65535).
    yuma3
        Yuma 3 bonds (absolute, capped at 1) instead of classic max-upscaled bonds.
    liquid_alpha
        Liquid alpha on (LA2 under Yuma 3, LA1 on the classic path unless ``liquid_alpha_version``).
    liquid_alpha_version
        ``"v2"`` per-(validator, miner) sigmoid (HEAD) or ``"v1"`` per-miner logistic (2024-2025).
    alpha_low, alpha_high
        Liquid alpha bounds (``AlphaValues``/65535).
    steepness
        ``AlphaSigmoidSteepness`` (chain i16; 1000 means slope 10).
    max_validators
        ``MaxAllowedValidators`` K (top-K stake permits).
    stake_threshold
        ``StakeThreshold`` in the stake's unit (rao on chain).
    tempo
        Blocks per epoch (``Tempo``).
    activity_cutoff
        Activity cutoff in blocks; ``None`` means HEAD's ``max(1, 13889 * tempo // 1000)``.
    scheduling
        ``"head"`` (period tempo, ``lms``-based bond mask) or ``"legacy"`` (period tempo + 1).
    sparse_bond_drop
        Reproduce the on-chain sparse liquid-alpha quirk (bonds to miners absent from a weight row are
        dropped, not decayed). ``False`` decays them as the dense path does.
    stake_cap
        Used by the ``"stake_capped"`` mechanism only: the largest share of active stake one
        validator may carry in consensus and dividends.
    """

    kappa: float = KAPPA_U16_DEFAULT / U16_MAX
    bonds_moving_average: float = BMA_U32_DEFAULT / 1e6
    bonds_penalty: float = 1.0
    yuma3: bool = True
    liquid_alpha: bool = False
    liquid_alpha_version: Literal["v1", "v2"] = "v2"
    alpha_low: float = ALPHA_LOW_U16_DEFAULT / U16_MAX
    alpha_high: float = ALPHA_HIGH_U16_DEFAULT / U16_MAX
    steepness: float = float(STEEPNESS_DEFAULT)
    max_validators: int = MAX_VALIDATORS_DEFAULT
    stake_threshold: float = 0.0
    tempo: int = DEFAULT_TEMPO
    activity_cutoff: int | None = None
    scheduling: Literal["head", "legacy"] = "head"
    sparse_bond_drop: bool = True
    stake_cap: float = 0.1

    def __post_init__(self) -> None:
        for name in ("kappa", "bonds_moving_average", "bonds_penalty", "alpha_low", "alpha_high"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ParamsError(f"EpochParams.{name} must be in [0, 1], got {value!r}")
        if self.alpha_low > self.alpha_high:
            raise ParamsError(
                f"EpochParams.alpha_low ({self.alpha_low}) must not exceed alpha_high ({self.alpha_high})"
            )
        if self.max_validators < 0:
            raise ParamsError(f"EpochParams.max_validators must be >= 0, got {self.max_validators}")
        if self.tempo < 0:
            raise ParamsError(f"EpochParams.tempo must be >= 0, got {self.tempo}")
        if self.liquid_alpha_version not in ("v1", "v2"):
            raise ParamsError(
                f"EpochParams.liquid_alpha_version must be 'v1' or 'v2', got {self.liquid_alpha_version!r}"
            )
        if self.scheduling not in ("head", "legacy"):
            raise ParamsError(
                f"EpochParams.scheduling must be 'head' or 'legacy', got {self.scheduling!r}"
            )
        if not 0.0 < self.stake_cap <= 1.0:
            raise ParamsError(f"EpochParams.stake_cap must be in (0, 1], got {self.stake_cap!r}")

    @property
    def cutoff_blocks(self) -> int:
        """Activity cutoff in blocks (HEAD: factor × tempo; legacy: 5 000 unless set)."""
        if self.activity_cutoff is not None:
            return int(self.activity_cutoff)
        if self.scheduling == "legacy":
            return LEGACY_ACTIVITY_CUTOFF
        return max(1, ACTIVITY_CUTOFF_FACTOR_MILLI * self.tempo // 1000)

    @property
    def epoch_period(self) -> int:
        """Blocks between epochs: tempo (HEAD) or tempo + 1 (legacy)."""
        return self.tempo + (1 if self.scheduling == "legacy" else 0)

    def with_(self, **changes: Any) -> EpochParams:
        """Return a copy with ``changes`` applied (validated again).

        The parameters are immutable, so equal requests share one copy: the drain asks for
        the same tempo's parameters at every epoch (a ``replace`` re-runs the validation).
        """
        # Keyed by identity and by typed values (1 and 1.0 are equal keys but not equal
        # parameters); the entry holds ``self``, so its id is not reused while cached.
        try:
            key = (id(self), tuple(sorted((k, type(v), v) for k, v in changes.items())))
            hit = _WITH_CACHE.get(key)
        except TypeError:  # an unhashable value: no sharing
            return replace(self, **changes)
        if hit is not None and hit[0] is self:
            return hit[1]
        copy = replace(self, **changes)
        if len(_WITH_CACHE) >= _WITH_CACHE_SIZE:
            _WITH_CACHE.clear()
        _WITH_CACHE[key] = (self, copy)
        return copy

    @classmethod
    def from_chain(
        cls,
        *,
        kappa_u16: int = KAPPA_U16_DEFAULT,
        bma_u32: int = BMA_U32_DEFAULT,
        bonds_penalty_u16: int = BONDS_PENALTY_U16_DEFAULT,
        alpha_low_u16: int = ALPHA_LOW_U16_DEFAULT,
        alpha_high_u16: int = ALPHA_HIGH_U16_DEFAULT,
        **rest: Any,
    ) -> EpochParams:
        """Build parameters from the chain's stored integers (u16 proportions, bma per 1e6)."""
        return cls(
            kappa=kappa_u16 / U16_MAX,
            bonds_moving_average=bma_u32 / 1e6,
            bonds_penalty=bonds_penalty_u16 / U16_MAX,
            alpha_low=alpha_low_u16 / U16_MAX,
            alpha_high=alpha_high_u16 / U16_MAX,
            **rest,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (for logs and result stores)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def blocks_until_next_epoch(
    netuid: int,
    tempo: int,
    block: int,
    *,
    scheduling: Literal["head", "legacy"] = "head",
    last_epoch_block: int = 0,
) -> int:
    """Blocks until a subnet's next epoch (subtensor ``coinbase/run_coinbase.rs``).

    Legacy (≤ 2026-06-24): the epoch runs when ``(block + netuid + 1) % (tempo + 1) == 0``, so
    ``tempo - (block + netuid + 1) % (tempo + 1)``. HEAD: when ``block - last_epoch_block >=
    tempo``, so ``max(0, last_epoch_block + tempo - block)`` (owner-triggered epochs and the
    per-block deferral are not modelled here).

    Examples
    --------
    >>> [blocks_until_next_epoch(netuid, 10, 5, scheduling="legacy") for netuid in (1, 2, 3)]
    [3, 2, 1]
    >>> blocks_until_next_epoch(1, 360, 1000, last_epoch_block=900)
    260
    """
    if scheduling == "legacy":
        return tempo - (block + netuid + 1) % (tempo + 1)
    return max(0, last_epoch_block + tempo - block)
