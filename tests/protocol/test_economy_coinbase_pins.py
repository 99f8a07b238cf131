"""The coinbase's outputs in every era: pinned values and fingerprints.

The coinbase is cut to fewer tensor operations for speed (reused masks and prices, ``rsub``
instead of the ``scalar - tensor`` operator); the pins were recorded with the code before that
change and must not move under such a rewrite. Each case is a coinbase call (1, 7 and 360
blocks) on small networks with market flows, closed and disabled subnets, a subnet not yet
started and the owner cut off; its outputs are the new state, the ``CoinbaseResult`` and the
shares.

Two levels of agreement (:mod:`tests.float_platform`: numpy's float64 ``exp``/``log``/``power``
round differently in the last place on CPUs with and without its AVX-512 loops):

- on every machine, each float output's weighted sum (``coinbase_values.npz``) agrees to
  ``RTOL`` and every other output (integer and boolean tensors, Python values) exactly;
- on a platform whose fingerprints were recorded (``coinbase_fingerprints.json``, one set per
  :func:`~tests.float_platform.platform_key`), every case's SHA-256 bit for bit.

A change meant to alter the coinbase re-records both (``RECORD=1``, which adds this platform's
fingerprints and replaces the values) and says why in its commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from protocol.economy import SHARE_ERAS, EconomyParams, new_network
from protocol.economy.coinbase import run_coinbase, subnet_shares
from protocol.economy.emission import block_emission_tensor
from protocol.economy.staking import apply_market_flows
from tests.float_platform import close, platform_key

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PINS = Path(__file__).parent / "golden" / "coinbase_fingerprints.json"
VALUES = Path(__file__).parent / "golden" / "coinbase_values.npz"
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


def cases() -> Iterator[tuple[str, list[object]]]:
    """Case name -> the coinbase's outputs in that case (tensors and Python values)."""
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
                        yield (
                            f"{era}/{seed}/{net_flow}/{step}/{n_blocks}",
                            [
                                *(
                                    getattr(new, f.name)
                                    for f in dataclasses.fields(new)
                                    if f.name != "live_rows"
                                ),
                                *(getattr(result, f.name) for f in dataclasses.fields(result)),
                                subnet_shares(state, params, state.block + 1),
                            ],
                        )
                    state = new.replace(block=state.block + 360)
    points = np.concatenate([np.linspace(0, 2.2e16, 200), [1e16, 1.05e16, 1.575e16, 2.1e16]])
    yield "block_emission_tensor", [block_emission_tensor(torch.tensor(points))]


def _is_float(value: object) -> bool:
    return isinstance(value, float) or (
        isinstance(value, torch.Tensor) and value.dtype.is_floating_point
    )


def _weights(n: int) -> np.ndarray:
    """Fixed positive weights in [1, 2) for a float output of ``n`` values: a moved entry
    moves the weighted sum, whatever the others do."""
    return 1.0 + np.random.default_rng(n).random(n)


def weighted_sums(values: list[object]) -> tuple[np.ndarray, np.ndarray]:
    """Each float output's weighted sum and the same of its magnitudes (its scale), both
    correctly rounded (``math.fsum``: no summation order in them)."""
    sums, scales = [], []
    for value in values:
        if not _is_float(value):
            continue
        x = torch.as_tensor(value, dtype=torch.float64).reshape(-1).numpy()
        w = _weights(x.size)
        finite = np.isfinite(x)
        # NaN and infinities stand as themselves: a sum of them would hide where they are
        special = float(np.sum(np.where(finite, 0.0, x)) if not finite.all() else 0.0)
        sums.append(math.fsum((x[finite] * w[finite]).tolist()) + special)
        scales.append(math.fsum((np.abs(x[finite]) * w[finite]).tolist()))
    return np.array(sums), np.array(scales)


def exact_digest(values: list[object]) -> str:
    """SHA-256 of the outputs that are not floats (held to the bit on every platform)."""
    return _digest(*(v for v in values if not _is_float(v)))


def _record(now: dict[str, list[object]]) -> None:
    pins = json.loads(PINS.read_text()) if PINS.exists() else {}
    if "fingerprints" not in pins:
        pins = {"fingerprints": {}}  # (the first format: one platform's fingerprints, unnamed)
    pins["fingerprints"][platform_key()] = {
        name: _digest(*values) for name, values in sorted(now.items())
    }
    pins["exact"] = {name: exact_digest(values) for name, values in sorted(now.items())}
    PINS.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
    np.savez_compressed(VALUES, **{n: weighted_sums(v)[0] for n, v in now.items()})


def _now() -> dict[str, list[object]]:
    now = dict(cases())
    if os.environ.get("RECORD"):
        _record(now)
    return now


def test_coinbase_outputs_agree_with_the_pins() -> None:
    now = _now()
    pins = json.loads(PINS.read_text())
    assert sorted(now) == sorted(pins["exact"])
    moved = [n for n in sorted(now) if exact_digest(now[n]) != pins["exact"][n]]
    assert not moved, f"{len(moved)} of {len(now)} cases' exact outputs moved: {moved[:5]}"
    with np.load(VALUES) as pinned:
        for name, values in now.items():
            sums, scales = weighted_sums(values)
            want = pinned[name]
            assert sums.shape == want.shape, name
            far = [
                i
                for i, (got, expected, scale) in enumerate(zip(sums, want, scales))
                if not close(float(got), float(expected), float(scale))
            ]
            assert not far, f"{name}: float outputs {far} moved: {sums[far]} != {want[far]}"


def test_coinbase_outputs_are_pinned_bit_for_bit() -> None:
    pins = json.loads(PINS.read_text())["fingerprints"]
    key = platform_key()
    if key not in pins:
        pytest.skip(f"fingerprints recorded on {sorted(pins)}, this is {key!r}")
    now = {name: _digest(*values) for name, values in _now().items()}
    pinned = pins[key]
    assert sorted(now) == sorted(pinned)
    moved = [name for name in sorted(now) if now[name] != pinned[name]]
    assert not moved, f"{len(moved)} of {len(now)} cases moved, first: {moved[:5]}"


def test_the_agreement_sees_a_moved_value() -> None:
    """The weighted sums compare on each output's scale: an entry moved by 1e-7 of that scale
    fails, as does a NaN where a number was; a change far below the scale passes."""
    x = torch.tensor([1e18, 3.0, 2e-3, 5e17], dtype=torch.float64)
    moved = x.clone()
    moved[2] *= 1 + 1e-7
    (a,), (scale,) = weighted_sums([x])
    (b,), _ = weighted_sums([moved])
    assert close(float(a), float(a), float(scale))
    # a change far below the tensor's scale passes: the sums compare on that scale
    assert close(float(b), float(a), float(scale))
    big = x.clone()
    big[0] *= 1 + 1e-7
    (c,), _ = weighted_sums([big])
    assert not close(float(c), float(a), float(scale))
    nan = x.clone()
    nan[1] = float("nan")
    (d,), _ = weighted_sums([nan])
    assert not close(float(d), float(a), float(scale))
