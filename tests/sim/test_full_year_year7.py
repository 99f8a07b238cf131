"""The full-year network (128 x 256, 16 validators, weights every tempo) a few steps in: the
numba twins of the validators, sim.chain and the permit selection give the state, the weights
and the KPIs of the numpy/torch paths byte for byte."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from protocol.yuma import float_epoch
from sim import chain
from sim.agents import validators
from sim.api import load_config
from sim.metrics import compute_kpis
from sim.model import GovSimModel

pytestmark = pytest.mark.skipif(not chain.HAVE_NUMBA, reason="numba is not installed")

#: bench/sim.py --full-year's network.
FULL_YEAR = {
    "name": "bench",
    "horizon_days": 365.0,
    "network": {"n_subnets": 128, "n_uids": 256, "n_validators": 16, "tempo": 360},
    "stakers": {"n_stakers": 32, "cadence_days": 1.0},
    "validators": {"weights_every_tempos": 1},
    "events": {"exploit_rate_per_year": 2.0, "scam_rate_per_year": 2.0},
}


def _run(steps: int) -> dict[str, bytes | str]:
    """The model's state, weights and KPIs after ``steps`` steps, as bytes."""
    model = GovSimModel(load_config(FULL_YEAR, policy="sudo", seed=0))
    for _ in range(steps):
        model.step()
    out: dict[str, bytes | str] = {}
    for field in dataclasses.fields(model.state):
        value = getattr(model.state, field.name)
        if isinstance(value, torch.Tensor):
            out[field.name] = value.numpy().tobytes()
        else:
            out[field.name] = repr(value)
    out["weights"] = model.work.weights.tobytes()
    out["kpis"] = repr(sorted(compute_kpis(model).items()))
    return out


def test_full_year_network_equals_the_reference_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    fused = _run(3)
    monkeypatch.setattr(validators, "HAVE_NUMBA", False)
    monkeypatch.setattr(chain, "HAVE_NUMBA", False)
    monkeypatch.setattr(
        float_epoch,
        "topk_nonzero_array",
        lambda stake, k: float_epoch.topk_nonzero(torch.from_numpy(stake), k).numpy(),
    )
    reference = _run(3)
    assert fused.keys() == reference.keys()
    assert [name for name in fused if fused[name] != reference[name]] == []
    assert np.frombuffer(fused["weights"]).any()  # the validators did set weights
