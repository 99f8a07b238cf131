"""Fuzzing the input boundary through the real CLI: mutated scenario files and replay states.

Every mutation must end in exit 0 or in exactly one ``error: ...`` line with exit 2: never a
traceback, never another exit code. Scenario files go through ``govsim run --check`` (the whole
validation, no simulation); replay states through ``govsim yuma replay`` in both modes (the
epoch runs: the states are small). The budget is bounded (``max_examples``) so the module
stays well under a minute in ``make test``.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import main
from tests.scenarios.tiny import LIBRARY

pytestmark = pytest.mark.slow  # bounded (max_examples), still in the default run

#: Examples per test; raise it to hunt (``GOVSIM_FUZZ_EXAMPLES=2000 pytest tests/scenarios``).
EXAMPLES = int(os.environ.get("GOVSIM_FUZZ_EXAMPLES", "120"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _assert_clean(result: Result, what: str) -> None:
    """Exit 0, or one ``error:`` line with exit 2; anything else fails with the input shown."""
    if result.exit_code == 0:
        return
    output = result.output.strip()
    assert result.exit_code == 2, (
        f"{what}\nexit {result.exit_code}: {result.exception!r}\n{output[-2000:]}"
    )
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), what
    assert output.startswith("error: ") and "\n" not in output, f"{what}\n{output[-2000:]}"
    assert "Traceback" not in output, what


# -- values a careless or hostile user writes ---------------------------------------------------
def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**63, 2**64, 2**64 - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e20, 1e308, -0.0, 0.5, 360.0]),
    st.booleans(),
    st.sampled_from(
        [
            "72 minutes",
            "1e400 blocks",
            "1e400 TAO",
            "3 TAO",
            "90 days",
            "-1 days",
            "1.1 minutes",
            "nan",
            "inf",
            "",
            "\x00",
            "2",
            "false",
            "all",
            "sudo",
            "set_emission_enabled",
            "quality_jump",
            "intervention",
            "1e-400 days",
            "99999999999999999999999 rao",
            "1_000 TAO",
            "1e4000 weeks",
        ]
    ),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(
        st.sampled_from(["kind", "netuid", "value", "unit", "x"]),
        st.one_of(st.integers(-3, 300), st.text(max_size=5), st.booleans()),
        max_size=3,
    ),
    st.integers(min_value=30, max_value=60).map(_nested),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _mutate(data: dict[str, Any], draw: Any, min_depth: int = 1) -> dict[str, Any]:
    """One to three mutations: replace a value, drop a key, add or rename a key (at paths at
    least ``min_depth`` deep)."""
    out = copy.deepcopy(data)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(out) if len(p) >= min_depth]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = out
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        op = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add", "rename"]))
        if op == "replace" or not isinstance(parent, dict):
            parent[key] = draw(HOSTILE)
        elif op == "drop":
            del parent[key]
        elif op == "add":
            parent[draw(st.text(min_size=1, max_size=10))] = draw(HOSTILE)
        else:
            parent[f"{key}x"] = parent.pop(key)
    return out


# -- scenario files ---------------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime.date):  # a TOML local date, written bare
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(type(value))


def _toml(data: dict[str, Any]) -> str:
    """A TOML document of ``data`` (every table inline)."""
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in data.items())


@pytest.fixture(scope="module")
def library_dir() -> Iterator[Path]:
    """The scenario library copied to a scratch directory (so ``extends`` resolves)."""
    root = Path(tempfile.mkdtemp(prefix="govsim-fuzz-"))
    for path in LIBRARY:
        shutil.copy(path, root / path.name)
    yield root
    shutil.rmtree(root, ignore_errors=True)


BASES = {path.name: tomllib.loads(path.read_text()) for path in LIBRARY}


@SETTINGS
@given(data=st.data())
def test_mutated_scenario_files_exit_0_or_one_clean_line(
    data: st.DataObject, library_dir: Path
) -> None:
    name = data.draw(st.sampled_from(sorted(BASES)))
    mutated = _mutate(BASES[name], data.draw)
    text = _toml(mutated)
    if data.draw(st.booleans()):  # sometimes break the text itself
        cut = data.draw(st.integers(min_value=0, max_value=len(text)))
        text = (
            text[:cut]
            + data.draw(st.sampled_from(["", "[", "]]", "=", "\x00", '"', "\n[["]))
            + text[cut:]
        )
    path = library_dir / f"fuzz_{name}"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path), "--check"])
    _assert_clean(result, text[:3000])


@settings(
    max_examples=max(EXAMPLES // 3, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data())
def test_mutated_set_overrides_exit_0_or_one_clean_line(data: st.DataObject) -> None:
    covenant = next(p for p in LIBRARY if p.name == "covenant_2026.toml")
    paths = [
        "horizon_days",
        "network.tempo",
        "network.n_subnets",
        "shocks.1.lever.netuid",
        "shocks.1.lever.enabled",
        "shocks.0.day",
        "miners.strategy_params.honest.x",
        "governance.policy",
        "governance.policy_config.k",
        "seed",
        "name",
        "x.y.z",
        "shocks.99.day",
        "sweep.n",
        "network..tempo",
    ]
    path = data.draw(st.sampled_from(paths))
    value = data.draw(st.one_of(HOSTILE.map(_toml_value), st.text(max_size=15)))
    result = CliRunner().invoke(
        main, ["compare", str(covenant), "--check", "--set", f"{path}={value}"]
    )
    _assert_clean(result, f"--set {path}={value}")


# -- replay states ----------------------------------------------------------------------------------
STATE: dict[str, Any] = {
    "n": 4,
    "block": 1_000,
    "tempo": 100,
    "stake": [1_000_000_000, 500_000_000, 0, 0],
    "last_update": [990, 990, 0, 0],
    "reg": [0, 0, 10, 20],
    "weights": [{"2": 40_000, "3": 20_000}, {"2": 10_000, "3": 50_000}, {}, {}],
    "bonds": [{"2": 1_000}, {}, {}, {}],
    "liquid_alpha": True,
    "liquid_alpha_version": "v1",
    "commit_reveal": [None, 980, None, None],
    "owner_uid": 3,
}


@SETTINGS
@given(data=st.data())
def test_mutated_replay_states_exit_0_or_one_clean_line(data: st.DataObject) -> None:
    base: Any = STATE if data.draw(st.booleans()) else [STATE, {"block": 1_100}]
    mutated = (
        _mutate({"root": base}, data.draw, min_depth=2)["root"]
        if isinstance(base, list)
        else _mutate(base, data.draw)
    )
    text = json.dumps(mutated, allow_nan=True)
    if data.draw(st.integers(min_value=0, max_value=4)) == 0:  # raw text the encoder never writes
        cut = data.draw(st.integers(min_value=0, max_value=len(text)))
        text = (
            text[:cut]
            + data.draw(
                st.sampled_from(
                    ["9" * 5_000, "[" * 3_000, "-", "NaN", "1e999", "\x00", '"\\ud800"', "}"]
                )
            )
            + text[cut:]
        )
    mode = data.draw(st.sampled_from(["--exact", "--float"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        path.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(main, ["yuma", "replay", str(path), mode])
    _assert_clean(result, f"{mode} {text[:3000]}")
