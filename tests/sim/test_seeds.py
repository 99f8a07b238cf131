"""Seeds: checked once, spawned once, refused when they cannot be replayed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim import engine
from sim.api import load_config, run
from sim.model import GovSimModel
from sim.seeds import STREAMS, RunStreams, check_seed

TINY: dict[str, Any] = {
    "horizon_days": 0.1,
    "network": {"n_subnets": 2, "n_uids": 8, "n_validators": 2},
    "stakers": {"n_stakers": 2},
}


@pytest.mark.parametrize("good", [0, 7, np.int64(3), np.uint32(5)])
def test_integers_are_seeds(good: Any) -> None:
    assert check_seed(good) == int(good) and type(check_seed(good)) is int


@pytest.mark.parametrize(
    "bad", [-1, 1.5, 2.0, "3", True, None, np.random.default_rng(0), np.random.SeedSequence(1)]
)
def test_anything_else_is_refused_naming_the_seed(bad: Any) -> None:
    with pytest.raises(
        ValueError, match=r"^seed: expected a non-negative integer \(at most 2\^63 - 1\), got "
    ):
        check_seed(bad)


def test_streams_are_the_seeds_children_in_a_fixed_order() -> None:
    assert STREAMS == (
        "network",
        "assign",
        "skill",
        "observe",
        "stakers",
        "events",
        "market",
        "governance",
        "miners",
        "calibration",
    )
    streams = RunStreams.from_seed(42)
    children = np.random.SeedSequence(42).spawn(len(STREAMS))
    for name, child in zip(STREAMS, children, strict=True):
        expected = np.random.default_rng(child).random(3)
        assert (getattr(streams, name).random(3) == expected).all(), name
    assert streams.seed == 42


def test_run_checks_the_seed_before_anything_else() -> None:
    with pytest.raises(ValueError, match=r"^seed: .*Generator"):
        run(TINY, seed=np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^seed: .*-2"):
        run(TINY, seed=-2)
    assert run(TINY, seed=np.int64(4)).fingerprint() == run(TINY, seed=4).fingerprint()


def test_the_model_refuses_streams_of_another_seed() -> None:
    config = load_config(TINY, seed=1)
    with pytest.raises(ValueError, match=r"streams: spawned from seed 2, but config\.seed is 1"):
        GovSimModel(config, streams=RunStreams.from_seed(2))
    model = GovSimModel(config, streams=RunStreams.from_seed(1))
    try:
        assert model.seed == 1
    finally:
        engine.release(model)
