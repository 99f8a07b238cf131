"""The typed field aliases of :mod:`sim.config` and the strict checks of its free-form tables.

Every config field is declared with one of these aliases, so one pydantic validation of a
scenario is the whole check (``sim.schema`` adds only files, ``extends`` and sweeps):

- ``Int``, ``Float``, ``Bool``, ``Str``: strict. An integer field takes an integer only (not
  ``true``, not ``"2"``, not ``2.0``); a float field takes a finite number (``nan`` and ``inf``
  are refused by the sections' ``allow_inf_nan=False``); a bool field takes ``true``/``false``.
- ``Blocks``, ``Days``, ``Tao``: quantities. The :class:`protocol.units.Unit` marker in the
  annotation names the field's unit; a plain number is in that unit, and ``"2 hours"`` or
  ``{value = 2, unit = "hours"}`` is converted into it (a block count must come out whole). The
  unit is read from the annotation, never from the field's name.
- Levers, policy configurations and strategy parameters are tables whose keys depend on
  another value (the lever's ``kind``, the policy, the strategy): :func:`check_lever`,
  :func:`check_policy_config` and :func:`check_strategy_params` check them as strictly, with
  units taken from the annotations of the lever and policy-config dataclasses.

Limits (documented in docs/studies.md, "Bad input"): block durations at most
:data:`MAX_BLOCKS`, day durations at most :data:`MAX_DAYS`, TAO amounts at most :data:`MAX_TAO`,
seeds at most :data:`MAX_SEED`; counts have their own bounds on each field.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, Strict

from protocol import units
from protocol.units import BLOCKS_PER_DAY, Unit, convert, parse_quantity, unit_of

__all__ = [
    "MAX_BLOCKS",
    "MAX_DAYS",
    "MAX_SEED",
    "MAX_TAO",
    "STRATEGY_PARAMETERS",
    "Blocks",
    "Bool",
    "Days",
    "FieldError",
    "Float",
    "Fraction",
    "Int",
    "NonNegFloat",
    "Str",
    "Tao",
    "check_economy_overrides",
    "check_lever",
    "check_policy_config",
    "check_strategy_params",
    "field_unit",
    "quantity_in",
]

#: Longest duration in blocks a field may hold: 100 years of 12 s blocks.
MAX_BLOCKS: int = 100 * 365 * BLOCKS_PER_DAY
#: Longest duration in days a field may hold (100 years).
MAX_DAYS: float = 100 * 365.0
#: Largest TAO amount a field may hold: TAO's maximum supply.
MAX_TAO: float = 21_000_000.0
#: Largest seed (seeds are stored as signed 64-bit integers).
MAX_SEED: int = 2**63 - 1


def quantity_in(unit: Unit) -> BeforeValidator:
    """A pydantic before-validator converting a quantity (``"2 hours"``) into ``unit``.

    Anything that is not written as a quantity passes through unchanged (the field's own type
    then judges it). A block count must come out whole; rao are rounded.
    """

    def convert_quantity(value: Any) -> Any:
        try:
            parsed = parse_quantity(value)
        except ValueError as exc:
            raise ValueError(f"a finite quantity with a known unit ({exc})") from None
        if parsed is None:
            return value
        number, given = parsed
        try:
            out = convert(number, given, unit)
        except ValueError as exc:
            raise ValueError(f"a quantity in {_dimension_words(unit)} ({exc})") from None
        if unit is units.BLOCKS:
            whole = round(out)
            if not math.isclose(out, whole, rel_tol=0, abs_tol=1e-6):
                raise ValueError(f"a whole number of blocks (got {out:g})")
            return whole
        if unit is units.RAO:
            return round(out)
        return out

    return BeforeValidator(convert_quantity)


def _dimension_words(unit: Unit) -> str:
    if unit.dimension == "time":
        return "time units (blocks, minutes, hours, days, weeks)"
    return "TAO or rao"


Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
NonNegFloat = Annotated[float, Strict(), Field(ge=0.0)]
Fraction = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Blocks = Annotated[
    int, units.BLOCKS, quantity_in(units.BLOCKS), Strict(), Field(ge=0, le=MAX_BLOCKS)
]
Days = Annotated[float, units.DAYS, quantity_in(units.DAYS), Strict(), Field(le=MAX_DAYS)]
Tao = Annotated[float, units.TAO, quantity_in(units.TAO), Strict(), Field(le=MAX_TAO)]


def field_unit(info: Any) -> Unit | None:
    """The unit of a pydantic ``FieldInfo`` (from its ``Annotated`` metadata), else None."""
    for meta in getattr(info, "metadata", ()):
        if isinstance(meta, Unit):
            return meta
    return unit_of(getattr(info, "annotation", None))


# -- strict checks of typed values from dataclass annotations ----------------------------------
class FieldError(ValueError):
    """A value that does not fit: ``path`` (dotted, starting at the field validated, relative
    to the model that holds it), the ``value`` and what was ``expected``."""

    def __init__(self, path: str, value: Any, expected: str) -> None:
        self.path, self.value, self.expected = path, value, expected
        super().__init__(f"{path}: got {value!r}; expected {expected}")


#: Deepest nesting of a lever table (``any_change`` effects hold levers).
_MAX_LEVER_DEPTH = 4
#: Bound of an integer lever or policy field without a unit (netuids, counts).
_MAX_PLAIN_INT = 2**32 - 1


def _strict(value: Any, hint: Any, path: str, *, non_negative: bool = True) -> Any:
    """Check ``value`` against a simple annotation strictly, converting quantities."""
    unit = unit_of(hint)
    if unit is not None:
        try:
            parsed = parse_quantity(value)
        except ValueError as exc:
            raise FieldError(path, value, f"a finite quantity with a known unit ({exc})") from None
        if parsed is not None:
            try:
                value = convert(parsed[0], parsed[1], unit)
            except ValueError as exc:
                raise FieldError(
                    path, value, f"a quantity in {_dimension_words(unit)} ({exc})"
                ) from None
            if unit is units.BLOCKS:
                if not math.isclose(value, round(value), rel_tol=0, abs_tol=1e-6):
                    raise FieldError(path, value, f"a whole number of blocks (got {value:g})")
                value = round(value)
    base = hint
    if typing.get_origin(base) is Annotated:
        base = typing.get_args(base)[0]
    members = (
        list(typing.get_args(base))
        if typing.get_origin(base) in (typing.Union, types.UnionType)
        else [base]
    )
    plain = [typing.get_args(m)[0] if typing.get_origin(m) is Annotated else m for m in members]
    if value is None:
        if type(None) in plain:
            return None
        raise FieldError(path, value, "a value")
    if isinstance(value, bool):
        if bool in plain:
            return value
        raise FieldError(path, value, _expected_words(plain))
    if isinstance(value, int):
        if int in plain or float in plain:
            limit = MAX_BLOCKS if unit is units.BLOCKS else _MAX_PLAIN_INT
            low = 0 if non_negative else -limit
            if not low <= value <= limit:
                raise FieldError(path, value, f"an integer in [{low}, {limit}]")
            return value if int in plain else float(value)
        raise FieldError(path, value, _expected_words(plain))
    if isinstance(value, float):
        if float in plain:
            if not math.isfinite(value):
                raise FieldError(path, value, "a finite number")
            if unit is units.TAO and not 0.0 <= value <= MAX_TAO:
                raise FieldError(path, value, f"a TAO amount in [0, {MAX_TAO:g}]")
            return value
        if int in plain and unit is units.BLOCKS:
            raise FieldError(path, value, "a whole number of blocks")
        raise FieldError(path, value, _expected_words(plain))
    if isinstance(value, str):
        if str in plain:
            return value
        if parse_quantity_safe(value) is not None:
            raise FieldError(path, value, "a plain number (this field has no unit to convert to)")
        raise FieldError(path, value, _expected_words(plain))
    raise FieldError(path, value, _expected_words(plain))


def parse_quantity_safe(value: Any) -> Any:
    """:func:`protocol.units.parse_quantity`, or None when it refuses ``value``."""
    try:
        return parse_quantity(value)
    except ValueError:
        return None


def _expected_words(plain: list[Any]) -> str:
    words = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        type(None): "nothing",
    }
    named = [words.get(p, getattr(p, "__name__", str(p))) for p in plain]
    return " or ".join(dict.fromkeys(named))


# -- levers -------------------------------------------------------------------------------------
def _lever_classes() -> dict[str, type]:
    from protocol import levers

    out: dict[str, type] = {}
    for obj in vars(levers).values():
        if (
            isinstance(obj, type)
            and issubclass(obj, levers.Lever)
            and obj is not levers.Lever
            and dataclasses.is_dataclass(obj)
        ):
            out[obj.kind] = obj
    return out


def check_lever(data: Any, path: str = "lever", depth: int = 0) -> dict[str, Any]:
    """Check a lever table against its dataclass in :mod:`protocol.levers`, strictly.

    The ``kind`` picks the dataclass; every other key must be one of its fields and fit the
    field's annotation (integers are integers, booleans are booleans, numbers are finite;
    unit-annotated fields take quantities). Returns the table with quantities converted.

    Raises
    ------
    ValueError
        ``"<path>.<key>: got <value>; expected <what>"``.
    """
    if depth > _MAX_LEVER_DEPTH:
        raise FieldError(path, "...", f"levers nested at most {_MAX_LEVER_DEPTH} deep")
    if not isinstance(data, Mapping):
        raise FieldError(path, data, "a table with a 'kind' key")
    classes = _lever_classes()
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in classes:
        raise FieldError(f"{path}.kind", kind, f"one of {', '.join(sorted(classes))}")
    cls = classes[kind]
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls)]
    out: dict[str, Any] = {"kind": kind}
    for key, value in data.items():
        if key == "kind":
            continue
        if key not in names:
            raise FieldError(
                f"{path}.{key}", value, f"a field of a {kind} lever ({', '.join(names) or 'none'})"
            )
        hint = hints[key]
        if key == "effects":
            if not isinstance(value, list | tuple):
                raise FieldError(f"{path}.{key}", value, "an array of lever tables")
            out[key] = [
                check_lever(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(value)
            ]
            continue
        out[key] = _strict(value, hint, f"{path}.{key}", non_negative=key != "value")
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in out
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise FieldError(
            f"{path}.{missing[0]}", None, f"a value (a {kind} lever needs {', '.join(missing)})"
        )
    return out


# -- tables that fill a dataclass ---------------------------------------------------------------
def _check_fields(cls: type, table: Mapping[str, Any], path: str, what: str) -> dict[str, Any]:
    """Check ``table`` key by key against the fields of dataclass ``cls`` (strictly)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls)]
    if len(table) > len(names):
        raise FieldError(path, f"{len(table)} keys", f"at most the {len(names)} fields of {what}")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in names:
            raise FieldError(f"{path}.{key}", value, f"a field of {what} ({', '.join(names)})")
        hint = hints[key]
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
        members = (
            typing.get_args(base)
            if typing.get_origin(base) in (typing.Union, types.UnionType)
            else (base,)
        )
        if any(m is Any for m in members):
            # An object built in code (e.g. protocol.yuma.EpochParams); plain data from a file
            # can never be one.
            if value is not None and _is_plain(value):
                raise FieldError(
                    f"{path}.{key}", value, "an object built in code (scenario files cannot set it)"
                )
            out[key] = value
            continue
        if any(typing.get_origin(m) in (tuple, list, dict) for m in members):
            out[key] = _plain_data(value, f"{path}.{key}")
            continue
        out[key] = _strict(value, hint, f"{path}.{key}", non_negative=False)
    return out


