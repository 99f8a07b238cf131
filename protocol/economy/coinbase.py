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

from protocol._numba import HAVE_NUMBA, Backend, choose_backend, jit
from protocol.economy.amm import inject_array, spot_price_array, swap_tao_for_alpha_array
from protocol.economy.emission import (
    DEFAULT_BLOCK_EMISSION,
    TOTAL_SUPPLY,
    block_emission,
    block_emission_array,
)
from protocol.economy.shares import (
    _FLOW_SHARE_READS,
    SHARE_ERAS,
    ShareEra,
    _emitting_array,
    _flow_raw_array,
    _flow_shares_fused,
    _head_injection_array,
    _normalise_shares_array,
    _root_proportion_array,
    _tao_flow_injection_array,
    emitting_mask,
    normalise_shares,
    root_proportion,
)
from protocol.economy.state import ArrayBacked, EconomyParams, NetworkState

__all__ = [
    "CoinbaseResult",
    "emitting_mask",
    "moving_price_factor",
    "root_proportion",
    "run_coinbase",
    "run_coinbase_with_views",
    "subnet_shares",
    "update_moving_price",
]


@dataclass(frozen=True)
class CoinbaseResult(ArrayBacked):
    """What one coinbase call did (rao, per subnet ``[S]`` unless noted).

    The fused coinbase's result holds its ``[S]`` rows as numpy arrays: each tensor is made
    when first read (:class:`~protocol.economy.state.ArrayBacked`).
    """

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


#: The state fields :func:`_flow_shares_fused` reads (a change of any makes its result stale).
_FLOW_SHARE_INPUTS = frozenset(_FLOW_SHARE_READS)


def subnet_shares(state: NetworkState, params: EconomyParams, block: int) -> torch.Tensor:
    """TAO shares of this block under ``params.era`` (sum 1 over emitting, enabled subnets)."""
    return _emit_and_shares(state, params, SHARE_ERAS.get(params.era), block)[1]


def _emit_and_shares(
    state: NetworkState, params: EconomyParams, era: ShareEra, block: int
) -> tuple[np.ndarray, torch.Tensor]:
    """``(emitting_mask in numpy, shares)`` at ``block``: the ``tao_flow`` shares of the next
    block (no net flow, exponent 1) in one numba pass where it can run, else
    :func:`_shares_fast` (bit-identical either way)."""
    if (
        HAVE_NUMBA
        and era.raw_shares_array is _flow_raw_array
        and era.fallback_raw is None
        and block == state.block + 1
        and not params.net_tao_flow_enabled
        and params.flow_exponent == 1.0
        and state.is_float64("flow_ema")
    ):
        # the recorder reads the next block's shares, then that block's coinbase: one pass
        fused = state.derived(
            ("tao_flow_shares", block, float(params.flow_cutoff)),
            _FLOW_SHARE_INPUTS,
            lambda: _flow_shares_fused(state, params, block),
        )
        if fused is not None:
            return fused
    emit = _emitting_array(state, block)  # emitting_mask, in numpy
    return emit, _shares_fast(state, params, era, emit, block)


def _shares(
    state: NetworkState, params: EconomyParams, era: ShareEra, emitting: torch.Tensor
) -> torch.Tensor:
    """:func:`subnet_shares` with the era and this block's :func:`emitting_mask` given."""
    raw = era.raw_shares(state, params)
    fallback = era.fallback_raw(state, params) if era.fallback_raw is not None else None
    return normalise_shares(raw, emitting, state.emission_enabled, fallback)


