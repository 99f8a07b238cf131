"""The step's glue with fewer Python calls gives the same bits: the state's bulk views and
dtype check, the drain's cached epoch parameters, the drain taking the step's other changes
into its new state, and ``tempo_step`` against the sequence of public calls it stands for."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from protocol._numba import HAVE_NUMBA
from protocol.economy import tempo_step
from protocol.economy.coinbase import _FLOAT_FIELDS, run_coinbase_with_views
from protocol.economy.drain import (
    _FUSED_EPOCH_PARAMS,
    _drain_with_views,
    _fused_epoch_params,
    drain_with_views,
    due_subnets,
)
from protocol.economy.network import new_network
from protocol.economy.registration import decay_registration_burn
from protocol.economy.shares import _flow_shares_fused
from protocol.economy.state import EconomyParams, NetworkState
from protocol.yuma import EpochParams
from protocol.yuma.mechanisms import get_mechanism

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FIELDS = [
    name
    for name, value in vars(new_network(2, 8, seed=0, n_validators=2)).items()
    if torch.is_tensor(value)
]


def _state(seed: int = 1) -> NetworkState:
    return new_network(4, 8, seed=seed, n_validators=2)


def _bytes(state: NetworkState) -> dict[str, bytes]:
    """Every field's bits (tensors with their dtype)."""
    out = {}
    for name in (*FIELDS, "block", "tao_minted", "tao_recycled", "tao_burned"):
        value = getattr(state, name)
        if torch.is_tensor(value):
            out[name] = str(value.dtype).encode() + value.contiguous().numpy().tobytes()
        else:
            out[name] = repr(value).encode()
    return out


def test_views_are_the_views_one_by_one() -> None:
    state = _state()
    first = state.view("pool_alpha")  # one already converted, the rest not yet
    got = state.views(FIELDS)
    assert [id(a) for a in got] == [id(state.view(name)) for name in FIELDS]
    assert got[FIELDS.index("pool_alpha")] is first
    for name, array in zip(FIELDS, got, strict=True):
        assert array.ctypes.data == getattr(state, name).data_ptr()


def test_views_take_the_given_ones_first() -> None:
    state = _state()
    given = {"pool_tao": state.pool_tao.numpy()}
    got = state.views(["pool_tao", "pool_alpha"], given=given)
    assert got[0] is given["pool_tao"]
    assert got[1] is state.view("pool_alpha")
    assert state.views(["pool_tao"], given={})[0] is state.view("pool_tao")
    with pytest.raises(AttributeError):
        state.views(["nope"])


@pytest.mark.parametrize("converted", [False, True])
def test_all_float64_cpu_answers_as_is_float64(converted: bool) -> None:
    state = _state()
    for odd in (None, "flow_acc", "pending_root"):
        s = state if odd is None else state.replace(**{odd: getattr(state, odd).float()})
        if converted:
            s.views(_FLOAT_FIELDS)
        want = all(s.is_float64(name, cpu=True) for name in _FLOAT_FIELDS)
        assert s.all_float64_cpu(_FLOAT_FIELDS) is want
        assert want is (odd is None)
    # a field whose tensor is still to be made is answered from its view
    lazy = state.replace_arrays({"flow_acc": np.zeros(4, dtype=np.float32)})
    assert "flow_acc" not in lazy.__dict__
    assert not lazy.all_float64_cpu(_FLOAT_FIELDS)
    assert "flow_acc" not in lazy.__dict__  # (no tensor made)
    assert lazy.replace_arrays({"flow_acc": np.zeros(4)}).all_float64_cpu(_FLOAT_FIELDS)
    # an int field is not float64
    assert not state.all_float64_cpu(["pool_tao", "tempo"])


def test_the_fused_epoch_parameters_are_worked_out_once_per_params() -> None:
    params = EconomyParams(era="tao_flow")
    mechanism = get_mechanism(params.mechanism)
    _FUSED_EPOCH_PARAMS.clear()
    first = _fused_epoch_params(params, mechanism, 360, "auto")
    want = mechanism.resolve_params(EpochParams().with_(tempo=360))
    assert first == want
    assert _fused_epoch_params(params, mechanism, 360, "auto") is first
    assert len(_FUSED_EPOCH_PARAMS) == 1
    # another tempo, other params (equal or not), another backend: worked out for them
    assert _fused_epoch_params(params, mechanism, 100, "auto").tempo == 100
    other = EconomyParams(era="tao_flow", epoch_params=EpochParams(kappa=0.6))
    assert _fused_epoch_params(other, mechanism, 360, "auto").kappa == 0.6
    assert _fused_epoch_params(params, mechanism, 360, "torch") is None  # not the fused path
    assert len(_FUSED_EPOCH_PARAMS) == 4


def _stepped(seed: int, params: EconomyParams) -> NetworkState:
    state = _state(seed)
    state, _ = tempo_step(state, params)
    return state


