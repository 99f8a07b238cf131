"""Conservation (property test over random operations), bad-input refusal, and the levers."""

from __future__ import annotations

import contextlib
from dataclasses import fields

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.economy import (
    EconomyParams,
    LedgerError,
    NetworkState,
    apply_lever,
    block_step,
    check_ledger,
    new_network,
    register_subnet,
    register_uid,
    stake,
    tempo_step,
    unstake,
)
from protocol.levers import (
    AnyChange,
    DissolveSubnet,
    HaltChain,
    ResumeChain,
    SetEmissionEnabled,
    SetHyperparameter,
    SetRegistrationAllowed,
    SetSubtokenEnabled,
    TokenSale,
    TransferOwnership,
)

TAO = 1e9


def small_params(era: str = "head") -> EconomyParams:
    return EconomyParams(
        era=era,
        tempo=3,
        subnet_limit=4,
        network_immunity_period=0,
        network_min_lock_cost=50 * TAO,
        immunity_period=2,
        min_non_immune_uids=1,
        new_subnet_emission_enabled=True,
    )


def small_network(params: EconomyParams, seed: int) -> NetworkState:
    return new_network(
        4,
        8,
        params=params,
        seed=seed,
        n_validators=3,
        n_validator_accounts=3,
        n_miner_accounts=4,
        total_issuance_tao=1_000_000.0,
        root_stake_tao=10_000.0,
        median_pool_tao=2_000.0,
        median_price=0.05,
    )


def snapshot(state: NetworkState) -> dict:
    return {
        f.name: (v.clone() if isinstance(v := getattr(state, f.name), torch.Tensor) else v)
        for f in fields(state)
    }


def assert_unchanged(state: NetworkState, before: dict) -> None:
    for name, value in before.items():
        now = getattr(state, name)
        if isinstance(value, torch.Tensor):
            assert torch.equal(now, value), name
        else:
            assert now == value, name


def _lever(kind: int, netuid: int, x: float, state: NetworkState):
    name = state.account_names[1 + int(x * 10) % (state.n_accounts - 1)]
    options = [
        SetRegistrationAllowed(netuid, allowed=x > 0.5),
        SetSubtokenEnabled(netuid, enabled=x > 0.3),
        SetEmissionEnabled(netuid, enabled=x > 0.3),
        DissolveSubnet(netuid),
        SetHyperparameter("tempo", 2 + int(x * 4), netuid),
        SetHyperparameter("subnet_owner_cut", x, None),
        SetHyperparameter("kappa", x, netuid),
        TransferOwnership(netuid, name),
        HaltChain(int(x * 5)),
        ResumeChain(),
        TokenSale(amount_tao=x * 100, netuid=netuid),
        AnyChange(
            "upgrade", (SetEmissionEnabled(netuid, False), SetHyperparameter("tempo", 4, netuid))
        ),
    ]
    return options[kind % len(options)]


def _held_uid(state: NetworkState, account: int, netuid: int, default: int) -> int:
    """A uid ``account`` holds stake on (its delegation, else one of its own uids)."""
    nominated = int(state.nom_uid[account, netuid])
    if nominated >= 0:
        return nominated
    own = torch.nonzero(state.uid_coldkey[netuid] == account).flatten()
    return int(own[0]) if own.numel() else default