def _shares_fast(
    state: NetworkState, params: EconomyParams, era: ShareEra, emit: np.ndarray, block: int
) -> torch.Tensor:
    """:func:`_shares` at ``block`` with its mask in numpy, through the era's numpy raw shares
    where it has them (bit-identical: the same operations, the sums still in torch)."""
    if era.raw_shares_array is None:
        return _shares(state, params, era, torch.from_numpy(emit))
    # the raw shares list the subnets of the next block (the mask itself when that is ``block``)
    listed = emit if block == state.block + 1 else _emitting_array(state, state.block + 1)
    raw = era.raw_shares_array(state, params, listed)
    fallback = era.fallback_raw(state, params) if era.fallback_raw is not None else None
    if raw.dtype != np.float64 or (
        fallback is not None and (fallback.dtype != torch.float64 or fallback.device.type != "cpu")
    ):
        return normalise_shares(
            torch.from_numpy(raw), torch.from_numpy(emit), state.emission_enabled, fallback
        )
    return _normalise_shares_array(
        raw,
        emit,
        state.emission_enabled.numpy(),
        None if fallback is None else fallback.numpy(),
    )


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
    state: NetworkState, params: EconomyParams, *, n_blocks: int = 1, backend: Backend = "auto"
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
    backend
        ``"auto"``, ``"torch"`` or ``"fused"`` (:mod:`protocol._numba`): the ``[S]`` arithmetic
        in three numba kernels (the capped-injection eras on float64 CPU tensors), or the
        reference (numpy on the tensors' views, the transcendental functions and sums in
        torch); the same state and result either way, bit for bit.

    Returns
    -------
    tuple
        ``(state, CoinbaseResult)``.
    """
    new_state, result, _ = run_coinbase_with_views(state, params, n_blocks, backend)
    return new_state, result


def run_coinbase_with_views(
    state: NetworkState, params: EconomyParams, n_blocks: int, backend: Backend
) -> tuple[NetworkState, CoinbaseResult, dict[str, np.ndarray]]:
    """:func:`run_coinbase`, with numpy views of some of the new state's fields.

    Returns
    -------
    tuple
        ``(state, CoinbaseResult, views)``: ``views[name]`` shares its memory with
        ``state.<name>`` (what ``.numpy()`` of it gives), for the fields the fused coinbase
        already holds as numpy arrays; empty on the reference path. A caller that reads the
        new state in numpy (:func:`protocol.economy.step.tempo_step`'s drain) skips those
        conversions.
    """
    if n_blocks < 1:
        raise ValueError(f"n_blocks: expected >= 1, got {n_blocks}")
    era = SHARE_ERAS.get(params.era)
    if choose_backend(backend, _fused_obstacles(state, era)) == "fused":
        fused = _run_coinbase_fused_views(state, params, era, n_blocks)
        if fused is not None:
            return fused
    return (*_run_coinbase_arrays(state, params, era, n_blocks), {})


def _run_coinbase_arrays(
    state: NetworkState, params: EconomyParams, era: ShareEra, n_blocks: int
) -> tuple[NetworkState, CoinbaseResult]:
    """:func:`run_coinbase`'s reference: numpy on views of the state's tensors."""
    block = state.block + 1
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
        pending_validator=as_tensor(state.pending_validator.numpy() + remainder * 0.5 - root_alpha),
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


# ---------------------------------------------------------------------- the fused path

#: The eras whose injection the fused kernels know: the capped injection with the cap of
#: ``tao_flow`` (``min(alpha_emission, E_b)``) or of ``head`` (``root_prop · alpha_emission``).
_CAP_MODES = {_tao_flow_injection_array: 0, _head_injection_array: 1}
#: ``2**k`` for the halvings ``k`` (exact: equal to ``torch.pow(2.0, k)`` there, checked by
#: the tests), so the block emission needs no power in torch.
_POW2 = np.ldexp(1.0, np.arange(64))
#: The block emission's constants as the reference's numpy arithmetic sees them (float64).
_SUPPLY = float(TOTAL_SUPPLY)
_FULL_EMISSION = float(DEFAULT_BLOCK_EMISSION)
#: The float fields the kernels read; float64 each (other dtypes take the reference path).
_FLOAT_FIELDS = (
    "pool_tao",
    "pool_alpha",
    "pool_weight_alpha",
    "alpha_minted",
    "alpha_burned",
    "alpha_recycled",
    "protocol_alpha",
    "moving_price",
    "flow_ema",
    "cost_ema",
    "flow_acc",
    "root_sell_acc",
    "pending_server",
    "pending_validator",
    "pending_root",
    "pending_owner",
)
#: Rows of the block the last kernel writes (one allocation for the step's new arrays).
_OUT_ROWS = (
    "bought",
    "pool_tao",
    "pool_alpha",
    "alpha_out",
    "owner_cut",
    "root_alpha",
    "alpha_minted",
    "alpha_recycled",
    "protocol_alpha",
    "pending_owner",
    "pending_server",
    "pending_validator",
    "pending_root",
    "moving_price",
    "flow_ema",
    "cost_ema",
    "flow_acc",
    "root_sell_acc",
    "tao_emission",
)
#: The state fields the fused coinbase reads, in the order it unpacks them.
_COINBASE_READS = (
    "pool_tao",
    "pool_alpha",
    "pool_weight_alpha",
    "alpha_minted",
    "alpha_recycled",
    "moving_price",
    "alpha_burned",
    "start_block",
    "owner_cut_enabled",
    "active",
    "protocol_alpha",
    "pending_owner",
    "pending_server",
    "pending_validator",
    "pending_root",
    "flow_ema",
    "cost_ema",
    "flow_acc",
    "root_sell_acc",
)
#: The rows of that block the coinbase's result holds besides the state's.
_RESULT_ROWS = ("tao_emission", "bought", "alpha_out", "owner_cut", "root_alpha")
#: The state fields the fused coinbase replaces by rows of that block (same names).
_STATE_ROWS = tuple(name for name in _OUT_ROWS if name not in _RESULT_ROWS)


def _fused_obstacles(state: NetworkState, era: ShareEra) -> list[str]:
    """Why the fused coinbase cannot run on ``state`` under ``era`` (empty: it can)."""
    if era.injection_array not in _CAP_MODES:
        return [f"era {era.name!r} has no fused injection"]
    # (one call for the usual case, every field a float64 view; is_float64 names the first
    # field that is not)
    if state.all_float64_cpu(_FLOAT_FIELDS):
        return []
    for name in _FLOAT_FIELDS:
        if not state.is_float64(name, cpu=True):
            return [f"{name} is not a float64 CPU tensor"]
    return []  # pragma: no cover - all_float64_cpu answers as is_float64 does


@jit
def _nan_max(x: float, low: float) -> float:  # pragma: no cover - compiled by numba
    """``np.maximum(x, low)`` of one element (NaN stays NaN)."""
    return x if (x != x or x > low) else low


@jit
def _nan_min(x: float, high: float) -> float:  # pragma: no cover - compiled by numba
    """``np.minimum(x, high)`` of one element (NaN stays NaN)."""
    return x if (x != x or x < high) else high


@jit
def _coinbase_pre(
    pool_tao: np.ndarray,
    pool_alpha: np.ndarray,
    w0: np.ndarray,
    alpha_minted: np.ndarray,
    alpha_burned: np.ndarray,
    alpha_recycled: np.ndarray,
    start_block: np.ndarray,
    first_block: float,
    halving: float,
    n_blocks: float,
    moving_price: np.ndarray,
    emit: np.ndarray,
    out: np.ndarray,
) -> bool:  # pragma: no cover - compiled by numba
    """Rows of ``out``: spot price, alpha issuance, the clamped ``frac`` of the block
    emission, the moving price's ``lo`` and ``hi``, the emitting subnets' moving price.
    Returns whether every subnet has started (the moving price's closed form applies)."""
    started = True
    for i in range(pool_tao.shape[0]):
        denom = (1.0 - w0[i]) * pool_alpha[i]
        out[0, i] = w0[i] * pool_tao[i] / _nan_max(denom, 1e-300) if denom > 0 else 0.0
        issuance = alpha_minted[i] - alpha_burned[i] - alpha_recycled[i]
        out[1, i] = issuance
        clamped = 0.0 if issuance < 0.0 else issuance
        frac = 1.0 - clamped / _SUPPLY
        frac = 0.0 if frac < 0.0 else frac
        out[2, i] = _nan_max(frac, 2.0**-60)
        since0 = first_block - np.float64(start_block[i])
        if not since0 >= 0:
            started = False
        lo = since0 + halving
        out[3, i] = lo
        out[4, i] = lo + n_blocks
        out[5, i] = moving_price[i] if emit[i] else 0.0
    return started


@jit
def _sum_side(values: np.ndarray, level: float) -> int:  # pragma: no cover - compiled by numba
    """Whether a float64 sum of ``values`` in any order (torch's among them) is ``> level``:
    1 yes, 0 no, -1 where orders may disagree.

    Every order of ``n`` additions is within ``(n - 1)·u·Σ|x|`` (``u = 2**-53``) of the exact
    sum, so two orders differ by at most twice that; this sum decides where it lies further
    from ``level`` than ``(n + 2)·1e-15·Σ|x|`` (over four times that bound). A NaN gives NaN
    in every order; with the finite values far from overflow, infinities of both signs give
    NaN and one sign of infinity gives it.
    """
    n = values.shape[0]
    total = 0.0
    magnitude = 0.0
    nan = False
    plus_inf = False
    minus_inf = False
    for i in range(n):
        x = values[i]
        if x != x:
            nan = True
        elif x == np.inf:
            plus_inf = True
        elif x == -np.inf:
            minus_inf = True
        else:
            total += x
            magnitude += abs(x)
    if nan:
        return 0  # NaN > level is False
    if not magnitude < 1e300 or n >= 1 << 40:
        return -1  # (an order may overflow where another does not)
    if plus_inf and minus_inf:
        return 0  # NaN
    if plus_inf:
        return 1
    if minus_inf:
        return 0
    margin = (n + 2) * 1e-15 * magnitude
    if total > level + margin:
        return 1
    if total < level - margin:
        return 0
    return -1


@jit
def _halving_counts(frac: np.ndarray, out: np.ndarray) -> bool:  # pragma: no cover - numba
    """``out = floor(-log2(frac) + 1e-12)``, the halving counts, with this platform's
    ``log2`` where its value decides the floor for any ``log2`` within a few ulps of it (as
    torch's is): False, ``out`` incomplete, where one lies within 1e-9 of an integer, or a
    fraction is not a positive finite number (the caller takes torch's ``log2``). A NaN
    fraction gives NaN, as with any ``log2``."""
    for i in range(frac.shape[0]):
        f = frac[i]
        if f != f:
            out[i] = f
            continue
        if not 0.0 < f < np.inf:
            return False
        t = -np.log2(f) + 1e-12
        k = np.floor(t)
        if t - k < 1e-9 or (k + 1.0) - t < 1e-9:
            return False
        out[i] = k
    return True


@jit
def _coinbase_mid(
    pre: np.ndarray,
    halvings: np.ndarray,
    emit: np.ndarray,
    shares: np.ndarray,
    e_b: float,
    root_weighted: float,
    cap_mode: int,
    n_blocks: float,
    pool_tao: np.ndarray,
    pool_alpha: np.ndarray,
    w0: np.ndarray,
    resolve_weights: bool,
    pow2: np.ndarray,
    closed_form: bool,
    digamma: np.ndarray,
    trigamma: np.ndarray,
    alpha: float,
    halving: float,
    out: np.ndarray,
) -> bool:  # pragma: no cover - compiled by numba
    """The block emission, root proportion, capped injection, pool injection and the swap's
    base and exponent; with ``closed_form`` the moving price factor's exponent (``digamma``
    and ``trigamma``: rows 0 and 1 of each at ``lo`` and ``hi``). Rows of ``out``: tao
    emission (one block), alpha emission, root proportion, tao_in, alpha_in, excess, pool
    TAO and alpha after the injection, weights, swap base, swap exponent, factor exponent,
    ``tao_in + excess``. ``halvings``: the halving counts ``floor(-log2(frac) + 1e-12)``
    (:func:`_halving_counts`). Returns False where a halving count is out of the table (the
    caller takes the reference path)."""
    for i in range(pre.shape[1]):
        price = pre[0, i]
        issuance_raw = pre[1, i]
        issuance = 0.0 if issuance_raw < 0.0 else issuance_raw
        k = halvings[i]
        if k != k:
            power = k
        elif 0.0 <= k < pow2.shape[0]:
            power = pow2[int(k)]
        else:
            return False
        emission = np.floor((1.0 / power) * _FULL_EMISSION)
        alpha_block = 0.0 if issuance >= _SUPPLY else emission
        alpha_emission = alpha_block if emit[i] else 0.0
        denom = issuance_raw + root_weighted
        root_prop = (1.0 / _nan_max(denom, 1e-300)) * root_weighted if denom > 0 else 0.0
        tao_emission = e_b * shares[i]
        # tao_flow: min(alpha_emission, E_b); head: root_prop · alpha_emission
        cap = _nan_min(alpha_emission, e_b) if cap_mode == 0 else root_prop * alpha_emission
        safe_price = 1e-300 if price < 1e-300 else price
        priced = price > 0
        alpha_in = tao_emission / safe_price if priced else 0.0
        capped = alpha_in > cap
        if capped:
            alpha_in = cap
        tao_in = cap * price if capped else tao_emission
        if not priced:
            tao_in = 0.0
        excess = tao_emission - tao_in
        tao_in = tao_in * n_blocks
        alpha_in = alpha_in * n_blocks
        excess = excess * n_blocks
        new_tao = pool_tao[i] + tao_in
        new_alpha = pool_alpha[i] + alpha_in
        w1 = w0[i]
        if resolve_weights:
            denom_w = new_tao + price * new_alpha
            if denom_w > 0 and price > 0:
                w1 = price * new_alpha / _nan_max(denom_w, 1e-300)
        out[0, i] = tao_emission
        out[1, i] = alpha_emission
        out[2, i] = root_prop
        out[3, i] = tao_in
        out[4, i] = alpha_in
        out[5, i] = excess
        out[6, i] = new_tao
        out[7, i] = new_alpha
        out[8, i] = w1
        out[9, i] = new_tao / _nan_max(new_tao + excess * 1.0, 1e-300)
        out[10, i] = (1.0 - w1) / _nan_max(w1, 1e-300)
        if closed_form:
            inv_sum = digamma[1, i] - digamma[0, i]
            inv_sq_sum = trigamma[0, i] - trigamma[1, i]
            sum_alpha = alpha * (n_blocks - halving * inv_sum)
            sum_alpha_sq = (alpha * alpha) * (
                (n_blocks - (2.0 * halving) * inv_sum) + (halving * halving) * inv_sq_sum
            )
            out[11, i] = -sum_alpha - 0.5 * sum_alpha_sq
        out[12, i] = tao_in + excess
    return True


@jit
def _coinbase_post(
    mid: np.ndarray,
    power: np.ndarray,
    factor: np.ndarray,
    n_blocks: float,
    cut_enabled: np.ndarray,
    owner_cut_fraction: float,
    root_sell: bool,
    recycle_bought: bool,
    keep: float,
    emit: np.ndarray,
    active: np.ndarray,
    alpha_minted: np.ndarray,
    alpha_recycled: np.ndarray,
    protocol_alpha: np.ndarray,
    pending_owner: np.ndarray,
    pending_server: np.ndarray,
    pending_validator: np.ndarray,
    pending_root: np.ndarray,
    moving_price: np.ndarray,
    flow_ema: np.ndarray,
    cost_ema: np.ndarray,
    flow_acc: np.ndarray,
    root_sell_acc: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba
    """The chain buy, the participants' side, the moving price and the flow EMAs: the rows
    of ``out`` are named by ``_OUT_ROWS`` (their order here)."""
    for i in range(mid.shape[1]):
        excess = mid[5, i]
        pool_tao = mid[6, i]
        pool_alpha = mid[7, i]
        w1 = mid[8, i]
        bought = pool_alpha * (1.0 - power[i]) if (excess > 0 and pool_tao > 0) else 0.0
        pool_tao = pool_tao + excess
        pool_alpha = pool_alpha - bought
        alpha_out = mid[1, i] * n_blocks
        cut_frac = (1.0 if cut_enabled[i] else 0.0) * owner_cut_fraction
        owner_cut = alpha_out * cut_frac
        remainder = alpha_out - owner_cut
        root_alpha = mid[2, i] * remainder * 0.5
        recycled = alpha_recycled[i] + (0.0 if root_sell else root_alpha)
        if recycle_bought:
            recycled = recycled + bought
        denom = (1.0 - w1) * pool_alpha
        new_price = w1 * pool_tao / _nan_max(denom, 1e-300) if denom > 0 else 0.0
        f = factor[i]
        moved = f * moving_price[i] + (1.0 - f) * _nan_min(new_price, 1.0)
        flowed = mid[12, i]
        cost = (flowed - root_sell_acc[i]) / n_blocks
        flow = keep * flow_ema[i] + (1.0 - keep) * (flow_acc[i] / n_blocks)
        cost_next = keep * cost_ema[i] + (1.0 - keep) * cost
        if not emit[i]:
            moved = moving_price[i]
            flow = flow_ema[i]
            cost_next = cost_ema[i]
        reset = emit[i] or not active[i]
        out[0, i] = bought
        out[1, i] = pool_tao
        out[2, i] = pool_alpha
        out[3, i] = alpha_out
        out[4, i] = owner_cut
        out[5, i] = root_alpha
        out[6, i] = alpha_minted[i] + mid[4, i] + alpha_out
        out[7, i] = recycled
        out[8, i] = protocol_alpha[i] + (0.0 if recycle_bought else bought)
        out[9, i] = pending_owner[i] + owner_cut
        out[10, i] = pending_server[i] + remainder * 0.5
        out[11, i] = pending_validator[i] + remainder * 0.5 - root_alpha
        out[12, i] = pending_root[i] + (root_alpha if root_sell else 0.0)
        out[13, i] = moved
        out[14, i] = flow if active[i] else 0.0
        out[15, i] = cost_next if active[i] else 0.0
        out[16, i] = 0.0 if reset else flow_acc[i]
        out[17, i] = 0.0 if reset else root_sell_acc[i]
        out[18, i] = mid[0, i] * n_blocks


#: The state fields :func:`_root_stake_total` reads.
_ROOT_STAKE_INPUTS = frozenset(("root_stake",))


def _root_stake_total(state: NetworkState) -> float:
    """``float(state.root_stake.sum())`` (the torch sum), kept with the state until its root
    stake is replaced (it changes far less often than once per step)."""
    return state.derived(
        "root_stake_total", _ROOT_STAKE_INPUTS, lambda: float(state.root_stake.sum())
    )


def _run_coinbase_fused(
    state: NetworkState, params: EconomyParams, era: ShareEra, n_blocks: int
) -> tuple[NetworkState, CoinbaseResult] | None:
    """:func:`_run_coinbase_arrays` with the ``[S]`` arithmetic in three numba kernels (the
    same float64 operations in the same order, bit-identical); the sums, logarithm, powers,
    digamma and exponential stay in torch between them. None where a halving count falls
    outside the kernels' table (the caller takes the reference path)."""
    fused = _run_coinbase_fused_views(state, params, era, n_blocks)
    return None if fused is None else fused[:2]


def _run_coinbase_fused_views(
    state: NetworkState, params: EconomyParams, era: ShareEra, n_blocks: int
) -> tuple[NetworkState, CoinbaseResult, dict[str, np.ndarray]] | None:
    """:func:`_run_coinbase_fused` with the views of :func:`run_coinbase_with_views`."""
    block = state.block + 1
    e_b = float(block_emission(state.total_issuance))
    emit, shares = _emit_and_shares(state, params, era, block)
    n = float(n_blocks)
    m, h = params.subnet_moving_alpha, float(params.ema_price_halving_blocks)
    # the state's numpy views (each field converted once per state), fetched in one call
    (
        pool_tao0,
        pool_alpha0,
        w0,
        alpha_minted0,
        alpha_recycled0,
        moving_price0,
        alpha_burned0,
        start_block0,
        cut_enabled0,
        active0,
        protocol_alpha0,
        pending_owner0,
        pending_server0,
        pending_validator0,
        pending_root0,
        flow_ema0,
        cost_ema0,
        flow_acc0,
        root_sell_acc0,
    ) = state.views(_COINBASE_READS)
    size = emit.shape[0]
    pre = np.empty((6, size))
    started = _coinbase_pre(
        pool_tao0,
        pool_alpha0,
        w0,
        alpha_minted0,
        alpha_burned0,
        alpha_recycled0,
        start_block0,
        float(block),
        h,
        n,
        moving_price0,
        emit,
        pre,
    )
    closed_form = n_blocks > 8 and m <= 1e-3 and h > 0 and started
    as_tensor = torch.from_numpy
    # the halving counts: torch's log2 only where the floor could depend on its last ulps
    halvings = np.empty(size)
    if not _halving_counts(pre[2], halvings):
        halvings = np.floor(-torch.log2(as_tensor(pre[2])).numpy() + 1e-12)
    if closed_form:
        # lo and hi (rows 3 and 4) in one call each: both functions are elementwise scalar
        # functions in torch (its vectorised digamma maps the scalar one), so the values
        # are those of a call per row
        lo_hi = as_tensor(pre[3:5])
        digamma = torch.digamma(lo_hi).numpy()
        trigamma = torch.polygamma(1, lo_hi).numpy()
    else:
        digamma = trigamma = pre[3:5]  # (not read)
    root_weighted = _root_stake_total(state) * params.tao_weight
    # whether torch's sum of the listed moving prices exceeds 1, decided without it unless
    # the sum is within its rounding of 1
    side = _sum_side(pre[5], 1.0)
    root_sell = side == 1 if side >= 0 else float(as_tensor(pre[5]).sum()) > 1.0
    mid = np.empty((13, size))
    if not _coinbase_mid(
        pre,
        halvings,
        emit,
        shares.numpy(),
        e_b,
        root_weighted,
        _CAP_MODES[era.injection_array],
        n,
        pool_tao0,
        pool_alpha0,
        w0,
        era.resolve_weights,
        _POW2,
        closed_form,
        digamma,
        trigamma,
        m,
        h,
        mid,
    ):
        return None
    power = torch.pow(as_tensor(mid[9]), as_tensor(mid[10])).numpy()
    if closed_form:
        factor = torch.exp(as_tensor(mid[11])).numpy()
    else:
        start = state.start_block
        factor = moving_price_factor(start, block, n_blocks, params).numpy()
    minted = float(as_tensor(mid[12]).sum())
    out = np.empty((len(_OUT_ROWS), size))
    _coinbase_post(
        mid,
        power,
        factor,
        n,
        cut_enabled0,
        params.subnet_owner_cut,
        root_sell,
        params.recycle_chain_bought_alpha,
        (1.0 - params.flow_smoothing) ** n_blocks,
        emit,
        active0,
        alpha_minted0,
        alpha_recycled0,
        protocol_alpha0,
        pending_owner0,
        pending_server0,
        pending_validator0,
        pending_root0,
        moving_price0,
        flow_ema0,
        cost_ema0,
        flow_acc0,
        root_sell_acc0,
        out,
    )
    arrays = dict(zip(_OUT_ROWS, out, strict=True))  # the block's rows, as numpy views
    new_arrays = {name: arrays[name] for name in _STATE_ROWS}
    if era.resolve_weights:
        new_arrays["pool_weight_alpha"] = mid[8]
    new_state = state.replace_arrays(new_arrays, tao_minted=state.tao_minted + minted)
    # the new state's views of the fields the block wrote, and of two it kept
    views = {**new_arrays, "pool_weight_alpha": new_state.view("pool_weight_alpha")}
    views["alpha_burned"] = alpha_burned0  # read, not replaced
    # the result's tensors are made when read (few callers read a step's coinbase)
    result = CoinbaseResult.of_arrays(
        {
            "tao_emission": arrays["tao_emission"],
            "tao_in": mid[3],
            "alpha_in": mid[4],
            "excess_tao": mid[5],
            "protocol_alpha_bought": arrays["bought"],
            "alpha_out": arrays["alpha_out"],
            "owner_cut": arrays["owner_cut"],
            "root_alpha": arrays["root_alpha"],
        },
        block_emission=e_b,
        shares=shares,
        root_sell=root_sell,
        n_blocks=n_blocks,
    )
    return new_state, result, views
