"""sim.noise_stream: the compiled PCG64 twin gives numpy's draws byte for byte, and leaves the
generator where numpy would; observed_quality and evolve_log_skill draw as before."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
import pytest

from sim import noise_stream
from sim.agents import validators
from sim.agents.miners import evolve_log_skill
from sim.agents.validators import observed_quality

pytestmark = pytest.mark.skipif(not noise_stream.HAVE_TWIN, reason="the twin needs numba")


@pytest.fixture(autouse=True)
def _twin_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin for the small arrays of these tests too (numpy draws below the threshold)."""
    monkeypatch.setattr(noise_stream, "MIN_TWIN_SIZE", 0)


SHAPES: list[tuple[int, ...]] = [(0,), (1,), (2,), (7,), (3, 0, 5), (3, 5, 7), (4, 3, 129)]

Draw = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]

#: (twin, numpy) pairs: what each function must equal.
PAIRS: dict[str, tuple[Draw, Draw]] = {
    "normal32": (
        noise_stream.standard_normal_float32,
        lambda rng, size: rng.standard_normal(size, dtype=np.float32),
    ),
    "normal64": (noise_stream.standard_normal, lambda rng, size: rng.standard_normal(size)),
    "random32": (
        noise_stream.random_float32,
        lambda rng, size: rng.random(size, dtype=np.float32),
    ),
}


def _same_state(a: np.random.Generator, b: np.random.Generator) -> bool:
    return a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("earlier", [0, 1, 2, 5])
