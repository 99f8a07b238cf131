"""Advancing the network: one block (:func:`block_step`) or one tempo at once (:func:`tempo_step`).

Block mode follows the chain's block step (subtensor ``coinbase/block_step.rs``): registration
burns decay, user flows, the coinbase, the EMAs, then the epochs (drains) of the subnets due
this block, each subnet on its own schedule (``block − LastEpochBlock >= tempo``).

Tempo mode advances ``params.tempo`` blocks in one call. It differs from block mode in four
ways, all bounded by the tempo length:

1. shares, spot prices, block and alpha emission and root proportions are those of the tempo's
   first block (block mode recomputes them each block; they move by the moving-price EMA rate,
   ``≤ tempo · SubnetMovingAlpha ≈ 1e-3`` relative per tempo, and by the chain buys' price impact);
2. every due subnet's epoch runs at the tempo's last block (block mode staggers them), so pots
   drained in block mode hold up to one tempo less;
3. exogenous flows execute as one swap at the tempo's start (block mode: at the block they are
   given) and enter the flow EMA spread evenly over the tempo;
4. a halving crossed inside a tempo takes effect at the next tempo.

Minted TAO over a tempo is identical (``E_b · tempo`` to the emitting subnets) unless a halving
falls inside it, or, under ``tao_flow``, the first listed subnet's flow EMA turns positive (or
the last one non-positive) inside it: with no positive EMA the chain emits no TAO, and tempo
mode holds the first block's shares. ``tests/protocol/test_economy_modes.py`` bounds the
per-subnet differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from protocol._numba import Backend
from protocol.economy.coinbase import CoinbaseResult, run_coinbase, run_coinbase_with_views
from protocol.economy.drain import (
    DrainResult,
    _drain_with_views,
    _due_array,
    drain,
    due_subnets,
)
from protocol.economy.registration import decay_registration_burn
from protocol.economy.staking import apply_market_flows
from protocol.economy.state import EconomyParams, NetworkState

__all__ = ["BlockResult", "TempoResult", "block_step", "run_blocks", "tempo_step"]


@dataclass(frozen=True)
class BlockResult:
    """One block: its number, the coinbase, the drains, and the flows executed ``[S]``."""

    block: int
    coinbase: CoinbaseResult
    drain: DrainResult
    flows_executed: torch.Tensor


@dataclass(frozen=True)
class TempoResult:
    """One tempo: first and last block, the coinbase (totals), the drains, flows executed."""

    first_block: int
    last_block: int
    coinbase: CoinbaseResult
    drain: DrainResult
    flows_executed: torch.Tensor


def _flows(
    state: NetworkState, params: EconomyParams, flows: torch.Tensor | None
) -> tuple[NetworkState, torch.Tensor]:
    if flows is None:
        # (a tensor on a numpy array of zeros: the same values, without a torch dispatch)
        # (the size from the state's view: no tensor made for it)
        return state, torch.from_numpy(np.zeros(state.view("active").shape[0]))
    return apply_market_flows(state, flows, params)


def block_step(
    state: NetworkState,
    params: EconomyParams,
    *,
    flows: torch.Tensor | None = None,
    bonds_owned: bool = False,
    backend: Backend = "auto",
) -> tuple[NetworkState, BlockResult]:
    """Produce block ``state.block + 1``.

    Parameters
    ----------
    state, params
        The network and the economy's parameters.
    flows
        Optional exogenous net TAO flows ``[S]`` (rao; + buys alpha) executed by the market
        account this block (clipped, see :func:`protocol.economy.staking.apply_market_flows`).
    bonds_owned
        The caller owns ``state.bonds`` (as in :func:`tempo_step`): due epochs write their bond
        rows into it in place. Same results either way.
    backend
        ``"auto"``, ``"torch"`` or ``"fused"``: the implementation of the drain's kernels
        (:mod:`protocol._numba`).

    Returns
    -------
    tuple
        ``(state, BlockResult)``.
    """
    return _block_step(state, params, flows, bonds_owned=bonds_owned, backend=backend)


def _block_step(
    state: NetworkState,
    params: EconomyParams,
    flows: torch.Tensor | None,
    *,
    bonds_owned: bool,
    backend: Backend,
) -> tuple[NetworkState, BlockResult]:
    block = state.block + 1
    state = state.replace(reg_burn=decay_registration_burn(state.reg_burn, 1, params))
    state, executed = _flows(state, params, flows)
    state, coinbase = run_coinbase(state, params, n_blocks=1)
    due = due_subnets(state, block)
    state, drained = drain(state, params, due, block, bonds_owned=bonds_owned, backend=backend)
    state = state.replace(block=block)
    return state, BlockResult(block, coinbase, drained, executed)


def run_blocks(
    state: NetworkState,
    params: EconomyParams,
    n_blocks: int,
    *,
    flows: torch.Tensor | None = None,
    backend: Backend = "auto",
) -> tuple[NetworkState, tuple[BlockResult, ...]]:
    """``n_blocks`` calls of :func:`block_step`, copying the ``[S, n, n]`` bonds once.

    Same results as the loop; each drain then writes its subnets' bond rows into the run's own
    copy instead of copying the whole tensor (the bulk of a per-block step's cost at 128 × 256).
    ``flows`` (``[S]``, rao) are applied at every block; ``backend`` as in :func:`block_step`.
    """
    if n_blocks < 0:
        raise ValueError(f"n_blocks: expected >= 0, got {n_blocks}")
    if n_blocks == 0:
        return state, ()
    state = state.replace(bonds=state.bonds.clone())
    results = []
    for _ in range(n_blocks):
        state, result = _block_step(state, params, flows, bonds_owned=True, backend=backend)
        results.append(result)
    return state, tuple(results)


def tempo_step(
    state: NetworkState,
    params: EconomyParams,
    *,
    flows: torch.Tensor | None = None,
    bonds_owned: bool = False,
    backend: Backend = "auto",
) -> tuple[NetworkState, TempoResult]:
    """Advance ``params.tempo`` blocks at once (closed-form accumulation, one batched drain).

    The differences from ``params.tempo`` calls of :func:`block_step` are listed in the module
    docstring. ``flows`` are the tempo's total exogenous net TAO flows ``[S]`` (rao).
    ``bonds_owned``: the caller owns ``state.bonds`` (no other live state or reference shares
    it, e.g. a simulation stepping its own state), so the epochs write the new bond rows into
    it in place instead of into a copy of the whole ``[S, n, n]`` tensor; the returned state
    shares it. Same results either way. ``backend`` (``"auto"``, ``"torch"`` or ``"fused"``,
    :mod:`protocol._numba`) picks the implementation of the drain's kernels.

    Returns
    -------
    tuple
        ``(state, TempoResult)``.
    """
    n_blocks = params.tempo
    first = state.block + 1
    last = state.block + n_blocks
    # the decayed burn and the new block enter the drain's new state (neither the flows, the
    # coinbase nor the drain reads them): one new state fewer each
    reg_burn = decay_registration_burn(state.reg_burn, n_blocks, params)
    state, executed = _flows(state, params, flows)
    # the coinbase hands the drain numpy views of the fields it wrote (no second conversion)
    state, coinbase, views = run_coinbase_with_views(state, params, n_blocks, "auto")
    state, drained = _drain_with_views(
        state,
        params,
        _due_array(state, last),
        last,
        views,
        {"reg_burn": reg_burn, "block": last},
        bonds_owned=bonds_owned,
        backend=backend,
    )
    return state, TempoResult(first, last, coinbase, drained, executed)
