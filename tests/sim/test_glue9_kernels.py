"""The recorder's end-of-emission pass and the uids' own alpha in one numba pass each equal
the numpy expressions they replace, byte for byte (NaN shares and days, zeros of both signs,
empty hotkeys)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protocol._numba import HAVE_NUMBA
from protocol.economy.network import new_network
from sim import chain
from sim.metrics import _end_of_emission

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="the kernels are numba's")


def _numpy_end_of_emission(shares: np.ndarray, previous: np.ndarray, day: float) -> np.ndarray:
    emitting = shares > 0
    newly_off = emitting == 0
    out = np.where(np.isnan(previous) & newly_off, day, previous)
    return np.where(emitting, np.nan, out)


@pytest.mark.parametrize("seed", range(5))
def test_end_of_emission_is_the_two_selects(seed: int) -> None:
    rng = np.random.default_rng(seed)
    specials = np.array([0.0, -0.0, np.nan, 1e-300, -1.0, 0.25])
    for size in (0, 1, 7, 16):
        shares = rng.choice(specials, size)
        previous = np.where(rng.random(size) < 0.5, np.nan, rng.random(size) * 40)
        day = float(rng.random() * 40)
        out = np.empty(size)
        every = _end_of_emission(shares, previous, day, out)
        want = _numpy_end_of_emission(shares, previous, day)
        assert out.tobytes() == want.tobytes()
        assert every == bool((shares > 0).all())
    out = np.empty(3)
    assert _end_of_emission(np.full(3, 0.5), np.zeros(3), 1.0, out)
    assert np.isnan(out).all()


@pytest.mark.parametrize("seed", range(3))
def test_uid_owned_alpha_is_shares_times_alpha_per_share(seed: int) -> None:
    state = new_network(4, 8, seed=seed, n_validators=2)
    rng = np.random.default_rng(seed)
    total = state.total_shares.numpy().copy()
    total[rng.random(total.shape) < 0.3] = 0.0
    total[0, :3] = [5e-301, -0.0, np.nan]
    alpha = state.hotkey_alpha.numpy() * rng.random(total.shape)
    owner = total * rng.random(total.shape)
    owner[1, :2] = [-0.0, np.nan]
    s = state.replace(
        total_shares=torch.from_numpy(total),
        hotkey_alpha=torch.from_numpy(alpha),
        owner_shares=torch.from_numpy(owner),
    )
    with np.errstate(all="ignore"):
        value = np.where(total > 0, alpha / np.maximum(total, 1e-300), 0.0)
        want = owner * value
    got = chain.uid_owned_alpha(s)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
