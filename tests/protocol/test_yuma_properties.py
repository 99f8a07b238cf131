"""Hypothesis properties of the Yuma epoch: permutation invariance, emission conservation, the
κ-cabal bound, exact/float agreement and JSON round trips."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.yuma import EpochParams, replay_states, yuma_epoch
from protocol.yuma.float_epoch import consensus_torch_sort, weighted_median_consensus
from protocol.yuma.state import parse_state, state_to_json

SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def subnet_states(draw: st.DrawFn, *, permits: bool = True) -> dict[str, Any]:
    """A random chain state: a few validators with distinct stakes, sparse u16 weights and bonds."""
    n = draw(st.integers(3, 9))
    validators = draw(st.integers(1, n - 1))
    stakes = draw(
        st.lists(st.integers(1, 10**6), min_size=validators, max_size=validators, unique=True)
    )
    stake = stakes + [0] * (n - validators)
    weight = st.integers(1, 65535)
    weights = [
        {str(j): draw(weight) for j in draw(st.sets(st.integers(0, n - 1), max_size=n))}
        for _ in range(validators)
    ] + [{} for _ in range(n - validators)]
    yuma3 = draw(st.booleans())
    # bonds only on validator rows, as on chain (permit holders)
    bonds = [
        {str(j): draw(weight) for j in draw(st.sets(st.integers(validators, n - 1), max_size=n))}
        for _ in range(validators)
    ] + [{} for _ in range(n - validators)]
    state = {
        "n": n, "block": 1000, "tempo": 360, "stake": stake, "reg": [0] * n, "last_update": [999] * n,
        "weights": weights, "bonds": bonds, "yuma3": yuma3,
        "bonds_penalty_u16": draw(st.sampled_from([0, 32767, 65535])),
        "liquid_alpha": yuma3 and draw(st.booleans()), "rao_emission": draw(st.integers(1, 10**12)),
    }  # fmt: skip
    if permits:
        state["validator_permit_prev"] = [True] * validators + [False] * (n - validators)
    return state


def _permute_state(state: dict[str, Any], perm: list[int]) -> dict[str, Any]:
    """Relabel uid ``i`` as ``perm[i]``."""
    n = state["n"]
    inverse = [0] * n
    for old, new in enumerate(perm):
        inverse[new] = old
    out = dict(state)
    for key in ("stake", "reg", "last_update", "validator_permit_prev"):
        if key in state:
            out[key] = [state[key][inverse[new]] for new in range(n)]
    for key in ("weights", "bonds"):
        out[key] = [
            {str(perm[int(j)]): v for j, v in state[key][inverse[new]].items()} for new in range(n)
        ]
    return out


PER_UID = ("consensus_u16", "incentive_u16", "dividends_u16", "validator_trust_u16", "emission")


@SETTINGS
@given(state=subnet_states(), data=st.data())
def test_permutation_invariance(state: dict[str, Any], data: st.DataObject) -> None:
    perm = data.draw(st.permutations(range(state["n"])))
    for mode in ("exact", "float"):
        base = replay_states(state, mode)[0]
        moved = replay_states(_permute_state(state, perm), mode)[0]
        for key in PER_UID:
            want = [base[key][old] for old in np.argsort(perm)]
            np.testing.assert_allclose(moved[key], want, rtol=1e-9, atol=1e-6, err_msg=key)


@SETTINGS
@given(state=subnet_states())
def test_emission_sums_to_rao_emission(state: dict[str, Any]) -> None:
    rao, n = state["rao_emission"], state["n"]
    exact = replay_states(state, "exact")[0]
    for key in ("emission",):
        total = sum(exact[key])
        # floors: < 1 rao per uid, plus I32F32 normalisation truncation (< n * 2^-32 each)
        assert rao - n - 4 * n * rao / 2**32 - 1 <= total <= rao
    split = sum(exact["server_emission"]) + sum(exact["validator_emission"])
    assert split <= rao
    flt = replay_states(state, "float")[0]
    assert abs(sum(flt["emission"]) - rao) <= 1e-9 * rao


@SETTINGS
@given(
    honest=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=6),
    honest_stake=st.lists(st.floats(0.05, 1.0), min_size=3, max_size=6),
    cabal_share=st.floats(0.0, 0.49),
    cabal_size=st.integers(1, 3),
)
def test_kappa_cabal_cannot_raise_consensus(
    honest: list[float], honest_stake: list[float], cabal_share: float, cabal_size: int
) -> None:
    """A cabal with less than κ of active stake pushing one miner cannot lift its consensus above
    the largest weight any honest validator gives it."""
    h = min(len(honest), len(honest_stake))
    v = h + cabal_size
    n = v + 2  # two miners: uid v (the target) and uid v + 1
    weights = torch.zeros(n, n, dtype=torch.float64)
    weights[:h, v] = torch.tensor(honest[:h], dtype=torch.float64)
    weights[:h, v + 1] = 1.0  # honest validators weight the other miner too
    weights[h:v, v] = 1.0  # the cabal puts everything on the target
    honest_total = sum(honest_stake[:h])
    cabal_total = honest_total * cabal_share / (1 - cabal_share)  # cabal_share of all stake
    stake = torch.tensor(
        honest_stake[:h] + [cabal_total / cabal_size] * cabal_size + [0.0, 0.0], dtype=torch.float64
    )
    result = yuma_epoch(weights, stake, torch.zeros(n, n, dtype=torch.float64), rao_emission=1.0)
    honest_rows = weights[:h] / weights[:h].sum(1, keepdim=True).clamp(min=1e-300)
    assert result.consensus[v] <= honest_rows[:, v].max() + 1e-12


@SETTINGS
@given(state=subnet_states())
def test_exact_and_float_agree(state: dict[str, Any]) -> None:
    exact = replay_states(state, "exact")[0]
    flt = replay_states(state, "float")[0]
    rao = state["rao_emission"]
    for key in ("incentive_u16", "dividends_u16", "consensus_u16", "validator_trust_u16"):
        assert np.abs(np.array(exact[key]) - np.array(flt[key])).max() <= 2, key
    for key in ("emission", "server_emission", "validator_emission"):
        np.testing.assert_allclose(exact[key], flt[key], atol=1e-4 * rao + 2, err_msg=key)
    assert exact["validator_permit"] == flt["validator_permit"]
    assert exact["active"] == flt["active"]


@SETTINGS
@given(state=subnet_states(permits=False))
def test_json_round_trip(state: dict[str, Any]) -> None:
    parsed = parse_state(state)
    again = parse_state(json.loads(json.dumps(state_to_json(parsed))))
    assert again == parsed
    out = replay_states(state, "exact")
    assert json.loads(json.dumps(out)) == out
    assert replay_states(state_to_json(parsed), "exact") == out


def test_float_batch_matches_single_epochs() -> None:
    """A batch of subnets gives the same results as the subnets one by one."""
    gen = torch.Generator().manual_seed(7)
    batch, n = 4, 12
    weights = torch.rand(batch, n, n, generator=gen, dtype=torch.float64)
    stake = torch.rand(batch, n, generator=gen, dtype=torch.float64)
    permits = torch.rand(batch, n, generator=gen) < 0.6
    bonds = torch.rand(batch, n, n, generator=gen, dtype=torch.float64) * permits.unsqueeze(-1)
    params = EpochParams(max_validators=6)
    together = yuma_epoch(weights, stake, bonds, params=params, validator_permit_prev=permits)
    for b in range(batch):
        alone = yuma_epoch(
            weights[b], stake[b], bonds[b], params=params, validator_permit_prev=permits[b]
        )
        for name, value in alone.tensors().items():
            torch.testing.assert_close(value, together.tensors()[name][b], msg=name)


@SETTINGS
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 6)),
    seed=st.integers(0, 2**31),
    levels=st.integers(1, 5),
    # κ values no sum of these stakes can hit exactly: at exact ties float rounding decides
    kappa=st.sampled_from([32767 / 65535, 0.9003, 0.2003, 0.9993, 0.0]),
)
def test_key_sort_consensus_equals_torch_sort(
    shape: tuple[int, int, int], seed: int, levels: int, kappa: float
) -> None:
    """The CPU packed-key sort gives the same κ-median as the plain ``torch.sort`` version,
    with ties, zero weights and zero-stake rows."""
    gen = torch.Generator().manual_seed(seed)
    weights = torch.randint(0, levels + 1, shape, generator=gen).to(torch.float64) / levels
    stake = torch.randint(0, 4, shape[:2], generator=gen).to(torch.float64)
    stake = stake / stake.sum(-1, keepdim=True).clamp(min=1.0)
    torch.testing.assert_close(
        weighted_median_consensus(weights, stake, kappa),
        consensus_torch_sort(weights, stake, kappa),
    )


def test_inplace_bonds_match_copy() -> None:
    gen = torch.Generator().manual_seed(3)
    weights = torch.rand(2, 8, 8, generator=gen, dtype=torch.float64)
    stake = torch.rand(2, 8, generator=gen, dtype=torch.float64)
    permits = torch.tensor([[True] * 4 + [False] * 4] * 2)
    bonds = torch.rand(2, 8, 8, generator=gen, dtype=torch.float64) * permits.unsqueeze(-1)
    copy = yuma_epoch(weights, stake, bonds, validator_permit_prev=permits)
    before = bonds.clone()
    inplace = yuma_epoch(weights, stake, bonds, validator_permit_prev=permits, inplace_bonds=True)
    assert inplace.bonds.data_ptr() == bonds.data_ptr()
    assert not torch.equal(before, bonds)
    torch.testing.assert_close(copy.bonds, bonds)