@pytest.mark.parametrize("case", ["fused", "torch", "overrides", "none_due"])
def test_a_drain_with_changes_is_the_drain_then_replace(case: str) -> None:
    params = EconomyParams(era="tao_flow", net_tao_flow_enabled=False)
    state = _stepped(2, params)
    backend = "torch" if case == "torch" else "auto"
    if case == "overrides":  # the general path (one epoch group per override)
        state = state.replace(epoch_overrides=((1, "kappa", 0.6),))
    block = state.block + params.tempo
    due = due_subnets(state, block)
    if case == "none_due":
        due = torch.zeros_like(due)
    changes = {"reg_burn": state.reg_burn * 0.5, "block": block}
    copy = pickle.loads(pickle.dumps(state))
    want_state, want = drain_with_views(copy, params, due, block, {}, backend=backend)
    want_state = want_state.replace(**changes)
    got_state, got = _drain_with_views(
        state, params, due.numpy(), block, {}, changes, bonds_owned=False, backend=backend
    )
    assert _bytes(got_state) == _bytes(want_state)
    for name in ("drained", "miner_alpha", "root_tao_paid", "incentive", "dividends"):
        assert getattr(got, name).numpy().tobytes() == getattr(want, name).numpy().tobytes()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("flows", [False, True])
def test_tempo_step_is_its_public_steps(seed: int, flows: bool) -> None:
    """``tempo_step`` equals the burn's decay, the coinbase, the drain and the block's
    replace, each a state of its own, byte for byte, over several tempos."""
    params = EconomyParams(era="tao_flow", net_tao_flow_enabled=False)
    state = _state(seed)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        flow = torch.from_numpy(rng.normal(0, 1e11, 4)) if flows else None
        reference = pickle.loads(pickle.dumps(state))
        last = reference.block + params.tempo
        ref = reference.replace(
            reg_burn=decay_registration_burn(reference.reg_burn, params.tempo, params)
        )
        if flow is not None:
            from protocol.economy.staking import apply_market_flows

            ref, _ = apply_market_flows(ref, flow, params)
        ref, _, views = run_coinbase_with_views(ref, params, params.tempo, "auto")
        ref, want = drain_with_views(ref, params, due_subnets(ref, last), last, views)
        ref = ref.replace(block=last)
        state, got = tempo_step(state, params, flows=flow)
        assert _bytes(state) == _bytes(ref)
        assert got.drain.incentive.numpy().tobytes() == want.incentive.numpy().tobytes()


@pytest.mark.skipif(not HAVE_NUMBA, reason="the one-pass shares need numba")
def test_the_flow_shares_divide_as_torch_does() -> None:
    """The in-place numpy division by the torch sum is torch's division, and no positive
    weight gives zeros."""
    params = EconomyParams(era="tao_flow", net_tao_flow_enabled=False)
    state = _state()
    rng = np.random.default_rng(5)
    for scale in (1e-300, 1.0, 1e12, 1e300):
        flow = torch.from_numpy(rng.random(4) * scale)
        s = state.replace(flow_ema=flow)
        fused = _flow_shares_fused(s, params, s.block + 1)
        assert fused is not None
        # positive flows: the floor is 0, the weights are the listed subnets' flows
        kept = torch.where(torch.from_numpy(fused[0]), flow - 0.0, 0.0)
        assert fused[1].numpy().tobytes() == (kept / kept.sum()).numpy().tobytes()
    zero = state.replace(flow_ema=torch.zeros(4, dtype=torch.float64))
    fused = _flow_shares_fused(zero, params, zero.block + 1)
    assert fused is not None
    assert fused[1].numpy().tobytes() == np.zeros(4).tobytes()


def _odd_floats(rng: np.random.Generator, size: int) -> np.ndarray:
    """Floats with zeros of both signs, NaN, infinities and values near the 1e-300 floor."""
    values = rng.normal(0, 1, size) * 10.0 ** rng.integers(-310, 20, size)
    specials = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-300, 5e-301, 2e-300])
    pick = rng.random(size) < 0.3
    values[pick] = rng.choice(specials, int(pick.sum()))
    return values


@pytest.mark.parametrize("seed", range(4))
def test_the_spot_price_kernel_is_the_numpy_select(seed: int) -> None:
    from protocol.economy import amm

    rng = np.random.default_rng(seed)
    for size in (0, 1, 5, 16, 33):
        tao, alpha = _odd_floats(rng, size), _odd_floats(rng, size)
        w1 = np.where(rng.random(size) < 0.8, rng.random(size), _odd_floats(rng, size))
        with np.errstate(all="ignore"):
            denom = (1.0 - w1) * alpha
            want = np.where(denom > 0, w1 * tao / np.maximum(denom, 1e-300), 0.0)
        got = amm.spot_price_array(tao, alpha, w1)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    # other dtypes and shapes keep numpy's own promotion and broadcasting
    low = amm.spot_price_array(np.ones(3, np.float32), np.ones(3, np.float32), np.full(3, 0.5))
    assert low.dtype == np.float64
    grid = amm.spot_price_array(np.ones((2, 3)), np.ones((2, 3)), np.full((2, 3), 0.5))
    assert grid.shape == (2, 3) and np.all(grid == 1.0)


