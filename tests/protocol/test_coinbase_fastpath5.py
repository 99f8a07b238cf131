"""The fused coinbase (numba kernels) and the numpy shares equal their references byte for byte.

``run_coinbase(backend="fused")`` runs the ``[S]`` arithmetic of the capped-injection eras in
three numba kernels, with the sums and transcendental functions still in torch; the reference
(``backend="torch"``) runs it in numpy on the tensors' views. Every field of the new state and
of the result must carry the same bits: market flows, closed, disabled and not-yet-started
subnets, the owner cut off, empty pools, negative flows, and windows of 1, 7 and 360 blocks.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from protocol._numba import HAVE_NUMBA
from protocol.economy import EconomyParams, new_network
from protocol.economy.coinbase import (
    _POW2,
    _run_coinbase_fused,
    _shares,
    run_coinbase,
    subnet_shares,
)
from protocol.economy.shares import SHARE_ERAS, _flow_shares_fused, emitting_mask
from protocol.economy.staking import apply_market_flows

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # the reference injection divides by the 1e-300 floor of an empty pool's price
    pytest.mark.filterwarnings("ignore:overflow encountered in divide:RuntimeWarning"),
    pytest.mark.skipif(not HAVE_NUMBA, reason="the fused coinbase needs numba"),
]

FUSED_ERAS = ("head", "price_root_prop", "tao_flow")


def _bits(value: object) -> bytes:
    if isinstance(value, torch.Tensor):
        return str(value.dtype).encode() + value.contiguous().numpy().tobytes()
    return repr(value).encode()


def _assert_same(a: object, b: object) -> None:
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        assert _bits(x) == _bits(y), field.name


def _states(era: str, seed: int, net_flow: bool):
    params = EconomyParams(
        era=era,
        tempo=360,
        net_tao_flow_enabled=net_flow,
        recycle_chain_bought_alpha=bool(seed % 2),
    )
    state = new_network(6, 16, params=params, seed=seed, n_validators=3)
    rng = np.random.default_rng(seed)
    if seed >= 1:
        state = state.replace(
            registration_allowed=torch.tensor([True, False, True, True, True, True]),
            emission_enabled=torch.tensor([True, True, False, True, True, True]),
            start_block=torch.tensor([0, 0, 0, 10**7, 0, 0]),
            owner_cut_enabled=torch.tensor([True, False, True, True, True, True]),
        )
    if seed == 3:  # an empty pool and a subnet past its alpha halvings
        state = state.replace(
            pool_tao=torch.where(torch.arange(6) == 4, 0.0, state.pool_tao),
            alpha_minted=state.alpha_minted + torch.tensor([0.0, 1.6e16, 0, 0, 0, 0]),
        )
    for _ in range(4):
        flows = torch.tensor(rng.normal(0, 5e11, 6), dtype=torch.float64)
        state, _ = apply_market_flows(state, flows, params)
        yield params, state
        state, _ = run_coinbase(state, params, n_blocks=360, backend="torch")
        state = state.replace(block=state.block + 360)


@pytest.mark.parametrize("era", FUSED_ERAS)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("net_flow", [True, False])
def test_fused_coinbase_equals_the_reference(era: str, seed: int, net_flow: bool) -> None:
    for params, state in _states(era, seed, net_flow):
        for n_blocks in (1, 7, 360):
            want_state, want = run_coinbase(state, params, n_blocks=n_blocks, backend="torch")
            got_state, got = run_coinbase(state, params, n_blocks=n_blocks, backend="fused")
            _assert_same(got_state, want_state)
            _assert_same(got, want)
            # the kernels ran (no fall-back to the reference inside the fused call)
            assert _run_coinbase_fused(state, params, SHARE_ERAS.get(era), n_blocks) is not None


def test_fused_coinbase_keeps_nan_and_signed_zeros() -> None:
    params = EconomyParams(era="tao_flow", tempo=360)
    state = new_network(6, 16, params=params, seed=0, n_validators=3)
    state = state.replace(
        flow_ema=torch.tensor([-0.0, 0.0, float("nan"), 1e12, -1e12, 0.0], dtype=torch.float64),
        pending_root=torch.tensor([-0.0] * 6, dtype=torch.float64),
        moving_price=torch.tensor([-0.0, 0.5, 2.0, 0.0, 1.0, 0.3], dtype=torch.float64),
    )
    for n_blocks in (1, 360):
        want_state, want = run_coinbase(state, params, n_blocks=n_blocks, backend="torch")
        got_state, got = run_coinbase(state, params, n_blocks=n_blocks, backend="fused")
        _assert_same(got_state, want_state)
        _assert_same(got, want)
        # the kernels took these inputs (no fall-back to the reference inside the call)
        assert _run_coinbase_fused(state, params, SHARE_ERAS.get("tao_flow"), n_blocks) is not None


def test_the_halving_table_is_torch_pow() -> None:
    """The kernels' ``2**k`` equals ``torch.pow(2.0, k)`` at every halving and lane."""
    for length in (1, 5, 16, 33):
        for k in range(_POW2.size):
            exponents = np.full(length, float(k))
            got = torch.pow(2.0, torch.from_numpy(exponents)).numpy()
            assert (got == _POW2[k]).all() and got.tobytes() == np.full(length, _POW2[k]).tobytes()


