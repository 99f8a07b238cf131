"""Subnet TAO shares and pool injection, in selectable eras (docs/economy.md, "Eras").

Each era is a :class:`ShareEra` registered in :data:`SHARE_ERAS` (a
:class:`protocol.registry.Registry`), so a new era is one more registration:

* ``price_ema`` (Feb-Jul 2025 launch rule): share ∝ moving price; ``alpha_in = min(tao_in/p,
  alpha_emission)`` with ``tao_in`` *not* reduced when capped (the price rises: no weight re-solve).
* ``price_ema_subsidy`` (Jul-Nov 2025): as ``price_ema``, but a subnet whose price is below its
  share gets ``tao_in = p·E_b`` and ``alpha_in = alpha_emission``, its remaining TAO buying
  alpha (a chain buy); the pool is constant product (injections move the price).
* ``tao_flow`` (main 2025-11-04 to 2026-06-21): share ∝ positive part of the TAO-flow EMA (net
  of protocol cost when ``net_tao_flow_enabled``); ``alpha_in = tao_in/p`` capped at
  ``min(alpha_emission, E_b)``; the excess TAO buys alpha (recycled or kept as protocol alpha,
  ``recycle_chain_bought_alpha``).
* ``price_root_prop`` (main 2026-06-22 to 06-29, PR #2781): share ∝ moving price × root
  proportion × (1 − MinerBurned); injection as ``head``.
* ``head`` (main 2026-06-30, ``14bc6f9f``): share ∝ moving price × (1 − MinerBurned);
  ``alpha_in`` capped at ``root_prop · alpha_emission``; the excess TAO buys alpha for the
  protocol.

Which era (and which defaults) the chain ran on a date: :mod:`protocol.economy.history`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from protocol._numba import jit
from protocol.registry import Registry

if TYPE_CHECKING:  # types only: state.py looks eras up here to check EconomyParams.era
    from protocol.economy.state import EconomyParams, NetworkState

__all__ = [
    "SHARE_ERAS",
    "Injection",
    "ShareEra",
    "emitting_mask",
    "normalise_shares",
    "root_proportion",
]


def root_proportion(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    """``root_prop_i = R·w / (R·w + alpha_issuance_i)`` with ``R`` the TAO staked on root ``[S]``."""
    return _root_proportion(state, params, state.alpha_issuance)


def _root_proportion(
    state: NetworkState, params: EconomyParams, alpha_issuance: torch.Tensor
) -> torch.Tensor:
    """:func:`root_proportion` with the state's ``alpha_issuance`` given (the coinbase has it)."""
    root_weighted = float(state.root_stake.sum()) * params.tao_weight
    denom = root_weighted + alpha_issuance
    # ``scalar / tensor`` is ``reciprocal(tensor) * scalar`` in torch (Tensor.__rtruediv__)
    return torch.where(denom > 0, denom.clamp_min(1e-300).reciprocal() * root_weighted, 0.0)


def _root_proportion_array(
    state: NetworkState, params: EconomyParams, alpha_issuance: np.ndarray
) -> np.ndarray:
    """:func:`_root_proportion` on a numpy ``alpha_issuance`` (bit-identical: the root stake is
    still summed in torch, and ``reciprocal`` is the correctly rounded ``1 / x``)."""
    root_weighted = float(state.root_stake.sum()) * params.tao_weight
    denom = alpha_issuance + root_weighted
    return np.where(denom > 0, (1.0 / np.maximum(denom, 1e-300)) * root_weighted, 0.0)


def _clamp_min_array(x: np.ndarray, low: float) -> np.ndarray:
    """``torch.clamp_min`` in numpy: ``x`` unless ``x < low`` (keeps -0.0 and NaN as torch
    does; ``np.maximum(-0.0, 0.0)`` is +0.0)."""
    return np.where(x < low, low, x)


def _clamp_max_array(x: np.ndarray, high: float) -> np.ndarray:
    """``torch.clamp_max`` in numpy: ``x`` unless ``x > high`` (signed zeros and NaN as torch)."""
    return np.where(x > high, high, x)


def _emitting_array(state: NetworkState, block: int) -> np.ndarray:
    """:func:`emitting_mask` as a numpy bool array (the same four conditions)."""
    return (
        state.active.numpy()
        & state.subtoken_enabled.numpy()
        & state.registration_allowed.numpy()
        & (state.start_block.numpy() <= block)
    )


