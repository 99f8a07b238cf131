"""Emission eligibility (subtensor ``get_subnets_to_emit_to`` / ``emit_to_subnets``): hand-worked
vectors for registration-off, subtoken-off and ``SubnetEmissionEnabled = false``.

The network: 3 subnets, each pool 500 TAO / 1 000 alpha (spot 0.5 TAO), alpha issuance
1 001 alpha (alpha emission 1 alpha per block), total issuance 10 M TAO (block emission
1 TAO), moving prices 0.5, TAO-flow EMAs [2, 1, 1] (gross flow, the April 2026 rule) and
5 TAO of flow accumulated this block on subnet 0.

Open, the shares are [1/2, 1/4, 1/4]. Registration or subtoken off on subnet 0 takes it out of
the list: shares [0, 1/2, 1/2]; subnets 1 and 2 get 0.5 TAO each, injected as
alpha_in = 0.5 / 0.5 = 1 alpha (the cap min(alpha emission, block emission) = 1 alpha does not
bind); subnet 0 gets no TAO, no alpha_in, no alpha_out, no owner cut, and its moving price and
flow EMA stand still while its accumulated flow waits. The whole TAO block emission is still
minted (redistributed). ``SubnetEmissionEnabled = false`` gives the same TAO split, but subnet 0
stays listed: its alpha_out (1 alpha) and owner cut continue and its EMAs move.
"""

from __future__ import annotations

import pytest
import torch

from protocol.economy import (
    EconomyParams,
    NetworkState,
    apply_lever,
    block_step,
    check_ledger,
    run_coinbase,
    subnet_shares,
    tempo_step,
)
from protocol.economy.shares import emitting_mask
from protocol.levers import (
    AnyChange,
    SetEmissionEnabled,
    SetRegistrationAllowed,
    SetSubtokenEnabled,
)
from tests.protocol.test_economy_vectors import set_subnet_alpha, tiny_network

TAO = 1e9
CUT = 11_796 / 65_535
APRIL_2026 = EconomyParams(
    era="tao_flow", net_tao_flow_enabled=False, recycle_chain_bought_alpha=True
)
CLOSE = {
    "registration": SetRegistrationAllowed(0, allowed=False),
    "subtoken": SetSubtokenEnabled(0, enabled=False),
}


def three_subnets(params: EconomyParams = APRIL_2026) -> NetworkState:
    state = tiny_network(3, params=params)
    for s in range(3):
        state = set_subnet_alpha(state, s, pool_tao=500 * TAO, pool_alpha=1_000 * TAO,
                                 staked=[0.0, 1 * TAO])  # fmt: skip
    return state.replace(
        moving_price=torch.full((3,), 0.5, dtype=torch.float64),
        flow_ema=torch.tensor([2 * TAO, 1 * TAO, 1 * TAO], dtype=torch.float64),
        flow_acc=torch.tensor([5 * TAO, 0.0, 0.0], dtype=torch.float64),
    )


def test_open_network_vector() -> None:
    state = three_subnets()
    new, result = run_coinbase(state, APRIL_2026)
    assert result.shares.tolist() == pytest.approx([0.5, 0.25, 0.25], rel=1e-12)
    assert result.tao_in.tolist() == pytest.approx([0.5 * TAO, 0.25 * TAO, 0.25 * TAO])
    assert result.alpha_in.tolist() == pytest.approx([1 * TAO, 0.5 * TAO, 0.5 * TAO])
    assert result.alpha_out.tolist() == [TAO, TAO, TAO]
    assert check_ledger(new).ok


@pytest.mark.parametrize("lever", list(CLOSE), ids=list(CLOSE))
def test_closed_subnet_gets_nothing_and_its_tao_goes_to_the_others(lever: str) -> None:
    state, _ = apply_lever(three_subnets(), CLOSE[lever], APRIL_2026)
    assert emitting_mask(state, state.block + 1).tolist() == [False, True, True]
    new, result = run_coinbase(state, APRIL_2026)
    f = APRIL_2026.flow_smoothing

    assert result.shares.tolist() == pytest.approx([0.0, 0.5, 0.5], rel=1e-12)
    assert result.tao_in.tolist() == pytest.approx([0.0, 0.5 * TAO, 0.5 * TAO], rel=1e-12)
    assert result.excess_tao.tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-3)
    assert result.alpha_in.tolist() == pytest.approx([0.0, 1 * TAO, 1 * TAO], rel=1e-12)
    assert result.alpha_out.tolist() == [0.0, TAO, TAO]
    assert result.owner_cut.tolist() == pytest.approx([0.0, CUT * TAO, CUT * TAO], rel=1e-12)
    assert result.root_alpha[0].item() == 0.0
    # Every rao of the TAO block emission is still minted, all of it to subnets 1 and 2.
    assert new.tao_minted - state.tao_minted == pytest.approx(1 * TAO, rel=1e-12)
    assert (new.pool_tao - state.pool_tao).tolist() == pytest.approx([0.0, 0.5 * TAO, 0.5 * TAO])
    # Subnet 0: pool, alpha supply and pots untouched; EMAs still, accumulated flow kept.
    for name in ("pool_tao", "pool_alpha", "alpha_minted", "pending_server",
                 "pending_validator", "pending_root", "pending_owner", "moving_price"):  # fmt: skip
        assert getattr(new, name)[0].item() == getattr(state, name)[0].item(), name
    assert new.flow_ema.tolist() == pytest.approx([2 * TAO, (1 - f) * TAO, (1 - f) * TAO])
    assert new.flow_acc.tolist() == [5 * TAO, 0.0, 0.0]
    # Subnets 1 and 2: 1 alpha out, 18 % to the owner, the rest 50/50 (less the root part).
    remainder = (1 - CUT) * TAO
    assert new.pending_server[1].item() == pytest.approx(0.5 * remainder, rel=1e-12)
    assert new.pending_validator[1].item() + result.root_alpha[1].item() == pytest.approx(
        0.5 * remainder, rel=1e-12
    )
    assert check_ledger(new).ok


