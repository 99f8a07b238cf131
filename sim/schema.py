"""Scenario files: TOML -> a validated, immutable :class:`Scenario` (engine.md §3.1).

A scenario file is a :class:`sim.config.SimConfig` body plus four study keys::

    extends  = "baseline.toml"          # optional: inherit another file (path relative to this one)
    policies = ["sudo", "v2_24h"]       # or "all" (every registered governance policy)
    seeds    = 16                       # default replications per scenario
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

**Units.** A number is in the field's own unit, which the field name states (``*_days``,
``*_blocks``, ``*_tao``, ``*_rao``, ``*_hours``; ``tempo`` is in blocks, a shock's ``day`` in
days). A quantity in another unit is a string ``"<number> <unit>"`` or a table
``{value = <number>, unit = "<unit>"}``; it is converted into the field's unit:

- time: ``blocks`` (12 s), ``minutes``, ``hours``, ``days``, ``weeks`` (7 200 blocks a day);
- amount: ``TAO``, ``rao`` (1 TAO = 1e9 rao).

A quantity for a field without a unit, of another dimension, or that is not a whole number of
blocks for a block field, is an error.

**extends.** The base file is loaded first (recursively; cycles are errors), then this file is
merged over it: tables merge key by key, everything else (arrays such as ``shocks`` included)
replaces. ``policies``, ``seeds`` and ``sweep`` are inherited unless given.

**sweep.** ``design = "grid"`` with ``[sweep.axes]`` (dotted path -> list of values),
``"lhs"`` or ``"sobol"`` with ``n``, optional ``seed`` and ``[sweep.bounds]`` (path ->
``[low, high]``; integer bounds give integers), or ``"list"`` with ``records = [{...}, ...]``.
Paths address the SimConfig body (``"shocks.1.day"`` indexes arrays); values may carry units.

**Errors** are :class:`ScenarioError`: they name the file, the field path, the value and what
was expected; unknown keys are errors (with a suggestion).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from protocol.units import BLOCKS_PER_DAY, BLOCKS_PER_HOUR, RAO_PER_TAO
from sim import sampling
from sim.config import SimConfig

__all__ = [
    "STUDY_KEYS",
    "Scenario",
    "ScenarioError",
    "SweepSpec",
    "config_from_dict",
    "known_policies",
    "load_scenario",
    "parse_quantity",
    "resolve_policies",
]

#: Top-level keys that belong to the study, not to the SimConfig body.
STUDY_KEYS: tuple[str, ...] = ("extends", "policies", "seeds", "sweep")
_SWEEP_KEYS: dict[str, tuple[str, ...]] = {
    "grid": ("design", "axes"),
    "lhs": ("design", "n", "seed", "bounds"),
    "sobol": ("design", "n", "seed", "bounds"),
    "list": ("design", "records"),
}

# -- units ----------------------------------------------------------------------------------
# Unit -> (dimension, size in the dimension's base unit: blocks for time, rao for amounts).
_UNITS: dict[str, tuple[str, float]] = {}
for _names, _dim, _size in (
    (("block", "blocks"), "time", 1.0),
    (("minute", "minutes", "min", "mins"), "time", BLOCKS_PER_HOUR / 60),
    (("hour", "hours", "h", "hr", "hrs"), "time", BLOCKS_PER_HOUR),
    (("day", "days", "d"), "time", BLOCKS_PER_DAY),
    (("week", "weeks", "w"), "time", 7 * BLOCKS_PER_DAY),
    (("tao",), "amount", RAO_PER_TAO),
    (("rao",), "amount", 1.0),
):
    for _name in _names:
        _UNITS[_name] = (_dim, _size)

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)\s*$")


def _field_unit(name: str) -> str | None:
    """The unit a field is stored in, read from its name (the config's naming contract)."""
    if name == "tempo" or name.endswith("_blocks"):
        return "blocks"
    if name == "day" or name.endswith("_days"):
        return "days"
    if name.endswith("_hours"):
        return "hours"
    if name.endswith("_rao"):
        return "rao"
    if name.endswith("_tao") or name == "amount_tao":
        return "tao"
    return None


@dataclass(frozen=True)
class _Qty:
    value: float
    unit: str


def parse_quantity(value: Any) -> tuple[float, str] | None:
    """Parse ``"30 days"`` or ``{value = 30, unit = "days"}`` into ``(30.0, "days")``.

    Returns None when ``value`` is not written as a quantity (a plain number, another string).

    Raises
    ------
    ValueError
        If it looks like a quantity but the unit is unknown.

    Examples
    --------
    >>> parse_quantity("1.5 hours")
    (1.5, 'hours')
    >>> parse_quantity({"value": 37000, "unit": "TAO"})
    (37000.0, 'tao')
    >>> parse_quantity(12) is None
    True
    """
    if isinstance(value, Mapping) and set(value) == {"value", "unit"}:
        number, unit = value["value"], value["unit"]
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"quantity value {number!r} is not a number")
        if not isinstance(unit, str):
            raise ValueError(f"quantity unit {unit!r} is not a string")
    elif isinstance(value, str):
        match = _QUANTITY.match(value)
        if match is None:
            return None
        number, unit = float(match.group(1).replace("_", "")), match.group(2)
    else:
        return None
    unit = unit.lower()
    if unit not in _UNITS:
        known = "blocks, minutes, hours, days, weeks, TAO, rao"
        raise ValueError(f"unknown unit {unit!r}; expected one of {known}")
    return float(number), unit