def emitting_mask(state: NetworkState, block: int) -> torch.Tensor:
    """``get_subnets_to_emit_to`` at ``block``: started, subtoken enabled, registration allowed.

    subtensor ``pallets/subtensor/src/coinbase/subnet_emissions.rs`` @ ``14bc6f9f`` (HEAD,
    2026-06-30): not root (root is no slot here), ``FirstEmissionBlockNumber`` set (the
    start_call), ``SubtokenEnabled``, ``get_network_registration_allowed``. Only these subnets
    get a TAO share, pool injection and ``alpha_out``; only their moving price and flow EMAs
    advance. On main from 2025-12-09 (PR #2246); until 2026-04-22 the last filter read
    "registration or PoW registration allowed" (PoW registration removed in PR #2382), which
    the simulator, having no PoW registration, reads as "registration allowed".
    ``[S]`` bool.
    """
    return (
        state.active
        & state.subtoken_enabled
        & state.registration_allowed
        & (state.start_block <= block)
    )


@dataclass(frozen=True)
class Injection:
    """Pool-side injection of one block, per subnet ``[S]`` (rao)."""

    tao_in: torch.Tensor
    alpha_in: torch.Tensor
    #: TAO spent on a protocol chain buy of alpha (``tao_emission − tao_in``).
    excess_tao: torch.Tensor


@dataclass(frozen=True)
class ShareEra:
    """One coinbase era: how TAO shares are computed and how emission enters the pools."""

    name: str
    #: ``(state, params) -> raw weights [S]`` (unnormalised, >= 0) before masking.
    raw_shares: Callable[[NetworkState, EconomyParams], torch.Tensor]
    #: ``(tao_emission, price, alpha_emission, root_prop, block_emission) -> Injection``.
    injection: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float], Injection]
    #: Re-solve the balancer weights on injection (False: constant product, price moves).
    resolve_weights: bool = True
    #: Raw weights used when every listed subnet's raw weight is 0 (HEAD's ``get_shares``
    #: falls back to the price shares); ``None``: the shares stay 0 and no TAO is emitted, as
    #: ``get_shares_flow`` and the price-share eras do.
    fallback_raw: Callable[[NetworkState, EconomyParams], torch.Tensor] | None = None
    #: :attr:`injection` on numpy float64 arrays with bit-identical results (the coinbase's
    #: fast path), returning ``(tao_in, alpha_in, excess_tao)``; ``None``: the coinbase calls
    #: :attr:`injection` on tensors.
    injection_array: (
        Callable[
            [np.ndarray, np.ndarray, np.ndarray, np.ndarray, float],
            tuple[np.ndarray, np.ndarray, np.ndarray],
        ]
        | None
    ) = None
    #: :attr:`raw_shares` as a numpy float64 array with bit-identical values, given the
    #: subnets listed at ``state.block + 1`` (:func:`emitting_mask` in numpy): the share
    #: computation's fast path; ``None``: :attr:`raw_shares` on tensors.
    raw_shares_array: Callable[[NetworkState, EconomyParams, np.ndarray], np.ndarray] | None = None


SHARE_ERAS: Registry[ShareEra] = Registry("coinbase era", entry_point_group="govsim.coinbase_eras")


def normalise_shares(
    raw: torch.Tensor,
    emit_mask: torch.Tensor,
    enabled: torch.Tensor,
    fallback: torch.Tensor | None = None,
) -> torch.Tensor:
    """Shares over the emitting subnets, zero for disabled ones, renormalised.

    subtensor ``get_subnet_block_emissions`` (``coinbase/subnet_emissions.rs`` @ ``14bc6f9f``).
    If every emitting subnet has a zero raw weight, ``fallback`` raw weights are used (HEAD
    falls back to the price shares), or every share is 0 without one (nothing is emitted);
    subnets with ``SubnetEmissionEnabled = false`` get 0 and the rest are renormalised.
    """
    tensors = (raw, emit_mask, enabled) if fallback is None else (raw, emit_mask, enabled, fallback)
    if raw.dtype != torch.float64 or any(
        t.device.type != "cpu" or (t.is_floating_point() and t.dtype != torch.float64)
        for t in tensors
    ):
        return _normalise_shares_torch(raw, emit_mask, enabled, fallback)
    return _normalise_shares_array(
        raw.numpy(),
        emit_mask.numpy(),
        enabled.numpy(),
        None if fallback is None else fallback.numpy(),
    )


