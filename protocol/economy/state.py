"""The network state and the economy's parameters (frozen dataclasses).

Amounts are rao held in float64 tensors (1 TAO = 1e9 rao; the same scaling for alpha). float64
carries ~16 significant digits, so a 21e15-rao supply is tracked to about one rao; the ledger
check (:mod:`protocol.economy.ledger`) uses a tolerance of that order.

Shapes: ``S`` subnet slots (<= 128; a dissolved subnet frees its slot), ``n`` uids per subnet,
``A`` accounts (coldkeys). Account 0 is the *market*: the rest of the world, whose TAO buys the
exogenous stake flows and whose alpha (``market_alpha``) is staked to hotkeys outside the model.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from protocol.economy.amm import spot_price as pool_spot_price
from protocol.economy.shares import SHARE_ERAS
from protocol.units import DEFAULT_TEMPO, U16_MAX

__all__ = ["MARKET_ACCOUNT", "ArrayBacked", "EconomyParams", "NetworkState"]

_T = TypeVar("_T")

#: Index of the market account (outside world) in ``NetworkState.balances``.
MARKET_ACCOUNT: int = 0


_A = TypeVar("_A", bound="ArrayBacked")

#: The field names of each :class:`ArrayBacked` class :meth:`ArrayBacked.of_arrays` built
#: (``dataclasses.fields`` walks the class's fields at every call; a step makes two results).
_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    """The names of dataclass ``cls``'s fields, found once per class."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in fields(cls))  # type: ignore[arg-type]
    return names


class ArrayBacked:
    """A frozen dataclass of tensors whose instance may hold numpy arrays for its tensor
    fields (:meth:`of_arrays`): each field's tensor (``torch.from_numpy``, the same memory) is
    made when it is first read, and :meth:`array` reads the arrays without making them.

    A step's results are read by few callers, in numpy where at all: a tensor per field and
    step would cost more than what reads them.
    """

    @classmethod
    def of_arrays(cls: type[_A], arrays: Mapping[str, np.ndarray], **values: Any) -> _A:
        """An instance with the tensor fields of ``arrays`` on those arrays and the other
        fields ``values`` (every field exactly once, as the constructor takes them)."""
        names = _field_names(cls)
        given = arrays.keys() | values.keys()
        if given != names or arrays.keys() & values.keys():
            raise TypeError(
                f"{cls.__name__}.of_arrays: expected the fields {sorted(names)}, got "
                f"{sorted(arrays)} and {sorted(values)}"
            )
        new = object.__new__(cls)
        new.__dict__.update(values)
        new.__dict__[_ARRAYS] = dict(arrays)
        return new

    def array(self, name: str) -> np.ndarray:
        """Tensor field ``name`` in numpy: the array it is made of, or the tensor's ``numpy()``
        (the same memory either way)."""
        arrays = self.__dict__.get(_ARRAYS)
        if arrays is not None:
            array = arrays.get(name)
            if array is not None:
                return array
        value: torch.Tensor = getattr(self, name)
        return value.numpy()

    if not TYPE_CHECKING:  # (for type checkers the fields are the dataclass's, no others)

        def __getattr__(self, name: str) -> Any:
            """A field :meth:`of_arrays` set, read for the first time: its tensor."""
            arrays = self.__dict__.get(_ARRAYS)
            array = arrays.get(name) if arrays is not None else None
            if array is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            tensor = self.__dict__[name] = torch.from_numpy(array)
            return tensor

    def __getstate__(self) -> dict[str, Any]:
        """The fields, each a tensor (a copy or a pickle makes the tensors still to be made)."""
        state = dict(self.__dict__)
        arrays = state.pop(_ARRAYS, None)
        if arrays is not None:
            for name, array in arrays.items():
                if name not in state:
                    state[name] = torch.from_numpy(array)
        return state


