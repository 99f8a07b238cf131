"""The registry of governance policies and ``make_policy``.

Built-in policies register themselves by name when :mod:`protocol.governance` is imported. A
third-party policy loads without touching govsim, by a dotted path (``"pkg.mod:MyPolicy"``) or by
an entry point in the group ``govsim.policies``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from protocol.registry import Registry

from .base import GovernancePolicy

__all__ = ["POLICIES", "PRESET_ALIASES", "make_policy", "policy_class", "register_policy"]

#: name -> policy class; unknown names fall back to ``module:Class`` and entry points.
POLICIES: Registry[type[GovernancePolicy]] = Registry("governance policy", "govsim.policies")


#: The preset names of docs/governance.md that differ from the registered names. They resolve
#: in ``make_policy`` but are not registered, so "every policy" (``POLICIES.names()``) lists each
#: design once.
PRESET_ALIASES: dict[str, str] = {
    "v2_24h": "v2_two_stage",
    "root_stake_vote": "stake_vote",
    "opengov_root": "opengov",
    "multisig_timelock": "timelock",
}


def register_policy(name: str) -> Callable[[type[GovernancePolicy]], type[GovernancePolicy]]:
    """Class decorator: register a policy class under ``name`` and set its ``name``."""

    def decorator(cls: type[GovernancePolicy]) -> type[GovernancePolicy]:
        if "name" not in cls.__dict__:
            cls.name = name
        POLICIES.add(name, cls)
        return cls

    return decorator


def policy_class(name: str) -> type[GovernancePolicy]:
    """The policy class for ``name`` (a registered name, ``pkg.mod:Class`` or an entry point).

    Raises
    ------
    protocol.registry.RegistryError
        If ``name`` is unknown or does not name a :class:`GovernancePolicy` subclass.
    """
    importlib.import_module("protocol.governance")  # registers the built-in policies
    cls = POLICIES.get(PRESET_ALIASES.get(name, name))
    if not (isinstance(cls, type) and issubclass(cls, GovernancePolicy)):
        from protocol.registry import RegistryError

        raise RegistryError(
            f"governance policy {name!r} is not a GovernancePolicy subclass: {cls!r}"
        )
    return cls


def make_policy(
    name: str, config: Mapping[str, Any] | None = None, **overrides: Any
) -> GovernancePolicy:
    """Look up policy ``name`` and build it from a validated configuration.

    Parameters
    ----------
    name
        Registered name (``"v2_two_stage"``), dotted path or entry point name.
    config
        Config fields (e.g. a scenario's table); ``overrides`` win over it.

    Raises
    ------
    protocol.governance.config.PolicyConfigError
        If the configuration is malformed (the message names the field).

    Examples
    --------
    >>> from protocol.governance import make_policy
    >>> make_policy("multisig", k=2, n=3).config.k
    2
    """
    return policy_class(name)(config, **overrides)
