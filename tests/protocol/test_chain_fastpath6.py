"""The chain step's second-round fused kernels equal the numpy/torch operations they replace.

:func:`protocol.economy._fused_drain.root_sale_power_args` and
:func:`protocol.economy._fused_drain.settle_root_sale` take the whole-network drain's root sale
(:func:`protocol.economy.amm.swap_alpha_for_tao_array`, the power still in torch), the pool,
burn and recycle updates and the TAO credit in two numba passes; these tests compare them byte
for byte with the numpy path over random values and the edge cases (empty pools and sales,
extreme weights, non-finite inputs). The whole drain is compared with the general path in
``tests/protocol/test_drain_fastpath5.py``.

:func:`protocol.economy.step.tempo_step` hands the drain the coinbase's numpy views of the
fields it wrote (:func:`protocol.economy.coinbase.run_coinbase_with_views`): they must be the
new state's own memory, and the step must equal the coinbase and drain run apart.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from protocol._numba import HAVE_NUMBA
from protocol.economy import EconomyParams, new_network, tempo_step
from protocol.economy._fused_drain import (
    PAYOUT_SUMS,
    SETTLE_ROWS,
    credit_root_tao,
    root_sale_power_args,
    settle_root_sale,
)
from protocol.economy.amm import swap_alpha_for_tao_array
from protocol.economy.coinbase import run_coinbase, run_coinbase_with_views
from protocol.economy.drain import drain as drain_subnets
from protocol.economy.drain import due_subnets
from protocol.economy.registration import decay_registration_burn

pytestmark = [
    pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed"),
    # the edge values (inf, NaN) warn in the numpy reference
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]

_EDGES = np.array([0.0, -0.0, 1e-300, 5e-324, 1.0, 1e12, np.inf, -1.0, np.nan])


def _pools(seed: int, size: int) -> dict[str, np.ndarray]:
    """Random pools, weights, root alpha and drain sums, edge values mixed in."""
    rng = np.random.default_rng(seed)

    def values(low: float, high: float, edges: bool = True) -> np.ndarray:
        out = rng.uniform(low, high, size)
        if edges:
            picked = rng.random(size) < 0.2
            out[picked] = rng.choice(_EDGES, int(picked.sum()))
        return out

    weights = values(0.0, 1.0)
    weights[:4] = (0.0, 1.0, 0.5, 1.0 - 1e-16)
    return {
        "pool_tao": values(1e9, 1e15),
        "pool_alpha": values(1e9, 1e15),
        "w1": weights,
        "root_alpha": np.where(rng.random(size) < 0.3, 0.0, values(0.0, 1e11)),
        "root_sell_acc": values(0.0, 1e12),
        "alpha_burned": values(0.0, 1e12),
        "alpha_recycled": values(0.0, 1e12),
        "sums": np.stack([values(0.0, 1e11, edges=False) for _ in PAYOUT_SUMS]),
    }


def _bytes(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values).tobytes()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fee_rate", [0.0, 0.0005, 0.3])
def test_root_sale_power_and_tao_equal_the_array_swap(seed: int, fee_rate: float) -> None:
    pools = _pools(seed, 257)
    pools["sums"][7] = pools["root_alpha"]
    want = swap_alpha_for_tao_array(
        pools["pool_tao"], pools["pool_alpha"], pools["w1"], pools["root_alpha"], fee_rate
    )
    ratio, exponent = np.empty((2, 257))
    root_sale_power_args(
        pools["pool_alpha"], pools["w1"], pools["root_alpha"], fee_rate, ratio, exponent
    )
    power = torch.pow(torch.from_numpy(ratio), torch.from_numpy(exponent)).numpy()
    out = np.empty((len(SETTLE_ROWS), 257))
    coldkey = np.full((257, 1), -1, dtype=np.int64)
    settle_root_sale(
        power,
        pools["pool_tao"],
        pools["pool_alpha"],
        pools["root_sell_acc"],
        pools["alpha_burned"],
        pools["alpha_recycled"],
        pools["sums"],
        True,
        np.zeros(1),
        coldkey,
        np.zeros((257, 1)),
        out,
    )
    assert _bytes(out[0]) == _bytes(want)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("burn", [True, False])
def test_settle_root_sale_equals_the_numpy_drain_tail(seed: int, burn: bool) -> None:
    """The drain's numpy operations after the swap, in their order (the reference)."""
    size, n, accounts = 16, 12, 20
    pools = _pools(seed, size)
    sums = pools["sums"]
    sums[7] = pools["root_alpha"]
    rng = np.random.default_rng(100 + seed)
    coldkey = rng.integers(-1, accounts, (size, n))
    root_payout = rng.uniform(0.0, 1e9, (size, n))
    start_balances = rng.uniform(0.0, 1e12, accounts)
    power = rng.uniform(0.0, 1.0, size)
    power[:3] = (0.0, 1.0, np.nan)

    out = np.empty((len(SETTLE_ROWS), size))
    balances = start_balances.copy()
    settle_root_sale(
        power,
        pools["pool_tao"],
        pools["pool_alpha"],
        pools["root_sell_acc"],
        pools["alpha_burned"],
        pools["alpha_recycled"],
        sums,
        burn,
        balances,
        coldkey,
        root_payout,
        out,
    )

    paid = dict(zip(PAYOUT_SUMS, sums, strict=True))
    sale = pools["pool_tao"] * (1.0 - power)
    tao_out = np.where((paid["root_alpha"] > 0) & (pools["pool_alpha"] > 0), sale, 0.0)
    want_balances = start_balances.copy()
    credit_root_tao(want_balances, coldkey, root_payout, paid["root_alpha"], tao_out)
    withheld = paid["withheld"]
    burned = withheld if burn else np.zeros_like(withheld)
    recycled = paid["recycled"] + (withheld - burned)
    want = {
        "tao_out": tao_out,
        "pool_tao": pools["pool_tao"] - tao_out,
        "pool_alpha": pools["pool_alpha"] + paid["root_alpha"],
        "root_sell_acc": pools["root_sell_acc"] + tao_out,
        "alpha_burned": pools["alpha_burned"] + (burned + paid["owner_cut_burned"]),
        "alpha_recycled": pools["alpha_recycled"] + recycled,
        "recycled": recycled,
    }
    assert tuple(want) == SETTLE_ROWS
    for row, name in enumerate(SETTLE_ROWS):
        assert _bytes(out[row]) == _bytes(want[name]), name
    assert _bytes(balances) == _bytes(want_balances)


