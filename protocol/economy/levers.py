"""Governance levers as state transitions (docs/economy.md, "Levers").

:func:`apply_lever` defines *what* each lever of :mod:`protocol.levers` does to a network; the
governance policies decide *when*. Levers are root (sudo) calls, so they also execute while the
chain is in safe mode, except the token sale, which is a swap and is refused while halted.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from protocol.economy.amm import swap_alpha_for_tao
from protocol.economy.registration import DissolveResult, dissolve_subnet
from protocol.economy.staking import apply_market_flows, unstake
from protocol.economy.state import EconomyParams, NetworkState
from protocol.levers import (
    AnyChange,
    DissolveSubnet,
    HaltChain,
    Lever,
    ResumeChain,
    SetEmissionEnabled,
    SetHyperparameter,
    SetRegistrationAllowed,
    SetSubtokenEnabled,
    TokenSale,
    TransferOwnership,
)
from protocol.units import RAO_PER_TAO

__all__ = ["SUBNET_HYPERPARAMETERS", "LeverResult", "apply_lever"]

#: Per-subnet hyperparameters held in the state: lever name → (state field, cast).
SUBNET_HYPERPARAMETERS: dict[str, tuple[str, type]] = {
    "tempo": ("tempo", int),
    "immunity_period": ("immunity_period", int),
    "owner_cut_enabled": ("owner_cut_enabled", bool),
    "subnet_emission_enabled": ("emission_enabled", bool),
    "emission_enabled": ("emission_enabled", bool),
    "network_registration_allowed": ("registration_allowed", bool),
    "registration_allowed": ("registration_allowed", bool),
    "subtoken_enabled": ("subtoken_enabled", bool),
    "burn": ("reg_burn", float),
}


#: Global parameters that are also stored per subnet (a global set applies to every subnet).
_GLOBAL_TO_SUBNETS: dict[str, str] = {"tempo": "tempo", "immunity_period": "immunity_period"}


@dataclass(frozen=True)
class LeverResult:
    """What a lever did.

    Attributes
    ----------
    lever
        The lever applied.
    applied
        False when the lever had no effect on the state (``detail`` says why).
    params
        The economy parameters after the lever (changed by global hyperparameters only): callers
        must carry them forward.
    detail
        One line for logs.
    dissolved
        The dissolution results (dissolve levers, also inside ``AnyChange``).
    tao_raised
        TAO (rao) raised by a token sale.
    effects
        Results of an ``AnyChange``'s effects, in order.
    """

    lever: Lever
    applied: bool
    params: EconomyParams
    detail: str = ""
    dissolved: tuple[DissolveResult, ...] = ()
    tao_raised: float = 0.0
    effects: tuple[LeverResult, ...] = ()


def _check_netuid(state: NetworkState, netuid: Any, field: str = "netuid") -> int:
    if (
        not isinstance(netuid, int)
        or not 0 <= netuid < state.n_subnets
        or not bool(state.active[netuid])
    ):
        raise ValueError(f"lever.{field}: unknown subnet {netuid!r}")
    return netuid


def _set_flag(state: NetworkState, name: str, netuid: int, value: Any) -> NetworkState:
    tensor = getattr(state, name).clone()
    tensor[netuid] = value
    return state.replace(**{name: tensor})


def _set_hyperparameter(
    state: NetworkState, lever: SetHyperparameter, params: EconomyParams
) -> tuple[NetworkState, EconomyParams, str]:
    from protocol.yuma import EpochParams

    epoch_names = {f.name for f in fields(EpochParams)}
    if lever.netuid is None:
        if lever.name in {f.name for f in fields(EconomyParams)}:
            new_params = replace(params, **{lever.name: lever.value})
            if lever.name in _GLOBAL_TO_SUBNETS:
                # A network-wide value also held per subnet: every active subnet takes it.
                field = _GLOBAL_TO_SUBNETS[lever.name]
                tensor = getattr(state, field)
                value = torch.full_like(tensor, getattr(new_params, lever.name))
                state = state.replace(**{field: torch.where(state.active, value, tensor)})
            return state, new_params, f"global {lever.name}"
        if lever.name in epoch_names:
            epoch = (params.epoch_params or EpochParams()).with_(**{lever.name: lever.value})
            return state, replace(params, epoch_params=epoch), f"global epoch {lever.name}"
        raise ValueError(f"lever.name: unknown global hyperparameter {lever.name!r}")
    netuid = _check_netuid(state, lever.netuid)
    if lever.name in SUBNET_HYPERPARAMETERS:
        field, cast = SUBNET_HYPERPARAMETERS[lever.name]
        value = cast(lever.value)
        if field == "tempo" and value < 1:
            raise ValueError(f"lever.value: tempo must be >= 1, got {lever.value!r}")
        return _set_flag(state, field, netuid, value), params, f"subnet {netuid} {lever.name}"
    if lever.name in epoch_names:
        (params.epoch_params or EpochParams()).with_(**{lever.name: lever.value})  # validates
        overrides = (
            *tuple(o for o in state.epoch_overrides if not (o[0] == netuid and o[1] == lever.name)),
            (netuid, lever.name, lever.value),
        )
        return (
            state.replace(epoch_overrides=overrides),
            params,
            f"subnet {netuid} epoch {lever.name}",
        )
    raise ValueError(f"lever.name: unknown subnet hyperparameter {lever.name!r}")


def _transfer_ownership(
    state: NetworkState, lever: TransferOwnership, params: EconomyParams
) -> NetworkState:
    """New owner coldkey; it takes the owner hotkey.

    The old owner keeps its stake on that hotkey as a delegation (sold to TAO through the pool
    if it already delegates to another uid of the subnet); a delegation the new owner held on
    the owner hotkey becomes its own stake.
    """
    netuid = _check_netuid(state, lever.netuid)
    new_owner = state.account_index(lever.new_owner)
    old_owner = int(state.owner_account[netuid])
    owner_account = state.owner_account.clone()
    owner_account[netuid] = new_owner
    changes: dict[str, torch.Tensor] = {"owner_account": owner_account}
    uid = int(state.owner_uid[netuid])
    if uid < 0 or int(state.uid_coldkey[netuid, uid]) != old_owner or new_owner == old_owner:
        return state.replace(**changes)
    uid_coldkey = state.uid_coldkey.clone()
    uid_coldkey[netuid, uid] = new_owner
    owner_shares = state.owner_shares.clone()
    nom_uid = state.nom_uid.clone()
    nom_shares = state.nom_shares.clone()
    old_shares = float(owner_shares[netuid, uid])
    owner_shares[netuid, uid] = 0.0
    if int(nom_uid[new_owner, netuid]) == uid:
        owner_shares[netuid, uid] = nom_shares[new_owner, netuid]
        nom_shares[new_owner, netuid] = 0.0
        nom_uid[new_owner, netuid] = -1
    changes.update(uid_coldkey=uid_coldkey, nom_uid=nom_uid, nom_shares=nom_shares)
    if old_shares > 0 and int(nom_uid[old_owner, netuid]) in (-1, uid):
        nom_uid[old_owner, netuid] = uid
        nom_shares[old_owner, netuid] += old_shares
    elif old_shares > 0:
        total = float(state.total_shares[netuid, uid])
        alpha = old_shares * float(state.hotkey_alpha[netuid, uid]) / total
        tao = float(
            swap_alpha_for_tao(
                state.pool_tao[netuid],
                state.pool_alpha[netuid],
                state.pool_weight_alpha[netuid],
                torch.tensor(alpha, dtype=torch.float64),
                params.fee_rate,
            )
        )
        pool_tao, pool_alpha = state.pool_tao.clone(), state.pool_alpha.clone()
        pool_tao[netuid] -= tao
        pool_alpha[netuid] += alpha
        hotkey_alpha, total_shares = state.hotkey_alpha.clone(), state.total_shares.clone()
        hotkey_alpha[netuid, uid] -= alpha
        total_shares[netuid, uid] -= old_shares
        balances = state.balances.clone()
        balances[old_owner] += tao
        changes.update(
            pool_tao=pool_tao,
            pool_alpha=pool_alpha,
            hotkey_alpha=hotkey_alpha,
            total_shares=total_shares,
            balances=balances,
        )
    changes["owner_shares"] = owner_shares
    return state.replace(**changes)


def _token_sale(
    state: NetworkState, lever: TokenSale, params: EconomyParams
) -> tuple[NetworkState, float, str]:
    """Sell ``amount_tao`` worth of a subnet's alpha: the owner's own-hotkey stake first, then
    the market's alpha (panic selling), as swaps against the pool."""
    if not lever.amount_tao >= 0:
        raise ValueError(f"lever.amount_tao: expected >= 0, got {lever.amount_tao!r}")
    netuid = _check_netuid(state, lever.netuid)
    if state.halted or not bool(state.subtoken_enabled[netuid]):
        return state, 0.0, "trading closed (halted or subtoken off)"
    from protocol.economy.amm import alpha_needed_for_tao

    target = min(lever.amount_tao * RAO_PER_TAO, 0.9 * float(state.pool_tao[netuid]))
    owner = int(state.owner_account[netuid])
    uid = int(state.owner_uid[netuid])
    before = float(state.balances[owner]) + float(state.balances[0])
    raised = 0.0
    if uid >= 0 and int(state.uid_coldkey[netuid, uid]) == owner and target > 0:
        t = float(state.total_shares[netuid, uid])
        held = (
            float(state.owner_shares[netuid, uid]) * float(state.hotkey_alpha[netuid, uid]) / t
            if t > 0
            else 0.0
        )
        need = float(
            alpha_needed_for_tao(
                state.pool_tao[netuid],
                state.pool_alpha[netuid],
                state.pool_weight_alpha[netuid],
                torch.tensor(target, dtype=torch.float64),
                params.fee_rate,
            )
        )
        sell = min(held, need)
        if sell > 0:
            state = unstake(state, owner, netuid, uid, sell, params=params)
            raised = float(state.balances[owner]) + float(state.balances[0]) - before
    rest = target - raised
    if rest > 0:
        flows = torch.zeros(state.n_subnets, dtype=torch.float64)
        flows[netuid] = -rest
        state, executed = apply_market_flows(state, flows, params)
        raised += -float(executed[netuid])
    return state, raised, f"sold alpha for {raised / RAO_PER_TAO:.3f} TAO on subnet {netuid}"


