"""Block mode vs tempo mode: where they differ, bounded (docstring of protocol.economy.step)."""

from __future__ import annotations

import pytest
import torch

from protocol.economy import EconomyParams, block_step, check_ledger, new_network, tempo_step

TEMPO = 12
N_TEMPOS = 3


def _run_both(params: EconomyParams):
    state = new_network(
        6, 16, params=params, seed=21, n_validators=4, n_validator_accounts=4, n_miner_accounts=8
    )
    by_block = state
    for _ in range(TEMPO * N_TEMPOS):
        by_block, _ = block_step(by_block, params)
    by_tempo = state
    for _ in range(N_TEMPOS):
        by_tempo, _ = tempo_step(by_tempo, params)
    return state, by_block, by_tempo


@pytest.mark.parametrize("era", ["head", "tao_flow", "price_ema"])
def test_block_and_tempo_mode_agree_within_the_stated_bound(era: str) -> None:
    params = EconomyParams(era=era, tempo=TEMPO)
    start, by_block, by_tempo = _run_both(params)
    assert by_block.block == by_tempo.block == TEMPO * N_TEMPOS
    assert check_ledger(by_block).ok and check_ledger(by_tempo).ok
    # 1. Minted TAO is identical (no halving inside the window).
    assert by_tempo.tao_minted == pytest.approx(by_block.tao_minted, rel=1e-12)
    # 2. Per subnet: shares are held for a tempo, so pools and alpha outstanding differ by at
    #    most the moving-price drift over the run (≤ blocks · SubnetMovingAlpha, relative).
    bound = TEMPO * N_TEMPOS * params.subnet_moving_alpha
    for name in ("pool_tao", "pool_alpha", "alpha_issuance"):
        a, b = getattr(by_block, name), getattr(by_tempo, name)
        assert torch.allclose(a, b, rtol=bound, atol=0), name
    assert torch.allclose(by_block.moving_price, by_tempo.moving_price, rtol=bound, atol=1e-12)
    # 3. What differs: epochs are staggered in block mode, so some pots are still pending
    #    there, at most one tempo of emission per subnet (alpha_out·tempo), while tempo mode
    #    drained every subnet at the tempo's last block.
    assert float(by_tempo.pending_server.abs().sum()) == 0.0
    per_block_alpha = by_tempo.alpha_issuance - start.alpha_issuance
    one_tempo = per_block_alpha / N_TEMPOS
    pending_block = by_block.pending_server + by_block.pending_validator + by_block.pending_root
    assert bool((pending_block <= one_tempo * (1 + 1e-9)).all())
    staked_block = by_block.hotkey_alpha.sum(1) + pending_block + by_block.pending_owner
    staked_tempo = by_tempo.hotkey_alpha.sum(1) + by_tempo.pending_owner
    # Alpha held by participants (stake + pots) agrees: the pots only move in time.
    assert torch.allclose(staked_block, staked_tempo, rtol=1e-6)


@pytest.mark.parametrize("era", ["head", "tao_flow"])
def test_modes_with_flows_agree_within_2e_3(era: str) -> None:
    params = EconomyParams(era=era, tempo=TEMPO)
    # A flow history (1 TAO per block in total): from a cold EMA of zero the chain emits no TAO
    # under tao_flow until a flow arrives, which block mode sees a block into the first tempo
    # and tempo mode only at the next one.
    state = new_network(
        6, 16, params=params, seed=21, n_validators=4, n_validator_accounts=4,
        n_miner_accounts=8, flow_ema_rao_per_block=1e9,
    )  # fmt: skip
    flows = (torch.arange(6, dtype=torch.float64) - 2.5) * 200e9  # TAO per tempo, both signs
    by_block, by_tempo = state, state
    for _ in range(TEMPO * N_TEMPOS):
        by_block, _ = block_step(by_block, params, flows=flows / TEMPO)
    for _ in range(N_TEMPOS):
        by_tempo, _ = tempo_step(by_tempo, params, flows=flows)
    assert check_ledger(by_block).ok and check_ledger(by_tempo).ok
    # One swap per tempo vs one per block (with injections between), and shares recomputed per
    # block from a flow EMA that moves within the tempo: bounded by 2e-3 relative here.
    for name in ("pool_tao", "spot_price", "flow_ema"):
        assert torch.allclose(getattr(by_block, name), getattr(by_tempo, name), rtol=2e-3), name
    assert by_block.tao_minted == pytest.approx(by_tempo.tao_minted, rel=1e-12)


def test_tempo_mode_halving_applies_at_the_next_tempo() -> None:
    params = EconomyParams(tempo=TEMPO)
    state = new_network(
        2,
        8,
        params=params,
        seed=3,
        n_validators=2,
        n_validator_accounts=2,
        n_miner_accounts=2,
        total_issuance_tao=10_500_000.0 - 5.0,
    )
    by_tempo, result = tempo_step(state, params)
    assert result.coinbase.block_emission == 1e9  # first block's emission held for the tempo
    assert by_tempo.tao_minted == pytest.approx(TEMPO * 1e9)
    by_block = state
    for _ in range(TEMPO):
        by_block, _ = block_step(by_block, params)
    # Block mode halves after the threshold: 5 full blocks then 0.5 TAO per block.
    assert by_block.tao_minted == pytest.approx(5e9 + (TEMPO - 5) * 0.5e9)
    assert by_tempo.tao_minted - by_block.tao_minted <= TEMPO * 0.5e9


def test_run_blocks_equals_the_block_step_loop_and_keeps_its_input() -> None:
    from dataclasses import fields

    from protocol.economy import run_blocks

    params = EconomyParams(tempo=TEMPO)
    state = new_network(
        6, 16, params=params, seed=5, n_validators=4, n_validator_accounts=4, n_miner_accounts=8
    )
    bonds_before = state.bonds.clone()
    flows = torch.linspace(-20, 20, 6, dtype=torch.float64) * 1e9
    looped = state
    for _ in range(2 * TEMPO):
        looped, _ = block_step(looped, params, flows=flows)
    fast, results = run_blocks(state, params, 2 * TEMPO, flows=flows)
    assert len(results) == 2 * TEMPO and results[-1].block == fast.block
    for f in fields(fast):
        a, b = getattr(fast, f.name), getattr(looped, f.name)
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), f.name
        else:
            assert a == b, f.name
    assert torch.equal(state.bonds, bonds_before)
    assert bool((fast.bonds != 0).any())  # the drains did write bonds
