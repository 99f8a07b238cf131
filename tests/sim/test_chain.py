"""``sim.chain``'s numpy readers equal their torch formulation bit for bit.

``uid_owned_alpha`` and ``account_alpha`` read the state through numpy views (per step and per
recorded row); the torch formulation they replaced is kept here as the reference, and the
comparison is on the int64 bit patterns (so a sign of zero or one ulp would show).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protocol.economy.state import MARKET_ACCOUNT, NetworkState
from sim import chain, engine
from sim.api import load_config
from sim.model import GovSimModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _per_share(state: NetworkState) -> torch.Tensor:
    return torch.where(
        state.total_shares > 0, state.hotkey_alpha / state.total_shares.clamp(min=1e-300), 0.0
    )


def _reference_uid_owned_alpha(state: NetworkState) -> np.ndarray:
    return (state.owner_shares * _per_share(state)).numpy()


def _reference_account_alpha(state: NetworkState) -> np.ndarray:
    value = _per_share(state)
    owned = torch.zeros(state.n_accounts, state.n_subnets, dtype=torch.float64)
    ck = state.uid_coldkey.clamp(min=0)
    own = torch.where(state.uid_coldkey >= 0, state.owner_shares * value, 0.0)
    owned.index_put_(
        (ck.flatten(), torch.arange(state.n_subnets).repeat_interleave(state.n_uids)),
        own.flatten(),
        accumulate=True,
    )
    uid = state.nom_uid.clamp(min=0)
    nominated = torch.where(state.nom_uid >= 0, state.nom_shares * value.T.gather(0, uid), 0.0)
    out = owned + nominated
    out[MARKET_ACCOUNT] += state.market_alpha
    return out.numpy()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.array_equal(a.view(np.int64), b.view(np.int64))
    )


def test_readers_equal_the_torch_formulation() -> None:
    config = load_config(
        {
            "horizon_days": 3,
            "network": {"n_subnets": 4, "n_uids": 16, "n_validators": 3},
            "stakers": {"n_stakers": 8},
            "miners": {"relocation_lag_days": 0.0, "relocation_probability": 1.0},
        },
        seed=5,
    )
    model = GovSimModel(config)
    try:
        steps = 0
        # coldkeys with several uids on a subnet (the accumulation order matters)
        coldkeys = model.state.uid_coldkey.numpy()
        assert any(len(set(row[row >= 0])) < (row >= 0).sum() for row in coldkeys)
        while not model.finished:
            model.step()
            steps += 1
            state = model.state
            assert _same_bits(chain.uid_owned_alpha(state), _reference_uid_owned_alpha(state))
            assert _same_bits(chain.account_alpha(state), _reference_account_alpha(state))
        assert steps > 10
        assert (model.state.nom_uid.numpy() >= 0).any()
    finally:
        engine.release(model)
