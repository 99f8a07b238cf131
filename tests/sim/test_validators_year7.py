"""The numba paths of the validators' observation and honest weights equal numpy's byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from sim.agents import validators
from sim.agents.validators import ValidatorObservation, observed_quality

pytestmark = pytest.mark.skipif(not validators.HAVE_NUMBA, reason="numba is not installed")


def _numpy_honest(observed: np.ndarray, exponent: float) -> np.ndarray:
    """The reference: numpy's power, numpy's row sums, the row division."""
    rows = observed**exponent
    total = rows.sum(axis=-1, keepdims=True)
    positive = total > 0
    return np.where(positive, rows / np.where(positive, total, 1.0), 0.0)


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1), (2, 3, 7), (3, 2, 8), (2, 2, 9), (4, 3, 128), (2, 2, 129), (3, 4, 256),
     (2, 1, 300), (1, 2, 1000), (1, 1, 4099)],
)  # fmt: skip
def test_squared_rows_equal_numpy_bytes(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    observed = rng.lognormal(0.0, 3.0, shape)
    observed[..., ::3] = 0.0
    observed[0, 0] = 0.0  # an all-zero row stays zero
    if shape[-1] > 2:
        observed[-1, -1, 1] = np.inf  # an infinite sum: the row is NaN and inf / inf
    got = ValidatorObservation(
        observed, np.zeros(shape[::2]), np.zeros(shape[::2], dtype=bool)
    ).honest_weights(2.0)
    assert got.tobytes() == _numpy_honest(observed, 2.0).tobytes()


def test_other_exponents_keep_numpy() -> None:
    observed = np.random.default_rng(3).lognormal(0.0, 1.0, (3, 2, 50))
    got = ValidatorObservation(
        observed, np.zeros((3, 50)), np.zeros((3, 50), dtype=bool)
    ).honest_weights(1.5)
    assert got.tobytes() == _numpy_honest(observed, 1.5).tobytes()


@pytest.mark.parametrize("detection", [0.0, 0.3, 1.0])
def test_observed_quality_numba_equals_numpy(
    monkeypatch: pytest.MonkeyPatch, detection: float
) -> None:
    rng = np.random.default_rng(7)
    apparent = rng.lognormal(0.0, 1.0, (5, 33))
    duplicate = rng.random((5, 33)) < 0.3
    is_miner = rng.random((5, 33)) < 0.9

    def observe() -> np.ndarray:
        return observed_quality(
            apparent, duplicate, is_miner, n_validators=4, noise=0.2, detection=detection,
            rng=np.random.default_rng(11),
        )  # fmt: skip

    fused = observe()
    monkeypatch.setattr(validators, "HAVE_NUMBA", False)
    assert fused.tobytes() == observe().tobytes()


def test_masked_row_copy_equals_copyto() -> None:
    rng = np.random.default_rng(5)
    rows = rng.random((6, 4, 10))
    mask = rng.random((6, 4)) < 0.5
    out = np.full((6, 4, 10), -1.0)
    expected = out.copy()
    np.copyto(expected, rows, where=mask[..., None])
    validators._copy_masked_rows(rows, mask, out)
    assert out.tobytes() == expected.tobytes()
