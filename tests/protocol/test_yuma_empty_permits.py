"""The chain's empty ``ValidatorPermit`` vector, as at subtensor HEAD, in both modes.

HEAD ``run_epoch.rs`` reads the stored vector as it is. The owner's permit is forced through
``get_mut``, a no-op on an empty vector; ``inplace_mask_vector`` returns early on an empty mask,
so the active stake is not permit-masked; ``mask_rows_sparse`` reads a missing entry as masked
(``unwrap_or(true)``), so every weight row is dropped: no consensus, no incentive, and the
emission goes by active stake.

Hand vector: stake [10, 5, 0] (uid 0 the owner), both validators weight uid 2 fully, uid 0 holds a
bond of 30000/65535 on uid 2; all active, nobody recently registered. With ``[]``: consensus
and incentive 0; Yuma 3 bonds decay to 0.9 x 30000 = 27000 (26999 in fixed point); dividends 0,
so the emission is the active stake, not permit-masked: [2/3, 1/3, 0] of 1e9. An all-false
vector of the same length is different: the owner's permit is forced, its weights survive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from protocol.yuma import yuma_epoch
from protocol.yuma._fused import fused_available
from protocol.yuma.replay import replay_states
from sim.cli import main

SN15 = Path(__file__).resolve().parents[2] / "scenarios" / "data" / "sn15_block4769998.json"
STATE: dict[str, Any] = {
    "stake": [10, 5, 0],
    "weights": [{"2": 65535}, {"2": 65535}, {}],
    "owner_uid": 0,
    "bonds": [{"2": 30000}, {}, {}],
    "block": 1000,
    "last_update": [999, 999, 999],
    "reg": [0, 0, 0],
}


@pytest.mark.parametrize("mode", ["exact", "float"])
def test_empty_permit_vector_drops_every_weight_row(mode: str) -> None:
    (out,) = replay_states(dict(STATE, validator_permit_prev=[]), mode)
    assert out["consensus_u16"] == [0, 0, 0]
    assert out["incentive_u16"] == [0, 0, 0]
    assert out["dividends_u16"] == [0, 0, 0]
    # active stake not permit-masked: uid 1 (no previous permit) shares the emission
    np.testing.assert_allclose(out["emission"], [666_666_666.67, 333_333_333.33, 0], atol=1)
    assert out["bonds"][0] == {"2": 26999 if mode == "exact" else 27000}
    assert out["validator_permit"] == [True, True, False]


@pytest.mark.parametrize("mode", ["exact", "float"])
def test_all_false_permits_are_not_the_empty_vector(mode: str) -> None:
    """Same length as the uids: the owner's permit is forced, so its weights count."""
    (out,) = replay_states(dict(STATE, validator_permit_prev=[False, False, False]), mode)
    assert out["consensus_u16"] == [0, 0, 65535]
    np.testing.assert_allclose(out["emission"], [5e8, 0, 5e8], atol=1)


def test_omitted_permits_are_the_empty_vector() -> None:
    for mode in ("exact", "float"):
        assert replay_states(STATE, mode) == replay_states(
            dict(STATE, validator_permit_prev=[]), mode
        )


@pytest.mark.parametrize("flag", ["--exact", "--float"])
def test_cli_replay_of_a_state_without_permits_keeps_no_weights(flag: str) -> None:
    """``govsim yuma replay`` of SN15 (its archive has no permits): no consensus that epoch."""
    assert json.loads(SN15.read_text())["validator_permit_prev"] == []
    result = CliRunner().invoke(main, ["yuma", "replay", str(SN15), flag])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert sum(out["consensus_u16"]) == 0 and sum(out["incentive_u16"]) == 0
    assert sum(out["emission"]) == pytest.approx(1e9, abs=256 * 3)


def test_python_api_none_still_means_no_permits_modelled() -> None:
    """``validator_permit_prev=None`` skips the permit masks (a convenience, not a chain state);
    an empty tensor is the chain's empty vector."""
    w = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    s = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    b = torch.zeros(3, 3, dtype=torch.float64)
    skipped = yuma_epoch(w, s, b, rao_emission=1e9)
    empty = yuma_epoch(w, s, b, rao_emission=1e9, validator_permit_prev=torch.zeros(0))
    assert [round(x) for x in skipped.emission.tolist()] == [250_000_000, 250_000_000, 500_000_000]
    assert [round(x) for x in empty.emission.tolist()] == [500_000_000, 500_000_000, 0]
    assert float(empty.incentive.sum()) == 0.0


@pytest.mark.skipif(not fused_available(), reason="numba is not installed")
def test_fused_and_torch_agree_on_the_empty_vector() -> None:
    gen = torch.Generator().manual_seed(5)
    B, n = 3, 9
    kwargs: dict[str, Any] = {
        "weights": torch.rand(B, n, n, generator=gen, dtype=torch.float64),
        "stake": torch.rand(B, n, generator=gen, dtype=torch.float64),
        "rao_emission": 1e9,
        "owner_uid": torch.tensor([0, 3, -1]),
        "validator_permit_prev": torch.zeros(B, 0, dtype=torch.bool),
    }
    bonds = torch.rand(B, n, n, generator=gen, dtype=torch.float64)
    want = yuma_epoch(**kwargs, bonds=bonds.clone(), backend="torch")
    got = yuma_epoch(**kwargs, bonds=bonds.clone(), backend="fused")
    assert float(want.incentive.abs().sum()) == 0.0
    for name, expected in want.tensors().items():
        actual = got.tensors()[name]
        if expected.dtype == torch.bool:
            assert torch.equal(actual, expected), name
        else:
            torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-9, msg=name)
