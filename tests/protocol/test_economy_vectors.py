"""Coinbase vectors and the halving boundaries.

The vectors follow subtensor ``pallets/subtensor/src/tests/coinbase.rs``.

"HEAD" is subtensor's ``main`` @ ``14bc6f9f`` (2026-06-30), as in ``protocol.economy``.
"""

from __future__ import annotations

import pytest
import torch

from protocol.economy import (
    SHARE_ERAS,
    EconomyParams,
    NetworkState,
    block_emission,
    block_emission_tensor,
    check_ledger,
    drain,
    new_network,
    run_coinbase,
    subnet_shares,
    update_moving_price,
)
from protocol.economy.amm import inject, spot_price
from protocol.economy.coinbase import root_proportion
from protocol.economy.emission import TOTAL_SUPPLY, halving_threshold

TAO = 1_000_000_000


def tiny_network(
    n_subnets: int = 1, n_uids: int = 4, *, params: EconomyParams | None = None, seed: int = 0
) -> NetworkState:
    """A small network with 2 validator uids (1, 2), the owner at uid 0, miners after."""
    return new_network(
        n_subnets,
        n_uids,
        params=params or EconomyParams(),
        seed=seed,
        n_validators=2,
        n_validator_accounts=2,
        n_miner_accounts=2,
        total_issuance_tao=10_000_000.0,
        root_stake_tao=1_000.0,
    )


def set_subnet_alpha(
    state: NetworkState, netuid: int, *, pool_tao: float, pool_alpha: float, staked: list[float]
) -> NetworkState:
    """Set a subnet's pool and per-uid stake (own shares) and keep both ledgers balanced."""
    pt, pa = state.pool_tao.clone(), state.pool_alpha.clone()
    pt[netuid], pa[netuid] = pool_tao, pool_alpha
    hk = state.hotkey_alpha.clone()
    hk[netuid] = 0.0
    hk[netuid, : len(staked)] = torch.tensor(staked, dtype=torch.float64)
    minted = state.alpha_minted.clone()
    minted[netuid] = pool_alpha + sum(staked)
    state = state.replace(
        pool_tao=pt,
        pool_alpha=pa,
        hotkey_alpha=hk,
        owner_shares=hk.clone(),
        total_shares=hk.clone(),
        alpha_minted=minted,
    )
    return rebalance_genesis(state)


def rebalance_genesis(state: NetworkState) -> NetworkState:
    """Make ``tao_genesis`` equal to what the (hand-built) state holds."""
    held = float(state.balances.sum() + state.pool_tao.sum() + state.root_stake.sum())
    return state.replace(
        tao_genesis=held - state.tao_minted + state.tao_recycled + state.tao_burned
    )


def with_root(state: NetworkState, amounts: dict[int, float]) -> NetworkState:
    root = torch.zeros_like(state.root_stake)
    for account, value in amounts.items():
        root[account] = value
    return rebalance_genesis(state.replace(root_stake=root))