def _convert(number: float, unit: str, target: str) -> float:
    """Convert ``number`` ``unit`` into ``target`` (same dimension)."""
    dim, size = _UNITS[unit]
    target_dim, target_size = _UNITS[target]
    if dim != target_dim:
        raise ValueError(f"{unit} is a{'n' if dim == 'amount' else ''} {dim}, not convertible to {target}")
    return number * size / target_size


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
    if value is _MISSING:
        return "nothing (the key is missing)"
    text = repr(value) if not isinstance(value, dict | list) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _join(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- type introspection over the SimConfig models ----------------------------------------------
def _unwrap(annotation: Any) -> list[Any]:
    """Flatten Annotated / Optional / Union into the member types."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _shape(annotation: Any) -> tuple[str, Any]:
    """What a field holds: ``model`` (a sub-model), ``models`` (a sequence of models),
    ``dict_any`` (free-form table), ``mapping`` (a typed dict), or ``value``."""
    members = [m for m in _unwrap(annotation) if m is not type(None)]
    models = [m for m in members if _is_model(m)]
    if models and len(models) == len(members):
        return "model", models
    for m in members:
        origin = typing.get_origin(m)
        if origin in (tuple, list, Sequence):
            inner = [a for a in typing.get_args(m) if a is not Ellipsis]
            inner_models = [t for a in inner for t in _unwrap(a) if _is_model(t)]
            if inner_models:
                return "models", inner_models
        if origin in (dict, Mapping):
            value_type = typing.get_args(m)[1] if typing.get_args(m) else Any
            return ("dict_any" if value_type is Any else "mapping"), None
    return "value", None


def _pick_model(models: list[type[BaseModel]], node: Mapping[str, Any]) -> type[BaseModel] | None:
    """Choose the union member a table describes, by its ``kind`` literal when there is one."""
    if len(models) == 1:
        return models[0]
    kind = node.get("kind")
    for model in models:
        kind_field = model.model_fields.get("kind")
        if kind_field is not None and kind in typing.get_args(kind_field.annotation):
            return model
    return None


def _kinds(models: list[type[BaseModel]]) -> list[str]:
    out: list[str] = []
    for model in models:
        kind_field = model.model_fields.get("kind")
        if kind_field is not None:
            out.extend(str(a) for a in typing.get_args(kind_field.annotation))
    return out


# -- the body walker: unknown keys and units ----------------------------------------------------
class _Walker:
    """Checks keys against the models and converts quantities into each field's unit."""

    def __init__(self, origin: _Origins) -> None:
        self.origin = origin

    def error(self, path: list[str | int], value: Any, expected: str) -> ScenarioError:
        return ScenarioError(self.origin.file_of(path), _join(path), value, expected)

    def model(self, node: Any, model: type[BaseModel], path: list[str | int]) -> Any:
        if not isinstance(node, Mapping):
            return node  # pydantic reports the type error with the path
        out = {}
        for key, value in node.items():
            info = model.model_fields.get(key)
            if info is None:
                known = list(model.model_fields)
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.error([*path, key], value,
                                 f"a known key{hint}: {key!r} is unknown here; "
                                 f"known keys: {', '.join(known)}")
            out[key] = self.field(value, key, info.annotation, [*path, key])
        return out

    def field(self, value: Any, name: str, annotation: Any, path: list[str | int]) -> Any:
        shape, models = _shape(annotation)
        if shape == "model" and isinstance(value, Mapping) and not _is_quantity_table(value):
            chosen = _pick_model(models, value)
            if chosen is None:
                raise self.error([*path, "kind"], value.get("kind"),
                                 f"one of {', '.join(_kinds(models))}")
            return self.model(value, chosen, path)
        if shape == "models" and isinstance(value, list):
            out = []
            for i, item in enumerate(value):
                if not isinstance(item, Mapping):
                    out.append(item)
                    continue
                chosen = _pick_model(models, item)
                if chosen is None:
                    raise self.error([*path, i, "kind"], item.get("kind"),
                                     f"one of {', '.join(_kinds(models))}")
                out.append(self.model(item, chosen, [*path, i]))
            return out
        if shape == "dict_any" and isinstance(value, Mapping):
            return {k: self.free(v, str(k), [*path, k]) for k, v in value.items()}
        return self.scalar(value, name, path)

    def free(self, value: Any, name: str, path: list[str | int]) -> Any:
        """Free-form tables (policy_config, lever): units by key name, nothing else checked."""
        if isinstance(value, Mapping) and not _is_quantity_table(value):
            return {k: self.free(v, str(k), [*path, k]) for k, v in value.items()}
        return self.scalar(value, name, path)

    def scalar(self, value: Any, name: str, path: list[str | int]) -> Any:
        try:
            qty = parse_quantity(value)
        except ValueError as exc:
            raise self.error(path, value, f"a quantity with a known unit ({exc})") from None
        if qty is None:
            return value
        number, unit = qty
        target = _field_unit(name)
        if target is None:
            raise self.error(path, value, "a plain number (this field has no unit to convert to)")
        try:
            converted = _convert(number, unit, target)
        except ValueError as exc:
            raise self.error(path, value, f"a quantity in {_dimension_words(target)} ({exc})") \
                from None
        if target == "blocks":
            whole = round(converted)
            if not math.isclose(converted, whole, rel_tol=0, abs_tol=1e-6):
                raise self.error(path, value, f"a whole number of blocks (got {converted:g})")
            return whole
        if target == "rao":
            return round(converted)
        return converted


def _is_quantity_table(value: Any) -> bool:
    """True for a ``{value = ..., unit = ...}`` table (a quantity, not a config section)."""
    return isinstance(value, Mapping) and set(value) == {"value", "unit"}


def _dimension_words(target: str) -> str:
    dim = _UNITS[target][0]
    return "time units (blocks, minutes, hours, days, weeks)" if dim == "time" else "TAO or rao"


# -- pydantic errors -> ScenarioError ----------------------------------------------------------
_EXPECTED: dict[str, str] = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a table",
    "model_type": "a table",
    "tuple_type": "an array",
    "list_type": "an array",
    "missing": "a value (this field is required)",
    "extra_forbidden": "no such key (unknown key)",
}


