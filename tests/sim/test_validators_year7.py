"""The numba paths of the validators' observation and honest weights equal numpy's byte for byte."""

from __future__ import annotations

import mesa
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
    with np.errstate(invalid="ignore"):  # NaN and inf rows: the division's NaN is masked out
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


def _observed(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """Observed quality with zero rows, NaN and inf in it (the edge rows of the honest square)."""
    observed = rng.lognormal(0.0, 3.0, shape)
    observed[..., ::4] = 0.0
    if shape[0] * shape[1] > 2 and shape[-1] > 2:
        observed[0, 0] = 0.0  # an all-zero row
        observed[-1, -1, 1] = np.inf  # inf / inf: a NaN row
        observed[0, -1, 2] = np.nan  # a NaN sum: a zero row
    return observed


def _observation(observed: np.ndarray, squared: tuple | None = None) -> ValidatorObservation:
    s, _, u = observed.shape
    return ValidatorObservation(observed, np.zeros((s, u)), np.zeros((s, u), dtype=bool), squared)


@pytest.mark.parametrize("shape", [(3, 4, 7), (2, 5, 256), (4, 2, 300), (1, 1, 1)])
@pytest.mark.parametrize("exponent", [2.0, 1.5])
def test_honest_rows_of_a_mask_equal_the_whole_arrays_rows(
    shape: tuple[int, int, int], exponent: float
) -> None:
    rng = np.random.default_rng(shape[-1])
    observed = _observed(rng, shape)
    for mask in (rng.random(shape[:2]) < 0.4, np.zeros(shape[:2], bool), np.ones(shape[:2], bool)):
        want = _numpy_honest(observed, exponent)[mask]
        got = _observation(observed).honest_rows(exponent, mask)
        assert got.shape == want.shape and got.tobytes() == want.tobytes()
        shared = _observation(observed)
        shared.honest_weights(exponent)  # the shared array, once made, is read instead
        assert shared.honest_rows(exponent, mask).tobytes() == want.tobytes()


@pytest.mark.parametrize("shape", [(3, 4, 7), (2, 5, 256), (4, 2, 300)])
@pytest.mark.parametrize("exponent", [2.0, 1.5])
def test_honest_rows_written_into_out_equal_copyto(
    shape: tuple[int, int, int], exponent: float
) -> None:
    rng = np.random.default_rng(sum(shape))
    observed = _observed(rng, shape)
    mask = rng.random(shape[:2]) < 0.5
    want = np.full(shape, -1.0)
    np.copyto(want, _numpy_honest(observed, exponent), where=mask[..., None])
    for shared in (False, True):
        obs = _observation(observed)
        if shared:
            obs.honest_weights(exponent)
        out = np.full(shape, -1.0)
        obs.write_honest_rows(exponent, mask, out)
        assert out.tobytes() == want.tobytes()
    # an output numba does not take (not contiguous): numpy's masked copy
    wide = np.full((*shape[:2], 2 * shape[2]), -1.0)
    _observation(observed).write_honest_rows(exponent, mask, wide[..., ::2])
    assert wide[..., ::2].tobytes() == want.tobytes()
    assert (wide[..., 1::2] == -1.0).all()


def test_rows_already_written_are_left_alone() -> None:
    observed = _observed(np.random.default_rng(1), (3, 4, 9))
    slots = np.zeros((3, 4), dtype=bool)
    slots[:, :2] = True
    out = np.full(observed.shape, 7.0)  # stands for rows made in the observation's pass
    obs = _observation(observed, (out, slots))
    obs.write_honest_rows(2.0, slots[:, :1].repeat(4, axis=1) & slots, out)  # within the slots
    assert (out == 7.0).all()
    other = np.full(observed.shape, 7.0)
    obs.write_honest_rows(2.0, slots, other)  # another array: written
    assert other[slots].tobytes() == _numpy_honest(observed, 2.0)[slots].tobytes()
    wider = slots.copy()
    wider[0, 3] = True  # a slot outside them: everything is written
    obs.write_honest_rows(2.0, wider, out)
    assert out[wider].tobytes() == _numpy_honest(observed, 2.0)[wider].tobytes()
    again = np.full(observed.shape, 7.0)
    _observation(observed, (again, slots)).write_honest_rows(1.5, slots, again)  # another power
    assert again[slots].tobytes() == _numpy_honest(observed, 1.5)[slots].tobytes()


def _observe_both(
    slots: np.ndarray | None, detection: float, seed: int, apparent: np.ndarray, v: int = 4
) -> tuple[np.ndarray, np.ndarray | None, np.random.Generator]:
    """observed_quality_and_squared_rows of ``apparent`` (duplicates and miners from ``seed``)."""
    s, u = apparent.shape
    rng = np.random.default_rng(seed)
    duplicate = rng.random((s, u)) < 0.3
    is_miner = rng.random((s, u)) < 0.9
    gen = np.random.default_rng(seed + 100)
    observed, rows = validators.observed_quality_and_squared_rows(
        apparent, duplicate, is_miner, slots, n_validators=v, noise=0.3, detection=detection,
        rng=gen,
    )  # fmt: skip
    return observed, rows, gen


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("detection", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("u", [1, 9, 256, 300])
def test_the_observation_pass_makes_the_honest_rows(seed: int, detection: float, u: int) -> None:
    """The observed quality and the generator as observed_quality leaves them; the rows of the
    slots as honest_weights(2.0) makes them, zeros elsewhere."""
    rng = np.random.default_rng(seed)
    s, v = 5, 4
    apparent = rng.lognormal(0.0, 2.0, (s, u))
    apparent[0, 0] = np.inf
    apparent[1, :] = 0.0
    if u > 2:
        apparent[2, 1] = np.nan
    for slots in (
        rng.random((s, v)) < 0.6, np.zeros((s, v), dtype=bool), np.ones((s, v), dtype=bool)
    ):  # fmt: skip
        observed, rows, gen = _observe_both(slots, detection, seed, apparent)
        plain = np.random.default_rng(seed)
        duplicate = plain.random((s, u)) < 0.3
        is_miner = plain.random((s, u)) < 0.9
        reference = np.random.default_rng(seed + 100)
        want = observed_quality(
            apparent, duplicate, is_miner, n_validators=v, noise=0.3, detection=detection,
            rng=reference,
        )  # fmt: skip
        assert observed.tobytes() == want.tobytes()
        assert gen.bit_generator.state == reference.bit_generator.state
        assert rows is not None
        expected = np.zeros(want.shape)
        np.copyto(expected, _numpy_honest(want, 2.0), where=slots[..., None])
        assert rows.tobytes() == expected.tobytes()


def test_the_observation_pass_without_rows_it_cannot_make(monkeypatch: pytest.MonkeyPatch) -> None:
    apparent = np.random.default_rng(2).lognormal(0.0, 1.0, (3, 8))
    slots = np.ones((3, 4), dtype=bool)
    _, rows, _ = _observe_both(None, 0.5, 1, apparent)  # no slots asked for
    assert rows is None
    _, rows, _ = _observe_both(np.ones((3, 4), dtype=bool), 0.5, 1, apparent[:, :0])  # no uids
    assert rows is None
    _, rows, _ = _observe_both(np.ones((3, 5), dtype=bool), 0.5, 1, apparent)  # another shape
    assert rows is None
    monkeypatch.setattr(validators, "HAVE_NUMBA", False)
    observed, rows, _ = _observe_both(slots, 0.5, 1, apparent)
    assert rows is None and observed.shape == (3, 4, 8)


def test_honest_cohorts_name_their_squared_slots() -> None:
    class Tuned(validators.HonestValidators):
        def weights(self, obs: ValidatorObservation) -> np.ndarray:
            return self.honest_rows(obs) * 0.5

    model = mesa.Model()
    mask = np.ones((2, 3), dtype=bool)
    honest = validators.HonestValidators
    assert honest(model, mask, {}).squared_slots() is mask
    assert honest(model, mask, {"weight_exponent": 1.5}).squared_slots() is None
    assert Tuned(model, mask, {}).squared_slots() is None  # its own weights: not the square
    assert validators.CabalValidators(model, mask, {}).squared_slots() is None


def test_the_pass_kernels_write_every_row() -> None:
    """Every row of the weight array is written (the squared rows or zeros), whatever the
    memory held before."""
    from sim import noise_stream

    rng = np.random.default_rng(4)
    s, v, u = 3, 4, 130
    base = rng.lognormal(0.0, 1.0, (s, u))
    factor = rng.lognormal(0.0, 0.2, (s, v, u)).astype(np.float32)
    square = rng.random((s, v)) < 0.5
    obs, rows = np.empty((s, v, u)), np.full((s, v, u), np.nan)
    validators._products_and_squared_rows(base, factor, obs, square, rows)
    assert obs.tobytes() == (base[:, None, :] * factor).tobytes()
    want = np.zeros((s, v, u))
    np.copyto(want, _numpy_honest(obs, 2.0), where=square[..., None])
    assert rows.tobytes() == want.tobytes()
    duplicate = rng.random((s, u)) < 0.3
    gen = np.random.default_rng(9)
    rows[:] = np.nan
    with noise_stream.pcg64_words(gen) as words:
        assert words is not None
        validators._spot_duplicates_drawing(
            base, factor, duplicate, np.float32(0.5), words, obs, square, rows
        )
    want = np.zeros((s, v, u))
    np.copyto(want, _numpy_honest(obs, 2.0), where=square[..., None])
    assert rows.tobytes() == want.tobytes()


@pytest.mark.parametrize("u", [40, 41, 256, 301])
@pytest.mark.parametrize("earlier", [0, 1])
@pytest.mark.parametrize("share", [0.02, 0.3])
def test_the_spotting_draws_are_numpys(u: int, earlier: int, share: float) -> None:
    """The draws of duplicates (each from its row's first state) and the generator's end
    are numpy's, for even and odd rows, a buffered half or none, sparse and dense copies."""
    inputs = np.random.default_rng(u + earlier)
    s, v = 5, 6
    apparent = inputs.lognormal(0.0, 1.0, (s, u))
    duplicate = inputs.random((s, u)) < share
    duplicate[1] = False  # a subnet without a draw
    duplicate[2, [0, u - 1]] = True
    is_miner = inputs.random((s, u)) < 0.95
    mine, theirs = np.random.default_rng(21), np.random.default_rng(21)
    mine.random(earlier, dtype=np.float32)
    theirs.random(earlier, dtype=np.float32)
    got = observed_quality(
        apparent, duplicate, is_miner, n_validators=v, noise=0.3, detection=0.4, rng=mine
    )
    base = np.where(is_miner, apparent, 0.0)[:, None, :]
    factor = theirs.standard_normal((s, v, u), dtype=np.float32)
    factor *= 0.3
    np.exp(factor, out=factor)
    want = base * factor
    spotted = (theirs.random((s, v, u), dtype=np.float32) < 0.4) & duplicate[:, None, :]
    np.copyto(want, 0.0, where=spotted)
    assert got.tobytes() == want.tobytes()
    assert mine.random(3).tobytes() == theirs.random(3).tobytes()
    assert (
        mine.random(3, dtype=np.float32).tobytes() == theirs.random(3, dtype=np.float32).tobytes()
    )
