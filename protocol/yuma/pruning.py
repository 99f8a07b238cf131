"""The pruning choice: which uid a new registration replaces (subtensor ``get_neuron_to_prune``).

Batched over subnets. The rule (subtensor ``main`` @ ``14bc6f9f``,
``subnets/registration.rs``): owner hotkeys protected by ``ImmuneOwnerUidsLimit`` are never
pruned; among the other registered uids the candidate is the lowest ``Emission``, ties to the
older registration block, then the lower uid. A non-immune candidate is pruned only while more
than ``MinNonImmuneUids`` uids are non-immune; otherwise the best immune candidate goes (and
none if there is no immune uid).
"""

from __future__ import annotations

import torch

__all__ = ["immortal_owner_uids", "neuron_to_prune"]

MIN_NON_IMMUNE_UIDS = 10
IMMUNE_OWNER_UIDS_LIMIT = 1


def _best(
    candidates: torch.Tensor, emission: torch.Tensor, registration: torch.Tensor
) -> torch.Tensor:
    """Per batch, the candidate uid with the lowest (emission, registration, uid); -1 if none."""
    emission = emission.to(torch.float64)
    lowest = torch.where(candidates, emission, torch.inf).amin(-1, keepdim=True)
    tied = candidates & (emission == lowest)
    oldest = torch.where(tied, registration, torch.iinfo(torch.int64).max).amin(-1, keepdim=True)
    tied &= registration == oldest
    first = tied.to(torch.int8).argmax(-1)  # the first True is the lowest uid
    return torch.where(tied.any(-1), first, torch.full_like(first, -1))


def immortal_owner_uids(
    owner_uid: torch.Tensor,
    owner_coldkey: torch.Tensor,
    registration: torch.Tensor,
    limit: int = IMMUNE_OWNER_UIDS_LIMIT,
) -> torch.Tensor:
    """Owner hotkeys that can never be pruned: the subnet-owner hotkey first, then the
    earliest-registered other hotkeys of the owner coldkey, up to ``limit``.

    Parameters
    ----------
    owner_uid
        ``[B]`` uid of the subnet-owner hotkey, -1 if it is not registered.
    owner_coldkey
        ``[B, n]`` bool, uids whose hotkey belongs to the owner coldkey.
    registration
        ``[B, n]`` registration blocks.
    limit
        ``ImmuneOwnerUidsLimit``.

    Returns
    -------
    torch.Tensor
        ``[B, n]`` bool.
    """
    B, n = owner_coldkey.shape
    uids = torch.arange(n, device=owner_coldkey.device)
    is_owner = uids == owner_uid.unsqueeze(-1)
    eligible = owner_coldkey | is_owner
    # rank: the owner hotkey first, then by registration block, then uid
    big = torch.iinfo(torch.int64).max // 4
    key = torch.where(is_owner, -1, registration).clamp(max=big) * (n + 1) + uids
    key = torch.where(eligible, key, torch.iinfo(torch.int64).max)
    order = torch.sort(key, dim=-1, stable=True).indices
    ranks = torch.empty_like(order).scatter_(-1, order, uids.expand(B, n))
    return eligible & (ranks < limit)


def neuron_to_prune(
    emission: torch.Tensor,
    registration: torch.Tensor,
    block: int | torch.Tensor,
    immunity_period: int | torch.Tensor,
    *,
    registered: torch.Tensor | None = None,
    protected: torch.Tensor | None = None,
    min_non_immune: int = MIN_NON_IMMUNE_UIDS,
) -> torch.Tensor:
    """The uid each subnet prunes for the next registration.

    Parameters
    ----------
    emission
        ``[B, n]`` stored ``Emission`` (any unit).
    registration
        ``[B, n]`` registration blocks (int64).
    block
        Current block (scalar or ``[B]``).
    immunity_period
        ``ImmunityPeriod`` (scalar or ``[B]``); immune means ``block - reg < immunity_period``.
    registered
        ``[B, n]`` bool, uids holding a hotkey (default: all).
    protected
        ``[B, n]`` bool, never pruned (see :func:`immortal_owner_uids`).
    min_non_immune
        ``MinNonImmuneUids``.

    Returns
    -------
    torch.Tensor
        ``[B]`` int64 uid, -1 where nothing can be pruned.

    Examples
    --------
    >>> e = torch.tensor([[5.0, 1.0, 1.0, 3.0]])
    >>> reg = torch.tensor([[0, 7, 3, 0]])
    >>> neuron_to_prune(e, reg, block=100, immunity_period=10, min_non_immune=1).tolist()
    [2]
    """
    B, n = emission.shape
    device = emission.device
    candidates = (
        torch.ones(B, n, dtype=torch.bool, device=device) if registered is None else registered
    )
    if protected is not None:
        candidates = candidates & ~protected
    block_t = torch.as_tensor(block, device=device).reshape(-1, 1)
    period = torch.as_tensor(immunity_period, device=device).reshape(-1, 1)
    immune = (block_t - registration) < period
    free = candidates & ~immune
    best_free = _best(free, emission, registration)
    best_immune = _best(candidates & immune, emission, registration)
    may_prune_free = (free.sum(-1) > min_non_immune) & (best_free >= 0)
    return torch.where(may_prune_free, best_free, best_immune)
