"""The per-block coinbase, batched over subnets (subtensor ``coinbase/run_coinbase.rs``).

:func:`run_coinbase` runs ``n_blocks`` blocks at once. With ``n_blocks = 1`` it is the chain's
block coinbase; with ``n_blocks = tempo`` it is the tempo-mode closed form, which holds the
inputs of the first block (shares, spot price, block and alpha emission, root proportion)
constant for the whole window. The pending pots, the pool injection and the moving price are
then exact sums/products over the window; the differences from per-block stepping are listed in
:func:`protocol.economy.step.tempo_step`.

Only the subnets of ``get_subnets_to_emit_to`` (:func:`emitting_mask`) take part: as in
``emit_to_subnets`` (subtensor ``run_coinbase.rs`` @ ``14bc6f9f``), a subnet with registration
or subtoken off, or not started, gets no TAO share, no ``alpha_in``, no ``alpha_out`` (so no
owner cut and nothing for its miners and validators) and no chain buy; its moving price and
flow EMAs stand still (``update_moving_prices`` and ``get_shares_flow`` run over that list) and
the TAO flow it sees accumulates until it is listed again. Its pending pots are still drained
at its epochs (``drain_pending`` runs over every subnet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from protocol.economy.amm import inject_array, spot_price_array, swap_tao_for_alpha_array
from protocol.economy.emission import block_emission, block_emission_array
from protocol.economy.shares import (
    SHARE_ERAS,
    ShareEra,
    _emitting_array,
    _root_proportion_array,
    emitting_mask,
    normalise_shares,
    root_proportion,
)
from protocol.economy.state import EconomyParams, NetworkState

__all__ = [
    "CoinbaseResult",
    "emitting_mask",
    "moving_price_factor",
    "root_proportion",
    "run_coinbase",
    "subnet_shares",
    "update_moving_price",
]


@dataclass(frozen=True)
class CoinbaseResult:
    """What one coinbase call did (rao, per subnet ``[S]`` unless noted)."""

    block_emission: float
    shares: torch.Tensor
    tao_emission: torch.Tensor
    tao_in: torch.Tensor
    alpha_in: torch.Tensor
    excess_tao: torch.Tensor
    protocol_alpha_bought: torch.Tensor
    alpha_out: torch.Tensor
    owner_cut: torch.Tensor
    root_alpha: torch.Tensor
    root_sell: bool
    n_blocks: int


def subnet_shares(state: NetworkState, params: EconomyParams, block: int) -> torch.Tensor:
    """TAO shares of this block under ``params.era`` (sum 1 over emitting, enabled subnets)."""
    emitting = torch.from_numpy(_emitting_array(state, block))  # emitting_mask, in numpy
    return _shares(state, params, SHARE_ERAS.get(params.era), emitting)


def _shares(
    state: NetworkState, params: EconomyParams, era: ShareEra, emitting: torch.Tensor
) -> torch.Tensor:
    """:func:`subnet_shares` with the era and this block's :func:`emitting_mask` given."""
    raw = era.raw_shares(state, params)
    fallback = era.fallback_raw(state, params) if era.fallback_raw is not None else None
    return normalise_shares(raw, emitting, state.emission_enabled, fallback)


def moving_price_factor(
    start_block: torch.Tensor, first_block: int, n_blocks: int, params: EconomyParams
) -> torch.Tensor:
    """``Π_k (1 − α_eff(b_k))`` over blocks ``first_block … first_block + n − 1`` ``[S]``.

    ``α_eff = SubnetMovingAlpha · b / (b + h)``, ``b`` = blocks since ``start_call`` (warm-up).
    """
    m, h = params.subnet_moving_alpha, float(params.ema_price_halving_blocks)
    # ``scalar - tensor`` is torch.rsub (spelt out: the operator goes through a Python wrapper)
    since0 = torch.rsub(start_block.to(torch.float64), first_block)
    if n_blocks > 8 and m <= 1e-3 and h > 0 and bool((since0 >= 0).all()):
        # Closed form for long windows: log Π(1 − α_k) = −Σα − Σα²/2 − …, with
        # Σ b/(b+h) = n − h·(ψ(b0+h+n) − ψ(b0+h)) and Σ 1/(b+h)² = ψ1(b0+h) − ψ1(b0+h+n).
        # Truncation error ~ n·α³/3 (< 1e-13 for SubnetMovingAlpha <= 1e-3 at tempo length).
        lo = since0 + h
        hi = lo + n_blocks
        inv_sum = torch.digamma(hi) - torch.digamma(lo)
        inv_sq_sum = torch.polygamma(1, lo) - torch.polygamma(1, hi)
        sum_alpha = m * torch.rsub(h * inv_sum, n_blocks)
        sum_alpha_sq = (m * m) * (torch.rsub((2.0 * h) * inv_sum, n_blocks) + (h * h) * inv_sq_sum)
        return torch.exp(-sum_alpha - 0.5 * sum_alpha_sq)
    offsets = torch.arange(n_blocks, dtype=torch.float64)
    since = (since0.unsqueeze(1) + offsets.unsqueeze(0)).clamp(min=0.0)
    alpha = m * since / (since + h)
    return torch.exp(torch.log1p(-alpha).sum(dim=1))


