"""protocol's one backend switch (``protocol/_numba.py``) and the entry points that use it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch

import protocol._numba as numba_guard
from protocol._numba import HAVE_NUMBA, choose_backend, jit
from protocol.economy import EconomyParams, drain, new_network, run_blocks, tempo_step
from protocol.economy.network import with_validator_weights
from protocol.yuma import yuma_epoch

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_torch_is_always_torch_and_auto_steps_aside() -> None:
    assert choose_backend("torch") == "torch"
    assert choose_backend("torch", ["device cuda:0 is not the CPU"]) == "torch"
    assert choose_backend("auto", ["device cuda:0 is not the CPU"]) == "torch"
    assert choose_backend("auto") == ("fused" if HAVE_NUMBA else "torch")


def test_fused_names_every_reason_it_cannot_run() -> None:
    with pytest.raises(ValueError, match="not the CPU; dtype"):
        choose_backend("fused", ["device meta is not the CPU", "dtype torch.float32 is wrong"])
    with pytest.raises(ValueError, match="expected 'auto', 'torch' or 'fused', got 'numba'"):
        choose_backend("numba")


def test_without_numba_auto_runs_torch_and_fused_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(numba_guard, "HAVE_NUMBA", False)
    assert choose_backend("auto") == "torch"
    with pytest.raises(ValueError, match="numba is not installed"):
        choose_backend("fused")

    def kernel(x: float) -> float:
        return 2.0 * x

    assert jit(kernel) is kernel  # the plain function: the Python twin still runs
    assert jit(reassoc=True)(kernel) is kernel


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_jit_compiles_where_numba_is_installed() -> None:
    def kernel(x: float) -> float:
        return 2.0 * x

    # not called: a call would compile and write the on-disk cache next to this file
    compiled = jit(kernel)
    assert compiled is not kernel and compiled.py_func is kernel
    assert compiled.targetoptions["nogil"] and type(compiled._cache).__name__ == "FunctionCache"
    assert "fastmath" not in compiled.targetoptions  # bit-for-bit kernels keep strict floats
    assert jit(reassoc=True)(kernel).targetoptions["fastmath"] == {"reassoc"}


def test_only_the_guard_imports_numba() -> None:
    # one guard: no other protocol module imports numba itself
    importers = [
        path.relative_to(REPO_ROOT).as_posix()
        for path in sorted((REPO_ROOT / "protocol").rglob("*.py"))
        if "import numba" in path.read_text()
    ]
    assert importers == ["protocol/_numba.py"]


def test_every_entry_point_checks_its_backend() -> None:
    params = EconomyParams()
    state = new_network(2, 24, params=params, seed=0)
    weights = torch.ones(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="backend"):
        yuma_epoch(weights, torch.ones(3), torch.zeros(3, 3), backend="numba")
    with pytest.raises(ValueError, match="backend"):
        tempo_step(state, params, backend="numba")
    with pytest.raises(ValueError, match="backend"):
        run_blocks(state, params, 1, backend="numba")
    with pytest.raises(ValueError, match="backend"):  # refused even with no subnet due
        drain(state, params, torch.zeros(2, dtype=torch.bool), state.block + 1, backend="numba")
    with pytest.raises(ValueError, match="backend"):
        with_validator_weights(state, torch.ones(2, 1, 24), [0], backend="numba")


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
def test_staggered_blocks_on_both_backends_agree() -> None:
    # block mode drains a few subnets at a time (gathered rows): epochs, epoch stake, payouts
    # and root-TAO credit, numba against the torch reference
    params = EconomyParams()
    start = new_network(6, 24, params=params, seed=5, flow_ema_rao_per_block=1e9)
    start = start.replace(last_epoch_block=start.last_epoch_block - torch.arange(6) * 40)
    reference, _ = run_blocks(start, params, params.tempo, backend="torch")
    fused, results = run_blocks(start, params, params.tempo, backend="fused")
    due_counts = [int((r.drain.drained > 0).sum()) for r in results]
    assert sum(due_counts) >= 6 and max(due_counts) < 6  # every subnet drained, never all at once
    for field in fields(reference):
        name = field.name
        want, got = getattr(reference, name), getattr(fused, name)
        if isinstance(want, torch.Tensor) and want.is_floating_point():
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-3, msg=name)
        elif isinstance(want, torch.Tensor):
            assert torch.equal(got, want), name
        else:
            assert got == want, name


def test_bundled_mechanisms_are_registered_by_any_import() -> None:
    # stake_capped registers itself; the package face imports it, whatever module is imported
    code = (
        "from protocol.yuma.mechanisms import get_mechanism\n"
        "print(type(get_mechanism('stake_capped')).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.strip() == "StakeCappedYuma"
