"""The cabal's gain (``cabal.*`` KPIs): measured from what the run's epochs paid."""

from __future__ import annotations

import pytest

from sim import run
from sim.config import SimConfig

SMALL = {
    "horizon_days": 2.0,
    "network": {"n_subnets": 3, "n_uids": 24, "n_validators": 6},
    "stakers": {"n_stakers": 6},
}


def _config(boost: float, stake_share: float, mix: dict[str, float] | None = None) -> SimConfig:
    from sim.schema import validate_config

    return validate_config(
        {
            **SMALL,
            "validators": {
                "mix": mix or {"honest": 0.5, "cabal": 0.5},
                "cabal_miners": 4,
                "cabal_weight_boost": boost,
                "cabal_stake_share": stake_share,
            },
        },
        source="test",
    )


def test_no_cabal_no_cabal_kpis() -> None:
    kpis = run(_config(10.0, 0.7, {"honest": 1.0}), policy="sudo", seed=1).kpis
    assert not [k for k in kpis if k.startswith("cabal.")]


@pytest.mark.parametrize("seed", [1, 2])
def test_an_honest_cabal_earns_its_fair_share_a_boosting_one_gains(seed: int) -> None:
    """Boost 1 is honest weighting: the members earn about what honest weights pay them.
    Holding most of the stake and boosting its miners' weights 10x, the same cabal on the same
    seed takes its miners well over their fair share."""
    honest = run(_config(1.0, 0.7), policy="sudo", seed=seed).kpis
    assert honest["cabal.subnets"] >= 1
    assert abs(honest["cabal.gain"]) < 0.1
    assert honest["cabal.miner_income_share"] == pytest.approx(
        honest["cabal.miner_fair_share"], abs=0.05
    )
    assert honest["cabal.validator_income_share"] == pytest.approx(
        honest["cabal.validator_fair_share"], abs=0.05
    )
    boosted = run(_config(10.0, 0.7), policy="sudo", seed=seed).kpis
    assert boosted["cabal.miner_income_share"] > 1.3 * boosted["cabal.miner_fair_share"]
    assert boosted["cabal.gain"] > honest["cabal.gain"] + 0.2
    assert boosted["cabal.excess_tao"] > 0
    # The fair share is what the honest validators' weights give the cabal's miners: the
    # cabal's own weights do not move it.
    assert boosted["cabal.miner_fair_share"] == pytest.approx(
        honest["cabal.miner_fair_share"], rel=0.2
    )


def test_every_step_is_booked_in_its_own_step() -> None:
    """The ledger books each step's epochs when they are paid: after the first step it holds
    that step's pay, and after the last step, the last step's (it once read the model's
    previous results, one step late, and never booked the run's last epochs)."""
    from sim import engine
    from sim.model import GovSimModel

    model = GovSimModel(_config(10.0, 0.7).model_copy(update={"seed": 3}))
    try:
        ledger = model.recorder.cabal
        assert ledger is not None
        model.step()
        first = ledger.validator_pay.sum() + ledger.miner_pay.sum()
        paid = sum(
            float(r.drain.validator_alpha.sum() + r.drain.miner_alpha.sum())
            for r in model.last_results
        )
        assert paid > 0 and first > 0
        while not model.finished:
            before = ledger.validator_pay.sum() + ledger.miner_pay.sum()
            model.step()
        last = ledger.validator_pay.sum() + ledger.miner_pay.sum() - before
        assert last > 0  # the final step's epochs are in the totals
    finally:
        engine.release(model)


def test_a_copied_model_keeps_booking_into_its_own_totals() -> None:
    """A copy of the model (``sim.fork`` copies one per policy) books into its own ledger:
    the named totals read the one block of running totals, in the copy too."""
    import copy

    from sim import engine
    from sim.metrics import compute_kpis
    from sim.model import GovSimModel

    model = GovSimModel(_config(10.0, 0.7).model_copy(update={"seed": 4}))
    try:
        for _ in range(5):
            model.step()
        clone = copy.deepcopy(model)
        try:
            model.run()
            clone.run()
            ours, theirs = compute_kpis(model), compute_kpis(clone)
        finally:
            engine.release(clone)
        assert ours["cabal.miner_income_share"] > 0
        for key in [k for k in ours if k.startswith("cabal.")]:
            assert theirs[key] == ours[key], key
    finally:
        engine.release(model)
