"""Golden runs: the model's outputs on a small network that exercises every desk.

The reference (``tests/sim/golden/model_golden.json`` and ``model_golden.npz``: every KPI, every
event, every time-series value) was recorded before the model was split into desks and must not
move under a refactor. A change that means to alter behaviour re-pins it
(``python -m tests.sim.test_model_golden --pin``) and says why in its commit;
``bench/golden_runs.py`` compares every shipped scenario the same way.

Two levels of agreement, because float arithmetic is not the same on every machine
(:mod:`tests.float_platform`): on every machine, every value agrees with the reference to
``RTOL`` relative (integers, booleans, strings and the events' kinds exactly); on the platform
that pinned it, the run's fingerprint equals the reference's bit for bit.

Re-pinned when the cabal ledger began booking each step's epochs in their own step (it read
the model's previous results, one step late): only the ``cabal.*`` KPIs moved; the time
series and the event log are unchanged.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.api import RunResult, run
from tests.float_platform import close, platform_key

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GOLDEN_DIR = Path(__file__).parent / "golden"
REFERENCE_JSON = GOLDEN_DIR / "model_golden.json"
REFERENCE_NPZ = GOLDEN_DIR / "model_golden.npz"
SEED = 11
POLICIES = ("multisig", "sudo")

#: Random exploits, scams and quality jumps, an erring seat, an intervention that is reversed,
#: a team exit, alpha and TAO sales, a timed exploit, and miners that move.
GOLDEN: dict[str, Any] = {
    "horizon_days": 4,
    "network": {"n_subnets": 4, "n_uids": 16, "n_validators": 3},
    "stakers": {"n_stakers": 6},
    "miners": {
        "mix": {"honest": 0.5, "lazy": 0.2, "copier": 0.2, "sybil": 0.1},
        "relocation_lag_days": 0.5,
        "relocation_probability": 1.0,
        "relocation_threshold": 0.9,
    },
    "validators": {"mix": {"honest": 0.5, "weight_copier": 0.25, "cabal": 0.25}},
    "owners": {"mix": {"honest": 0.4, "extractive": 0.3, "high_value": 0.3}},
    "events": {
        "exploit_rate_per_year": 150.0,
        "scam_rate_per_year": 150.0,
        "quality_shock_rate_per_year": 150.0,
    },
    "governance": {
        "actors": [
            {"count": 1, "intent": "self_interested"},
            {"count": 1, "intent": "benevolent_erring"},
        ],
        "error_rate_per_year": 150.0,
    },
    "shocks": [
        {
            "kind": "intervention",
            "day": 0.5,
            "lever": {"kind": "set_emission_enabled", "netuid": 1},
            "intent": "self_interested",
            "duration_days": 1.5,
        },
        {"kind": "team_exit", "day": 1.0, "netuid": 2, "sell_tao": 2000.0, "sell_days": 1.0},
        {"kind": "token_sale", "day": 1.2, "amount_tao": 300.0, "netuid": 0, "over_days": 0.5},
        {"kind": "token_sale", "day": 1.5, "amount_tao": 3000.0, "over_days": 1.0},
        {"kind": "exploit", "day": 2.0, "damage_tao_per_block": 5.0, "max_damage_tao": 3000.0},
    ],
}

#: What each policy's run must show, read first so that a failure says which part moved.
KINDS: dict[str, dict[str, int]] = {
    "sudo": {"executed": 3, "miner_move": 8, "scam_subnet": 1, "exploit_start": 1},
    "multisig": {"executed": 1, "gov_rejected": 4, "miner_move": 8, "scam_subnet": 1},
}


# ---------------------------------------------------------------------------- the reference


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python ones (JSON)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def pin() -> None:
    """Record the reference on this machine (both files) from fresh runs."""
    meta: dict[str, Any] = {"platform": platform_key(), "seed": SEED, "policies": {}}
    arrays: dict[str, np.ndarray] = {}
    for policy in POLICIES:
        result = run(GOLDEN, policy=policy, seed=SEED)
        frame = result.timeseries
        meta["policies"][policy] = {
            "fingerprint": result.fingerprint(),
            "kpis": _plain(dict(result.kpis)),
            "events": _plain(list(result.events)),
            "columns": list(frame.columns),
            "index_name": frame.index.name,
        }
        arrays[f"{policy}/index"] = frame.index.to_numpy()
        for i, column in enumerate(frame.columns):
            arrays[f"{policy}/{i}"] = frame[column].to_numpy()
    GOLDEN_DIR.mkdir(exist_ok=True)
    REFERENCE_JSON.write_text(json.dumps(meta, indent=1, allow_nan=True) + "\n")
    np.savez_compressed(REFERENCE_NPZ, **arrays)


def load_reference(policy: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """The pinned platform, fingerprint, KPIs and events of ``policy``'s run, and its series."""
    meta = json.loads(REFERENCE_JSON.read_text())
    entry = meta["policies"][policy]
    with np.load(REFERENCE_NPZ, allow_pickle=False) as arrays:
        data = {c: arrays[f"{policy}/{i}"] for i, c in enumerate(entry["columns"])}
        index = pd.Index(arrays[f"{policy}/index"], name=entry["index_name"])
    return {"platform": meta["platform"], **entry}, pd.DataFrame(data, index=index)


# ---------------------------------------------------------------------------- the comparison