def test_the_due_kernel_is_the_numpy_compare() -> None:
    from protocol.economy.drain import _due_array

    state = _state()
    S = state.n_subnets
    rng = np.random.default_rng(3)
    for _ in range(20):
        last = torch.from_numpy(rng.integers(-(1 << 62), 1 << 62, S))
        tempo = torch.from_numpy(rng.integers(-5, 400, S))
        active = torch.from_numpy(rng.random(S) < 0.7)
        s = state.replace(last_epoch_block=last, tempo=tempo, active=active)
        for block in (0, 360, int(rng.integers(-(1 << 62), 1 << 62)), (1 << 63) - 1):
            want = active.numpy() & ((block - last.numpy()) >= tempo.numpy())
            got = _due_array(s, block)
            assert got.dtype == np.bool_ and got.tobytes() == want.tobytes()
            assert due_subnets(s, block).numpy().tobytes() == want.tobytes()
    # an int32 tempo takes numpy's compare, as before
    s = state.replace(tempo=state.tempo.to(torch.int32))
    want = s.active.numpy() & ((720 - s.last_epoch_block.numpy()) >= s.tempo.numpy())
    assert _due_array(s, 720).tobytes() == want.tobytes()


@pytest.mark.skipif(not HAVE_NUMBA, reason="the kernel is numba's")
def test_the_sum_side_agrees_with_torchs_sum_where_it_decides() -> None:
    """``_sum_side`` answers as ``torch.sum(values) > level`` wherever it answers, and
    leaves sums within rounding of the level (and overflowing ones) undecided."""
    from protocol.economy.coinbase import _sum_side

    rng = np.random.default_rng(11)
    seen = {-1: 0, 0: 0, 1: 0}
    specials = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e308, -1e308, 5e-324]
    for trial in range(3000):
        size = int(rng.integers(0, 40))
        values = rng.random(size) * (2.0 / max(size, 1))
        if trial % 3 == 0 and size:  # a sum a few ulps from 1
            values *= 1.0 / values.sum() * (1.0 + float(rng.integers(-4, 5)) * 2.0**-52)
        if trial % 5 == 0 and size:
            values[rng.integers(0, size, 2)] = rng.choice(specials, 2)
        side = _sum_side(values, 1.0)
        seen[side] += 1
        if side >= 0:
            assert (side == 1) == (float(torch.from_numpy(values).sum()) > 1.0)
    assert min(seen.values()) > 50  # every answer met
    # one order overflows, the other not: undecided
    assert _sum_side(np.array([np.inf, -1e308, -1e308]), 1.0) == -1
    assert _sum_side(np.array([1e308, 1e308, -1e308]), 1.0) == -1
    assert _sum_side(np.array([np.inf, 1.0]), 1.0) == 1
    assert _sum_side(np.array([np.inf, -np.inf]), 1.0) == 0
    assert _sum_side(np.array([0.5, np.nan]), 1.0) == 0
    assert _sum_side(np.array([1.0]), 1.0) == -1
    assert _sum_side(np.zeros(0), 1.0) == 0


@pytest.mark.skipif(not HAVE_NUMBA, reason="the kernel is numba's")
def test_the_halving_counts_are_torchs_where_decided() -> None:
    """``_halving_counts`` gives ``floor(-torch.log2(frac) + 1e-12)`` wherever it answers,
    and declines fractions at (or within rounding of) a power of two and non-positive or
    infinite ones."""
    from protocol.economy.coinbase import _halving_counts

    rng = np.random.default_rng(7)
    fracs = np.concatenate(
        [
            rng.random(5000),
            2.0 ** -rng.uniform(0, 60, 5000),
            np.nextafter(2.0 ** -np.arange(61.0), 0.0),
            np.nextafter(2.0 ** -np.arange(61.0), 1.0),
        ]
    )
    fracs = fracs[(fracs >= 2.0**-60) & (fracs <= 1.0)]
    decided = 0
    for chunk in np.array_split(fracs, 500):
        out = np.empty(chunk.size)
        if _halving_counts(chunk, out):
            decided += 1
            want = np.floor(-torch.log2(torch.from_numpy(chunk)).numpy() + 1e-12)
            assert out.tobytes() == want.tobytes()
    assert decided > 100
    for odd in (1.0, 0.5, 2.0**-60, 0.0, -0.5, np.inf):
        assert not _halving_counts(np.array([0.3, odd]), np.empty(2))
    out = np.empty(2)
    assert _halving_counts(np.array([np.nan, 0.3]), out)
    assert np.isnan(out[0]) and out[1] == 1.0
