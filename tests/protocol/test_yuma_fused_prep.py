"""Steps 1-4 of the float epoch in numba (:mod:`protocol.yuma._fused_prep`): bit for bit the
results of the torch steps on the fused backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import protocol.yuma.float_epoch as float_epoch
from protocol.yuma import EpochParams, yuma_epoch
from protocol.yuma._fused import fused_available
from tests.protocol.test_yuma_fused import batched_epochs

pytestmark = pytest.mark.skipif(not fused_available(), reason="numba is not installed")


def _bits(tensor: torch.Tensor) -> bytes:
    """The raw bytes of a tensor (bit equality, NaN and signed zeros included)."""
    return tensor.contiguous().numpy().tobytes()


def _both(kwargs: dict[str, Any]) -> tuple[Any, Any, list[bool]]:
    """The fused epoch with steps 1-4 in torch and in numba, and whether numba ran."""
    used: list[bool] = []
    numba_applies = float_epoch._numba_steps_apply

    def spy(*args: Any) -> bool:
        used.append(numba_applies(*args))
        return used[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(float_epoch, "_numba_steps_apply", lambda *args: False)
        want = yuma_epoch(**dict(kwargs, bonds=kwargs["bonds"].clone()), backend="fused")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(float_epoch, "_numba_steps_apply", spy)
        got = yuma_epoch(**dict(kwargs, bonds=kwargs["bonds"].clone()), backend="fused")
    return want, got, used


def _assert_identical(want: Any, got: Any) -> None:
    for name, expected in want.tensors().items():
        actual = got.tensors()[name]
        assert actual.dtype == expected.dtype, name
        assert actual.shape == expected.shape, name
        assert _bits(actual) == _bits(expected), name


@settings(max_examples=150, deadline=None)
@given(case=batched_epochs())
def test_numba_steps_are_bit_identical(case: dict[str, Any]) -> None:
    want, got, used = _both(case)
    assert used == [True]
    _assert_identical(want, got)


@pytest.mark.parametrize("max_validators", [1, 3, 64])
@pytest.mark.parametrize("owner", [-1, 0, 5])
def test_numba_steps_with_ties_thresholds_and_the_topk_selection(
    max_validators: int, owner: int
) -> None:
    """Tied stakes (the top-k selection breaks ties by uid), stakes at the threshold, rows
    with more candidates than permits and rows with all uids permitted."""
    rng = np.random.default_rng(7)
    B, n = 4, 12
    stake = rng.integers(0, 4, (B, n)).astype(np.float64) * 50.0
    stake[1] = 100.0  # every uid tied
    permits = rng.random((B, n)) < 0.5
    permits[2] = True  # k = n
    case = {
        "weights": torch.tensor(rng.random((B, n, n))),
        "stake": torch.tensor(stake),
        "bonds": torch.tensor(np.where(permits[:, :, None], rng.random((B, n, n)), 0.0)),
        "rao_emission": torch.tensor(rng.random(B) * 1e9),
        "owner_uid": owner,
        "validator_permit_prev": torch.tensor(permits),
        "last_update": torch.tensor(rng.integers(0, 1_000, (B, n))),
        "registration": torch.tensor(rng.integers(0, 1_000, (B, n))),
        "block": 1_000,
        "lms": 950,
        "params": EpochParams(max_validators=max_validators, stake_threshold=100.0, tempo=100),
    }
    want, got, used = _both(case)
    assert used == [True]
    _assert_identical(want, got)


def test_numba_steps_skip_a_non_contiguous_stake() -> None:
    """A strided stake is left to the torch steps (their row sums see its own layout)."""
    rng = np.random.default_rng(3)
    stake = torch.tensor(rng.random((6, 3))).T
    case = {
        "weights": torch.tensor(rng.random((3, 6, 6))),
        "stake": stake,
        "bonds": torch.zeros(3, 6, 6, dtype=torch.float64),
    }
    want, got, used = _both(case)
    assert used == [False]
    _assert_identical(want, got)