OPS = st.tuples(
    st.sampled_from(
        ["stake", "unstake", "register_uid", "register_subnet", "lever", "block", "block"]
    ),
    st.integers(0, 10_000),
    st.floats(0.0, 1.0),
)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    era=st.sampled_from(["head", "price_root_prop", "tao_flow", "price_ema", "price_ema_subsidy"]),
    ops=st.lists(OPS, min_size=4, max_size=22),
)
def test_ledger_holds_after_every_operation(seed: int, era: str, ops: list) -> None:
    params = small_params(era)
    state = small_network(params, seed)
    assert check_ledger(state, strict=True).ok
    gen = torch.Generator().manual_seed(seed)
    for op, k, x in ops:
        netuid = k % state.n_subnets
        account = k % state.n_accounts
        uid = (k // 7) % state.n_uids
        before = state
        try:
            if op == "stake":
                amount = x * 1.1 * float(state.balances[account]) + 1.0
                state = stake(state, account, netuid, uid, amount, params=params)
            elif op == "unstake":
                uid = _held_uid(state, account, netuid, default=uid)
                held = float(state.account_alpha(account)[netuid])
                state = unstake(state, account, netuid, uid, max(held * x, 1.0), params=params)
            elif op == "register_uid":
                state, _ = register_uid(state, params, account, netuid)
            elif op == "register_subnet":
                state, _ = register_subnet(state, params, 1 + k % (state.n_accounts - 1))
            elif op == "lever":
                state, result = apply_lever(state, _lever(k, netuid, x, state), params)
                params = result.params
            else:
                flows = (
                    (torch.rand(state.n_subnets, generator=gen, dtype=torch.float64) - 0.5)
                    * 200
                    * TAO
                )
                state, _ = block_step(state, params, flows=flows)
        except ValueError:
            assert state is before  # a refused operation leaves the state as it was
        check_ledger(state, strict=True)
    for _ in range(2):
        state, _ = tempo_step(state, params)
        check_ledger(state, strict=True)


def test_check_ledger_detects_a_leak() -> None:
    state = small_network(small_params(), 1)
    leaked = state.replace(
        balances=state.balances
        + torch.nn.functional.one_hot(torch.tensor(2), state.n_accounts).to(torch.float64) * 1e9
    )
    report = check_ledger(leaked)
    assert not report.ok and report.tao_discrepancy == pytest.approx(-1e9)
    with pytest.raises(LedgerError, match="BROKEN"):
        check_ledger(leaked, strict=True)
    pool_alpha = state.pool_alpha.clone()
    pool_alpha[1] += 5e9
    assert not check_ledger(state.replace(pool_alpha=pool_alpha)).ok


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s, p: stake(s, 5, 0, 1, -1.0, params=p), "tao_amount"),
        (lambda s, p: stake(s, 5, 0, 1, float("nan"), params=p), "tao_amount"),
        (lambda s, p: stake(s, 5, 99, 1, 1e9, params=p), "netuid"),
        (lambda s, p: stake(s, 99, 0, 1, 1e9, params=p), "account"),
        (lambda s, p: stake(s, 5, 0, 99, 1e9, params=p), "hotkey_uid"),
        (lambda s, p: stake(s, 0, 0, 1, float(s.pool_tao[0]) * 1.5, params=p), "tao_amount"),
        (lambda s, p: stake(s, 5, 0, 1, 1e18, params=p), "tao_amount"),
        (lambda s, p: unstake(s, 5, 0, 1, -3.0, params=p), "alpha_amount"),
        (lambda s, p: unstake(s, 0, 0, 1, 1e30, params=p), "alpha_amount"),
        (lambda s, p: register_uid(s, p, 5, 42), "netuid"),
        (lambda s, p: apply_lever(s, DissolveSubnet(17), p), "lever.netuid"),
        (lambda s, p: apply_lever(s, SetHyperparameter("no_such", 1, 0), p), "lever.name"),
        (lambda s, p: apply_lever(s, TransferOwnership(0, "nobody"), p), "account"),
        (lambda s, p: apply_lever(s, SetHyperparameter("kappa", 2.0, 0), p), "kappa"),
        (lambda s, p: apply_lever(s, SetHyperparameter("era", "nope"), p), "era"),
    ],
)
def test_bad_input_is_refused_and_leaves_state_unchanged(call, field: str) -> None:
    params = small_params()
    state = small_network(params, 3)
    before = snapshot(state)
    with pytest.raises(ValueError, match=field):
        call(state, params)
    assert_unchanged(state, before)


def test_stake_then_unstake_round_trip_pays_the_fee_to_the_pool() -> None:
    params = small_params()
    state = small_network(params, 4)
    account, before_balance = 5, float(state.balances[5])
    staked = stake(state, account, 1, 2, 10 * TAO, params=params)
    alpha = float(staked.account_alpha(account)[1] - state.account_alpha(account)[1])
    assert alpha > 0
    back = unstake(staked, account, 1, 2, alpha, params=params)
    lost = before_balance - float(back.balances[account])
    assert 0 < lost < 10 * TAO * 3 * params.fee_rate  # two fees, nothing else
    assert float(back.pool_tao[1]) > float(state.pool_tao[1])
    assert check_ledger(back).ok


def test_trading_refused_when_halted_or_subtoken_off() -> None:
    params = small_params()
    state = small_network(params, 5)
    halted, _ = apply_lever(state, HaltChain(10), params)
    with pytest.raises(ValueError, match="halted"):
        stake(halted, 5, 0, 1, TAO, params=params)
    with pytest.raises(ValueError, match="halted"):
        register_uid(halted, params, 5, 0)
    # Safe mode stops extrinsics, not the block hooks: the coinbase keeps minting.
    stepped, _ = block_step(halted, params)
    assert stepped.tao_minted > halted.tao_minted
    resumed, _ = apply_lever(halted, ResumeChain(), params)
    stake(resumed, 5, 0, 1, TAO, params=params)
    off, _ = apply_lever(state, SetSubtokenEnabled(0, False), params)
    with pytest.raises(ValueError, match="subtoken"):
        stake(off, 5, 0, 1, TAO, params=params)


