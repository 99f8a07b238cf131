"""Unit aliases and chain constants shared by every protocol module.

The aliases are documentation for type checkers and readers (``Annotated`` carries the unit);
they do not convert anything.
"""

from __future__ import annotations

from typing import Annotated

Blocks = Annotated[int, "blocks"]
Rao = Annotated[int, "rao"]
Tao = Annotated[float, "TAO"]
Days = Annotated[float, "days"]
U16 = Annotated[int, "u16 proportion, value/65535"]

RAO_PER_TAO: int = 1_000_000_000
BLOCK_SECONDS: int = 12
BLOCKS_PER_DAY: int = 7_200
BLOCKS_PER_HOUR: int = 300
DEFAULT_TEMPO: Blocks = 360
U16_MAX: int = 65_535
U64_MAX: int = 2**64 - 1


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
