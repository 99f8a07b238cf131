"""The work desk: miners' work, validators' weights at their cadence, the chain step's pay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from protocol.units import RAO_PER_TAO
from sim import chain, engine
from sim.api import load_config
from sim.desks.work import reveal_lag_steps
from sim.model import GovSimModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY: dict[str, Any] = {
    "horizon_days": 1,
    "network": {"n_subnets": 2, "n_uids": 10, "n_validators": 3},
    "stakers": {"n_stakers": 2},
    "miners": {"mix": {"honest": 0.5, "lazy": 0.5}, "relocation_probability": 0.0},
    "validators": {"mix": {"honest": 2 / 3, "inactive": 1 / 3}, "weights_every_tempos": 2},
}


@pytest.fixture()
def model() -> Iterator[GovSimModel]:
    m = GovSimModel(load_config(TINY))
    yield m
    engine.release(m)


def test_the_reveal_lag_counts_steps() -> None:
    def config(**network: Any) -> Any:
        return load_config({"network": network})

    assert reveal_lag_steps(config(commit_reveal=False), 360) == 1
    assert reveal_lag_steps(config(), 360) == 2  # on by default, one tempo to reveal
    assert reveal_lag_steps(config(commit_reveal=True, reveal_tempos=3), 360) == 4
    assert reveal_lag_steps(config(commit_reveal=True, reveal_tempos=3), 7_200) == 1
    assert reveal_lag_steps(config(commit_reveal=True, reveal_tempos=3), 1) == 4 * 360


def test_vacant_uids_submit_nothing_and_weights_follow_the_validators_cadence(
    model: GovSimModel,
) -> None:
    work = model.work
    work.miners.vacant[0, -1] = True
    work.act(360)
    submitted = work.submitted
    assert submitted is not None
    assert submitted.apparent[0, -1] == submitted.cost_per_day[0, -1] == 0.0
    assert (submitted.contribution[work.miners.is_miner & ~work.miners.vacant] > 0).all()
    rows = work.weights.sum(axis=2)  # [S, V]
    inactive = work.validators.strategy == "inactive"
    assert np.allclose(rows[~inactive], 1.0) and (rows[inactive] == 0).all()
    # validators never weigh their own or the owner's uid
    assert (work.weights[:, :, : 1 + len(model.validator_uids)] == 0).all()
    first = work.weights
    work.act(360)  # weights_every_tempos = 2: the chain keeps the last weights
    assert work.weights is first and not work._weights_changed
    model.block += 720
    work.act(360)
    assert work.weights is not first and work._weights_changed


def test_settle_runs_the_chain_and_books_each_uids_stake_growth_at_spot(
    model: GovSimModel,
) -> None:
    work = model.work
    work.act(360)
    owned = chain.uid_owned_alpha(model.state)
    block = int(model.state.block)
    results = work.settle(360)
    assert int(model.state.block) == block + 360 and len(results) == 1  # one tempo at once
    gained = np.maximum(chain.uid_owned_alpha(model.state) - owned, 0.0) / RAO_PER_TAO
    expected = gained * chain.alpha_prices(model.state)[:, None]
    assert np.allclose(work.uid_income_tao, expected)
    assert work.uid_income_tao[work.miners.is_miner].sum() > 0
    # recent income is a one-day EMA of the daily rate
    decay = 0.5 ** (360 / 7_200)
    assert np.allclose(work.recent_income, (1 - decay) * expected / (360 / 7_200))


def test_work_factor_is_one_before_any_work_and_tracks_real_contribution(
    model: GovSimModel,
) -> None:
    work = model.work
    assert work.subnet_work_factor().tolist() == [1.0, 1.0]
    work.act(360)
    factor = work.subnet_work_factor()
    grid = work.miners
    active = grid.is_miner & ~grid.vacant
    mean = (work.submitted.contribution * active).sum(axis=1) / active.sum(axis=1)
    assert np.allclose(factor, mean / model.config.miners.skill_mean)


@pytest.mark.parametrize("fused", [True, False])
def test_weights_made_in_the_observation_pass_equal_the_cohorts_own(
    monkeypatch: pytest.MonkeyPatch, fused: bool
) -> None:
    """The honest rows made while observing (and the zeros around them) are the weights the
    cohorts write themselves into zeros, every strategy mixed in, step after step."""
    from sim.agents import validators
    from sim.desks import work as work_desk

    config = load_config(
        {
            **TINY,
            "network": {"n_subnets": 3, "n_uids": 40, "n_validators": 6},
            "validators": {
                "mix": {"honest": 0.5, "weight_copier": 0.2, "cabal": 0.2, "inactive": 0.1},
            },
            "miners": {"mix": {"honest": 0.6, "copier": 0.4}, "relocation_probability": 0.0},
        }
    )

    made = []
    observe = work_desk.observed_quality_and_squared_rows

    def counted(*args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray | None]:
        observed, rows = observe(*args, **kwargs)
        made.append(rows is not None)
        return observed, rows

    def run(split: bool) -> list[bytes]:
        if split:  # the observation alone; the cohorts write every row
            monkeypatch.setattr(
                work_desk,
                "observed_quality_and_squared_rows",
                lambda *a, **k: (validators.observed_quality(*a[:3], **k), None),
            )
        else:
            monkeypatch.setattr(work_desk, "observed_quality_and_squared_rows", counted)
        if not fused:
            monkeypatch.setattr(validators, "HAVE_NUMBA", False)
        m = GovSimModel(config)
        try:
            out = []
            for _ in range(3):
                m.step()
                out.append(m.work.weights.tobytes())
            return out
        finally:
            monkeypatch.undo()
            engine.release(m)

    assert run(split=False) == run(split=True)
    assert made and all(made) == fused  # the pass made the rows where numba runs
