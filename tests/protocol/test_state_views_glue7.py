"""NetworkState's numpy views: converted once per state, carried by ``replace`` for the kept
fields only, never pickled, and the same steps with or without them (byte for byte)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from protocol.economy import tempo_step
from protocol.economy.network import new_network
from protocol.economy.state import EconomyParams, NetworkState

FIELDS = [
    name
    for name, value in vars(new_network(2, 8, seed=0, n_validators=2)).items()
    if torch.is_tensor(value)
]


def _state() -> NetworkState:
    return new_network(4, 8, seed=1, n_validators=2)


def test_a_view_is_the_tensors_memory_converted_once() -> None:
    state = _state()
    view = state.view("pool_tao")
    assert view is state.view("pool_tao")
    assert np.array_equal(view, state.pool_tao.numpy())
    state.pool_tao[0] = 123.0  # an in-place write to the tensor shows through
    assert view[0] == 123.0


def test_replace_keeps_the_views_of_the_kept_fields_only() -> None:
    state = _state()
    kept, changed = state.view("pool_tao"), state.view("pool_alpha")
    new = state.replace(pool_alpha=state.pool_alpha + 1.0)
    assert new.view("pool_tao") is kept
    assert new.view("pool_alpha") is not changed
    assert np.array_equal(new.view("pool_alpha"), changed + 1.0)
    # the new state's memo is its own: reading a field there leaves the parent's alone
    new.view("balances")
    assert "balances" not in state.__dict__.get("_numpy_views", {})
    with pytest.raises(ValueError, match="unknown field 'nope'"):
        state.replace(nope=1)


def test_replace_arrays_makes_the_arrays_the_fields_and_their_views() -> None:
    state = _state()
    state.view("pool_tao")
    prices = np.arange(4, dtype=np.float64)
    new = state.replace_arrays({"pool_tao": prices}, block=state.block + 5)
    assert new.view("pool_tao") is prices
    assert new.pool_tao.data_ptr() == prices.ctypes.data
    assert new.block == state.block + 5
    assert np.array_equal(state.view("pool_tao"), state.pool_tao.numpy())


@pytest.mark.parametrize("clone", [pickle.loads, copy.deepcopy, copy.copy])
def test_copies_and_pickles_carry_no_views(clone: object) -> None:
    state = _state()
    for name in FIELDS:
        state.view(name)
    copied = clone(pickle.dumps(state)) if clone is pickle.loads else clone(state)
    assert "_numpy_views" not in copied.__dict__
    for name in FIELDS:
        assert np.array_equal(copied.view(name), getattr(copied, name).numpy())
        assert copied.view(name).ctypes.data == getattr(copied, name).data_ptr()


def test_tempo_steps_with_and_without_views_are_byte_identical() -> None:
    params = EconomyParams(era="tao_flow", net_tao_flow_enabled=False)
    with_views = _state()
    for name in FIELDS:
        with_views.view(name)
    without = pickle.loads(pickle.dumps(with_views))
    for _ in range(3):
        with_views, _ = tempo_step(with_views, params)
        without = pickle.loads(pickle.dumps(without))  # no views carried from the last step
        without, _ = tempo_step(without, params)
    for name in FIELDS:
        assert (
            getattr(with_views, name).numpy().tobytes() == getattr(without, name).numpy().tobytes()
        )


def test_a_derived_value_is_kept_until_one_of_its_inputs_is_replaced() -> None:
    state = _state()
    calls: list[int] = []

    def compute() -> float:
        calls.append(1)
        return float(state.flow_ema.sum())

    inputs = frozenset(("flow_ema", "active"))
    assert state.derived("total", inputs, compute) == state.derived("total", inputs, compute)
    assert len(calls) == 1
    kept = state.replace(pool_tao=state.pool_tao + 1.0, block=state.block + 1)
    kept.derived("total", inputs, compute)
    assert len(calls) == 1
    changed = kept.replace(flow_ema=kept.flow_ema + 1.0)
    changed.derived("total", inputs, compute)
    assert len(calls) == 2
    assert "_derived_values" not in pickle.loads(pickle.dumps(changed)).__dict__


def test_the_shares_the_recorder_reads_are_the_next_coinbases() -> None:
    from protocol.economy.coinbase import _flow_shares_fused, subnet_shares

    params = EconomyParams(era="tao_flow", net_tao_flow_enabled=False)
    state, _ = tempo_step(_state(), params)
    block = state.block + 1
    first = subnet_shares(state, params, block)
    assert subnet_shares(state.replace(reg_burn=state.reg_burn * 0.5), params, block) is first
    fresh = _flow_shares_fused(pickle.loads(pickle.dumps(state)), params, block)
    assert fresh is not None
    assert first.numpy().tobytes() == fresh[1].numpy().tobytes()
    moved = state.replace(flow_ema=state.flow_ema * 2.0)
    assert subnet_shares(moved, params, block) is not first


def test_a_successor_derives_into_a_memo_of_its_own() -> None:
    state = _state()
    inputs = frozenset(("flow_ema",))
    state.derived("other", frozenset(("pool_tao",)), lambda: 0.0)  # a memo to carry
    changed = state.replace(pool_tao=state.pool_tao + 1.0)  # its only value dropped
    successor = changed.replace(block=changed.block + 1)  # from an empty memo
    assert successor.derived("sum", inputs, lambda: 1.0) == 1.0
    assert changed.derived("sum", inputs, lambda: 2.0) == 2.0  # the parent's memo untouched
    assert state.derived("sum", inputs, lambda: 3.0) == 3.0