def test_twin_equals_numpy_bytes_and_state(name: str, seed: int, earlier: int) -> None:
    twin, reference = PAIRS[name]
    mine, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    # an odd number of earlier 32-bit draws leaves half a 64-bit draw buffered (has_uint32)
    mine.random(earlier, dtype=np.float32)
    theirs.random(earlier, dtype=np.float32)
    assert mine.bit_generator.state["has_uint32"] == earlier % 2
    for shape in SHAPES:
        got, want = twin(mine, shape), reference(theirs, shape)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes(), (name, seed, earlier, shape)
        assert _same_state(mine, theirs)
    # and the generator goes on as numpy's: every kind of draw after the twin's agrees
    assert mine.random(3).tobytes() == theirs.random(3).tobytes()
    assert mine.integers(0, 1000, 5).tobytes() == theirs.integers(0, 1000, 5).tobytes()
    assert (
        mine.random(3, dtype=np.float32).tobytes() == theirs.random(3, dtype=np.float32).tobytes()
    )


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_int_size_and_interleaving(name: str) -> None:
    twin, reference = PAIRS[name]
    mine, theirs = np.random.default_rng(99), np.random.default_rng(99)
    for size in (5, 0, 1, 1000):
        got = twin(mine, size)  # type: ignore[arg-type]
        assert got.tobytes() == reference(theirs, (size,)).tobytes()
        # numpy's own draws in between
        assert mine.standard_normal(3, dtype=np.float32).tobytes() == (
            theirs.standard_normal(3, dtype=np.float32).tobytes()
        )
    assert _same_state(mine, theirs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_float32_rare_paths(seed: int) -> None:
    """Enough samples for hundreds of tail draws (|x| > r, log1pf) and thousands of wedge
    tests (exp): every branch of the ziggurat, checked against numpy."""
    mine, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    mine.random(1, dtype=np.float32)
    theirs.random(1, dtype=np.float32)
    got = noise_stream.standard_normal_float32(mine, (4_000_001,))
    want = theirs.standard_normal(4_000_001, dtype=np.float32)
    assert got.tobytes() == want.tobytes()
    assert _same_state(mine, theirs)
    assert np.count_nonzero(np.abs(got) > noise_stream._NOR_R_F) > 300


@pytest.mark.parametrize("seed", [0, 1])
def test_normal_float64_rare_paths(seed: int) -> None:
    mine, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    got = noise_stream.standard_normal(mine, (2_000_001,))
    want = theirs.standard_normal(2_000_001)
    assert got.tobytes() == want.tobytes()
    assert _same_state(mine, theirs)
    assert np.count_nonzero(np.abs(got) > noise_stream._NOR_R_D) > 150


@pytest.mark.parametrize("bit_generator", [np.random.MT19937, np.random.PCG64DXSM, np.random.SFC64])
def test_other_bit_generators_draw_through_numpy(
    bit_generator: type[np.random.BitGenerator],
) -> None:
    with noise_stream.pcg64_words(np.random.Generator(bit_generator(5))) as words:
        assert words is None
    for name, (twin, reference) in PAIRS.items():
        mine = np.random.Generator(bit_generator(5))
        theirs = np.random.Generator(bit_generator(5))
        got, want = twin(mine, (3, 17)), reference(theirs, (3, 17))
        assert got.tobytes() == want.tobytes(), name
        assert mine.random(4).tobytes() == theirs.random(4).tobytes()


def test_without_the_twin_numpy_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(noise_stream, "HAVE_TWIN", False)
    with noise_stream.pcg64_words(np.random.default_rng(1)) as words:
        assert words is None
    for twin, reference in PAIRS.values():
        mine, theirs = np.random.default_rng(4), np.random.default_rng(4)
        assert twin(mine, (9,)).tobytes() == reference(theirs, (9,)).tobytes()
        assert _same_state(mine, theirs)


def test_small_arrays_draw_through_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(noise_stream, "MIN_TWIN_SIZE", 100)
    entered = []
    words_of = noise_stream.pcg64_words

    def counted(rng: np.random.Generator) -> AbstractContextManager[np.ndarray | None]:
        entered.append(1)
        return words_of(rng)

    monkeypatch.setattr(noise_stream, "pcg64_words", counted)
    for calls, (twin, reference) in enumerate(PAIRS.values()):
        mine, theirs = np.random.default_rng(6), np.random.default_rng(6)
        assert twin(mine, (9, 11)).tobytes() == reference(theirs, (9, 11)).tobytes()
        assert len(entered) == calls  # 99 draws: numpy's
        assert twin(mine, (10, 10)).tobytes() == reference(theirs, (10, 10)).tobytes()
        assert len(entered) == calls + 1  # 100: the twin's
        assert _same_state(mine, theirs)


def test_words_left_unchanged_leave_the_generator_unchanged() -> None:
    rng = np.random.default_rng(8)
    rng.random(1, dtype=np.float32)
    before = rng.bit_generator.state
    with noise_stream.pcg64_words(rng) as words:
        assert words is not None and words.dtype == np.uint64 and words.shape == (6,)
    assert rng.bit_generator.state == before


def _numpy_observed_quality(
    apparent: np.ndarray,
    duplicate: np.ndarray,
    is_miner: np.ndarray,
    *,
    n_validators: int,
    noise: float,
    detection: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """observed_quality as plain numpy draws and arithmetic (the reference)."""
    s, u = apparent.shape
    base = np.where(is_miner, apparent, 0.0)[:, None, :]
    factor = rng.standard_normal((s, n_validators, u), dtype=np.float32)
    factor *= noise
    np.exp(factor, out=factor)
    obs = base * factor
    if detection > 0 and duplicate.any():
        draws = rng.random((s, n_validators, u), dtype=np.float32)
        spotted = (draws < detection) & duplicate[:, None, :]
        np.copyto(obs, 0.0, where=spotted)
    return obs


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("shape", "n_validators"), [((5, 33), 4), ((3, 64), 3), ((1, 1), 1), ((2, 0), 2), ((4, 9), 0)]
)
@pytest.mark.parametrize("detection", [0.0, 0.3, 0.123456789, 1.0])
@pytest.mark.parametrize("twin", [True, False])
def test_observed_quality_equals_numpy(
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    shape: tuple[int, int],
    n_validators: int,
    detection: float,
    twin: bool,
) -> None:
    if not twin:
        monkeypatch.setattr(noise_stream, "HAVE_TWIN", False)
    inputs = np.random.default_rng(100 + seed)
    apparent = inputs.lognormal(0.0, 1.0, shape)
    duplicate = inputs.random(shape) < 0.2
    is_miner = inputs.random(shape) < 0.9
    mine, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    mine.random(seed % 2, dtype=np.float32)
    theirs.random(seed % 2, dtype=np.float32)
    kwargs = {"n_validators": n_validators, "noise": 0.15, "detection": detection}
    got = observed_quality(apparent, duplicate, is_miner, rng=mine, **kwargs)  # type: ignore[arg-type]
    want = _numpy_observed_quality(apparent, duplicate, is_miner, rng=theirs, **kwargs)  # type: ignore[arg-type]
    assert got.dtype == np.float64 and got.tobytes() == want.tobytes()
    assert _same_state(mine, theirs)


def test_observed_quality_spots_duplicates_in_the_twin_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pass that draws from the stream runs here and zeroes spotted duplicates."""
    calls = []
    kernel = validators._spot_duplicates_drawing

    def counted(*args: object) -> None:
        calls.append(1)
        kernel(*args)

    monkeypatch.setattr(validators, "_spot_duplicates_drawing", counted)
    shape = (4, 50)
    duplicate = np.zeros(shape, dtype=bool)
    duplicate[:, ::3] = True
    got = observed_quality(
        np.ones(shape), duplicate, np.ones(shape, dtype=bool), n_validators=5, noise=0.1,
        detection=0.5, rng=np.random.default_rng(3),
    )  # fmt: skip
    assert calls == [1]
    assert (got[:, :, ~duplicate[0]] > 0).all()
    assert 0 < np.count_nonzero(got[:, :, duplicate[0]] == 0) < duplicate.sum() * 5


@pytest.mark.parametrize("reversion", [0.0, 0.4])
def test_evolve_log_skill_equals_numpy(reversion: float) -> None:
    inputs = np.random.default_rng(2)
    log_skill, mean_log = inputs.normal(size=(6, 37)), inputs.normal(size=(6, 37))
    mine, theirs = np.random.default_rng(12), np.random.default_rng(12)
    mine.random(1, dtype=np.float32)
    theirs.random(1, dtype=np.float32)
    got = evolve_log_skill(
        log_skill, mean_log, dt_days=0.05, volatility_per_day=0.1, reversion_per_day=reversion,
        rng=mine,
    )  # fmt: skip
    decay = np.exp(-reversion * 0.05) if reversion > 0 else 1.0
    sd = 0.1 * np.sqrt((1 - decay**2) / (2 * reversion)) if reversion > 0 else 0.1 * np.sqrt(0.05)
    want = mean_log + (log_skill - mean_log) * decay + sd * theirs.standard_normal((6, 37))
    assert got.tobytes() == want.tobytes()
    assert _same_state(mine, theirs)


@pytest.mark.parametrize("earlier", [0, 1])
@pytest.mark.parametrize(
    "pattern", ["first_subnet", "last_subnet", "edges", "adjacent", "one", "all", "sparse"]
)
def test_observed_quality_jumps_over_gaps(earlier: int, pattern: str) -> None:
    """Duplicates placed so that the spotting pass jumps over whole subnets (gaps longer
    than its jump table), takes neighbouring draws (the buffered half), and skips to the end."""
    s, v, u = 6, 7, 41
    duplicate = np.zeros((s, u), dtype=bool)
    if pattern == "first_subnet":
        duplicate[0, [0, 5, 6]] = True
    elif pattern == "last_subnet":
        duplicate[-1, [1, 2, 3, 40]] = True
    elif pattern == "edges":
        duplicate[[0, 3], 0] = True
        duplicate[[2, 5], u - 1] = True
    elif pattern == "adjacent":
        duplicate[1:4, 10:16] = True
    elif pattern == "one":
        duplicate[2, 20] = True
    elif pattern == "all":
        duplicate[:] = True
    else:
        duplicate = np.random.default_rng(5).random((s, u)) < 0.03
    inputs = np.random.default_rng(9)
    apparent = inputs.lognormal(0.0, 1.0, (s, u))
    is_miner = np.ones((s, u), dtype=bool)
    mine, theirs = np.random.default_rng(21), np.random.default_rng(21)
    mine.random(earlier, dtype=np.float32)
    theirs.random(earlier, dtype=np.float32)
    kwargs = {"n_validators": v, "noise": 0.3, "detection": 0.6}
    got = observed_quality(apparent, duplicate, is_miner, rng=mine, **kwargs)  # type: ignore[arg-type]
    want = _numpy_observed_quality(apparent, duplicate, is_miner, rng=theirs, **kwargs)  # type: ignore[arg-type]
    assert got.tobytes() == want.tobytes()
    assert _same_state(mine, theirs)


def test_a_twin_that_no_longer_matches_numpy_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ziggurat table off by one ulp (as a changed numba or numpy would be): the self-check
    finds it, warns, and every draw then comes from numpy, the same as numpy's."""
    assert noise_stream.twin_agrees_with_numpy()
    wrong = noise_stream._WI_F.copy()
    wrong[7] = np.nextafter(wrong[7], np.float32(1.0))
    monkeypatch.setattr(noise_stream, "_WI_F", wrong)
    noise_stream.twin_agrees_with_numpy.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="does not reproduce"):
            assert not noise_stream.twin_agrees_with_numpy()
        with noise_stream.pcg64_words(np.random.default_rng(1)) as words:
            assert words is None
        mine, theirs = np.random.default_rng(5), np.random.default_rng(5)
        got = noise_stream.standard_normal_float32(mine, (64, 129))
        assert got.tobytes() == theirs.standard_normal((64, 129), dtype=np.float32).tobytes()
        assert _same_state(mine, theirs)
    finally:
        noise_stream.twin_agrees_with_numpy.cache_clear()
