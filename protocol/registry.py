"""Small named registries: the plug-in mechanism of the protocol layer.

A registry maps names to implementations (functions or classes). Variants register themselves
with a decorator in their own module, so adding one is adding one file. A name can also be a
dotted path (``"package.module:attribute"``) or an entry point of the registry's group, so
third-party variants load without touching govsim.

Examples
--------
>>> from protocol.registry import Registry
>>> shapes = Registry("shape")
>>> @shapes.register("square")
... def square(x: float) -> float:
...     return x * x
>>> shapes.get("square")(3.0)
9.0
>>> shapes.names()
['square']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry", "RegistryError"]


class RegistryError(KeyError):
    """Raised when a name is unknown to a registry or registered twice."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """A mapping from names to implementations of one kind.

    Parameters
    ----------
    kind
        What the registry holds, used in error messages ("consensus mechanism").
    entry_point_group
        Optional ``importlib.metadata`` entry point group searched for unknown names.
    """

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        """Return a decorator that registers its argument under ``name``."""

        def decorator(item: T) -> T:
            self.add(name, item, replace=replace)
            return item

        return decorator

    def add(self, name: str, item: T, *, replace: bool = False) -> None:
        """Register ``item`` under ``name``; refuse duplicates unless ``replace``."""
        if not name or not isinstance(name, str):
            raise RegistryError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items and not replace:
            raise RegistryError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item

    def get(self, name: str) -> T:
        """Look ``name`` up: registered names, then ``module:attr`` paths, then entry points."""
        if name in self._items:
            return self._items[name]
        if ":" in name:
            module_name, _, attr = name.partition(":")
            try:
                module = importlib.import_module(module_name)
                return getattr(module, attr)
            except (ImportError, AttributeError) as exc:
                raise RegistryError(f"cannot load {self.kind} from {name!r}: {exc}") from exc
        if self.entry_point_group:
            for ep in entry_points(group=self.entry_point_group):
                if ep.name == name:
                    return ep.load()
        known = ", ".join(self.names()) or "none"
        raise RegistryError(f"unknown {self.kind} {name!r}; known: {known}")

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
