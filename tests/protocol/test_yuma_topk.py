"""Validator permits: the quickselect ``topk_nonzero`` equals the chain's stable-sort rule."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.yuma.float_epoch import topk_nonzero


def chain_topk_nonzero(stake: torch.Tensor, k: int) -> torch.Tensor:
    """Reference: sort ascending (stable, so equal stakes keep uid order), drop the first n-k."""
    n = stake.shape[-1]
    nonzero = stake != 0
    if n < k:
        return nonzero
    keep = torch.zeros_like(nonzero)
    if k > 0:
        order = torch.sort(stake, dim=-1, stable=True).indices
        keep.scatter_(-1, order[..., n - k :], True)
    return nonzero & keep


@settings(max_examples=150, deadline=None)
@given(
    batch=st.integers(1, 4),
    n=st.integers(1, 80),
    k_extra=st.integers(-80, 3),
    levels=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_quickselect_permits_equal_the_stable_sort_rule(
    batch: int, n: int, k_extra: int, levels: int, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    # Few distinct stake levels (and zeros) force ties at the threshold.
    stake = torch.randint(0, levels, (batch, n), generator=g).double() * 1e9
    k = max(0, n + k_extra)
    assert torch.equal(topk_nonzero(stake, k), chain_topk_nonzero(stake, k))


def test_ties_go_to_the_higher_uid() -> None:
    stake = torch.tensor([[5.0, 3.0, 3.0, 3.0, 0.0, 1.0]])
    assert topk_nonzero(stake, 3).tolist() == [[True, False, True, True, False, False]]
