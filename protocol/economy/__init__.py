"""The dTAO token economy of a whole network, batched over subnets (docs/economy.md).

"HEAD" in this package means subtensor's ``main`` @ ``14bc6f9f`` (2026-06-30), the newest
chain version modelled; dated versions are the eras of ``history.py``.

Public API
----------
NetworkState, EconomyParams
    The network (frozen dataclass of torch tensors) and the global parameters.
new_network(n_subnets, n_uids, *, params, seed | rng, ...) -> NetworkState
    A plausible initial network (``network.py``; docs/economy.md, "State").
block_step(state, params, *, flows=None, bonds_owned=False, backend="auto") -> (state, BlockResult)
tempo_step(state, params, *, flows=None, bonds_owned=False, backend="auto") -> (state, TempoResult)
    Advance one block, or one tempo at once (differences documented in ``step.py``);
    ``backend`` is ``"auto"``, ``"torch"`` or ``"fused"`` (numba) for the drain's kernels, as
    everywhere in ``protocol`` (``protocol/_numba.py``).
stake / unstake(state, account, netuid, hotkey_uid, amount, *, params=None) -> state
    Swaps through the subnet pool; ``ValueError`` naming the field on bad input.
TradeBook(state, params) -> .stake / .unstake / .transfer ..., .state() -> state
    Many trades on one state with the same arithmetic, one new state at the end.
register_uid(state, params, account, netuid, *, matrices_owned=False) -> (state, RegistrationResult)
register_uids(state, params, accounts, netuids) -> (state, results)   # one matrix copy
run_blocks(state, params, n_blocks, *, flows=None, backend="auto") -> (state, results)
    ``block_step`` × n with one bonds copy.
register_subnet(state, params, account) -> (state, SubnetRegistrationResult)
apply_lever(state, lever, params) -> (state, LeverResult)
    The governance levers of :mod:`protocol.levers` as state transitions.
check_ledger(state) -> LedgerReport; LedgerError
    Every rao minted is in a balance, a stake, a pool, a pending pot, or burned/recycled.
SHARE_ERAS
    Registry of coinbase eras ("head", "tao_flow", "price_ema", "price_ema_subsidy").
block_emission(issuance_rao) -> rao per block (the halving).
with_weights(state, weights, netuids) -> state
with_validator_weights(state, weights, uids, *, in_place=False, backend="auto") -> state
    Feed validators' weights (and stamp ``last_update``); the second sets ``[S, k, n]`` rows only.
"""

from __future__ import annotations

from protocol.economy.amm import spot_price
from protocol.economy.coinbase import (
    CoinbaseResult,
    run_coinbase,
    subnet_shares,
    update_moving_price,
)
from protocol.economy.drain import DrainResult, drain, due_subnets, epoch_stake
from protocol.economy.emission import block_emission, block_emission_tensor
from protocol.economy.ledger import LedgerError, LedgerReport, check_ledger
from protocol.economy.levers import LeverResult, apply_lever
from protocol.economy.network import new_network, with_validator_weights, with_weights
from protocol.economy.registration import (
    DissolveResult,
    RegistrationResult,
    SubnetRegistrationResult,
    dissolve_subnet,
    lock_cost,
    register_subnet,
    register_uid,
    register_uids,
)
from protocol.economy.shares import SHARE_ERAS, ShareEra
from protocol.economy.staking import TradeBook, apply_market_flows, stake, unstake
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState
from protocol.economy.step import BlockResult, TempoResult, block_step, run_blocks, tempo_step

__all__ = [
    "MARKET_ACCOUNT",
    "SHARE_ERAS",
    "BlockResult",
    "CoinbaseResult",
    "DissolveResult",
    "DrainResult",
    "EconomyParams",
    "LedgerError",
    "LedgerReport",
    "LeverResult",
    "NetworkState",
    "RegistrationResult",
    "ShareEra",
    "SubnetRegistrationResult",
    "TempoResult",
    "TradeBook",
    "apply_lever",
    "apply_market_flows",
    "block_emission",
    "block_emission_tensor",
    "block_step",
    "check_ledger",
    "dissolve_subnet",
    "drain",
    "due_subnets",
    "epoch_stake",
    "lock_cost",
    "new_network",
    "register_subnet",
    "register_uid",
    "register_uids",
    "run_blocks",
    "run_coinbase",
    "spot_price",
    "stake",
    "subnet_shares",
    "tempo_step",
    "unstake",
    "update_moving_price",
    "with_validator_weights",
    "with_weights",
]