def _expected(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}
    if kind in bounds:
        key = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt",
               "less_than_equal": "le"}[kind]
        return f"a value {bounds[kind]} {ctx.get(key)}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    msg = str(err.get("msg", "a valid value"))
    return msg.removeprefix("Value error, ")


def _data_path(data: Any, loc: Sequence[str | int]) -> list[str | int]:
    """Drop the union tags pydantic adds to ``loc`` (``shocks.0.quality_jump.day``)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping):
            if part in node:
                out.append(part)
                node = node[part]
            elif isinstance(part, str) and node.get("kind") == part:
                continue  # a discriminated-union tag
            else:
                out.append(part)
                node = None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
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
            return None
    return node


def _split_message(msg: str) -> tuple[list[str | int], str] | None:
    """``"network.n_validators: 100 must be < 64"`` -> (path, message), else None."""
    head, sep, rest = msg.partition(": ")
    if not sep or not re.fullmatch(r"[A-Za-z_][\w.\[\]]*", head):
        return None
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", head) if p]
    return parts, rest


def _validation_error(exc: ValidationError, data: Mapping[str, Any], origin: _Origins) \
        -> ScenarioError:
    err = exc.errors(include_url=False)[0]
    path = _data_path(data, err.get("loc", ()))
    if err.get("type") == "missing":
        return ScenarioError(origin.file_of(path), _join(path), _MISSING, _expected(err))
    if err.get("type") == "value_error":
        # Model-level checks name their field in the message: "network.n_validators: ...".
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        split = _split_message(msg)
        if split is not None:
            named, rest = split
            for candidate in (named, [*path, *named]):
                value = _lookup(data, candidate)
                if value is not None:
                    expected = (rest.split("; expected ", 1)[-1] if "; expected " in rest
                                else f"a valid value ({rest})")
                    return ScenarioError(origin.file_of(candidate), _join(candidate), value,
                                         expected)
        return ScenarioError(origin.file_of(path), _join(path), _lookup(data, path), msg)
    value = _lookup(data, path) if path else None
    if value is None:
        value = err.get("input")
    return ScenarioError(origin.file_of(path), _join(path), value, _expected(err))


# -- extends, merging and origins ----------------------------------------------------------------
class _Origins:
    """Which file each value came from (for error messages after ``extends`` merges)."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.by_path: dict[tuple[str | int, ...], str] = {}

    def record(self, data: Mapping[str, Any], file: str, prefix: tuple[str | int, ...] = ()) -> None:
        for key, value in data.items():
            path = (*prefix, key)
            self.by_path[path] = file
            if isinstance(value, Mapping):
                self.record(value, file, path)

    def file_of(self, path: Sequence[str | int]) -> str:
        parts = tuple(path)
        while parts:
            if parts in self.by_path:
                return self.by_path[parts]
            parts = parts[:-1]
        return self.default


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else in ``over`` replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if (isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
                and key != "sweep" and not _is_quantity_table(value)):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_toml(path: Path, referrer: str | None) -> dict[str, Any]:
    shown = _display(path)
    if not path.is_file():
        where = referrer or shown
        raise ScenarioError(where, "extends" if referrer else "<file>", str(path),
                            "an existing scenario file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(shown, "<file>", None, f"valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(shown, "<file>", None, f"UTF-8 text ({exc.reason})") from None


def _resolve_extends(path: Path, origin: _Origins, stack: tuple[Path, ...] = (),
                     referrer: str | None = None) -> dict[str, Any]:
    path = path.resolve()
    if path in stack:
        chain = " -> ".join(_display(p) for p in (*stack, path))
        raise ScenarioError(_display(stack[-1]), "extends", _display(path),
                            f"no cycle of extends ({chain})")
    raw = _read_toml(path, referrer)
    parent = raw.get("extends")
    merged: dict[str, Any] = {}
    if parent is not None:
        if not isinstance(parent, str) or not parent:
            raise ScenarioError(_display(path), "extends", parent, "a path to a .toml file")
        merged = _resolve_extends(path.parent / parent, origin, (*stack, path), _display(path))
    own = {k: v for k, v in raw.items() if k != "extends"}
    origin.record(own, _display(path))
    return _merge(merged, own)


# -- sweeps ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepSpec:
    """A validated ``[sweep]`` table (see the module docstring)."""

    design: Literal["grid", "lhs", "sobol", "list"]
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    bounds: tuple[tuple[str, tuple[Any, Any]], ...] = ()
    n: int = 0
    seed: int | None = None
    records: tuple[tuple[tuple[str, Any], ...], ...] = ()

    def points(self) -> list[sampling.Point]:
        """The design's points (raw values: units are converted when applied)."""
        if self.design == "grid":
            return sampling.grid({k: list(v) for k, v in self.axes})
        if self.design == "lhs":
            return sampling.lhs(self.n, dict(self.bounds), seed=self.seed)
        if self.design == "sobol":
            return sampling.sobol(self.n, dict(self.bounds), seed=self.seed)
        return sampling.from_records([dict(r) for r in self.records])

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


def _quantity_number(value: Any, unit_of_path: str | None) -> Any:
    """Bounds may carry units: convert to the target field's unit for sampling."""
    qty = parse_quantity(value)
    if qty is None or unit_of_path is None:
        return value
    number, unit = qty
    converted = _convert(number, unit, unit_of_path)
    return round(converted) if unit_of_path in ("blocks", "rao") else converted


def _parse_sweep(raw: Any, file: str) -> SweepSpec | None:
    if raw is None:
        return None

    def err(path: str, value: Any, expected: str) -> ScenarioError:
        return ScenarioError(file, f"sweep{path}", value, expected)

    if not isinstance(raw, Mapping):
        raise err("", raw, "a table ([sweep])")
    design = raw.get("design")
    if design not in _SWEEP_KEYS:
        raise err(".design", design, f"one of {', '.join(_SWEEP_KEYS)}")
    for key in raw:
        if key not in _SWEEP_KEYS[design]:
            raise err(f".{key}", raw[key],
                      f"a key of a {design} sweep ({', '.join(_SWEEP_KEYS[design])}); unknown key")
    if design == "grid":
        axes = raw.get("axes")
        if not isinstance(axes, Mapping) or not axes:
            raise err(".axes", axes, "a table of parameter path -> array of values")
        for name, values in axes.items():
            if not isinstance(values, list) or not values:
                raise err(f".axes.{name}", values, "a non-empty array of values")
        return SweepSpec("grid", axes=tuple((k, tuple(v)) for k, v in axes.items()))
    if design == "list":
        records = raw.get("records")
        if not isinstance(records, list) or not records or not all(
                isinstance(r, Mapping) for r in records):
            raise err(".records", records, "a non-empty array of tables")
        return SweepSpec("list", records=tuple(tuple(r.items()) for r in records))
    n = raw.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise err(".n", n, "a positive integer (number of points)")
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise err(".seed", seed, "a non-negative integer")
    bounds = raw.get("bounds")
    if not isinstance(bounds, Mapping) or not bounds:
        raise err(".bounds", bounds, "a table of parameter path -> [low, high]")
    parsed = []
    for name, pair in bounds.items():
        leaf = str(name).split(".")[-1]
        if not isinstance(pair, list) or len(pair) != 2:
            raise err(f".bounds.{name}", pair, "[low, high]")
        try:
            lo, hi = (_quantity_number(v, _field_unit(leaf)) for v in pair)
        except ValueError as exc:
            raise err(f".bounds.{name}", pair, f"quantities in the field's unit ({exc})") from None
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (lo, hi)):
            raise err(f".bounds.{name}", pair, "two numbers (or quantities)")
        if not lo < hi:
            raise err(f".bounds.{name}", pair, "low < high")
        parsed.append((name, (lo, hi)))
    return SweepSpec(design, bounds=tuple(parsed), n=n, seed=seed)


