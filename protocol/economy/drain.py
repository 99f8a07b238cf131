"""Drain of the pending pots at each subnet's epoch, batched over subnets.

The chain's ``distribute_emission`` (subtensor ``pallets/subtensor/src/coinbase/
run_coinbase.rs`` @ ``14bc6f9f``; docs/economy.md, "Drain"): the epoch splits the pots by
incentive and dividends, then miners, validators and their nominators, root stakers and the
owner are paid. All subnets due in a block go through **one** batched
``protocol.yuma.yuma_epoch`` call per distinct epoch configuration (subnets with per-subnet
epoch overrides form their own group).

The payouts, the root-TAO credit and the epoch stake each have a torch path (the reference)
and a numba twin (:mod:`protocol.economy._fused_drain`); ``backend`` picks one as everywhere
in :mod:`protocol` (:mod:`protocol._numba`). When every subnet is due in one epoch group on
the fused backend (tempo mode), the drain runs the same numba kernels on numpy views of the
state without the general path's gathers and ``yuma_epoch``'s checks (``_drain_all_fused``,
bit-identical).

Documented simplifications (docs/economy.md, "Documented simplifications"):

* miner payouts use the server pot split by incentive proportions (the pot is what the epoch's
  ``server_emission`` sums to when both incentive and dividends are non-zero);
* no childkeys; a uid's root stake is its coldkey's root stake shared equally by the coldkey's
  uids on that subnet;
* root dividends are auto-claimed with the default claim type (swap to TAO): the subnet's root
  payout is sold to its pool in one swap and the TAO paid to the validators' coldkeys;
* root dividends with no root-staked validator, and validator pots with no dividends at all, are
  recycled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from protocol._numba import HAVE_NUMBA, Backend, choose_backend, jit
from protocol.economy._fused_drain import (
    PAYOUT_SUMS,
    SETTLE_ROWS,
    PayoutArrays,
    PayoutBuffers,
    epoch_stake_rows,
    payout_rows,
    root_sale_power_args,
    settle_root_sale,
)
from protocol.economy._fused_drain import credit_root_tao as _credit_root_tao_kernel
from protocol.economy.amm import swap_alpha_for_tao_array
from protocol.economy.staking import credit_owner_stake
from protocol.economy.state import ArrayBacked, EconomyParams, NetworkState
from protocol.yuma import EpochParams, yuma_epoch
from protocol.yuma._fused import fresh_copy
from protocol.yuma.float_epoch import fused_epoch_applies, fused_epoch_arrays
from protocol.yuma.mechanisms import get_mechanism

__all__ = [
    "DrainResult",
    "PayoutInputs",
    "Payouts",
    "credit_root_tao",
    "credit_root_tao_fused",
    "credit_root_tao_torch",
    "drain",
    "drain_with_views",
    "due_subnets",
    "epoch_stake",
    "payouts",
    "payouts_fused",
    "payouts_torch",
]


#: The epoch parameters of an economy that sets none (one instance: ``with_`` copies are shared).
_DEFAULT_EPOCH_PARAMS = EpochParams()


@dataclass(frozen=True)
class DrainResult(ArrayBacked):
    """What the drains of one step paid, per subnet ``[S]`` (rao; zero for subnets not due).

    The fused drain's result holds numpy arrays: each tensor is made when first read
    (:class:`~protocol.economy.state.ArrayBacked`).
    """

    drained: torch.Tensor
    miner_alpha: torch.Tensor
    owner_incentive_burned: torch.Tensor
    validator_alpha: torch.Tensor
    delegate_take: torch.Tensor
    root_alpha_sold: torch.Tensor
    root_tao_paid: torch.Tensor
    owner_cut_alpha: torch.Tensor
    recycled_alpha: torch.Tensor
    #: ``[S, n]`` incentive and dividends proportions of the last epoch (zero if not due).
    incentive: torch.Tensor
    dividends: torch.Tensor

    @classmethod
    def nothing(cls, n_subnets: int, n_uids: int) -> DrainResult:
        """A step where no subnet is due: every amount zero."""
        zeros_s = torch.zeros(n_subnets, dtype=torch.float64)
        per_uid = ("incentive", "dividends")
        amounts = {f.name: zeros_s for f in fields(cls) if f.name not in per_uid}
        return cls(
            **amounts,
            incentive=torch.zeros(n_subnets, n_uids, dtype=torch.float64),
            dividends=torch.zeros(n_subnets, n_uids, dtype=torch.float64),
        )


def due_subnets(state: NetworkState, block: int) -> torch.Tensor:
    """Subnets whose epoch runs at ``block``: ``block − LastEpochBlock >= tempo`` (HEAD) ``[S]``."""
    return torch.from_numpy(_due_array(state, block))


#: The state fields :func:`_due_array` reads, in its order.
_DUE_READS = ("active", "last_epoch_block", "tempo")
_BOOL = np.dtype(np.bool_)
_INT64 = np.dtype(np.int64)


def _due_array(state: NetworkState, block: int) -> np.ndarray:
    """:func:`due_subnets` in numpy: one pass of :func:`_due_rows` over the state's views
    where they have the state's dtypes (bool, int64, int64) and ``block`` is an int64, else
    the same compares in numpy."""
    active, last_epoch_block, tempo = state.views(_DUE_READS)
    if (
        HAVE_NUMBA
        and active.dtype is _BOOL
        and last_epoch_block.dtype is _INT64
        and tempo.dtype is _INT64
        and type(block) is int
        and -(1 << 63) <= block < 1 << 63
        and active.ndim == 1
        and active.shape == last_epoch_block.shape == tempo.shape
    ):
        out = np.empty(active.shape[0], dtype=np.bool_)
        _due_rows(active, last_epoch_block, tempo, block, out)
        return out
    # in numpy on views of the state (the same integer compares, no tensor dispatch each)
    return active & ((block - last_epoch_block) >= tempo)


@jit
def _due_rows(
    active: np.ndarray, last_epoch_block: np.ndarray, tempo: np.ndarray, block: int, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    """``out = active & (block - last_epoch_block >= tempo)`` (int64 arithmetic, as numpy's)."""
    for i in range(active.shape[0]):
        out[i] = active[i] and block - last_epoch_block[i] >= tempo[i]


def _uid_root_stake(state: NetworkState, index: torch.Tensor | None = None) -> torch.Tensor:
    """Root stake per uid ``[S, n]`` (or ``[len(index), n]``): the coldkey's root stake, shared
    equally by the coldkey's uids on the subnet."""
    coldkeys = state.uid_coldkey if index is None else state.uid_coldkey[index]
    ck = coldkeys.clamp(min=0)
    registered = coldkeys >= 0
    counts = torch.zeros(coldkeys.shape[0], state.n_accounts, dtype=torch.float64)
    counts.scatter_add_(1, ck, registered.to(torch.float64))
    per_uid_count = counts.gather(1, ck).clamp(min=1.0)
    return torch.where(registered, state.root_stake[ck] / per_uid_count, 0.0)


def _due_epoch_stake(
    state: NetworkState,
    params: EconomyParams,
    index: torch.Tensor | None,
    backend: Backend = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """TaoWeight × root stake and the epoch stake (:func:`epoch_stake`) of the subnets
    ``index`` (all when ``None``), ``[B, n]`` each; one numba pass on the fused backend."""
    coldkeys = state.uid_coldkey if index is None else state.uid_coldkey[index]
    hotkey = state.hotkey_alpha if index is None else state.hotkey_alpha[index]
    if choose_backend(backend) == "torch":
        root_weighted = params.tao_weight * _uid_root_stake(state, index)
        return root_weighted, hotkey + root_weighted
    root_weighted = np.empty(tuple(coldkeys.shape))  # numpy-allocated: no dispatch each
    stake = np.empty(tuple(coldkeys.shape))
    epoch_stake_rows(
        coldkeys.contiguous().numpy(),
        state.root_stake.contiguous().numpy(),
        hotkey.contiguous().numpy(),
        float(params.tao_weight),
        root_weighted,
        stake,
    )
    return torch.from_numpy(root_weighted), torch.from_numpy(stake)


def epoch_stake(state: NetworkState, params: EconomyParams) -> torch.Tensor:
    """Stake weight per uid ``[S, n]``: alpha + TaoWeight × root stake (subtensor
    ``get_stake_weights_for_network``, ``staking/stake_utils.rs`` @ ``14bc6f9f``)."""
    return state.hotkey_alpha + params.tao_weight * _uid_root_stake(state)


def _epoch_groups(
    state: NetworkState, params: EconomyParams, due: torch.Tensor
) -> list[tuple[torch.Tensor, Any]]:
    """Group due subnets by their epoch parameters (tempo and per-subnet overrides)."""
    base = params.epoch_params or _DEFAULT_EPOCH_PARAMS
    if not state.epoch_overrides:
        # no per-subnet overrides: one group per tempo, usually one for every due subnet
        members_np = np.flatnonzero(due.numpy())
        due_tempos = state.tempo.numpy()[members_np]
        if members_np.size and bool((due_tempos == due_tempos[0]).all()):
            return [(torch.from_numpy(members_np), base.with_(tempo=int(due_tempos[0])))]
    overrides: dict[int, dict[str, Any]] = {}
    for netuid, name, value in state.epoch_overrides:
        overrides.setdefault(netuid, {})[name] = value
    groups: dict[tuple, list[int]] = {}
    tempos = state.tempo.tolist()  # one conversion, not a tensor index per subnet
    for s in np.flatnonzero(due.numpy()).tolist():
        key = (int(tempos[s]), tuple(sorted(overrides[s].items())) if s in overrides else ())
        groups.setdefault(key, []).append(s)
    out = []
    for (tempo, items), members in groups.items():
        epoch_params = base.with_(tempo=tempo, **dict(items))  # shared copies (with_ caches)
        out.append((torch.tensor(members, dtype=torch.int64), epoch_params))
    return out


@dataclass(frozen=True)
class PayoutInputs:
    """What the payouts of the ``B`` due subnets of one drain read (rao).

    Attributes
    ----------
    incentive, dividends
        ``[B, n]`` the epoch's incentive and validator emission.
    coldkey
        ``[B, n]`` int64 uid coldkeys (-1: unregistered).
    hotkey_alpha, root_weighted, owner_shares, total_shares
        ``[B, n]`` hotkey alpha, TaoWeight × root stake, owner and total shares.
    server, validator, root_pot, owner_cut
        ``[B]`` pending server, validator, root and owner pots.
    owner_account, owner_uid
        ``[B]`` int64 owner coldkey and owner uid (-1: none).
    delegate_take
        Share of a validator's alpha payout kept by the hotkey's owner.
    """

    incentive: torch.Tensor
    dividends: torch.Tensor
    coldkey: torch.Tensor
    hotkey_alpha: torch.Tensor
    root_weighted: torch.Tensor
    owner_shares: torch.Tensor
    total_shares: torch.Tensor
    server: torch.Tensor
    validator: torch.Tensor
    root_pot: torch.Tensor
    owner_account: torch.Tensor
    owner_uid: torch.Tensor
    owner_cut: torch.Tensor
    delegate_take: float


@dataclass(frozen=True)
class Payouts:
    """Payouts of the ``B`` due subnets of one drain (rao; ``[B, n]`` per uid, ``[B]`` totals)."""

    #: Incentive and validator emission of the epoch, zero for unregistered uids.
    incentive: torch.Tensor
    dividends: torch.Tensor
    #: Hotkey alpha and shares after the miner, take, owner-cut and nominator credits.
    hotkey_alpha: torch.Tensor
    owner_shares: torch.Tensor
    total_shares: torch.Tensor
    #: Root-dividend alpha per uid and its subnet total (sold to the pool for TAO).
    root_payout: torch.Tensor
    root_alpha: torch.Tensor
    miner_alpha: torch.Tensor
    #: Incentive of the owner's own hotkeys (burned or recycled) and its share of the miner pot.
    withheld: torch.Tensor
    burned_frac: torch.Tensor
    validator_alpha: torch.Tensor
    delegate_take: torch.Tensor
    #: Validator and root pots with nobody to pay.
    recycled: torch.Tensor
    #: Owner cut burned because the owner has no registered hotkey.
    owner_cut_burned: torch.Tensor


def payouts(inputs: PayoutInputs, *, backend: Backend = "auto") -> Payouts:
    """The drain's miner, validator, take, owner-cut and root payouts.

    ``backend`` (see :mod:`protocol._numba`): ``"torch"`` runs :func:`payouts_torch` (the
    reference), ``"fused"`` :func:`payouts_fused` (numba), ``"auto"`` the latter where numba is
    installed.
    """
    if choose_backend(backend) == "fused":
        return payouts_fused(inputs)
    return payouts_torch(inputs)


def payouts_torch(inputs: PayoutInputs) -> Payouts:
    """The drain's payouts in torch (the reference path; :func:`payouts` picks the backend)."""
    incentive, dividends, coldkey = inputs.incentive, inputs.dividends, inputs.coldkey
    hotkey_due, root_weighted = inputs.hotkey_alpha, inputs.root_weighted
    owner_shares, shares_due = inputs.owner_shares, inputs.total_shares
    server, validator, root_pot = inputs.server, inputs.validator, inputs.root_pot
    owner_account, owner_uid, owner_cut = inputs.owner_account, inputs.owner_uid, inputs.owner_cut
    delegate_take = inputs.delegate_take
    B, n = incentive.shape
    f64 = torch.float64
    registered = coldkey >= 0
    incentive_due = torch.where(registered, incentive, 0.0)
    dividends_due = torch.where(registered, dividends, 0.0)

    # Miners: the server pot by incentive; with no incentive it goes to the validators.
    inc_sum = incentive_due.sum(1)
    has_inc = inc_sum > 0
    validator_pot = validator + torch.where(has_inc, 0.0, server)
    miner_pot = torch.where(has_inc, server, 0.0)
    miner_pay = miner_pot.unsqueeze(1) * incentive_due / inc_sum.clamp(min=1e-300).unsqueeze(1)
    owner_hotkey = coldkey == owner_account.unsqueeze(1)
    withheld = torch.where(owner_hotkey, miner_pay, 0.0).sum(1)
    burned_frac = torch.where(miner_pot > 0, withheld / miner_pot.clamp(min=1e-300), 0.0)
    miner_pay = torch.where(owner_hotkey, 0.0, miner_pay)

    # Validators: dividends split into alpha and root parts by each hotkey's root proportion.
    rp_denom = hotkey_due + root_weighted
    rp = torch.where(rp_denom > 0, root_weighted / rp_denom.clamp(min=1e-300), 0.0)
    root_divs = dividends_due * rp
    alpha_divs = dividends_due - root_divs
    alpha_sum = alpha_divs.sum(1)
    root_sum = root_divs.sum(1)
    alpha_payout = torch.where(
        (alpha_sum > 0).unsqueeze(1),
        validator_pot.unsqueeze(1) * alpha_divs / alpha_sum.clamp(min=1e-300).unsqueeze(1),
        0.0,
    )
    root_payout = torch.where(
        (root_sum > 0).unsqueeze(1),
        root_pot.unsqueeze(1) * root_divs / root_sum.clamp(min=1e-300).unsqueeze(1),
        0.0,
    )
    recycled = torch.where(alpha_sum > 0, 0.0, validator_pot) + torch.where(
        root_sum > 0, 0.0, root_pot
    )
    take = delegate_take * alpha_payout
    nominator_part = alpha_payout - take

    # Owner cut: staked to the owner hotkey (burned if the owner has no registered hotkey).
    owner_at = owner_uid.clamp(min=0).unsqueeze(1)
    owner_ok = (owner_uid >= 0) & (coldkey.gather(1, owner_at).squeeze(1) >= 0)
    owner_credit = torch.zeros(B, n, dtype=f64)
    owner_credit.scatter_(1, owner_at, torch.where(owner_ok, owner_cut, 0.0).unsqueeze(1))
    owner_cut_burned = torch.where(owner_ok, 0.0, owner_cut)

    # Credit stake: own stake (miner incentive, take, owner cut) gets new shares; the nominator
    # part raises the hotkey's alpha for every holder (own stake if nobody holds shares yet).
    no_holders = shares_due <= 0
    own_amount = miner_pay + take + owner_credit + torch.where(no_holders, nominator_part, 0.0)
    new_hotkey, new_owner_shares, new_total_shares = credit_owner_stake(
        hotkey_due, owner_shares, shares_due, own_amount
    )
    new_hotkey = new_hotkey + torch.where(no_holders, 0.0, nominator_part)
    return Payouts(
        incentive=incentive_due,
        dividends=dividends_due,
        hotkey_alpha=new_hotkey,
        owner_shares=new_owner_shares,
        total_shares=new_total_shares,
        root_payout=root_payout,
        root_alpha=root_payout.sum(1),
        miner_alpha=miner_pay.sum(1),
        withheld=withheld,
        burned_frac=burned_frac,
        validator_alpha=alpha_payout.sum(1),
        delegate_take=take.sum(1),
        recycled=recycled,
        owner_cut_burned=owner_cut_burned,
    )


def payouts_fused(inputs: PayoutInputs) -> Payouts:
    """:func:`payouts_torch` in one numba kernel (:func:`protocol.economy._fused_drain.payout_rows`).

    The same element-wise arithmetic; row sums agree to rounding (sequential here).
    """
    B, n = inputs.incentive.shape

    def arr(values: torch.Tensor) -> np.ndarray:
        return values.contiguous().numpy()

    rows = PayoutArrays(
        incentive=arr(inputs.incentive),
        dividends=arr(inputs.dividends),
        coldkey=arr(inputs.coldkey),
        hotkey_alpha=arr(inputs.hotkey_alpha),
        root_weighted=arr(inputs.root_weighted),
        owner_shares=arr(inputs.owner_shares),
        total_shares=arr(inputs.total_shares),
        server=arr(inputs.server),
        validator=arr(inputs.validator),
        root_pot=arr(inputs.root_pot),
        owner_account=arr(inputs.owner_account),
        owner_uid=arr(inputs.owner_uid),
        owner_cut=arr(inputs.owner_cut),
        delegate_take=float(inputs.delegate_take),
    )
    # numpy-allocated outputs (a tensor view each afterwards: no dispatch per buffer)
    sums = np.empty((len(PAYOUT_SUMS), B))
    per_uid = {name: np.empty((B, n)) for name in PayoutBuffers._fields[1:]}
    payout_rows(rows, PayoutBuffers(sums=sums.T, **per_uid))
    totals = {name: torch.from_numpy(sums[i]) for i, name in enumerate(PAYOUT_SUMS)}
    return Payouts(**{k: torch.from_numpy(v) for k, v in per_uid.items()}, **totals)


def credit_root_tao_torch(
    balances: torch.Tensor,
    coldkey: torch.Tensor,
    root_payout: torch.Tensor,
    root_alpha: torch.Tensor,
    tao_out: torch.Tensor,
) -> None:
    """Add each subnet's root-sale TAO ``tao_out`` ``[B]`` to ``balances`` (in place), pro rata
    to the uids' ``root_payout`` ``[B, n]`` (their coldkeys; unregistered uids get 0)."""
    tao_each = torch.where(
        (root_alpha > 0).unsqueeze(1),
        tao_out.unsqueeze(1) * root_payout / root_alpha.clamp(min=1e-300).unsqueeze(1),
        0.0,
    )
    balances.index_add_(0, coldkey.clamp(min=0).flatten(), tao_each.flatten())


def credit_root_tao_fused(
    balances: torch.Tensor,
    coldkey: torch.Tensor,
    root_payout: torch.Tensor,
    root_alpha: torch.Tensor,
    tao_out: torch.Tensor,
) -> None:
    """:func:`credit_root_tao_torch` in numba: the same additions in the same order."""
    _credit_root_tao_kernel(
        balances.numpy(),
        coldkey.contiguous().numpy(),
        root_payout.contiguous().numpy(),
        root_alpha.contiguous().numpy(),
        tao_out.contiguous().numpy(),
    )


def credit_root_tao(
    balances: torch.Tensor,
    coldkey: torch.Tensor,
    root_payout: torch.Tensor,
    root_alpha: torch.Tensor,
    tao_out: torch.Tensor,
    *,
    backend: Backend = "auto",
) -> None:
    """Add each subnet's root-sale TAO to ``balances`` (in place): :func:`credit_root_tao_torch`
    or, on the fused backend (:mod:`protocol._numba`), :func:`credit_root_tao_fused`."""
    twin = credit_root_tao_fused if choose_backend(backend) == "fused" else credit_root_tao_torch
    twin(balances, coldkey, root_payout, root_alpha, tao_out)


def drain(
    state: NetworkState,
    params: EconomyParams,
    due: torch.Tensor,
    block: int,
    *,
    bonds_owned: bool = False,
    backend: Backend = "auto",
) -> tuple[NetworkState, DrainResult]:
    """Run the epoch of every ``due`` subnet at ``block`` and pay out its pending pots.

    Parameters
    ----------
    state, params
        The network and the economy's parameters.
    due
        ``[S]`` bool, subnets whose epoch runs now (:func:`due_subnets`).
    block
        The block the epochs run at (becomes their ``last_epoch_block``).
    bonds_owned
        The caller owns ``state.bonds`` (no other state shares it): new bond rows are written
        in place instead of into a copy of the whole ``[S, n, n]`` tensor (``run_blocks``).
    backend
        ``"auto"``, ``"torch"`` or ``"fused"`` (:mod:`protocol._numba`): the implementation of
        the epochs, the epoch stake, the payouts and the root-TAO credit.

    Returns
    -------
    tuple
        ``(state, DrainResult)``; the pots of due subnets are empty afterwards.
    """
    return drain_with_views(state, params, due, block, {}, bonds_owned=bonds_owned, backend=backend)


def drain_with_views(
    state: NetworkState,
    params: EconomyParams,
    due: torch.Tensor,
    block: int,
    views: dict[str, np.ndarray],
    *,
    bonds_owned: bool = False,
    backend: Backend = "auto",
) -> tuple[NetworkState, DrainResult]:
    """:func:`drain`, given numpy views of some of the state's fields.

    ``views[name]`` must share its memory with ``state.<name>`` (as ``.numpy()`` of it, e.g.
    :func:`protocol.economy.coinbase.run_coinbase_with_views`'s): the whole-network fused
    path reads them instead of converting those tensors again. Same results as :func:`drain`.
    """
    return _drain_with_views(
        state, params, due.numpy(), block, views, {}, bonds_owned=bonds_owned, backend=backend
    )


def _drain_with_views(
    state: NetworkState,
    params: EconomyParams,
    due_np: np.ndarray,
    block: int,
    views: dict[str, np.ndarray],
    changes: dict[str, Any],
    *,
    bonds_owned: bool,
    backend: Backend,
) -> tuple[NetworkState, DrainResult]:
    """:func:`drain_with_views` with the due mask in numpy (``due_np``, ``[S]`` bool) and
    ``changes`` (fields the drain does not read or write, as :meth:`NetworkState.replace`
    takes them) made in the same new state: the step's other changes without a state of
    their own."""
    choose_backend(backend)  # a bad name fails here, not at the first block with a subnet due
    # The [S] bookkeeping runs in numpy on views of the state's tensors: the same float64
    # operations as in torch (bit-identical), without a tensor dispatch each.
    n_due = np.count_nonzero(due_np)  # (one C call: cheaper than .any() and .all())
    if n_due == 0:
        nothing = DrainResult.nothing(state.n_subnets, state.n_uids)
        return (state.replace(**changes) if changes else state), nothing

    if n_due == due_np.size and choose_backend(backend) == "fused":
        fast = _drain_all_fused(
            state, params, block, views, bonds_owned=bonds_owned, backend=backend, changes=changes
        )
        if fast is not None:
            return fast

    S, n = state.n_subnets, state.n_uids
    f64 = torch.float64
    due = torch.from_numpy(due_np)
    # Everything below works on the B due subnets only ([B, n]); results are scattered back.
    idx_np = np.flatnonzero(due_np)
    idx = torch.from_numpy(idx_np)
    B = int(idx_np.size)
    # Every subnet due (tempo mode): idx is 0..S-1, so [S, n] gathers and scatters are skipped.
    all_due = B == S

    def rows_of(values: torch.Tensor) -> torch.Tensor:
        """The due subnets' rows of ``values`` (the tensor itself when every subnet is due)."""
        return values if all_due else values[idx]

    root_weighted, stake_due = _due_epoch_stake(state, params, None if all_due else idx, backend)
    groups = _epoch_groups(state, params, due)
    # One group covering every slot (the usual tempo-mode case): no gathers or copies.
    whole = len(groups) == 1 and B == S
    bonds = state.bonds if (whole or bonds_owned) else state.bonds.clone()
    pending = (
        state.pending_server.numpy() + state.pending_validator.numpy()
    ) + state.pending_root.numpy()
    drained = torch.from_numpy(np.where(due_np, pending, 0.0))
    if not whole:  # filled group by group below
        position = torch.full((S,), -1, dtype=torch.int64)
        position[idx] = torch.arange(B)
        validator_permit = state.validator_permit.clone()
        emission = state.emission.clone()
        incentive_due = torch.zeros(B, n, dtype=f64)
        dividends_due = torch.zeros(B, n, dtype=f64)
    for index, epoch_params in groups:
        rows = None if whole else position[index]

        def group_of(values: torch.Tensor, index: torch.Tensor = index) -> torch.Tensor:
            """The group's rows of ``values`` (the tensor itself when it covers every slot)."""
            return values if whole else values[index]

        result = yuma_epoch(
            group_of(state.weights),
            stake_due if whole else stake_due[rows],
            group_of(state.bonds),
            params=epoch_params,
            rao_emission=group_of(drained),
            last_update=group_of(state.last_update),
            registration=group_of(state.registration_block),
            validator_permit_prev=group_of(state.validator_permit),
            owner_uid=group_of(state.owner_uid),
            # a [B] tensor: taken as it is (an int is converted per call)
            block=torch.from_numpy(np.full(int(index.numel()), block, dtype=np.int64)),
            lms=group_of(state.last_epoch_block),
            mechanism=params.mechanism,
            # the gathered rows are a fresh copy, and a whole-network call may write into
            # state.bonds when the caller owns it: either way no second [B, n, n] copy
            inplace_bonds=not whole or bonds_owned,
            backend=backend,
        )
        if whole:  # fresh tensors of the epoch: taken as they are
            bonds = result.bonds
            validator_permit, emission = result.validator_permit, result.emission
            incentive_due, dividends_due = result.incentive, result.validator_emission
            continue
        bonds[index] = result.bonds
        validator_permit[index] = result.validator_permit
        emission[index] = result.emission
        incentive_due[rows] = result.incentive
        dividends_due[rows] = result.validator_emission

    coldkey = rows_of(state.uid_coldkey)
    pay = payouts(
        PayoutInputs(
            incentive=incentive_due,
            dividends=dividends_due,
            coldkey=coldkey,
            hotkey_alpha=rows_of(state.hotkey_alpha),
            root_weighted=root_weighted,
            owner_shares=rows_of(state.owner_shares),
            total_shares=rows_of(state.total_shares),
            # read only by the payouts: the state's own tensors when every subnet is due
            server=rows_of(state.pending_server),
            validator=rows_of(state.pending_validator),
            root_pot=rows_of(state.pending_root),
            owner_account=rows_of(state.owner_account),
            owner_uid=rows_of(state.owner_uid),
            owner_cut=rows_of(state.pending_owner),
            delegate_take=params.delegate_take,
        ),
        backend=backend,
    )
    withheld, recycled = pay.withheld, pay.recycled
    # Root dividends: one swap per subnet, TAO to the validators' coldkeys pro rata.
    root_alpha = pay.root_alpha
    tao_out_np = swap_alpha_for_tao_array(
        rows_of(state.pool_tao).numpy(),
        rows_of(state.pool_alpha).numpy(),
        rows_of(state.pool_weight_alpha).numpy(),
        root_alpha.numpy(),
        params.fee_rate,
    )
    tao_out = torch.from_numpy(tao_out_np)
    balances = state.balances.clone()
    credit_root_tao(balances, coldkey, pay.root_payout, root_alpha, tao_out, backend=backend)

    withheld_np = withheld.numpy()
    burned = withheld_np if params.burn_owner_incentive else np.zeros_like(withheld_np)
    owner_recycled = withheld_np - burned
    recycled_all = recycled.numpy() + owner_recycled

    def per_subnet(values: np.ndarray) -> np.ndarray:
        """``[B]`` fresh values of the due subnets as ``[S]`` (zero elsewhere)."""
        if all_due:
            return values
        out = np.zeros(S)
        out[idx_np] = values
        return out

    def per_uid(values: torch.Tensor) -> torch.Tensor:
        """``[B, n]`` fresh values of the due subnets as ``[S, n]`` (zero elsewhere)."""
        if all_due:
            return values
        out = np.zeros((S, n))
        out[idx_np] = values.numpy()
        return torch.from_numpy(out)

    def per_due(old: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``old`` with the due subnets' rows replaced by the fresh ``values``."""
        if all_due:
            return values
        out = old.numpy().copy()
        out[idx_np] = values.numpy()
        return torch.from_numpy(out)

    def added(old: torch.Tensor, values: np.ndarray) -> torch.Tensor:
        """``old + values`` (``[S]``) as a fresh tensor."""
        return torch.from_numpy(old.numpy() + values)

    tao_out_s = per_subnet(tao_out_np)
    root_alpha_s = per_subnet(root_alpha.numpy())
    pots = ("pending_server", "pending_validator", "pending_root", "pending_owner")
    if all_due:  # the same values as the selects below, without a select each
        cleared = {name: torch.from_numpy(np.zeros(S)) for name in pots}
        last_epoch_block = np.full(S, block, dtype=np.int64)
    else:
        cleared = {
            name: torch.from_numpy(np.where(due_np, 0.0, getattr(state, name).numpy()))
            for name in pots
        }
        due_i = due_np.astype(np.int64)
        last_epoch_block = due_i * block + (1 - due_i) * state.last_epoch_block.numpy()
    new_state = state.replace(
        pool_tao=torch.from_numpy(state.pool_tao.numpy() - tao_out_s),
        pool_alpha=added(state.pool_alpha, root_alpha_s),
        root_sell_acc=added(state.root_sell_acc, tao_out_s),
        balances=balances,
        hotkey_alpha=per_due(state.hotkey_alpha, pay.hotkey_alpha),
        owner_shares=per_due(state.owner_shares, pay.owner_shares),
        total_shares=per_due(state.total_shares, pay.total_shares),
        alpha_burned=added(state.alpha_burned, per_subnet(burned + pay.owner_cut_burned.numpy())),
        alpha_recycled=added(state.alpha_recycled, per_subnet(recycled_all)),
        miner_burned=per_due(state.miner_burned, pay.burned_frac),
        **cleared,
        bonds=bonds,
        validator_permit=validator_permit,
        emission=emission,
        last_epoch_block=torch.from_numpy(last_epoch_block),
        **changes,
    )
    as_tensor = torch.from_numpy
    result = DrainResult(
        drained=drained,
        miner_alpha=as_tensor(per_subnet(pay.miner_alpha.numpy())),
        owner_incentive_burned=as_tensor(per_subnet(withheld_np)),
        validator_alpha=as_tensor(per_subnet(pay.validator_alpha.numpy())),
        delegate_take=as_tensor(per_subnet(pay.delegate_take.numpy())),
        root_alpha_sold=as_tensor(root_alpha_s),
        root_tao_paid=as_tensor(tao_out_s),
        owner_cut_alpha=as_tensor(per_subnet(state.pending_owner.numpy()[idx_np])),
        recycled_alpha=as_tensor(per_subnet(recycled_all)),
        incentive=per_uid(pay.incentive),
        dividends=per_uid(pay.dividends),
    )
    return new_state, result


#: The state's arrays the fused whole-network drain reads, with the dtype each must have.
_FUSED_DRAIN_DTYPES: dict[str, type] = {
    "weights": np.float64,
    "bonds": np.float64,
    "uid_coldkey": np.int64,
    "root_stake": np.float64,
    "hotkey_alpha": np.float64,
    "owner_shares": np.float64,
    "total_shares": np.float64,
    "last_update": np.int64,
    "registration_block": np.int64,
    "validator_permit": np.bool_,
    "owner_uid": np.int64,
    "owner_account": np.int64,
    "last_epoch_block": np.int64,
    "pending_server": np.float64,
    "pending_validator": np.float64,
    "pending_root": np.float64,
    "pending_owner": np.float64,
    "pool_tao": np.float64,
    "pool_alpha": np.float64,
    "pool_weight_alpha": np.float64,
    "balances": np.float64,
    "root_sell_acc": np.float64,
    "alpha_burned": np.float64,
    "alpha_recycled": np.float64,
}


#: :data:`_FUSED_DRAIN_DTYPES` as dtype objects.
_FUSED_DRAIN_DTYPE_OBJECTS: dict[str, np.dtype] = {
    name: np.dtype(dtype) for name, dtype in _FUSED_DRAIN_DTYPES.items()
}


#: The state fields of :data:`_FUSED_DRAIN_DTYPES` and their dtypes, in one order.
_FUSED_DRAIN_NAMES: tuple[str, ...] = tuple(_FUSED_DRAIN_DTYPE_OBJECTS)
_FUSED_DRAIN_DTYPE_LIST: tuple[np.dtype, ...] = tuple(_FUSED_DRAIN_DTYPE_OBJECTS.values())

#: :func:`_fused_epoch_params`'s answers, by ``(id(params), tempo, backend)``; each entry
#: holds its params and mechanism (so an id is not reused while cached, and a mechanism
#: registered anew under the name is looked at again).
_FUSED_EPOCH_PARAMS: dict[tuple[int, int, str], tuple[Any, Any, EpochParams | None]] = {}
_FUSED_EPOCH_PARAMS_SIZE = 64


def _fused_epoch_params(
    params: EconomyParams, mechanism: Any, tempo: int, backend: Backend
) -> EpochParams | None:
    """The resolved epoch parameters of a whole-network drain at ``tempo``, or None where the
    fused epoch does not take them (:func:`fused_epoch_applies`): what the drain would work
    out at each step from the same immutable parameters, worked out once."""
    key = (id(params), tempo, backend)
    hit = _FUSED_EPOCH_PARAMS.get(key)
    if hit is not None and hit[0] is params and hit[1] is mechanism:
        return hit[2]
    base = params.epoch_params or _DEFAULT_EPOCH_PARAMS
    epoch_params = mechanism.resolve_params(base.with_(tempo=tempo))
    found = epoch_params if fused_epoch_applies(epoch_params, mechanism, backend) else None
    if len(_FUSED_EPOCH_PARAMS) >= _FUSED_EPOCH_PARAMS_SIZE:
        _FUSED_EPOCH_PARAMS.clear()
    _FUSED_EPOCH_PARAMS[key] = (params, mechanism, found)
    return found


#: No changes (:func:`_drain_all_fused`'s default).
_NO_CHANGES: Mapping[str, Any] = MappingProxyType({})


def _filled(size: int, value: int) -> np.ndarray:
    """``np.full(size, value, dtype=np.int64)``, without ``np.full``'s Python overhead."""
    out = np.empty(size, dtype=np.int64)
    out.fill(value)
    return out


def _drain_all_fused(
    state: NetworkState,
    params: EconomyParams,
    block: int,
    views: dict[str, np.ndarray],
    *,
    bonds_owned: bool,
    backend: Backend,
    changes: Mapping[str, Any] = _NO_CHANGES,
) -> tuple[NetworkState, DrainResult] | None:
    """:func:`drain` of a step where every subnet is due in one epoch group (tempo mode),
    on the fused backend (``views`` as in :func:`drain_with_views`, ``changes`` as in
    :func:`_drain_with_views`): the same kernels in the
    same order on numpy views of the state, without the per-group gathers, the tensor round
    trips and ``yuma_epoch``'s argument checks (the state's shapes are the network's).
    Bit-identical to the general path.

    ``None`` where the general path must run: per-subnet epoch overrides, several tempos,
    an empty network, a mechanism or parameters the fused epoch does not take
    (:func:`protocol.yuma.float_epoch.fused_epoch_applies`), or state arrays of another
    dtype or layout.
    """
    if state.epoch_overrides:
        return None
    tempos = set(state.view("tempo").tolist())  # 16 ints: cheaper than a numpy compare
    if len(tempos) != 1:  # (none in an empty network)
        return None
    mechanism = get_mechanism(params.mechanism)
    epoch_params = _fused_epoch_params(params, mechanism, int(tempos.pop()), backend)
    if epoch_params is None:
        return None
    # numpy views of the state's tensors (those given, else the state's own, converted once),
    # each of its dtype (the builtin dtypes are singletons: `is` first) and C-contiguous
    arrays = state.views(_FUSED_DRAIN_NAMES, given=views)
    for array, dtype in zip(arrays, _FUSED_DRAIN_DTYPE_LIST, strict=True):
        if (array.dtype is not dtype and array.dtype != dtype) or not array.flags.c_contiguous:
            return None
    view = dict(zip(_FUSED_DRAIN_NAMES, arrays, strict=True))
    S, n = view["uid_coldkey"].shape
    if n == 0:
        return None

    # the epoch stake ([S, n]) and the pots to split
    root_weighted = np.empty((S, n))
    stake = np.empty((S, n))
    epoch_stake_rows(
        view["uid_coldkey"],
        view["root_stake"],
        view["hotkey_alpha"],
        float(params.tao_weight),
        root_weighted,
        stake,
    )
    drained = (view["pending_server"] + view["pending_validator"]) + view["pending_root"]
    # the epochs write their bond rows into the caller's bonds, or into a copy of them
    bonds = state.bonds if bonds_owned else fresh_copy(state.bonds)
    epoch = fused_epoch_arrays(
        view["weights"],
        stake,
        view["bonds"] if bonds_owned else bonds.numpy(),
        drained,
        view["owner_uid"],
        view["last_epoch_block"],
        epoch_params,
        mechanism,
        last_update=view["last_update"],
        registration=view["registration_block"],
        block=_filled(S, block),
        permit_prev_in=view["validator_permit"],
        # rows the weight writers and registration know to be all zero are not read
        live_rows=None if state.live_rows is None else state.live_rows.numpy(),
    )

    # payouts (payouts_fused on the state's arrays)
    sums = np.empty((len(PAYOUT_SUMS), S))
    uid_fields = PayoutBuffers._fields[1:]
    per_uid = dict(zip(uid_fields, np.empty((len(uid_fields), S, n)), strict=True))  # one block
    payout_rows(
        PayoutArrays(
            incentive=epoch.incentive,
            dividends=epoch.validator_emission,
            coldkey=view["uid_coldkey"],
            hotkey_alpha=view["hotkey_alpha"],
            root_weighted=root_weighted,
            owner_shares=view["owner_shares"],
            total_shares=view["total_shares"],
            server=view["pending_server"],
            validator=view["pending_validator"],
            root_pot=view["pending_root"],
            owner_account=view["owner_account"],
            owner_uid=view["owner_uid"],
            owner_cut=view["pending_owner"],
            delegate_take=float(params.delegate_take),
        ),
        PayoutBuffers(sums=sums.T, **per_uid),
    )

    # root dividends: one swap per subnet (the power in torch, as
    # swap_alpha_for_tao_array takes it), TAO to the validators' coldkeys pro rata
    ratio, exponent = np.empty((2, S))
    root_sale_power_args(
        view["pool_alpha"],
        view["pool_weight_alpha"],
        sums[PAYOUT_SUMS.index("root_alpha")],
        float(params.fee_rate),
        ratio,
        exponent,
    )
    as_tensor = torch.from_numpy
    power = torch.pow(as_tensor(ratio), as_tensor(exponent)).numpy()
    balances = view["balances"].copy()
    settled = np.empty((len(SETTLE_ROWS), S))
    settle_root_sale(
        power,
        view["pool_tao"],
        view["pool_alpha"],
        view["root_sell_acc"],
        view["alpha_burned"],
        view["alpha_recycled"],
        sums,
        bool(params.burn_owner_incentive),
        balances,
        view["uid_coldkey"],
        per_uid["root_payout"],
        settled,
    )
    tao_out, pool_tao, pool_alpha, root_sell_acc, alpha_burned, alpha_recycled, recycled = settled
    paid = dict(zip(PAYOUT_SUMS, sums, strict=True))
    cleared = np.zeros((4, S))  # the four pots, drained
    new_state = state.replace_arrays(
        {
            "pool_tao": pool_tao,
            "pool_alpha": pool_alpha,
            "root_sell_acc": root_sell_acc,
            "balances": balances,
            "hotkey_alpha": per_uid["hotkey_alpha"],
            "owner_shares": per_uid["owner_shares"],
            "total_shares": per_uid["total_shares"],
            "alpha_burned": alpha_burned,
            "alpha_recycled": alpha_recycled,
            "miner_burned": paid["burned_frac"],
            "pending_server": cleared[0],
            "pending_validator": cleared[1],
            "pending_root": cleared[2],
            "pending_owner": cleared[3],
            "validator_permit": epoch.permit,
            "emission": epoch.emission,
            "last_epoch_block": _filled(S, block),
        },
        # the caller's own bonds stay the state's (and keep their view)
        **({} if bonds_owned else {"bonds": bonds}),
        **changes,
    )
    # the result's tensors are made when read (few callers read a step's drain)
    result = DrainResult.of_arrays(
        {
            "drained": drained,
            "miner_alpha": paid["miner_alpha"],
            "owner_incentive_burned": paid["withheld"],
            "validator_alpha": paid["validator_alpha"],
            "delegate_take": paid["delegate_take"],
            "root_alpha_sold": paid["root_alpha"],
            "root_tao_paid": tao_out,
            "owner_cut_alpha": view["pending_owner"].copy(),
            "recycled_alpha": recycled,
            "incentive": per_uid["incentive"],
            "dividends": per_uid["dividends"],
        }
    )
    return new_state, result
