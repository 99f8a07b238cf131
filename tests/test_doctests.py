"""The examples in the docstrings of these modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES: tuple[str, ...] = (
    "protocol.levers",
    "sim.build",
    "sim.cli.sensitivity",
    "sim.desks.staking",
    "sim.desks.work",
    "sim.explorer.compare",
    "sim.frontier",
    "sim.metrics",
    "sim.seeds",
    "sim.sensitivity",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
