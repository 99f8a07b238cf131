"""sim.chain's numba paths for alpha per share and account alpha equal numpy's byte for byte."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sim import chain

pytestmark = pytest.mark.skipif(not chain.HAVE_NUMBA, reason="numba is not installed")


def _state(seed: int, n_subnets: int = 6, n_uids: int = 11, n_accounts: int = 9) -> SimpleNamespace:
    """A state with the edge cases the numpy path meets: no shares, negative and subnormal
    share totals, uids without a coldkey, accounts without a nomination, -0.0 and NaN."""
    rng = np.random.default_rng(seed)
    shape = (n_subnets, n_uids)
    total = rng.lognormal(20.0, 2.0, shape)
    total[rng.random(shape) < 0.2] = 0.0
    total[0, :3] = [-1.0, 1e-310, 5e-301]
    alpha = rng.lognormal(20.0, 2.0, shape)
    alpha[1, 2] = -0.0
    owner_shares = rng.lognormal(15.0, 2.0, shape)
    owner_shares[2, 3] = np.nan
    owner_shares[2, 4] = -0.0
    coldkey = rng.integers(-1, n_accounts, shape)
    nom_uid = rng.integers(-1, n_uids, (n_accounts, n_subnets))
    nom_shares = rng.lognormal(15.0, 2.0, (n_accounts, n_subnets))
    nom_shares[rng.random(nom_shares.shape) < 0.3] = 0.0
    state = SimpleNamespace(
        total_shares=torch.from_numpy(total),
        hotkey_alpha=torch.from_numpy(alpha),
        owner_shares=torch.from_numpy(owner_shares),
        uid_coldkey=torch.from_numpy(coldkey),
        nom_uid=torch.from_numpy(nom_uid),
        nom_shares=torch.from_numpy(nom_shares),
        market_alpha=torch.from_numpy(rng.lognormal(20.0, 1.0, n_subnets)),
        n_accounts=n_accounts,
        n_subnets=n_subnets,
    )
    state.view = lambda name: getattr(state, name).numpy()  # NetworkState.view's reads
    return state


@pytest.mark.parametrize("seed", range(6))
def test_account_alpha_equals_numpy(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    state = _state(seed)
    fused_value = chain._alpha_per_share(state)
    fused_owned = chain.uid_owned_alpha(state)
    fused = chain.account_alpha(state)
    monkeypatch.setattr(chain, "HAVE_NUMBA", False)
    with np.errstate(all="ignore"):
        assert fused_value.tobytes() == chain._alpha_per_share(state).tobytes()
        assert fused_owned.tobytes() == chain.uid_owned_alpha(state).tobytes()
        assert fused.tobytes() == chain.account_alpha(state).tobytes()


def test_out_of_range_indices_take_the_numpy_path() -> None:
    state = _state(0)
    state.uid_coldkey[0, 0] = state.n_accounts  # beyond the accounts: numpy's reshape fails
    with pytest.raises(ValueError):
        chain.account_alpha(state)
