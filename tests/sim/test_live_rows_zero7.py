"""``live_rows`` over runs: the marks the sim keeps are a superset of the non-zero rows.

At every economy step of a run (so before every epoch) each uid marked not live must have an
all-``+0.0`` weight row and bond row (:func:`protocol.yuma._fused.check_live_rows`), and a run
that keeps the marks must be the run without them, byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import protocol.economy as economy
import sim.chain
from protocol.yuma._fused import check_live_rows
from sim.api import load_config, run
from tests.sim.test_model_fastpath import CONFIG

#: Registrations on the model's own matrices (miners move at once and often), a lever.
SMALL: dict[str, Any] = CONFIG

#: A wide network (the full-year bench's shape, fewer subnets): most permit rows set nothing.
WIDE: dict[str, Any] = {
    "horizon_days": 0.5,
    "network": {"n_subnets": 8, "n_uids": 256, "n_validators": 16, "tempo": 360},
    "stakers": {"n_stakers": 8, "cadence_days": 1.0},
    "validators": {"weights_every_tempos": 1},
}

COVENANT = Path(__file__).resolve().parents[2] / "scenarios" / "covenant_2026.toml"


def _checked_steps(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Check the marks on every state entering and leaving an economy step; counts the
    checks and the rows marked not live."""
    seen = {"steps": 0, "dead": 0}
    tempo_step, block_step = economy.tempo_step, economy.block_step

    def check(state: Any) -> None:
        assert state.live_rows is not None
        live = state.live_rows.numpy()
        check_live_rows(live, state.weights.numpy(), state.bonds.numpy())
        seen["dead"] += int((~live).sum())

    def checked(step: Any) -> Any:
        def wrapped(state: Any, params: Any, **kw: Any) -> Any:
            check(state)
            seen["steps"] += 1
            new_state, result = step(state, params, **kw)
            check(new_state)
            return new_state, result

        return wrapped

    monkeypatch.setattr(economy, "tempo_step", checked(tempo_step))
    monkeypatch.setattr(economy, "block_step", checked(block_step))
    return seen


def _without_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs with the marks unknown (every permit row read)."""
    monkeypatch.setattr(sim.chain, "with_live_rows", lambda state, params: state)


@pytest.mark.parametrize("name", ["small", "small_block", "wide", "covenant"])
def test_marks_cover_the_non_zero_rows(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    if name == "covenant":
        config = load_config(COVENANT)  # the flagship study, 800 tempo steps
    elif name == "small_block":
        shock = {**SMALL["shocks"][0], "day": 0.05}
        config = load_config({**SMALL, "step": "block", "horizon_days": 0.1, "shocks": [shock]})
    else:
        config = load_config(SMALL if name == "small" else WIDE)
    with monkeypatch.context() as patched:
        seen = _checked_steps(patched)
        kept = run(config, seed=3)
    assert seen["steps"] > 0 and seen["dead"] > 0  # the marks were kept and did skip rows
    with monkeypatch.context() as patched:
        _without_marks(patched)
        unknown = run(config, seed=3)
    assert kept.fingerprint() == unknown.fingerprint()  # time series, KPIs and events
