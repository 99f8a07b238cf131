"""What the stages of the float epoch hand each other (frozen dataclasses of tensors).

:func:`protocol.yuma.float_epoch.run_float_epoch` runs the epoch in three stages, and the two
backends (the torch path and the fused numba kernel, :mod:`protocol.yuma._fused`) exchange
these objects rather than long argument lists:

1. steps 1-4 (activity, stake, permits, active stake) give a :class:`ValidatorSlice`;
2. steps 5-10 and the bond storage rule, on the slice, give :class:`SliceOutputs`;
3. step 11 scatters the slice back to uids and splits the emission
   (:class:`protocol.yuma.result.EpochResult`).

The steps are those of subtensor's ``epoch_mechanism`` (``pallets/subtensor/src/epoch/
run_epoch.rs``); docs/yuma.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["EpochInputs", "SliceOutputs", "ValidatorSlice"]


@dataclass(frozen=True)
class EpochInputs:
    """Batched, validated float inputs of one epoch (all on one device, float64 / bool / int64).

    ``validator_permit_prev`` is ``None`` when the caller models no permits (the permit masks
    are skipped: every row may vote) or when the chain's stored vector is empty
    (``empty_permit_vector``: as at subtensor HEAD, every weight row is then dropped while the
    active stake is not permit-masked); ``last_update``/``registration``/``block`` are ``None`` when
    the caller does not model activity or registration (no activity, outdated-weight or
    recently-registered masks).
    """

    weights: torch.Tensor  # [B, n, n]
    stake: torch.Tensor  # [B, n]
    bonds: torch.Tensor  # [B, n, n]
    rao_emission: torch.Tensor  # [B]
    last_update: torch.Tensor | None  # [B, n] int64
    registration: torch.Tensor | None  # [B, n] int64
    block: torch.Tensor | None  # [B] int64
    validator_permit_prev: torch.Tensor | None  # [B, n] bool
    owner_uid: torch.Tensor  # [B] int64, -1 for none
    commit_block: torch.Tensor | None  # [B, n] int64, a huge value for "no commit"
    lms: torch.Tensor  # [B] int64 last mechanism step block (0: unknown)
    weights_present: torch.Tensor | None = None  # [B, n, n] bool: explicit (possibly 0) entries
    #: The chain's ValidatorPermit vector is empty (a subnet's first epoch as replayed):
    #: HEAD's mask_rows_sparse then drops every weight row (``validator_permit_prev`` is None).
    empty_permit_vector: bool = False


@dataclass(frozen=True)
class ValidatorSlice:
    """Steps 1-4 of the epoch: stake and permits per uid, and the validator slice they select.

    Only rows holding a previous permit (and the owner's) can carry weights and active stake,
    so the heavy steps work on those ``k`` rows (``k`` the largest count in the batch; shorter
    subnets are padded with rows marked invalid).

    Attributes
    ----------
    stake
        ``[B, n]`` normalised stake after the stake threshold.
    active
        ``[B, n]`` bool, uids whose weights are recent enough.
    active_stake
        ``[B, n]`` normalised stake of active, permitted validators.
    permit
        ``[B, n]`` bool, the new permits (top-k stake and the owner).
    permit_prev
        ``[B, n]`` bool, the previous permits with the owner's added (the bond storage rule's
        "old permit"); all ``False`` when permits are not modelled.
    rows
        ``[B, k]`` int64, the uids of the slice rows.
    row_valid
        ``[B, k]`` bool, whether a slice row is a real permit row (not padding).
    slice_stake
        ``[B, k]`` the stake each slice row brings to consensus, incentive and dividends
        (the active stake, after the mechanism's ``consensus_stake``).
    """

    stake: torch.Tensor
    active: torch.Tensor
    active_stake: torch.Tensor
    permit: torch.Tensor
    permit_prev: torch.Tensor
    rows: torch.Tensor
    row_valid: torch.Tensor
    slice_stake: torch.Tensor


@dataclass(frozen=True)
class SliceOutputs:
    """Steps 5-10 and the bond storage rule on the validator slice (either backend).

    Attributes
    ----------
    consensus, incentive
        ``[B, n]`` per miner.
    trust, dividends
        ``[B, k]`` per slice row (validator trust and dividends, scattered back to uids by
        step 11).
    bonds
        ``[B, n, n]`` the stored bonds after the epoch (new rows for new permits, cleared rows
        for lost ones, the rest untouched).
    """

    consensus: torch.Tensor
    incentive: torch.Tensor
    trust: torch.Tensor
    dividends: torch.Tensor
    bonds: torch.Tensor
