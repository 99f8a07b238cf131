"""Scenario files: TOML -> one validation -> an immutable :class:`Scenario`.

A scenario file is a :class:`sim.config.SimConfig` body plus six study keys::

    extends  = "baseline.toml"          # optional: inherit another file (path relative to this one)
    policies = ["sudo", "v2_24h"]       # or "all" (every registered governance policy)
    seeds    = 16                       # default replications per scenario
    market_uncertainty = "prior"        # draw the fitted market constants per replication, or "off"
    horizon_days = 60                   # ... any SimConfig field, tables as TOML tables
    [network]
    tempo = "72 minutes"                # quantities carry units (see below)
    [[shocks]]
    kind = "quality_jump"
    day = "5 days"
    netuid = 0
    [sweep]                             # optional experimental design (see below)
    design = "grid"
    [sweep.axes]
    "validators.mix.cabal" = [0.1, 0.3, 0.6]
    [sensitivity]                       # optional: ranges for `govsim sensitivity` (see below)
    params = {"market.contagion_beta" = [2.3, 3.6]}

**One pass.** The file (and its ``extends`` chain) is read and merged as raw data; ``--set``
overrides and a sweep point are applied to that raw data; the result is validated once by
pydantic into a :class:`SimConfig`. Units, strict types, bounds and the free-form tables
(levers, policy configurations, strategy parameters) are all part of that one validation
(:mod:`sim.config_fields`); this module adds the files, ``extends``, sweeps and the translation
of every failure into a :class:`ScenarioError`.

**Units.** A field's type carries its unit (``Blocks``, ``Days``, ``Tao``). A plain number is in
that unit; ``"<number> <unit>"`` or ``{value = <number>, unit = "<unit>"}`` is converted into it:

- time: ``blocks`` (12 s), ``minutes``, ``hours``, ``days``, ``weeks`` (7 200 blocks a day);
- amount: ``TAO``, ``rao`` (1 TAO = 1e9 rao).

A quantity for a field without a unit, of another dimension, not finite, or not a whole number
of blocks for a block field is an error. Strings are never quantities for string fields
(``name = "90 days"`` is a name).

**extends.** The base file is loaded first (up to :data:`MAX_EXTENDS` files; cycles are errors),
then this file is merged over it: tables merge key by key, everything else (arrays such as
``shocks`` included) replaces. ``policies``, ``seeds`` and ``sweep`` are inherited unless given.

**sweep.** ``design = "grid"`` with ``[sweep.axes]`` (dotted path -> list of values),
``"lhs"`` or ``"sobol"`` with ``n``, optional ``seed`` and ``[sweep.bounds]`` (path ->
``[low, high]``; integer bounds give integers), or ``"list"`` with ``records = [{...}, ...]``.
Paths address the SimConfig body (``"shocks.1.day"`` indexes arrays); values may carry units.
A design's size is checked before any point is built (at most :data:`MAX_SWEEP_POINTS`).

**sensitivity.** ``params`` (dotted path -> ``[low, high]``, values may carry units, at least
one) and optionally ``method`` (``"oat"``, ``"morris"`` or ``"both"``), ``trajectories`` and
``levels`` (an even number >= 2): the default ranges and design of ``govsim sensitivity``
(:mod:`sim.sensitivity`). Both ends of every range are validated with the file.

**Limits.** Files of at most :data:`MAX_FILE_BYTES`, nesting at most :data:`MAX_DEPTH` deep,
``extends`` chains of at most :data:`MAX_EXTENDS` files, at most :data:`MAX_SEEDS` seeds.

**market_uncertainty.** ``"prior"`` (default) asks studies to draw the market constants fitted
to the documented events per replication (an outer Monte Carlo; ``sim.runner.RunConfig``);
``"off"`` keeps the file's constants in every run.

**Errors** are :class:`ScenarioError`: they name the file, the field path, the value and what
was expected; unknown keys are errors (with a suggestion).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from protocol.units import Unit, convert
from protocol.units import parse_quantity as _parse_units
from sim import sampling
from sim.config import SimConfig
from sim.config_fields import FieldError, field_unit

__all__ = [
    "MARKET_UNCERTAINTY",
    "MAX_DEPTH",
    "MAX_EXTENDS",
    "MAX_FILE_BYTES",
    "MAX_RUNS",
    "MAX_SEEDS",
    "MAX_SWEEP_POINTS",
    "STUDY_KEYS",
    "Scenario",
    "ScenarioError",
    "SensitivitySpec",
    "SweepSpec",
    "check_study_size",
    "config_from_dict",
    "known_policies",
    "load_scenario",
    "parse_bounds",
    "parse_overrides",
    "parse_quantity",
    "resolve_policies",
    "validate_config",
]

#: Top-level keys that belong to the study, not to the SimConfig body.
STUDY_KEYS: tuple[str, ...] = (
    "extends",
    "policies",
    "seeds",
    "sweep",
    "market_uncertainty",
    "sensitivity",
)
#: Values of the ``market_uncertainty`` study key (``sim.runner.RunConfig.market_uncertainty``).
MARKET_UNCERTAINTY: tuple[str, ...] = ("prior", "off")
_SWEEP_KEYS: dict[str, tuple[str, ...]] = {
    "grid": ("design", "axes"),
    "lhs": ("design", "n", "seed", "bounds"),
    "sobol": ("design", "n", "seed", "bounds"),
    "list": ("design", "records"),
}

#: Largest scenario file read (bytes).
MAX_FILE_BYTES: int = 1024 * 1024
#: Deepest nesting of tables and arrays in a scenario (or an override value).
MAX_DEPTH: int = 32
#: Most files in one ``extends`` chain (the file itself included).
MAX_EXTENDS: int = 32
#: Most points in a sweep design.
MAX_SWEEP_POINTS: int = 10_000
#: Most seeds (replications) per scenario.
MAX_SEEDS: int = 10_000
#: Most runs in one study (points x policies x seeds).
MAX_RUNS: int = 1_000_000
#: Longest dotted path of an override or a sweep axis (characters).
_MAX_PATH_CHARS = 256


# -- errors ---------------------------------------------------------------------------------
_MISSING = object()  # the value of a required key that is absent


class ScenarioError(ValueError):
    """A scenario file (or override) that does not validate.

    Attributes
    ----------
    file, path, value, expected
        Where (file and dotted field path), what was given and what was expected.
    """

    def __init__(self, file: str | None, path: str, value: Any, expected: str) -> None:
        self.file = file or "<scenario>"
        self.path = path or "<top level>"
        self.value = value
        self.expected = expected
        super().__init__(self._message())

    def _message(self) -> str:
        shown = _show(self.value)
        return f"{self.file}: {self.path}: got {shown}; expected {self.expected}"


def _show(value: Any) -> str:
    """A short one-line rendering of ``value`` (bounded: never recurses without limit)."""
    if value is _MISSING:
        return "nothing (the key is missing)"
    text = _short_repr(value, 3)
    text = text.replace("\n", "\\n")
    return text if len(text) <= 80 else text[:77] + "..."


def _short_repr(value: Any, depth: int) -> str:
    if isinstance(value, Mapping):
        if depth <= 0:
            return "{...}"
        items = list(value.items())[:6]
        body = ", ".join(f"{json.dumps(str(k))}: {_short_repr(v, depth - 1)}" for k, v in items)
        return "{" + body + (", ..." if len(value) > 6 else "") + "}"
    if isinstance(value, list | tuple):
        if depth <= 0:
            return "[...]"
        body = ", ".join(_short_repr(v, depth - 1) for v in list(value)[:8])
        return "[" + body + (", ..." if len(value) > 8 else "") + "]"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, str) and len(value) > 200:
        return repr(value[:200])
    return repr(value)


def _join(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_quantity(value: Any) -> tuple[float, str] | None:
    """Parse ``"30 days"`` or ``{value = 30, unit = "days"}`` into ``(30.0, "days")``.

    Returns None when ``value`` is not written as a quantity (a plain number, another string).
    The unit comes back as written (lower case); :func:`protocol.units.parse_quantity` gives
    the :class:`protocol.units.Unit` itself.

    Raises
    ------
    ValueError
        If it looks like a quantity but the unit is unknown or the number is not finite.

    Examples
    --------
    >>> parse_quantity("1.5 hours")
    (1.5, 'hours')
    >>> parse_quantity({"value": 37000, "unit": "TAO"})
    (37000.0, 'tao')
    >>> parse_quantity(12) is None
    True
    """
    parsed = _parse_units(value)
    if parsed is None:
        return None
    if isinstance(value, Mapping):
        written = str(value["unit"])
    else:
        found = re.search(r"([A-Za-z]+)\s*$", value)
        written = found.group(1) if found else parsed[1].name
    return parsed[0], written.lower()


# -- raw data: depth, origins, merging, overrides -------------------------------------------------
def _too_deep(data: Any, limit: int = MAX_DEPTH) -> list[str | int] | None:
    """The path to the first value nested deeper than ``limit``, or None (iterative)."""
    stack: list[tuple[Any, list[str | int]]] = [(data, [])]
    while stack:
        node, path = stack.pop()
        if len(path) > limit:
            return path[: limit + 1]
        if isinstance(node, Mapping):
            stack.extend((v, [*path, str(k)]) for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((v, [*path, i]) for i, v in enumerate(node))
    return None


class _Origins:
    """Which file each value came from (for error messages after ``extends`` merges)."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.by_path: dict[tuple[str | int, ...], str] = {}

    def record(
        self, data: Mapping[str, Any], file: str, prefix: tuple[str | int, ...] = ()
    ) -> None:
        for key, value in data.items():
            path = (*prefix, key)
            self.by_path[path] = file
            if isinstance(value, Mapping):
                self.record(value, file, path)

    def set(self, path: Sequence[str | int], file: str) -> None:
        self.by_path[tuple(path)] = file

    def file_of(self, path: Sequence[str | int]) -> str:
        parts = tuple(path)
        while parts:
            if parts in self.by_path:
                return self.by_path[parts]
            parts = parts[:-1]
        return self.default

    def copy(self) -> _Origins:
        out = _Origins(self.default)
        out.by_path = dict(self.by_path)
        return out


