"""Parameter types shared by the ``govsim`` commands: scenarios by file or library name,
executor kinds, governance policy names, and the ``--json`` flag.

Each type completes in the shell (``_GOVSIM_COMPLETE=bash_source govsim``, see README) and
refuses bad values with one ``error: ...`` line (exit code 2), like every other input error.
Registries are imported only when a value is checked or completed, so ``govsim --help`` stays
fast.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from sim.cli._root import UserError

__all__ = [
    "EXECUTOR",
    "POLICY",
    "POLICY_LIST",
    "SCENARIO",
    "csv_option",
    "echo_json",
    "json_option",
]

#: Executors that run on this machine; a running Dask scheduler is ``dask://HOST:PORT``.
LOCAL_EXECUTORS: tuple[str, ...] = ("process", "sequential", "dask-local", "ray")
_REMOTE = re.compile(r"(dask|tcp)://[^\s:/]+:\d{1,5}")


class ExecutorType(click.Choice):
    """``--executor``: one of :data:`LOCAL_EXECUTORS`, or ``dask://HOST:PORT``."""

    name = "executor"

    def __init__(self) -> None:
        super().__init__([*LOCAL_EXECUTORS, "dask://HOST:PORT"])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if text in LOCAL_EXECUTORS or _REMOTE.fullmatch(text):
            return text
        raise UserError(
            f"--executor {text[:80]!r}: expected one of {', '.join(LOCAL_EXECUTORS)}"
            ", or dask://HOST:PORT (a running Dask scheduler)"
        )

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        return [
            CompletionItem(c) for c in (*LOCAL_EXECUTORS, "dask://") if c.startswith(incomplete)
        ]


def _policy_names() -> list[str]:
    import protocol.governance  # noqa: F401  (registers the built-in policies)
    from protocol.governance.registry import POLICIES

    return POLICIES.names()


class PolicyType(click.ParamType):
    """``--policy NAME``: a governance policy (checked where the scenario is loaded, so the
    error names the scenario); completes registered names."""

    name = "policy"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        return [CompletionItem(n) for n in _policy_names() if n.startswith(incomplete)]


class PolicyListType(PolicyType):
    """``--policies a,b|all``: completes the last name of the list."""

    name = "policies"

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        done, _, last = incomplete.rpartition(",")
        prefix = f"{done}," if done else ""
        names = ["all", *_policy_names()] if not done else _policy_names()
        return [CompletionItem(prefix + n) for n in names if n.startswith(last)]


class ScenarioType(click.ParamType):
    """A scenario: a TOML file, or the name of a library scenario (``govsim scenarios list``)."""

    name = "scenario"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from sim.library import ScenarioNotFoundError, resolve_scenario

        if isinstance(value, Path):
            return value
        try:
            return resolve_scenario(str(value))
        except ScenarioNotFoundError as exc:
            raise UserError(str(exc)) from None

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from sim.library import library

        names = [CompletionItem(n) for n in library() if n.startswith(incomplete)]
        return [*names, CompletionItem(incomplete, type="file")]


EXECUTOR = ExecutorType()
POLICY = PolicyType()
POLICY_LIST = PolicyListType()
SCENARIO = ScenarioType()


def json_option(func: Any) -> Any:
    """``--json``: print one JSON document on stdout instead of the text summary."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print the result as one JSON document on stdout (progress and notes go to stderr).",
    )(func)


def csv_option(func: Any) -> Any:
    """``--csv PATH``: also write the summary in long form as CSV."""
    return click.option(
        "--csv",
        "csv_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="PATH",
        help="Also write the summary as CSV in long form: policy [, point, "
        "axes], kpi, name, unit, group, direction, mean, low, high, n "
        "(% values times 100).",
    )(func)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value


def echo_json(data: Any) -> None:
    """Print ``data`` as JSON (NaN as null, infinities as ``"inf"``/``"-inf"``)."""
    click.echo(json.dumps(_json_safe(data), indent=2, default=str))
