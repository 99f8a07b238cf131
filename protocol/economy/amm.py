"""Subnet pools: a Balancer-style weighted pool (subtensor ``pallets/swap``), batched over subnets.

``x`` is the alpha reserve, ``y`` the TAO reserve, ``w1`` the alpha weight and ``w2 = 1 - w1``
the TAO weight; with ``w1 = w2 = 0.5`` the pool is constant product. The swap fee is taken on
the input side and stays in the pool (it deepens the reserve), so every rao stays in the ledger.

One pool's trade (a stake, an unstake, a limit order) is a handful of scalar operations: the
``*_scalar`` functions compute it in Python floats, with the same operations in the same order
as the tensor functions on 0-dim tensors, so the results are bit-identical (a 0-dim ``pow`` is
the C library's ``pow``, as ``math.pow`` is) at a fraction of the cost of tensor dispatch.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from protocol._numba import HAVE_NUMBA, jit

__all__ = [
    "alpha_needed_for_tao",
    "inject",
    "inject_array",
    "max_alpha_in_at_price",
    "max_alpha_in_at_price_scalar",
    "max_tao_in_at_price",
    "max_tao_in_at_price_scalar",
    "spot_price",
    "spot_price_array",
    "spot_price_scalar",
    "swap_alpha_for_tao",
    "swap_alpha_for_tao_array",
    "swap_alpha_for_tao_scalar",
    "swap_tao_for_alpha",
    "swap_tao_for_alpha_array",
    "swap_tao_for_alpha_scalar",
]


def spot_price(pool_tao: torch.Tensor, pool_alpha: torch.Tensor, w1: torch.Tensor) -> torch.Tensor:
    """Spot price in TAO per alpha: ``p = (w1·y) / (w2·x)`` (0 where the pool is empty)."""
    denom = torch.rsub(w1, 1.0) * pool_alpha  # w2 · x (``1.0 - w1`` without the operator wrapper)
    return torch.where(denom > 0, w1 * pool_tao / denom.clamp_min(1e-300), 0.0)


def swap_tao_for_alpha(
    pool_tao: torch.Tensor,
    pool_alpha: torch.Tensor,
    w1: torch.Tensor,
    tao_in: torch.Tensor,
    fee_rate: float,
) -> torch.Tensor:
    """Alpha paid out for ``tao_in`` TAO: ``Δx = x·(1 − (y/(y + Δy'))^(w2/w1))``, ``Δy' = Δy(1 − fee)``.

    Returns the alpha out ``[S]`` (>= 0); the caller moves the reserves (``y += tao_in``,
    ``x -= out``).
    """
    net_in = tao_in * (1.0 - fee_rate)
    w2 = torch.rsub(w1, 1.0)
    ratio = pool_tao / (pool_tao + net_in).clamp_min(1e-300)
    out = pool_alpha * torch.rsub(torch.pow(ratio, w2 / w1.clamp_min(1e-300)), 1.0)
    return torch.where((tao_in > 0) & (pool_tao > 0), out, 0.0)


def swap_alpha_for_tao(
    pool_tao: torch.Tensor,
    pool_alpha: torch.Tensor,
    w1: torch.Tensor,
    alpha_in: torch.Tensor,
    fee_rate: float,
) -> torch.Tensor:
    """TAO paid out for ``alpha_in`` alpha: ``Δy = y·(1 − (x/(x + Δx'))^(w1/w2))``, fee on Δx."""
    net_in = alpha_in * (1.0 - fee_rate)
    w2 = torch.rsub(w1, 1.0)
    ratio = pool_alpha / (pool_alpha + net_in).clamp_min(1e-300)
    out = pool_tao * torch.rsub(torch.pow(ratio, w1 / w2.clamp_min(1e-300)), 1.0)
    return torch.where((alpha_in > 0) & (pool_alpha > 0), out, 0.0)


def alpha_needed_for_tao(
    pool_tao: torch.Tensor,
    pool_alpha: torch.Tensor,
    w1: torch.Tensor,
    tao_out: torch.Tensor,
    fee_rate: float,
) -> torch.Tensor:
    """Alpha to sell so that :func:`swap_alpha_for_tao` pays ``tao_out`` (inf if ``tao_out >= y``)."""
    w2 = 1.0 - w1
    left = (pool_tao - tao_out).clamp(min=0.0)
    ratio = torch.where(
        left > 0, pool_tao / left.clamp(min=1e-300), torch.full_like(left, torch.inf)
    )
    net_in = pool_alpha * (torch.pow(ratio, w2 / w1.clamp(min=1e-300)) - 1.0)
    return torch.where(tao_out > 0, net_in / (1.0 - fee_rate), torch.zeros_like(net_in))


def max_tao_in_at_price(
    pool_tao: torch.Tensor, pool_alpha: torch.Tensor, w1: torch.Tensor, limit_price: torch.Tensor
) -> torch.Tensor:
    """Largest TAO buy that leaves the spot price at or below ``limit_price`` (a limit order).

    The simulator's ``get_max_amount_add`` (subtensor ``staking/add_stake.rs``, used by
    ``add_stake_limit`` with ``allow_partial``): buying moves the price to ``p·(y'/y)^(1/w1)``,
    so ``Δy = y·((limit/p)^w1 − 1)``; 0 where the price is already at or above the limit. The
    fee (kept in the pool) only lowers the price reached, so the limit holds with it.
    """
    price = spot_price(pool_tao, pool_alpha, w1)
    ratio = limit_price / price.clamp(min=1e-300)
    room = pool_tao * (torch.pow(ratio.clamp(min=1.0), w1) - 1.0)
    return torch.where((price > 0) & (ratio > 1.0), room, torch.zeros_like(room))


def max_alpha_in_at_price(
    pool_tao: torch.Tensor, pool_alpha: torch.Tensor, w1: torch.Tensor, limit_price: torch.Tensor
) -> torch.Tensor:
    """Largest alpha sale that leaves the spot price at or above ``limit_price`` (a limit order).

    The sell side (``remove_stake_limit``): selling moves the price to ``p·(x/x')^(1/w2)``, so
    ``Δx = x·((p/limit)^w2 − 1)``; 0 where the price is already at or below the limit.
    """
    price = spot_price(pool_tao, pool_alpha, w1)
    ratio = price / limit_price.clamp(min=1e-300)
    room = pool_alpha * (torch.pow(ratio.clamp(min=1.0), 1.0 - w1) - 1.0)
    return torch.where((limit_price > 0) & (ratio > 1.0), room, torch.zeros_like(room))


def inject(
    pool_tao: torch.Tensor,
    pool_alpha: torch.Tensor,
    w1: torch.Tensor,
    tao_in: torch.Tensor,
    alpha_in: torch.Tensor,
    *,
    resolve_weights: bool = True,
    price: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Add protocol liquidity; re-solve the weights so the price is unchanged (HEAD balancer).

    After ``x' = x + alpha_in``, ``y' = y + tao_in``: ``w1 = p·x' / (y' + p·x')``. With
    ``resolve_weights=False`` (the launch-era constant-product pool) the weights stay and the
    price moves.

    ``price``: the pool's :func:`spot_price` when the caller has it already.

    Returns
    -------
    tuple
        ``(pool_tao, pool_alpha, w1)`` after the injection.
    """
    if price is None:
        price = spot_price(pool_tao, pool_alpha, w1)
    new_tao = pool_tao + tao_in
    new_alpha = pool_alpha + alpha_in
    if not resolve_weights:
        return new_tao, new_alpha, w1
    denom = new_tao + price * new_alpha
    new_w1 = torch.where((denom > 0) & (price > 0), price * new_alpha / denom.clamp(min=1e-300), w1)
    return new_tao, new_alpha, new_w1


def spot_price_array(pool_tao: np.ndarray, pool_alpha: np.ndarray, w1: np.ndarray) -> np.ndarray:
    """:func:`spot_price` on numpy float64 arrays (bit-identical: the same subtraction,
    products, division and select, each correctly rounded), without a tensor dispatch per
    operation; for readers of the state that want numpy anyway. Three ``[S]`` float64 arrays
    (the state's pools) take one pass of a numba kernel, the same operations per element."""
    if (
        HAVE_NUMBA
        and type(pool_tao) is np.ndarray
        and type(pool_alpha) is np.ndarray
        and type(w1) is np.ndarray
        and pool_tao.dtype is _FLOAT64
        and pool_alpha.dtype is _FLOAT64
        and w1.dtype is _FLOAT64
        and pool_tao.ndim == 1
        and pool_tao.shape == pool_alpha.shape == w1.shape
    ):
        out = np.empty(pool_tao.shape[0])
        _spot_price_rows(pool_tao, pool_alpha, w1, out)
        return out
    denom = (1.0 - w1) * pool_alpha
    return np.where(denom > 0, w1 * pool_tao / np.maximum(denom, 1e-300), 0.0)


_FLOAT64 = np.dtype(np.float64)


@jit
def _spot_price_rows(
    pool_tao: np.ndarray, pool_alpha: np.ndarray, w1: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """:func:`spot_price_array`'s select per element: where ``denom > 0`` it is not NaN, so
    numpy's ``maximum(denom, 1e-300)`` is ``denom`` unless below the floor."""
    for i in range(pool_tao.shape[0]):
        denom = (1.0 - w1[i]) * pool_alpha[i]
        if denom > 0:
            out[i] = w1[i] * pool_tao[i] / (denom if denom >= 1e-300 else 1e-300)
        else:
            out[i] = 0.0


def inject_array(
    pool_tao: np.ndarray,
    pool_alpha: np.ndarray,
    w1: np.ndarray,
    tao_in: np.ndarray,
    alpha_in: np.ndarray,
    *,
    resolve_weights: bool,
    price: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`inject` on numpy float64 arrays (bit-identical: the same operations in the same
    order); ``w1`` itself is returned when the weights are not re-solved."""
    new_tao = pool_tao + tao_in
    new_alpha = pool_alpha + alpha_in
    if not resolve_weights:
        return new_tao, new_alpha, w1
    denom = new_tao + price * new_alpha
    new_w1 = np.where((denom > 0) & (price > 0), price * new_alpha / np.maximum(denom, 1e-300), w1)
    return new_tao, new_alpha, new_w1


def swap_tao_for_alpha_array(
    pool_tao: np.ndarray,
    pool_alpha: np.ndarray,
    w1: np.ndarray,
    tao_in: np.ndarray,
    fee_rate: float,
) -> np.ndarray:
    """:func:`swap_tao_for_alpha` on numpy float64 arrays, bit-identical: the arithmetic in
    numpy (correctly rounded either way), the power still in torch (its vectorised ``pow`` is
    not numpy's)."""
    net_in = tao_in * (1.0 - fee_rate)
    w2 = 1.0 - w1
    ratio = pool_tao / np.maximum(pool_tao + net_in, 1e-300)
    power = torch.pow(torch.from_numpy(ratio), torch.from_numpy(w2 / np.maximum(w1, 1e-300)))
    out = pool_alpha * (1.0 - power.numpy())
    return np.where((tao_in > 0) & (pool_tao > 0), out, 0.0)


def swap_alpha_for_tao_array(
    pool_tao: np.ndarray,
    pool_alpha: np.ndarray,
    w1: np.ndarray,
    alpha_in: np.ndarray,
    fee_rate: float,
) -> np.ndarray:
    """:func:`swap_alpha_for_tao` on numpy float64 arrays, bit-identical: the arithmetic in
    numpy (correctly rounded either way), the power still in torch (its vectorised ``pow`` is
    not numpy's)."""
    net_in = alpha_in * (1.0 - fee_rate)
    w2 = 1.0 - w1
    ratio = pool_alpha / np.maximum(pool_alpha + net_in, 1e-300)
    power = torch.pow(torch.from_numpy(ratio), torch.from_numpy(w1 / np.maximum(w2, 1e-300)))
    out = pool_tao * (1.0 - power.numpy())
    return np.where((alpha_in > 0) & (pool_alpha > 0), out, 0.0)


# ---------------------------------------------------------------------- one pool, Python floats


def spot_price_scalar(pool_tao: float, pool_alpha: float, w1: float) -> float:
    """:func:`spot_price` of one pool in Python floats (bit-identical to the 0-dim tensor call)."""
    denom = (1.0 - w1) * pool_alpha
    return w1 * pool_tao / max(denom, 1e-300) if denom > 0 else 0.0


def swap_tao_for_alpha_scalar(
    pool_tao: float, pool_alpha: float, w1: float, tao_in: float, fee_rate: float
) -> float:
    """:func:`swap_tao_for_alpha` of one pool in Python floats (bit-identical)."""
    if not (tao_in > 0 and pool_tao > 0):
        return 0.0
    net_in = tao_in * (1.0 - fee_rate)
    ratio = pool_tao / max(pool_tao + net_in, 1e-300)
    return pool_alpha * (1.0 - math.pow(ratio, (1.0 - w1) / max(w1, 1e-300)))


def swap_alpha_for_tao_scalar(
    pool_tao: float, pool_alpha: float, w1: float, alpha_in: float, fee_rate: float
) -> float:
    """:func:`swap_alpha_for_tao` of one pool in Python floats (bit-identical)."""
    if not (alpha_in > 0 and pool_alpha > 0):
        return 0.0
    net_in = alpha_in * (1.0 - fee_rate)
    ratio = pool_alpha / max(pool_alpha + net_in, 1e-300)
    return pool_tao * (1.0 - math.pow(ratio, w1 / max(1.0 - w1, 1e-300)))


def max_tao_in_at_price_scalar(
    pool_tao: float, pool_alpha: float, w1: float, limit_price: float
) -> float:
    """:func:`max_tao_in_at_price` of one pool in Python floats (bit-identical)."""
    price = spot_price_scalar(pool_tao, pool_alpha, w1)
    ratio = limit_price / max(price, 1e-300)
    if not (price > 0 and ratio > 1.0):
        return 0.0
    return pool_tao * (math.pow(ratio, w1) - 1.0)


def max_alpha_in_at_price_scalar(
    pool_tao: float, pool_alpha: float, w1: float, limit_price: float
) -> float:
    """:func:`max_alpha_in_at_price` of one pool in Python floats (bit-identical)."""
    price = spot_price_scalar(pool_tao, pool_alpha, w1)
    ratio = price / max(limit_price, 1e-300)
    if not (limit_price > 0 and ratio > 1.0):
        return 0.0
    return pool_alpha * (math.pow(ratio, 1.0 - w1) - 1.0)
