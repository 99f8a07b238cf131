"""Record (or check) what the model does: KPIs and hashes of every shipped scenario's run.

A refactor of the model that claims "behaviour unchanged" runs this before and after: every
top-level ``scenarios/*.toml`` is shortened to ``--days`` days (its shocks moved in proportion,
so each still happens), recorded every tempo, and run under ``sudo`` and one other policy
(a different one per scenario, so votes, delays, two-stage and stake-weighted referenda are all
exercised) with seeds 0 and 1. A ``stress`` case adds what the scenarios leave out: random
exploits, scams and quality jumps, an erring seat, team exits, alpha and TAO sales, a
time-limited suspension that is reversed, fast miner moves and measured miner behaviour.

For each run it keeps the KPIs and SHA-256 hashes of the time series, the event log and the
final network state (balances, stakes, weights, bonds), and writes them to a JSON file:

    .venv/bin/python bench/golden_runs.py --out /tmp/golden_before.json
    # ... refactor ...
    .venv/bin/python bench/golden_runs.py --out /tmp/golden_after.json --check /tmp/golden_before.json

With ``--check`` it compares bit for bit and exits non-zero on any difference. The last line
is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

# This file is in bench/: run as a script, its folder would shadow the ``sim`` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from sim import engine  # noqa: E402
from sim.api import load_config  # noqa: E402
from sim.config import SimConfig  # noqa: E402

REPO = _HERE.parent
#: The second policy of each scenario (sudo is always the first), cycled in file order.
OTHER_POLICIES: tuple[str, ...] = (
    "multisig",
    "v2_two_stage",
    "timelock",
    "opengov",
    "stake_vote",
    "v1_senate",
    "cosmos",
    "constitutional",
)
SEEDS: tuple[int, ...] = (0, 1)
STATE_FIELDS: tuple[str, ...] = (
    "balances",
    "hotkey_alpha",
    "owner_shares",
    "nom_shares",
    "pool_tao",
    "weights",
    "bonds",
    "emission_enabled",
)

#: Everything the shipped scenarios leave out, on a small network.
STRESS: dict[str, Any] = {
    "name": "stress",
    "horizon_days": 12,
    "network": {"n_subnets": 5, "n_uids": 24, "n_validators": 4},
    "stakers": {"n_stakers": 10},
    "miners": {
        "mix": {"honest": 0.5, "lazy": 0.2, "copier": 0.2, "sybil": 0.1},
        "relocation_lag_days": 0.5,
        "relocation_probability": 1.0,
        "relocation_threshold": 0.9,
        "calibration_file": "scenarios/data/calibration_cpu_tiny.json",
    },
    "validators": {"mix": {"honest": 0.5, "weight_copier": 0.25, "cabal": 0.25}},
    "owners": {"mix": {"honest": 0.4, "extractive": 0.3, "high_value": 0.3}},
    "events": {
        "exploit_rate_per_year": 60.0,
        "scam_rate_per_year": 60.0,
        "quality_shock_rate_per_year": 60.0,
    },
    "governance": {
        "actors": [
            {"count": 1, "intent": "self_interested"},
            {"count": 1, "intent": "benevolent_erring"},
        ],
        "error_rate_per_year": 40.0,
    },
    "shocks": [
        {
            "kind": "intervention",
            "day": 2.0,
            "lever": {"kind": "set_emission_enabled", "netuid": 1, "enabled": False},
            "intent": "self_interested",
            "duration_days": 3.0,
        },
        {"kind": "team_exit", "day": 3.0, "netuid": 2, "sell_tao": 2000.0, "sell_days": 2.0},
        {"kind": "token_sale", "day": 4.0, "amount_tao": 500.0, "netuid": 0, "over_days": 1.0},
        {"kind": "token_sale", "day": 5.0, "amount_tao": 3000.0, "over_days": 2.0},
        {"kind": "exploit", "day": 6.0, "damage_tao_per_block": 5.0, "max_damage_tao": 4000.0},
    ],
}


def _digest(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def shortened(config: SimConfig, days: float) -> SimConfig:
    """``config`` over ``days`` days (shocks moved in proportion), recorded every tempo."""
    data = config.model_dump()
    horizon = float(data["horizon_days"])
    if horizon > days:
        scale = days / horizon
        for shock in data["shocks"]:
            shock["day"] = shock["day"] * scale
        data["horizon_days"] = days
    data["output"] = {**data["output"], "record_every_blocks": data["network"]["tempo"]}
    return SimConfig.model_validate(data)


def cases(days: float) -> list[tuple[str, SimConfig]]:
    """(name, config) of every recorded run."""
    out: list[tuple[str, SimConfig]] = []
    files = sorted(REPO.glob("scenarios/*.toml"))
    for i, path in enumerate(files):
        for policy in ("sudo", OTHER_POLICIES[i % len(OTHER_POLICIES)]):
            base = shortened(load_config(path, policy=policy), days)
            for seed in SEEDS:
                config = load_config(base, seed=seed)
                out.append((f"{path.stem}/{policy}/{seed}", config))
    for policy in ("sudo", "multisig"):
        base = load_config(STRESS, policy=policy)
        for seed in SEEDS:
            out.append((f"stress/{policy}/{seed}", load_config(base, seed=seed)))
    return out


def _kpi_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def record(config: SimConfig) -> dict[str, Any]:
    """Run ``config`` and return its KPIs and hashes."""
    from sim.metrics import compute_kpis
    from sim.model import GovSimModel

    model = GovSimModel(config)
    try:
        model.run()
        kpis = compute_kpis(model)
        ts = model.recorder.timeseries()
        events = list(model.event_log)
        state = model.state
        state_hash = _digest(*(getattr(state, f).detach().numpy().tobytes() for f in STATE_FIELDS))
    finally:
        engine.release(model)
    return {
        "kpis": {k: _kpi_value(v) for k, v in sorted(kpis.items())},
        "timeseries": _digest(
            repr(list(ts.columns)).encode(),
            pd.util.hash_pandas_object(ts, index=True).values.tobytes(),
        ),
        "events": _digest(repr(events).encode()),
        "n_events": len(events),
        "state": state_hash,
    }


def compare(now: dict[str, Any], before: dict[str, Any]) -> list[str]:
    """Human-readable differences between two recordings (empty when bit-identical)."""
    diffs: list[str] = []
    for name in sorted(set(now) | set(before)):
        if name not in now or name not in before:
            diffs.append(f"{name}: only in {'before' if name in before else 'now'}")
            continue
        a, b = now[name], before[name]
        for key in ("timeseries", "events", "state", "n_events"):
            if a[key] != b[key]:
                diffs.append(f"{name}: {key} differs")
        for k in sorted(set(a["kpis"]) | set(b["kpis"])):
            if a["kpis"].get(k, "<absent>") != b["kpis"].get(k, "<absent>"):
                diffs.append(f"{name}: kpi {k}: {b['kpis'].get(k)} -> {a['kpis'].get(k)}")
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=12.0, help="horizon of every run (days)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--check", type=Path, default=None, help="an earlier JSON to compare")
    parser.add_argument("--only", default=None, help="run only cases whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recorded: dict[str, Any] = {}
    start = time.process_time()
    for name, config in cases(args.days):
        if args.only and args.only not in name:
            continue
        t0 = time.process_time()
        recorded[name] = record(config)
        print(f"{name}: {recorded[name]['n_events']} events, {time.process_time() - t0:.1f} s CPU")
    args.out.write_text(json.dumps(recorded, indent=1, sort_keys=True))
    diffs: list[str] = []
    if args.check is not None:
        before = json.loads(args.check.read_text())
        if args.only:
            before = {k: v for k, v in before.items() if args.only in k}
        diffs = compare(recorded, before)
        for line in diffs:
            print("DIFF", line)
    print(
        f"runs={len(recorded)} cpu_s={time.process_time() - start:.1f} "
        f"checked={args.check is not None} differences={len(diffs)}"
    )
    if diffs:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
