"""A fused CPU kernel (numba) for the drain's payout arithmetic (:mod:`protocol.economy.drain`).

The torch path (:func:`protocol.economy.drain.payouts_torch`) spends ~50 element-wise ops and
reductions over the ``[B, n]`` due rows per drain; here each subnet's rows are walked a few
times while they sit in the L1 cache. Element-wise arithmetic is written in the torch path's
order (same float results); row sums are sequential here and pairwise in torch, so sums and
what is divided by them agree to rounding (~1e-16 relative). The root-dividend TAO credit
(:func:`credit_root_tao`) adds in the same order as torch's ``index_add_`` (identical results).
No fast-math flag (:func:`protocol._numba.jit`): the element-wise results must be torch's.
The whole-network drain's root sale runs in two passes around torch's power
(:func:`root_sale_power_args`, :func:`settle_root_sale`: the pools, burn and recycle totals and
the TAO credit), the numpy path's operations in its order.

:func:`payout_rows` takes its arrays as two named tuples, the numpy views of
:class:`protocol.economy.drain.PayoutInputs` and of the outputs, and hands their fields to the
kernel one by one (numba types an array argument in C, a tuple of arrays in Python).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from protocol._numba import jit

__all__ = [
    "SETTLE_ROWS",
    "PayoutArrays",
    "PayoutBuffers",
    "credit_root_tao",
    "epoch_stake_rows",
    "payout_rows",
    "root_sale_power_args",
    "settle_root_sale",
]

#: Guard of the torch path's ``clamp(min=1e-300)`` before a division.
_TINY = 1e-300

#: Columns of :attr:`PayoutBuffers.sums`, in order.
PAYOUT_SUMS: tuple[str, ...] = (
    "miner_alpha",
    "withheld",
    "burned_frac",
    "validator_alpha",
    "delegate_take",
    "recycled",
    "owner_cut_burned",
    "root_alpha",
)


class PayoutArrays(NamedTuple):
    """What the payouts of ``B`` due subnets read (numpy views; see ``PayoutInputs``).

    ``[B, n]``: ``incentive``, ``dividends`` (the epoch's incentive and validator emission,
    masked to registered uids by the kernel), ``coldkey`` (int64, -1: unregistered),
    ``hotkey_alpha``, ``root_weighted`` (TaoWeight × root stake), ``owner_shares``,
    ``total_shares``. ``[B]``: the pending ``server``, ``validator``, ``root_pot`` and
    ``owner_cut`` pots, ``owner_account`` and ``owner_uid`` (int64, -1: none).
    ``delegate_take``: share of a validator's alpha payout kept by the hotkey's owner.
    """

    incentive: np.ndarray
    dividends: np.ndarray
    coldkey: np.ndarray
    hotkey_alpha: np.ndarray
    root_weighted: np.ndarray
    owner_shares: np.ndarray
    total_shares: np.ndarray
    server: np.ndarray
    validator: np.ndarray
    root_pot: np.ndarray
    owner_account: np.ndarray
    owner_uid: np.ndarray
    owner_cut: np.ndarray
    delegate_take: float


class PayoutBuffers(NamedTuple):
    """Where :func:`payout_rows` writes (numpy arrays, filled in place).

    ``sums`` ``[B, 8]`` per subnet, the columns of :data:`PAYOUT_SUMS`: miner alpha paid,
    owner-hotkey incentive withheld, burned fraction of the miner pot, validator alpha paid,
    delegate take, recycled pots, owner cut burned (no owner hotkey), root alpha to sell.
    ``[B, n]``: the masked ``incentive`` and ``dividends``, the credited ``hotkey_alpha``,
    ``owner_shares`` and ``total_shares``, and each uid's ``root_payout`` alpha.
    """

    sums: np.ndarray
    incentive: np.ndarray
    dividends: np.ndarray
    hotkey_alpha: np.ndarray
    owner_shares: np.ndarray
    total_shares: np.ndarray
    root_payout: np.ndarray


def payout_rows(rows: PayoutArrays, out: PayoutBuffers) -> None:
    """Miner, validator, take, owner-cut and root payouts of ``B`` due subnets.

    Parameters
    ----------
    rows
        The due rows and pots (:class:`PayoutArrays`).
    out
        The payouts (:class:`PayoutBuffers`), written here.
    """
    _payout_rows(*rows, *out)


@jit
def _payout_rows(
    incentive: np.ndarray,
    dividends: np.ndarray,
    coldkey: np.ndarray,
    hotkey: np.ndarray,
    root_weighted: np.ndarray,
    owner_shares: np.ndarray,
    total_shares: np.ndarray,
    server: np.ndarray,
    validator: np.ndarray,
    root_pot: np.ndarray,
    owner_account: np.ndarray,
    owner_uid: np.ndarray,
    owner_cut: np.ndarray,
    delegate_take: float,
    sums_out: np.ndarray,
    incentive_out: np.ndarray,
    dividends_out: np.ndarray,
    hotkey_out: np.ndarray,
    owner_shares_out: np.ndarray,
    total_shares_out: np.ndarray,
    root_payout_out: np.ndarray,
) -> None:
    """:func:`payout_rows` on the fields of :class:`PayoutArrays` and :class:`PayoutBuffers`,
    in their order."""
    n_batch, n = incentive.shape
    miner_pay = np.empty(n)
    alpha_divs = np.empty(n)
    root_divs = np.empty(n)
    for b in range(n_batch):
        # miners: the server pot by incentive; with no incentive it goes to the validators
        inc_sum = 0.0
        for j in range(n):
            registered = coldkey[b, j] >= 0
            inc = incentive[b, j] if registered else 0.0
            incentive_out[b, j] = inc
            inc_sum += inc
            dividends_out[b, j] = dividends[b, j] if registered else 0.0
        has_inc = inc_sum > 0
        validator_pot = validator[b] + (0.0 if has_inc else server[b])
        miner_pot = server[b] if has_inc else 0.0
        inc_div = max(inc_sum, _TINY)
        withheld = 0.0
        miner_total = 0.0
        owner = owner_account[b]
        for j in range(n):
            pay = miner_pot * incentive_out[b, j] / inc_div
            if coldkey[b, j] == owner:
                withheld += pay
                pay = 0.0
            miner_pay[j] = pay
            miner_total += pay
        burned_frac = withheld / max(miner_pot, _TINY) if miner_pot > 0 else 0.0

        # validators: dividends split into alpha and root parts by each hotkey's root proportion
        alpha_sum = 0.0
        root_sum = 0.0
        for j in range(n):
            denom = hotkey[b, j] + root_weighted[b, j]
            rp = root_weighted[b, j] / max(denom, _TINY) if denom > 0 else 0.0
            root_div = dividends_out[b, j] * rp
            alpha_div = dividends_out[b, j] - root_div
            root_divs[j] = root_div
            alpha_divs[j] = alpha_div
            alpha_sum += alpha_div
            root_sum += root_div
        recycled = (0.0 if alpha_sum > 0 else validator_pot) + (
            0.0 if root_sum > 0 else root_pot[b]
        )

        # owner cut: staked to the owner hotkey (burned if the owner has no registered hotkey)
        owner_at = max(owner_uid[b], 0)
        owner_ok = owner_uid[b] >= 0 and coldkey[b, owner_at] >= 0
        owner_credit = owner_cut[b] if owner_ok else 0.0
        owner_cut_burned = 0.0 if owner_ok else owner_cut[b]

        # credit stake: own stake (miner incentive, take, owner cut) gets new shares; the
        # nominator part raises the hotkey's alpha for every holder
        alpha_div_by = max(alpha_sum, _TINY)
        root_div_by = max(root_sum, _TINY)
        alpha_total = 0.0
        take_total = 0.0
        root_alpha = 0.0
        for j in range(n):
            alpha_payout = validator_pot * alpha_divs[j] / alpha_div_by if alpha_sum > 0 else 0.0
            root_payout = root_pot[b] * root_divs[j] / root_div_by if root_sum > 0 else 0.0
            root_payout_out[b, j] = root_payout
            root_alpha += root_payout
            take = delegate_take * alpha_payout
            nominator_part = alpha_payout - take
            alpha_total += alpha_payout
            take_total += take
            no_holders = total_shares[b, j] <= 0
            own = miner_pay[j] + take + (owner_credit if j == owner_at else 0.0)
            own = own + (nominator_part if no_holders else 0.0)
            held = hotkey[b, j]
            shares = total_shares[b, j]
            rate = shares / max(held, _TINY) if (held > 0 and shares > 0) else 1.0
            new_shares = own * rate
            hotkey_out[b, j] = held + own + (0.0 if no_holders else nominator_part)
            owner_shares_out[b, j] = owner_shares[b, j] + new_shares
            total_shares_out[b, j] = shares + new_shares
        sums_out[b, 0] = miner_total
        sums_out[b, 1] = withheld
        sums_out[b, 2] = burned_frac
        sums_out[b, 3] = alpha_total
        sums_out[b, 4] = take_total
        sums_out[b, 5] = recycled
        sums_out[b, 6] = owner_cut_burned
        sums_out[b, 7] = root_alpha


@jit
def credit_root_tao(
    balances: np.ndarray,
    coldkey: np.ndarray,
    root_payout: np.ndarray,
    root_alpha: np.ndarray,
    tao_out: np.ndarray,
) -> None:
    """Pay each subnet's root-sale TAO ``tao_out`` ``[B]`` to the coldkeys pro rata (in place).

    Uid ``(b, j)`` gets ``tao_out[b] · root_payout[b, j] / root_alpha[b]``, added to
    ``balances[max(coldkey[b, j], 0)]`` in row-major order (as ``index_add_`` on the flattened
    rows).
    """
    n_batch, n = root_payout.shape
    for b in range(n_batch):
        sold = root_alpha[b] > 0
        divisor = max(root_alpha[b], _TINY)
        for j in range(n):
            each = tao_out[b] * root_payout[b, j] / divisor if sold else 0.0
            balances[max(coldkey[b, j], 0)] += each


@jit
def epoch_stake_rows(
    coldkey: np.ndarray,
    root_stake: np.ndarray,
    hotkey: np.ndarray,
    tao_weight: float,
    root_weighted_out: np.ndarray,
    stake_out: np.ndarray,
) -> None:
    """TaoWeight × root stake per uid and the epoch stake (alpha + that), ``[B, n]`` each.

    A uid's root stake is its coldkey's ``root_stake`` shared equally by the coldkey's uids on
    the subnet (unregistered uids, ``coldkey < 0``: 0); the same divisions as the torch path
    (``protocol.economy.drain._uid_root_stake``), so the same values.
    """
    n_batch, n = coldkey.shape
    counts = np.zeros(root_stake.shape[0])
    for b in range(n_batch):
        for j in range(n):
            if coldkey[b, j] >= 0:
                counts[coldkey[b, j]] += 1.0
        for j in range(n):
            account = coldkey[b, j]
            share = root_stake[account] / max(counts[account], 1.0) if account >= 0 else 0.0
            weighted = tao_weight * share
            root_weighted_out[b, j] = weighted
            stake_out[b, j] = hotkey[b, j] + weighted
        for j in range(n):  # reset only the entries this subnet touched
            if coldkey[b, j] >= 0:
                counts[coldkey[b, j]] = 0.0


@jit
def _at_least_tiny(value: float) -> float:
    """``np.maximum(value, 1e-300)`` of one float (a NaN stays NaN, as numpy's)."""
    return _TINY if value < _TINY else value


@jit
def root_sale_power_args(
    pool_alpha: np.ndarray,
    w1: np.ndarray,
    alpha_in: np.ndarray,
    fee_rate: float,
    ratio_out: np.ndarray,
    exponent_out: np.ndarray,
) -> None:
    """Base and exponent of the power in
    :func:`protocol.economy.amm.swap_alpha_for_tao_array` ``[S]``: the same operations in the
    same order (each correctly rounded, so the same values); the power itself stays in torch."""
    for i in range(alpha_in.shape[0]):
        net_in = alpha_in[i] * (1.0 - fee_rate)
        w2 = 1.0 - w1[i]
        ratio_out[i] = pool_alpha[i] / _at_least_tiny(pool_alpha[i] + net_in)
        exponent_out[i] = w1[i] / _at_least_tiny(w2)


#: Rows of :data:`PAYOUT_SUMS` that :func:`settle_root_sale` reads.
_WITHHELD = PAYOUT_SUMS.index("withheld")
_RECYCLED = PAYOUT_SUMS.index("recycled")
_OWNER_CUT_BURNED = PAYOUT_SUMS.index("owner_cut_burned")
_ROOT_ALPHA = PAYOUT_SUMS.index("root_alpha")

#: Rows of :func:`settle_root_sale`'s output block, in order.
SETTLE_ROWS: tuple[str, ...] = (
    "tao_out",
    "pool_tao",
    "pool_alpha",
    "root_sell_acc",
    "alpha_burned",
    "alpha_recycled",
    "recycled",
)


@jit
def settle_root_sale(
    power: np.ndarray,
    pool_tao: np.ndarray,
    pool_alpha: np.ndarray,
    root_sell_acc: np.ndarray,
    alpha_burned: np.ndarray,
    alpha_recycled: np.ndarray,
    sums: np.ndarray,
    burn_owner_incentive: bool,
    balances: np.ndarray,
    coldkey: np.ndarray,
    root_payout: np.ndarray,
    out: np.ndarray,
) -> None:
    """The whole-network drain after the root sale's power (``power`` ``[S]``, torch's).

    Per subnet, the rows of ``out`` (:data:`SETTLE_ROWS`): the TAO the root alpha sells for
    (:func:`protocol.economy.amm.swap_alpha_for_tao_array`'s last two operations), the pools
    and root-sell accumulator after the sale, the burned and recycled alpha totals (withheld
    owner incentive burned, or recycled with the empty pots) and the recycled amount.
    ``sums`` ``[8, S]`` are :func:`payout_rows`'s, one row per :data:`PAYOUT_SUMS` entry. The
    sale's TAO is credited to ``balances`` in place (:func:`credit_root_tao`). The same
    operations in the same order as the numpy path of :func:`protocol.economy.drain.drain`:
    the same values.
    """
    size = power.shape[0]
    tao_out = out[0]
    for i in range(size):
        root_alpha = sums[_ROOT_ALPHA, i]
        sale = pool_tao[i] * (1.0 - power[i])
        tao = sale if (root_alpha > 0 and pool_alpha[i] > 0) else 0.0
        tao_out[i] = tao
        out[1, i] = pool_tao[i] - tao
        out[2, i] = pool_alpha[i] + root_alpha
        out[3, i] = root_sell_acc[i] + tao
        withheld = sums[_WITHHELD, i]
        burned = withheld if burn_owner_incentive else 0.0
        recycled = sums[_RECYCLED, i] + (withheld - burned)
        out[4, i] = alpha_burned[i] + (burned + sums[_OWNER_CUT_BURNED, i])
        out[5, i] = alpha_recycled[i] + recycled
        out[6, i] = recycled
    credit_root_tao(balances, coldkey, root_payout, sums[_ROOT_ALPHA], tao_out)
