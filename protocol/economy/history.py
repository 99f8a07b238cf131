"""The economy as subtensor's main branch ran it, by date: eras, defaults and levers.

A scenario can name the chain date it replays; :func:`economy_on` then gives the coinbase era
and the :class:`~protocol.economy.state.EconomyParams` defaults live on that date, and
:func:`check_lever` refuses a lever that did not exist yet, naming it and the date it arrived.
The facts are data (:data:`CHANGES`, :data:`LEVER_ARRIVALS`), each with the subtensor pull
request and the commit that brought it to the ``main`` branch (what the chain runs); the
table in docs/economy.md ("The chain by date") is written from them.

Dates are those of the merge into subtensor's ``main`` (``opentensor/subtensor``, history read
at ``14bc6f9f``, 2026-06-30); a change authored earlier on ``devnet-ready`` counts from there.
The simulator models the chain from :data:`SUPPORTED_FROM` (the first date on which every rule
it implements matches ``main``); before it, registration-off and subtoken-off acted
differently (until 2025-12-09 a registration-off subnet kept its TAO share and only its
injection and ``alpha_out`` were zeroed; subtoken-off did not touch emission), and those rules
are not implemented, so earlier dates are refused. Dates after :data:`HEAD_DATE` get the
newest rules known.

Examples
--------
>>> from datetime import date
>>> economy_on(date(2026, 4, 10)).era
'tao_flow'
>>> lever_arrival("set_emission_enabled").added
datetime.date(2026, 5, 12)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

__all__ = [
    "CHANGES",
    "HEAD_DATE",
    "LEVER_ARRIVALS",
    "SUPPORTED_FROM",
    "ChainChange",
    "DateNotModelledError",
    "DatedEconomy",
    "LeverArrival",
    "LeverNotLiveError",
    "check_lever",
    "economy_on",
    "lever_arrival",
]

#: First date the simulator models (every rule it implements matches subtensor main from here).
SUPPORTED_FROM: date = date(2025, 12, 12)
#: The newest main-branch commit read (``14bc6f9f``); later dates get its rules.
HEAD_DATE: date = date(2026, 6, 30)


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class ChainChange:
    """One change of the economy's rules on subtensor's ``main`` branch.

    Attributes
    ----------
    day
        The date it reached ``main``.
    what
        What changed, in one sentence.
    source
        The subtensor pull request(s) and commit(s).
    params
        The :class:`~protocol.economy.state.EconomyParams` fields it sets from ``day`` on.
    """

    day: date
    what: str
    source: str
    params: Mapping[str, Any] = field(default_factory=_frozen)


@dataclass(frozen=True)
class LeverArrival:
    """When a lever (a ``protocol.levers`` kind, or a hyperparameter) became usable.

    Attributes
    ----------
    lever
        The lever kind, or ``"set_hyperparameter:<name>"`` for one hyperparameter.
    added
        The date the change was merged where it was written (its pull request).
    live
        The date it reached ``main`` (from then on a scenario may use it).
    source
        The subtensor pull request(s) and commit.
    """

    lever: str
    added: date
    live: date
    source: str


#: The economy's rule changes on subtensor main, oldest first (docs/economy.md table).
CHANGES: tuple[ChainChange, ...] = (
    ChainChange(
        date(2025, 11, 4),
        "Subnet TAO shares follow the EMA of net user TAO flow (gross user flow: stake in minus "
        "stake out); alpha_in = tao_in/p capped at alpha_emission, the excess TAO buys alpha, "
        "which is recycled",
        "PR #2177 (main 1f520ed9)",
        _frozen(
            {
                "era": "tao_flow",
                "net_tao_flow_enabled": False,
                "recycle_chain_bought_alpha": True,
                "new_subnet_emission_enabled": True,
            }
        ),
    ),
    ChainChange(
        date(2025, 11, 7),
        "Root alpha is recycled instead of paid when the listed subnets' moving prices sum "
        "to <= 1 (no root sell)",
        "PR #2191 (main b179867c)",
    ),
    ChainChange(
        date(2025, 12, 9),
        "get_subnets_to_emit_to drops subnets with registration (and PoW registration) off "
        "or subtoken off: no TAO share (redistributed), no alpha_in, no alpha_out",
        "commit 8b8f763a (PR #2188), main 52378dc3 (PR #2246)",
    ),
    ChainChange(
        date(2025, 12, 12),
        "alpha_in capped at min(alpha_emission, TAO block emission)",
        "PR #2281 (main 8834a7c7)",
    ),
    ChainChange(
        date(2026, 4, 22),
        "PoW registration removed: the emission filter reads the registration flag alone",
        "commit 19645386 (PR #2382), main e7f05a05 (PR #2562)",
    ),
    ChainChange(
        date(2026, 5, 27),
        "Net TAO flow: shares use the user flow EMA minus the scaled protocol-cost EMA "
        "(NetTaoFlowEnabled = true)",
        "PR #2634, main 486037ba (PR #2643)",
        _frozen({"net_tao_flow_enabled": True}),
    ),
    ChainChange(
        date(2026, 5, 27),
        "SubnetEmissionEnabled, root only: off zeroes the pool side (tao_in, alpha_in, chain "
        "buys), alpha_out continues; subnet owners may switch their own cut off",
        "PR #2657 (added 2026-05-12), PR #2694 (root only), PR #2648 (owner cut); main "
        "486037ba (PR #2643)",
    ),
    ChainChange(
        date(2026, 6, 1),
        "Chain-bought alpha is kept as SubnetProtocolAlpha instead of recycled",
        "PR #2645, main ec2212c5 (PR #2705)",
        _frozen({"recycle_chain_bought_alpha": False}),
    ),
    ChainChange(
        date(2026, 6, 22),
        "Shares follow moving price x root proportion x (1 - MinerBurned); alpha_in capped at "
        "root proportion x alpha_emission",
        "main 6016381e (PR #2781)",
        _frozen({"era": "price_root_prop"}),
    ),
    ChainChange(
        date(2026, 6, 23),
        "New subnets start with SubnetEmissionEnabled = false until root enables it",
        "PR #2787 (main e367ae64)",
        _frozen({"new_subnet_emission_enabled": False}),
    ),
    ChainChange(
        date(2026, 6, 30),
        "Root proportion removed from the shares: moving price x (1 - MinerBurned) (HEAD)",
        "commit bb3591e7, PR #2800 (main 14bc6f9f)",
        _frozen({"era": "head"}),
    ),
)

_EMISSION_ENABLED_SOURCE = (
    "subtensor PR #2657 adds sudo_set_subnet_emission_enabled, PR #2694 makes it root only; "
    "on main from 486037ba, PR #2643"
)

#: Levers that arrived inside the modelled range; every other lever existed before
#: :data:`SUPPORTED_FROM` (registration and subtoken flags, dissolution, hyperparameters,
#: safe mode, runtime upgrades, and the off-chain token sale).
LEVER_ARRIVALS: Mapping[str, LeverArrival] = MappingProxyType(
    {
        arrival.lever: arrival
        for arrival in (
            LeverArrival(
                "set_emission_enabled", date(2026, 5, 12), date(2026, 5, 27),
                _EMISSION_ENABLED_SOURCE,
            ),
            LeverArrival(
                "set_hyperparameter:subnet_emission_enabled", date(2026, 5, 12),
                date(2026, 5, 27), _EMISSION_ENABLED_SOURCE,
            ),
            LeverArrival(
                "set_hyperparameter:emission_enabled", date(2026, 5, 12), date(2026, 5, 27),
                _EMISSION_ENABLED_SOURCE,
            ),
            LeverArrival(
                "set_hyperparameter:owner_cut_enabled", date(2026, 5, 20), date(2026, 5, 27),
                "subtensor PR #2648 lets an owner disable its cut; on main from 486037ba, "
                "PR #2643",
            ),
            LeverArrival(
                "set_hyperparameter:net_tao_flow_enabled", date(2026, 5, 4), date(2026, 5, 27),
                "subtensor PR #2634 adds NetTaoFlowEnabled; on main from 486037ba, PR #2643",
            ),
        )
    }
)  # fmt: skip


class DateNotModelledError(ValueError):
    """A date before :data:`SUPPORTED_FROM`: the simulator does not model that chain."""


class LeverNotLiveError(ValueError):
    """A lever used on a date before it existed on the chain.

    Attributes
    ----------
    lever
        The lever kind (or ``"set_hyperparameter:<name>"``).
    day
        The scenario's date.
    arrival
        When the lever arrived.
    """

    def __init__(self, lever: str, day: date, arrival: LeverArrival) -> None:
        self.lever = lever
        self.day = day
        self.arrival = arrival
        when = f"it arrived on {arrival.added.isoformat()}"
        if arrival.live != arrival.added:
            when += f" and reached subtensor main on {arrival.live.isoformat()}"
        super().__init__(
            f"lever {lever!r} did not exist on {day.isoformat()}: {when} ({arrival.source})"
        )


@dataclass(frozen=True)
class DatedEconomy:
    """The economy's rules on one date.

    Attributes
    ----------
    day
        The date asked for.
    era
        The coinbase era (a name in :data:`protocol.economy.shares.SHARE_ERAS`).
    params
        The :class:`~protocol.economy.state.EconomyParams` fields the date sets (``era``
        included); other fields keep their defaults.
    changes
        The changes in force on that date, oldest first.
    """

    day: date
    era: str
    params: Mapping[str, Any]
    changes: tuple[ChainChange, ...]


def economy_on(day: date) -> DatedEconomy:
    """The era and the economy defaults live on ``day``.

    Raises
    ------
    DateNotModelledError
        If ``day`` is before :data:`SUPPORTED_FROM`.
    """
    if day < SUPPORTED_FROM:
        raise DateNotModelledError(
            f"date {day.isoformat()}: the simulator models the chain from "
            f"{SUPPORTED_FROM.isoformat()} (subtensor main 8834a7c7); before it registration-off "
            "and subtoken-off acted on emission differently (see docs/economy.md)"
        )
    in_force = tuple(change for change in CHANGES if change.day <= day)
    params: dict[str, Any] = {}
    for change in in_force:
        params.update(change.params)
    return DatedEconomy(day, str(params["era"]), MappingProxyType(params), in_force)


def lever_arrival(kind: str, name: str | None = None) -> LeverArrival | None:
    """When lever ``kind`` (with hyperparameter ``name`` for ``set_hyperparameter``) arrived.

    ``None`` means it existed before :data:`SUPPORTED_FROM`.
    """
    if kind == "set_hyperparameter" and name is not None:
        return LEVER_ARRIVALS.get(f"set_hyperparameter:{name}")
    return LEVER_ARRIVALS.get(kind)


def _lever_items(lever: Any) -> Iterable[tuple[str, str | None]]:
    """``(kind, hyperparameter name)`` of a lever (a dict or a ``protocol.levers`` object),
    including the effects of a runtime upgrade."""
    if isinstance(lever, Mapping):
        kind, name, effects = lever.get("kind"), lever.get("name"), lever.get("effects") or ()
    else:
        kind, name = getattr(lever, "kind", None), getattr(lever, "name", None)
        effects = getattr(lever, "effects", ())
    if isinstance(kind, str):
        yield kind, name if isinstance(name, str) else None
    for effect in effects:
        yield from _lever_items(effect)


def check_lever(lever: Any, day: date) -> None:
    """Refuse ``lever`` if any part of it did not exist on ``day``.

    Parameters
    ----------
    lever
        A ``protocol.levers`` lever or its table (``{"kind": ..., ...}``); a runtime upgrade's
        ``effects`` are checked too.
    day
        The scenario's date.

    Raises
    ------
    LeverNotLiveError
        Naming the lever and the date it arrived.
    """
    for kind, name in _lever_items(lever):
        arrival = lever_arrival(kind, name)
        if arrival is not None and day < arrival.live:
            label = kind if arrival.lever == kind else arrival.lever
            raise LeverNotLiveError(label, day, arrival)
