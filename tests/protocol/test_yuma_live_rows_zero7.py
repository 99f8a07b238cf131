"""``live_rows``: the fused epoch skips slice rows its caller knows to be all zero.

With rows marked ``False`` truly all ``+0.0`` (weights and bonds, no explicit entries), the
fused epoch must give the results it gives without the hint, byte for byte; a wrongly marked
row is caught by :func:`protocol.yuma._fused.check_live_rows`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.yuma._fused import check_live_rows, fused_available
from protocol.yuma.float_epoch import fused_epoch_arrays
from protocol.yuma.mechanisms import get_mechanism
from tests.protocol.test_yuma_fused import batched_epochs

pytestmark = pytest.mark.skipif(not fused_available(), reason="numba is not installed")


def _array(value: Any) -> np.ndarray | None:
    """A tensor argument as the C-contiguous numpy array the function takes."""
    return None if value is None else np.ascontiguousarray(value.numpy())


def _run(case: dict[str, Any], arrays: dict[str, Any], live_rows: np.ndarray | None) -> Any:
    """``fused_epoch_arrays`` on ``case`` with ``arrays``' weights, bonds (a copy, returned
    with the results) and explicit entries."""
    B = case["stake"].shape[0]
    mechanism = get_mechanism(case["mechanism"])
    params = mechanism.resolve_params(case["params"])
    block = case.get("block")
    permits = case.get("validator_permit_prev")
    empty = permits is not None and permits.shape[-1] == 0
    bonds = arrays["bonds"].copy()
    result = fused_epoch_arrays(
        arrays["weights"],
        case["stake"].numpy(),
        bonds,
        case["rao_emission"].numpy(),
        case["owner_uid"].numpy(),
        np.full(B, case.get("lms", 0), dtype=np.int64),
        params,
        mechanism,
        last_update=_array(case.get("last_update")),
        registration=_array(case.get("registration")),
        block=None if block is None else np.full(B, block, dtype=np.int64),
        permit_prev_in=None if empty else _array(permits),
        commit_block=_array(case.get("commit_block")),
        weights_present=arrays["present"],
        empty_permit_vector=empty,
        live_rows=live_rows,
    )
    return result, bonds


@settings(max_examples=60, deadline=None)
@given(case=batched_epochs(), data=st.data())
def test_live_rows_give_the_same_bytes(case: dict[str, Any], data: st.DataObject) -> None:
    weights = case["weights"].numpy().copy()
    bonds = case["bonds"].numpy().copy()
    present = _array(case.get("weights_present"))
    present = None if present is None else present.copy()
    B, n, _ = weights.shape
    # zero a random set of rows (weights, bonds, explicit entries), then mark a random subset
    # of the zero rows dead: rows left live may be zero too (the hint is a superset)
    zeroed = np.array(data.draw(st.lists(st.booleans(), min_size=B * n, max_size=B * n)))
    zeroed = zeroed.reshape(B, n)
    weights[zeroed] = 0.0
    bonds[zeroed] = 0.0
    if present is not None:
        present[zeroed] = False
    marked = np.array(data.draw(st.lists(st.booleans(), min_size=B * n, max_size=B * n)))
    live_rows = ~(zeroed & marked.reshape(B, n))
    check_live_rows(live_rows, weights, bonds, present)
    arrays = {"weights": weights, "bonds": bonds, "present": present}
    want, want_bonds = _run(case, arrays, None)
    got, got_bonds = _run(case, arrays, live_rows)
    for name, value in zip(got._fields, got, strict=True):
        reference = getattr(want, name)
        assert value.dtype == reference.dtype and value.tobytes() == reference.tobytes(), name
    assert got_bonds.tobytes() == want_bonds.tobytes()
    # every row marked dead: as good as all rows zero
    dead = np.zeros((B, n), dtype=np.bool_)
    arrays = {
        "weights": np.zeros_like(weights),
        "bonds": np.zeros_like(bonds),
        "present": None if present is None else np.zeros_like(present),
    }
    want, want_bonds = _run(case, arrays, None)
    got, got_bonds = _run(case, arrays, dead)
    for name, value in zip(got._fields, got, strict=True):
        assert value.tobytes() == getattr(want, name).tobytes(), name
    assert got_bonds.tobytes() == want_bonds.tobytes()


def test_check_live_rows_catches_a_wrongly_marked_row() -> None:
    weights = np.zeros((2, 4, 4))
    bonds = np.zeros((2, 4, 4))
    live = np.ones((2, 4), dtype=np.bool_)
    live[1, 2] = False
    check_live_rows(live, weights, bonds)
    weights[1, 2, 3] = 0.5
    with pytest.raises(ValueError, match=r"row 2 of batch 1 .* weights"):
        check_live_rows(live, weights, bonds)
    weights[1, 2, 3] = -0.0  # the kernel's copy would keep the sign: not "all +0.0"
    with pytest.raises(ValueError, match="weights"):
        check_live_rows(live, weights, bonds)
    weights[1, 2, 3] = 0.0
    bonds[1, 2, 0] = 1e-300
    with pytest.raises(ValueError, match="bonds"):
        check_live_rows(live, weights, bonds)
    bonds[1, 2, 0] = 0.0
    present = np.zeros((2, 4, 4), dtype=np.bool_)
    present[1, 2, 1] = True
    with pytest.raises(ValueError, match="explicit entries"):
        check_live_rows(live, weights, bonds, present)
    # a live row may hold anything
    weights[1, 1] = 1.0
    check_live_rows(live, weights, bonds)
