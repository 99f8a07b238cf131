"""What govsim ships: the scenario library and the governance policies, described for users.

The scenario library is the ``scenarios`` package's TOML files, read from the installed package
data, so a library scenario is usable by name from any directory::

    >>> from sim.library import resolve_scenario
    >>> resolve_scenario("baseline").name
    'baseline.toml'

The policy catalogue lists every registered governance policy with a one-line summary and its
configuration fields (defaults, bounds, units): what ``govsim policies list`` prints.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_REPORT_KPIS",
    "LibraryScenario",
    "PolicyInfo",
    "PolicyParam",
    "ScenarioNotFoundError",
    "library",
    "policy_catalog",
    "resolve_scenario",
    "scenario_header",
]

#: The KPI `govsim report` plots over a library scenario's sweep by default: the quantity its
#: design asks about. Scenarios not listed use the verdict's harm KPI.
DEFAULT_REPORT_KPIS: dict[str, str] = {
    "validator_cabal": "cabal.gain",
    "exploit_2024": "exploits.stolen_tao",
    "captured_governance": "fp.emission_share_hit",
    "covenant_2026": "pnl.tao_holders.mean",
    "stake_concentration": "fp.emission_share_hit",
}


class ScenarioNotFoundError(ValueError):
    """A scenario argument that is neither a file nor the name of a library scenario."""


# -- the scenario library ----------------------------------------------------------------------
@dataclass(frozen=True)
class LibraryScenario:
    """One shipped scenario file.

    Attributes
    ----------
    name
        The file's stem (``covenant_2026``): what ``govsim run NAME`` accepts.
    path
        The installed file.
    summary
        The first line of the file's header comment, after its name.
    """

    name: str
    path: Path
    summary: str


def _scenario_dir() -> Path:
    """The installed ``scenarios`` package directory (a real directory: files are read by path,
    since ``extends`` resolves relative to each file)."""
    from scenarios import SCENARIO_DIR

    return SCENARIO_DIR


def scenario_header(path: Path) -> list[str]:
    """The header comment of a scenario file, without the ``#`` marks."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].removeprefix(" "))
    return lines


def _summary(name: str, header: list[str]) -> str:
    """``# validator_cabal — a validator cabal ...`` -> ``a validator cabal ...`` (first line,
    continued while the sentence goes on)."""
    if not header:
        return ""
    first = header[0]
    for sep in (" — ", " - ", ": "):
        if first.startswith(name + sep):
            first = first[len(name) + len(sep) :]
            break
    text = [first]
    for line in header[1:]:
        if not line.strip() or text[-1].rstrip().endswith("."):
            break
        text.append(line.strip())
    summary = " ".join(t.strip() for t in text)
    return summary[:1].upper() + summary[1:]


def library() -> dict[str, LibraryScenario]:
    """The shipped scenarios by name, sorted (top-level files of the ``scenarios`` package;
    the live-mode scenarios under ``scenarios/live`` are for ``govsim live serve``)."""
    out = {}
    for path in sorted(_scenario_dir().glob("*.toml")):
        out[path.stem] = LibraryScenario(
            path.stem, path, _summary(path.stem, scenario_header(path))
        )
    return out


def resolve_scenario(arg: str | os.PathLike[str]) -> Path:
    """The scenario file ``arg`` names: a file path, or a library scenario by name.

    A bare name (``covenant_2026``, or ``covenant_2026.toml`` with no directory part) that is
    not a file in the current directory is looked up in the installed library, so library
    scenarios work from any directory. Any other path is returned as it is: the scenario loader
    says what is wrong with it.

    Raises
    ------
    ScenarioNotFoundError
        For a bare name that is neither a file here nor a library scenario (the message lists
        the library).
    """
    path = Path(arg)
    text = str(arg)
    try:
        if path.exists() or "\0" in text or path.parent != Path(".") or not path.name:
            return path
    except (OSError, ValueError):  # a name the OS cannot hold: the loader says so
        return path
    shipped = library()
    stem = path.name.removesuffix(".toml")
    if stem in shipped:
        return shipped[stem].path
    raise ScenarioNotFoundError(
        f"{text[:200]}: no such scenario file, and no library scenario of that name (library: "
        f"{', '.join(shipped)}; `govsim scenarios list` describes them)"
    )


