"""``yuma_epoch``: the public, batched float64 entry point of the Yuma epoch."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from protocol._numba import Backend
from protocol.yuma.float_epoch import run_float_epoch
from protocol.yuma.mechanisms import Mechanism, get_mechanism
from protocol.yuma.params import EpochParams
from protocol.yuma.result import EpochResult
from protocol.yuma.stages import EpochInputs

__all__ = ["yuma_epoch"]


IntLike = int | Sequence[int] | torch.Tensor


def _batched_int(
    value: IntLike | None, batch: int, device: torch.device, name: str, fill: int | None = None
) -> torch.Tensor | None:
    """A per-batch int64 vector ``[B]`` from a scalar, sequence or tensor (``None`` → ``fill``)."""
    if value is None:
        return (
            None if fill is None else torch.full((batch,), fill, dtype=torch.int64, device=device)
        )
    if (
        isinstance(value, torch.Tensor)
        and value.dtype == torch.int64
        and value.device == device
        and value.shape == (batch,)
        and batch > 1
    ):
        return value  # what the conversions below return for it (the same tensor, no copy)
    tensor = torch.as_tensor(value, device=device).to(torch.int64).reshape(-1)
    if tensor.numel() == 1:
        return tensor.expand(batch).clone()
    if tensor.numel() != batch:
        raise ValueError(f"{name}: expected a scalar or {batch} values, got {tensor.numel()}")
    return tensor


def _is_ready(value: object, device: torch.device, dtype: torch.dtype) -> bool:
    """Whether ``value`` is a tensor of ``dtype`` on ``device``: ``torch.as_tensor`` and
    ``.to`` would return it as it is, so the callers skip their dispatch."""
    return isinstance(value, torch.Tensor) and value.dtype == dtype and value.device == device


def _as(value: object, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``torch.as_tensor(value, device=device, dtype=dtype)`` (``value`` itself when ready)."""
    if _is_ready(value, device, dtype):
        return value  # type: ignore[return-value]
    return torch.as_tensor(value, device=device, dtype=dtype)


def _batched_vector(
    value: torch.Tensor | None,
    shape: tuple[int, int],
    device: torch.device,
    name: str,
    dtype: torch.dtype,
) -> torch.Tensor | None:
    """A ``[B, n]`` tensor of ``dtype`` (an unbatched ``[n]`` is broadcast over the batch)."""
    if value is None:
        return None
    if _is_ready(value, device, dtype):
        tensor = value
    else:
        tensor = torch.as_tensor(value, device=device).to(dtype)
    if tensor.dim() == 1:
        tensor = tensor.unsqueeze(0).expand(shape[0], -1)
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{name}: expected shape {list(shape)}, got {list(tensor.shape)}")
    return tensor


def _is_empty_vector(value: torch.Tensor | Sequence[bool]) -> bool:
    """Whether a permit argument is the chain's empty vector (no entries per subnet)."""
    shape = tuple(torch.as_tensor(value).shape)
    return len(shape) in (1, 2) and shape[-1] == 0