def test_emission_levers_redistribute_the_tao_share() -> None:
    params = small_params()
    state = small_network(params, 6)
    _, base = block_step(state, params)
    for lever in (
        SetRegistrationAllowed(2, False),
        SetSubtokenEnabled(2, False),
        SetEmissionEnabled(2, False),
    ):
        hit, _ = apply_lever(state, lever, params)
        new, result = block_step(hit, params)
        assert result.coinbase.shares[2].item() == 0.0
        assert result.coinbase.shares.sum().item() == pytest.approx(1.0)
        assert result.coinbase.tao_in[2].item() == 0.0
        assert result.coinbase.alpha_in[2].item() == 0.0
        assert check_ledger(new).ok
        if isinstance(lever, SetEmissionEnabled):
            # SubnetEmissionEnabled stops the pool side only: alpha_out continues.
            assert result.coinbase.alpha_out[2].item() == base.coinbase.alpha_out[2].item()
        else:
            # Out of get_subnets_to_emit_to: emit_to_subnets mints it nothing at all (subtensor
            # run_coinbase.rs); the earlier expectation (alpha_out continues) read a description
            # that the chain's code contradicts.
            assert result.coinbase.alpha_out[2].item() == 0.0
            assert result.coinbase.owner_cut[2].item() == 0.0


def test_dissolve_pays_holders_pro_rata_and_frees_the_slot() -> None:
    params = small_params()
    state = small_network(params, 7)
    pool = float(state.pool_tao[1])
    new, result = apply_lever(state, DissolveSubnet(1), params)
    assert not bool(new.active[1])
    (dissolved,) = result.dissolved
    assert dissolved.tao_paid + dissolved.tao_recycled == pytest.approx(pool)
    gained = new.balances - state.balances
    owner = int(state.owner_account[1])
    share = float(state.hotkey_alpha[1, 0] / state.hotkey_alpha[1].sum())
    assert float(gained[owner]) == pytest.approx(pool * share, rel=1e-9)
    assert check_ledger(new).ok
    again, reg = register_subnet(new, params, 3)
    assert reg.netuid == 1 and reg.dissolved_netuid == -1 and bool(again.active[1])


def test_subnet_registration_at_the_limit_deregisters_lowest_ema_price() -> None:
    params = small_params()
    state = small_network(params, 8)
    lowest = int(torch.argmin(state.moving_price))
    new, result = register_subnet(state, params, 2)
    assert result.dissolved_netuid == lowest and result.netuid == lowest
    assert int(new.owner_account[lowest]) == 2
    assert float(new.pool_tao[lowest]) == pytest.approx(result.lock)
    # The new pool starts at the median spot price of the other subnets (here 3: the middle one).
    others = [float(state.spot_price[s]) for s in range(state.n_subnets) if s != lowest]
    assert float(new.spot_price[lowest]) == pytest.approx(sorted(others)[1], rel=1e-12)
    assert check_ledger(new).ok


def test_uid_registration_prunes_lowest_emission_non_immune() -> None:
    params = small_params()
    state = small_network(params, 9)
    emission = torch.arange(8, dtype=torch.float64).flip(0).repeat(4, 1)  # uid 7 lowest
    state = state.replace(emission=emission)
    new, result = register_uid(state, params, 5, 0)
    assert result.pruned_uid == 7 and result.uid == 7
    assert int(new.uid_coldkey[0, 7]) == 5
    assert float(new.hotkey_alpha[0, 7]) == 0.0
    assert new.tao_recycled == pytest.approx(state.tao_recycled + result.burn)
    assert float(new.reg_burn[0]) == pytest.approx(result.burn * params.burn_increase_mult)
    assert check_ledger(new).ok
    # The owner hotkey (uid 0) is never pruned, even with the lowest emission.
    state = state.replace(emission=torch.arange(8, dtype=torch.float64).repeat(4, 1))
    _, result = register_uid(state, params, 5, 0)
    assert result.pruned_uid == 1


def test_set_hyperparameter_global_and_subnet() -> None:
    params = small_params()
    state = small_network(params, 10)
    _, result = apply_lever(state, SetHyperparameter("subnet_owner_cut", 0.0), params)
    assert result.params.subnet_owner_cut == 0.0
    everywhere, result = apply_lever(state, SetHyperparameter("tempo", 5), params)
    assert result.params.tempo == 5 and everywhere.tempo.tolist() == [5, 5, 5, 5]
    with pytest.raises(ValueError, match="tempo"):
        apply_lever(state, SetHyperparameter("tempo", 0), params)
    new, _ = apply_lever(state, SetHyperparameter("tempo", 7, 2), params)
    assert int(new.tempo[2]) == 7 and int(state.tempo[2]) == params.tempo
    new, _ = apply_lever(state, SetHyperparameter("kappa", 0.3, 2), params)
    assert new.epoch_overrides == ((2, "kappa", 0.3),)
    stepped, _ = tempo_step(new, params)  # the override runs its own epoch batch
    assert check_ledger(stepped).ok


