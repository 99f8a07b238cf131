"""The coinbase's kept root-stake total and the fused drain's dtype checks."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from protocol._numba import HAVE_NUMBA
from protocol.economy import EconomyParams, new_network, tempo_step
from protocol.economy.coinbase import _root_stake_total
from tests.protocol.test_drain_fastpath5 import _compare, _network

drain_module = importlib.import_module("protocol.economy.drain")


def test_the_root_stake_total_is_kept_until_the_root_stake_is_replaced() -> None:
    state = new_network(4, 8, seed=3, n_validators=2)
    total = _root_stake_total(state)
    assert np.float64(total).tobytes() == np.float64(float(state.root_stake.sum())).tobytes()
    kept = state.replace(block=state.block + 1)
    assert kept.derived("root_stake_total", frozenset(), lambda: -1.0) == total
    after, _ = tempo_step(state, EconomyParams())
    assert after.derived("root_stake_total", frozenset(), lambda: -1.0) == total
    doubled = state.replace(root_stake=state.root_stake * 2.0)
    assert _root_stake_total(doubled) == float((state.root_stake * 2.0).sum())


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_the_fused_drain_declines_a_field_of_another_dtype(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = EconomyParams()
    start = _network(params)
    assert _compare(start, params, monkeypatch, steps=1) == 1
    in_float32 = start.replace(pending_owner=start.pending_owner.to(torch.float32))
    declined = drain_module._drain_all_fused(
        in_float32, params, in_float32.block + 1, {}, bonds_owned=False, backend="fused"
    )
    assert declined is None
