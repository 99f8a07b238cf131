"""The sim's numba kernels and shared round terms give the numpy path's numbers bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from sim.agents import validators
from sim.agents.stakers import StakerObservation, YieldRiskStaker
from sim.api import load_config
from sim.model import GovSimModel

pytestmark = pytest.mark.skipif(not validators.HAVE_NUMBA, reason="numba not installed")


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, NaNs in the same places and the same signs of zero."""
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.array_equal(a, b, equal_nan=True)
        and np.array_equal(np.signbit(a), np.signbit(b))
    )


def _rows(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    w = rng.random(shape) ** 3
    w[rng.random(shape) < 0.3] = 0.0
    w[rng.random(shape[:-1]) < 0.3] = 0.0  # whole zero rows
    w.flat[0], w.flat[-1] = np.nan, np.inf  # a NaN row sum and an infinite one
    return w


@pytest.mark.parametrize("shape", [(16, 64), (6, 4, 33), (2, 3)])
def test_normalise_rows_kernel_matches_numpy(
    shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    w = _rows(np.random.default_rng(len(shape)), shape)
    fused, fused_inplace = validators.normalise_rows(w), w.copy()
    validators._normalise_rows_inplace(fused_inplace)
    monkeypatch.setattr(validators, "HAVE_NUMBA", False)
    plain, plain_inplace = validators.normalise_rows(w), w.copy()
    validators._normalise_rows_inplace(plain_inplace)
    assert _same(fused, plain)
    assert _same(fused_inplace, plain_inplace)


@pytest.mark.parametrize("detection", [0.5, 0.123456789])
def test_observed_quality_kernel_matches_numpy(
    detection: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    apparent = rng.random((5, 40)) * 3.0
    duplicate = rng.random((5, 40)) < 0.3
    is_miner = rng.random((5, 40)) < 0.9

    def observe() -> np.ndarray:
        return validators.observed_quality(
            apparent,
            duplicate,
            is_miner,
            n_validators=4,
            noise=0.2,
            detection=detection,
            rng=np.random.default_rng(7),
        )

    fused = observe()
    monkeypatch.setattr(validators, "HAVE_NUMBA", False)
    assert _same(fused, observe())


def test_stakers_sharing_a_round_decide_as_alone() -> None:
    config = load_config(
        {"horizon_days": 1, "network": {"n_subnets": 4, "n_uids": 10, "n_validators": 2}}
    )
    model = GovSimModel(config)
    rng = np.random.default_rng(1)
    common = {
        "yields": rng.random(4),
        "utility": rng.random(4) + 0.5,
        "flagged": np.array([False, True, False, False]),
        "tradable": np.array([True, True, True, False]),
    }
    shared: dict[str, object] = {}
    for staker in model.stakers:
        if not isinstance(staker, YieldRiskStaker):
            continue
        holdings, liquid = rng.random(4) * 10.0, float(rng.random() * 5.0)
        together = staker.act(
            StakerObservation(**common, holdings_tao=holdings, liquid_tao=liquid, shared=shared)
        )
        alone = staker.act(StakerObservation(**common, holdings_tao=holdings, liquid_tao=liquid))
        assert _same(together[0], alone[0]) and together[1] == alone[1]
    assert shared, "the round's common terms were shared"