def _network(params: EconomyParams, seed: int):
    """A network whose subnets all run their epochs at the end of every tempo step."""
    state = new_network(5, 20, params=params, seed=seed, n_validators=4)
    return state.replace(last_epoch_block=torch.zeros(5, dtype=torch.int64))


@pytest.mark.parametrize("era", ["head", "price_root_prop", "tao_flow"])
@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_coinbase_views_are_the_new_state_memory(era: str, backend: str) -> None:
    params = EconomyParams(era=era)
    state = _network(params, seed=3)
    for _ in range(3):
        new_state, coinbase, views = run_coinbase_with_views(state, params, params.tempo, backend)
        want_state, want = run_coinbase(state, params, n_blocks=params.tempo, backend=backend)
        for field in dataclasses.fields(want):
            value = getattr(want, field.name)
            if isinstance(value, torch.Tensor):
                assert _bytes(getattr(coinbase, field.name).numpy()) == _bytes(value.numpy())
        for field in dataclasses.fields(want_state):
            value = getattr(want_state, field.name)
            if isinstance(value, torch.Tensor):
                got = getattr(new_state, field.name).numpy()
                assert _bytes(got) == _bytes(value.numpy()), field.name
        if backend == "torch":
            assert views == {}
        else:
            assert views
        for name, view in views.items():
            tensor_view = getattr(new_state, name).numpy()
            assert view.dtype == tensor_view.dtype and view.shape == tensor_view.shape, name
            assert np.shares_memory(view, tensor_view), name
        state = new_state.replace(block=new_state.block + params.tempo)


@pytest.mark.parametrize("era", ["head", "tao_flow"])
@pytest.mark.parametrize("burn", [True, False])
def test_tempo_step_equals_coinbase_and_drain_apart(era: str, burn: bool) -> None:
    params = EconomyParams(era=era, burn_owner_incentive=burn)
    state = want_state = _network(params, seed=1)
    for _ in range(3):
        state, result = tempo_step(state, params)
        last = want_state.block + params.tempo
        burn_left = decay_registration_burn(want_state.reg_burn, params.tempo, params)
        want_state = want_state.replace(reg_burn=burn_left)
        want_state, coinbase = run_coinbase(want_state, params, n_blocks=params.tempo)
        due = due_subnets(want_state, last)
        want_state, drained = drain_subnets(want_state, params, due, last)
        want_state = want_state.replace(block=last)
        for field in dataclasses.fields(want_state):
            want = getattr(want_state, field.name)
            got = getattr(state, field.name)
            if isinstance(want, torch.Tensor):
                assert _bytes(got.numpy()) == _bytes(want.numpy()), field.name
            else:
                assert got == want, field.name
        for field in dataclasses.fields(drained):
            want = getattr(drained, field.name).numpy()
            assert _bytes(getattr(result.drain, field.name).numpy()) == _bytes(want), field.name
        for field in dataclasses.fields(coinbase):
            want = getattr(coinbase, field.name)
            got = getattr(result.coinbase, field.name)
            if isinstance(want, torch.Tensor):
                assert _bytes(got.numpy()) == _bytes(want.numpy()), field.name
            else:
                assert got == want, field.name