@dataclass(frozen=True)
class EconomyParams:
    """Global economy parameters.

    Defaults are subtensor ``main`` @ ``14bc6f9f`` (``pallets/subtensor/src/lib.rs`` storage
    defaults and ``runtime/src/lib.rs`` constants); the values the chain ran on a given date are
    in :mod:`protocol.economy.history` (docs/economy.md, "The chain by date"). Every field is a
    "global hyperparameter" that ``SetHyperparameter(netuid=None)`` may change.
    """

    #: Subnet-share era: ``"head"``, ``"tao_flow"`` or ``"price_ema"`` (``SHARE_ERAS``).
    era: str = "head"
    tempo: int = DEFAULT_TEMPO
    tao_weight: float = 0.18
    subnet_owner_cut: float = 11_796 / U16_MAX
    delegate_take: float = 11_796 / U16_MAX
    fee_rate: float = 33 / U16_MAX
    subnet_moving_alpha: float = 0.000003
    ema_price_halving_blocks: int = 201_600
    flow_smoothing: float = 29_597_889_189_277 / (2**63 - 1)
    flow_exponent: float = 1.0
    flow_cutoff: float = 0.0
    net_tao_flow_enabled: bool = True
    #: Alpha bought by the protocol's chain buys: recycled (the Nov-2025 ``tao_flow`` rule) or
    #: kept as ``SubnetProtocolAlpha`` (from Dec 2025 and at HEAD).
    recycle_chain_bought_alpha: bool = False
    #: Incentive to owner-coldkey hotkeys: burned (True) or recycled (False).
    burn_owner_incentive: bool = True
    # Registration and lifecycle.
    subnet_limit: int = 128
    network_immunity_period: int = 864_000
    network_min_lock_cost: float = 2_500e9
    lock_reduction_interval: int = 57_600
    new_subnet_emission_enabled: bool = False
    start_call_delay: int = 0
    immunity_period: int = 5_000
    min_non_immune_uids: int = 10
    burn_initial: float = 0.1e9
    burn_min: float = 0.0005e9
    burn_max: float = 100e9
    burn_half_life: int = 360
    burn_increase_mult: float = 2.0
    # The epoch.
    mechanism: str = "yuma"
    #: ``protocol.yuma.EpochParams`` (None: the epoch's defaults).
    epoch_params: Any = None
    #: Safe-mode duration a ``HaltChain`` uses by default: 24 h (subtensor ``runtime/src/lib.rs``
    #: ``RootEnterDuration``, the safe-mode pallet's root ``force_enter``).
    safe_mode_enter_blocks: int = 7_200

    def __post_init__(self) -> None:
        checks = {
            "tempo": self.tempo >= 1,
            "tao_weight": self.tao_weight >= 0,
            "subnet_owner_cut": 0 <= self.subnet_owner_cut <= 1,
            "delegate_take": 0 <= self.delegate_take <= 1,
            "fee_rate": 0 <= self.fee_rate < 1,
            "subnet_moving_alpha": 0 <= self.subnet_moving_alpha <= 1,
            "flow_smoothing": 0 <= self.flow_smoothing <= 1,
            "subnet_limit": self.subnet_limit >= 1,
            "burn_half_life": self.burn_half_life >= 1,
            "burn_min": 0 <= self.burn_min <= self.burn_max,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"EconomyParams.{name}: invalid value {getattr(self, name)!r}")
        try:
            SHARE_ERAS.get(self.era)
        except KeyError as exc:
            raise ValueError(f"EconomyParams.era: {exc}") from None