def _set_path(body: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``value`` at a dotted path of ``body``; numeric parts index arrays."""
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in dotted.split(".")]
    node: Any = body
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise KeyError(_join(parts[: i + 1]))
            node = node[part]
            continue
        if part not in node or node[part] is None:
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise KeyError(_join(parts))
        node[last] = value
    else:
        node[last] = value


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
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
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
def config_from_dict(data: Mapping[str, Any]) -> SimConfig:
    """Validate a plain dict (a stored ``model_dump``) into a :class:`SimConfig`."""
    return SimConfig.model_validate(data)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: the resolved SimConfig body plus the study settings.

    Build it with :func:`load_scenario` (files) or :meth:`from_dict`. Immutable; ``hash`` is
    stable across processes (SHA-256 of the canonical JSON of :meth:`to_dict`).

    Attributes
    ----------
    name, description
        From the body (``SimConfig.name`` / ``description``).
    body
        The merged body with units converted (a JSON-friendly dict).
    config
        The validated :class:`SimConfig` of ``body``.
    policies
        The policies to compare (``("all",)`` means every registered policy; empty = the body's).
    seeds
        Default replications per scenario.
    sweep
        The experimental design, or None.
    source
        The file it came from (for error messages), or None.
    """

    body: dict[str, Any] = field(repr=False)
    config: SimConfig = field(repr=False)
    policies: tuple[str, ...] = ()
    seeds: int = 8
    sweep: SweepSpec | None = None
    source: str | None = None

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.config.name

    @property
    def description(self) -> str:
        """What the scenario is about."""
        return self.config.description

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
        """Plain data: the body plus ``policies``, ``seeds`` and ``sweep``."""
        out = copy.deepcopy(self.body)
        out["policies"] = list(self.policies)
        out["seeds"] = self.seeds
        if self.sweep is not None:
            out["sweep"] = self.sweep.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Scenario:
        """Validate plain data (as a parsed TOML file without ``extends``)."""
        origin = _Origins(source or "<scenario>")
        return _build(dict(data), origin, source or "<scenario>")

    def to_config(self, policy: str | None = None,
                  overrides: Mapping[str, Any] | None = None) -> SimConfig:
        """The SimConfig of this scenario, with ``policy`` and dotted-path ``overrides`` applied.

        Override values may carry units (``{"governance.detection_delay_blocks": "2 hours"}``).

        Raises
        ------
        ScenarioError
            If a path is unknown or a value does not validate.
        """
        if not policy and not overrides:
            return self.config
        body = copy.deepcopy(self.body)
        origin = _Origins(self.source or "<scenario>")
        for dotted, value in (overrides or {}).items():
            try:
                _set_path(body, dotted, value)
            except (KeyError, TypeError):
                raise ScenarioError(self.source, dotted, value,
                                    "a path into the scenario body (arrays indexed in range)") \
                    from None
        if policy:
            body.setdefault("governance", {})
            body["governance"] = {**body["governance"], "policy": policy}
        return _validate_body(body, origin)[1]

    def points(self) -> list[sampling.Point]:
        """The sweep's design points ([{}] without a sweep)."""
        return self.sweep.points() if self.sweep is not None else [{}]

    def point_configs(self) -> list[tuple[sampling.Point, SimConfig]]:
        """Every design point with its validated config (the body's own policy)."""
        return [(p, self.to_config(overrides=p)) for p in self.points()]


def _validate_body(body: dict[str, Any], origin: _Origins) -> tuple[dict[str, Any], SimConfig]:
    converted = _Walker(origin).model(body, SimConfig, [])
    try:
        config = SimConfig.model_validate(converted)
    except ValidationError as exc:
        raise _validation_error(exc, converted, origin) from None
    return converted, config


def _build(raw: dict[str, Any], origin: _Origins, file: str) -> Scenario:
    raw = dict(raw)
    raw.pop("extends", None)
    policies = _parse_policies(raw.pop("policies", None), origin.file_of(["policies"]))
    seeds = raw.pop("seeds", 8)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ScenarioError(origin.file_of(["seeds"]), "seeds", seeds, "a positive integer")
    sweep = _parse_sweep(raw.pop("sweep", None), origin.file_of(["sweep"]))
    body, config = _validate_body(raw, origin)
    scenario = Scenario(body=body, config=config, policies=policies, seeds=seeds, sweep=sweep,
                        source=file)
    if policies:
        resolve_policies(policies, origin.file_of(["policies"]))
    if sweep is not None:
        for i, point in enumerate(scenario.points()):
            try:
                scenario.to_config(overrides=point)
            except ScenarioError as exc:
                raise ScenarioError(origin.file_of(["sweep"]), f"sweep point {i}: {exc.path}",
                                    exc.value, exc.expected) from None
    return scenario


def load_scenario(path: str | Path, *, exclude: Collection[str] = ()) -> Scenario:
    """Load, merge (``extends``), convert units and validate a scenario file.

    Parameters
    ----------
    path
        A ``.toml`` scenario file.
    exclude
        Top-level tables that belong to another reader and are dropped before validation
        (a live scenario's ``live`` table).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Naming the file, the field path, the value and what was expected.
    """
    path = Path(path)
    origin = _Origins(_display(path))
    raw = _resolve_extends(path, origin)
    raw = {k: v for k, v in raw.items() if k not in exclude}
    return _build(raw, origin, _display(path))
