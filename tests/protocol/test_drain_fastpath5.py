"""The drain's whole-network fused path equals the general drain bit for bit.

When every subnet is due in one epoch group on the fused backend (tempo mode),
:func:`protocol.economy.drain.drain` runs ``_drain_all_fused``: the same kernels on numpy views
of the state, without ``yuma_epoch``'s per-call checks. These tests run tempo steps both ways
(the general path by switching the fast one off) and compare every state field and every
drain result byte for byte, across mechanisms and parameters, and check that the fast path
declines what it does not cover.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import numpy as np
import pytest
import torch

from protocol._numba import HAVE_NUMBA
from protocol.economy import EconomyParams, new_network, tempo_step
from protocol.economy.state import NetworkState
from protocol.yuma import EpochParams
from protocol.yuma.mechanisms import Mechanism

# the module (``protocol.economy.drain`` is also the name of the function the package exports)
drain_module = importlib.import_module("protocol.economy.drain")

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


def _same(want: Any, got: Any, name: str) -> None:
    """Equal values bit for bit (tensors: dtype, shape and bytes)."""
    if isinstance(want, torch.Tensor):
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert got.numpy().tobytes() == want.numpy().tobytes(), name
    else:
        assert got == want, name


def _run(
    start: NetworkState,
    params: EconomyParams,
    *,
    fast: bool,
    steps: int,
    bonds_owned: bool,
    backend: str = "auto",
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[NetworkState, list[Any], int]:
    """``steps`` tempo steps from ``start``; the fast path on or off. Returns the final state,
    the drain results and how many drains the fast path ran."""
    taken = 0
    original = drain_module._drain_all_fused

    def spy(*args: Any, **kwargs: Any) -> Any:
        nonlocal taken
        if not fast:
            return None
        out = original(*args, **kwargs)
        taken += out is not None
        return out

    state = start.replace(bonds=start.bonds.clone()) if bonds_owned else start
    results = []
    with monkeypatch.context() as patch:
        patch.setattr(drain_module, "_drain_all_fused", spy)
        for _ in range(steps):
            state, result = tempo_step(state, params, bonds_owned=bonds_owned, backend=backend)
            results.append(result.drain)
    return state, results, taken


def _compare(
    start: NetworkState,
    params: EconomyParams,
    monkeypatch: pytest.MonkeyPatch,
    *,
    steps: int = 4,
    bonds_owned: bool = False,
    backend: str = "auto",
) -> int:
    """Run both ways, assert bit-identical states and drains; the fast path's drain count."""
    general, general_drains, _ = _run(
        start,
        params,
        fast=False,
        steps=steps,
        bonds_owned=bonds_owned,
        backend=backend,
        monkeypatch=monkeypatch,
    )
    state, drains, taken = _run(
        start,
        params,
        fast=True,
        steps=steps,
        bonds_owned=bonds_owned,
        backend=backend,
        monkeypatch=monkeypatch,
    )
    for field in dataclasses.fields(general):
        _same(getattr(general, field.name), getattr(state, field.name), field.name)
    for want, got in zip(general_drains, drains, strict=True):
        for field in dataclasses.fields(want):
            _same(getattr(want, field.name), getattr(got, field.name), f"drain.{field.name}")
    return taken


def _network(params: EconomyParams, *, subnets: int = 4, uids: int = 24) -> NetworkState:
    """A network whose subnets all run their epochs at the end of every tempo step."""
    state = new_network(subnets, uids, params=params, seed=7, n_validators=6)
    # the same last epoch block everywhere: every subnet is due at every tempo step
    return state.replace(last_epoch_block=torch.zeros(subnets, dtype=torch.int64))


@pytest.mark.parametrize("bonds_owned", [False, True])
@pytest.mark.parametrize(
    "mechanism", ["yuma", "yuma_classic", "yuma3_liquid", "yuma_liquid_v1", "stake_capped"]
)
def test_fast_drain_matches_the_general_drain(
    mechanism: str, bonds_owned: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = EconomyParams(mechanism=mechanism)
    taken = _compare(_network(params), params, monkeypatch, bonds_owned=bonds_owned)
    assert taken == 4


def test_fast_drain_matches_with_top_k_permits_and_kept_owner_incentive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # more stake holders than permits (the torch top-k selection), owner incentive recycled
    params = EconomyParams(
        epoch_params=EpochParams(max_validators=3), burn_owner_incentive=False, era="tao_flow"
    )
    taken = _compare(_network(params), params, monkeypatch, bonds_owned=True)
    assert taken == 4


def test_fast_drain_takes_in_place_bonds_only_when_owned(monkeypatch: pytest.MonkeyPatch) -> None:
    params = EconomyParams()
    start = _network(params)
    before = start.bonds.clone()
    state, _ = tempo_step(start, params)
    assert torch.equal(start.bonds, before)  # not owned: a copy is written
    assert state.bonds is not start.bonds
    owned = start.replace(bonds=start.bonds.clone())
    state, _ = tempo_step(owned, params, bonds_owned=True)
    assert state.bonds is owned.bonds  # owned: written in place


def test_fast_drain_declines_what_it_does_not_cover(monkeypatch: pytest.MonkeyPatch) -> None:
    params = EconomyParams()
    start = _network(params)
    # a per-subnet epoch override: two epoch groups
    overridden = start.replace(epoch_overrides=((1, "kappa", 0.6),))
    assert _compare(overridden, params, monkeypatch, steps=2) == 0
    # the torch backend
    assert _compare(start, params, monkeypatch, steps=2, backend="torch") == 0
    # state arrays of another layout: the general path handles them
    strided = start.replace(
        hotkey_alpha=start.hotkey_alpha.t().contiguous().t(),
        pending_root=start.pending_root.clone(),
    )
    assert not strided.hotkey_alpha.is_contiguous()
    assert _compare(strided, params, monkeypatch, steps=1) == 0


class _OwnConsensus(Mechanism):
    """A mechanism with its own consensus: the fused epoch cannot run it."""

    def consensus(
        self, weights: torch.Tensor, stake: torch.Tensor, params: EpochParams
    ) -> torch.Tensor:
        return weights.mean(1)


def test_fast_drain_declines_a_mechanism_with_its_own_consensus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = EconomyParams(mechanism=_OwnConsensus("own_consensus", exact=False))
    assert _compare(_network(params), params, monkeypatch, steps=2) == 0


def test_fast_drain_declines_several_tempos(monkeypatch: pytest.MonkeyPatch) -> None:
    params = EconomyParams()
    start = _network(params)
    # two tempos, both due at the step's last block (every due subnet, two epoch groups)
    tempo = start.tempo.clone()
    tempo[0] = int(tempo[0]) // 2
    mixed = start.replace(tempo=tempo)
    assert _compare(mixed, params, monkeypatch, steps=2) == 0
    assert np.all(mixed.tempo.numpy() <= params.tempo)