def test_emission_switch_stops_the_pool_side_only() -> None:
    state, _ = apply_lever(three_subnets(), SetEmissionEnabled(0, enabled=False), APRIL_2026)
    assert emitting_mask(state, state.block + 1).tolist() == [True, True, True]
    new, result = run_coinbase(state, APRIL_2026)
    f = APRIL_2026.flow_smoothing
    assert result.shares.tolist() == pytest.approx([0.0, 0.5, 0.5], rel=1e-12)
    assert result.tao_in.tolist() == pytest.approx([0.0, 0.5 * TAO, 0.5 * TAO], rel=1e-12)
    assert result.alpha_in[0].item() == 0.0
    assert result.alpha_out.tolist() == [TAO, TAO, TAO]  # alpha_out continues
    assert result.owner_cut[0].item() == pytest.approx(CUT * TAO, rel=1e-12)
    # Still listed: its flow EMA takes the accumulated flow.
    assert new.flow_ema[0].item() == pytest.approx((1 - f) * 2 * TAO + f * 5 * TAO, rel=1e-12)
    assert new.flow_acc[0].item() == 0.0
    assert check_ledger(new).ok


@pytest.mark.parametrize("lever", list(CLOSE), ids=list(CLOSE))
def test_closing_acts_from_the_next_block(lever: str) -> None:
    """Open block: full emission; the lever; the next block: nothing. The pots filled while
    it was open are still drained at its epoch (``drain_pending`` runs over every subnet)."""
    params = APRIL_2026
    state = three_subnets()
    state, open_block = block_step(state, params)
    assert open_block.coinbase.alpha_out[0].item() == TAO
    pots = float(state.pending_server[0] + state.pending_validator[0] + state.pending_owner[0])
    assert pots > 0
    state, _ = apply_lever(state, CLOSE[lever], params)
    drained_pots = 0.0
    for _ in range(int(state.tempo[0]) + 1):
        state, result = block_step(state, params)
        assert result.coinbase.alpha_out[0].item() == 0.0
        assert result.coinbase.tao_in[0].item() == 0.0
        assert result.coinbase.alpha_in[0].item() == 0.0
        drained_pots += float(result.drain.drained[0])
        assert check_ledger(state).ok
    assert drained_pots > 0 and float(state.pending_server[0]) == 0.0


def test_reopened_subnet_takes_its_accumulated_flow_into_the_ema() -> None:
    params = APRIL_2026
    state, _ = apply_lever(three_subnets(), CLOSE["registration"], params)
    state, _ = run_coinbase(state, params)
    state, _ = apply_lever(state, SetRegistrationAllowed(0, allowed=True), params)
    new, result = run_coinbase(state, params)
    f = params.flow_smoothing
    assert new.flow_ema[0].item() == pytest.approx((1 - f) * 2 * TAO + f * 5 * TAO, rel=1e-12)
    assert result.alpha_out[0].item() == TAO


def test_tempo_mode_closes_the_whole_window() -> None:
    params = APRIL_2026
    state, _ = apply_lever(three_subnets(), AnyChange("batch", (CLOSE["subtoken"],)), params)
    new, result = tempo_step(state, params)
    n = params.tempo
    assert result.coinbase.alpha_out.tolist() == [0.0, n * TAO, n * TAO]
    assert new.tao_minted - state.tao_minted == pytest.approx(n * TAO, rel=1e-12)
    assert check_ledger(new).ok


def test_no_positive_flow_emits_no_tao_but_alpha_out_continues() -> None:
    """``get_shares_flow`` has no fallback: with every listed EMA <= 0 all shares are 0."""
    params = APRIL_2026
    state = three_subnets().replace(
        flow_ema=torch.tensor([-1 * TAO, 0.0, -2 * TAO], dtype=torch.float64),
        flow_acc=torch.zeros(3, dtype=torch.float64),
    )
    assert subnet_shares(state, params, 1).tolist() == [0.0, 0.0, 0.0]
    new, result = run_coinbase(state, params)
    assert new.tao_minted == state.tao_minted
    assert result.alpha_out.tolist() == [TAO, TAO, TAO]
    assert check_ledger(new).ok


def test_flow_lower_limit_ignores_unlisted_subnets() -> None:
    """L = max(cutoff, min over the listed subnets of min(EMA, 0)): a closed subnet's negative
    EMA does not lift the others (here L = 0, so shares follow the positive EMAs)."""
    params = EconomyParams(era="tao_flow", net_tao_flow_enabled=False, flow_cutoff=-1e30)
    state = three_subnets().replace(
        flow_ema=torch.tensor([-4 * TAO, 1 * TAO, -1 * TAO], dtype=torch.float64)
    )
    open_shares = subnet_shares(state, params, 1)
    # open: L = -4, z = [0, 5, 3]
    assert open_shares.tolist() == pytest.approx([0.0, 5 / 8, 3 / 8], rel=1e-12)
    closed, _ = apply_lever(state, CLOSE["registration"], params)
    # closed: L = -1 over subnets 1 and 2, z = [-, 2, 0]
    assert subnet_shares(closed, params, 1).tolist() == pytest.approx([0.0, 1.0, 0.0])


def test_head_falls_back_to_price_shares_when_every_subnet_burns() -> None:
    params = EconomyParams()
    state = three_subnets(params).replace(
        miner_burned=torch.ones(3, dtype=torch.float64),
        moving_price=torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64),
    )
    assert subnet_shares(state, params, 1).tolist() == pytest.approx([0.2, 0.3, 0.5])
