"""Golden vectors from subtensor's tests (``pallets/subtensor/src/tests/{epoch,math}.rs``,
``main`` @ ``14bc6f9f``): exact mode equal to the chain's integers, float mode within the
tolerances of docs/yuma.md ("Tolerances")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.yuma import EpochParams, replay_states
from protocol.yuma.exact_epoch import exact_weighted_median
from protocol.yuma.fixedpoint import ONE, fx_div, fx_mul, fx_normalize, u16_proportion
from protocol.yuma.float_epoch import liquid_alpha_v2, weighted_median_consensus

GOLDEN = Path(__file__).parent / "golden"
M, H = 65535, 32767
MODES = ["exact", "float"]


def _fx(values: list[float]) -> np.ndarray:
    return np.array([round(v * ONE) for v in values], dtype=np.int64)


# ------------------------------------------------------------------- tests/math.rs: weighted median

MEDIAN_CASES = [
    ([0.51], [1.0], 1.0),
    ([0.49, 0.51], [0.5, 1.0], 1.0),
    ([0.51, 0.49], [0.5, 1.0], 0.5),
    ([0.49, 0.0, 0.51], [0.5, 0.7, 1.0], 1.0),
    ([0.49, 0.01, 0.5], [0.5, 0.7, 1.0], 0.7),
    ([0.49, 0.51, 0.0], [0.5, 0.7, 1.0], 0.7),
    ([0.0, 0.49, 0.51], [0.5, 0.7, 1.0], 1.0),
    ([0.0, 0.49, 0.0, 0.51], [0.5, 0.5, 1.0, 1.0], 1.0),
    ([0.2] * 5, [0.8, 0.2, 1.0, 0.6, 0.4], 0.6),
    ([0.1] * 10, [0.8, 0.8, 0.2, 0.2, 1.0, 1.0, 0.6, 0.6, 0.4, 0.4], 0.6),
]


@pytest.mark.parametrize(("stake", "score", "expected"), MEDIAN_CASES)
def test_weighted_median_vectors(stake: list[float], score: list[float], expected: float) -> None:
    # subtensor's weighted_median uses majority 0.51 (minority 0.49); kappa = 1 - minority
    kappa = ONE - round(0.49 * ONE)
    positive = [i for i, s in enumerate(stake) if s > 0]
    values = _fx(score)[positive][:, None]
    got = exact_weighted_median(_fx(stake)[positive], values, kappa)
    assert got[0] == round(expected * ONE)
    f = weighted_median_consensus(
        torch.tensor(score, dtype=torch.float64).view(1, -1, 1),
        torch.tensor(stake, dtype=torch.float64).view(1, -1) / sum(stake),
        1 - 0.49,
    )
    assert f.item() == pytest.approx(expected)


def test_weighted_median_empty_is_zero() -> None:
    got = exact_weighted_median(np.zeros(0, np.int64), np.zeros((0, 3), np.int64), ONE // 2)
    assert got.tolist() == [0, 0, 0]


MEDIAN_W = [[0, 0.1, 0], [0, 0.2, 0.4], [0, 0.3, 0.1], [0, 0.4, 0.5]]


@pytest.mark.parametrize(
    ("weights", "stake", "majority", "expected"),
    [
        (MEDIAN_W, [0, 0.75, 0.25, 0], 0.24, [0, 0.3, 0.4]),
        (MEDIAN_W, [0, 0.75, 0.25, 0], 0.26, [0, 0.2, 0.4]),
        (MEDIAN_W, [0, 0.75, 0.25, 0], 0.76, [0, 0.2, 0.1]),
        (
            [[0, 0.1, 0], [0, 0.2, 0.4], [0, 0.3, 0.1], [0, 0, 0.5]],
            [0, 0.3, 0.2, 0.5],
            0.51,
            [0, 0, 0.4],
        ),
    ],
)
def test_weighted_median_col_vectors(
    weights: list[list[float]], stake: list[float], majority: float, expected: list[float]
) -> None:
    positive = [i for i, s in enumerate(stake) if s > 0]
    w = np.stack([_fx(row) for row in weights])[positive]
    got = exact_weighted_median(_fx(stake)[positive], w, round(majority * ONE))
    assert got.tolist() == [round(e * ONE) for e in expected]
    f = weighted_median_consensus(
        torch.tensor(weights, dtype=torch.float64).unsqueeze(0),
        torch.tensor(stake, dtype=torch.float64).unsqueeze(0),
        majority,
    )
    assert f[0].tolist() == pytest.approx(expected)


# ----------------------------------------------------------------------- tests/epoch.rs: test_bonds


@pytest.fixture(scope="module")
def bonds_runs() -> dict[str, list[dict[str, Any]]]:
    states = json.loads((GOLDEN / "yuma_test_bonds.json").read_text())
    return {mode: replay_states(states, mode) for mode in MODES}


def _col(out: dict[str, Any], col: int, rows: range = range(4)) -> list[int]:
    return [out["bonds"][i].get(str(col), 0) for i in rows]


@pytest.mark.parametrize(
    ("epoch", "col", "expected"),
    [
        (1, 4, [16383, 32767, 49151, 65535]),
        (2, 4, [14582, 32767, 49151, 65535]),
        (3, 4, [12603, 28321, 49151, 65535]),
        (4, 7, [12602, 28320, 49150, 65535]),
        (5, 7, [10951, 24609, 49150, 65535]),
        (5, 4, [12601, 28319, 49149, 65535]),
        (6, 7, [9559, 21482, 49150, 65535]),
        (6, 4, [12600, 28318, 49148, 65535]),
        (7, 7, [8376, 18824, 49150, 65535]),
    ],
)
def test_bonds_sequence(bonds_runs: dict, epoch: int, col: int, expected: list[int]) -> None:
    assert _col(bonds_runs["exact"][epoch], col) == expected
    # float carries unquantised bonds, so it lacks the chain's 1-u16-per-epoch erosion of
    # untouched columns: at most one u16 of drift per chained epoch
    assert np.abs(np.array(_col(bonds_runs["float"][epoch], col)) - expected).max() <= epoch


@pytest.mark.parametrize(
    ("epoch", "emission"),
    [
        (1, [49999998, 99999999, 150000000, 200000001, 49998779, 100000610, 149996337, 200004272]),
        (5, [36443733, 81898628, 163565493, 218092144, 0, 0, 0, 500000000]),
        (6, [32799427, 73706612, 168638129, 224855830, 0, 0, 0, 500000000]),
        (7, [29518068, 66336137, 173203134, 230942659, 0, 0, 0, 500000000]),
    ],
)
def test_bonds_emission(bonds_runs: dict, epoch: int, emission: list[int]) -> None:
    assert bonds_runs["exact"][epoch]["emission"] == emission
    np.testing.assert_allclose(
        bonds_runs["float"][epoch]["emission"], emission, rtol=1e-3, atol=5e3
    )


def test_bonds_permit_epoch_and_dividends(bonds_runs: dict) -> None:
    first = bonds_runs["exact"][0]
    assert first["validator_permit"] == [True] * 4 + [False] * 4
    assert first["validator_emission"][:4] == [99999999, 199999999, 299999999, 399999999]
    assert bonds_runs["exact"][1]["incentive_u16"][4:] == [6553, 13107, 19660, 26214]
    e5 = bonds_runs["exact"][5]
    assert e5["dividends_u16"][:4] == [4776, 10734, 21438, 28585]
    assert e5["incentive_u16"][4:] == [0, 0, 0, 65535]
    f5 = np.array(bonds_runs["float"][5]["dividends_u16"][:4]) / 65535
    np.testing.assert_allclose(f5, np.array([4776, 10734, 21438, 28585]) / 65535, atol=1e-4)


# ---------------------------------------------------------------- tests/epoch.rs: test_active_stake


def _active_stake_states() -> list[dict[str, Any]]:
    weights = [{"2": M, "3": M}, {"2": M, "3": M}, {}, {}]
    return [
        {"n": 4, "block": 0, "tempo": 1, "stake": [1, 1, 1, 1], "reg": [0] * 4, "last_update": [0] * 4,
         "validator_permit_prev": [False] * 4, "max_validators": 4, "yuma3": False},
        {"block": 1, "last_update": [1, 1, 0, 0], "weights": weights},
        {"block": 5002, "last_update": [5002, 1, 0, 0]},
        {"block": 5003, "last_update": [5002, 5002, 0, 0]},
    ]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_active_stake(mode: str) -> None:
    out = replay_states(_active_stake_states(), mode)
    exact = mode == "exact"

    def check(got: list[float], want: list[int], tol: float) -> None:
        if exact:
            assert got == want
        else:
            # float carries unquantised bonds: chained emissions drift ~5e-6 relative
            np.testing.assert_allclose(got, want, atol=tol, rtol=1e-5)

    check(out[1]["dividends_u16"][:2], [32767, 32767], 1)
    check(out[1]["emission"], [250000000] * 4, 2)
    check(out[2]["dividends_u16"][:2], [36044, 29490], 1)
    check(out[2]["emission"], [274999999, 224999999, 250000000, 250000000], 2)
    check(_col(out[2], 2, range(2)), [65535, 53619], 1)
    check(out[3]["dividends_u16"][:2], [35716, 29818], 1)
    check(out[3]["emission"][:2], [272501132, 227498866], 2)
    check(_col(out[3], 3, range(2)), [65535, 54712], 1)


# ------------------------------------------------------------ tests/epoch.rs: test_outdated_weights


def _outdated_states() -> list[dict[str, Any]]:
    v = {"2": 65535, "3": 32768}
    return [
        {"n": 4, "block": 1, "tempo": 0, "stake": [1, 1, 1, 1], "reg": [1] * 4, "last_update": [1] * 4,
         "validator_permit_prev": [False] * 4, "max_validators": 4, "yuma3": False},
        {"block": 2, "last_update": [2] * 4, "weights": [v, v, {"2": M}, {"3": M}]},
        # uid 3 is replaced at block 2 (new key, no stake, row cleared, permit lost); v0 re-sets
        {"block": 3, "reg": [1, 1, 1, 2], "stake": [1, 1, 1, 0], "last_update": [3, 2, 2, 2],
         "weights": [v, v, {"2": M}, {}], "validator_permit_prev": [True, True, True, False]},
    ]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_outdated_weights(mode: str) -> None:
    out = replay_states(_outdated_states(), mode)
    first, last = out[1], out[2]
    if mode == "exact":
        assert first["emission"] == [250000000, 250000000, 333331637, 166668361]
        assert first["incentive_u16"] == [0, 0, 43689, 21845]
        assert first["dividends_u16"][:2] == [32767, 32767]
        assert last["dividends_u16"][0] == 32767
        assert last["emission"] == [250000000, 250000000, 500000000, 0]
        assert _col(last, 2, range(1)) + _col(last, 3, range(1)) == [65535, 65535]
    else:
        np.testing.assert_allclose(last["emission"], [250000000, 250000000, 500000000, 0], atol=2)
        np.testing.assert_allclose(first["incentive_u16"], [0, 0, 43689, 21845], atol=1)


# ---------------------------------------------------------------- tests/epoch.rs: test_zero_weights


@pytest.mark.parametrize("mode", MODES)
def test_zero_weights(mode: str) -> None:
    tempo = 65534
    states = [
        {"n": 2, "block": 0, "tempo": tempo, "stake": [1, 0], "reg": [0, 0], "last_update": [0, 0],
         "validator_permit_prev": [False, False], "yuma3": False},
        {"block": 1, "last_update": [0, 1], "weights": [{}, {"1": M}]},
        {"block": 2, "last_update": [2, 2], "reg": [0, 2], "weights": [{"1": M}, {}]},
        {"block": 3, "last_update": [3, 2], "weights": [{"1": M}, {}]},
    ]  # fmt: skip
    out = replay_states(states, mode)
    expected = [[10**9, 0], [10**9, 0], [10**9, 0], [5 * 10**8, 5 * 10**8]]
    for got, want in zip(out, expected, strict=True):
        np.testing.assert_allclose(got["emission"], want, atol=0 if mode == "exact" else 1)


# ----------------------------------------------------- tests/epoch.rs: graphs and owner self-weight


@pytest.mark.parametrize("mode", MODES)
def test_10_graph(mode: str) -> None:
    n = 10
    state = {"n": n, "block": 1, "tempo": 65534, "stake": [1] * n, "reg": [0] * n,
             "last_update": [1] * n, "validator_permit_prev": [False] * n, "yuma3": False,
             "weights": [{str(i): M} for i in range(n)]}  # fmt: skip
    out = replay_states(state, mode)[0]
    if mode == "exact":
        assert out["emission"] == [99999999] * n
    else:
        np.testing.assert_allclose(out["emission"], [1e8] * n)
    for key in ("consensus_u16", "incentive_u16", "dividends_u16"):
        assert out[key] == [0] * n


@pytest.mark.parametrize("mode", MODES)
def test_512_graph(mode: str) -> None:
    n, validators = 512, 64
    servers = {str(j): M for j in range(validators, n)}
    stake = [328_125_000_000_000] * validators + [0] * (n - validators)
    base = {
        "n": n,
        "block": 1,
        "tempo": 65534,
        "stake": stake,
        "reg": [0] * n,
        "last_update": [0] * n,
        "validator_permit_prev": [False] * n,
        "max_validators": validators,
        "yuma3": False,
    }
    weighted = {"last_update": [1] * n, "weights": [servers] * validators + [{}] * (n - validators)}
    out = replay_states([base, weighted, {"block": 2}, {"block": 3}], mode)[-1]  # fmt: skip
    if mode == "exact":
        assert out["dividends_u16"][:validators] == [1023] * validators
        assert out["emission"][:validators] == [7812500] * validators
        assert out["consensus_u16"][validators:] == [146] * (n - validators)
        assert out["incentive_u16"][validators:] == [146] * (n - validators)
        assert out["emission"][validators:] == [1116071] * (n - validators)
        assert all(row == servers for row in out["bonds"][:validators])
    else:
        np.testing.assert_allclose(out["emission"][:validators], 7812500, rtol=1e-8)
        np.testing.assert_allclose(out["emission"][validators:], 1116071, atol=1)
        assert np.abs(np.array(out["incentive_u16"][validators:]) - 146).max() <= 1


@pytest.mark.parametrize("mode", MODES)
def test_owner_self_weight(mode: str) -> None:
    state = {"n": 2, "block": 2, "tempo": 360, "stake": [5000 * 10**9, 0], "reg": [0, 0],
             "last_update": [1, 1], "owner_uid": 0, "validator_permit_prev": [True, False],
             "weights": [{"0": M, "1": M}, {}], "yuma3": False}  # fmt: skip
    out = replay_states(state, mode)[0]
    np.testing.assert_allclose(out["server_emission"], [250_000_000, 250_000_000], atol=1)
    np.testing.assert_allclose(out["validator_emission"], [500_000_000, 0], atol=1)
    assert out["incentive_u16"][0] == out["incentive_u16"][1]


# ----------------------------------------------------------------- tests/epoch.rs: Yuma 3 scenarios


def _yuma3_states(
    stakes: list[int],
    schedule: list[list[list[int]]],
    miners: list[int],
    *,
    liquid: bool = True,
    resets: dict[int, int] | None = None,
) -> list[dict[str, Any]]:
    """subtensor's setup_yuma_3_scenario: registration at block 1, a permit epoch at block 2, then epoch e
    at block 3 + e with weights set the block before. ``resets`` maps an epoch to a miner uid
    whose bond column is reset before that epoch (bonds reset)."""
    n = len(stakes)
    states: list[dict[str, Any]] = [
        {"n": n, "block": 2, "tempo": 1, "stake": stakes, "reg": [1] * n, "last_update": [1] * n,
         "validator_permit_prev": [False] * n, "max_validators": 3, "yuma3": True,
         "liquid_alpha": liquid, "alpha_low_u16": 6553, "alpha_high_u16": 19660, "steepness": 1000,
         "bma_u32": 975_000, "bonds_penalty_u16": 0, "kappa_u16": 32767}
    ]  # fmt: skip
    for epoch, rows in enumerate(schedule):
        block = 3 + epoch
        weights = [{str(m): v for m, v in zip(miners, row, strict=True)} for row in rows]
        weights += [{}] * (n - len(rows))
        states.append(
            {"block": block, "last_update": [block - 1] * len(rows) + [1] * (n - len(rows)),
             "weights": weights}
        )  # fmt: skip
    return states


def _replay_with_resets(
    states: list[dict[str, Any]], resets: dict[int, int], mode: str
) -> list[dict]:
    """Replay epoch by epoch, deleting the bonds to a miner before the epochs listed in ``resets``."""
    outputs: list[dict[str, Any]] = []
    resolved = dict(states[0])
    for index, obj in enumerate(states):
        state = {**resolved, **obj} if index else dict(obj)
        if outputs:
            bonds = [dict(row) for row in outputs[-1]["bonds"]]
            miner = resets.get(index - 1)
            if miner is not None:
                for row in bonds:
                    row.pop(str(miner), None)
            state["bonds"] = bonds
            state["validator_permit_prev"] = outputs[-1]["validator_permit"]
        outputs.append(replay_states(state, mode)[0])
        resolved = state
    return outputs


A_S1, A_S2 = [M, 0], [0, M]
Y3_SCENARIOS: dict[str, dict[str, Any]] = {
    "kappa_moves_first": {
        "stakes": [8, 1, 1, 0, 0],
        "schedule": [[A_S1] * 3, [A_S2, A_S1, A_S1], [A_S2, A_S2, A_S1], [A_S2] * 3, [A_S2] * 3, [A_S2] * 3],
        "dividends": [[.8, .1, .1], [1, 0, 0], [.9382, .0618, 0], [.8819, .0773, .0407],
                      [.8564, .0844, .0592], [.8418, .0884, .0697]],
        "bonds": {0: [(.1013, 0), (.1013, 0), (.1013, 0)], 1: [(.0908, .1013), (.3697, 0), (.3697, 0)],
                  2: [(.0815, .1924), (.3170, .1013), (.5580, 0)], 3: [(.0731, .2742), (.2765, .1924), (.4306, .1013)],
                  4: [(.0656, .3478), (.2435, .2742), (.3589, .1924)], 5: [(.0588, .4139), (.2157, .3478), (.3089, .2742)]},
    },
    "kappa_moves_second": {
        "stakes": [8, 1, 1, 0, 0],
        "schedule": [[A_S1] * 3, [A_S1, A_S2, A_S1], [A_S2, A_S2, A_S1], [A_S2] * 3, [A_S2] * 3, [A_S2] * 3],
        "dividends": [[.8, .1, .1], [.8446, .0498, .1056], [.6868, .3132, 0], [.7421, .2090, .0489],
                      [.7625, .1706, .0669], [.7730, .1508, .0762]],
        "bonds": {1: [(.1924, 0), (.0908, .2987), (.1924, 0)], 2: [(.1715, .1013), (.0815, .3697), (.4336, 0)],
                  3: [(.1531, .1924), (.0731, .4336), (.3608, .1013)], 4: [(.1369, .2742), (.0656, .4910), (.3103, .1924)],
                  5: [(.1225, .3478), (.0588, .5426), (.2712, .2742)]},
    },
    "kappa_moves_last": {
        "stakes": [8, 1, 1, 0, 0],
        "schedule": [[A_S1] * 3, [A_S1, A_S2, A_S1], [A_S1, A_S2, A_S2], [A_S2] * 3, [A_S2] * 3, [A_S2] * 3],
        "dividends": [[.8, .1, .1], [.8446, .0498, .1056], [.8966, .0333, .0701], [.4663, .3210, .2127],
                      [.5976, .2340, .1683], [.6592, .1932, .1475]],
        "bonds": {2: [(.2742, 0), (.0815, .5081), (.1715, .2987)], 3: [(.2416, .1013), (.0731, .5580), (.1531, .3697)],
                  4: [(.2141, .1924), (.0656, .6028), (.1369, .4336)], 5: [(.1903, .2742), (.0588, .6430), (.1225, .4910)]},
    },
    "one_epoch_switch": {
        "stakes": [33, 33, 34, 0, 0],
        "schedule": [[A_S1] * 3, [A_S1] * 3, [A_S1, A_S1, A_S2], [A_S1] * 3, [A_S1] * 3, [A_S1] * 3],
        "dividends": [[.33, .33, .34], [.33, .33, .34], [.3782, .3782, .2436], [.3628, .3628, .2745],
                      [.3541, .3541, .2917], [.3487, .3487, .3026]],
        "bonds": {1: [(.1924, 0)] * 3, 2: [(.2742, 0), (.2742, 0), (.1715, .2987)],
                  3: [(.3478, 0), (.3478, 0), (.2554, .2618)], 4: [(.4139, 0), (.4139, 0), (.3309, .2312)],
                  5: [(.4733, 0), (.4733, 0), (.3987, .2051)]},
    },
    "liquid_alpha_disabled": {
        "stakes": [33, 33, 34, 0, 0],
        "liquid": False,
        "schedule": [[A_S1] * 3, [A_S1] * 3, [A_S1, A_S1, A_S2], [A_S1] * 3, [A_S1] * 3, [A_S1] * 3],
        "dividends": [[.33, .33, .34], [.33, .33, .34], [.3734, .3734, .2532], [.3611, .3611, .2779],
                      [.3541, .3541, .2919], [.3495, .3495, .3009]],
        "bonds": {0: [(.025, 0)] * 3, 1: [(.0494, 0)] * 3, 2: [(.0731, 0), (.0731, 0), (.0481, .0250)],
                  3: [(.0963, 0), (.0963, 0), (.0719, .0244)], 4: [(.1189, 0), (.1189, 0), (.0951, .0238)],
                  5: [(.1409, 0), (.1409, 0), (.1178, .0232)]},
    },
}  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(Y3_SCENARIOS))
def test_yuma3_scenarios(name: str, mode: str) -> None:
    case = Y3_SCENARIOS[name]
    states = _yuma3_states(
        case["stakes"], case["schedule"], [3, 4], liquid=case.get("liquid", True)
    )
    out = replay_states(states, mode)[1:]
    for epoch, want in enumerate(case["dividends"]):
        got = np.array(out[epoch]["dividends_u16"][:3]) / 65535
        # subtensor asserts ±1e-3; the fixed-point epoch lands within 6e-5 of the 4-dp targets
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=f"{name} epoch {epoch}")
    for epoch, rows in case["bonds"].items():
        got = [
            (out[epoch]["bonds"][i].get("3", 0) / 65535, out[epoch]["bonds"][i].get("4", 0) / 65535)
            for i in range(3)
        ]
        np.testing.assert_allclose(got, rows, atol=1.1e-4, err_msg=f"{name} bonds epoch {epoch}")


@pytest.mark.parametrize("mode", MODES)
def test_yuma3_stable_miner(mode: str) -> None:
    x = [H, 0, H]
    y = [0, H, H]
    schedule = [[x] * 3, [x, y, x], [y, y, x], [y] * 3, [y] * 3, [y] * 3]
    out = replay_states(_yuma3_states([8, 1, 1, 0, 0, 0], schedule, [3, 4, 5]), mode)[1:]
    want = [[.8, .1, .1], [.8226, .0745, .1028], [.7750, .1685, .0565], [.7864, .1372, .0764],
            [.7912, .1241, .0847], [.7937, .1173, .0890]]  # fmt: skip
    for epoch, row in enumerate(want):
        np.testing.assert_allclose(
            np.array(out[epoch]["dividends_u16"][:3]) / 65535, row, atol=1e-4
        )
    bonds = [[out[5]["bonds"][i].get(str(m), 0) / 65535 for m in (3, 4, 5)] for i in range(3)]
    np.testing.assert_allclose(
        bonds,
        [[0.0623, 0.1739, 0.2366], [0.0296, 0.2391, 0.2366], [0.1263, 0.1371, 0.2366]],
        atol=1.1e-4,
    )


@pytest.mark.parametrize("mode", MODES)
def test_yuma3_bonds_reset(mode: str) -> None:
    schedule = [[A_S1] * 3, [A_S1, A_S2, A_S2]] + [[A_S2] * 3] * 19 + [[A_S2, A_S1, A_S1]]
    schedule += [[A_S1] * 3] * 19
    states = _yuma3_states([8, 1, 1, 0, 0], schedule, [3, 4])
    out = _replay_with_resets(states, {20: 3}, mode)[1:]
    want = {0: [.8, .1, .1], 1: [.8944, .0528, .0528], 2: [.5230, .2385, .2385], 19: [.7919, .1040, .1040],
            20: [.7928, .1036, .1036], 21: [.8467, .0766, .0766], 40: [.7928, .1036, .1036]}  # fmt: skip
    bonds = {0: [(.1013, 0)] * 3, 20: [(0, .8687), (0, .9079), (0, .9079)],
             21: [(0, .8820), (.2987, .6386), (.2987, .6386)], 40: [(.8687, .0578), (.9079, .0523), (.9079, .0523)]}  # fmt: skip
    for epoch, row in want.items():
        np.testing.assert_allclose(
            np.array(out[epoch]["dividends_u16"][:3]) / 65535, row, atol=1e-4
        )
    for epoch, rows in bonds.items():
        got = [
            (out[epoch]["bonds"][i].get("3", 0) / 65535, out[epoch]["bonds"][i].get("4", 0) / 65535)
            for i in range(3)
        ]
        # 40 chained epochs of u16 storage: within 1.2e-4 (an exact replay lands within 1.1e-4)
        np.testing.assert_allclose(got, rows, atol=1.2e-4, err_msg=f"bonds epoch {epoch}")


def test_liquid_alpha_equal_values_against_itself() -> None:
    """alpha_low = alpha_high = 6553: the liquid-alpha EMA equals the plain EMA with alpha 0.1."""
    w = [[0, 0.1, 0], [0, 0.2, 0.4], [0, 0.3, 0.1], [0, 0.4, 0.5]]
    b = [[0.1, 0.1, 0.5], [0, 0, 0.4], [0.5, 0.1, 0.1], [0, 0.4, 0.2]]
    c = [0.3, 0.2, 0.1]
    params = EpochParams.from_chain(alpha_low_u16=6553, alpha_high_u16=6553, liquid_alpha=True)
    wt, bt = torch.tensor([w], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
    alpha = liquid_alpha_v2(wt, bt, torch.tensor([c], dtype=torch.float64), params)
    liquid = (1 - alpha) * bt + alpha * wt
    plain = 0.9 * bt + 0.1 * wt
    assert torch.allclose(liquid, plain, atol=1e-3)
    # exact: the chain's alpha bits for 6553/65535 against I32F32(0.1)
    alpha_fx = int(u16_proportion(6553))
    assert abs(alpha_fx - round(0.1 * ONE)) / ONE < 1e-4
    assert int(fx_mul(alpha_fx, ONE)) == alpha_fx


def _quickselect_median(stake: list[int], score: list[int], minority: int, total: int) -> int:
    """The chain's mid-pivot weighted quickselect (math.rs ``weighted_median``), on I32F32 bits."""
    part = list(range(len(stake)))
    lo_bound, hi_bound = 0, total
    for _ in range(len(stake) + 1):
        if not part:
            return 0
        if len(part) == 1:
            return score[part[0]]
        pivot = score[part[len(part) // 2]]
        lower = [i for i in part if score[i] < pivot]
        upper = [i for i in part if score[i] > pivot]
        lo_stake = sum(stake[i] for i in lower)
        hi_stake = sum(stake[i] for i in upper)
        if minority < lo_bound + lo_stake and lower:
            part, hi_bound = lower, lo_bound + lo_stake
        elif hi_bound - hi_stake <= minority and upper:
            part, lo_bound = upper, hi_bound - hi_stake
        else:
            return pivot
    return 0


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 8),
    data=st.data(),
    kappa_u16=st.sampled_from([32767, 0, 1, 65535, 13107, 52428]),
)
def test_closed_form_median_equals_chain_quickselect(
    rows: int, data: st.DataObject, kappa_u16: int
) -> None:
    """The closed form used by the exact mode picks what the chain's quickselect picks."""
    stake = data.draw(st.lists(st.integers(1, 50), min_size=rows, max_size=rows))
    score = data.draw(st.lists(st.sampled_from([0, 1, 2, 3, 5, 8]), min_size=rows, max_size=rows))
    use = fx_normalize(np.array(stake, dtype=np.int64) << 32)
    score_fx = np.array(score, dtype=np.int64) * (ONE // 8)
    kappa = int(fx_div(kappa_u16 << 32, 65535 << 32))
    total = int(use.sum())
    want = _quickselect_median(use.tolist(), score_fx.tolist(), total - kappa, total)
    got = exact_weighted_median(np.array(stake, dtype=np.int64) << 32, score_fx[:, None], kappa)
    assert int(got[0]) == want