@dataclass(frozen=True)
class NetworkState:
    """The whole network at one block. Pure data: every step returns a new instance.

    Per-subnet tensors have shape ``[S]``, per-uid ``[S, n]``, per-account ``[A]``.
    """

    block: int
    # -- TAO ledger counters (rao) --
    tao_genesis: float
    tao_minted: float
    tao_recycled: float
    tao_burned: float
    halted_until: int
    last_lock: float
    last_lock_block: int
    # -- subnets [S] --
    active: torch.Tensor
    pool_tao: torch.Tensor
    pool_alpha: torch.Tensor
    pool_weight_alpha: torch.Tensor
    alpha_minted: torch.Tensor
    alpha_burned: torch.Tensor
    alpha_recycled: torch.Tensor
    protocol_alpha: torch.Tensor
    market_alpha: torch.Tensor
    moving_price: torch.Tensor
    flow_ema: torch.Tensor
    cost_ema: torch.Tensor
    flow_acc: torch.Tensor
    root_sell_acc: torch.Tensor
    pending_server: torch.Tensor
    pending_validator: torch.Tensor
    pending_root: torch.Tensor
    pending_owner: torch.Tensor
    miner_burned: torch.Tensor
    registered_block: torch.Tensor
    start_block: torch.Tensor
    last_epoch_block: torch.Tensor
    tempo: torch.Tensor
    immunity_period: torch.Tensor
    owner_cut_enabled: torch.Tensor
    emission_enabled: torch.Tensor
    registration_allowed: torch.Tensor
    subtoken_enabled: torch.Tensor
    owner_account: torch.Tensor
    owner_uid: torch.Tensor
    reg_burn: torch.Tensor
    # -- uids [S, n] --
    uid_coldkey: torch.Tensor
    hotkey_alpha: torch.Tensor
    owner_shares: torch.Tensor
    total_shares: torch.Tensor
    registration_block: torch.Tensor
    last_update: torch.Tensor
    validator_permit: torch.Tensor
    emission: torch.Tensor
    weights: torch.Tensor
    bonds: torch.Tensor
    # -- accounts [A] and positions [A, S] --
    balances: torch.Tensor
    root_stake: torch.Tensor
    nom_uid: torch.Tensor
    nom_shares: torch.Tensor
    account_names: tuple[str, ...]
    #: Per-subnet epoch hyperparameters set by ``SetHyperparameter``: ``(netuid, name, value)``.
    epoch_overrides: tuple[tuple[int, str, Any], ...] = ()
    #: ``[S, n]`` bool: uids whose weight or bond row may be non-zero; ``False`` promises an
    #: all-``+0.0`` row in both, which the fused epoch then does not read. ``None``: unknown.
    #: Kept by the weight writers (:mod:`protocol.economy.network`) and registration.
    live_rows: torch.Tensor | None = None

    @property
    def n_subnets(self) -> int:
        """Number of subnet slots ``S``."""
        return int(self.active.shape[0])

    @property
    def n_uids(self) -> int:
        """Uids per subnet ``n``."""
        return int(self.uid_coldkey.shape[1])

    @property
    def n_accounts(self) -> int:
        """Number of accounts ``A`` (account 0 is the market)."""
        return int(self.balances.shape[0])

    @property
    def total_issuance(self) -> float:
        """TotalIssuance (rao): genesis + minted - recycled (the halving input)."""
        return self.tao_genesis + self.tao_minted - self.tao_recycled

    @property
    def spot_price(self) -> torch.Tensor:
        """Spot price of alpha in TAO per subnet ``[S]`` (0 for empty slots)."""
        return pool_spot_price(self.pool_tao, self.pool_alpha, self.pool_weight_alpha)

    @property
    def alpha_issuance(self) -> torch.Tensor:
        """Alpha issuance per subnet ``[S]``: ``SubnetAlphaIn + SubnetAlphaOut``."""
        return self.alpha_minted - self.alpha_burned - self.alpha_recycled

    @property
    def alpha_outstanding(self) -> torch.Tensor:
        """``SubnetAlphaOut`` ``[S]``: alpha outside the pool (staked, pending, protocol, market)."""
        return self.alpha_issuance - self.pool_alpha

    @property
    def halted(self) -> bool:
        """True while the chain is in safe mode."""
        return self.block < self.halted_until

    def account_index(self, name: str) -> int:
        """Index of the account called ``name``; ``ValueError`` if unknown."""
        try:
            return self.account_names.index(name)
        except ValueError:
            raise ValueError(f"account: unknown account name {name!r}") from None

    def account_alpha(self, account: int) -> torch.Tensor:
        """Alpha held by ``account`` per subnet ``[S]`` (own uids' self-stake and delegations)."""
        value = torch.where(
            self.total_shares > 0, self.hotkey_alpha / self.total_shares.clamp(min=1e-300), 0.0
        )
        own = torch.where(self.uid_coldkey == account, self.owner_shares * value, 0.0).sum(1)
        uid = self.nom_uid[account]
        has = uid >= 0
        per_share = value.gather(1, uid.clamp(min=0).unsqueeze(1)).squeeze(1)
        nominated = torch.where(has, self.nom_shares[account] * per_share, 0.0)
        if account == MARKET_ACCOUNT:
            nominated = nominated + self.market_alpha
        return own + nominated

    def view(self, name: str) -> np.ndarray:
        """``getattr(self, name).numpy()``, converted once per state: the numpy view of tensor
        field ``name`` (sharing its memory, so in-place writes to the tensor show through).

        The views are kept in the instance dict (a memo, not a field: the state stays frozen
        data) and carried over by :meth:`replace` for the fields it keeps; a step reads the
        same ``[S]`` and ``[S, n]`` fields in several places, each once converted.
        """
        views = self.__dict__.get(_VIEWS)
        if views is None:
            views = self.__dict__[_VIEWS] = {}
        array = views.get(name)
        if array is None:
            array = views[name] = getattr(self, name).numpy()
        return array

    def views(
        self, names: Iterable[str], given: Mapping[str, np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """``[self.view(name) for name in names]`` in one call (a step's kernels read a dozen
        fields each: one method call per field costs more than the lookup).

        ``given``: views of some of the fields the caller holds (each sharing its memory with
        the field's tensor, as :meth:`view`'s does), taken instead of the state's.
        """
        views = self.__dict__.get(_VIEWS)
        if views is None:
            views = self.__dict__[_VIEWS] = {}
        out = []
        for name in names:
            array = given.get(name) if given else None
            if array is None:
                array = views.get(name)
                if array is None:
                    array = views[name] = getattr(self, name).numpy()
            out.append(array)
        return out

    def all_float64_cpu(self, names: Iterable[str]) -> bool:
        """Whether every tensor field of ``names`` is float64 on the CPU:
        ``all(self.is_float64(name, cpu=True) for name in names)``.

        A field with a numpy view (:meth:`view`, :meth:`replace_arrays`) is answered from it:
        a view exists only for a CPU tensor, of the view's dtype.
        """
        views = self.__dict__.get(_VIEWS) or {}
        for name in names:
            array = views.get(name)
            if array is not None and name in _STATE_FIELDS:
                dtype = array.dtype
                if dtype is not _FLOAT64 and dtype != _FLOAT64:
                    return False
            elif not self.is_float64(name, cpu=True):
                return False
        return True

    def is_float64(self, name: str, *, cpu: bool = False) -> bool:
        """Whether tensor field ``name`` is float64 (and, with ``cpu``, on the CPU).

        Answered from the numpy view of a field :meth:`replace_arrays` set whose tensor is
        still to be made (a CPU array; its tensor would have the array's dtype), so a check of
        the dtypes makes no tensor.
        """
        value = self.__dict__.get(name)
        if value is None:
            views = self.__dict__.get(_VIEWS)
            if views is not None and name in views and name in _STATE_FIELDS:
                return bool(views[name].dtype == np.float64)
            value = getattr(self, name)
        return value.dtype is torch.float64 and (not cpu or value.is_cpu)

    def derived(self, key: Hashable, inputs: frozenset[str], compute: Callable[[], _T]) -> _T:
        """``compute()``, a value derived from the fields named in ``inputs`` (and from what
        ``key`` spells out), computed once per state and kept by :meth:`replace` until it
        changes one of those fields.

        The state's tensors are replaced, not written (the model's weights, bonds and
        ``last_update`` excepted: derive nothing from those), so a kept value is what
        ``compute`` would give again. ``key`` must name everything else ``compute`` reads.
        """
        memo = self.__dict__.get(_DERIVED)
        if memo is None:
            memo = self.__dict__[_DERIVED] = {}
        found = memo.get(key)
        if found is None:
            found = memo[key] = (inputs, compute())
        return found[1]

    def replace(self, **changes: Any) -> NetworkState:
        """``dataclasses.replace`` with a check that every name is a field.

        A shallow copy of the instance dict (no ``__init__`` run: the state has no
        ``__post_init__``), which the per-block step calls several times per block. The
        numpy views of the kept fields (:meth:`view`) come along.
        """
        return self._replaced(changes, {})

    def replace_arrays(self, arrays: Mapping[str, np.ndarray], **changes: Any) -> NetworkState:
        """:meth:`replace` with the fields of ``arrays`` set to tensors on those numpy arrays
        (``torch.from_numpy``: shared memory), which become the new state's :meth:`view` of
        them; ``changes`` as in :meth:`replace`.

        The tensors are made when a field is first read (:meth:`__getattr__`): a step hands
        its next step most of its arrays as views, which read no tensor.
        """
        return self._replaced(changes, arrays)

    def _replaced(
        self, changes: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> NetworkState:
        """The new state of :meth:`replace` and :meth:`replace_arrays`."""
        unknown = (changes.keys() | arrays.keys()) - _STATE_FIELDS
        if unknown:
            raise ValueError(f"NetworkState: unknown field {sorted(unknown)[0]!r}")
        new = object.__new__(NetworkState)
        new_dict = new.__dict__
        new_dict.update(self.__dict__)
        new_dict.update(changes)
        views = new_dict.get(_VIEWS)
        if views is not None:  # the new state's own memo: the kept fields' views
            views = new_dict[_VIEWS] = views.copy()
            for name in changes:
                views.pop(name, None)
        if arrays:
            if views is None:
                views = new_dict[_VIEWS] = {}
            views.update(arrays)
            for name in arrays:  # made from its view when first read
                new_dict.pop(name, None)
        memo = new_dict.get(_DERIVED)
        if memo is not None:  # the new state's own memo: the values none of whose inputs changed
            new_dict[_DERIVED] = {
                key: found
                for key, found in memo.items()
                if found[0].isdisjoint(changes) and found[0].isdisjoint(arrays)
            }
        return new

    if not TYPE_CHECKING:  # (for type checkers the fields are the dataclass's, no others)

        def __getattr__(self, name: str) -> Any:
            """A field :meth:`replace_arrays` set, read for the first time: the tensor on its numpy
            view (``torch.from_numpy``), kept in the instance dict from then on.

            Python calls this only for names the instance dict lacks; a state and the states
            :meth:`replace` made of it each make their own tensor on the one array (the same
            memory, so the same values).
            """
            views = self.__dict__.get(_VIEWS)
            array = views.get(name) if views is not None and name in _STATE_FIELDS else None
            if array is None:
                raise AttributeError(f"'NetworkState' object has no attribute {name!r}")
            tensor = self.__dict__[name] = torch.from_numpy(array)
            return tensor

    def __getstate__(self) -> dict[str, Any]:
        """The fields only: a copy or a pickle converts its own views (a pickled view would
        no longer share its tensor's memory) and derives its own values."""
        state = dict(self.__dict__)
        views = state.pop(_VIEWS, None)
        state.pop(_DERIVED, None)
        if views is not None:  # the fields whose tensors are still to be made
            for name in _STATE_FIELDS.difference(state):
                state[name] = torch.from_numpy(views[name])
        return state


#: The instance-dict keys of a state's numpy views (:meth:`NetworkState.view`) and derived
#: values (:meth:`NetworkState.derived`).
_VIEWS = "_numpy_views"
#: The instance-dict key of an :class:`ArrayBacked` instance's arrays.
_ARRAYS = "_arrays"
_DERIVED = "_derived_values"
_FLOAT64 = np.dtype(np.float64)
_STATE_FIELDS: frozenset[str] = frozenset(f.name for f in fields(NetworkState))
