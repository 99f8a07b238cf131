"""Liquid alpha v1: when the chain uses its logistic, the tied-quartile rate, or the fallback.

subtensor ``compute_ema_bonds[_sparse]`` and ``calculate_logistic_params`` (PR #568, on main from
2024-07-02 until liquid alpha v2): an upper consensus quartile of 0 falls back to
``1 - bonds_moving_average``; tied quartiles give ``a = b = 0``, i.e. ``clamp(0.5, lo, hi)``;
anything else, a zero lower quartile included, takes the logistic.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch

from protocol.yuma import EpochParams, replay_states
from protocol.yuma._fused import _liquid_alpha_v1 as fused_liquid_alpha_v1
from protocol.yuma._fused import la1_logit
from protocol.yuma.exact_epoch import _chain_quantile
from protocol.yuma.exact_epoch import _liquid_alpha_v1 as exact_liquid_alpha_v1
from protocol.yuma.fixedpoint import ONE, U16_MAX
from protocol.yuma.float_epoch import liquid_alpha_v1
from protocol.yuma.state import parse_state

LOW_U16, HIGH_U16 = 19_660, 58_982  # alpha bounds 0.3 / 0.9: 0.5 lies strictly inside
BMA_U32 = 900_000  # fallback rate 0.1

#: name -> (consensus as multiples of 1/20, what the chain does)
CASES: dict[str, tuple[list[int], str]] = {
    "tied_quartiles": ([1, 4, 4, 4, 6], "tied"),  # c_low = c_high = 0.2
    "zero_lower_quartile": ([0, 0, 2, 6, 10], "logistic"),  # c_low = 0 < c_high = 0.3
    "all_zero": ([0, 0, 0, 0, 0], "fallback"),
    "zero_upper_quartile": ([0, 0, 0, 0, 10], "fallback"),  # some consensus, c_high = 0
    "spread": ([1, 2, 3, 5, 8], "logistic"),
}


def _bits(twentieths: list[int]) -> np.ndarray:
    return np.array([(k << 32) // 20 for k in twentieths], dtype=np.int64)


def _params() -> EpochParams:
    return EpochParams.from_chain(
        liquid_alpha=True, liquid_alpha_version="v1", yuma3=False, bma_u32=BMA_U32,
        alpha_low_u16=LOW_U16, alpha_high_u16=HIGH_U16,
    )  # fmt: skip


def _exact_alpha(consensus_bits: np.ndarray) -> np.ndarray:
    state = parse_state(
        {"stake": [1] * len(consensus_bits), "alpha_low_u16": LOW_U16, "alpha_high_u16": HIGH_U16}
    )
    fallback = ONE - round(BMA_U32 / 1e6 * ONE)
    return exact_liquid_alpha_v1(consensus_bits, state, fallback) / ONE


def _float_alphas(consensus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    params = _params()
    torch_alpha = liquid_alpha_v1(torch.tensor(consensus[None, :]), params).flatten().numpy()
    fused_alpha = np.empty(len(consensus))
    fused_liquid_alpha_v1(
        consensus, params.alpha_low, params.alpha_high, la1_logit(params.alpha_low),
        la1_logit(params.alpha_high), 1 - params.bonds_moving_average, fused_alpha,
    )  # fmt: skip
    return torch_alpha, fused_alpha


@pytest.mark.parametrize("name", list(CASES))
def test_la1_branch_on_exact_torch_and_fused(name: str) -> None:
    twentieths, expected = CASES[name]
    bits = _bits(twentieths)
    exact = _exact_alpha(bits)
    torch_alpha, fused_alpha = _float_alphas(bits / ONE)
    lo, hi = LOW_U16 / U16_MAX, HIGH_U16 / U16_MAX
    if expected == "fallback":
        assert (exact == (ONE - round(BMA_U32 / 1e6 * ONE)) / ONE).all()
        assert (torch_alpha == 1 - _params().bonds_moving_average).all()
    elif expected == "tied":
        assert (exact == 0.5).all()  # exactly 1 / (1 + e^0) in I32F32
        assert (torch_alpha == 0.5).all()
    else:
        # the logistic: alpha_low at the lower quartile, alpha_high at the upper one (n = 5:
        # the 2nd and 4th smallest values), strictly between them in between, clamped outside
        order = np.argsort(twentieths, kind="stable")
        ordered = exact[order]
        np.testing.assert_allclose(ordered[[1, 3]], [lo, hi], atol=1e-6)
        assert lo < ordered[2] < hi
        assert (np.diff(ordered) >= 0).all()
        assert ordered[0] >= lo - 1e-9 and ordered[4] <= hi + 1e-9
    np.testing.assert_allclose(torch_alpha, exact, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fused_alpha, torch_alpha, rtol=1e-12, atol=0)


def test_tie_clamps_one_half_to_the_bounds() -> None:
    """Tied quartiles with bounds above 0.5 give alpha_low (the chain default 0.7 / 0.9)."""
    bits = _bits(CASES["tied_quartiles"][0])
    state = parse_state({"stake": [1] * 5})  # AlphaValues default (45875, 58982)
    alpha = exact_liquid_alpha_v1(bits, state, fallback=0)
    assert (alpha == (45_875 << 32) // U16_MAX).all()
    params = EpochParams.from_chain(liquid_alpha=True, liquid_alpha_version="v1", yuma3=False)
    torch_alpha = liquid_alpha_v1(torch.tensor(bits[None, :] / ONE), params).flatten()
    assert (torch_alpha == params.alpha_low).all()


def test_chain_quantile_interpolates_in_fixed_point() -> None:
    """math.rs ``quantile``: linear interpolation, the I32F32 product floored."""
    bits = _bits([8, 1, 5, 3, 2])
    for q in (0.25, 0.5, 0.75):
        assert _chain_quantile(bits, q) == int(np.quantile(bits, q))
    assert _chain_quantile(np.array([0, 6], dtype=np.int64), 0.25) == 1  # floor(6 / 4)
    assert _chain_quantile(np.array([], dtype=np.int64), 0.75) == 0


# ------------------------------------------------------------------ whole epochs, exact vs float


def _state(lead_row: dict[str, int], **extra: Any) -> dict[str, Any]:
    """Two validators (uids 0, 1; the 60 % one sets consensus) and seven miners, with old bonds."""
    n = 9
    state = {
        "n": n, "block": 1000, "tempo": 360, "stake": [600_000, 400_000] + [0] * 7,
        "reg": [0] * n, "last_update": [999] * n, "yuma3": False,
        "weights": [lead_row, {"2": 3, "3": 2, "4": 1, "5": 1, "6": 1, "7": 1, "8": 1}]
        + [{}] * 7,
        "bonds": [{str(j): 40_000 for j in range(2, 9)}, {str(j): 9_000 for j in range(2, 9)}]
        + [{}] * 7,
        "validator_permit_prev": [True, True] + [False] * 7,
        "liquid_alpha": True, "liquid_alpha_version": "v1", "bma_u32": BMA_U32,
        "alpha_low_u16": LOW_U16, "alpha_high_u16": HIGH_U16, "rao_emission": 10**9,
    }  # fmt: skip
    state.update(extra)
    return state


TIED_ROW = {"2": 1, "3": 1, "4": 1, "5": 1, "6": 1, "7": 2, "8": 3}  # quartiles 0.1 / 0.1
ZERO_LOW_ROW = {"5": 1, "6": 2, "7": 3, "8": 4}  # quartiles 0 / 0.2


def _assert_exact_and_float_agree(state: dict[str, Any]) -> dict[str, Any]:
    exact = replay_states(state, "exact")[0]
    flt = replay_states(state, "float")[0]
    for key in ("incentive_u16", "dividends_u16", "consensus_u16", "validator_trust_u16"):
        assert np.abs(np.array(exact[key]) - np.array(flt[key])).max() <= 2, key
    for row_exact, row_float in zip(exact["bonds"], flt["bonds"], strict=True):
        assert row_exact.keys() == row_float.keys()
        for j, value in row_exact.items():
            assert abs(value - row_float[j]) <= 2
    np.testing.assert_allclose(exact["emission"], flt["emission"], atol=1e-5 * 10**9)
    return exact


@pytest.mark.parametrize("mode", ["exact", "float"])
def test_tied_quartiles_epoch_is_the_plain_ema_at_one_half(mode: str) -> None:
    """With tied consensus quartiles the LA1 epoch equals the plain EMA at rate 0.5, not 0.1."""
    liquid = replay_states(_state(TIED_ROW), mode)[0]
    half = replay_states(_state(TIED_ROW, liquid_alpha=False, bma_u32=500_000), mode)[0]
    fallback = replay_states(_state(TIED_ROW, liquid_alpha=False), mode)[0]
    if mode == "exact":
        assert liquid == half
    else:
        assert liquid["bonds"] == half["bonds"]
        np.testing.assert_allclose(liquid["emission"], half["emission"], rtol=1e-12)
    assert liquid["bonds"] != fallback["bonds"]


def test_zero_lower_quartile_takes_the_logistic() -> None:
    """A zero lower quartile (validators and unweighted miners) still uses the logistic."""
    state = _state(ZERO_LOW_ROW)
    exact = _assert_exact_and_float_agree(state)
    plain = replay_states(_state(ZERO_LOW_ROW, liquid_alpha=False), "exact")[0]
    assert exact["bonds"] != plain["bonds"]


def test_all_zero_consensus_falls_back() -> None:
    state = _state({}, weights=[{}] * 9)
    exact = _assert_exact_and_float_agree(state)
    off = replay_states({**copy.deepcopy(state), "liquid_alpha": False}, "exact")[0]
    assert exact == off
    assert set(exact["consensus_u16"]) == {0}


def test_tied_quartiles_exact_and_float_agree() -> None:
    _assert_exact_and_float_agree(_state(TIED_ROW))