def _moving_price_factor_array(
    start_block: np.ndarray, first_block: int, n_blocks: int, params: EconomyParams
) -> np.ndarray:
    """:func:`moving_price_factor` with the arithmetic in numpy (the same operations in the
    same order, bit-identical) and the digamma, polygamma and exp in torch."""
    m, h = params.subnet_moving_alpha, float(params.ema_price_halving_blocks)
    since0 = first_block - start_block.astype(np.float64)
    if not (n_blocks > 8 and m <= 1e-3 and h > 0 and bool((since0 >= 0).all())):
        start = torch.from_numpy(start_block)
        return moving_price_factor(start, first_block, n_blocks, params).numpy()
    lo = since0 + h
    hi = lo + n_blocks
    lo_t, hi_t = torch.from_numpy(lo), torch.from_numpy(hi)
    inv_sum = (torch.digamma(hi_t) - torch.digamma(lo_t)).numpy()
    inv_sq_sum = (torch.polygamma(1, lo_t) - torch.polygamma(1, hi_t)).numpy()
    sum_alpha = m * (n_blocks - h * inv_sum)
    sum_alpha_sq = (m * m) * ((n_blocks - (2.0 * h) * inv_sum) + (h * h) * inv_sq_sum)
    return torch.exp(torch.from_numpy(-sum_alpha - 0.5 * sum_alpha_sq)).numpy()


def update_moving_price(
    moving_price: torch.Tensor,
    price: torch.Tensor,
    start_block: torch.Tensor,
    block: int,
    params: EconomyParams,
    n_blocks: int = 1,
) -> torch.Tensor:
    """``p̄ ← α_eff·min(p, 1) + (1 − α_eff)·p̄``, applied ``n_blocks`` times at a constant ``p``."""
    factor = moving_price_factor(start_block, block, n_blocks, params)
    return factor * moving_price + torch.rsub(factor, 1.0) * price.clamp_max(1.0)


def _ema(ema: np.ndarray, per_block: np.ndarray, smoothing: float, n_blocks: int) -> np.ndarray:
    """``n`` EMA steps toward a constant per-block value, in closed form (numpy or torch)."""
    keep = (1.0 - smoothing) ** n_blocks
    return keep * ema + (1.0 - keep) * per_block