def differences(result: RunResult, expected: dict[str, Any], series: pd.DataFrame) -> list[str]:
    """Every place where ``result`` departs from the reference beyond ``RTOL`` (empty: agrees).

    Floats agree to ``RTOL`` of the larger of the value and its series' largest magnitude (a
    series' values near 0 are compared on the series' scale); every other value exactly.
    """
    found: list[str] = []
    frame = result.timeseries
    if list(frame.columns) != list(series.columns) or len(frame) != len(series):
        return [f"time series shape {frame.shape} != {series.shape} or columns differ"]
    if not np.array_equal(frame.index.to_numpy(), series.index.to_numpy()):
        found.append("time series index")
    for column in series.columns:
        want, got = series[column].to_numpy(), frame[column].to_numpy()
        if want.dtype.kind != "f":
            if got.dtype != want.dtype or not np.array_equal(got, want):
                found.append(f"series {column!r} (exact)")
            continue
        scale = float(np.nanmax(np.abs(want))) if np.isfinite(want).any() else 0.0
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if not close(g, w, scale)]
        if bad:
            found.append(
                f"series {column!r} at rows {bad[:5]}: {got[bad[0]]!r} != {want[bad[0]]!r}"
            )
    kpis = _plain(dict(result.kpis))
    if set(kpis) != set(expected["kpis"]):
        found.append(f"KPI names differ: {sorted(set(kpis) ^ set(expected['kpis']))}")
    for key, want in expected["kpis"].items():
        got = kpis.get(key)
        if isinstance(want, float) and isinstance(got, float):
            if not close(got, want, 0.0):
                found.append(f"KPI {key}: {got!r} != {want!r}")
        elif got != want:
            found.append(f"KPI {key}: {got!r} != {want!r} (exact)")
    events = _plain(list(result.events))
    if len(events) != len(expected["events"]):
        return [*found, f"{len(events)} events != {len(expected['events'])}"]
    for n, (got, want) in enumerate(zip(events, expected["events"])):
        if set(got) != set(want):
            found.append(f"event {n} fields: {sorted(got)} != {sorted(want)}")
            continue
        for field, value in want.items():
            mine = got[field]
            if isinstance(value, float) and isinstance(mine, float):
                if not close(mine, value, 0.0):
                    found.append(f"event {n} {field}: {mine!r} != {value!r}")
            elif mine != value:
                found.append(f"event {n} {field}: {mine!r} != {value!r} (exact)")
    return found


_RUNS: dict[str, RunResult] = {}


def golden_run(policy: str) -> RunResult:
    """``policy``'s golden run, made once per test process."""
    if policy not in _RUNS:
        _RUNS[policy] = run(GOLDEN, policy=policy, seed=SEED)
    return _RUNS[policy]


@pytest.mark.parametrize("policy", POLICIES)
def test_golden_run_is_unchanged(policy: str) -> None:
    expected, series = load_reference(policy)
    result = golden_run(policy)
    kinds = Counter(e["kind"] for e in result.events)
    # Readable first: which part moved, then every value.
    assert {k: kinds[k] for k in KINDS[policy]} == KINDS[policy]
    assert differences(result, expected, series) == []


@pytest.mark.parametrize("policy", POLICIES)
def test_golden_run_is_unchanged_bit_for_bit(policy: str) -> None:
    expected, _ = load_reference(policy)
    if platform_key() != expected["platform"]:
        pytest.skip(f"pinned on {expected['platform']!r}, this is {platform_key()!r}")
    assert golden_run(policy).fingerprint() == expected["fingerprint"]


def test_the_comparison_sees_a_moved_value() -> None:
    """The off-platform check can fail: a value moved by 1e-7 relative, a flipped integer, a
    changed event field and a missing KPI are each reported."""
    expected, series = load_reference("sudo")
    result = golden_run("sudo")
    assert differences(result, expected, series) == []
    float_column = next(c for c in series.columns if series[c].dtype.kind == "f")
    int_column = next(c for c in series.columns if series[c].dtype.kind in "iu")
    moved = series.copy()
    row = int(np.nanargmax(np.abs(moved[float_column].to_numpy())))
    moved.iloc[row, moved.columns.get_loc(float_column)] *= 1 + 1e-7
    assert any(repr(float_column) in d for d in differences(result, expected, moved))
    flipped = series.copy()
    flipped.iloc[0, flipped.columns.get_loc(int_column)] += 1
    assert any(repr(int_column) in d for d in differences(result, expected, flipped))
    event = dict(expected["events"][0])
    event["kind"] = "something_else"
    changed = {**expected, "events": [event, *expected["events"][1:]]}
    assert any("event 0 kind" in d for d in differences(result, changed, series))
    kpis = dict(expected["kpis"])
    kpis.pop("pnl.miners.mean")
    assert any("KPI names" in d for d in differences(result, {**expected, "kpis": kpis}, series))


def test_platform_key_names_what_fixes_the_bits() -> None:
    key = platform_key()
    assert key.startswith(f"numpy {np.__version__} ")
    assert "numba cpu " in key and "torch " in key


if __name__ == "__main__":
    if sys.argv[1:] != ["--pin"]:
        raise SystemExit("usage: python -m tests.sim.test_model_golden --pin")
    pin()
    print(f"pinned on {platform_key()}: {REFERENCE_JSON}, {REFERENCE_NPZ}")
