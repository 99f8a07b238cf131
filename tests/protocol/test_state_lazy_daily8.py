"""NetworkState fields set by ``replace_arrays``: their tensors are made when first read, on
the arrays themselves, and every copy, pickle and replace sees the same values."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest
import torch

from protocol.economy.network import new_network
from protocol.economy.state import NetworkState


def _state() -> NetworkState:
    return new_network(4, 8, seed=1, n_validators=2)


def _fields_bytes(state: NetworkState) -> list[object]:
    return [
        value.numpy().tobytes() if isinstance(value, torch.Tensor) else value
        for value in (getattr(state, f.name) for f in dataclasses.fields(NetworkState))
    ]


def test_a_replaced_array_becomes_its_tensor_when_first_read() -> None:
    state = _state()
    prices = np.arange(4, dtype=np.float64)
    new = state.replace_arrays({"pool_tao": prices}, block=state.block + 5)
    assert "pool_tao" not in new.__dict__  # not made yet
    assert new.view("pool_tao") is prices
    tensor = new.pool_tao
    assert tensor.data_ptr() == prices.ctypes.data and tensor.dtype == torch.float64
    assert new.pool_tao is tensor  # made once
    assert new.block == state.block + 5
    assert np.array_equal(state.view("pool_tao"), state.pool_tao.numpy())  # the parent's own


def test_replace_carries_a_field_still_to_be_made() -> None:
    state = _state()
    alpha = np.full(4, 3.0)
    parent = state.replace_arrays({"pool_alpha": alpha})
    child = parent.replace(block=parent.block + 1)
    assert "pool_alpha" not in child.__dict__
    assert child.pool_alpha.data_ptr() == alpha.ctypes.data
    assert parent.pool_alpha.data_ptr() == alpha.ctypes.data
    replaced = parent.replace(pool_alpha=torch.zeros(4, dtype=torch.float64))
    assert not replaced.pool_alpha.any()
    assert not replaced.view("pool_alpha").any()
    # dataclasses.replace reads every field (making the tensors) and builds a state of them
    rebuilt = dataclasses.replace(parent, block=7)
    assert rebuilt.block == 7
    assert rebuilt.pool_alpha.numpy().tobytes() == alpha.tobytes()


@pytest.mark.parametrize("clone", ["pickle", "deepcopy", "copy"])
def test_copies_and_pickles_carry_the_fields_still_to_be_made(clone: str) -> None:
    state = _state()
    arrays = {
        "pool_tao": np.linspace(1.0, 2.0, 4),
        "hotkey_alpha": np.ones((4, 8)),
        "nom_uid": np.full(state.nom_uid.shape, -1, dtype=np.int64),
    }
    new = state.replace_arrays(arrays)
    want = _fields_bytes(state.replace(**{k: torch.from_numpy(v) for k, v in arrays.items()}))
    fresh = state.replace_arrays(arrays)
    copied = {
        "pickle": lambda: pickle.loads(pickle.dumps(fresh)),
        "deepcopy": lambda: copy.deepcopy(fresh),
        "copy": lambda: copy.copy(fresh),
    }[clone]()
    assert _fields_bytes(copied) == want
    assert _fields_bytes(new) == want
    assert "_numpy_views" not in copied.__dict__


def test_dtype_checks_make_no_tensor() -> None:
    state = _state()
    new = state.replace_arrays({"pool_tao": np.zeros(4), "flow_ema": np.zeros(4, dtype=np.float32)})
    assert new.is_float64("pool_tao", cpu=True)
    assert not new.is_float64("flow_ema")
    assert "pool_tao" not in new.__dict__ and "flow_ema" not in new.__dict__
    assert new.is_float64("pool_alpha", cpu=True)  # a made tensor
    assert not new.is_float64("nom_uid")
    assert new.flow_ema.dtype == torch.float32


def test_unknown_names_still_fail() -> None:
    state = _state()
    new = state.replace_arrays({"pool_tao": np.zeros(4)})
    assert not hasattr(new, "nope")
    with pytest.raises(AttributeError, match="nope"):
        _ = new.nope
    with pytest.raises(ValueError, match="unknown field 'nope'"):
        state.replace_arrays({"nope": np.zeros(4)})


def test_a_derived_value_goes_when_replace_arrays_changes_an_input() -> None:
    state = _state()
    calls = []

    def total() -> float:
        calls.append(1)
        return float(state.view("pool_tao").sum())

    state.derived("total", frozenset({"pool_tao"}), total)
    kept = state.replace_arrays({"pool_alpha": np.zeros(4)})
    assert kept.derived("total", frozenset({"pool_tao"}), lambda: -1.0) != -1.0
    changed = state.replace_arrays({"pool_tao": np.zeros(4)})
    assert changed.derived("total", frozenset({"pool_tao"}), lambda: -1.0) == -1.0
    assert len(calls) == 1


def test_an_array_backed_result_makes_its_tensors_when_read() -> None:
    from protocol.economy.coinbase import CoinbaseResult

    arrays = {
        name: np.full(3, float(i))
        for i, name in enumerate(
            (
                "tao_emission",
                "tao_in",
                "alpha_in",
                "excess_tao",
                "protocol_alpha_bought",
                "alpha_out",
                "owner_cut",
                "root_alpha",
            )
        )
    }
    shares = torch.ones(3, dtype=torch.float64)
    result = CoinbaseResult.of_arrays(
        arrays, block_emission=1.0, shares=shares, root_sell=False, n_blocks=360
    )
    assert "alpha_in" not in result.__dict__
    assert result.array("alpha_in") is arrays["alpha_in"]  # no tensor made
    assert "alpha_in" not in result.__dict__
    tensor = result.alpha_in
    assert tensor.data_ptr() == arrays["alpha_in"].ctypes.data and result.alpha_in is tensor
    assert result.array("shares").ctypes.data == shares.data_ptr()
    want = CoinbaseResult(
        block_emission=1.0,
        shares=shares,
        root_sell=False,
        n_blocks=360,
        **{name: torch.from_numpy(array) for name, array in arrays.items()},
    )
    for clone in (
        result,
        pickle.loads(pickle.dumps(result)),
        copy.deepcopy(result),
        copy.copy(result),
        dataclasses.replace(result, n_blocks=360),
    ):
        for f in dataclasses.fields(CoinbaseResult):
            got, expected = getattr(clone, f.name), getattr(want, f.name)
            if isinstance(expected, torch.Tensor):
                assert got.numpy().tobytes() == expected.numpy().tobytes(), f.name
            else:
                assert got == expected, f.name
    assert not hasattr(result, "nope")
    with pytest.raises(TypeError, match="expected the fields"):
        CoinbaseResult.of_arrays(arrays, block_emission=1.0, shares=shares, root_sell=False)
    with pytest.raises(TypeError, match="expected the fields"):
        CoinbaseResult.of_arrays(
            arrays, block_emission=1.0, shares=shares, root_sell=False, n_blocks=1, tao_in=shares
        )
