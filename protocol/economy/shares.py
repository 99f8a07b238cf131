"""Subnet TAO shares and pool injection, in three selectable eras (coinbase.md §1, §2.3, §4).

Each era is a :class:`ShareEra` registered in :data:`SHARE_ERAS` (a
:class:`protocol.registry.Registry`), so a new era is one more registration:

* ``price_ema`` (Feb-Jul 2025 launch rule): share ∝ moving price; ``alpha_in = min(tao_in/p,
  alpha_emission)`` with ``tao_in`` *not* reduced when capped (the price rises: no weight re-solve).
* ``price_ema_subsidy`` (Jul-Nov 2025): as ``price_ema``, but a subnet whose price is below its
  share gets ``tao_in = p·E_b`` and ``alpha_in = alpha_emission``, its remaining TAO buying
  alpha (a chain buy); the pool is constant product (injections move the price).
* ``tao_flow`` (Nov 2025 - Jun 2026): share ∝ positive part of the TAO-flow EMA (net of protocol
  cost when ``net_tao_flow_enabled``); ``alpha_in = tao_in/p`` capped at ``min(alpha_emission,
  E_b)``; the excess TAO buys alpha for the protocol.
* ``head`` (main 2026-06-25): share ∝ moving price × (1 − MinerBurned); ``alpha_in`` capped at
  ``root_prop · alpha_emission``; the excess TAO buys alpha for the protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from protocol.economy.state import EconomyParams, NetworkState
from protocol.registry import Registry

__all__ = ["SHARE_ERAS", "Injection", "ShareEra", "normalise_shares"]


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


SHARE_ERAS: Registry[ShareEra] = Registry("coinbase era", entry_point_group="govsim.coinbase_eras")


def normalise_shares(
    raw: torch.Tensor, emit_mask: torch.Tensor, enabled: torch.Tensor
) -> torch.Tensor:
    """Shares over the emitting subnets, zero for disabled ones, renormalised (coinbase.md §4).

    If every emitting subnet has a zero raw weight the un-weighted shares are used (the chain's
    fallback); subnets with ``SubnetEmissionEnabled = false`` get 0 and the rest are renormalised.
    """
    raw = torch.where(emit_mask, raw.clamp(min=0.0), torch.zeros_like(raw))
    if float(raw.sum()) <= 0.0:
        raw = emit_mask.to(raw.dtype)
    raw = torch.where(enabled, raw, torch.zeros_like(raw))
    total = raw.sum()
    if float(total) <= 0.0:
        return torch.zeros_like(raw)
    return raw / total


def _capped_injection(
    tao_emission: torch.Tensor, price: torch.Tensor, cap: torch.Tensor
) -> Injection:
    """``alpha_in = tao_emission/p`` capped at ``cap`` (then ``tao_in = cap·p``); excess → chain buy."""
    safe_price = price.clamp(min=1e-300)
    alpha_in = torch.where(price > 0, tao_emission / safe_price, torch.zeros_like(price))
    capped = alpha_in > cap
    alpha_in = torch.where(capped, cap, alpha_in)
    tao_in = torch.where(capped, cap * price, tao_emission)
    tao_in = torch.where(price > 0, tao_in, torch.zeros_like(tao_in))
    return Injection(tao_in=tao_in, alpha_in=alpha_in, excess_tao=tao_emission - tao_in)


def _price_raw(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    return state.moving_price


def _head_raw(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    return state.moving_price * (1.0 - state.miner_burned)


def net_flow_ema(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    """The flow EMA used for shares: user EMA, minus the scaled protocol-cost EMA if net flow is on.

    ``scale = min(1, Σ max(user_ema, 0) / Σ max(cost_ema, 0))`` (PR #2634 reading, coinbase.md §2.3).
    """
    if not params.net_tao_flow_enabled:
        return state.flow_ema
    active = state.active
    user_pos = torch.where(active, state.flow_ema.clamp(min=0.0), 0.0).sum()
    cost_pos = torch.where(active, state.cost_ema.clamp(min=0.0), 0.0).sum()
    scale = 1.0 if float(cost_pos) <= 0 else min(1.0, float(user_pos / cost_pos))
    return state.flow_ema - scale * state.cost_ema


def _flow_raw(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    ema = net_flow_ema(state, params)
    ema_active = torch.where(state.active, ema, torch.zeros_like(ema))
    lowest = float(ema_active.clamp(max=0.0).min()) if ema.numel() else 0.0
    floor_level = max(params.flow_cutoff, lowest)
    z = (ema - floor_level).clamp(min=0.0)
    return z.pow(params.flow_exponent)


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
SHARE_ERAS.add("tao_flow", ShareEra("tao_flow", _flow_raw, _tao_flow_injection, True))
SHARE_ERAS.add("head", ShareEra("head", _head_raw, _head_injection, True))