# -- the policy catalogue ----------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyParam:
    """One configuration field of a governance policy.

    Attributes
    ----------
    name, default, doc
        The field, its default and its one-line description.
    type
        ``int``, ``float``, ``bool``, ``str``, ``list`` (``| None`` when it may be unset).
    unit
        ``blocks`` (7 200 a day) or ``TAO`` where the field carries a unit, else None.
    low, high, choices
        Bounds checked when a config is built (None: unbounded).
    """

    name: str
    default: Any
    doc: str
    type: str
    unit: str | None
    low: float | None
    high: float | None
    choices: tuple[Any, ...] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples as lists, infinities as strings)."""
        out = dataclasses.asdict(self)
        out["choices"] = list(self.choices) if self.choices is not None else None
        for key in ("default", "low", "high"):
            value = out[key]
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = str(value)
            elif isinstance(value, tuple):
                out[key] = list(value)
        return out


@dataclass(frozen=True)
class PolicyInfo:
    """A registered governance policy.

    Attributes
    ----------
    name
        The name ``--policy`` takes.
    summary
        One line: what decides and how fast.
    params
        Its configuration fields (a scenario's ``[governance.policy_config]``).
    aliases
        Other names that select it.
    source
        ``module:Class``.
    """

    name: str
    summary: str
    params: tuple[PolicyParam, ...]
    aliases: tuple[str, ...]
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "name": self.name,
            "summary": self.summary,
            "aliases": list(self.aliases),
            "source": self.source,
            "params": [p.to_dict() for p in self.params],
        }


def _type_name(hint: Any) -> tuple[str, str | None]:
    """(type name, unit name) of a config field's annotation."""
    from protocol.units import Unit

    unit = None
    optional = False
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        optional = type(None) in args
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is typing.Annotated:
        base, *extras = typing.get_args(hint)
        unit = next((e.name for e in extras if isinstance(e, Unit)), None)
        hint = base
    origin = typing.get_origin(hint) or hint
    name = {int: "int", float: "float", bool: "bool", str: "str", tuple: "list", list: "list"}.get(
        origin, getattr(origin, "__name__", str(origin))
    )
    return (f"{name} | None" if optional else name), unit


def _params(config_cls: type) -> tuple[PolicyParam, ...]:
    if not dataclasses.is_dataclass(config_cls):
        return ()
    hints = typing.get_type_hints(config_cls, include_extras=True)
    out = []
    for field in dataclasses.fields(config_cls):
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = None
        type_name, unit = _type_name(hints.get(field.name, Any))
        meta: Mapping[str, Any] = field.metadata
        choices = meta.get("choices")
        out.append(
            PolicyParam(
                field.name,
                default,
                str(meta.get("doc") or ""),
                type_name,
                unit,
                meta.get("lo"),
                meta.get("hi"),
                tuple(choices) if choices is not None else None,
            )
        )
    return tuple(out)


def _first_line(doc: str | None) -> str:
    lines = [line.strip() for line in (doc or "").strip().splitlines()]
    text = []
    for line in lines:
        if not line:
            break
        text.append(line)
    return " ".join(text).replace("``", "`")  # reST literals read as Markdown ones


def policy_catalog() -> list[PolicyInfo]:
    """Every registered governance policy (sorted by name), with its parameters."""
    import protocol.governance  # noqa: F401  (registers the built-in policies)
    from protocol.governance.registry import POLICIES, PRESET_ALIASES, policy_class

    aliases: dict[str, list[str]] = {}
    for alias, target in PRESET_ALIASES.items():
        aliases.setdefault(target, []).append(alias)
    out = []
    for name in POLICIES.names():
        cls = policy_class(name)
        out.append(
            PolicyInfo(
                name,
                _first_line(cls.__doc__),
                _params(cls.Config),
                tuple(sorted(aliases.get(name, []))),
                f"{cls.__module__}:{cls.__qualname__}",
            )
        )
    return out