def _is_quantity_table(value: Any) -> bool:
    """True for a ``{value = ..., unit = ...}`` table (a quantity, not a config section)."""
    return isinstance(value, Mapping) and set(value) == {"value", "unit"}


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else in ``over`` replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if (
            isinstance(value, Mapping)
            and isinstance(out.get(key), Mapping)
            and key != "sweep"
            and not _is_quantity_table(value)
        ):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _split_path(dotted: str) -> list[str | int]:
    if not isinstance(dotted, str) or not dotted or len(dotted) > _MAX_PATH_CHARS:
        raise KeyError(str(dotted)[:80])
    parts = dotted.split(".")
    if any(not p for p in parts):
        raise KeyError(dotted)
    return [int(p) if p.isdigit() and len(p) <= 6 else p for p in parts]


def _set_path(body: dict[str, Any], dotted: str, value: Any) -> list[str | int]:
    """Set ``value`` at a dotted path of ``body``; numeric parts index arrays.

    Returns the path as parts. Raises KeyError when the path cannot be set.
    """
    parts = _split_path(dotted)
    node: Any = body
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise KeyError(_join(parts[: i + 1]))
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise KeyError(_join(parts[: i + 1]))
        if part not in node or node[part] is None:
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise KeyError(_join(parts))
        node[last] = copy.deepcopy(value)
    elif isinstance(node, dict):
        node[last] = copy.deepcopy(value)
    else:
        raise KeyError(_join(parts))
    return parts


