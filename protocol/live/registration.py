"""Registration rules of a live subnet: a burn that rises with demand, immunity, pruning, and a
per-address share.

Modelled on subtensor's burned registration (``pallets/subtensor/src/subnets/registration.rs``
and ``subnets/uids.rs`` at commit ``14bc6f9f964b9cc362e9635dd110a487fa5d15a0``):

* a registration pays the current burn; each registration multiplies it by
  ``BurnIncreaseMult`` (default 1.26, ``bump_registration_price_after_registration``) and it
  decays continuously with half-life ``BurnHalfLife`` (default 360 blocks, one tempo;
  ``update_registration_prices_for_networks``), clamped to ``[MinBurn, MaxBurn]`` (runtime
  defaults: initial 0.1 TAO, min 0.0005 TAO, max 100 TAO);
* a subnet holds at most ``max_allowed_uids``; when it is full, a registration replaces the
  uid ``get_neuron_to_prune`` picks: the lowest ``Emission`` (last epoch) among non-immune uids,
  ties to the earlier registration, then the lower uid; a uid is immune for ``ImmunityPeriod``
  blocks after it registered (runtime default 4096 blocks, about 11 tempos).

Live mode plays a window as one tempo, so the half-life defaults to one window and the immunity
to 12 windows. Two rules differ from the chain, so one address cannot fill the subnet however
the burn is paid (live mode's TAO is simulated):

* **per-address share**: the uids held by hotkeys registered from one client address (IPv4
  address, or IPv6 /64) never exceed ``max(1, floor(max_address_share · max_miners))``;
* **immune uids are never pruned**: the chain falls back to the lowest immune uid when at most
  ``MinNonImmuneUids`` (10) non-immune uids remain; live mode refuses the registration instead
  (403 ``subnet_full``), so a flood cannot evict miners during their immunity.

Pure functions and frozen dataclasses; the coordinator (:mod:`sim.live.coordinator`) keeps the
state. See ``docs/live.md``.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "RegistrationRule",
    "UidStanding",
    "address_cap",
    "address_group",
    "burn_after_registration",
    "decayed_burn",
    "uid_to_prune",
]


@dataclass(frozen=True)
class RegistrationRule:
    """The registration hyperparameters of a live subnet.

    Attributes
    ----------
    burn
        Burn (TAO) of the first registration.
    min_burn, max_burn
        Bounds of the burn (TAO).
    burn_increase_mult
        Factor applied to the burn after each registration (>= 1).
    burn_half_life_windows
        Windows over which the burn halves while nobody registers.
    immunity_windows
        Windows after registering during which a uid cannot be pruned.
    max_address_share
        Largest share of the miner slots one client address may hold, in (0, 1].
    """

    burn: float = 0.1
    min_burn: float = 0.0005
    max_burn: float = 100.0
    burn_increase_mult: float = 1.26
    burn_half_life_windows: float = 1.0
    immunity_windows: int = 12
    max_address_share: float = 0.25


@dataclass(frozen=True)
class UidStanding:
    """What the pruning rule reads about one registered uid."""

    uid: int
    registered_window: int
    emission: float


def decayed_burn(
    burn: float, elapsed_seconds: float, window_seconds: float, rule: RegistrationRule
) -> float:
    """The burn ``elapsed_seconds`` after it was ``burn``: halved every
    ``burn_half_life_windows`` windows, clamped to ``[min_burn, max_burn]``."""
    half_life = rule.burn_half_life_windows * window_seconds
    factor = 0.5 ** (max(elapsed_seconds, 0.0) / half_life)
    return min(max(burn * factor, rule.min_burn), rule.max_burn)


def burn_after_registration(burn: float, rule: RegistrationRule) -> float:
    """The burn the next registration pays right after one paid ``burn``."""
    return min(max(burn * rule.burn_increase_mult, rule.min_burn), rule.max_burn)


def address_cap(max_miners: int, rule: RegistrationRule) -> int:
    """Most uids one client address may hold: ``max(1, floor(share · max_miners))``."""
    return max(1, math.floor(rule.max_address_share * max_miners + 1e-9))


def address_group(host: str) -> str:
    """The unit the per-address share counts: an IPv4 address, an IPv6 /64 (one subscriber's
    usual allocation; an IPv4-mapped IPv6 address counts as its IPv4), else the host string."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def uid_to_prune(
    standings: Iterable[UidStanding], window: int, rule: RegistrationRule
) -> int | None:
    """The uid a registration into a full subnet replaces, or ``None`` when every uid is immune.

    The lowest emission among uids whose immunity is over (``window - registered_window >=
    immunity_windows``); ties go to the earlier registration, then the lower uid (subtensor's
    ``get_neuron_to_prune`` order).
    """
    candidates = [s for s in standings if window - s.registered_window >= rule.immunity_windows]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (s.emission, s.registered_window, s.uid)).uid
