"""What the simulator reads off the chain, and the chain's clock.

Pure functions over ``protocol.economy``'s :class:`~protocol.economy.state.NetworkState`: the
desks and the recorder read prices, emission shares and holdings through them, and
:func:`advance_chain` runs the economy for a step's blocks. The economy is called through its
package (``economy.tempo_step``), so a test can route the model to another implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from protocol import economy
from protocol._numba import HAVE_NUMBA, jit
from protocol.economy.amm import spot_price_array
from protocol.economy.coinbase import subnet_shares
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState
from protocol.yuma.mechanisms import get_mechanism

__all__ = [
    "account_alpha",
    "advance_chain",
    "alpha_prices",
    "emission_shares",
    "uid_owned_alpha",
    "with_live_rows",
]


def emission_shares(state: NetworkState, params: EconomyParams) -> np.ndarray:
    """TAO emission share per subnet at the next block ``[S]``."""
    return subnet_shares(state, params, state.block + 1).numpy().astype(float)


def alpha_prices(state: NetworkState) -> np.ndarray:
    """Spot alpha price per subnet (TAO per alpha) ``[S]``.

    In numpy on the state's views of the pool fields (the state's ``spot_price`` operations, bit-identical).
    """
    return spot_price_array(
        state.view("pool_tao"), state.view("pool_alpha"), state.view("pool_weight_alpha")
    )


def _alpha_per_share(state: NetworkState) -> np.ndarray:
    """Alpha per share of every hotkey ``[S, n]`` (0 where nobody holds shares).

    In numpy on views of the state's tensors: one division and a select, the same float64
    operations as in torch (bit-identical) without a tensor dispatch per operation.
    """
    total = state.view("total_shares")
    alpha = state.view("hotkey_alpha")
    if HAVE_NUMBA:
        value = np.empty(alpha.shape)
        _alpha_per_share_rows(alpha, total, value)
        return value
    return np.where(total > 0, alpha / np.maximum(total, 1e-300), 0.0)


@jit
def _alpha_per_share_rows(
    alpha: np.ndarray, total: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``out = alpha / max(total, 1e-300)`` where ``total > 0``, else 0 (the numpy select's
    divisions in one pass; where ``total > 0`` the maximum is ``total`` or 1e-300 as numpy's)."""
    rows, n = alpha.shape
    for i in range(rows):
        for j in range(n):
            t = total[i, j]
            out[i, j] = alpha[i, j] / (t if t >= 1e-300 else 1e-300) if t > 0 else 0.0


def uid_owned_alpha(state: NetworkState) -> np.ndarray:
    """Alpha each uid's own coldkey holds on it (rao) ``[S, n]``."""
    if HAVE_NUMBA:
        # the alpha per share and the product in one pass (the same two operations each)
        alpha = state.view("hotkey_alpha")
        out = np.empty(alpha.shape)
        _uid_owned_alpha_rows(state.view("owner_shares"), alpha, state.view("total_shares"), out)
        return out
    return state.view("owner_shares") * _alpha_per_share(state)


