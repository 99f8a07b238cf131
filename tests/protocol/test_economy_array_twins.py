"""The numpy twins of the economy's tensor functions give the same bits.

The coinbase, the drain and the registration burn's decay run their ``[S]`` arithmetic on numpy arrays (no tensor dispatch per
operation); each twin must equal its tensor function bit for bit, zeros, empty pools and capped
subnets included.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protocol.economy.amm import swap_alpha_for_tao, swap_alpha_for_tao_array
from protocol.economy.registration import decay_registration_burn
from protocol.economy.shares import SHARE_ERAS
from protocol.economy.state import EconomyParams


def _bits(values: torch.Tensor | np.ndarray) -> bytes:
    array = values.numpy() if isinstance(values, torch.Tensor) else values
    return np.ascontiguousarray(array).tobytes()


def _pools(seed: int, size: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    zero = rng.random(size) < 0.2
    return {
        "pool_tao": np.where(zero, 0.0, rng.random(size) * 1e15),
        "pool_alpha": np.where(rng.random(size) < 0.2, 0.0, rng.random(size) * 1e15),
        "w1": rng.uniform(0.05, 0.95, size),
        "amount": np.where(rng.random(size) < 0.3, 0.0, rng.random(size) * 1e13),
    }


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("fee_rate", [0.0, 0.0005])
def test_swap_alpha_for_tao_array(seed: int, fee_rate: float) -> None:
    pools = _pools(seed)
    args = (pools["pool_tao"], pools["pool_alpha"], pools["w1"], pools["amount"])
    want = swap_alpha_for_tao(*map(torch.from_numpy, args), fee_rate)
    got = swap_alpha_for_tao_array(*args, fee_rate)
    assert _bits(got) == _bits(want)


#: The eras whose injection has a numpy twin (the coinbase's fast path).
TWINNED = sorted(name for name in SHARE_ERAS.names() if SHARE_ERAS.get(name).injection_array)


def test_the_capped_eras_have_twins() -> None:
    assert {"tao_flow", "head", "price_root_prop"} <= set(TWINNED)


@pytest.mark.parametrize("era_name", TWINNED)
@pytest.mark.parametrize("seed", range(5))
def test_injection_arrays(era_name: str, seed: int) -> None:
    era = SHARE_ERAS.get(era_name)
    assert era.injection_array is not None
    rng = np.random.default_rng(seed)
    size = 16
    e_b = float(rng.choice([0, 250_000_000, 1_000_000_000]))
    shares = rng.random(size)
    shares = np.where(rng.random(size) < 0.2, 0.0, shares / shares.sum())
    tao_emission = e_b * shares
    price = np.where(rng.random(size) < 0.2, 0.0, rng.random(size) * 0.05)
    alpha_emission = np.where(rng.random(size) < 0.2, 0.0, np.floor(rng.random(size) * 1e9))
    root_prop = rng.random(size)
    arrays = (tao_emission, price, alpha_emission, root_prop)
    want = era.injection(*map(torch.from_numpy, arrays), e_b)
    got = era.injection_array(*arrays, e_b)
    for name, actual in zip(("tao_in", "alpha_in", "excess_tao"), got, strict=True):
        assert _bits(actual) == _bits(getattr(want, name)), name


@pytest.mark.parametrize("n_blocks", [1, 360, 100_000])
def test_registration_burn_decay_in_numpy(n_blocks: int) -> None:
    """The decay's numpy clamp equals torch's clamp (burns below, inside and above the range)."""
    params = EconomyParams()
    rng = np.random.default_rng(n_blocks)
    burn = torch.from_numpy(rng.choice([0.0, params.burn_min, params.burn_max * 2], 16))
    burn = burn + torch.from_numpy(rng.random(16) * params.burn_max)
    factor = 0.5 ** (n_blocks / params.burn_half_life)
    want = (burn * factor).clamp(min=params.burn_min, max=params.burn_max)
    assert _bits(decay_registration_burn(burn, n_blocks, params)) == _bits(want)
