"""Golden runs: the model's outputs, bit for bit, on a small network that exercises every desk.

The fingerprints (time series, KPIs and event log) were recorded before the model was split into
desks and must not move under a refactor. A change that means to alter behaviour updates them
and says why in its commit; ``bench/golden_runs.py`` compares every shipped scenario the same way.
Fingerprints hold for one platform's float arithmetic (this repo's pinned CPU torch).

Re-pinned when the cabal ledger began booking each step's epochs in their own step (it read
the model's previous results, one step late): only the ``cabal.*`` KPIs moved; the time
series and the event log are unchanged.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from sim.api import run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

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

EXPECTED: dict[str, dict[str, Any]] = {
    "sudo": {
        "fingerprint": "4d9901cd5a01fb9ddd8eef48622018b700009fa47a77943896d8e59cbd017269",
        "pnl.miners.mean": -50442.71655683088,
        "tao.price_end_usd": 319.7355436948516,
        "fp.count": 1,
        "kinds": {"executed": 3, "miner_move": 8, "scam_subnet": 1, "exploit_start": 1},
    },
    "multisig": {
        "fingerprint": "507a6887a644dd8aad6a9f15b687cb42d780d9b95c48551881babc1d5b66cdd0",
        "pnl.miners.mean": -25351.531786538533,
        "tao.price_end_usd": 322.26665836913,
        "fp.count": 0,
        "kinds": {"executed": 1, "gov_rejected": 4, "miner_move": 8, "scam_subnet": 1},
    },
}


@pytest.mark.parametrize("policy", sorted(EXPECTED))
def test_golden_run_is_unchanged(policy: str) -> None:
    expected = EXPECTED[policy]
    result = run(GOLDEN, policy=policy, seed=11)
    kinds = Counter(e["kind"] for e in result.events)
    # Readable first: which part moved, then the whole run bit for bit.
    assert {k: kinds[k] for k in expected["kinds"]} == expected["kinds"]
    for key in ("pnl.miners.mean", "tao.price_end_usd", "fp.count"):
        assert result.kpis[key] == expected[key], key
    assert result.fingerprint() == expected["fingerprint"]