def _apply_overrides(
    body: dict[str, Any], overrides: Mapping[str, Any], origin: _Origins, where: str, label: str
) -> None:
    """Apply dotted-path ``overrides`` to the raw ``body`` (in place), recording their origin."""
    for dotted, value in overrides.items():
        deep = _too_deep(value, MAX_DEPTH - 2)
        if deep is not None:
            raise ScenarioError(
                where, f"{label}{dotted}", "...", f"a value nested at most {MAX_DEPTH - 2} deep"
            )
        if str(dotted).split(".")[0] in STUDY_KEYS:
            raise ScenarioError(
                where,
                f"{label}{dotted}",
                value,
                "a path into the scenario body (study keys are set with --seeds and --policies)",
            )
        try:
            parts = _set_path(body, dotted, value)
        except (KeyError, TypeError):
            raise ScenarioError(
                where,
                f"{label}{dotted}",
                value,
                "a path into the scenario body (arrays indexed in range)",
            ) from None
        origin.set(parts, where)


def parse_overrides(items: Sequence[str], where: str = "--set") -> dict[str, Any]:
    """Parse ``PATH=VALUE`` strings; VALUE is a TOML value, or a bare string when it is not one.

    Raises
    ------
    ScenarioError
        For an item without ``=``, an empty path, or a value nested too deeply.
    """
    out: dict[str, Any] = {}
    for item in items:
        path, sep, text = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ScenarioError(where, item[:80], item, "PATH=VALUE, e.g. horizon_days=10")
        try:
            parsed = tomllib.loads(f"v = {text}")
            value = parsed["v"] if set(parsed) == {"v"} else text
        except tomllib.TOMLDecodeError:
            value = text
        except RecursionError:
            raise ScenarioError(
                where, path, text[:40] + "...", f"a value nested at most {MAX_DEPTH - 2} deep"
            ) from None
        out[path] = value
    return out


# -- reading files ----------------------------------------------------------------------------------
def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError, RuntimeError):
        return str(path)


def _resolve_file(path: Path, where: str, key: str) -> Path:
    """``path`` resolved, refusing NUL bytes, over-long names, symlink loops and non-files."""
    text = str(path)
    if "\0" in text:
        raise ScenarioError(where, key, text, "a file name without NUL bytes")
    try:
        resolved = path.resolve(strict=True)
        is_file = resolved.is_file()
    except RuntimeError:  # a symlink loop (Python 3.11)
        raise ScenarioError(
            where, key, text, "an existing scenario file (a symlink loop)"
        ) from None
    except FileNotFoundError:
        raise ScenarioError(
            where, key, text, "an existing scenario file (no such scenario file)"
        ) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError(where, key, text, f"an existing scenario file ({reason})") from None
    if not is_file:
        raise ScenarioError(where, key, text, "an existing scenario file (this is not a file)")
    return resolved