@jit
def _uid_owned_alpha_rows(
    owner: np.ndarray, alpha: np.ndarray, total: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``out = owner * value`` with ``value`` :func:`_alpha_per_share_rows`'s alpha per
    share, element by element."""
    rows, n = alpha.shape
    for i in range(rows):
        for j in range(n):
            t = total[i, j]
            value = alpha[i, j] / (t if t >= 1e-300 else 1e-300) if t > 0 else 0.0
            out[i, j] = owner[i, j] * value


def account_alpha(state: NetworkState) -> np.ndarray:
    """Alpha per account and subnet (rao) ``[A, S]``: own uids plus nominations."""
    value = _alpha_per_share(state)
    coldkey = state.view("uid_coldkey")
    n_accounts, n_subnets = state.n_accounts, state.n_subnets
    nom_uid = state.view("nom_uid")
    n_uids = value.shape[1]
    if (
        HAVE_NUMBA
        and coldkey.size
        and nom_uid.size
        and int(coldkey.max()) < n_accounts
        and int(nom_uid.max()) < n_uids
    ):
        # (an index out of range takes the numpy path, which raises or reads as it did)
        out = np.zeros((n_accounts, n_subnets))
        _account_alpha_cells(
            value,
            coldkey,
            state.view("owner_shares"),
            nom_uid,
            state.view("nom_shares"),
            state.view("market_alpha"),
            MARKET_ACCOUNT,
            out,
        )
        return out
    own = np.where(coldkey >= 0, state.view("owner_shares") * value, 0.0)
    # Each (account, subnet) cell adds its uids' alpha in uid order, starting from 0 (as the
    # accumulating index_put of the tensor version did).
    cell = coldkey.clip(min=0) * n_subnets + np.arange(n_subnets)[:, None]
    owned = np.bincount(
        cell.ravel(), weights=own.ravel(), minlength=n_accounts * n_subnets
    ).reshape(n_accounts, n_subnets)
    # value[s, nom_uid[a, s]], gathered through flat indices (the same elements; a take is
    # several times faster than indexing with two broadcast index arrays)
    flat_index = nom_uid.clip(min=0) + np.arange(n_subnets) * n_uids
    per_share = np.take(value.reshape(-1), flat_index)
    nominated = np.where(nom_uid >= 0, state.view("nom_shares") * per_share, 0.0)
    out = owned + nominated
    out[MARKET_ACCOUNT] += state.view("market_alpha")
    return out


@jit
def _account_alpha_cells(
    value: np.ndarray,
    coldkey: np.ndarray,
    owner_shares: np.ndarray,
    nom_uid: np.ndarray,
    nom_shares: np.ndarray,
    market_alpha: np.ndarray,
    market_account: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba
    """:func:`account_alpha`'s numpy path into ``out`` (zeros ``[A, S]``), the same operations
    in the same order: each uid's own alpha added to its coldkey's cell in (subnet, uid) order
    as ``np.bincount`` adds (a uid without a coldkey adds its 0 to account 0's cell), then each
    cell's nominated alpha, then the market's alpha."""
    n_subnets, n_uids = value.shape
    for s in range(n_subnets):
        for u in range(n_uids):
            owner = coldkey[s, u]
            if owner >= 0:
                out[owner, s] += owner_shares[s, u] * value[s, u]
            else:
                out[0, s] += 0.0
    for a in range(out.shape[0]):
        for s in range(n_subnets):
            uid = nom_uid[a, s]
            nominated = nom_shares[a, s] * value[s, uid] if uid >= 0 else 0.0
            out[a, s] = out[a, s] + nominated
    for s in range(n_subnets):
        out[market_account, s] += market_alpha[s]


def with_live_rows(state: NetworkState, params: EconomyParams) -> NetworkState:
    """``state`` with ``live_rows`` (the uids whose weight or bond row may be non-zero) kept.

    Unknown rows are found once by reading the weights and bonds (a row is live unless every
    entry is ``+0.0`` in both); from then on the weight writers and registration keep the
    marks, and the epochs keep them true: a new bond row depends on that row's weights and old
    bonds only, and is zero from zeros. A mechanism with its own bond rule gives no such
    promise: under one the marks are dropped (unknown).
    """
    if get_mechanism(params.mechanism).overrides("bonds_and_dividends"):
        return state if state.live_rows is None else state.replace(live_rows=None)
    if state.live_rows is not None:
        return state
    S, n = state.n_subnets, state.n_uids
    live = np.zeros((S, n), dtype=np.bool_)
    for matrix in (state.weights, state.bonds):
        # the bit patterns: a -0.0 entry keeps a row live (the kernel would copy its sign)
        bits = matrix.numpy().reshape(S, n, -1).view(np.int64)
        live |= (bits != 0).any(axis=2)
    return state.replace(live_rows=torch.from_numpy(live))


def advance_chain(
    state: NetworkState, params: EconomyParams, n_blocks: int
) -> tuple[NetworkState, list[Any]]:
    """Run the chain for ``n_blocks`` blocks: whole tempos at once, the rest block by block.

    Returns the new state and the economy's step results in order. The state's bonds must be
    the caller's own (see :class:`sim.model.GovSimModel`): the epochs write their rows in place.
    The state carries ``live_rows`` from the first call on (see :func:`with_live_rows`).
    """
    state = with_live_rows(state, params)
    results: list[Any] = []
    left = n_blocks
    while left >= params.tempo:
        state, result = economy.tempo_step(state, params, bonds_owned=True)
        results.append(result)
        left -= params.tempo
    for _ in range(left):
        state, result = economy.block_step(state, params, bonds_owned=True)
        results.append(result)
    return state, results
