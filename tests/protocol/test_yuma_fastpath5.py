"""``fused_epoch_arrays``: the fused epoch on numpy arrays, as the drain calls it directly.

:func:`protocol.yuma.float_epoch.fused_epoch_arrays` is what ``run_float_epoch`` runs on the
fused backend (after ``yuma_epoch``'s checks); a caller holding C-contiguous numpy arrays (the
drain's whole-network path) calls it without them. Its results must be ``yuma_epoch``'s bit
for bit, with the new bond rows written into the bonds array it is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from protocol.yuma import EpochParams, yuma_epoch
from protocol.yuma._fused import fused_available
from protocol.yuma.float_epoch import fused_epoch_applies, fused_epoch_arrays
from protocol.yuma.mechanisms import Mechanism, get_mechanism
from tests.protocol.test_yuma_fused import batched_epochs

pytestmark = pytest.mark.skipif(not fused_available(), reason="numba is not installed")

#: ``fused_epoch_arrays``'s fields named otherwise in ``EpochResult``.
_RESULT_FIELD = {"permit": "validator_permit"}


def _array(value: torch.Tensor | None) -> np.ndarray | None:
    """A tensor argument as the C-contiguous numpy array the function takes."""
    return None if value is None else np.ascontiguousarray(value.numpy())


def _direct(case: dict[str, Any], bonds: np.ndarray) -> Any:
    """``fused_epoch_arrays`` on ``case``'s inputs (the conversions ``yuma_epoch`` makes)."""
    B = case["stake"].shape[0]
    mechanism = get_mechanism(case["mechanism"])
    params = mechanism.resolve_params(case["params"])
    block = case.get("block")
    lms = case.get("lms", 0)
    permits = case.get("validator_permit_prev")
    empty = permits is not None and permits.shape[-1] == 0
    return fused_epoch_arrays(
        case["weights"].numpy(),
        case["stake"].numpy(),
        bonds,
        case["rao_emission"].numpy(),
        case["owner_uid"].numpy(),
        np.full(B, lms, dtype=np.int64),
        params,
        mechanism,
        last_update=_array(case.get("last_update")),
        registration=_array(case.get("registration")),
        block=None if block is None else np.full(B, block, dtype=np.int64),
        permit_prev_in=None if empty else _array(permits),
        commit_block=_array(case.get("commit_block")),
        weights_present=_array(case.get("weights_present")),
        empty_permit_vector=empty,
    )


@settings(max_examples=120, deadline=None)
@given(case=batched_epochs())
def test_fused_epoch_arrays_equal_yuma_epoch_bit_for_bit(case: dict[str, Any]) -> None:
    mechanism = get_mechanism(case["mechanism"])
    assert fused_epoch_applies(mechanism.resolve_params(case["params"]), mechanism, "auto")
    want = yuma_epoch(**dict(case, bonds=case["bonds"].clone()), backend="fused")
    bonds = case["bonds"].numpy().copy()
    got = _direct(case, bonds)
    expected = want.tensors()
    for name, value in zip(got._fields, got, strict=True):
        reference = expected[_RESULT_FIELD.get(name, name)].numpy()
        assert value.dtype == reference.dtype and value.shape == reference.shape, name
        assert value.tobytes() == reference.tobytes(), name
    # the new bond rows are written into the array given
    assert bonds.tobytes() == want.bonds.numpy().tobytes()


def test_fused_epoch_applies_follows_the_backend_rule() -> None:
    params = EpochParams()
    yuma = get_mechanism("yuma")

    class OwnBonds(Mechanism):
        def bonds_and_dividends(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    assert fused_epoch_applies(params, yuma, "auto")
    assert fused_epoch_applies(params, yuma, "fused")
    assert not fused_epoch_applies(params, yuma, "torch")
    assert not fused_epoch_applies(params, OwnBonds("own_bonds", exact=False), "auto")
    # a consensus stake hook runs in torch inside the fused epoch
    assert fused_epoch_applies(params, get_mechanism("stake_capped"), "auto")
    # integers beyond the numba steps' int64 arithmetic
    assert not fused_epoch_applies(params.with_(max_validators=1 << 62), yuma, "auto")