def _read_toml(path: Path, shown: str) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(
                shown, "<file>", f"{size} bytes", f"a file of at most {MAX_FILE_BYTES} bytes"
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(shown, "<file>", None, f"a readable file ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(
            shown,
            "<file>",
            f"over {MAX_FILE_BYTES} bytes",
            f"a file of at most {MAX_FILE_BYTES} bytes",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(shown, "<file>", None, f"UTF-8 text ({exc.reason})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(shown, "<file>", None, f"valid TOML ({exc})") from None
    except RecursionError:
        raise ScenarioError(
            shown, "<file>", "deeply nested arrays or tables", f"nesting at most {MAX_DEPTH} deep"
        ) from None
    deep = _too_deep(raw)
    if deep is not None:
        raise ScenarioError(
            shown,
            _join(deep[:6]) + "...",
            "deeply nested arrays or tables",
            f"nesting at most {MAX_DEPTH} deep",
        )
    return raw


def _resolve_extends(path: Path, origin: _Origins) -> dict[str, Any]:
    """Read ``path`` and its ``extends`` chain (iteratively) and merge them, base first."""
    chain: list[tuple[str, dict[str, Any]]] = []
    seen: list[Path] = []
    current = _resolve_file(path, _display(path), "<file>")
    while True:
        if current in seen:
            names = " -> ".join(_display(p) for p in (*seen, current))
            raise ScenarioError(
                _display(seen[-1]), "extends", _display(current), f"no cycle of extends ({names})"
            )
        if len(seen) >= MAX_EXTENDS:
            raise ScenarioError(
                _display(seen[-1]),
                "extends",
                _display(current),
                f"a chain of at most {MAX_EXTENDS} files",
            )
        seen.append(current)
        shown = _display(current)
        raw = _read_toml(current, shown)
        chain.append((shown, raw))
        parent = raw.get("extends")
        if parent is None:
            break
        if not isinstance(parent, str) or not parent:
            raise ScenarioError(shown, "extends", parent, "a path to a .toml file")
        current = _resolve_file(current.parent / parent, shown, "extends")
    merged: dict[str, Any] = {}
    for shown, raw in reversed(chain):
        own = {k: v for k, v in raw.items() if k != "extends"}
        origin.record(own, shown)
        merged = _merge(merged, own)
    return merged


# -- model introspection (paths into SimConfig) -------------------------------------------------
def _members(annotation: Any) -> list[Any]:
    """Flatten Annotated / Optional / Union into the member types."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_members(arg))
        return out
    return [annotation]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _pick(models: list[type[BaseModel]], node: Any) -> type[BaseModel] | None:
    """The union member a table describes, by its ``kind`` literal when there is one."""
    if len(models) == 1:
        return models[0]
    kind = node.get("kind") if isinstance(node, Mapping) else None
    for model in models:
        kind_field = model.model_fields.get("kind")
        if kind_field is not None and kind in typing.get_args(kind_field.annotation):
            return model
    return None


def _walk(path: Sequence[str | int], data: Any) -> tuple[type[BaseModel] | None, Any, bool]:
    """Walk ``path`` through SimConfig's models.

    Returns the model reached at the end (or None), the ``FieldInfo`` of the last field named,
    and whether the whole path stayed inside the models. ``data`` (the raw body) picks union
    members (shocks by ``kind``).
    """
    model: type[BaseModel] | None = SimConfig
    node: Any = data
    info: Any = None
    pending: list[type[BaseModel]] = []
    for part in path:
        if pending:  # inside an array of models: this part is the index
            if not isinstance(part, int):
                return None, None, False
            node = node[part] if isinstance(node, list) and part < len(node) else None
            model = _pick(pending, node) if node is not None else None
            pending = []
            continue
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None, None, False
        info = model.model_fields[part]
        node = node.get(part) if isinstance(node, Mapping) else None
        members = [m for m in _members(info.annotation) if m is not type(None)]
        models = [m for m in members if _is_model(m)]
        model = _pick(models, node) if models else None
        for m in members:
            if typing.get_origin(m) in (tuple, list):
                pending = [
                    t
                    for a in typing.get_args(m)
                    if a is not Ellipsis
                    for t in _members(a)
                    if _is_model(t)
                ]
    return model, info, True


def _unit_at(dotted: str, body: Mapping[str, Any]) -> Unit | None:
    try:
        parts = _split_path(dotted)
    except KeyError:
        return None
    _, info, inside = _walk(parts, body)
    return field_unit(info) if inside and info is not None else None


def _known_keys(path: Sequence[str | int], data: Any) -> list[str]:
    """The keys allowed where ``path``'s last key sits (for "did you mean")."""
    model, _, inside = _walk(list(path[:-1]), data)
    return list(model.model_fields) if inside and model is not None else []


# -- pydantic errors -> ScenarioError ----------------------------------------------------------
_EXPECTED: dict[str, str] = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "string_too_long": "a shorter string",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "tuple_type": "an array",
    "list_type": "an array",
    "too_long": "a shorter array",
    "missing": "a value (this field is required)",
    "extra_forbidden": "no such key (unknown key)",
}


def _expected(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    bounds = {
        "greater_than": (">", "gt"),
        "greater_than_equal": (">=", "ge"),
        "less_than": ("<", "lt"),
        "less_than_equal": ("<=", "le"),
    }
    if kind in bounds:
        sign, key = bounds[kind]
        return f"a value {sign} {ctx.get(key)}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"one of {str(ctx.get('expected_tags', 'the known kinds')).replace(chr(39), '')}"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} items"
    if kind == "int_type" and isinstance(err.get("input"), float):
        return "an integer (write it without a decimal point or exponent)"
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    msg = str(err.get("msg", "a valid value"))
    return msg.removeprefix("Value error, ")


def _data_path(data: Any, loc: Sequence[str | int]) -> list[str | int]:
    """Drop the tags pydantic adds to ``loc`` (``shocks.0.quality_jump.day``, ``[key]``)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, Mapping):
            if part in node:
                out.append(part)
                node = node[part]
            elif str(part) in node:
                out.append(part)
                node = node[str(part)]
            elif isinstance(part, str) and node.get("kind") == part:
                continue  # a discriminated-union tag
            else:
                out.append(part)
                node = None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(part, str) and part.startswith(("function-", "lax-", "strict-")):
            continue
        else:
            out.append(part)
            node = None
    return out


def _lookup(data: Any, path: Sequence[str | int]) -> Any:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            try:
                node = node[str(part)]
            except (KeyError, IndexError, TypeError):
                return _MISSING
    return node


def _split_message(msg: str) -> tuple[list[str | int], str] | None:
    """``"network.n_validators: 100 must be < 64"`` -> (path, message), else None."""
    head, sep, rest = msg.partition(": ")
    if not sep or not re.fullmatch(r"[A-Za-z_][\w.\[\]]*", head):
        return None
    parts: list[str | int] = [
        int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", head) if p
    ]
    return parts, rest


def _validation_error(
    exc: ValidationError, data: Mapping[str, Any], origin: _Origins, label: str = ""
) -> ScenarioError:
    """The first error of ``exc`` as a ScenarioError naming file, path, value and expected."""
    errors = exc.errors(include_url=False)
    # An unknown key usually explains the rest (a misspelt key is also a missing one).
    err = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    path = _data_path(data, err.get("loc", ()))

    def make(at: Sequence[str | int], value: Any, expected: str) -> ScenarioError:
        return ScenarioError(origin.file_of(at), label + _join(at), value, expected)

    kind = err.get("type")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'")
        path = [*path, tag]
    if kind == "missing":
        return make(path, _MISSING, _expected(err))
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else ""
        known = _known_keys(path, data)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listed = f"; known keys: {', '.join(known)}" if known else ""
        return make(path, err.get("input"), f"a known key{hint}: {key!r} is unknown here{listed}")
    if kind == "value_error":
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            parts = [p for p in re.split(r"\.|\[(\d+)\]", cause.path) if p]
            named: list[str | int] = [int(p) if p.isdigit() else p for p in parts]
            base = path[:-1] if path and named and path[-1] == named[0] else path
            return make([*base, *named], cause.value, cause.expected)
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        split = _split_message(msg)
        if split is not None:
            named, rest = split
            for candidate in (named, [*path, *named]):
                value = _lookup(data, candidate)
                if value is not _MISSING:
                    expected = (
                        rest.split("; expected ", 1)[-1]
                        if "; expected " in rest
                        else f"a valid value ({rest})"
                    )
                    return make(candidate, value, expected)
        return make(path, _lookup(data, path), msg)
    value = _lookup(data, path) if path else err.get("input")
    if value is _MISSING:
        value = err.get("input")
    expected = _expected(err)
    if kind in ("float_type", "int_type", "bool_type") and isinstance(value, str | Mapping):
        try:
            is_quantity = _parse_units(value) is not None
        except ValueError:
            is_quantity = True
        if is_quantity:
            expected = "a plain number (this field has no unit to convert to)"
    return make(path, value, expected)


def _validate(body: Mapping[str, Any], origin: _Origins, label: str = "") -> SimConfig:
    """The one validation of a raw body into a SimConfig."""
    deep = _too_deep(body)
    if deep is not None:
        raise ScenarioError(
            origin.file_of(deep),
            label + _join(deep[:6]) + "...",
            "deeply nested data",
            f"nesting at most {MAX_DEPTH} deep",
        )
    try:
        return SimConfig.model_validate(body)
    except ValidationError as exc:
        raise _validation_error(exc, body, origin, label) from None
    except RecursionError:
        raise ScenarioError(
            origin.default,
            label or "<top level>",
            "deeply nested data",
            f"nesting at most {MAX_DEPTH} deep",
        ) from None


def validate_config(data: Mapping[str, Any], *, source: str | None = None) -> SimConfig:
    """Validate plain data (SimConfig fields, units allowed) into a :class:`SimConfig`.

    Raises
    ------
    ScenarioError
        Naming ``source``, the field path, the value and what was expected.
    """
    if not isinstance(data, Mapping):
        raise ScenarioError(source, "<top level>", data, "a table of SimConfig fields")
    return _validate(data, _Origins(source or "<config>"))


def config_from_dict(data: Mapping[str, Any]) -> SimConfig:
    """Validate a stored config (a ``model_dump``, e.g. from a study's scenarios table)."""
    return validate_config(data, source="<stored config>")


# -- sweeps ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepSpec:
    """A validated ``[sweep]`` table (see the module docstring).

    Its :attr:`size` is known without building a point; :meth:`points` builds them.
    """

    design: Literal["grid", "lhs", "sobol", "list"]
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    bounds: tuple[tuple[str, tuple[Any, Any]], ...] = ()
    n: int = 0
    seed: int | None = None
    records: tuple[tuple[tuple[str, Any], ...], ...] = ()

    @property
    def size(self) -> int:
        """The number of points, computed without building them."""
        if self.design == "grid":
            return math.prod(len(v) for _, v in self.axes)
        if self.design == "list":
            return len(self.records)
        return self.n

    def points(self) -> list[sampling.Point]:
        """The design's points (raw values: units are converted when applied).

        Raises
        ------
        ValueError
            If the design has more than :data:`MAX_SWEEP_POINTS` points (nothing is built).
        """
        if self.size > MAX_SWEEP_POINTS:
            raise ValueError(f"sweep: {self.size} points; expected at most {MAX_SWEEP_POINTS}")
        if self.design == "grid":
            return sampling.grid({k: list(v) for k, v in self.axes})
        if self.design == "lhs":
            return sampling.lhs(self.n, dict(self.bounds), seed=self.seed)
        if self.design == "sobol":
            return sampling.sobol(self.n, dict(self.bounds), seed=self.seed)
        return sampling.from_records([dict(r) for r in self.records])

    def probes(self) -> Iterator[tuple[str, sampling.Point]]:
        """Points that exercise every value of the design once, labelled, without the product.

        Grid: for each axis value, the design point holding it with every other axis at its
        first value (labelled with its index in :meth:`points`); list: every record; lhs and
        sobol: each bound at its low and high end, the others at theirs too.
        """
        if self.design == "grid":
            lengths = [len(v) for _, v in self.axes]
            first = {k: v[0] for k, v in self.axes}
            for a, (name, values) in enumerate(self.axes):
                stride = math.prod(lengths[a + 1 :])
                for i, value in enumerate(values):
                    if i == 0 and a > 0:
                        continue  # the same point as axis 0's first value
                    yield f"sweep point {i * stride}: ", {**first, name: value}
        elif self.design == "list":
            for i, record in enumerate(self.records):
                yield f"sweep point {i}: ", dict(record)
        else:
            for end, label in ((0, "low"), (1, "high")):
                yield (
                    f"sweep.bounds ({label} ends): ",
                    {name: pair[end] for name, pair in self.bounds},
                )

    def to_dict(self) -> dict[str, Any]:
        """The ``[sweep]`` table as plain data."""
        out: dict[str, Any] = {"design": self.design}
        if self.design == "grid":
            out["axes"] = {k: list(v) for k, v in self.axes}
        elif self.design == "list":
            out["records"] = [dict(r) for r in self.records]
        else:
            out.update(n=self.n, bounds={k: list(v) for k, v in self.bounds})
            if self.seed is not None:
                out["seed"] = self.seed
        return out


def _bound_number(value: Any, unit: Unit | None) -> Any:
    """A bound in the target field's unit (bounds may carry units)."""
    parsed = _parse_units(value)
    if parsed is None:
        return value
    if unit is None:
        raise ValueError("the field has no unit to convert to")
    converted = convert(parsed[0], parsed[1], unit)
    return round(converted) if unit.name in ("blocks", "rao") else converted


def _parse_sweep(raw: Any, file: str, body: Mapping[str, Any]) -> SweepSpec | None:
    """Check a ``[sweep]`` table's shape and size (no point is built)."""
    if raw is None:
        return None

    def err(path: str, value: Any, expected: str) -> ScenarioError:
        return ScenarioError(file, f"sweep{path}", value, expected)

    if not isinstance(raw, Mapping):
        raise err("", raw, "a table ([sweep])")
    design = raw.get("design")
    if not isinstance(design, str) or design not in _SWEEP_KEYS:
        raise err(".design", design, f"one of {', '.join(_SWEEP_KEYS)}")
    for key in raw:
        if key not in _SWEEP_KEYS[design]:
            raise err(
                f".{key}",
                raw[key],
                f"a key of a {design} sweep ({', '.join(_SWEEP_KEYS[design])}); unknown key",
            )
    if design == "grid":
        axes = raw.get("axes")
        if not isinstance(axes, Mapping) or not axes:
            raise err(".axes", axes, "a table of parameter path -> array of values")
        size = 1
        for name, values in axes.items():
            if not isinstance(values, list) or not values:
                raise err(f".axes.{name}", values, "a non-empty array of values")
            size *= len(values)
            if size > MAX_SWEEP_POINTS:
                raise err(
                    ".axes", f"{size}+ points", f"a design of at most {MAX_SWEEP_POINTS} points"
                )
        return SweepSpec("grid", axes=tuple((k, tuple(v)) for k, v in axes.items()))
    if design == "list":
        records = raw.get("records")
        if (
            not isinstance(records, list)
            or not records
            or not all(isinstance(r, Mapping) for r in records)
        ):
            raise err(".records", records, "a non-empty array of tables")
        if len(records) > MAX_SWEEP_POINTS:
            raise err(
                ".records",
                f"{len(records)} records",
                f"a design of at most {MAX_SWEEP_POINTS} points",
            )
        return SweepSpec("list", records=tuple(tuple(r.items()) for r in records))
    n = raw.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise err(".n", n, "a positive integer (number of points)")
    if n > MAX_SWEEP_POINTS:
        raise err(".n", n, f"at most {MAX_SWEEP_POINTS} points")
    seed = raw.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**63 - 1
    ):
        raise err(".seed", seed, "an integer in [0, 2^63 - 1]")
    bounds = raw.get("bounds")
    if not isinstance(bounds, Mapping) or not bounds:
        raise err(".bounds", bounds, "a table of parameter path -> [low, high]")
    if len(bounds) > 1_000:
        raise err(".bounds", f"{len(bounds)} parameters", "at most 1000 parameters")
    parsed = parse_bounds(bounds, body, file, where="sweep.bounds")
    return SweepSpec(design, bounds=tuple(parsed.items()), n=n, seed=seed)


#: Keys of the ``[sensitivity]`` table.
_SENSITIVITY_KEYS: tuple[str, ...] = ("params", "method", "trajectories", "levels")
#: Most parameters in a ``[sensitivity]`` table.
MAX_SENSITIVITY_PARAMS: int = 64


@dataclass(frozen=True)
class SensitivitySpec:
    """A validated ``[sensitivity]`` table: default ranges and design of ``govsim sensitivity``.

    Attributes
    ----------
    params
        ``(dotted path, (low, high))`` pairs as written (quantities unconverted).
    method
        ``"oat"``, ``"morris"`` or ``"both"``.
    trajectories, levels
        The Morris design.
    """

    params: tuple[tuple[str, tuple[Any, Any]], ...]
    method: str = "both"
    trajectories: int = 4
    levels: int = 4

    def ranges(self) -> dict[str, list[Any]]:
        """``params`` as dotted path -> ``[low, high]``."""
        return {path: list(pair) for path, pair in self.params}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (as in the file)."""
        return {
            "params": self.ranges(),
            "method": self.method,
            "trajectories": self.trajectories,
            "levels": self.levels,
        }


def _parse_sensitivity(raw: Any, file: str, body: Mapping[str, Any]) -> SensitivitySpec | None:
    """Validate a ``[sensitivity]`` table (its shape and ranges; values are checked later)."""
    if raw is None:
        return None

    def err(path: str, value: Any, expected: str) -> ScenarioError:
        return ScenarioError(file, f"sensitivity{path}", value, expected)

    if not isinstance(raw, Mapping):
        raise err("", raw, "a table with params = {path = [low, high], ...}")
    unknown = [k for k in raw if k not in _SENSITIVITY_KEYS]
    if unknown:
        raise err(
            f".{unknown[0]}",
            raw[unknown[0]],
            f"a key of the sensitivity table ({', '.join(_SENSITIVITY_KEYS)}); unknown key",
        )
    params = raw.get("params")
    if not isinstance(params, Mapping) or not params:
        raise err(".params", params, "a table of parameter path -> [low, high]")
    if len(params) > MAX_SENSITIVITY_PARAMS:
        raise err(
            ".params", f"{len(params)} parameters", f"at most {MAX_SENSITIVITY_PARAMS} parameters"
        )
    parse_bounds(params, body, file, where="sensitivity.params")
    method = raw.get("method", "both")
    if method not in ("oat", "morris", "both"):
        raise err(".method", method, '"oat", "morris" or "both"')
    trajectories = raw.get("trajectories", 4)
    if (
        isinstance(trajectories, bool)
        or not isinstance(trajectories, int)
        or not 1 <= trajectories <= 10_000
    ):
        raise err(".trajectories", trajectories, "an integer from 1 to 10000")
    levels = raw.get("levels", 4)
    if (
        isinstance(levels, bool)
        or not isinstance(levels, int)
        or levels < 2
        or levels % 2
        or levels > 1000
    ):
        raise err(".levels", levels, "an even integer from 2 to 1000")
    return SensitivitySpec(
        tuple((str(k), (v[0], v[1])) for k, v in params.items()), str(method), trajectories, levels
    )


def parse_bounds(
    bounds: Mapping[str, Any], body: Mapping[str, Any], file: str | None, *, where: str
) -> dict[str, tuple[Any, Any]]:
    """Parameter path -> ``[low, high]`` as two numbers in each field's unit.

    Quantities (``"1 hour"``) convert into the unit of the field the path names (blocks round
    to whole blocks); integers stay integers.

    Parameters
    ----------
    bounds
        Dotted path -> ``[low, high]``.
    body
        The scenario body the paths point into (its raw data or ``SimConfig.model_dump()``).
    file, where
        For errors: the file and the table the bounds came from (``sweep.bounds``).

    Raises
    ------
    ScenarioError
        Naming ``<where>.<path>``, the value and what was expected (low < high, finite).
    """
    parsed: dict[str, tuple[Any, Any]] = {}
    for name, pair in bounds.items():
        at = f"{where}.{name}"
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ScenarioError(file, at, pair, "[low, high]")
        try:
            lo, hi = (_bound_number(v, _unit_at(str(name), body)) for v in pair)
        except ValueError as exc:
            raise ScenarioError(file, at, pair, f"quantities in the field's unit ({exc})") from None
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (lo, hi)):
            raise ScenarioError(file, at, pair, "two numbers (or quantities)")
        if not all(math.isfinite(v) and abs(v) < 1e300 for v in (lo, hi)):
            raise ScenarioError(file, at, pair, "two finite numbers")
        if not lo < hi:
            raise ScenarioError(file, at, pair, "low < high")
        parsed[str(name)] = (lo, hi)
    return parsed


def check_study_size(points: int, policies: int, seeds: int, where: str = "study") -> None:
    """Refuse a study of more than :data:`MAX_RUNS` runs before anything is planned.

    Raises
    ------
    ScenarioError
        Naming the count and the limit.
    """
    runs = points * policies * seeds
    if runs > MAX_RUNS:
        raise ScenarioError(
            where,
            "points x policies x seeds",
            f"{points} x {policies} x {seeds} = {runs} runs",
            f"a study of at most {MAX_RUNS} runs",
        )


# -- policies -------------------------------------------------------------------------------------
def known_policies() -> list[str]:
    """Names of every registered governance policy (``protocol.governance.POLICIES``)."""
    from protocol.governance import POLICIES

    return list(POLICIES.names())


def _parse_policies(raw: Any, file: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if raw == "all":
        return ("all",)
    if (
        not isinstance(raw, list)
        or not raw
        or len(raw) > 256
        or not all(isinstance(p, str) and 0 < len(p) <= 200 for p in raw)
    ):
        raise ScenarioError(file, "policies", raw, '"all" or a non-empty array of policy names')
    return tuple(raw)


def resolve_policies(names: Sequence[str], file: str | None = None) -> list[str]:
    """Expand ``"all"`` and check every name against the policy registry.

    Raises
    ------
    ScenarioError
        If a name is not a registered policy.
    """
    known = known_policies()
    if list(names) == ["all"]:
        return known
    for name in names:
        if name not in known and ":" not in name:
            raise ScenarioError(file, "policies", name, f"a registered policy: {', '.join(known)}")
    return list(dict.fromkeys(names))


# -- the scenario ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """A validated scenario: the SimConfig of its base point plus the study settings.

    Build it with :func:`load_scenario` (files) or :meth:`from_dict`. Immutable; ``hash`` is
    stable across processes (SHA-256 of the canonical JSON of :meth:`to_dict`).

    Attributes
    ----------
    config
        The validated :class:`SimConfig` of the base point.
    policies
        The policies to compare (``("all",)`` means every registered policy; empty = the body's).
    seeds
        Default replications per scenario.
    sweep
        The experimental design, or None.
    market_uncertainty
        ``"prior"``: studies draw the fitted market constants per replication (the outer
        Monte Carlo); ``"off"``: every run keeps the body's constants.
    sensitivity
        The ``[sensitivity]`` table (default ranges of ``govsim sensitivity``), or None.
    source
        The file it came from (for error messages), or None.
    raw
        The merged body as written (units unconverted, overrides applied): sweep points and
        :meth:`to_config` overrides are applied to it before their one validation.
    """

    config: SimConfig = field(repr=False)
    policies: tuple[str, ...] = ()
    seeds: int = 8
    sweep: SweepSpec | None = None
    source: str | None = None
    market_uncertainty: str = "prior"
    sensitivity: SensitivitySpec | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _origin: _Origins | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.config.name

    @property
    def description(self) -> str:
        """What the scenario is about."""
        return self.config.description

    @property
    def body(self) -> dict[str, Any]:
        """The validated base point as plain data (units converted)."""
        return self.config.model_dump(mode="json")

    @property
    def hash(self) -> str:
        """Stable 16-hex-digit digest of :meth:`to_dict`."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def policy_names(self) -> list[str]:
        """The policies to compare, ``"all"`` expanded; the body's policy when none is given."""
        if not self.policies:
            return [self.config.governance.policy]
        return resolve_policies(self.policies, self.source)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the validated body plus ``policies``, ``seeds`` and ``sweep``."""
        out = self.body
        out["policies"] = list(self.policies)
        out["seeds"] = self.seeds
        if self.sweep is not None:
            out["sweep"] = self.sweep.to_dict()
        if self.market_uncertainty != "prior":  # the default is left out: hashes stay stable
            out["market_uncertainty"] = self.market_uncertainty
        if self.sensitivity is not None:  # left out when absent: hashes stay stable
            out["sensitivity"] = self.sensitivity.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Scenario:
        """Validate plain data (as a parsed TOML file without ``extends``)."""
        where = source or "<scenario>"
        deep = _too_deep(data)
        if deep is not None:
            raise ScenarioError(
                where,
                _join(deep[:6]) + "...",
                "deeply nested data",
                f"nesting at most {MAX_DEPTH} deep",
            )
        origin = _Origins(where)
        return _build(copy.deepcopy(dict(data)), origin, where)

    def _raw_with(
        self, policy: str | None, overrides: Mapping[str, Any] | None, label: str
    ) -> tuple[dict, _Origins]:
        body = copy.deepcopy(dict(self.raw)) if self.raw else self.body
        origin = (self._origin or _Origins(self.source or "<scenario>")).copy()
        if overrides:
            where = origin.file_of(["sweep"]) if label else (self.source or "<scenario>")
            _apply_overrides(body, overrides, origin, where, label)
        if policy:
            governance = body.get("governance")
            governance = dict(governance) if isinstance(governance, Mapping) else {}
            if governance.get("policy", "sudo") != policy and not any(
                str(k).startswith("governance.policy_config") for k in (overrides or {})
            ):
                governance.pop("policy_config", None)  # another policy's fields would not fit
            governance["policy"] = policy
            body["governance"] = governance
        return body, origin

    def to_config(
        self,
        policy: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        label: str = "",
    ) -> SimConfig:
        """The SimConfig of this scenario, with ``policy`` and dotted-path ``overrides`` applied.

        Overrides go into the raw body before its one validation, so their values may carry
        units (``{"governance.detection_delay_blocks": "2 hours"}``).

        Raises
        ------
        ScenarioError
            If a path is unknown or a value does not validate (``label`` prefixes the path,
            e.g. ``"sweep point 3: "``).
        """
        if not policy and not overrides:
            return self.config
        body, origin = self._raw_with(policy, overrides, label)
        return _validate(body, origin, label)

    def points(self) -> list[sampling.Point]:
        """The sweep's design points ([{}] without a sweep)."""
        return self.sweep.points() if self.sweep is not None else [{}]

    def point_configs(self) -> list[tuple[sampling.Point, SimConfig]]:
        """Every design point with its validated config (the body's own policy).

        Raises
        ------
        ScenarioError
            Naming ``sweep point <i>`` and the field, for the first point that does not
            validate.
        """
        return [
            (p, self.to_config(overrides=p, label=f"sweep point {i}: ") if p else self.config)
            for i, p in enumerate(self.points())
        ]

    def check_sensitivity_values(self) -> None:
        """Validate both ends of every ``[sensitivity]`` range once (as overrides).

        Raises
        ------
        ScenarioError
            Naming ``sensitivity.params.<path>`` (its low or high end) and the field.
        """
        if self.sensitivity is None:
            return
        where = self._origin.file_of(["sensitivity"]) if self._origin else self.source
        for path, (low, high) in self.sensitivity.params:
            for end, value in (("low", low), ("high", high)):
                try:
                    self.to_config(overrides={path: value})
                except ScenarioError as exc:
                    raise ScenarioError(
                        where,
                        f"sensitivity.params.{path} ({end} end)",
                        value,
                        f"a valid {exc.path}: {exc.expected}",
                    ) from None

    def check_sweep_values(self) -> None:
        """Validate every value of the sweep once (:meth:`SweepSpec.probes`), not every point.

        Raises
        ------
        ScenarioError
            Naming the design point (or bound) and the field.
        """
        if self.sweep is None:
            return
        for label, point in self.sweep.probes():
            self.to_config(overrides=point, label=label)


def _build(
    raw: dict[str, Any],
    origin: _Origins,
    file: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    check_sweep: bool = True,
) -> Scenario:
    raw = dict(raw)
    raw.pop("extends", None)
    policies = _parse_policies(raw.pop("policies", None), origin.file_of(["policies"]))
    seeds = raw.pop("seeds", 8)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        expected = f"a positive integer (at most {MAX_SEEDS})"
        raise ScenarioError(origin.file_of(["seeds"]), "seeds", seeds, expected)
    sweep_raw = raw.pop("sweep", None)
    sensitivity_raw = raw.pop("sensitivity", None)
    uncertainty = raw.pop("market_uncertainty", "prior")
    if uncertainty not in MARKET_UNCERTAINTY:
        raise ScenarioError(
            origin.file_of(["market_uncertainty"]),
            "market_uncertainty",
            uncertainty,
            " or ".join(f'"{v}"' for v in MARKET_UNCERTAINTY),
        )
    if overrides:
        _apply_overrides(raw, overrides, origin, f"{file} (--set)", "")
    sweep = _parse_sweep(sweep_raw, origin.file_of(["sweep"]), raw)
    sensitivity = _parse_sensitivity(sensitivity_raw, origin.file_of(["sensitivity"]), raw)
    config = _validate(raw, origin)
    if policies:
        resolve_policies(policies, origin.file_of(["policies"]))
    scenario = Scenario(
        config=config,
        policies=policies,
        seeds=seeds,
        sweep=sweep,
        source=file,
        raw=raw,
        _origin=origin,
        market_uncertainty=uncertainty,
        sensitivity=sensitivity,
    )
    if check_sweep:
        scenario.check_sweep_values()
        scenario.check_sensitivity_values()
    return scenario


def load_scenario(
    path: str | os.PathLike[str],
    *,
    exclude: Collection[str] = (),
    overrides: Mapping[str, Any] | None = None,
    check_sweep: bool = True,
) -> Scenario:
    """Load, merge (``extends``) and validate a scenario file, once.

    Parameters
    ----------
    path
        A ``.toml`` scenario file.
    exclude
        Top-level tables that belong to another reader and are dropped before validation
        (a live scenario's ``live`` table).
    overrides
        Dotted path -> value (``--set``), applied to the raw body before its validation.
    check_sweep
        Also validate every value of the ``[sweep]`` design (each once, never the product).
        Without it only the design's shape and size are checked (``govsim run`` uses the base
        point alone).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Naming the file, the field path, the value and what was expected.
    """
    path = Path(path)
    shown = _display(path)
    origin = _Origins(shown)
    raw = _resolve_extends(path, origin)
    raw = {k: v for k, v in raw.items() if k not in exclude}
    return _build(raw, origin, shown, overrides=overrides, check_sweep=check_sweep)
