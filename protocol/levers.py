"""The governance levers: what an authority can do to the network, as data.

A lever is a frozen dataclass. Governance policies (``protocol.governance``) decide *when* a
lever executes; the economy (``protocol.economy``) defines *what* it does to a network state
(``apply_lever``). Keeping levers as plain data decouples the two: a policy never touches
pools or balances, and the economy never knows who voted.

The levers are the root/sudo calls of subtensor's ``pallet_admin_utils`` and
``pallet_subtensor`` (named in each class), plus the off-chain actions a study needs (a token
sale, a runtime upgrade); docs/governance.md describes how the policies use them.
Unit-annotated fields (``Blocks``, ``Tao``) take quantities in scenario files
(``duration_blocks = "2 days"``).
Which levers existed on a given date is recorded in :mod:`protocol.economy.history`
(docs/economy.md, "The chain by date").
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from protocol.units import Blocks, Tao

__all__ = [
    "AnyChange",
    "DissolveSubnet",
    "HaltChain",
    "Lever",
    "RegistrationOff",
    "ResumeChain",
    "SetEmissionEnabled",
    "SetHyperparameter",
    "SetRegistrationAllowed",
    "SetSubtokenEnabled",
    "SubtokenOff",
    "SuspendEmissions",
    "TokenSale",
    "TransferOwnership",
    "lever_from_dict",
    "lever_targets",
]


@dataclass(frozen=True)
class Lever:
    """Base class of every lever. ``kind`` names it in logs and scenario files."""

    kind: ClassVar[str] = "lever"
    #: True when the lever changes the emission of a single subnet (used by harm metrics).
    targets_emission: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict with the lever's ``kind`` and fields."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple) and all(isinstance(v, Lever) for v in value):
                value = [v.to_dict() for v in value]
            out[f.name] = value
        return out


@dataclass(frozen=True)
class SetRegistrationAllowed(Lever):
    """``sudo_set_network_registration_allowed``: off closes the subnet's emission.

    The subnet leaves ``get_subnets_to_emit_to``: no TAO share (redistributed to the others),
    no ``alpha_in``, no ``alpha_out`` from the next block.
    """

    netuid: int
    allowed: bool = False
    kind: ClassVar[str] = "set_registration_allowed"
    targets_emission: ClassVar[bool] = True


@dataclass(frozen=True)
class SetSubtokenEnabled(Lever):
    """``sudo_set_subtoken_enabled``: off closes the emission (as registration off) and trading."""

    netuid: int
    enabled: bool = False
    kind: ClassVar[str] = "set_subtoken_enabled"
    targets_emission: ClassVar[bool] = True


@dataclass(frozen=True)
class SetEmissionEnabled(Lever):
    """``sudo_set_subnet_emission_enabled``: off zeroes pool-side alpha_in/tao_in/chain buys.

    ``alpha_out`` (owner cut, miners, validators) continues. On subtensor's main branch from
    2026-05-27 (added 2026-05-12, PR #2657).
    """

    netuid: int
    enabled: bool = False
    kind: ClassVar[str] = "set_emission_enabled"
    targets_emission: ClassVar[bool] = True


# Friendlier aliases used in scenarios and docs.
RegistrationOff = SetRegistrationAllowed
SubtokenOff = SetSubtokenEnabled
SuspendEmissions = SetEmissionEnabled


@dataclass(frozen=True)
class DissolveSubnet(Lever):
    """``dissolve_network``: delete the subnet; alpha holders are paid pro rata from its pool."""

    netuid: int
    kind: ClassVar[str] = "dissolve_subnet"
    targets_emission: ClassVar[bool] = True


@dataclass(frozen=True)
class SetHyperparameter(Lever):
    """Set a hyperparameter of one subnet (``netuid``) or a global one (``netuid=None``)."""

    name: str
    value: float | int | bool
    netuid: int | None = None
    kind: ClassVar[str] = "set_hyperparameter"


@dataclass(frozen=True)
class TransferOwnership(Lever):
    """Hand a subnet to another coldkey (the 2023 migrations did this by runtime upgrade)."""

    netuid: int
    new_owner: str
    kind: ClassVar[str] = "transfer_ownership"
    targets_emission: ClassVar[bool] = True


@dataclass(frozen=True)
class HaltChain(Lever):
    """Safe mode: only whitelisted calls for ``duration_blocks`` (24 h, renewable by 12 h)."""

    duration_blocks: Blocks = 7_200
    kind: ClassVar[str] = "halt_chain"


@dataclass(frozen=True)
class ResumeChain(Lever):
    """Leave safe mode early."""

    kind: ClassVar[str] = "resume_chain"


@dataclass(frozen=True)
class TokenSale(Lever):
    """An off-chain lever: the authority (or an exiting team) sells ``amount_tao`` of a subnet's
    alpha, or of TAO on the market when ``netuid`` is None, as swaps against the pool."""

    amount_tao: Tao
    netuid: int | None = None
    kind: ClassVar[str] = "token_sale"


@dataclass(frozen=True)
class AnyChange(Lever):
    """A runtime upgrade: arbitrary change, described by ``description`` and a list of levers."""

    description: str = "runtime upgrade"
    effects: tuple[Lever, ...] = field(default_factory=tuple)
    kind: ClassVar[str] = "any_change"
    targets_emission: ClassVar[bool] = True


_BY_KIND: dict[str, type[Lever]] = {
    cls.kind: cls
    for cls in (
        SetRegistrationAllowed,
        SetSubtokenEnabled,
        SetEmissionEnabled,
        DissolveSubnet,
        SetHyperparameter,
        TransferOwnership,
        HaltChain,
        ResumeChain,
        TokenSale,
        AnyChange,
    )
}


def lever_targets(lever: Lever) -> tuple[int, ...]:
    """The subnets a lever acts on, in order (a runtime upgrade: its effects' subnets).

    Chain-wide levers (a halt, a global hyperparameter, a sale of TAO) target no subnet.

    Examples
    --------
    >>> lever_targets(SetEmissionEnabled(netuid=3))
    (3,)
    >>> lever_targets(AnyChange(effects=(SubtokenOff(netuid=1), HaltChain(), DissolveSubnet(2))))
    (1, 2)
    >>> lever_targets(HaltChain())
    ()
    """
    netuid = getattr(lever, "netuid", None)
    if netuid is not None:
        return (int(netuid),)
    out: list[int] = []
    for effect in getattr(lever, "effects", ()):
        out.extend(lever_targets(effect))
    return tuple(out)


def lever_from_dict(data: dict[str, Any]) -> Lever:
    """Build a lever from ``{"kind": ..., **fields}``; errors name the offending key.

    Raises
    ------
    ValueError
        If ``kind`` is missing or unknown, or a field is missing or unexpected.
    """
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError("lever: expected a table with a 'kind' key")
    kind = data["kind"]
    cls = _BY_KIND.get(kind)
    if cls is None:
        raise ValueError(
            f"lever.kind: unknown lever {kind!r}; known: {', '.join(sorted(_BY_KIND))}"
        )
    values = {k: v for k, v in data.items() if k != "kind"}
    allowed = {f.name for f in fields(cls)}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"lever.{sorted(unknown)[0]}: unknown field for {kind!r}")
    if cls is AnyChange and "effects" in values:
        values["effects"] = tuple(lever_from_dict(e) for e in values["effects"])
    try:
        return cls(**values)
    except TypeError as exc:
        raise ValueError(f"lever {kind!r}: {exc}") from exc