def run_coinbase(
    state: NetworkState, params: EconomyParams, *, n_blocks: int = 1
) -> tuple[NetworkState, CoinbaseResult]:
    """Mint and inject ``n_blocks`` blocks of emission, fill the pending pots, update the EMAs.

    The block being produced is ``state.block + 1``; the state's ``block`` is not advanced here
    (the step functions do it). Order follows subtensor ``block_step.rs``: mint, coinbase,
    then the moving price and flow EMAs (after they were used for the shares).

    Parameters
    ----------
    state, params
        The network and the economy's parameters.
    n_blocks
        Blocks to run with the first block's inputs held constant (1 = exact per-block).

    Returns
    -------
    tuple
        ``(state, CoinbaseResult)``.
    """
    if n_blocks < 1:
        raise ValueError(f"n_blocks: expected >= 1, got {n_blocks}")
    block = state.block + 1
    era = SHARE_ERAS.get(params.era)
    e_b = float(block_emission(state.total_issuance))
    # emit_to_subnets runs over get_subnets_to_emit_to only: a closed subnet mints no alpha.
    emit = _emitting_array(state, block)
    emitting = torch.from_numpy(emit)
    shares = _shares(state, params, era, emitting)
    tao_emission_np = e_b * shares.numpy()  # the same product as ``e_b * shares`` in torch
    # The [S] arithmetic below runs in numpy on views of the state's tensors: the same float64
    # operations in the same order as in torch (bit-identical), at a fraction of a tensor
    # dispatch each. Sums and transcendental functions stay in torch (numpy's differ).
    pool_tao0 = state.pool_tao.numpy()
    pool_alpha0 = state.pool_alpha.numpy()
    w0 = state.pool_weight_alpha.numpy()
    price = spot_price_array(pool_tao0, pool_alpha0, w0)
    alpha_recycled = state.alpha_recycled.numpy()
    alpha_issuance = state.alpha_minted.numpy() - state.alpha_burned.numpy() - alpha_recycled
    alpha_block = block_emission_array(alpha_issuance)
    alpha_emission = np.where(emit, alpha_block, 0.0)
    root_prop = _root_proportion_array(state, params, alpha_issuance)
    if era.injection_array is not None:
        tao_in1, alpha_in1, excess1 = era.injection_array(
            tao_emission_np, price, alpha_emission, root_prop, e_b
        )
    else:
        injection = era.injection(
            torch.from_numpy(tao_emission_np),
            torch.from_numpy(price),
            torch.from_numpy(alpha_emission),
            torch.from_numpy(root_prop),
            e_b,
        )
        tao_in1 = injection.tao_in.numpy()
        alpha_in1 = injection.alpha_in.numpy()
        excess1 = injection.excess_tao.numpy()

    # Pool side: injection (price kept by the weight re-solve), then the chain buy of the excess.
    tao_in = tao_in1 * n_blocks
    alpha_in = alpha_in1 * n_blocks
    excess = excess1 * n_blocks
    pool_tao, pool_alpha, w1 = inject_array(
        pool_tao0,
        pool_alpha0,
        w0,
        tao_in,
        alpha_in,
        resolve_weights=era.resolve_weights,
        price=price,
    )
    bought = swap_tao_for_alpha_array(pool_tao, pool_alpha, w1, excess, 0.0)
    pool_tao = pool_tao + excess
    pool_alpha = pool_alpha - bought

    # Participant side: alpha_out, owner cut, 50/50 miners/validators, root share.
    alpha_out = alpha_emission * n_blocks
    # the cut where enabled, else 0 (the cut is a validated fraction in [0, 1])
    cut_frac = state.owner_cut_enabled.numpy().astype(np.float64) * params.subnet_owner_cut
    owner_cut = alpha_out * cut_frac
    remainder = alpha_out - owner_cut
    root_alpha = root_prop * remainder * 0.5
    moving_price0 = state.moving_price.numpy()
    root_sell = float(torch.from_numpy(np.where(emit, moving_price0, 0.0)).sum()) > 1.0
    pending_root = state.pending_root.numpy() + (root_alpha if root_sell else 0.0)
    recycled = alpha_recycled + (0.0 if root_sell else root_alpha)
    if params.recycle_chain_bought_alpha:
        recycled = recycled + bought

    # EMAs: flows spread evenly over the window; protocol cost = tao_in + chain buy − root sell.
    # Only listed subnets advance (update_moving_prices, get_shares_flow); an unlisted one keeps
    # its EMAs and accumulates its flows (SubnetTaoFlow is reset only when its EMA is updated).
    new_price = spot_price_array(pool_tao, pool_alpha, w1)
    # update_moving_price's arithmetic on the factor
    factor = _moving_price_factor_array(state.start_block.numpy(), block, n_blocks, params)
    moved = factor * moving_price0 + (1.0 - factor) * np.minimum(new_price, 1.0)
    moving_price = np.where(emit, moved, moving_price0)
    flow_ema0, cost_ema0 = state.flow_ema.numpy(), state.cost_ema.numpy()
    flow_acc0, root_sell_acc0 = state.flow_acc.numpy(), state.root_sell_acc.numpy()
    cost = (tao_in + excess - root_sell_acc0) / n_blocks
    flow_ema = _ema(flow_ema0, flow_acc0 / n_blocks, params.flow_smoothing, n_blocks)
    cost_ema = _ema(cost_ema0, cost, params.flow_smoothing, n_blocks)
    flow_ema = np.where(emit, flow_ema, flow_ema0)
    cost_ema = np.where(emit, cost_ema, cost_ema0)
    active = state.active.numpy()
    reset = emit | ~active

    as_tensor = torch.from_numpy
    new_state = state.replace(
        tao_minted=state.tao_minted + float(as_tensor(tao_in + excess).sum()),
        pool_tao=as_tensor(pool_tao),
        pool_alpha=as_tensor(pool_alpha),
        # the state's own tensor when the weights stay (as the tensor version returned it)
        pool_weight_alpha=state.pool_weight_alpha if w1 is w0 else as_tensor(w1),
        alpha_minted=as_tensor(state.alpha_minted.numpy() + alpha_in + alpha_out),
        alpha_recycled=as_tensor(recycled),
        protocol_alpha=as_tensor(
            state.protocol_alpha.numpy() + (0.0 if params.recycle_chain_bought_alpha else bought)
        ),
        pending_owner=as_tensor(state.pending_owner.numpy() + owner_cut),
        pending_server=as_tensor(state.pending_server.numpy() + remainder * 0.5),
        pending_validator=as_tensor(
            state.pending_validator.numpy() + remainder * 0.5 - root_alpha
        ),
        pending_root=as_tensor(pending_root),
        moving_price=as_tensor(moving_price),
        flow_ema=as_tensor(np.where(active, flow_ema, 0.0)),
        cost_ema=as_tensor(np.where(active, cost_ema, 0.0)),
        flow_acc=as_tensor(np.where(reset, 0.0, flow_acc0)),
        root_sell_acc=as_tensor(np.where(reset, 0.0, root_sell_acc0)),
    )
    result = CoinbaseResult(
        block_emission=e_b,
        shares=shares,
        tao_emission=as_tensor(tao_emission_np * n_blocks),
        tao_in=as_tensor(tao_in),
        alpha_in=as_tensor(alpha_in),
        excess_tao=as_tensor(excess),
        protocol_alpha_bought=as_tensor(bought),
        alpha_out=as_tensor(alpha_out),
        owner_cut=as_tensor(owner_cut),
        root_alpha=as_tensor(root_alpha),
        root_sell=root_sell,
        n_blocks=n_blocks,
    )
    return new_state, result
