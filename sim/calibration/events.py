"""The catalogue of documented interventions and incidents (``scenarios/data/events.toml``).

Each event records what happened on chain, the TAO move that came with it and the broad
market's move that day (to separate TAO's own move), each with its public sources, and how the
simulator replays it. A field nobody reported is the string ``"unknown"``. The file is
validated when it is loaded: a mistake is reported with the file, the event's id, the field
path, the value and what was expected.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "Assumptions",
    "EventCatalog",
    "EventsFileError",
    "ExploitReplay",
    "MarketEvent",
    "Move",
    "NoReplay",
    "SuspensionReplay",
    "Unknown",
    "default_events_path",
    "load_events",
    "parse_events",
]

#: The marker for a fact nobody reported.
Unknown = Literal["unknown"]
_Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=64)]
_Url = Annotated[str, Field(pattern=r"^https?://\S+$")]
_Change = Annotated[float, Field(gt=-1.0, le=10.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Assumptions(_Strict):
    """How observed moves become the fit's observations (documented in the file)."""

    index_beta: float = Field(
        1.0, ge=0.0, le=5.0, description="TAO's sensitivity to the index (dimensionless)."
    )
    unknown_index_sigma: float = Field(
        0.03, ge=0.0, le=0.5, description="Std of the index's one-day move when unreported."
    )
    model_sigma: float = Field(
        0.02, gt=0.0, le=0.5, description="Model discrepancy of a replayed one-day move."
    )


class Move(_Strict):
    """A reported one-day price move: the span of the figures the sources give."""

    low: _Change = Field(description="Lowest reported signed move (fraction; -0.16 = -16 %).")
    high: _Change = Field(description="Highest reported signed move (fraction).")
    sources: tuple[_Url, ...] = Field(min_length=1, description="Public sources (URLs).")
    note: str = ""
    index: str = Field("", description="Which index (index moves only, e.g. 'BTC').")

    @model_validator(mode="after")
    def _ordered(self) -> Move:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class Context(_Strict):
    """The market around the event (only what the sources report)."""

    tao_price_usd: float | Unknown = "unknown"
    circulating_tao: float | Unknown = "unknown"
    stolen_tao: float | Unknown | None = None
    stolen_usd: float | Unknown | None = None
    note: str = ""

    @model_validator(mode="after")
    def _positive(self) -> Context:
        for name in ("tao_price_usd", "circulating_tao", "stolen_tao", "stolen_usd"):
            value = getattr(self, name)
            if isinstance(value, float) and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected a positive number or 'unknown', got {value}")
        return self


class SuspensionReplay(_Strict):
    """Replay as an open-ended emission switch-off of a subnet with a given emission share."""

    kind: Literal["suspension"]
    target_share: float = Field(gt=0.0, lt=1.0, description="Emission share of the target.")
    justified: bool = Field(False, description="Whether observers saw it as warranted.")
    exiting_team: bool = Field(True, description="The target's high-value team exits and sells.")
    note: str = ""


class ExploitReplay(_Strict):
    """Replay as a theft of ``stolen_tao``, stopped by a chain halt or not."""

    kind: Literal["exploit"]
    stolen_tao: float = Field(gt=0.0, description="TAO stolen in total (TAO).")
    halt: bool = Field(description="Whether the authority halted the chain (24 h safe mode).")
    detection_delay_blocks: int = Field(
        1_000, ge=1, le=7_200 * 30, description="Blocks until the authority noticed (blocks)."
    )
    sold_fraction: float = Field(1.0, ge=0.0, le=1.0, description="Share the thief sold.")
    note: str = ""


class NoReplay(_Strict):
    """No on-chain action the market model prices: the model's move is 0 by construction."""

    kind: Literal["none"]
    reason: str = Field(min_length=1, description="Why the event is not replayed.")


Replay = Annotated[SuspensionReplay | ExploitReplay | NoReplay, Field(discriminator="kind")]


