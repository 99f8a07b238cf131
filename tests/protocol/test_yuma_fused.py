"""The fused numba backend of the float epoch: agreement with the torch path, dispatch, golden
vectors on both backends."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol.yuma.replay as replay
from protocol.yuma import EpochParams, yuma_epoch
from protocol.yuma._fused import _liquid_alpha_v1, fused_available
from protocol.yuma.float_epoch import liquid_alpha_v1, resolve_backend
from protocol.yuma.mechanisms import Mechanism, get_mechanism
from tests.protocol import test_yuma_golden as golden

pytestmark = pytest.mark.skipif(not fused_available(), reason="numba is not installed")

MECHANISMS = ["yuma", "yuma_classic", "yuma3", "yuma3_liquid", "yuma_liquid_v1", "stake_capped"]


@st.composite
def batched_epochs(draw: st.DrawFn) -> dict[str, Any]:
    """Random batched epoch inputs with masks, owners, permits, commits and explicit zeros."""
    B = draw(st.integers(1, 3))
    n = draw(st.integers(2, 10))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    sparse = rng.random((B, n, n)) < draw(st.sampled_from([0.0, 0.3, 0.7]))
    # a few discrete levels make equal weights (κ-median ties) common
    levels = draw(st.sampled_from([0, 3]))
    raw = rng.integers(1, levels + 1, (B, n, n)) / levels if levels else rng.random((B, n, n))
    weights = np.where(sparse, 0.0, raw)
    stake = np.where(rng.random((B, n)) < 0.3, 0.0, rng.random((B, n)) * 1e3)
    permits = rng.random((B, n)) < 0.6
    bonds = np.where(permits[:, :, None], rng.random((B, n, n)), 0.0)
    block = 1_000
    kwargs: dict[str, Any] = {
        "weights": torch.tensor(weights),
        "stake": torch.tensor(stake),
        "bonds": torch.tensor(bonds),
        "rao_emission": torch.tensor(rng.random(B) * 1e9),
        "owner_uid": torch.tensor(rng.integers(-1, n, B)),
        "mechanism": draw(st.sampled_from(MECHANISMS)),
        "params": EpochParams(
            kappa=draw(st.sampled_from([0.0, 0.25, 32767 / 65535, 0.9, 1.0])),
            bonds_penalty=draw(st.sampled_from([0.0, 0.5, 1.0])),
            bonds_moving_average=draw(st.sampled_from([0.3, 0.9, 0.975])),
            liquid_alpha=draw(st.booleans()),
            liquid_alpha_version=draw(st.sampled_from(["v1", "v2"])),
            max_validators=draw(st.integers(1, n)),
            stake_threshold=draw(st.sampled_from([0.0, 100.0])),
            sparse_bond_drop=draw(st.booleans()),
            tempo=100,
        ),
    }
    permit_input = draw(st.sampled_from(["none", "permits", "empty"]))
    if permit_input == "permits":
        kwargs["validator_permit_prev"] = torch.tensor(permits)
    elif permit_input == "empty":  # the chain's empty vector: every weight row dropped
        kwargs["validator_permit_prev"] = torch.zeros(B, 0, dtype=torch.bool)
    if draw(st.booleans()):
        # some weights outdated by a re-registration, some uids registered this tempo
        kwargs["last_update"] = torch.tensor(rng.integers(block - 6_000, block, (B, n)))
        kwargs["registration"] = torch.tensor(rng.integers(0, block, (B, n)))
        kwargs["block"] = block
        kwargs["lms"] = draw(st.sampled_from([0, block - 50]))
        if draw(st.booleans()):
            commits = rng.integers(0, block, (B, n))
            kwargs["commit_block"] = torch.tensor(
                np.where(rng.random((B, n)) < 0.3, np.iinfo(np.int64).max, commits)
            )
    if draw(st.booleans()):
        kwargs["weights_present"] = torch.tensor(weights > 0) | torch.tensor(
            rng.random((B, n, n)) < 0.2
        )
    return kwargs


def _run(kwargs: dict[str, Any], backend: str, *, inplace: bool = False) -> Any:
    call = dict(kwargs, bonds=kwargs["bonds"].clone())
    return yuma_epoch(**call, backend=backend, inplace_bonds=inplace)


@settings(max_examples=120, deadline=None)
@given(case=batched_epochs(), inplace=st.booleans())
def test_fused_agrees_with_torch(case: dict[str, Any], inplace: bool) -> None:
    want = _run(case, "torch")
    got = _run(case, "fused", inplace=inplace)
    assert got.mechanism == want.mechanism
    scale = case["rao_emission"].unsqueeze(-1)
    for name, expected in want.tensors().items():
        actual = got.tensors()[name]
        if expected.dtype == torch.bool:
            assert torch.equal(actual, expected), name
            continue
        if "emission" in name:  # in units of rao_emission
            actual, expected = actual / scale, expected / scale
        torch.testing.assert_close(actual, expected, atol=1e-9, rtol=1e-9, msg=name)


def test_inplace_bonds_write_the_input_and_copies_leave_it() -> None:
    gen = torch.Generator().manual_seed(3)
    weights = torch.rand(2, 6, 6, generator=gen, dtype=torch.float64)
    stake = torch.rand(2, 6, generator=gen, dtype=torch.float64)
    bonds = torch.rand(2, 6, 6, generator=gen, dtype=torch.float64)
    before = bonds.clone()
    copied = yuma_epoch(weights, stake, bonds, backend="fused")
    assert torch.equal(bonds, before)
    assert not torch.equal(copied.bonds, before)
    inplace = yuma_epoch(weights, stake, bonds, backend="fused", inplace_bonds=True)
    assert inplace.bonds.data_ptr() == bonds.data_ptr()
    torch.testing.assert_close(bonds, copied.bonds, atol=0, rtol=0)


class _OwnConsensus(Mechanism):
    """A mechanism with its own consensus: the fused kernel cannot run it."""

    def consensus(
        self, weights: torch.Tensor, stake: torch.Tensor, params: EpochParams
    ) -> torch.Tensor:
        return weights.amax(1)


def test_backend_dispatch() -> None:
    cpu = torch.device("cpu")
    assert resolve_backend("auto", get_mechanism("yuma"), cpu) == "fused"
    # overriding only consensus_stake keeps the chain kernel
    assert resolve_backend("auto", get_mechanism("stake_capped"), cpu) == "fused"
    assert resolve_backend("torch", get_mechanism("yuma"), cpu) == "torch"
    own = _OwnConsensus("own_consensus")
    assert resolve_backend("auto", own, cpu) == "torch"
    assert resolve_backend("auto", get_mechanism("yuma"), torch.device("meta")) == "torch"
    assert resolve_backend("auto", get_mechanism("yuma"), cpu, torch.float32) == "torch"
    with pytest.raises(ValueError, match="overrides consensus"):
        resolve_backend("fused", own, cpu)
    with pytest.raises(ValueError, match="not the CPU"):
        resolve_backend("fused", get_mechanism("yuma"), torch.device("meta"))
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("numba", get_mechanism("yuma"), cpu)
    # the fallback runs the mechanism's own consensus
    weights = torch.tensor(
        [[[0.0, 0.0, 0.2, 0.8], [0.0, 0.0, 0.6, 0.4], [0.0] * 4, [0.0] * 4]], dtype=torch.float64
    )
    stake = torch.tensor([[3.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    result = yuma_epoch(weights, stake, torch.zeros(1, 4, 4), mechanism=own)
    torch.testing.assert_close(
        result.consensus, torch.tensor([[0.0, 0.0, 0.6, 0.8]], dtype=torch.float64)
    )


@pytest.fixture(params=["torch", "fused"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the float replays of the golden tests on one backend."""
    monkeypatch.setattr(replay, "yuma_epoch", functools.partial(yuma_epoch, backend=request.param))
    return request.param