#: Deepest nesting of plain data inside a free-form field.
_MAX_PLAIN_DEPTH = 8


def _is_plain(value: Any) -> bool:
    return isinstance(value, bool | int | float | str | list | tuple | dict)


def _plain_data(value: Any, path: str, depth: int = 0) -> Any:
    """Accept plain data (finite numbers, strings, booleans, arrays, tables) up to a depth."""
    if depth > _MAX_PLAIN_DEPTH:
        raise FieldError(path, "...", f"data nested at most {_MAX_PLAIN_DEPTH} deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(path, value, "a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        raise FieldError(path, value, "an integer in [-2^63, 2^63]")
    if isinstance(value, Mapping):
        return {k: _plain_data(v, f"{path}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_data(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    return value


def check_economy_overrides(
    table: Mapping[str, Any], path: str = "economy_overrides"
) -> dict[str, Any]:
    """Check ``network.economy_overrides`` against ``protocol.economy.EconomyParams``.

    Raises
    ------
    ValueError
        Naming ``<path>.<key>``, the value and what was expected.
    """
    if not table:
        return {}
    from protocol.economy import EconomyParams

    return _check_fields(EconomyParams, table, path, "EconomyParams")


def check_policy_config(
    policy: str, table: Mapping[str, Any], path: str = "policy_config"
) -> dict[str, Any]:
    """Check ``table`` against the configuration dataclass of governance policy ``policy``.

    Quantities convert into the units the dataclass annotates; the policy's own bounds and
    cross-field rules (``protocol.governance.config.build_config``) then apply.

    Raises
    ------
    ValueError
        Naming ``<path>.<key>``, the value and what was expected; or ``policy`` when the
        policy is unknown.
    """
    from protocol.governance.config import PolicyConfigError, build_config
    from protocol.governance.registry import policy_class
    from protocol.registry import RegistryError

    try:
        cls = policy_class(policy)
    except (RegistryError, ImportError, AttributeError, ValueError) as exc:
        raise FieldError("policy", policy, f"a registered policy ({exc})") from None
    if not table:
        return {}
    config_cls = getattr(cls, "Config", object)
    if not dataclasses.is_dataclass(config_cls):
        key = next(iter(table))
        raise FieldError(f"{path}.{key}", table[key], f"no configuration ({policy} takes none)")
    out = _check_fields(config_cls, table, path, f"the {policy} policy")
    try:
        build_config(config_cls, out)
    except PolicyConfigError as exc:
        field_name, _, rest = str(exc).partition(": ")
        if field_name in out:
            raise FieldError(f"{path}.{field_name}", out[field_name], rest) from None
        raise FieldError(path, dict(table), str(exc)) from None
    return out


# -- strategy parameters -----------------------------------------------------------------------
#: The parameters each shipped strategy reads from ``<section>.strategy_params`` and their
#: ranges: section -> strategy -> parameter -> (low, high, integer?). A strategy registered
#: elsewhere (not listed) takes any finite numbers; the model checks its name.
STRATEGY_PARAMETERS: dict[str, dict[str, dict[str, tuple[float, float, bool]]]] = {
    "miners": {
        "honest": {"cost_factor": (0.0, 1e6, False)},
        "lazy": {"effort": (0.0, 1.0, False)},
        "copier": {"cost_factor": (0.0, 1e6, False)},
        "sybil": {"uids": (1, 4096, True)},
    },
    "validators": {
        "honest": {"weight_exponent": (0.0, 100.0, False)},
        "weight_copier": {"weight_exponent": (0.0, 100.0, False)},
        "cabal": {"weight_exponent": (0.0, 100.0, False), "boost": (0.0, 1e6, False)},
        "inactive": {"weight_exponent": (0.0, 100.0, False)},
    },
    "owners": {
        "honest": {"utility_factor": (0.0, 1e6, False)},
        "extractive": {"utility_factor": (0.0, 1e6, False)},
        "high_value": {"utility_factor": (0.0, 1e6, False)},
    },
}


def check_strategy_params(section: str, table: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Check ``<section>.strategy_params``: known parameters of known strategies, in range.

    Raises
    ------
    ValueError
        ``"strategy_params.<strategy>.<parameter>: got ...; expected ..."``.
    """
    declared = STRATEGY_PARAMETERS.get(section, {})
    out: dict[str, dict[str, float]] = {}
    for strategy, params in table.items():
        where = f"strategy_params.{strategy}"
        if not isinstance(params, Mapping):
            raise FieldError(where, params, "a table of parameter = number")
        known = declared.get(strategy)
        checked: dict[str, float] = {}
        for name, value in params.items():
            at = f"{where}.{name}"
            if known is not None and name not in known:
                listed = ", ".join(known)
                raise FieldError(
                    at,
                    value,
                    f"a parameter of the {strategy} strategy ({listed}); {name!r} is unknown",
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FieldError(at, value, "a number")
            if not math.isfinite(value) or abs(value) > 1e300:
                raise FieldError(at, value, "a finite number")
            if known is not None:
                low, high, integer = known[name]
                if integer and not (isinstance(value, int) or float(value).is_integer()):
                    raise FieldError(at, value, f"an integer in [{low:g}, {high:g}]")
                if not low <= value <= high:
                    raise FieldError(at, value, f"a value in [{low:g}, {high:g}]")
            checked[str(name)] = float(value)
        out[str(strategy)] = checked
    return out
