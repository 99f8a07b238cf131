"""Units, unit aliases and chain constants shared by every protocol module.

A unit alias is an ``Annotated`` type whose metadata holds a :class:`Unit` marker
(``Blocks = Annotated[int, BLOCKS]``). Type checkers and readers see the unit; code that reads
annotations (``sim.config`` for scenario fields, lever and policy-config fields) finds the
marker with :func:`unit_of` and converts a quantity such as ``"2 hours"`` into the field's unit
with :func:`parse_quantity` and :func:`convert`. The aliases themselves convert nothing.

Examples
--------
>>> parse_quantity("72 minutes")
(72.0, Unit(name='minutes', dimension='time', size=5.0))
>>> convert(72.0, UNITS["minutes"], BLOCKS)
360.0
>>> unit_of(Blocks) is BLOCKS
True
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

__all__ = [
    "BLOCKS",
    "BLOCKS_PER_DAY",
    "BLOCKS_PER_HOUR",
    "BLOCK_SECONDS",
    "DAYS",
    "DEFAULT_TEMPO",
    "HOURS",
    "RAO",
    "RAO_PER_TAO",
    "TAO",
    "U16",
    "U16_MAX",
    "U64_MAX",
    "UNITS",
    "Blocks",
    "Days",
    "Hours",
    "Rao",
    "Tao",
    "Unit",
    "convert",
    "days_to_blocks",
    "hours_to_blocks",
    "parse_quantity",
    "rao_to_tao",
    "tao_to_rao",
    "unit_of",
]

RAO_PER_TAO: int = 1_000_000_000
BLOCK_SECONDS: int = 12
BLOCKS_PER_DAY: int = 7_200
BLOCKS_PER_HOUR: int = 300
U16_MAX: int = 65_535
U64_MAX: int = 2**64 - 1


@dataclass(frozen=True)
class Unit:
    """A unit marker for ``Annotated`` metadata.

    Attributes
    ----------
    name
        The unit's name as written in scenario files (``"blocks"``, ``"TAO"``).
    dimension
        ``"time"`` or ``"amount"``; only units of one dimension convert into each other.
    size
        The unit's size in its dimension's base unit (blocks for time, rao for amounts).
    """

    name: str
    dimension: str
    size: float


BLOCKS = Unit("blocks", "time", 1.0)
HOURS = Unit("hours", "time", float(BLOCKS_PER_HOUR))
DAYS = Unit("days", "time", float(BLOCKS_PER_DAY))
TAO = Unit("TAO", "amount", float(RAO_PER_TAO))
RAO = Unit("rao", "amount", 1.0)

#: Every unit name a quantity may use (lower case) -> its unit.
UNITS: dict[str, Unit] = {}
for _names, _unit in (
    (("block", "blocks"), BLOCKS),
    (("minute", "minutes", "min", "mins"), Unit("minutes", "time", BLOCKS_PER_HOUR / 60)),
    (("hour", "hours", "h", "hr", "hrs"), HOURS),
    (("day", "days", "d"), DAYS),
    (("week", "weeks", "w"), Unit("weeks", "time", 7.0 * BLOCKS_PER_DAY)),
    (("tao",), TAO),
    (("rao",), RAO),
):
    for _name in _names:
        UNITS[_name] = _unit

Blocks = Annotated[int, BLOCKS]
Hours = Annotated[float, HOURS]
Days = Annotated[float, DAYS]
Rao = Annotated[int, RAO]
Tao = Annotated[float, TAO]
U16 = Annotated[int, "u16 proportion, value/65535"]

DEFAULT_TEMPO: Blocks = 360

#: ``"<number> <unit>"``: digits may be grouped with ``_``; the exponent is at most 4 digits.
_QUANTITY = re.compile(
    r"^\s*([-+]?(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d{1,4})?)\s*([A-Za-z]+)\s*$"
)
#: The longest number text a quantity may hold (longer is refused, never parsed).
_MAX_NUMBER_CHARS = 64


def parse_quantity(value: Any) -> tuple[float, Unit] | None:
    """Parse ``"30 days"`` or ``{value = 30, unit = "days"}`` into ``(30.0, DAYS)``.

    Returns None when ``value`` is not written as a quantity (a plain number, another string,
    a table with other keys).

    Raises
    ------
    ValueError
        If it is written as a quantity but the unit is unknown, the number is not a finite
        number, or the table's parts have the wrong types.
    """
    if isinstance(value, Mapping) and set(value) == {"value", "unit"}:
        number, unit = value["value"], value["unit"]
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"quantity value {number!r} is not a number")
        if not isinstance(unit, str):
            raise ValueError(f"quantity unit {unit!r} is not a string")
        if isinstance(number, int) and abs(number) > 2**63:
            raise ValueError(f"quantity value {number!r} is too large")
        number = float(number)
    elif isinstance(value, str):
        match = _QUANTITY.match(value) if len(value) <= 2 * _MAX_NUMBER_CHARS else None
        if match is None:
            return None
        text = match.group(1).replace("_", "")
        if len(text) > _MAX_NUMBER_CHARS:
            raise ValueError(f"quantity number {text[:20]}... is too long")
        number, unit = float(text), match.group(2)
    else:
        return None
    found = UNITS.get(unit.lower())
    if found is None:
        known = "blocks, minutes, hours, days, weeks, TAO, rao"
        raise ValueError(f"unknown unit {unit.lower()!r}; expected one of {known}")
    if not math.isfinite(number):
        raise ValueError(f"the number {number!r} is not finite")
    return number, found


def convert(number: float, unit: Unit, target: Unit) -> float:
    """Convert ``number`` ``unit`` into ``target`` (same dimension; the result is finite).

    Raises
    ------
    ValueError
        If the dimensions differ or the result is not a finite number.
    """
    if unit.dimension != target.dimension:
        article = "an" if unit.dimension == "amount" else "a"
        raise ValueError(
            f"{unit.name} is {article} {unit.dimension}, not convertible to {target.name}"
        )
    out = number * (unit.size / target.size)
    if not math.isfinite(out):
        raise ValueError(f"{number:g} {unit.name} is too large in {target.name}")
    return out


def unit_of(annotation: Any) -> Unit | None:
    """The :class:`Unit` marker in an ``Annotated`` type (or an Optional of one), else None."""
    if typing.get_origin(annotation) is Annotated:
        for meta in typing.get_args(annotation)[1:]:
            if isinstance(meta, Unit):
                return meta
        return unit_of(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        units = {unit_of(a) for a in typing.get_args(annotation) if a is not type(None)}
        units.discard(None)
        return units.pop() if len(units) == 1 else None
    return None


def days_to_blocks(days: float) -> Blocks:
    """Convert days to whole blocks (7 200 blocks a day, 12 s blocks)."""
    return round(days * BLOCKS_PER_DAY)


def hours_to_blocks(hours: float) -> Blocks:
    """Convert hours to whole blocks (300 blocks an hour)."""
    return round(hours * BLOCKS_PER_HOUR)


def tao_to_rao(tao: float) -> Rao:
    """Convert TAO to rao, rounding to the nearest rao."""
    return round(tao * RAO_PER_TAO)


def rao_to_tao(rao: int) -> Tao:
    """Convert rao to TAO."""
    return rao / RAO_PER_TAO