def test_golden_vectors_on_both_backends(backend: str) -> None:
    # The golden functions assert the chain's values; here they run on the patched backend.
    assert replay.yuma_epoch.keywords["backend"] == backend
    golden.test_active_stake("float")
    golden.test_outdated_weights("float")
    golden.test_zero_weights("float")
    golden.test_10_graph("float")
    golden.test_owner_self_weight("float")
    golden.test_yuma3_stable_miner("float")
    golden.test_yuma3_bonds_reset("float")
    for name in sorted(golden.Y3_SCENARIOS):
        golden.test_yuma3_scenarios(name, "float")


@pytest.mark.parametrize(("stake", "score", "expected"), golden.MEDIAN_CASES)
def test_weighted_median_vectors_fused(
    stake: list[float], score: list[float], expected: float
) -> None:
    # validators 0..k-1 score miner k; miner k + 1 takes the rest of each row (rows sum to 1)
    k = len(stake)
    n = k + 2
    column = torch.tensor(score, dtype=torch.float64)
    weights = torch.zeros(n, n, dtype=torch.float64)
    weights[:k, k] = column
    weights[:k, k + 1] = 1.0 - column
    stakes = torch.tensor([*stake, 0.0, 0.0], dtype=torch.float64)
    # subtensor's weighted_median majority 0.51 (as test_weighted_median_vectors)
    params = EpochParams(kappa=1 - 0.49, max_validators=n)
    result = yuma_epoch(weights, stakes, torch.zeros(n, n), params=params, backend="fused")
    assert float(result.consensus[k]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.skipif(not fused_available(), reason="numba not installed")
@pytest.mark.parametrize("kappa", [0.5, 0.25, 0.9])
@pytest.mark.parametrize("mechanism", ["yuma", "yuma_classic"])
def test_staked_validators_without_weights_collapse_exactly(kappa: float, mechanism: str) -> None:
    # Permit holders with stake but all-zero weight rows enter the fused κ-median as one
    # combined zero row; the result must equal the torch path, which sees every row.
    g = torch.Generator().manual_seed(11)
    B, n, k, setters = 3, 96, 32, 8
    stake = torch.zeros(B, n, dtype=torch.float64)
    stake[:, :k] = torch.rand(B, k, generator=g, dtype=torch.float64) * 1e6 + 1.0
    weights = torch.zeros(B, n, n, dtype=torch.float64)
    weights[:, :setters, k:] = torch.rand(B, setters, n - k, generator=g, dtype=torch.float64)
    weights[:, :setters, k:] *= torch.rand(B, setters, n - k, generator=g) < 0.6
    bonds = torch.zeros(B, n, n, dtype=torch.float64)
    permits = torch.zeros(B, n, dtype=torch.bool)
    permits[:, :k] = True
    params = EpochParams(kappa=kappa)
    kwargs: dict[str, Any] = {
        "params": params,
        "rao_emission": 1e9,
        "validator_permit_prev": permits,
        "mechanism": mechanism,
    }
    fused = yuma_epoch(weights, stake, bonds, backend="fused", **kwargs)
    reference = yuma_epoch(weights, stake, bonds, backend="torch", **kwargs)
    for name in ("consensus", "incentive", "dividends", "validator_trust", "bonds"):
        assert torch.allclose(getattr(fused, name), getattr(reference, name), atol=1e-9, rtol=0), (
            name
        )
    # Emission is in rao: the same 1e-9 tolerance relative to the 1e9 rao emitted.
    assert torch.allclose(fused.emission / 1e9, reference.emission / 1e9, atol=1e-9, rtol=0)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("bonds_moving_average", [0.9, 0.3])
def test_zero_rows_skip_and_direct_bond_store_match_torch(
    inplace: bool, bonds_moving_average: float
) -> None:
    # The default (Yuma 3) bond pass skips permit rows with no weights and no bonds (they are
    # left untouched in storage) and writes new rows straight into the bond storage. Rows with
    # no weights but old bonds (decaying), rows that lose their permit (cleared) and a few
    # epochs in a row (so skipped rows are read back) must give the torch path's results.
    g = torch.Generator().manual_seed(5)
    B, n, k, setters = 3, 40, 12, 4
    stake = torch.zeros(B, n, dtype=torch.float64)
    stake[:, :k] = torch.rand(B, k, generator=g, dtype=torch.float64) * 1e3 + 1.0
    weights = torch.zeros(B, n, n, dtype=torch.float64)
    weights[:, :setters, k:] = torch.rand(B, setters, n - k, generator=g, dtype=torch.float64)
    bonds = torch.zeros(B, n, n, dtype=torch.float64)
    # validators setters..setters+2 hold old bonds but set no weights now
    bonds[:, setters : setters + 3, k:] = torch.rand(B, 3, n - k, generator=g, dtype=torch.float64)
    permits = torch.zeros(B, n, dtype=torch.bool)
    permits[:, : k + 2] = True  # uids k, k+1 lose their permit (no stake): their rows clear
    bonds[:, k : k + 2, k:] = 0.5
    params = EpochParams(bonds_moving_average=bonds_moving_average, max_validators=k)
    fused_bonds, torch_bonds = bonds.clone(), bonds.clone()
    for epoch in range(3):
        kwargs: dict[str, Any] = {
            "params": params,
            "rao_emission": 1e9,
            "validator_permit_prev": permits,
        }
        fused = yuma_epoch(
            weights, stake, fused_bonds, backend="fused", inplace_bonds=inplace, **kwargs
        )
        reference = yuma_epoch(weights, stake, torch_bonds, backend="torch", **kwargs)
        for name in ("consensus", "incentive", "dividends", "validator_trust", "bonds"):
            got, want = getattr(fused, name), getattr(reference, name)
            assert torch.allclose(got, want, atol=1e-12, rtol=0), (epoch, name)
        assert (inplace and fused.bonds.data_ptr() == fused_bonds.data_ptr()) or (
            not inplace and not torch.equal(fused.bonds, fused_bonds)
        )
        assert bool((fused.bonds[:, k : k + 2] == 0).all())  # lost permits cleared
        assert bool((fused.bonds[:, setters + 3 : k] == 0).all())  # skipped rows stay zero
        fused_bonds, torch_bonds = fused.bonds, reference.bonds
        permits = reference.validator_permit
    # the decaying rows are still non-zero and were rewritten every epoch
    assert bool((fused_bonds[:, setters : setters + 3, k:] > 0).all())


def test_fused_finish_matches_torch_finish() -> None:
    # Step 11 in numba: scatter of the slice, emission split, and the two fallbacks when there
    # is nothing to split (to the active stake, or to the stake when no validator is active).
    from protocol.yuma.float_epoch import _finish, _finish_fused
    from protocol.yuma.stages import EpochInputs, SliceOutputs, ValidatorSlice

    g = torch.Generator().manual_seed(8)
    B, n, k = 4, 9, 3
    rows = torch.stack([torch.randperm(n, generator=g)[:k] for _ in range(B)])
    trust = torch.rand(B, k, generator=g, dtype=torch.float64)
    dividends = torch.rand(B, k, generator=g, dtype=torch.float64)
    incentive = torch.rand(B, n, generator=g, dtype=torch.float64)
    stake = torch.rand(B, n, generator=g, dtype=torch.float64)
    active_stake = torch.rand(B, n, generator=g, dtype=torch.float64)
    dividends[1:], incentive[1:] = 0.0, 0.0  # subnets 1-3: nothing to split
    active_stake[2] = 0.0  # subnet 2: no active validator either
    dividends[3, 0], incentive[3, 0] = 1.0, 0.0  # subnet 3: dividends only
    zeros_b = torch.zeros(B, dtype=torch.int64)
    inputs = EpochInputs(
        weights=torch.zeros(B, n, n, dtype=torch.float64),
        stake=stake,
        bonds=torch.zeros(B, n, n, dtype=torch.float64),
        rao_emission=torch.tensor([1e9, 2e9, 3e9, 4e9], dtype=torch.float64),
        last_update=None,
        registration=None,
        block=None,
        validator_permit_prev=None,
        owner_uid=zeros_b - 1,
        commit_block=None,
        lms=zeros_b,
    )
    mechanism = get_mechanism("yuma")
    validators = ValidatorSlice(
        stake=stake,
        active=torch.ones(B, n, dtype=torch.bool),
        active_stake=active_stake,
        permit=stake > 0.5,
        permit_prev=torch.zeros(B, n, dtype=torch.bool),
        rows=rows,
        row_valid=torch.ones(B, k, dtype=torch.bool),
        slice_stake=active_stake.gather(1, rows),
    )
    outputs = SliceOutputs(
        consensus=torch.zeros(B, n, dtype=torch.float64),
        incentive=incentive,
        trust=trust,
        dividends=dividends,
        bonds=inputs.bonds,
    )
    want = _finish(inputs, mechanism, validators, outputs)
    got = _finish_fused(inputs, mechanism, validators, outputs)
    for name, expected in want.tensors().items():
        torch.testing.assert_close(got.tensors()[name], expected, atol=0, rtol=1e-15, msg=name)
    torch.testing.assert_close(got.validator_emission[2], stake[2] * 3e9, atol=0, rtol=1e-15)
    torch.testing.assert_close(got.emission[1], active_stake[1] * 2e9, atol=0, rtol=1e-15)


def test_la1_tied_quartiles_split_by_rounding_agree() -> None:
    """A case the property test found: LA1 on the classic path, some uids outside the validator
    slice, and the stake threshold zeroing slice rows. The consensus quartiles tie (0.2) in the
    torch path, but the fused kernel's row sums round in another order, leaving them an ulp
    apart; LA1 then took a near-vertical logistic there instead of the tie's flat rate (bonds
    off by 0.97, dividends by 0.37). The chain-exact mode ties them (fixed point)."""
    levels = [
        [1, 0, 3, 3, 1, 2, 1, 2, 0],
        [2, 2, 0, 0, 3, 3, 1, 1, 3],
        [0, 3, 0, 1, 3, 3, 1, 3, 1],
        [2, 3, 0, 2, 3, 2, 3, 0, 0],
        [0, 1, 0, 0, 2, 2, 3, 0, 3],
        [1, 3, 0, 3, 2, 0, 0, 3, 2],
        [1, 0, 2, 0, 0, 0, 1, 2, 2],
        [2, 3, 3, 2, 0, 3, 0, 0, 2],
        [3, 3, 3, 1, 3, 3, 1, 2, 3],
    ]
    bonds_pct = [
        [37, 57, 12, 42, 65, 41, 95, 36, 87],
        [0] * 9,
        [79, 11, 91, 35, 14, 27, 80, 26, 12],
        [60, 91, 31, 51, 39, 94, 86, 49, 98],
        [22, 42, 56, 77, 70, 42, 94, 98, 85],
        [0] * 9,
        [26, 77, 17, 52, 79, 97, 67, 69, 41],
        [17, 81, 8, 75, 31, 5, 15, 53, 32],
        [13, 32, 80, 73, 46, 37, 99, 51, 67],
    ]
    case: dict[str, Any] = {
        "weights": torch.tensor(levels, dtype=torch.float64) / 3,
        "stake": torch.tensor([133.0, 270, 810, 476, 35, 198, 0, 61, 0], dtype=torch.float64),
        "bonds": torch.tensor(bonds_pct, dtype=torch.float64) / 100,
        "rao_emission": 1e9,
        "owner_uid": 3,
        "validator_permit_prev": torch.tensor([1, 0, 1, 1, 1, 0, 1, 1, 1], dtype=torch.bool),
        "mechanism": "yuma_liquid_v1",
        "params": EpochParams(kappa=0.0, bonds_penalty=0.5, max_validators=9, stake_threshold=100),
    }
    want = _run(case, "torch")
    got = _run(case, "fused")
    for name in ("consensus", "dividends", "bonds", "emission"):
        torch.testing.assert_close(
            getattr(got, name), getattr(want, name), atol=1e-9, rtol=1e-9, msg=name
        )


@pytest.mark.parametrize("gap", [0.0, 2**-52, 1e-9])
def test_la1_quartile_tie_rule_on_both_backends(gap: float) -> None:
    """Quartiles within rounding of each other are a tie on both backends: the chain's
    ``calculate_logistic_params`` gives a = b = 0, so every rate is clamp(0.5, 0.7, 0.9) = 0.7
    (this test first expected the 0.1 fallback, a rule subtensor only had before PR #568);
    a real gap, however small on the chain's scale, keeps the logistic."""
    consensus = torch.tensor([[0.05, 0.2, 0.2, 0.2 * (1 + gap), 0.3]], dtype=torch.float64)
    params = EpochParams(liquid_alpha=True, liquid_alpha_version="v1", alpha_low=0.7)
    torch_alpha = liquid_alpha_v1(consensus, params).flatten()
    fused_alpha = np.empty(5)
    logit = lambda x: math.log(1 / x - 1)  # noqa: E731
    _liquid_alpha_v1(
        consensus[0].numpy(), params.alpha_low, params.alpha_high, logit(params.alpha_low),
        logit(params.alpha_high), 1 - params.bonds_moving_average, fused_alpha,
    )  # fmt: skip
    tied = gap < 1e-12
    assert bool((torch_alpha == params.alpha_low).all()) == tied
    assert not bool((torch_alpha == 1 - params.bonds_moving_average).any())
    np.testing.assert_allclose(fused_alpha, torch_alpha.numpy(), rtol=1e-12)
