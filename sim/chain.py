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
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState

__all__ = [
    "account_alpha",
    "advance_chain",
    "alpha_prices",
    "emission_shares",
    "uid_owned_alpha",
]


def emission_shares(state: NetworkState, params: EconomyParams) -> np.ndarray:
    """TAO emission share per subnet at the next block ``[S]``."""
    from protocol.economy.coinbase import subnet_shares

    return subnet_shares(state, params, state.block + 1).numpy().astype(float)


def alpha_prices(state: NetworkState) -> np.ndarray:
    """Spot alpha price per subnet (TAO per alpha) ``[S]``."""
    return state.spot_price.numpy().astype(float)


def _alpha_per_share(state: NetworkState) -> torch.Tensor:
    return torch.where(
        state.total_shares > 0, state.hotkey_alpha / state.total_shares.clamp(min=1e-300), 0.0
    )


def uid_owned_alpha(state: NetworkState) -> np.ndarray:
    """Alpha each uid's own coldkey holds on it (rao) ``[S, n]``."""
    return (state.owner_shares * _alpha_per_share(state)).numpy()


def account_alpha(state: NetworkState) -> np.ndarray:
    """Alpha per account and subnet (rao) ``[A, S]``: own uids plus nominations."""
    value = _alpha_per_share(state)
    owned = torch.zeros(state.n_accounts, state.n_subnets, dtype=torch.float64)
    ck = state.uid_coldkey.clamp(min=0)
    own = torch.where(state.uid_coldkey >= 0, state.owner_shares * value, 0.0)
    owned.index_put_(
        (ck.flatten(), torch.arange(state.n_subnets).repeat_interleave(state.n_uids)),
        own.flatten(),
        accumulate=True,
    )
    uid = state.nom_uid.clamp(min=0)
    per_share = value.T.gather(0, uid)  # [A, S]
    nominated = torch.where(state.nom_uid >= 0, state.nom_shares * per_share, 0.0)
    out = owned + nominated
    out[MARKET_ACCOUNT] += state.market_alpha
    return out.numpy()


def advance_chain(
    state: NetworkState, params: EconomyParams, n_blocks: int
) -> tuple[NetworkState, list[Any]]:
    """Run the chain for ``n_blocks`` blocks: whole tempos at once, the rest block by block.

    Returns the new state and the economy's step results in order. The state's bonds must be
    the caller's own (see :class:`sim.model.GovSimModel`): the epochs write their rows in place.
    """
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