class MarketEvent(_Strict):
    """One documented intervention or incident."""

    id: _Slug
    date: dt.date
    date_end: dt.date | None = None
    kind: Literal["intervention", "incident", "announcement", "code_change"]
    title: str = Field(min_length=1)
    on_chain: str = Field(min_length=1, description="What happened on chain.")
    sources: tuple[_Url, ...] = Field(min_length=1)
    tao_move: Move | Unknown
    index_move: Move | Unknown
    context: Context = Field(default_factory=Context)
    model: Replay

    @model_validator(mode="after")
    def _dates(self) -> MarketEvent:
        if self.date_end is not None and self.date_end < self.date:
            raise ValueError(f"date_end ({self.date_end}) is before date ({self.date})")
        return self

    @property
    def observed(self) -> bool:
        """Whether the TAO move is known (only then can the event enter the fit)."""
        return isinstance(self.tao_move, Move)

    def abnormal_fall(self, assumptions: Assumptions) -> tuple[float, float, float]:
        """TAO's own one-day fall: ``(low, high, sigma)`` (fractions; positive = fall).

        The span is the reported TAO span minus ``index_beta`` times the index span, widths
        added (conservative); ``sigma`` is the Gaussian blur around it: model discrepancy, plus
        the index's typical daily move when the index move is unknown.

        Raises
        ------
        ValueError
            If the TAO move is unknown.
        """
        if not isinstance(self.tao_move, Move):
            raise ValueError(f"event {self.id}: the TAO move is unknown")
        b = assumptions.index_beta
        variance = assumptions.model_sigma**2
        if isinstance(self.index_move, Move):
            lo_change = self.tao_move.low - b * self.index_move.high
            hi_change = self.tao_move.high - b * self.index_move.low
        else:
            lo_change, hi_change = self.tao_move.low, self.tao_move.high
            variance += (b * assumptions.unknown_index_sigma) ** 2
        return -hi_change, -lo_change, math.sqrt(variance)


class EventCatalog(_Strict):
    """The whole events file."""

    schema_version: Literal[1]
    assumptions: Assumptions = Field(default_factory=Assumptions)
    event: tuple[MarketEvent, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> EventCatalog:
        seen: set[str] = set()
        for e in self.event:
            if e.id in seen:
                raise ValueError(f"duplicate event id {e.id!r}")
            seen.add(e.id)
        return self

    @property
    def events(self) -> tuple[MarketEvent, ...]:
        """The events in file order."""
        return self.event

    def get(self, event_id: str) -> MarketEvent:
        """The event with id ``event_id`` (KeyError naming the known ids otherwise)."""
        for e in self.event:
            if e.id == event_id:
                return e
        raise KeyError(f"no event {event_id!r}; known: {', '.join(e.id for e in self.event)}")


class EventsFileError(ValueError):
    """The events file is missing, not TOML, or does not validate."""


def default_events_path() -> Path:
    """``scenarios/data/events.toml``, shipped with govsim."""
    from scenarios import DATA_DIR

    return DATA_DIR / "events.toml"


#: Names pydantic puts in an error location for a union branch rather than a field.
_UNION_TAGS = frozenset({"suspension", "exploit", "none", "float", "int", "str", "bool"})


def _where(data: dict[str, Any], loc: Sequence[str | int]) -> str:
    """``event[3] (id=jul_2024_exploit_safe_mode).tao_move.low`` from a pydantic location."""
    parts: list[str] = []
    items = list(loc)
    i = 0
    while i < len(items):
        part = items[i]
        if part == "event" and i + 1 < len(items) and isinstance(items[i + 1], int):
            index = int(items[i + 1])
            events = data.get("event")
            event_id = ""
            if isinstance(events, list) and 0 <= index < len(events):
                raw = events[index]
                event_id = str(raw.get("id", "")) if isinstance(raw, dict) else ""
            parts.append(f"event[{index}]" + (f" (id={event_id})" if event_id else ""))
            i += 2
            continue
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{part}]"]
        elif not str(part).isidentifier() or part in _UNION_TAGS:
            pass  # a union branch pydantic names in its location, not a field
        else:
            parts.append(str(part))
        i += 1
    return ".".join(parts) or "(top level)"


def parse_events(data: dict[str, Any], *, source: str = "events") -> EventCatalog:
    """Validate an already-parsed events table.

    Raises
    ------
    EventsFileError
        One line per problem: ``source: field path: message (got value)``.
    """
    try:
        return EventCatalog.model_validate(data)
    except ValidationError as exc:
        lines = []
        seen: set[str] = set()
        for err in exc.errors():
            where = _where(data, err.get("loc", ()))
            got = err.get("input")
            shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
            line = f"{source}: {where}: {err['msg']} (got {shown})"
            if line not in seen:
                seen.add(line)
                lines.append(line)
        raise EventsFileError("\n".join(lines)) from None


def load_events(path: str | Path | None = None) -> EventCatalog:
    """Read and validate an events file (default: the shipped ``events.toml``).

    Raises
    ------
    EventsFileError
        If the file cannot be read, is not TOML, or a field is wrong (the message names it).
    """
    file = Path(path) if path is not None else default_events_path()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise EventsFileError(f"{file}: cannot read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EventsFileError(f"{file}: not valid TOML ({exc})") from None
    return parse_events(data, source=str(file))
