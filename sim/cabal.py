"""The cabal's gain: what a validator cabal's members earned against their fair share.

A cabal validator over-weights the miner uids the cabal controls (``validators.cabal_miners``,
``cabal_weight_boost``). Whether that pays depends on Yuma's consensus: below kappa of the stake
the honest majority clips the inflated weights (and the bonds penalty cuts the cabal
validators' dividends), above it the cabal sets consensus. The KPIs here measure the outcome
from what each epoch of the run paid, on every subnet that has a cabal validator:

* **miners**: the cabal miners' share of the epoch's incentive, against their *fair share*:
  the share of weight the subnet's honest validators (the ``honest`` strategy, stake-weighted)
  gave them, i.e. what an honest evaluation would pay them. Weight copiers are no reference:
  they copy a consensus the cabal may have captured.
* **validators**: the cabal validators' share of the epoch's dividends, against their share of
  the validators' stake weight in Yuma (alpha plus TAO weight times root stake): what dividends
  in proportion to stake would pay.

Each epoch's shares are weighted by the alpha it paid to miners (or validators) on that subnet,
valued in TAO at the step's spot price, so the totals add up across subnets. ``cabal.gain`` is
the members' total pay over their total fair pay, minus 1: 0 when the cabal earns what honest
weighting would pay it, 0.5 when it earns half as much again. ``cabal.excess_tao`` is the same
difference in TAO over the run. An epoch where a subnet has no honest validator setting weights
has no fair miner share and is left out of the miner totals. The KPIs exist only in runs with a
cabal validator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from protocol._numba import jit, pairwise_sum
from protocol.economy.state import EconomyParams, NetworkState
from protocol.units import RAO_PER_TAO

if TYPE_CHECKING:
    from sim.desks.work import WorkDesk

__all__ = ["CabalHost", "CabalLedger"]


class CabalHost(Protocol):
    """What the cabal ledger reads of a model."""

    state: NetworkState
    params: EconomyParams
    validator_uids: np.ndarray
    work: WorkDesk

    @property
    def validator_strategy(self) -> np.ndarray: ...

    def alpha_prices(self) -> np.ndarray: ...


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else float("nan")


@jit
def _fair_shares(
    weights: np.ndarray,
    subnets: np.ndarray,
    stake: np.ndarray,
    honest: np.ndarray,
    miner_masks: np.ndarray,
    validator_masks: np.ndarray,
    fair: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba
    """The fair shares ``[2, k]`` into ``fair``: the honest validators' stake-weighted weight
    share on the cabal's miners (NaN without an honest validator setting weights) and the
    cabal validators' share of the validators' stake. The array version's operations (kept
    in the tests), its sums in numpy's order: each weight row and each masked row pairwise,
    the stake-weighted reference slot by slot from 0.0 (as ``einsum`` adds it)."""
    k = subnets.shape[0]
    n_slots = stake.shape[1]
    n = weights.shape[2]
    row = np.empty(max(n, n_slots))
    reference = np.zeros(n)
    for j in range(k):
        s = subnets[j]
        reference[:] = 0.0
        for v in range(n_slots):
            source = weights[s, v]  # summed and added where it lies (a 1-d view vectorises)
            setting = honest[j, v] and (0.0 + pairwise_sum(source, 0, n)) > 0
            weight = stake[j, v] if setting else 0.0
            for u in range(n):
                reference[u] += weight * source[u]
        for u in range(n):
            row[u] = reference[u] if miner_masks[0, j, u] else 0.0
        on_miners = 0.0 + pairwise_sum(row, 0, n)
        for u in range(n):
            row[u] = reference[u] if miner_masks[1, j, u] else 0.0
        on_cabal = 0.0 + pairwise_sum(row, 0, n)
        fair[0, j] = on_cabal / on_miners if on_miners > 0 else np.nan
        for v in range(n_slots):
            row[v] = stake[j, v] if validator_masks[0, j, v] else 0.0
        every = 0.0 + pairwise_sum(row, 0, n_slots)
        for v in range(n_slots):
            row[v] = stake[j, v] if validator_masks[1, j, v] else 0.0
        cabal = 0.0 + pairwise_sum(row, 0, n_slots)
        fair[1, j] = cabal / every if every > 0 else 0.0


@jit
def _book_epoch(
    incentive: np.ndarray,
    dividends: np.ndarray,
    miner_alpha: np.ndarray,
    validator_alpha: np.ndarray,
    subnets: np.ndarray,
    validator_uids: np.ndarray,
    miner_masks: np.ndarray,
    cabal_slots: np.ndarray,
    price: np.ndarray,
    fair: np.ndarray,
    rao_per_tao: float,
    totals: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba
    """Add one epoch's pay to ``totals`` (``[3, 2, k]``, in place): the operations of the
    array version (:meth:`CabalLedger.add` before this kernel, kept in the tests) per cabal
    subnet, with each sum in numpy's order: the masked incentive rows and the masked
    dividend slots pairwise (contiguous rows), the dividend total slot by slot (numpy reduces
    the ``[k, V]`` Fortran-ordered gather along its outer axis) unless ``k == 1``."""
    k = subnets.shape[0]
    n = incentive.shape[1]
    n_slots = validator_uids.shape[0]
    row = np.empty(max(n, n_slots))
    for j in range(k):
        s = subnets[j]
        for u in range(n):
            row[u] = incentive[s, u] if miner_masks[0, j, u] else 0.0
        miners_paid = 0.0 + pairwise_sum(row, 0, n)
        for u in range(n):
            row[u] = incentive[s, u] if miner_masks[1, j, u] else 0.0
        cabal_miners_paid = 0.0 + pairwise_sum(row, 0, n)
        if k == 1:
            for v in range(n_slots):
                row[v] = dividends[s, validator_uids[v]]
            dividend_total = 0.0 + pairwise_sum(row, 0, n_slots)
        else:
            dividend_total = 0.0
            for v in range(n_slots):
                dividend_total += dividends[s, validator_uids[v]]
        for v in range(n_slots):
            row[v] = dividends[s, validator_uids[v]] if cabal_slots[j, v] else 0.0
        dividend_cabal = 0.0 + pairwise_sum(row, 0, n_slots)
        for side in range(2):
            if side == 0:
                tao = miner_alpha[s] / rao_per_tao * price[j]
                whole, part = miners_paid, cabal_miners_paid
                paid = whole > 0 and np.isfinite(fair[0, j])  # an honest reference
            else:
                tao = validator_alpha[s] / rao_per_tao * price[j]
                whole, part = dividend_total, dividend_cabal
                paid = whole > 0
            if paid:
                totals[0, side, j] += tao
                totals[1, side, j] += part / whole * tao
                totals[2, side, j] += fair[side, j] * tao
            else:  # the array version adds its zeros too
                totals[0, side, j] += 0.0
                totals[1, side, j] += 0.0
                totals[2, side, j] += 0.0


class _LedgerMasks(NamedTuple):
    """The masks the ledger reads at every step (see :meth:`CabalLedger._ledger_masks`)."""

    honest: np.ndarray  # [k, V] honest validator slots
    cabal: np.ndarray  # [k, V] cabal validator slots
    miners: np.ndarray  # [2, k, n] miner uids, the cabal's miner uids
    validators: np.ndarray  # [2, k, V] every validator slot, the cabal's slots


class CabalLedger:
    """Running totals of the cabal's income and its fair income, per subnet.

    Build it with :meth:`for_model` (None when the run has no cabal validator) and call
    :meth:`add` once per economy step with that step's economy results.

    Parameters
    ----------
    model
        The model; read at every :meth:`add` (weights, stake, strategies, alpha prices).
    subnets
        Netuids that have at least one cabal validator.
    """

    def __init__(self, model: CabalHost, subnets: np.ndarray) -> None:
        self.model = model
        self.subnets = subnets
        k = subnets.size
        # One [3, 2, k] block of running totals (pay, cabal pay, fair pay) x (miners,
        # validators), so a step adds its epochs with one addition; the named totals are
        # properties (stored views would come apart from it when the model is copied or
        # pickled: numpy copies a view as an array of its own).
        self._totals = np.zeros((3, 2, k))
        # The coldkey layout of the cabal subnets' uids changes only on registrations: what
        # the stake weight derives from it is kept until the layout changes.
        self._layout: tuple[np.ndarray, ...] | None = None
        # The state views the layout and the root-stake weight were last derived from: the
        # state's tensors are replaced, not written, so the same view holds the same values
        # (a copied or unpickled ledger holds arrays of its own, and compares the values).
        self._layout_view: np.ndarray | None = None
        self._root_of: tuple[np.ndarray, np.ndarray] | None = None
        # The masks the ledger reads of the strategies and miner grids change only when those
        # do: kept with the bytes they came from (a comparison is cheaper than the masks).
        self._masks_key: tuple[Any, ...] | None = None
        self._masks: _LedgerMasks | None = None

    @property
    def miner_pay(self) -> np.ndarray:
        """Alpha paid to miners on each cabal subnet, in TAO at spot ``[k]``."""
        return self._totals[0, 0]

    @property
    def cabal_miner_pay(self) -> np.ndarray:
        """The cabal's miners' part of it ``[k]``."""
        return self._totals[1, 0]

    @property
    def fair_miner_pay(self) -> np.ndarray:
        """What honest weighting would have paid the cabal's miners ``[k]``."""
        return self._totals[2, 0]

    @property
    def validator_pay(self) -> np.ndarray:
        """Alpha paid to validators on each cabal subnet, in TAO at spot ``[k]``."""
        return self._totals[0, 1]

    @property
    def cabal_validator_pay(self) -> np.ndarray:
        """The cabal validators' part of it ``[k]``."""
        return self._totals[1, 1]

    @property
    def fair_validator_pay(self) -> np.ndarray:
        """Dividends in proportion to stake would have paid the cabal validators ``[k]``."""
        return self._totals[2, 1]

    @classmethod
    def for_model(cls, model: CabalHost) -> CabalLedger | None:
        """A ledger for ``model``'s cabal subnets, or None when it has no cabal validator."""
        strategy = getattr(model, "validator_strategy", None)
        if strategy is None:
            return None
        subnets = np.nonzero((strategy == "cabal").any(axis=1))[0]
        return cls(model, subnets) if subnets.size else None

    def _ledger_masks(self) -> _LedgerMasks:
        """The cabal subnets' strategy and miner masks, rebuilt only when the validator
        strategies, the miner uids or the cabal's miners change."""
        m = self.model
        strategy = m.validator_strategy
        is_miner = m.work.miners.is_miner
        cabal_miners = m.work.validators.cabal_miners
        key = (
            strategy.shape,
            strategy.dtype.str,
            strategy.tobytes(),
            is_miner.shape,
            is_miner.tobytes(),
            cabal_miners.shape,
            cabal_miners.tobytes(),
        )
        if self._masks is None or key != self._masks_key:
            s = self.subnets
            cabal = strategy[s] == "cabal"
            self._masks = _LedgerMasks(
                honest=strategy[s] == "honest",
                cabal=cabal,
                miners=np.array((is_miner[s], cabal_miners[s]), dtype=bool),
                validators=np.array((np.ones_like(cabal), cabal)),
            )
            self._masks_key = key
        return self._masks

    def _validator_stake(self) -> np.ndarray:
        """The validators' stake weight in Yuma (alpha + TAO weight x root stake) ``[k, V]``.

        ``protocol.economy.drain.epoch_stake`` at the cabal subnets' validator uids only, in
        numpy: a uid's root stake is its coldkey's, shared by the coldkey's uids on the subnet
        (the same division, product and sum per cell, so bit-identical to the tensor version).

        The coldkey layout it reads (``layout[4]``: the flat indices of the ``[k, V]`` (cabal
        subnet, validator uid) cells of an ``[S, n]`` array) is kept until the coldkeys change.
        """
        m = self.model
        st = m.state
        all_coldkeys = st.view("uid_coldkey")  # [S, n]
        layout = self._layout
        if layout is None or (
            all_coldkeys is not self._layout_view
            and (layout[0].shape != all_coldkeys.shape or not (layout[0] == all_coldkeys).all())
        ):
            uids = m.validator_uids
            coldkeys = all_coldkeys[self.subnets]  # [k, n]
            k, n_accounts = coldkeys.shape[0], st.n_accounts
            registered = coldkeys >= 0
            # uids per (subnet, coldkey): one bincount over the flattened cells
            cell = np.arange(k)[:, None] * n_accounts + coldkeys.clip(min=0)
            counts = np.bincount(cell[registered], minlength=k * n_accounts).reshape(k, n_accounts)
            ck = coldkeys[:, uids].clip(min=0)
            per_uid_count = np.maximum(np.take_along_axis(counts, ck, axis=1), 1).astype(np.float64)
            # flat indices of the (cabal subnet, validator uid) cells: one take per call
            cells = self.subnets[:, None] * coldkeys.shape[1] + np.asarray(uids)[None, :]
            layout = self._layout = (
                all_coldkeys.copy(),
                ck,
                per_uid_count,
                registered[:, uids],
                cells,
            )
            self._root_of = None
        self._layout_view = all_coldkeys
        _, ck, per_uid_count, registered_v, cells = layout
        root_stake = st.view("root_stake")
        if self._root_of is None or self._root_of[0] is not root_stake:
            root = np.where(registered_v, root_stake[ck] / per_uid_count, 0.0)
            self._root_of = (root_stake, root)
        root = self._root_of[1]
        hotkey = np.take(st.view("hotkey_alpha"), cells)  # hotkey_alpha[np.ix_(subnets, uids)]
        return hotkey + m.params.tao_weight * root

    def fair_miner_share(self, stake: np.ndarray) -> np.ndarray:
        """The honest validators' stake-weighted weight share on the cabal's miners ``[k]``
        (NaN where no honest validator sets weights); ``stake`` is ``[k, V]``."""
        return self._fair_shares(stake, self._ledger_masks())[0]

    def fair_validator_share(self, stake: np.ndarray) -> np.ndarray:
        """The cabal validators' share of the validators' stake ``[k]`` (``stake``: ``[k, V]``)."""
        return self._fair_shares(stake, self._ledger_masks())[1]

    def _fair_shares(self, stake: np.ndarray, masks: _LedgerMasks) -> np.ndarray:
        """``[2, k]``: :meth:`fair_miner_share` and :meth:`fair_validator_share`."""
        fair = np.empty((2, self.subnets.size))
        _fair_shares(
            self.model.work.weights,  # [S, V, n], rows normalised
            self.subnets,
            stake,
            masks.honest,
            masks.miners,
            masks.validators,
            fair,
        )
        return fair

    def add(self, results: Sequence[Any], prices: np.ndarray | None = None) -> None:
        """Add the epochs of one economy step.

        Parameters
        ----------
        results
            The step's economy results (``protocol.economy`` block or tempo results): each
            ``drain`` holds the epoch's incentive and dividend proportions ``[S, n]`` and the
            alpha paid to miners and validators ``[S]`` (zero where no epoch ran).
        prices
            The alpha prices ``[S]`` after the step, when the caller has them (else read).
        """
        if not results:
            return  # nothing paid: the totals stay as they are
        m = self.model
        s = self.subnets
        masks = self._ledger_masks()
        price = (m.alpha_prices() if prices is None else prices)[s]  # TAO per alpha
        # fair [2, k]: miners' (NaN without an honest reference) and validators' fair shares
        fair = self._fair_shares(self._validator_stake(), masks)
        uids = np.asarray(m.validator_uids)
        for result in results:
            drain = result.drain
            # one kernel pass per epoch: the same operations and sums as the array version
            _book_epoch(
                drain.array("incentive"),  # (its numpy arrays: no tensor made to read them)
                drain.array("dividends"),
                drain.array("miner_alpha"),
                drain.array("validator_alpha"),
                s,
                uids,
                masks.miners,
                masks.cabal,
                price,
                fair,
                float(RAO_PER_TAO),
                self._totals,
            )

    def kpis(self) -> dict[str, Any]:
        """The ``cabal.*`` KPIs of the run so far (shares and gain are fractions, TAO in TAO)."""
        got = float(self.cabal_miner_pay.sum() + self.cabal_validator_pay.sum())
        fair = float(self.fair_miner_pay.sum() + self.fair_validator_pay.sum())
        return {
            "cabal.subnets": int(self.subnets.size),
            "cabal.miner_income_share": _share(
                float(self.cabal_miner_pay.sum()), float(self.miner_pay.sum())
            ),
            "cabal.miner_fair_share": _share(
                float(self.fair_miner_pay.sum()), float(self.miner_pay.sum())
            ),
            "cabal.validator_income_share": _share(
                float(self.cabal_validator_pay.sum()), float(self.validator_pay.sum())
            ),
            "cabal.validator_fair_share": _share(
                float(self.fair_validator_pay.sum()), float(self.validator_pay.sum())
            ),
            "cabal.gain": got / fair - 1.0 if fair > 0 else float("nan"),
            "cabal.excess_tao": got - fair,
        }
