"""The model's in-place economy calls give the same run as the pure, copying ones."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import protocol.economy as economy
from sim.api import run

CONFIG: dict[str, Any] = {
    "horizon_days": 2,
    "network": {"n_subnets": 3, "n_uids": 12, "n_validators": 3},
    "stakers": {"n_stakers": 3},
    # Miners re-register at once and often, so registrations run on the model's own matrices.
    "miners": {"relocation_lag_days": 0.0, "relocation_probability": 1.0, "max_moves_per_day": 8},
    "validators": {"weights_every_tempos": 2},
    "governance": {"actors": [{"count": 1, "intent": "self_interested"}]},
    "shocks": [
        {
            "kind": "intervention",
            "day": 1.0,
            "lever": {"kind": "set_emission_enabled", "netuid": 1},
            "intent": "self_interested",
        }
    ],
}


def _pure_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Route the model's fast calls to the copying API (the validator rows as a full matrix,
    as the model fed them before); returns a log of the calls made."""
    calls: list[str] = []
    with_weights, tempo_step = economy.with_weights, economy.tempo_step
    block_step, register_uid = economy.block_step, economy.register_uid

    def full_matrix(state: Any, weights: Any, uids: Any, *, in_place: bool = False) -> Any:
        calls.append("weights")
        full = torch.zeros_like(state.weights)
        full[:, torch.as_tensor(uids), :] = torch.as_tensor(weights, dtype=torch.float64)
        return with_weights(state, full)

    def copying_tempo(state: Any, params: Any, **kw: Any) -> Any:
        calls.append("tempo")
        return tempo_step(state, params, flows=kw.get("flows"))

    def copying_block(state: Any, params: Any, **kw: Any) -> Any:
        calls.append("block")
        return block_step(state, params, flows=kw.get("flows"))

    def copying_register(state: Any, params: Any, account: int, netuid: int, **kw: Any) -> Any:
        calls.append("register")
        return register_uid(state, params, account, netuid)

    monkeypatch.setattr(economy, "with_validator_weights", full_matrix)
    monkeypatch.setattr(economy, "tempo_step", copying_tempo)
    monkeypatch.setattr(economy, "block_step", copying_block)
    monkeypatch.setattr(economy, "register_uid", copying_register)
    return calls


@pytest.mark.parametrize("step", ["tempo", "block"])
def test_in_place_run_equals_the_copying_run(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    config: dict[str, Any] = {**CONFIG, "step": step}
    expected_calls = {"weights", step, "register"}
    if step == "block":
        # Block steps are slow: a few epochs suffice (too short for a daily relocation).
        config["horizon_days"] = 0.1
        config["shocks"] = [{**CONFIG["shocks"][0], "day": 0.05}]
        expected_calls = {"weights", step}
    fast = run(config, seed=3)
    with monkeypatch.context() as patched:
        calls = _pure_paths(patched)
        pure = run(config, seed=3)
    # the reference really took the pure path, registrations included
    assert expected_calls <= set(calls)
    assert fast.fingerprint() == pure.fingerprint()  # time series, KPIs and events