# -- halving ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuance", "expected"),
    [
        (0, TAO),
        (10_500_000 * TAO - 1, TAO),
        (10_500_000 * TAO, TAO // 2),
        (15_750_000 * TAO - 1, TAO // 2),
        (15_750_000 * TAO, TAO // 4),
        (18_375_000 * TAO, TAO // 8),
        (19_687_500 * TAO - 1, TAO // 8),
        (19_687_500 * TAO, TAO // 16),
        (TOTAL_SUPPLY - 1, 0),  # beyond 2**-30 of the supply the integer emission floors to 0
        (TOTAL_SUPPLY, 0),
    ],
)
def test_halving_boundaries(issuance: int, expected: int) -> None:
    assert block_emission(issuance) == expected


def test_halving_tensor_matches_integer_version_around_boundaries() -> None:
    points = []
    for k in range(1, 8):
        threshold = halving_threshold(k)
        points += [threshold - 10**6, threshold + 10**6]
    got = block_emission_tensor(torch.tensor(points, dtype=torch.float64))
    assert got.tolist() == [float(block_emission(p)) for p in points]


def test_block_emission_rejects_negative_issuance() -> None:
    with pytest.raises(ValueError, match="issuance_rao"):
        block_emission(-1)


# -- coinbase vectors (subtensor tests/coinbase.rs) -----------------------------------------------


def test_pending_emission_split_500m_375m_125m() -> None:
    params = EconomyParams(tao_weight=1.0, subnet_owner_cut=0.0)
    state = tiny_network(params=params)
    state = set_subnet_alpha(state, 0, pool_tao=1e9, pool_alpha=1e9, staked=[0.0, 1e9, 1e9])
    state = with_root(state, {3: 1e9})  # R = 1e9, alpha issuance 3e9 -> root_prop 0.25
    state = state.replace(moving_price=torch.tensor([2.0], dtype=torch.float64))
    assert float(root_proportion(state, params)[0]) == pytest.approx(0.25)
    new, result = run_coinbase(state, params)
    assert result.root_sell
    assert float(new.pending_server[0]) == pytest.approx(500_000_000, abs=1)
    assert float(new.pending_validator[0]) == pytest.approx(375_000_000, abs=1)
    assert float(new.pending_root[0]) == pytest.approx(125_000_000, abs=1)
    assert float(new.pending_owner[0]) == 0.0
    assert check_ledger(new).ok


def test_root_alpha_is_recycled_without_root_sell() -> None:
    params = EconomyParams(tao_weight=1.0, subnet_owner_cut=0.0)
    state = tiny_network(params=params)
    state = set_subnet_alpha(state, 0, pool_tao=1e9, pool_alpha=1e9, staked=[0.0, 1e9, 1e9])
    state = with_root(state, {3: 1e9}).replace(
        moving_price=torch.tensor([0.5], dtype=torch.float64)
    )
    new, result = run_coinbase(state, params)
    assert not result.root_sell
    assert float(new.pending_root[0]) == 0.0
    assert float(new.alpha_recycled[0]) == pytest.approx(125_000_000, abs=1)
    assert check_ledger(new).ok


def _two_subnets(params: EconomyParams, moving: list[float], spot: list[float]) -> NetworkState:
    state = tiny_network(2, params=params)
    for s, p in enumerate(spot):
        state = set_subnet_alpha(state, s, pool_tao=p * 1e12, pool_alpha=1e12, staked=[0.0, 1e9])
    return state.replace(moving_price=torch.tensor(moving, dtype=torch.float64))


def test_tao_issuance_different_prices() -> None:
    params = EconomyParams(era="price_ema")
    state = _two_subnets(params, [0.1, 0.2], [0.1, 0.2])
    shares = subnet_shares(state, params, state.block + 1)
    era = SHARE_ERAS.get("price_ema")
    emission = 1e8
    price = spot_price(state.pool_tao, state.pool_alpha, state.pool_weight_alpha)
    injection = era.injection(
        emission * shares, price, torch.full((2,), 1e9), torch.zeros(2), emission
    )
    assert injection.tao_in[0].item() == pytest.approx(1e8 / 3, abs=10)
    assert injection.tao_in[1].item() == pytest.approx(2e8 / 3, abs=10)
    # End to end: total issuance grows by exactly the block emission, split 1:2.
    new, result = run_coinbase(state, params)
    gained = new.pool_tao - state.pool_tao
    assert new.total_issuance - state.total_issuance == pytest.approx(result.block_emission)
    assert float(gained[1] / gained[0]) == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize(
    ("moving", "spot", "expected"),
    [([1.0, 1.0], [1.0, 1.0], [500_000, 500_000]), ([1.0, 2.0], [1.0, 2.0], [333_333, 333_333])],
)
def test_alpha_issuance_base_and_different(moving, spot, expected) -> None:
    for era in ("price_ema", "head"):
        # HEAD caps alpha_in at root_prop · alpha_emission: a large root keeps it non-binding.
        params = EconomyParams(era=era, tao_weight=1e6)
        state = _two_subnets(params, moving, spot)
        shares = subnet_shares(state, params, state.block + 1)
        price = spot_price(state.pool_tao, state.pool_alpha, state.pool_weight_alpha)
        injection = SHARE_ERAS.get(era).injection(
            1e6 * shares, price, torch.full((2,), 1e9), root_proportion(state, params), 1e6
        )
        _, new_alpha, _ = inject(
            state.pool_tao,
            state.pool_alpha,
            state.pool_weight_alpha,
            injection.tao_in,
            injection.alpha_in,
        )
        gained = (new_alpha - state.pool_alpha).tolist()
        assert gained == pytest.approx(expected, abs=1), era


def test_moving_price_0_512325() -> None:
    params = EconomyParams(subnet_moving_alpha=0.1)
    price = torch.tensor([1.0], dtype=torch.float64)
    start = torch.tensor([1])
    moving = torch.tensor([0.0], dtype=torch.float64)
    for _ in range(14):
        moving = update_moving_price(moving, price, start, 201_600, params)
    assert moving.item() == pytest.approx(0.512325, abs=0.001)


def test_moving_price_after_time_and_initial() -> None:
    old = update_moving_price(
        torch.zeros(1, dtype=torch.float64),
        torch.ones(1, dtype=torch.float64),
        torch.tensor([0]),
        10**12,
        EconomyParams(subnet_moving_alpha=0.5),
    )
    assert old.item() == pytest.approx(0.5, abs=1e-6)
    young = update_moving_price(
        torch.zeros(1, dtype=torch.float64),
        torch.ones(1, dtype=torch.float64),
        torch.tensor([0]),
        10,
        EconomyParams(subnet_moving_alpha=0.5),
    )
    assert young.item() < 0.001
    capped = update_moving_price(
        torch.zeros(1, dtype=torch.float64),
        torch.full((1,), 7.0, dtype=torch.float64),
        torch.tensor([0]),
        10**12,
        EconomyParams(subnet_moving_alpha=1.0),
    )
    assert capped.item() == pytest.approx(1.0, abs=1e-6)  # min(p, 1)


@pytest.mark.parametrize(("cut", "expected"), [(0.0, 0.0), (1.0, 1e9)])
def test_owner_cut(cut: float, expected: float) -> None:
    params = EconomyParams(subnet_owner_cut=cut)
    state = tiny_network(params=params)
    new, _ = run_coinbase(state, params)
    assert float(new.pending_owner[0]) == pytest.approx(expected, abs=1)
    disabled = state.replace(owner_cut_enabled=torch.tensor([False]))
    new, _ = run_coinbase(disabled, params)
    assert float(new.pending_owner[0]) == 0.0


def test_root_proportion_exact() -> None:
    weight = 3_320_413_933_267_719_290 / 2**64
    params = EconomyParams(tao_weight=weight)
    state = tiny_network(params=params)
    state = set_subnet_alpha(state, 0, pool_tao=1e11, pool_alpha=1e11, staked=[])
    state = with_root(state, {3: 1e12})
    expected = weight * 1e12 / (weight * 1e12 + 1e11)
    assert root_proportion(state, params)[0].item() == expected


@pytest.mark.parametrize("root", [{}, {3: 5e12, 4: 5e12}])
def test_drain_two_stakers_50_50(root: dict[int, float]) -> None:
    params = EconomyParams(delegate_take=0.18)
    state = tiny_network(params=params)
    state = set_subnet_alpha(state, 0, pool_tao=1e12, pool_alpha=1e12, staked=[0.0, 1e12, 1e12])
    ck = state.uid_coldkey.clone()
    ck[0, 1], ck[0, 2] = 3, 4  # the two validator coldkeys
    state = with_root(state.replace(uid_coldkey=ck), root)
    state = state.replace(
        weights=torch.zeros_like(state.weights),
        pending_validator=torch.tensor([1e9], dtype=torch.float64),
        last_update=torch.full_like(state.last_update, state.block),
    )
    state = rebalance_genesis(state.replace(alpha_minted=state.alpha_minted + 1e9))
    new, _result = drain(state, params, torch.tensor([True]), state.block + 1)
    gained = (new.hotkey_alpha - state.hotkey_alpha)[0]
    assert gained[1].item() == pytest.approx(5e8, abs=10)
    assert gained[2].item() == pytest.approx(5e8, abs=10)
    assert float(new.pending_validator[0]) == 0.0
    assert check_ledger(new).ok


def test_owner_incentive_is_burned_and_feeds_miner_burned() -> None:
    params = EconomyParams()
    state = tiny_network(n_uids=6, params=params)
    weights = torch.zeros_like(state.weights)
    weights[0, 1:3, 0] = 1.0  # both validators weight only the owner hotkey (the burn pattern)
    state = state.replace(
        weights=weights,
        pending_server=torch.tensor([1e9], dtype=torch.float64),
        pending_validator=torch.tensor([1e9], dtype=torch.float64),
        last_update=torch.full_like(state.last_update, state.block),
    )
    state = rebalance_genesis(state.replace(alpha_minted=state.alpha_minted + 2e9))
    new, result = drain(state, params, torch.tensor([True]), state.block + 1)
    assert result.owner_incentive_burned[0].item() == pytest.approx(1e9)
    assert new.miner_burned[0].item() == pytest.approx(1.0)
    assert new.alpha_burned[0].item() == pytest.approx(1e9)
    assert check_ledger(new).ok
    # HEAD shares weight the price EMA by (1 - MinerBurned): a fully burning subnet gets nothing.
    two = tiny_network(2, params=params).replace(
        miner_burned=torch.tensor([1.0, 0.0], dtype=torch.float64)
    )
    assert subnet_shares(two, params, 1).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("n_blocks", [9, 360, 50_400])
def test_moving_price_closed_form_matches_the_block_product(n_blocks: int) -> None:
    from protocol.economy.coinbase import moving_price_factor

    params = EconomyParams()
    start = torch.tensor([0, -100, -1_000_000, 7])
    first = 8
    factor = moving_price_factor(start, first, n_blocks, params)
    offsets = torch.arange(n_blocks, dtype=torch.float64)
    since = ((first - start.double()).unsqueeze(1) + offsets).clamp(min=0)
    alpha = params.subnet_moving_alpha * since / (since + params.ema_price_halving_blocks)
    exact = torch.prod(1.0 - alpha, dim=1)
    assert torch.allclose(factor, exact, rtol=1e-12, atol=0)


def test_price_ema_subsidy_era() -> None:
    params = EconomyParams(era="price_ema_subsidy")
    state = _two_subnets(params, [0.5, 0.5], [0.1, 0.9])
    shares = subnet_shares(state, params, state.block + 1)
    assert shares.tolist() == pytest.approx([0.5, 0.5])
    price = spot_price(state.pool_tao, state.pool_alpha, state.pool_weight_alpha)
    e_b = 1e9
    injection = SHARE_ERAS.get("price_ema_subsidy").injection(
        e_b * shares, price, torch.full((2,), 1e9), torch.zeros(2), e_b
    )
    # Subnet 0 (price 0.1 < share 0.5) is subsidised; subnet 1 follows the launch rule.
    assert injection.tao_in.tolist() == pytest.approx([0.1 * e_b, 0.5 * e_b])
    assert injection.alpha_in.tolist() == pytest.approx([1e9, 0.5 * e_b / 0.9])
    assert injection.excess_tao.tolist() == pytest.approx([0.4 * e_b, 0.0], abs=1e-3)
    new, _result = run_coinbase(state, params)
    assert float(new.protocol_alpha[0]) > 0 and float(new.protocol_alpha[1]) == 0
    assert check_ledger(new).ok


@pytest.mark.parametrize("recycle", [False, True])
def test_chain_bought_alpha_kept_or_recycled(recycle: bool) -> None:
    # A tiny root keeps root_prop small, so HEAD's injection cap binds and the excess buys alpha.
    params = EconomyParams(tao_weight=1e-6, recycle_chain_bought_alpha=recycle)
    state = _two_subnets(params, [0.5, 0.5], [0.5, 0.5])
    new, result = run_coinbase(state, params)
    bought = result.protocol_alpha_bought
    assert bool((bought > 0).all())
    kept = new.protocol_alpha - state.protocol_alpha
    recycled = (
        new.alpha_recycled - state.alpha_recycled - result.root_alpha * (not result.root_sell)
    )
    if recycle:
        assert torch.allclose(recycled, bought) and float(kept.abs().sum()) == 0.0
    else:
        assert torch.allclose(kept, bought)
    assert check_ledger(new).ok


@pytest.mark.parametrize(("net", "expected"), [(True, [0.5, 0.0, 0.5]), (False, [0.75, 0.0, 0.25])])
def test_tao_flow_shares_gross_and_net(net: bool, expected: list[float]) -> None:
    params = EconomyParams(era="tao_flow", net_tao_flow_enabled=net)
    state = tiny_network(3, params=params).replace(
        flow_ema=torch.tensor([3.0, -1.0, 1.0], dtype=torch.float64),
        cost_ema=torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64),
    )
    # net: scale = min(1, 4/2) = 1 -> [1, -1, 1]; negative flows get nothing.
    assert subnet_shares(state, params, 1).tolist() == pytest.approx(expected)


def test_flow_ema_closed_form_over_a_tempo() -> None:
    params = EconomyParams(era="tao_flow")
    state = tiny_network(2, params=params).replace(
        flow_acc=torch.tensor([360e9, 0.0], dtype=torch.float64)
    )
    new, _ = run_coinbase(state, params, n_blocks=360)
    keep = (1 - params.flow_smoothing) ** 360
    assert new.flow_ema[0].item() == pytest.approx((1 - keep) * 1e9, rel=1e-12)
    assert new.flow_acc.abs().sum().item() == 0.0


def test_lock_cost_and_registration_burn_decay() -> None:
    from protocol.economy import lock_cost
    from protocol.economy.registration import decay_registration_burn

    params = EconomyParams(network_min_lock_cost=1_000e9, lock_reduction_interval=100)
    state = tiny_network(params=params).replace(last_lock=4_000e9, last_lock_block=0, block=25)
    # max(min_lock, 2·last − last·elapsed/interval) = 8000 − 1000 = 7000 TAO
    assert lock_cost(state, params) == pytest.approx(7_000e9)
    assert lock_cost(state.replace(block=10_000), params) == pytest.approx(1_000e9)
    burn = torch.tensor([1e9, params.burn_min], dtype=torch.float64)
    decayed = decay_registration_burn(burn, params.burn_half_life, params)
    assert decayed.tolist() == pytest.approx([0.5e9, params.burn_min])
