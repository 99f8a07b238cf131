"""Building a plausible initial network and feeding per-tempo inputs (docs/economy.md).

The initial network is a post-launch dTAO network: every subnet slot active and started, pools
with log-normal depth and price, validators holding most alpha, root stake held by validator
coldkeys. Account layout: ``0`` market, ``1 … S`` subnet owners, then validator coldkeys (each
validating on many subnets), then miner coldkeys.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from protocol._numba import Backend, choose_backend, jit
from protocol.economy._fused_rows import copy_weight_rows, weight_row_sums
from protocol.economy.state import EconomyParams, NetworkState
from protocol.units import RAO_PER_TAO

__all__ = ["new_network", "with_validator_weights", "with_weights"]


def _t(x: np.ndarray | list, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def new_network(
    n_subnets: int = 128,
    n_uids: int = 256,
    *,
    params: EconomyParams | None = None,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    n_validators: int = 16,
    n_validator_accounts: int = 64,
    n_miner_accounts: int = 256,
    total_issuance_tao: float = 11_000_000.0,
    root_stake_tao: float = 3_000_000.0,
    median_pool_tao: float = 20_000.0,
    median_price: float = 0.02,
    pool_spread: float = 1.0,
    price_spread: float = 0.8,
    flow_ema_rao_per_block: float = 0.0,
) -> NetworkState:
    """A plausible dTAO network at block 0.

    Parameters
    ----------
    n_subnets, n_uids
        Subnet slots ``S`` (all active) and uids per subnet ``n`` (all registered).
    params
        Economy parameters (tempo staggers the first epochs).
    seed, rng
        Randomness: a ``numpy.random.Generator`` or a seed for one (exactly one is used; ``rng``
        wins). Same seed, same network.
    n_validators
        Validator uids per subnet (uids ``1 … n_validators``; uid 0 is the owner hotkey).
    n_validator_accounts, n_miner_accounts
        Coldkeys behind validator and miner uids (shared across subnets).
    total_issuance_tao
        TotalIssuance at block 0; what pools, root and stake do not hold is free balance.
    root_stake_tao
        TAO staked on root, spread over validator coldkeys.
    median_pool_tao, median_price
        Medians of the log-normal pool TAO reserve and alpha price.
    pool_spread, price_spread
        Log-normal sigmas of the pool reserves and alpha prices across subnets. The price spread
        sets how unequal the subnets' emission shares start (shares follow prices in the HEAD
        era): 0.8 gives a few dominant subnets on a small network, 0.3 a flatter one.
    flow_ema_rao_per_block
        Total TAO-flow EMA the network starts with (rao per block, >= 0), split over the
        subnets as their moving prices: a network that has been on TAO-flow shares starts with
        the shares it had under price shares instead of a cold EMA of zero (where every share
        is decided by the first day's flows). 0 = no history.

    Returns
    -------
    NetworkState
    """
    params = params or EconomyParams()
    if n_subnets < 1:
        raise ValueError(f"n_subnets: expected at least 1, got {n_subnets}")
    if n_uids < 2 + n_validators:
        raise ValueError(
            f"n_uids: need at least n_validators + 2 = {n_validators + 2} uids, got {n_uids}"
        )
    gen = rng if rng is not None else np.random.default_rng(seed)
    S, n = n_subnets, n_uids
    owner_base, val_base = 1, 1 + S
    miner_base = val_base + n_validator_accounts
    A = miner_base + n_miner_accounts

    if not flow_ema_rao_per_block >= 0:
        raise ValueError(f"flow_ema_rao_per_block: expected >= 0, got {flow_ema_rao_per_block}")
    if pool_spread < 0 or price_spread < 0:
        raise ValueError(
            f"pool_spread, price_spread: expected non-negative log-normal sigmas, "
            f"got {pool_spread}, {price_spread}"
        )
    pool_tao = median_pool_tao * np.exp(gen.normal(0.0, pool_spread, S)) * RAO_PER_TAO
    price = median_price * np.exp(gen.normal(0.0, price_spread, S))
    pool_alpha = pool_tao / price
    # Alpha outstanding: 1-4× the pool reserve, mostly on validators.
    staked = pool_alpha * gen.uniform(1.0, 4.0, S)
    stake_split = np.zeros((S, n))
    stake_split[:, 1 : 1 + n_validators] = gen.pareto(1.2, (S, n_validators)) + 0.1
    stake_split[:, 0] = 0.5
    stake_split[:, 1 + n_validators :] = gen.uniform(0.0, 0.02, (S, n - 1 - n_validators))
    stake_split /= stake_split.sum(1, keepdims=True)
    hotkey_alpha = stake_split * staked[:, None]

    uid_coldkey = np.empty((S, n), dtype=np.int64)
    uid_coldkey[:, 0] = owner_base + np.arange(S)
    uid_coldkey[:, 1 : 1 + n_validators] = val_base + gen.integers(
        0, n_validator_accounts, (S, n_validators)
    )
    uid_coldkey[:, 1 + n_validators :] = miner_base + gen.integers(
        0, n_miner_accounts, (S, n - 1 - n_validators)
    )

    root = np.zeros(A)
    root[val_base:miner_base] = gen.pareto(1.5, n_validator_accounts) + 0.1
    root *= root_stake_tao * RAO_PER_TAO / root.sum()
    genesis = total_issuance_tao * RAO_PER_TAO
    balances = np.zeros(A)
    balances[owner_base:val_base] = 100.0 * RAO_PER_TAO
    balances[val_base:] = 500.0 * RAO_PER_TAO
    held = pool_tao.sum() + root.sum() + balances.sum()
    if held > genesis:
        raise ValueError(
            f"total_issuance_tao: {total_issuance_tao} is less than the "
            f"{held / RAO_PER_TAO:.0f} TAO the initial network holds"
        )
    balances[0] = genesis - held

    weights = np.zeros((S, n, n))
    miners = slice(1 + n_validators, n)
    quality = gen.gamma(1.0, 1.0, (S, n - 1 - n_validators))
    noise = gen.gamma(4.0, 0.25, (S, n_validators, n - 1 - n_validators))
    weights[:, 1 : 1 + n_validators, miners] = quality[:, None, :] * noise
    weights /= np.clip(weights.sum(2, keepdims=True), 1e-300, None)

    tempo = params.tempo
    reg_block = -gen.integers(params.immunity_period + 1, 10 * params.immunity_period + 2, (S, n))
    subnet_reg = -(params.network_immunity_period + 1 + gen.integers(0, 400_000, S))
    moving = np.minimum(price, 1.0) * gen.uniform(0.8, 1.2, S)
    i64 = torch.int64
    zeros = torch.zeros(S, dtype=torch.float64)
    ones_b = torch.ones(S, dtype=torch.bool)
    return NetworkState(
        block=0,
        tao_genesis=float(genesis),
        tao_minted=0.0,
        tao_recycled=0.0,
        tao_burned=0.0,
        halted_until=0,
        last_lock=params.network_min_lock_cost,
        last_lock_block=-params.lock_reduction_interval,
        active=ones_b.clone(),
        pool_tao=_t(pool_tao),
        pool_alpha=_t(pool_alpha),
        pool_weight_alpha=torch.full((S,), 0.5, dtype=torch.float64),
        alpha_minted=_t(pool_alpha + staked),
        alpha_burned=zeros.clone(),
        alpha_recycled=zeros.clone(),
        protocol_alpha=zeros.clone(),
        market_alpha=zeros.clone(),
        moving_price=_t(moving),
        flow_ema=_t(flow_ema_rao_per_block * moving / moving.sum()),
        cost_ema=zeros.clone(),
        flow_acc=zeros.clone(),
        root_sell_acc=zeros.clone(),
        pending_server=zeros.clone(),
        pending_validator=zeros.clone(),
        pending_root=zeros.clone(),
        pending_owner=zeros.clone(),
        miner_burned=zeros.clone(),
        registered_block=_t(subnet_reg, i64),
        start_block=_t(subnet_reg, i64),
        # Staggered first epochs, as the legacy (block + netuid + 1) schedule spreads them.
        last_epoch_block=_t(-((np.arange(S) * tempo) // S), i64),
        tempo=torch.full((S,), tempo, dtype=i64),
        immunity_period=torch.full((S,), params.immunity_period, dtype=i64),
        owner_cut_enabled=ones_b.clone(),
        emission_enabled=ones_b.clone(),
        registration_allowed=ones_b.clone(),
        subtoken_enabled=ones_b.clone(),
        owner_account=_t(owner_base + np.arange(S), i64),
        owner_uid=torch.zeros(S, dtype=i64),
        reg_burn=torch.full((S,), params.burn_initial, dtype=torch.float64),
        uid_coldkey=_t(uid_coldkey, i64),
        hotkey_alpha=_t(hotkey_alpha),
        owner_shares=_t(hotkey_alpha),
        total_shares=_t(hotkey_alpha),
        registration_block=_t(reg_block, i64),
        last_update=torch.zeros((S, n), dtype=i64),
        validator_permit=_t(np.arange(n)[None, :].repeat(S, 0) <= n_validators, torch.bool),
        emission=torch.zeros((S, n), dtype=torch.float64),
        weights=_t(weights),
        bonds=torch.zeros((S, n, n), dtype=torch.float64),
        balances=_t(balances),
        root_stake=_t(root),
        nom_uid=torch.full((A, S), -1, dtype=i64),
        nom_shares=torch.zeros((A, S), dtype=torch.float64),
        account_names=(
            (
                "market",
                *tuple(f"owner{s}" for s in range(S)),
                *tuple(f"validator{v}" for v in range(n_validator_accounts)),
                *tuple(f"miner{m}" for m in range(n_miner_accounts)),
            )
        ),
    )


def _check_weight_values(weights: torch.Tensor) -> None:
    """Raise unless every entry of ``weights`` is finite and non-negative."""
    if bool((weights < 0).any()) or not bool(torch.isfinite(weights).all()):
        raise ValueError("weights: expected finite non-negative values")


def with_weights(
    state: NetworkState,
    weights: torch.Tensor | None = None,
    netuids: Sequence[int] | torch.Tensor | None = None,
) -> NetworkState:
    """Set validators' weight rows (``set_weights``) and stamp ``last_update`` with the block.

    Parameters
    ----------
    state
        The network.
    weights
        ``[k, n, n]`` new weight matrices for ``netuids`` (``[S, n, n]`` when ``netuids`` is
        None). ``None`` re-commits the current weights (only ``last_update`` moves): agents that
        keep their weights still have to set them to stay active.
    netuids
        Subnets the matrices belong to (default: all slots).

    Returns
    -------
    NetworkState
        Rows with any positive weight get ``last_update = state.block``.
    """
    index = (
        torch.arange(state.n_subnets)
        if netuids is None
        else torch.as_tensor(netuids, dtype=torch.int64).reshape(-1)
    )
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= state.n_subnets):
        raise ValueError(f"netuids: out of range [0, {state.n_subnets})")
    new_weights = state.weights
    if weights is not None:
        weights = torch.as_tensor(weights, dtype=torch.float64)
        expected = (index.numel(), state.n_uids, state.n_uids)
        if tuple(weights.shape) != expected:
            raise ValueError(f"weights: expected shape {expected}, got {tuple(weights.shape)}")
        _check_weight_values(weights)
        new_weights = state.weights.clone()
        new_weights[index] = weights
        state = _with_live_rows(state, index.numpy(), None)
    if netuids is None:
        # Every slot: no gather (a copy of the whole [S, n, n] tensor).
        setters = new_weights.sum(2) > 0
        last_update = torch.where(setters, state.block, state.last_update)
        return state.replace(weights=new_weights, last_update=last_update)
    setters = new_weights[index].sum(2) > 0
    last_update = state.last_update.clone()
    last_update[index] = torch.where(
        setters, torch.full_like(last_update[index], state.block), last_update[index]
    )
    return state.replace(weights=new_weights, last_update=last_update)


def _with_live_rows(
    state: NetworkState,
    netuids: np.ndarray | None,
    uids: np.ndarray | None,
    *,
    in_place: bool = False,
) -> NetworkState:
    """``state`` with the rows about to be written marked live (``state.live_rows``, if kept):
    every uid of ``netuids`` (``None``: every subnet) or ``uids`` of every subnet.

    A written row is live whatever its values: a zero row may still hold bonds. Marking more
    rows live is always safe, so ``in_place`` may write into a tensor other states share.
    """
    if state.live_rows is None:
        return state
    live = state.live_rows if in_place else state.live_rows.clone()
    view = live.numpy()
    if uids is None:
        view[netuids if netuids is not None else slice(None)] = True
    else:
        view[:, uids] = True
    return state if in_place else state.replace(live_rows=live)


def _row_sums_checked(rows: torch.Tensor, backend: Backend) -> tuple[np.ndarray, bool]:
    """Row sums ``[S, k]`` of ``rows`` ``[S, k, n]`` and whether every entry is ``>= 0`` (not
    NaN): one numba pass on the fused backend, else two torch reductions."""
    if rows.numel() and choose_backend(backend) == "fused":
        sums = np.empty(tuple(rows.shape[:2]), dtype=np.float64)
        non_negative = bool(weight_row_sums(rows.contiguous().numpy(), sums))
        return sums, non_negative
    # the minimum is NaN for a row holding NaN (torch propagates it), negative for -inf
    return rows.sum(2).numpy(), not rows.numel() or bool(rows.min() >= 0)


# ``reassoc`` lets the sums vectorise: only their sign and finiteness are used
@jit(reassoc=True)
def _write_validator_rows(
    weights: np.ndarray, last_update: np.ndarray, uids: np.ndarray, rows: np.ndarray, block: int
) -> bool:
    """Check, then write, validator rows ``rows`` ``[S, k, n]`` in two numba passes.

    Returns ``False``, with nothing written, where an entry is negative or NaN or a row's sum
    is not finite; else sets ``weights[s, uids[r]] = rows[s, r]`` and, for every row with a
    positive sum, ``last_update[s, uids[r]] = block``, and returns ``True``.
    """
    n_subnets, k, _ = rows.shape
    sums = np.empty((n_subnets, k))
    if not weight_row_sums(rows, sums):
        return False
    for s in range(n_subnets):
        for r in range(k):
            if not sums[s, r] < np.inf:  # +inf entries and overflowing rows
                return False
    copy_weight_rows(weights, uids, rows)
    for s in range(n_subnets):
        for r in range(k):
            if sums[s, r] > 0.0:
                last_update[s, uids[r]] = block
    return True


def with_validator_weights(
    state: NetworkState,
    weights: torch.Tensor | np.ndarray,
    uids: Sequence[int] | torch.Tensor,
    *,
    in_place: bool = False,
    backend: Backend = "auto",
) -> NetworkState:
    """Set the weight rows of the same validator uids on every subnet (``set_weights``).

    Equals ``with_weights(state, W)`` where ``W`` is ``state.weights`` with rows ``uids`` of
    every subnet replaced by ``weights``, but reads, checks and writes only those rows
    (``[S, k, n]``, ``k/n`` of the ``[S, n, n]`` tensor).

    Parameters
    ----------
    state
        The network.
    weights
        ``[S, k, n]`` new weight rows: ``weights[s, j]`` is uid ``uids[j]``'s row on subnet ``s``.
    uids
        ``k`` distinct uids whose rows are set.
    in_place
        Write into ``state.weights`` and ``state.last_update`` instead of copies and return a
        state sharing them. Only for a caller that owns both tensors (no other live state or
        reference shares them, e.g. a simulation stepping its own state): anything else holding
        them sees the change. The default copies, like :func:`with_weights`.
    backend
        ``"auto"``, ``"torch"`` or ``"fused"`` (:mod:`protocol._numba`): the check, the row
        copy and the stamps in one numba call (a check pass, then a write pass; contiguous
        tensors) or in torch; the same state either way.

    Returns
    -------
    NetworkState
        Rows ``uids`` replaced; those with any positive weight get ``last_update = state.block``.

    Raises
    ------
    ValueError
        Wrong shape, repeated or out-of-range uids, negative or non-finite weights (or a row
        whose sum overflows float64).
    """
    S, n = state.n_subnets, state.n_uids
    # The uids and the row sums are small: checked and used as numpy arrays (no tensor
    # dispatch per check); the rows themselves go through the numba kernels.
    index = np.asarray(uids, dtype=np.int64).reshape(-1)
    listed = index.tolist()  # a few uids: Python's min, max and set beat numpy's reductions
    k = len(listed)
    if k and (min(listed) < 0 or max(listed) >= n):
        raise ValueError(f"uids: out of range [0, {n})")
    if len(set(listed)) != k:
        raise ValueError("uids: expected distinct uids")
    rows = torch.as_tensor(weights, dtype=torch.float64)
    if tuple(rows.shape) != (S, k, n):
        raise ValueError(f"weights: expected shape {(S, k, n)}, got {tuple(rows.shape)}")
    if (
        backend in ("auto", "fused")
        and state.weights.is_contiguous()
        and state.last_update.is_contiguous()
        and choose_backend(backend) == "fused"
    ):
        # one numba call: the check and the writes (the same state as the steps below)
        state = _with_live_rows(state, None, index, in_place=in_place)
        new_weights = state.weights if in_place else state.weights.clone()
        last_update = state.last_update if in_place else state.last_update.clone()
        if not _write_validator_rows(
            new_weights.numpy(), last_update.numpy(), index, rows.contiguous().numpy(), state.block
        ):
            raise ValueError("weights: expected finite non-negative values")
        if in_place:
            return state
        return state.replace(weights=new_weights, last_update=last_update)
    row_sums, non_negative = _row_sums_checked(rows, backend)
    # A row holding NaN or -inf fails the sign check, and a row holding +inf sums to +inf (a
    # finite row overflowing float64 is refused too).
    if rows.numel() and (not non_negative or not bool(np.isfinite(row_sums).all())):
        raise ValueError("weights: expected finite non-negative values")
    state = _with_live_rows(state, None, index, in_place=in_place)
    new_weights = state.weights if in_place else state.weights.clone()
    last_update = state.last_update if in_place else state.last_update.clone()
    scattered = [] if new_weights.is_contiguous() else ["the weights tensor is not contiguous"]
    if choose_backend(backend, scattered) == "fused":
        copy_weight_rows(new_weights.numpy(), index, rows.contiguous().numpy())
    else:
        # a plain row copy (index_put is slower)
        new_weights.index_copy_(1, torch.from_numpy(index), rows)
    # stamp only the (subnet, uid) cells with a positive row (the uids are distinct)
    subnets_at, rows_at = np.nonzero(row_sums > 0)
    last_update.numpy()[subnets_at, index[rows_at]] = state.block
    if in_place:
        return state
    return state.replace(weights=new_weights, last_update=last_update)
