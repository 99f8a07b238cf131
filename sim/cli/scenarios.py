"""``govsim scenarios``: the scenario library shipped with govsim.

``govsim scenarios list`` names each library scenario with its summary; ``govsim scenarios
show NAME`` prints what it simulates, its policies, seeds, horizon and sweep design, and the
file itself (``--path`` prints only the installed file's path). Every command that takes a
SCENARIO accepts a library name as well as a file, from any directory.
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem

from sim.cli._params import echo_json, json_option
from sim.cli._root import UserError, main

__all__ = ["scenarios", "scenarios_list", "scenarios_show"]


@main.group("scenarios")
def scenarios() -> None:
    """The scenario library: list it, show one (usable by name from anywhere)."""


def _facts(entry: Any) -> dict[str, Any]:
    """What a library scenario runs: its policies, seeds, horizon, network and design."""
    from sim.schema import ScenarioError, load_scenario

    facts: dict[str, Any] = {"name": entry.name, "summary": entry.summary, "path": str(entry.path)}
    try:
        scenario = load_scenario(entry.path, check_sweep=False)
    except ScenarioError as exc:  # a broken install: say so, list the rest
        facts["error"] = str(exc)
        return facts
    config = scenario.config
    sweep = scenario.sweep
    facts.update(
        {
            "description": scenario.description,
            "policies": scenario.policy_names(),
            "seeds": scenario.seeds,
            "horizon_days": config.horizon_days,
            "network": {
                "n_subnets": config.network.n_subnets,
                "n_uids": config.network.n_uids,
                "n_validators": config.network.n_validators,
            },
            "shocks": [shock.kind for shock in config.shocks],
            "sweep": None
            if sweep is None
            else {
                "design": sweep.design,
                "points": sweep.size,
                "parameters": sorted({key for _, point in sweep.probes() for key in point}),
            },
        }
    )
    return facts


def _complete_name(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from sim.library import library

    return [CompletionItem(name) for name in library() if name.startswith(incomplete)]


@scenarios.command("list")
@json_option
def scenarios_list(as_json: bool) -> None:
    """List the library scenarios with a one-line summary each."""
    from sim.library import library

    entries = library()
    if as_json:
        echo_json([_facts(entry) for entry in entries.values()])
        return
    width = max(len(name) for name in entries)
    for name, entry in entries.items():
        click.echo(f"{name.ljust(width)}  {entry.summary}")
    click.echo("")
    click.echo(
        "Use a name wherever a SCENARIO goes (govsim run covenant_2026 ...); "
        "`govsim scenarios show NAME` for details."
    )


@scenarios.command("show")
@click.argument("name", shell_complete=_complete_name)
@click.option("--path", "path_only", is_flag=True, help="Print only the installed file's path.")
@json_option
def scenarios_show(name: str, path_only: bool, as_json: bool) -> None:
    """Show library scenario NAME: what it simulates, how it runs, and its file."""
    from sim.library import library

    entries = library()
    entry = entries.get(name.removesuffix(".toml"))
    if entry is None:
        raise UserError(f"scenario {name[:80]!r}: not in the library; known: {', '.join(entries)}")
    if path_only:
        click.echo(str(entry.path))
        return
    facts = _facts(entry)
    if as_json:
        facts["text"] = entry.path.read_text(encoding="utf-8")
        echo_json(facts)
        return
    if "error" in facts:
        raise UserError(facts["error"])
    sweep = facts["sweep"]
    click.echo(f"{entry.name}: {facts['description']}")
    click.echo(f"  policies      {', '.join(facts['policies'])}")
    click.echo(f"  seeds         {facts['seeds']}")
    click.echo(f"  horizon       {facts['horizon_days']:g} days")
    net = facts["network"]
    click.echo(
        f"  network       {net['n_subnets']} subnets x {net['n_uids']} uids "
        f"({net['n_validators']} validators)"
    )
    click.echo(f"  shocks        {', '.join(facts['shocks']) or 'none'}")
    if sweep is not None:
        click.echo(
            f"  sweep         {sweep['design']}, {sweep['points']} points over "
            f"{', '.join(sweep['parameters'])}"
        )
    click.echo(f"  file          {entry.path}")
    click.echo("")
    click.echo(entry.path.read_text(encoding="utf-8").rstrip())