def test_transfer_ownership_moves_the_owner_cut() -> None:
    params = small_params()
    state = small_network(params, 11)
    new, _ = apply_lever(state, TransferOwnership(0, "validator1"), params)
    new_owner = new.account_index("validator1")
    assert int(new.owner_account[0]) == new_owner
    old_owner = int(state.owner_account[0])
    # The old owner keeps its stake, now as a delegation.
    assert float(new.account_alpha(old_owner)[0]) == pytest.approx(
        float(state.account_alpha(old_owner)[0])
    )
    for _ in range(params.tempo + 1):
        new, _ = block_step(new, params)
    assert float(new.account_alpha(new_owner)[0]) > float(state.account_alpha(new_owner)[0])
    assert check_ledger(new).ok


def test_token_sale_is_a_swap_that_lowers_the_price() -> None:
    params = small_params()
    state = small_network(params, 12)
    new, result = apply_lever(state, TokenSale(amount_tao=50.0, netuid=0), params)
    assert result.tao_raised == pytest.approx(50 * TAO, rel=1e-6)
    assert float(new.spot_price[0]) < float(state.spot_price[0])
    assert check_ledger(new).ok
    _, off_chain = apply_lever(state, TokenSale(amount_tao=50.0), params)
    assert not off_chain.applied


def test_transfer_ownership_when_the_old_owner_delegates_elsewhere() -> None:
    params = small_params()
    state = small_network(params, 13)
    old_owner = int(state.owner_account[0])
    state = stake(state, old_owner, 0, 2, 10 * TAO, params=params)  # a delegation to uid 2
    before_alpha = float(state.account_alpha(old_owner)[0])
    new, _ = apply_lever(state, TransferOwnership(0, "miner0"), params)
    # The own-hotkey stake is sold (it cannot become a second delegation); uid 2 stays.
    assert float(new.balances[old_owner]) > float(state.balances[old_owner])
    assert float(new.account_alpha(old_owner)[0]) < before_alpha
    assert int(new.nom_uid[old_owner, 0]) == 2
    assert check_ledger(new).ok


def test_step_functions_never_modify_their_input() -> None:
    params = small_params()
    state = small_network(params, 14)
    before = snapshot(state)
    flows = torch.linspace(-50, 50, state.n_subnets, dtype=torch.float64) * TAO
    block_step(state, params, flows=flows)
    tempo_step(state, params, flows=flows)
    stake(state, 5, 0, 1, TAO, params=params)
    register_uid(state, params, 5, 0)
    register_subnet(state, params, 2)
    for lever in (
        DissolveSubnet(1),
        TransferOwnership(0, "miner1"),
        TokenSale(5.0, 2),
        SetHyperparameter("kappa", 0.4, 3),
        HaltChain(5),
    ):
        apply_lever(state, lever, params)
    assert_unchanged(state, before)


def test_with_weights_sets_rows_and_stamps_last_update() -> None:
    from protocol.economy import with_weights

    params = small_params()
    state = small_network(params, 15).replace(block=77)
    new_w = torch.zeros(1, state.n_uids, state.n_uids, dtype=torch.float64)
    new_w[0, 2, 5] = 1.0
    new = with_weights(state, new_w, [1])
    assert torch.equal(new.weights[1], new_w[0]) and torch.equal(new.weights[0], state.weights[0])
    assert new.last_update[1].tolist() == [0, 0, 77, 0, 0, 0, 0, 0]
    assert torch.equal(new.last_update[0], state.last_update[0])
    touched = with_weights(state)  # re-commit: every row with weights is stamped
    assert touched.last_update[0].tolist() == [0, 77, 77, 77, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="weights"):
        with_weights(state, new_w, [1, 2])
    with pytest.raises(ValueError, match="weights"):
        with_weights(state, -new_w, [1])
    with pytest.raises(ValueError, match="netuids"):
        with_weights(state, new_w, [9])


def test_register_uids_matches_sequential_registrations() -> None:
    from protocol.economy import register_uids

    params = small_params()
    state = small_network(params, 16)
    requests = [(5, 0), (6, 1), (7, 42), (5, 0)]  # the unknown subnet is refused (None)
    batch, results = register_uids(
        state, params, [a for a, _ in requests], [s for _, s in requests]
    )
    sequential = state
    for account, netuid in requests:
        with contextlib.suppress(ValueError):
            sequential, _ = register_uid(sequential, params, account, netuid)
    assert results[2] is None and all(r is not None for i, r in enumerate(results) if i != 2)
    assert torch.equal(batch.weights, sequential.weights)
    assert torch.equal(batch.uid_coldkey, sequential.uid_coldkey)
    assert batch.tao_recycled == sequential.tao_recycled
    assert not torch.equal(batch.weights, state.weights)  # rows and columns were cleared
    assert check_ledger(batch).ok