def yuma_epoch(
    weights: torch.Tensor,
    stake: torch.Tensor,
    bonds: torch.Tensor,
    *,
    params: EpochParams | None = None,
    rao_emission: float | torch.Tensor = 1.0,
    last_update: torch.Tensor | None = None,
    registration: torch.Tensor | None = None,
    block: IntLike | None = None,
    validator_permit_prev: torch.Tensor | None = None,
    owner_uid: IntLike | None = None,
    commit_block: torch.Tensor | None = None,
    lms: IntLike | None = None,
    weights_present: torch.Tensor | None = None,
    mechanism: str | Mechanism = "yuma",
    device: torch.device | str | None = None,
    inplace_bonds: bool = False,
    backend: Backend = "auto",
) -> EpochResult:
    """Run one Yuma Consensus epoch in float64, batched over subnets or replicates.

    Parameters
    ----------
    weights
        ``[B, n, n]`` (or ``[n, n]``) non-negative weights; row i is validator i's weights over
        uids, any scale (rows are normalised). Zero means "no weight entry". Negative values
        are not checked (that would cost a pass over the batch) and give meaningless results.
    stake
        ``[B, n]`` stake in any unit (rao as float is fine); compared to
        ``params.stake_threshold`` in that unit.
    bonds
        ``[B, n, n]`` previous bonds as stored u16 / 65535: classic bonds column max-upscaled,
        Yuma 3 bonds absolute. Rows of uids without a previous permit must be empty.
    params
        Hyperparameters (default: HEAD new-subnet defaults, see :class:`EpochParams`).
    rao_emission
        Emission to split (scalar or ``[B]``), in the unit the emission outputs should have.
    last_update, registration
        ``[B, n]`` blocks of the last weight update and of registration; with ``block`` they enable
        the activity cutoff, the outdated-weight mask and the recently-registered bond mask.
    block
        Current block (scalar or ``[B]``).
    validator_permit_prev
        ``[B, n]`` bool permits from the previous epoch. ``None``: permits are not modelled
        (the permit masks are skipped, every row may vote; a convenience, not a chain state).
        An empty vector (shape ``[0]`` or ``[B, 0]``) is the chain's empty ``ValidatorPermit``:
        as at subtensor HEAD (``mask_rows_sparse`` reads a missing entry as masked) every
        weight row is dropped, while the active stake is not permit-masked
        (``inplace_mask_vector`` returns early on an empty mask); see docs/yuma.md.
    owner_uid
        Subnet owner uid (scalar or ``[B]``; ``-1``/``None`` for none): keeps its self-weight,
        always passes the stake threshold and holds a permit.
    commit_block
        ``[B, n]`` earliest unexpired commit block per validator (commit-reveal mask), or ``None``.
    lms
        Last mechanism step block (``0``/``None``: ``block - tempo`` is used as the last tempo).
    weights_present
        ``[B, n, n]`` bool marking stored weight entries, including explicit zeros (they matter
        only for the on-chain liquid-alpha bond drop); ``None`` means "present where > 0".
    mechanism
        Name in :data:`protocol.yuma.CONSENSUS` or a :class:`Mechanism` instance.
    device
        Device to run on (default: the device of ``weights``).
    inplace_bonds
        Write the new bonds into ``bonds`` (float64, on ``device``) instead of a copy: saves a
        full ``[B, n, n]`` copy per epoch in long simulations.
    backend
        ``"auto"`` (default: the fused numba kernel on CPU when it supports the mechanism,
        else torch), ``"torch"`` (the reference path, any device) or ``"fused"`` (raises
        ``ValueError`` where it cannot run): protocol's one backend switch
        (:mod:`protocol._numba`); see :func:`protocol.yuma.float_epoch.resolve_backend`.

    Returns
    -------
    EpochResult
        ``[B, n]`` outputs (``bonds`` ``[B, n, n]``); unbatched inputs give unbatched outputs.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    >>> s = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    >>> r = yuma_epoch(w, s, torch.zeros(3, 3, dtype=torch.float64), rao_emission=1e9)
    >>> [round(x) for x in r.emission.tolist()]
    [250000000, 250000000, 500000000]
    """
    params = params or EpochParams()
    mech = get_mechanism(mechanism)
    dev = torch.device(device) if device is not None else weights.device
    unbatched = weights.dim() == 2
    w = _as(weights, dev, torch.float64)
    s = _as(stake, dev, torch.float64)
    b = _as(bonds, dev, torch.float64)
    if unbatched:
        w, s, b = w.unsqueeze(0), s.unsqueeze(0), b.unsqueeze(0)
    if w.dim() != 3 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"weights: expected [B, n, n] or [n, n], got {list(weights.shape)}")
    B, n = w.shape[0], w.shape[-1]
    if tuple(s.shape) != (B, n):
        raise ValueError(f"stake: expected shape {[B, n]}, got {list(stake.shape)}")
    if tuple(b.shape) != (B, n, n):
        raise ValueError(f"bonds: expected shape {[B, n, n]}, got {list(bonds.shape)}")
    emission = _as(rao_emission, dev, torch.float64).reshape(-1)
    if emission.numel() == 1:
        emission = emission.expand(B)
    owner = _batched_int(owner_uid, B, dev, "owner_uid", fill=-1)
    assert owner is not None
    empty_permits = validator_permit_prev is not None and _is_empty_vector(validator_permit_prev)
    if empty_permits:
        validator_permit_prev = None
    inputs = EpochInputs(
        weights=w,
        stake=s,
        bonds=b,
        rao_emission=emission,
        last_update=_batched_vector(last_update, (B, n), dev, "last_update", torch.int64),
        registration=_batched_vector(registration, (B, n), dev, "registration", torch.int64),
        block=_batched_int(block, B, dev, "block"),
        validator_permit_prev=_batched_vector(
            validator_permit_prev, (B, n), dev, "validator_permit_prev", torch.bool
        ),
        owner_uid=owner,
        commit_block=_batched_vector(commit_block, (B, n), dev, "commit_block", torch.int64),
        lms=_batched_int(lms, B, dev, "lms", fill=0),  # type: ignore[arg-type]
        weights_present=None
        if weights_present is None
        else torch.as_tensor(weights_present, device=dev, dtype=torch.bool).reshape(B, n, n),
        empty_permit_vector=empty_permits,
    )
    result = run_float_epoch(inputs, params, mech, inplace_bonds=inplace_bonds, backend=backend)
    return result.unbatched() if unbatched else result