def test_other_eras_take_the_reference() -> None:
    params = EconomyParams(era="price_ema", tempo=360)
    state = new_network(4, 8, params=params, seed=0, n_validators=2)
    with pytest.raises(ValueError, match="price_ema"):
        run_coinbase(state, params, n_blocks=360, backend="fused")
    want_state, want = run_coinbase(state, params, n_blocks=360, backend="torch")
    got_state, got = run_coinbase(state, params, n_blocks=360)
    _assert_same(got_state, want_state)
    _assert_same(got, want)


@pytest.mark.parametrize("era", sorted(SHARE_ERAS.names()))
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("net_flow", [True, False])
@pytest.mark.parametrize("exponent", [1.0, 0.7])
def test_numpy_shares_equal_the_tensor_shares(
    era: str, seed: int, net_flow: bool, exponent: float
) -> None:
    """``subnet_shares`` (the era's numpy raw shares) equals the raw shares on tensors."""
    for params, state in _states(era, seed, net_flow):
        params = dataclasses.replace(params, flow_exponent=exponent)
        for block in (state.block + 1, state.block + 1 + 10**7):
            listed = emitting_mask(state, block)
            want = _shares(state, params, SHARE_ERAS.get(era), listed)
            assert _bits(subnet_shares(state, params, block)) == _bits(want)


@pytest.mark.parametrize("cutoff", [-1.0, 0.0, 5e11])
def test_numpy_shares_keep_nan_and_signed_zeros(cutoff: float) -> None:
    for era in ("tao_flow", "head"):
        params = EconomyParams(era=era, tempo=360, flow_cutoff=cutoff)
        state = new_network(6, 16, params=params, seed=0, n_validators=3)
        for flows in (
            [-0.0, 0.0, -0.0, 0.0, 0.0, 0.0],
            [-0.0] * 6,
            [1.0, float("nan")] + [0.0] * 4,
        ):
            state = state.replace(
                flow_ema=torch.tensor(flows, dtype=torch.float64),
                miner_burned=torch.tensor([0.0, 1.0, 0.5, -0.0, 1.0, 0.0], dtype=torch.float64),
            )
            listed = emitting_mask(state, state.block + 1)
            want = _shares(state, params, SHARE_ERAS.get(era), listed)
            assert _bits(subnet_shares(state, params, state.block + 1)) == _bits(want)


@pytest.mark.parametrize("seed", range(4))
def test_the_flow_kernel_runs_and_lists_the_emitting_subnets(seed: int) -> None:
    """The one-pass ``tao_flow`` shares run (no fall-back) and give ``emitting_mask``."""
    for params, state in _states("tao_flow", seed, False):
        block = state.block + 1
        fused = _flow_shares_fused(state, params, block)
        assert fused is not None
        emit, shares = fused
        assert emit.tobytes() == emitting_mask(state, block).numpy().tobytes()
        listed = emitting_mask(state, block)
        assert _bits(shares) == _bits(_shares(state, params, SHARE_ERAS.get("tao_flow"), listed))


def test_the_flow_kernel_leaves_an_ambiguous_zero_to_numpy() -> None:
    params = EconomyParams(era="tao_flow", tempo=360, flow_cutoff=-1.0)
    state = new_network(6, 16, params=params, seed=0, n_validators=3)
    state = state.replace(
        flow_ema=torch.tensor([-0.0, 0.0, 1.0, 2.0, 0.0, 3.0], dtype=torch.float64)
    )
    assert _flow_shares_fused(state, params, state.block + 1) is None
