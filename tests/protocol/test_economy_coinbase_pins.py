"""The coinbase's outputs, bit for bit, in every era: pinned fingerprints.

The coinbase is cut to fewer tensor operations for speed (reused masks and prices, ``rsub``
instead of the ``scalar - tensor`` operator); the pins were recorded with the code before that
change and must not move under such a rewrite. Each case hashes the new state, the
``CoinbaseResult`` and the shares of a coinbase call (1, 7 and 360 blocks) on small networks
with market flows, closed and disabled subnets, a subnet not yet started and the owner cut off.
A change meant to alter the coinbase re-records them (``RECORD=1``) and says why in its commit.
Fingerprints hold for one platform's float arithmetic (this repo's pinned CPU torch).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from protocol.economy import SHARE_ERAS, EconomyParams, new_network
from protocol.economy.coinbase import run_coinbase, subnet_shares
from protocol.economy.emission import block_emission_tensor
from protocol.economy.staking import apply_market_flows

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PINS = Path(__file__).parent / "golden" / "coinbase_fingerprints.json"
ERAS = ("head", "price_ema", "price_ema_subsidy", "price_root_prop", "tao_flow")


def _digest(*values: object) -> str:
    h = hashlib.sha256()
    for value in values:
        if isinstance(value, torch.Tensor):
            h.update(str(value.dtype).encode())
            h.update(value.detach().contiguous().numpy().tobytes())
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def _network(era: str, seed: int, net_flow: bool) -> tuple[EconomyParams, object]:
    params = EconomyParams(
        era=era,
        tempo=360,
        net_tao_flow_enabled=net_flow,
        recycle_chain_bought_alpha=bool(seed % 2),
    )
    state = new_network(6, 16, params=params, seed=seed, n_validators=3)
    if seed >= 1:
        state = state.replace(
            registration_allowed=torch.tensor([True, False, True, True, True, True])
        )
    if seed == 2:
        state = state.replace(
            emission_enabled=torch.tensor([True, True, False, True, True, True]),
            start_block=torch.tensor([0, 0, 0, 10**7, 0, 0]),
            owner_cut_enabled=torch.tensor([True, False, True, True, True, True]),
        )
    return params, state


def fingerprints() -> dict[str, str]:
    """Case name -> SHA-256 of the coinbase's outputs."""
    out: dict[str, str] = {}
    for era in ERAS:
        assert era in SHARE_ERAS
        for seed in range(3):
            for net_flow in (True, False):
                params, state = _network(era, seed, net_flow)
                rng = np.random.default_rng(seed)
                for step in range(3):
                    flows = torch.tensor(rng.normal(0, 5e11, 6), dtype=torch.float64)
                    state, _ = apply_market_flows(state, flows, params)
                    for n_blocks in (1, 7, 360):
                        new, result = run_coinbase(state, params, n_blocks=n_blocks)
                        # the epoch's read hint passes through the coinbase untouched; the
                        # pins predate the field
                        assert new.live_rows is state.live_rows
                        out[f"{era}/{seed}/{net_flow}/{step}/{n_blocks}"] = _digest(
                            *(
                                getattr(new, f.name)
                                for f in dataclasses.fields(new)
                                if f.name != "live_rows"
                            ),
                            *(getattr(result, f.name) for f in dataclasses.fields(result)),
                            subnet_shares(state, params, state.block + 1),
                        )
                    state = new.replace(block=state.block + 360)
    points = np.concatenate([np.linspace(0, 2.2e16, 200), [1e16, 1.05e16, 1.575e16, 2.1e16]])
    out["block_emission_tensor"] = _digest(block_emission_tensor(torch.tensor(points)))
    return out


def test_coinbase_outputs_are_pinned() -> None:
    now = fingerprints()
    if os.environ.get("RECORD"):
        PINS.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(PINS.read_text())
    assert sorted(now) == sorted(pinned)
    moved = [name for name in sorted(now) if now[name] != pinned[name]]
    assert not moved, f"{len(moved)} of {len(now)} cases moved, first: {moved[:5]}"