def apply_lever(
    state: NetworkState, lever: Lever, params: EconomyParams
) -> tuple[NetworkState, LeverResult]:
    """Apply a governance lever to the network.

    Parameters
    ----------
    state
        The network.
    lever
        Any lever of :mod:`protocol.levers`.
    params
        Current economy parameters; global hyperparameter levers return new ones in
        ``LeverResult.params``.

    Returns
    -------
    tuple
        ``(state, LeverResult)``.

    Raises
    ------
    ValueError
        A lever naming an unknown subnet, account or hyperparameter, or an invalid value; the
        state is unchanged.
    TypeError
        An object that is not a known lever.
    """
    if isinstance(lever, SetRegistrationAllowed):
        netuid = _check_netuid(state, lever.netuid)
        new = _set_flag(state, "registration_allowed", netuid, bool(lever.allowed))
        return new, LeverResult(
            lever, True, params, f"registration_allowed[{netuid}]={lever.allowed}"
        )
    if isinstance(lever, SetSubtokenEnabled):
        netuid = _check_netuid(state, lever.netuid)
        new = _set_flag(state, "subtoken_enabled", netuid, bool(lever.enabled))
        return new, LeverResult(lever, True, params, f"subtoken_enabled[{netuid}]={lever.enabled}")
    if isinstance(lever, SetEmissionEnabled):
        netuid = _check_netuid(state, lever.netuid)
        new = _set_flag(state, "emission_enabled", netuid, bool(lever.enabled))
        return new, LeverResult(lever, True, params, f"emission_enabled[{netuid}]={lever.enabled}")
    if isinstance(lever, DissolveSubnet):
        _check_netuid(state, lever.netuid)
        new, dissolved = dissolve_subnet(state, params, lever.netuid)
        return new, LeverResult(
            lever, True, params, f"dissolved subnet {lever.netuid}", (dissolved,)
        )
    if isinstance(lever, SetHyperparameter):
        new, new_params, detail = _set_hyperparameter(state, lever, params)
        return new, LeverResult(lever, True, new_params, f"{detail}={lever.value!r}")
    if isinstance(lever, TransferOwnership):
        new = _transfer_ownership(state, lever, params)
        return new, LeverResult(
            lever, True, params, f"subnet {lever.netuid} owner -> {lever.new_owner}"
        )
    if isinstance(lever, HaltChain):
        if lever.duration_blocks < 0:
            raise ValueError(f"lever.duration_blocks: expected >= 0, got {lever.duration_blocks}")
        until = max(state.halted_until, state.block + lever.duration_blocks)
        return state.replace(halted_until=until), LeverResult(
            lever, True, params, f"halted until {until}"
        )
    if isinstance(lever, ResumeChain):
        return state.replace(halted_until=state.block), LeverResult(lever, True, params, "resumed")
    if isinstance(lever, TokenSale):
        if lever.netuid is None:
            # Selling TAO itself moves the TAO market price, which is outside the protocol state.
            return state, LeverResult(lever, False, params, "TAO sale: outside the pool economy")
        new, raised, detail = _token_sale(state, lever, params)
        return new, LeverResult(lever, raised > 0, params, detail, tao_raised=raised)
    if isinstance(lever, AnyChange):
        results = []
        dissolved: list[DissolveResult] = []
        current = params
        for effect in lever.effects:
            state, result = apply_lever(state, effect, current)
            current = result.params
            results.append(result)
            dissolved.extend(result.dissolved)
        return state, LeverResult(
            lever,
            bool(results),
            current,
            lever.description,
            tuple(dissolved),
            sum(r.tao_raised for r in results),
            tuple(results),
        )
    raise TypeError(f"lever: expected a protocol.levers.Lever, got {type(lever).__name__}")
