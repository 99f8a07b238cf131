"""Registration and lifecycle: uid registration burn and pruning, subnet lock cost, subnet
deregistration at the limit, and dissolution with pro-rata liquidation.

Sources (subtensor ``main`` @ ``14bc6f9f``): ``coinbase/root.rs`` (``get_network_lock_cost``,
``get_network_to_prune``), ``subnets/subnet.rs`` (``do_register_network``),
``subnets/registration.rs`` (``get_neuron_to_prune``) and ``dispatches.rs``
(``dissolve_network``); docs/economy.md, "Levers".

Documented simplifications:

* the uid registration burn decays toward ``burn_min`` with half-life ``burn_half_life`` blocks
  and is multiplied by ``burn_increase_mult`` at each registration (the 2026 owner-tunable
  dynamic burn), clamped to ``[burn_min, burn_max]``; the burned TAO is recycled;
* a pruned uid's stake is unstaked to TAO for its holders (on chain it stays on the
  deregistered hotkey; stake is keyed by uid here);
* a new subnet's pool holds the whole lock as TAO at the median subnet price (subtensor's
  ``get_median_subnet_alpha_price``, in code newer than ``14bc6f9f``); the registration
  completes at once (no first-refusal window), and the owner's lock is not refunded on
  dissolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from protocol.economy.amm import swap_alpha_for_tao, swap_alpha_for_tao_scalar
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState

__all__ = [
    "DissolveResult",
    "RegistrationResult",
    "SubnetRegistrationResult",
    "decay_registration_burn",
    "dissolve_subnet",
    "lock_cost",
    "median_alpha_price",
    "neuron_to_prune",
    "register_subnet",
    "register_uid",
    "register_uids",
    "subnet_to_prune",
]


@dataclass(frozen=True)
class RegistrationResult:
    """A uid registration: the uid taken, the TAO burned, the uid pruned (or -1)."""

    netuid: int
    uid: int
    burn: float
    pruned_uid: int
    liquidated_tao: float


@dataclass(frozen=True)
class SubnetRegistrationResult:
    """A subnet registration: the slot taken, the lock paid, the subnet dissolved (or -1)."""

    netuid: int
    lock: float
    dissolved_netuid: int


@dataclass(frozen=True)
class DissolveResult:
    """A dissolution: TAO paid to alpha holders and TAO recycled (the protocol's alpha)."""

    netuid: int
    tao_paid: float
    tao_recycled: float


def decay_registration_burn(
    reg_burn: torch.Tensor, n_blocks: int, params: EconomyParams
) -> torch.Tensor:
    """The burn after ``n_blocks`` of decay (half-life ``burn_half_life``), floored at ``burn_min``."""
    factor = 0.5 ** (n_blocks / params.burn_half_life)
    if reg_burn.dtype is not torch.float64 or not reg_burn.is_cpu:
        return (reg_burn * factor).clamp(min=params.burn_min, max=params.burn_max)
    # torch's clamp in numpy, on a view (no tensor dispatch): max then min, NaN kept; a burn is
    # never -0.0, so the sign of a zero cannot tell the two apart. The masked writes into the
    # fresh product select exactly as two np.where would, with fewer temporaries.
    decayed = reg_burn.numpy() * factor
    decayed[decayed < params.burn_min] = params.burn_min
    decayed[decayed > params.burn_max] = params.burn_max
    return torch.from_numpy(decayed)


def lock_cost(state: NetworkState, params: EconomyParams, block: int | None = None) -> float:
    """``max(min_lock, 2·last_lock − last_lock·(now − last_lock_block)/LockReductionInterval)``."""
    now = state.block if block is None else block
    elapsed = now - state.last_lock_block
    decayed = 2.0 * state.last_lock - state.last_lock * elapsed / params.lock_reduction_interval
    return max(params.network_min_lock_cost, decayed)


def neuron_to_prune(state: NetworkState, netuid: int, params: EconomyParams | None = None) -> int:
    """The uid a new registration replaces, or -1 if none can be pruned (``get_neuron_to_prune``).

    Lowest emission → earliest registration → lowest uid among non-immune uids; the owner hotkey
    is never pruned (``ImmuneOwnerUidsLimit`` 1); immune uids go only when at most
    ``MinNonImmuneUids`` are non-immune.
    """
    min_non_immune = (params or EconomyParams()).min_non_immune_uids
    return _neuron_to_prune(state, netuid, min_non_immune=min_non_immune)


def _neuron_to_prune(state: NetworkState, netuid: int, *, min_non_immune: int) -> int:
    """:func:`neuron_to_prune` on numpy views of the state's tensors (integer compares and a
    ``min`` over the same float and int keys as :func:`_neuron_to_prune_torch`)."""
    registered = state.uid_coldkey.numpy()[netuid] >= 0
    candidates = registered.copy()
    owner = int(state.owner_uid.numpy()[netuid])
    if owner >= 0:
        candidates[owner] = False
    age = state.block - state.registration_block.numpy()[netuid]
    immune = age < state.immunity_period.numpy()[netuid]
    non_immune = candidates & ~immune
    pool = non_immune if int(non_immune.sum()) > min_non_immune else candidates & immune
    if not pool.any():
        pool = candidates
    if not pool.any():
        return -1
    uids = np.flatnonzero(pool).tolist()
    emission = state.emission.numpy()[netuid].tolist()
    reg = state.registration_block.numpy()[netuid].tolist()
    return min(uids, key=lambda j: (emission[j], reg[j], j))


def _neuron_to_prune_torch(state: NetworkState, netuid: int, *, min_non_immune: int) -> int:
    """The torch reference of :func:`_neuron_to_prune`."""
    registered = state.uid_coldkey[netuid] >= 0
    candidates = registered.clone()
    owner = int(state.owner_uid[netuid])
    if owner >= 0:
        candidates[owner] = False
    age = state.block - state.registration_block[netuid]
    immune = age < state.immunity_period[netuid]
    non_immune = candidates & ~immune
    pool = non_immune if int(non_immune.sum()) > min_non_immune else candidates & immune
    if not bool(pool.any()):
        pool = candidates
    if not bool(pool.any()):
        return -1
    uids = torch.nonzero(pool).flatten().tolist()
    # Python lists: the same float and int keys without a tensor index per candidate
    emission = state.emission[netuid].tolist()
    reg = state.registration_block[netuid].tolist()
    return min(uids, key=lambda j: (emission[j], reg[j], j))


def _liquidate_uid_torch(
    state: NetworkState, netuid: int, uid: int, params: EconomyParams
) -> tuple[NetworkState, float]:
    """The torch reference of :func:`_liquidate_uid`: unstake everything staked to
    ``uid`` (one swap) and pay the holders pro rata by shares."""
    alpha = float(state.hotkey_alpha[netuid, uid])
    total = float(state.total_shares[netuid, uid])
    if alpha <= 0 or total <= 0:
        return state, 0.0
    tao_out = swap_alpha_for_tao(
        state.pool_tao[netuid],
        state.pool_alpha[netuid],
        state.pool_weight_alpha[netuid],
        torch.tensor(alpha, dtype=torch.float64),
        params.fee_rate,
    )
    tao = float(tao_out)
    balances = state.balances.clone()
    owner_account = int(state.uid_coldkey[netuid, uid])
    balances[owner_account] += tao * float(state.owner_shares[netuid, uid]) / total
    holders = state.nom_uid[:, netuid] == uid
    nom_shares = state.nom_shares.clone()
    balances += torch.where(holders, tao * nom_shares[:, netuid] / total, 0.0)
    nom_shares[:, netuid] = torch.where(holders, 0.0, nom_shares[:, netuid])
    nom_uid = state.nom_uid.clone()
    nom_uid[:, netuid] = torch.where(holders, -1, nom_uid[:, netuid])
    pool_tao = state.pool_tao.clone()
    pool_alpha = state.pool_alpha.clone()
    pool_tao[netuid] -= tao
    pool_alpha[netuid] += alpha
    zero_at = _zeroed_uid_fields(state, netuid, uid)
    new_state = state.replace(
        balances=balances,
        nom_shares=nom_shares,
        nom_uid=nom_uid,
        pool_tao=pool_tao,
        pool_alpha=pool_alpha,
        flow_acc=state.flow_acc - _one_hot(state, netuid, tao),
        **zero_at,
    )
    return new_state, tao


def _one_hot(state: NetworkState, netuid: int, value: float) -> torch.Tensor:
    out = torch.zeros(state.n_subnets, dtype=torch.float64)
    out[netuid] = value
    return out


def _zeroed_uid_fields(state: NetworkState, netuid: int, uid: int) -> dict[str, torch.Tensor]:
    out = {}
    for name in ("hotkey_alpha", "owner_shares", "total_shares"):
        tensor = getattr(state, name).clone()
        tensor[netuid, uid] = 0.0
        out[name] = tensor
    return out


def register_uid(
    state: NetworkState,
    params: EconomyParams,
    account: int,
    netuid: int,
    *,
    matrices_owned: bool = False,
) -> tuple[NetworkState, RegistrationResult]:
    """Burned registration of a new hotkey for ``account`` on ``netuid`` (pruning if full).

    Parameters
    ----------
    state, params
        The network and the economy's parameters.
    account, netuid
        The registering coldkey and the subnet.
    matrices_owned
        The caller owns ``state.weights`` and ``state.bonds`` (no other live state or reference
        shares them, e.g. a simulation stepping its own state): the new uid's rows and columns
        are cleared in place instead of in copies of both ``[S, n, n]`` tensors, and the
        returned state shares them. Same results either way.

    Returns
    -------
    tuple
        ``(state, RegistrationResult)``.

    Raises
    ------
    ValueError
        Unknown account or subnet, registration off, chain halted, balance below the burn, or no
        uid can be pruned.
    """
    return _register_uid(state, params, account, netuid, matrices_owned=matrices_owned)


def register_uids(
    state: NetworkState,
    params: EconomyParams,
    accounts: list[int] | tuple[int, ...],
    netuids: list[int] | tuple[int, ...],
) -> tuple[NetworkState, tuple[RegistrationResult | None, ...]]:
    """Several registrations in order, copying the ``[S, n, n]`` weights and bonds once.

    Returns the state and one result per request, ``None`` where :func:`register_uid` would
    have refused it (the state is then unchanged by that request).
    """
    if len(accounts) != len(netuids):
        raise ValueError(
            f"netuids: expected {len(accounts)} entries (one per account), got {len(netuids)}"
        )
    if not accounts:
        return state, ()
    state = state.replace(weights=state.weights.clone(), bonds=state.bonds.clone())
    results: list[RegistrationResult | None] = []
    for account, netuid in zip(accounts, netuids, strict=True):
        try:
            state, result = _register_uid(state, params, account, netuid, matrices_owned=True)
        except ValueError:
            result = None
        results.append(result)
    return state, tuple(results)


def _checked_burn(state: NetworkState, account: int, netuid: int) -> float:
    """The burn ``account`` pays to register on ``netuid``, after the registration's checks.

    Raises
    ------
    ValueError
        As :func:`register_uid`.
    """
    if not isinstance(account, int) or not 0 <= account < state.n_accounts:
        raise ValueError(f"account: unknown account {account!r}")
    if (
        not isinstance(netuid, int)
        or not 0 <= netuid < state.n_subnets
        or not state.active.numpy()[netuid]
    ):
        raise ValueError(f"netuid: unknown subnet {netuid!r}")
    if state.halted:
        raise ValueError(f"block: chain halted (safe mode) until block {state.halted_until}")
    if not state.registration_allowed.numpy()[netuid]:
        raise ValueError(f"netuid: registration is not allowed on subnet {netuid}")
    burn = float(state.reg_burn.numpy()[netuid])
    balance = float(state.balances.numpy()[account])
    if balance < burn:
        raise ValueError(f"account: balance {balance:.0f} rao below the burn {burn:.0f}")
    return burn


class _FieldCopies:
    """Numpy copies of a state's fields, each made the first time it is written (copy on
    write): the input state is never modified, and a field written twice is copied once."""

    def __init__(self, state: NetworkState) -> None:
        self.state = state
        self.arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        values = self.arrays.get(name)
        if values is None:
            values = self.arrays[name] = getattr(self.state, name).numpy().copy()
        return values

    def changes(self) -> dict[str, torch.Tensor]:
        """The copied fields as tensors, for :meth:`NetworkState.replace`."""
        return {name: torch.from_numpy(values) for name, values in self.arrays.items()}


def _register_uid(
    state: NetworkState,
    params: EconomyParams,
    account: int,
    netuid: int,
    *,
    matrices_owned: bool,
) -> tuple[NetworkState, RegistrationResult]:
    """:func:`register_uid`; with ``matrices_owned`` the weights and bonds are edited in place.

    On numpy views of the state's tensors, each written field copied once, with the scalar
    arithmetic of :func:`_register_uid_torch` (bit-identical, a fraction of the dispatches).
    """
    burn = _checked_burn(state, account, netuid)
    free = np.flatnonzero(state.uid_coldkey.numpy()[netuid] < 0)
    copies = _FieldCopies(state)
    pruned, liquidated = -1, 0.0
    if free.size:
        uid = int(free[0])
    else:
        uid = _neuron_to_prune(state, netuid, min_non_immune=params.min_non_immune_uids)
        if uid < 0:
            raise ValueError(f"netuid: subnet {netuid} is full and no uid can be pruned")
        pruned = uid
        liquidated = _liquidate_uid(copies, netuid, uid, params)
    copies["balances"][account] -= burn
    copies["reg_burn"][netuid] = min(
        params.burn_max, max(params.burn_min, burn * params.burn_increase_mult)
    )
    copies["uid_coldkey"][netuid, uid] = account
    copies["registration_block"][netuid, uid] = state.block
    copies["last_update"][netuid, uid] = state.block
    copies["emission"][netuid, uid] = 0.0
    copies["validator_permit"][netuid, uid] = False
    weights = state.weights if matrices_owned else state.weights.clone()
    bonds = state.bonds if matrices_owned else state.bonds.clone()
    for matrix in (weights.numpy(), bonds.numpy()):
        matrix[netuid, uid, :] = 0.0
        matrix[netuid, :, uid] = 0.0
    new_state = state.replace(
        tao_recycled=state.tao_recycled + burn,
        weights=weights,
        bonds=bonds,
        live_rows=_cleared_live_row(state.live_rows, netuid, uid),
        **copies.changes(),
    )
    return new_state, RegistrationResult(netuid, uid, burn, pruned, liquidated)


def _liquidate_uid(copies: _FieldCopies, netuid: int, uid: int, params: EconomyParams) -> float:
    """Unstake everything staked to ``uid`` (one swap) and pay the holders pro rata by shares.

    Writes into ``copies``; the arithmetic of :func:`_liquidate_uid_torch` in Python floats and
    numpy (the swap's ``pow`` is the C library's, as on 0-dim tensors). Returns the TAO paid.
    """
    state = copies.state
    alpha = float(state.hotkey_alpha.numpy()[netuid, uid])
    total = float(state.total_shares.numpy()[netuid, uid])
    if alpha <= 0 or total <= 0:
        return 0.0
    tao = swap_alpha_for_tao_scalar(
        float(state.pool_tao.numpy()[netuid]),
        float(state.pool_alpha.numpy()[netuid]),
        float(state.pool_weight_alpha.numpy()[netuid]),
        alpha,
        params.fee_rate,
    )
    balances = copies["balances"]
    owner_account = int(state.uid_coldkey.numpy()[netuid, uid])
    balances[owner_account] += tao * float(state.owner_shares.numpy()[netuid, uid]) / total
    holders = state.nom_uid.numpy()[:, netuid] == uid
    # every balance gets the add (+0.0 where no holder), as the tensor version's where-add
    balances += np.where(holders, tao * state.nom_shares.numpy()[:, netuid] / total, 0.0)
    if holders.any():
        copies["nom_shares"][holders, netuid] = 0.0
        copies["nom_uid"][holders, netuid] = -1
    copies["pool_tao"][netuid] -= tao
    copies["pool_alpha"][netuid] += alpha
    copies["flow_acc"][netuid] -= tao  # x - 0.0 == x bit for bit: only this subnet changes
    for name in ("hotkey_alpha", "owner_shares", "total_shares"):
        copies[name][netuid, uid] = 0.0
    return tao


def _register_uid_torch(
    state: NetworkState,
    params: EconomyParams,
    account: int,
    netuid: int,
    *,
    matrices_owned: bool,
) -> tuple[NetworkState, RegistrationResult]:
    """The torch reference of :func:`_register_uid` (a clone per written tensor)."""
    burn = _checked_burn(state, account, netuid)
    free = torch.nonzero(state.uid_coldkey[netuid] < 0).flatten()
    pruned, liquidated = -1, 0.0
    if free.numel():
        uid = int(free[0])
    else:
        uid = _neuron_to_prune_torch(state, netuid, min_non_immune=params.min_non_immune_uids)
        if uid < 0:
            raise ValueError(f"netuid: subnet {netuid} is full and no uid can be pruned")
        pruned = uid
        state, liquidated = _liquidate_uid_torch(state, netuid, uid, params)
    balances = state.balances.clone()
    balances[account] -= burn
    reg_burn = state.reg_burn.clone()
    reg_burn[netuid] = min(params.burn_max, max(params.burn_min, burn * params.burn_increase_mult))
    uid_coldkey = state.uid_coldkey.clone()
    uid_coldkey[netuid, uid] = account
    registration_block = state.registration_block.clone()
    registration_block[netuid, uid] = state.block
    last_update = state.last_update.clone()
    last_update[netuid, uid] = state.block
    emission = state.emission.clone()
    emission[netuid, uid] = 0.0
    permit = state.validator_permit.clone()
    permit[netuid, uid] = False
    weights = state.weights if matrices_owned else state.weights.clone()
    weights[netuid, uid, :] = 0.0
    weights[netuid, :, uid] = 0.0
    bonds = state.bonds if matrices_owned else state.bonds.clone()
    bonds[netuid, uid, :] = 0.0
    bonds[netuid, :, uid] = 0.0
    new_state = state.replace(
        balances=balances,
        tao_recycled=state.tao_recycled + burn,
        reg_burn=reg_burn,
        uid_coldkey=uid_coldkey,
        registration_block=registration_block,
        last_update=last_update,
        emission=emission,
        validator_permit=permit,
        weights=weights,
        bonds=bonds,
        live_rows=_cleared_live_row(state.live_rows, netuid, uid),
    )
    return new_state, RegistrationResult(netuid, uid, burn, pruned, liquidated)


def _cleared_live_row(live_rows: torch.Tensor | None, netuid: int, uid: int) -> torch.Tensor | None:
    """``live_rows`` (``None`` stays ``None``) with the new uid's rows, just zeroed, not live.

    Always a copy (``[S, n]`` bool, small): a tensor shared with another state, whose rows are
    not zeroed, must not lose a mark.
    """
    if live_rows is None:
        return None
    cleared = live_rows.clone()
    cleared[netuid, uid] = False
    return cleared


def subnet_to_prune(state: NetworkState, params: EconomyParams) -> int:
    """Non-immune active subnet with the lowest moving (EMA) price; tie → earliest registered."""
    age = state.block - state.registered_block
    candidates = state.active & (age >= params.network_immunity_period)
    if not bool(candidates.any()):
        return -1
    netuids = torch.nonzero(candidates).flatten().tolist()
    return min(
        netuids,
        key=lambda s: (float(state.moving_price[s]), int(state.registered_block[s]), s),
    )


def dissolve_subnet(
    state: NetworkState, params: EconomyParams, netuid: int
) -> tuple[NetworkState, DissolveResult]:
    """Delete ``netuid``; pay its pool TAO to alpha holders pro rata (``dissolve_network``).

    Holders are every hotkey's share holders, the market's alpha and the protocol's chain-bought
    alpha (whose TAO is recycled). Pending pots are recycled with the subnet's alpha.
    """
    if (
        not isinstance(netuid, int)
        or not 0 <= netuid < state.n_subnets
        or not bool(state.active[netuid])
    ):
        raise ValueError(f"netuid: unknown subnet {netuid!r}")
    pool_tao = float(state.pool_tao[netuid])
    H = state.hotkey_alpha[netuid]
    total_alpha = (
        float(H.sum()) + float(state.market_alpha[netuid]) + float(state.protocol_alpha[netuid])
    )
    balances = state.balances.clone()
    if total_alpha > 0:
        per_alpha = pool_tao / total_alpha
        shares = state.total_shares[netuid]
        value = torch.where(shares > 0, H / shares.clamp(min=1e-300), 0.0)
        own_tao = state.owner_shares[netuid] * value * per_alpha
        ck = state.uid_coldkey[netuid]
        balances.index_add_(0, ck.clamp(min=0), torch.where(ck >= 0, own_tao, 0.0))
        nom = state.nom_uid[:, netuid]
        nom_value = value[nom.clamp(min=0)] * state.nom_shares[:, netuid] * per_alpha
        balances += torch.where(nom >= 0, nom_value, 0.0)
        balances[MARKET_ACCOUNT] += float(state.market_alpha[netuid]) * per_alpha
        recycled = float(state.protocol_alpha[netuid]) * per_alpha
        # Owners' own stake with no shares (cannot happen via the API) would be lost: keep exact.
        paid = float(balances.sum() - state.balances.sum())
        recycled = pool_tao - paid
    else:
        owner = int(state.owner_account[netuid])
        balances[owner] += pool_tao
        paid, recycled = pool_tao, 0.0
    new_state = _reset_slot(state, netuid).replace(
        balances=balances, tao_recycled=state.tao_recycled + recycled
    )
    return new_state, DissolveResult(netuid, paid, recycled)


def _reset_slot(state: NetworkState, netuid: int, **values: float | int | bool) -> NetworkState:
    """Clear every per-subnet and per-uid field of ``netuid`` (then set ``values``)."""
    changes: dict[str, torch.Tensor] = {}
    defaults = {"pool_weight_alpha": 0.5, "uid_coldkey": -1, "owner_uid": -1, "owner_account": -1}
    per_subnet = (
        "active",
        "pool_tao",
        "pool_alpha",
        "pool_weight_alpha",
        "alpha_minted",
        "alpha_burned",
        "alpha_recycled",
        "protocol_alpha",
        "market_alpha",
        "moving_price",
        "flow_ema",
        "cost_ema",
        "flow_acc",
        "root_sell_acc",
        "pending_server",
        "pending_validator",
        "pending_root",
        "pending_owner",
        "miner_burned",
        "registered_block",
        "start_block",
        "last_epoch_block",
        "tempo",
        "immunity_period",
        "owner_cut_enabled",
        "emission_enabled",
        "registration_allowed",
        "subtoken_enabled",
        "owner_account",
        "owner_uid",
        "reg_burn",
        "uid_coldkey",
        "hotkey_alpha",
        "owner_shares",
        "total_shares",
        "registration_block",
        "last_update",
        "validator_permit",
        "emission",
        "weights",
        "bonds",
    )
    for name in per_subnet:
        tensor = getattr(state, name).clone()
        tensor[netuid] = values.get(name, defaults.get(name, 0))
        changes[name] = tensor
    nom_uid = state.nom_uid.clone()
    nom_uid[:, netuid] = -1
    nom_shares = state.nom_shares.clone()
    nom_shares[:, netuid] = 0.0
    overrides = tuple(o for o in state.epoch_overrides if o[0] != netuid)
    return state.replace(
        nom_uid=nom_uid, nom_shares=nom_shares, epoch_overrides=overrides, **changes
    )


def median_alpha_price(state: NetworkState) -> float:
    """Median spot price of the active subnets with a positive price (1.0 if none).

    A new subnet's pool holds the whole lock as TAO and ``lock / median`` as alpha, so it starts
    at the network's median price (subtensor ``get_median_subnet_alpha_price``; even counts take
    the mean of the two middle prices).
    """
    price = state.spot_price[state.active]
    price = price[price > 0]
    if price.numel() == 0:
        return 1.0
    ordered = torch.sort(price).values
    mid = ordered.numel() // 2
    if ordered.numel() % 2:
        return float(ordered[mid])
    return float((ordered[mid - 1] + ordered[mid]) / 2)


def register_subnet(
    state: NetworkState, params: EconomyParams, account: int
) -> tuple[NetworkState, SubnetRegistrationResult]:
    """Register a new subnet owned by ``account``, paying the lock cost into its pool.

    At the subnet limit (or with every slot used) the non-immune subnet with the lowest moving
    price is dissolved first (:func:`dissolve_subnet`).

    Raises
    ------
    ValueError
        Unknown account, chain halted, balance below the lock cost, or the limit is reached and
        every subnet is immune.
    """
    if not isinstance(account, int) or not 0 <= account < state.n_accounts:
        raise ValueError(f"account: unknown account {account!r}")
    if state.halted:
        raise ValueError(f"block: chain halted (safe mode) until block {state.halted_until}")
    lock = lock_cost(state, params)
    if float(state.balances[account]) < lock:
        raise ValueError(
            f"account: balance {float(state.balances[account]):.0f} rao below the lock cost {lock:.0f}"
        )
    dissolved = -1
    n_active = int(state.active.sum())
    if n_active >= min(params.subnet_limit, state.n_subnets):
        dissolved = subnet_to_prune(state, params)
        if dissolved < 0:
            raise ValueError("subnet_limit: limit reached and every subnet is still immune")
        state, _ = dissolve_subnet(state, params, dissolved)
    slot = int(torch.nonzero(~state.active).flatten()[0])
    block = state.block
    pool_alpha = lock / median_alpha_price(state)
    state = _reset_slot(
        state,
        slot,
        active=True,
        pool_tao=lock,
        pool_alpha=pool_alpha,
        alpha_minted=pool_alpha,
        registered_block=block,
        # The owner calls start_call as soon as allowed; emission counts from the next block.
        start_block=block + params.start_call_delay + 1,
        # init_new_network staggers the first epoch by netuid % tempo.
        last_epoch_block=block - slot % params.tempo,
        tempo=params.tempo,
        immunity_period=params.immunity_period,
        owner_cut_enabled=True,
        emission_enabled=params.new_subnet_emission_enabled,
        registration_allowed=True,
        subtoken_enabled=True,
        owner_account=account,
        owner_uid=0,
        reg_burn=params.burn_initial,
    )
    uid_coldkey = state.uid_coldkey.clone()
    uid_coldkey[slot, 0] = account
    registration_block = state.registration_block.clone()
    registration_block[slot] = block
    last_update = state.last_update.clone()
    last_update[slot] = block
    balances = state.balances.clone()
    balances[account] -= lock
    state = state.replace(
        uid_coldkey=uid_coldkey,
        registration_block=registration_block,
        last_update=last_update,
        balances=balances,
        last_lock=lock,
        last_lock_block=block,
    )
    return state, SubnetRegistrationResult(slot, lock, dissolved)
