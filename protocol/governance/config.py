"""Validation of a governance policy's configuration.

A policy's configuration is a frozen dataclass whose fields carry their bounds in
``dataclasses.field(metadata=...)`` (built with :func:`param`). :func:`build_config` turns a raw
mapping (from a scenario file or keyword arguments) into that dataclass and refuses anything
malformed with a :class:`PolicyConfigError` that names the field, the value and what was
expected.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, TypeVar, get_type_hints

__all__ = ["PolicyConfigError", "build_config", "param"]

C = TypeVar("C")


class PolicyConfigError(ValueError):
    """A malformed policy configuration; the message starts with the offending field."""


def param(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[Any, ...] | None = None,
    doc: str = "",
) -> Any:
    """A config field with bounds checked by :func:`build_config`.

    Parameters
    ----------
    default
        The default value (the real parameter of the design it models).
    lo, hi
        Inclusive bounds for numbers.
    choices
        Allowed values for strings.
    doc
        One line saying what the field is and where its default comes from.
    """
    return dataclasses.field(
        default=default, metadata={"lo": lo, "hi": hi, "choices": choices, "doc": doc}
    )


def _check_type(name: str, value: Any, hint: Any) -> Any:
    """Coerce/check ``value`` against the simple type hints used by policy configs."""
    text = str(hint)
    optional = "None" in text
    if value is None:
        if optional:
            return None
        raise PolicyConfigError(f"{name}: expected a value, got None")
    if "bool" in text and "int" not in text and "float" not in text:
        if not isinstance(value, bool):
            raise PolicyConfigError(f"{name}: expected true/false, got {value!r}")
        return value
    if "int" in text and "float" not in text:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise PolicyConfigError(
                f"{name}: expected an integer (blocks or a count), got {value!r}"
            )
        return value
    if "float" in text:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyConfigError(f"{name}: expected a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise PolicyConfigError(f"{name}: expected a finite number, got {value!r}")
        return float(value)
    if "str" in text and "tuple" not in text:
        if not isinstance(value, str):
            raise PolicyConfigError(f"{name}: expected a string, got {value!r}")
        return value
    if "tuple" in text:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise PolicyConfigError(f"{name}: expected a list, got {value!r}")
        return tuple(value)
    return value


def build_config(cls: type[C], raw: Mapping[str, Any] | None = None, **overrides: Any) -> C:
    """Build the config dataclass ``cls`` from ``raw`` and keyword ``overrides``.

    Parameters
    ----------
    cls
        A frozen dataclass whose fields were declared with :func:`param`.
    raw
        A mapping of field values (e.g. a scenario's ``[governance.config]`` table).
    **overrides
        More field values; they win over ``raw``.

    Returns
    -------
    C
        The validated configuration.

    Raises
    ------
    PolicyConfigError
        On an unknown field, a wrong type, a value out of bounds, or a cross-field rule broken
        (the class's ``check()`` method, when it has one).
    """
    values = dict(raw or {})
    values.update(overrides)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise PolicyConfigError(
            f"{unknown[0]}: unknown field for {cls.__name__}; known: {', '.join(sorted(fields))}"
        )
    hints = get_type_hints(cls)
    clean: dict[str, Any] = {}
    for name, value in values.items():
        meta = fields[name].metadata
        value = _check_type(name, value, hints[name])
        if value is not None and isinstance(value, int | float) and not isinstance(value, bool):
            lo, hi = meta.get("lo"), meta.get("hi")
            if lo is not None and value < lo:
                raise PolicyConfigError(f"{name}: {value!r} is below the minimum {lo}")
            if hi is not None and value > hi:
                raise PolicyConfigError(f"{name}: {value!r} is above the maximum {hi}")
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            raise PolicyConfigError(
                f"{name}: {value!r} is not one of {', '.join(map(str, choices))}"
            )
        clean[name] = value
    config = cls(**clean)
    check = getattr(config, "check", None)
    if callable(check):
        check()
    return config
