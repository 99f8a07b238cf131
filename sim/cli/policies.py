"""``govsim policies``: the governance policies a study can compare.

``govsim policies list`` prints each registered policy with a one-line summary and its
configuration fields (a scenario's ``[governance] policy_config``) with their defaults, units
and bounds; ``--json`` prints the same as data. More subcommands attach to :data:`policies`.
"""

from __future__ import annotations

from typing import Any

import click

from sim.cli._params import echo_json, json_option
from sim.cli._root import main

__all__ = ["policies", "policies_list"]


@main.group("policies")
def policies() -> None:
    """The governance policies: what each one is and what it takes."""


def _default(param: Any) -> str:
    value = param.default
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "none"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    if param.unit == "blocks" and isinstance(value, int) and not isinstance(value, bool):
        # 7 200 blocks a day (12 s blocks)
        text += " block" if value == 1 else " blocks"
        if value >= 7200:
            text += f" ({value / 7200:g} d)"
        elif value >= 300:
            text += f" ({value / 300:g} h)"
    elif param.unit is not None and value is not None:
        text += f" {param.unit}"
    return text


def _bounds(param: Any) -> str:
    if param.choices:
        return "one of " + ", ".join(str(c) for c in param.choices)
    if param.low is not None and param.high is not None:
        return f"{param.low:g} to {param.high:g}"
    if param.low is not None:
        return f">= {param.low:g}"
    if param.high is not None:
        return f"<= {param.high:g}"
    return ""


@policies.command("list")
@click.option("--brief", is_flag=True, help="Names and summaries only, no parameters.")
@json_option
def policies_list(brief: bool, as_json: bool) -> None:
    """List every governance policy: name, summary and parameters with their defaults.

    Use a name with `--policy NAME` (run) or `--policies a,b,...|all` (compare, sweep); set
    parameters in a scenario's [governance] table as policy_config = {NAME = VALUE}.
    """
    from sim.library import policy_catalog

    catalog = policy_catalog()
    if as_json:
        echo_json([info.to_dict() for info in catalog])
        return
    click.echo(f"{len(catalog)} governance policies (`--policies all` runs every one):")
    width = max(len(info.name) for info in catalog)
    for info in catalog:
        click.echo("")
        aliases = f" (also: {', '.join(info.aliases)})" if info.aliases else ""
        click.echo(f"{info.name.ljust(width)}  {info.summary}{aliases}")
        if brief:
            continue
        if not info.params:
            click.echo(f"{'':{width}}  no parameters")
            continue
        name_w = max(len(p.name) for p in info.params)
        default_w = max(len(_default(p)) for p in info.params)
        for param in info.params:
            bounds = _bounds(param)
            doc = param.doc + (f" [{bounds}]" if bounds else "")
            click.echo(
                f"    {param.name.ljust(name_w)} = {_default(param).ljust(default_w)}  "
                f"{doc}".rstrip()
            )