def _normalise_shares_array(
    raw: np.ndarray, emit: np.ndarray, enabled: np.ndarray, fallback: np.ndarray | None
) -> torch.Tensor:
    """:func:`normalise_shares` on float64 numpy arrays (and bool masks): the selects and
    clamps in numpy (bit-identical, see :func:`_clamp_min_array`); the sums and the division
    in torch."""
    masked = np.where(emit, _clamp_min_array(raw, 0.0), 0.0)
    if fallback is not None and float(torch.from_numpy(masked).sum()) <= 0.0:
        masked = np.where(emit, _clamp_min_array(fallback, 0.0), 0.0)
    kept = torch.from_numpy(np.where(enabled, masked, 0.0))
    total = kept.sum()
    if float(total) <= 0.0:
        return torch.zeros_like(kept)
    return kept / total


def _normalise_shares_torch(
    raw: torch.Tensor,
    emit_mask: torch.Tensor,
    enabled: torch.Tensor,
    fallback: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`normalise_shares` in torch (raw weights that are not float64, or not on the CPU)."""
    raw = torch.where(emit_mask, raw.clamp_min(0.0), 0.0)
    if fallback is not None and float(raw.sum()) <= 0.0:
        raw = torch.where(emit_mask, fallback.clamp_min(0.0), 0.0)
    raw = torch.where(enabled, raw, 0.0)
    total = raw.sum()
    if float(total) <= 0.0:
        return torch.zeros_like(raw)
    return raw / total


def _capped_injection(
    tao_emission: torch.Tensor, price: torch.Tensor, cap: torch.Tensor
) -> Injection:
    """``alpha_in = tao_emission/p`` capped at ``cap`` (then ``tao_in = cap·p``); excess → chain buy."""
    safe_price = price.clamp_min(1e-300)
    priced = price > 0
    alpha_in = torch.where(priced, tao_emission / safe_price, 0.0)
    capped = alpha_in > cap
    alpha_in = torch.where(capped, cap, alpha_in)
    tao_in = torch.where(capped, cap * price, tao_emission)
    tao_in = torch.where(priced, tao_in, 0.0)
    return Injection(tao_in=tao_in, alpha_in=alpha_in, excess_tao=tao_emission - tao_in)


def _capped_injection_array(
    tao_emission: np.ndarray, price: np.ndarray, cap: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_capped_injection` on numpy float64 arrays (the same selects and arithmetic,
    bit-identical); returns ``(tao_in, alpha_in, excess_tao)``."""
    safe_price = _clamp_min_array(price, 1e-300)
    priced = price > 0
    alpha_in = np.where(priced, tao_emission / safe_price, 0.0)
    capped = alpha_in > cap
    alpha_in = np.where(capped, cap, alpha_in)
    tao_in = np.where(capped, cap * price, tao_emission)
    tao_in = np.where(priced, tao_in, 0.0)
    return tao_in, alpha_in, tao_emission - tao_in


def _price_raw(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    return state.moving_price


def _head_raw(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    return state.moving_price * torch.rsub(state.miner_burned, 1.0)


def _price_root_prop_raw(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    # main 2026-06-22 .. 06-29 (PR #2781): the HEAD weight times the root proportion.
    return state.moving_price * root_proportion(state, params) * torch.rsub(state.miner_burned, 1.0)


def net_flow_ema(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    """The flow EMA used for shares: user EMA, minus the scaled protocol-cost EMA if net flow is on.

    ``scale = min(1, Σ max(user_ema, 0) / Σ max(cost_ema, 0))`` over the subnets emitted to
    (subtensor PR #2634, ``get_shares_flow`` in ``coinbase/subnet_emissions.rs``).
    """
    if not params.net_tao_flow_enabled:
        return state.flow_ema
    return _net_flow_ema(state, emitting_mask(state, state.block + 1))


def _net_flow_ema(state: NetworkState, listed: torch.Tensor) -> torch.Tensor:
    """:func:`net_flow_ema` (net flow on) with the listed subnets given."""
    user_pos = torch.where(listed, state.flow_ema.clamp_min(0.0), 0.0).sum()
    cost_pos = torch.where(listed, state.cost_ema.clamp_min(0.0), 0.0).sum()
    scale = 1.0 if float(cost_pos) <= 0 else min(1.0, float(user_pos / cost_pos))
    return state.flow_ema - scale * state.cost_ema


def _net_flow_ema_array(state: NetworkState, listed: np.ndarray) -> np.ndarray:
    """:func:`_net_flow_ema` with the selects in numpy and the sums in torch (bit-identical)."""
    flow, cost = state.flow_ema.numpy(), state.cost_ema.numpy()
    user_pos = torch.from_numpy(np.where(listed, _clamp_min_array(flow, 0.0), 0.0)).sum()
    cost_pos = torch.from_numpy(np.where(listed, _clamp_min_array(cost, 0.0), 0.0)).sum()
    scale = 1.0 if float(cost_pos) <= 0 else min(1.0, float(user_pos / cost_pos))
    return flow - scale * cost


def _flow_raw(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    # The lower limit L is taken over the subnets emitted to only (get_lower_limit).
    return torch.from_numpy(_flow_raw_array(state, params, _emitting_array(state, state.block + 1)))


def _flow_raw_array(state: NetworkState, params: EconomyParams, listed: np.ndarray) -> np.ndarray:
    """:func:`_flow_raw` with the listed subnets given, in numpy on views of the state
    (bit-identical); the min and a power other than 1 in torch."""
    if params.net_tao_flow_enabled:
        ema = _net_flow_ema_array(state, listed)
    else:
        ema = state.flow_ema.numpy()
    ema_listed = np.where(listed, ema, 0.0)
    below = torch.from_numpy(_clamp_max_array(ema_listed, 0.0))
    lowest = float(below.min()) if ema.size else 0.0
    floor_level = max(params.flow_cutoff, lowest)
    z = _clamp_min_array(ema - floor_level, 0.0)
    # x ** 1 is x exactly: the common exponent skips the pass
    return (
        z if params.flow_exponent == 1.0 else torch.from_numpy(z).pow(params.flow_exponent).numpy()
    )


@jit
def _flow_kept_kernel(
    active: np.ndarray,
    subtoken: np.ndarray,
    allowed: np.ndarray,
    start_block: np.ndarray,
    block: int,
    flow_ema: np.ndarray,
    enabled: np.ndarray,
    cutoff: float,
    emit: np.ndarray,
    kept: np.ndarray,
) -> bool:  # pragma: no cover - compiled by numba
    """:func:`emitting_mask` at ``block`` into ``emit`` and the ``tao_flow`` weights (flow EMA
    above the floor, exponent 1) of the listed, enabled subnets into ``kept``: the selects,
    the difference and the clamps of :func:`_flow_raw_array` and
    :func:`_normalise_shares_array` in one pass. Returns False where the minimum is a zero
    whose sign torch's ``min`` picks (a listed ``-0.0`` flow): the caller takes numpy."""
    size = flow_ema.shape[0]
    lowest = np.inf
    has_nan = False
    negative_zero = False
    for i in range(size):
        listed = active[i] and subtoken[i] and allowed[i] and start_block[i] <= block
        emit[i] = listed
        below = flow_ema[i] if listed else 0.0
        if below > 0.0:
            below = 0.0
        if below != below:
            has_nan = True
        elif below < lowest:
            lowest = below
        if below == 0.0 and math.copysign(1.0, below) < 0.0:
            negative_zero = True
    if size == 0:
        lowest = 0.0
    elif has_nan:
        lowest = np.nan
    elif lowest == 0.0 and negative_zero:
        return False
    # Python's max(cutoff, lowest): the cutoff unless the lowest is greater
    floor_level = lowest if lowest > cutoff else cutoff
    for i in range(size):
        z = flow_ema[i] - floor_level
        if z < 0.0:
            z = 0.0
        kept[i] = z if (emit[i] and enabled[i]) else 0.0
    return True


def _flow_shares_fused(
    state: NetworkState, params: EconomyParams, block: int
) -> tuple[np.ndarray, torch.Tensor] | None:
    """``(emitting_mask, shares)`` at ``block = state.block + 1`` for the ``tao_flow`` raw
    shares without net flow and with exponent 1, by :func:`_flow_kept_kernel` and the torch
    sum and division of :func:`_normalise_shares_array` (bit-identical); None where the
    kernel cannot decide (the caller takes the numpy path)."""
    active, subtoken, allowed, start_block, flow_ema, enabled = state.views(_FLOW_SHARE_READS)
    size = flow_ema.shape[0]
    emit = np.empty(size, dtype=np.bool_)
    kept = np.empty(size)
    if not _flow_kept_kernel(
        active,
        subtoken,
        allowed,
        start_block,
        block,
        flow_ema,
        enabled,
        float(params.flow_cutoff),
        emit,
        kept,
    ):
        return None
    kept_t = torch.from_numpy(kept)
    total = float(kept_t.sum())  # (the sum in torch: numpy's pairwise order is not torch's)
    if total <= 0.0:
        return emit, torch.zeros_like(kept_t)
    # in place, under the tensor: numpy's division by the float is torch's division by the
    # 0-dim sum (both correctly rounded), without a tensor dispatch
    kept /= total
    return emit, kept_t


#: The state fields :func:`_flow_shares_fused` reads, in the order it unpacks them.
_FLOW_SHARE_READS = (
    "active",
    "subtoken_enabled",
    "registration_allowed",
    "start_block",
    "flow_ema",
    "emission_enabled",
)


def _head_raw_array(state: NetworkState, params: EconomyParams, listed: np.ndarray) -> np.ndarray:
    """:func:`_head_raw` in numpy (``rsub(x, 1)`` is ``1 - x``: the same product and
    difference, bit-identical)."""
    return state.moving_price.numpy() * (1.0 - state.miner_burned.numpy())


def _price_ema_injection(
    tao_emission: torch.Tensor,
    price: torch.Tensor,
    alpha_emission: torch.Tensor,
    root_prop: torch.Tensor,
    e_b: float,
) -> Injection:
    # Launch rule: alpha capped at alpha_emission, TAO not reduced (the price rises).
    safe_price = price.clamp(min=1e-300)
    alpha_in = torch.where(price > 0, tao_emission / safe_price, alpha_emission)
    alpha_in = torch.minimum(alpha_in, alpha_emission)
    return Injection(tao_in=tao_emission, alpha_in=alpha_in, excess_tao=torch.zeros_like(price))


def _price_ema_subsidy_injection(
    tao_emission: torch.Tensor,
    price: torch.Tensor,
    alpha_emission: torch.Tensor,
    root_prop: torch.Tensor,
    e_b: float,
) -> Injection:
    # Jul-Nov 2025: a subnet whose price is below its share is "subsidised": the pool gets
    # tao_in = p·E_b and the full alpha emission, and the rest of its TAO buys alpha.
    share = tao_emission / e_b if e_b > 0 else torch.zeros_like(tao_emission)
    subsidised = (price < share) & (price > 0)
    launch = _price_ema_injection(tao_emission, price, alpha_emission, root_prop, e_b)
    tao_in = torch.where(subsidised, price * e_b, launch.tao_in)
    alpha_in = torch.where(subsidised, alpha_emission, launch.alpha_in)
    return Injection(tao_in=tao_in, alpha_in=alpha_in, excess_tao=tao_emission - tao_in)


def _tao_flow_injection(
    tao_emission: torch.Tensor,
    price: torch.Tensor,
    alpha_emission: torch.Tensor,
    root_prop: torch.Tensor,
    e_b: float,
) -> Injection:
    cap = torch.minimum(alpha_emission, torch.full_like(alpha_emission, float(e_b)))
    return _capped_injection(tao_emission, price, cap)


def _tao_flow_injection_array(
    tao_emission: np.ndarray,
    price: np.ndarray,
    alpha_emission: np.ndarray,
    root_prop: np.ndarray,
    e_b: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # torch.minimum and np.minimum agree here: both propagate NaN, and neither value can be
    # -0.0 (the alpha emission is a select of floored non-negative values, e_b an integer)
    cap = np.minimum(alpha_emission, np.full_like(alpha_emission, float(e_b)))
    return _capped_injection_array(tao_emission, price, cap)


def _head_injection_array(
    tao_emission: np.ndarray,
    price: np.ndarray,
    alpha_emission: np.ndarray,
    root_prop: np.ndarray,
    e_b: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _capped_injection_array(tao_emission, price, root_prop * alpha_emission)


def _head_injection(
    tao_emission: torch.Tensor,
    price: torch.Tensor,
    alpha_emission: torch.Tensor,
    root_prop: torch.Tensor,
    e_b: float,
) -> Injection:
    return _capped_injection(tao_emission, price, root_prop * alpha_emission)


SHARE_ERAS.add("price_ema", ShareEra("price_ema", _price_raw, _price_ema_injection, False))
SHARE_ERAS.add(
    "price_ema_subsidy",
    ShareEra("price_ema_subsidy", _price_raw, _price_ema_subsidy_injection, False),
)
SHARE_ERAS.add(
    "tao_flow",
    ShareEra(
        "tao_flow",
        _flow_raw,
        _tao_flow_injection,
        True,
        injection_array=_tao_flow_injection_array,
        raw_shares_array=_flow_raw_array,
    ),
)
SHARE_ERAS.add(
    "head",
    ShareEra(
        "head",
        _head_raw,
        _head_injection,
        True,
        _price_raw,
        injection_array=_head_injection_array,
        raw_shares_array=_head_raw_array,
    ),
)
SHARE_ERAS.add(
    "price_root_prop",
    ShareEra(
        "price_root_prop",
        _price_root_prop_raw,
        _head_injection,
        True,
        _price_raw,
        injection_array=_head_injection_array,
    ),
)
