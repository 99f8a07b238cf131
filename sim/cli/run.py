"""``govsim run``: simulate one scenario under one policy and seed, and write the outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from sim.cli._params import POLICY, SCENARIO, echo_json, json_option
from sim.cli._root import UserError, main

__all__ = ["run_cmd"]

#: KPIs printed in the summary, in order.
SUMMARY_KEYS: tuple[str, ...] = (
    "tao.price_start_usd",
    "tao.price_end_usd",
    "tao.max_drawdown",
    "pnl.miners.mean",
    "pnl.validators.mean",
    "pnl.nominators.mean",
    "pnl.owners.mean",
    "pnl.tao_holders.mean",
    "survival.share_emitting",
    "fp.count",
    "fn.count",
    "exploits.mean_days_to_stop",
    "decentralisation.decision_nc_50",
)


def _load_config(scenario: Path, policy: str | None, seed: int | None) -> Any:
    """The scenario's base config with ``--policy``/``--seed``: every input problem is one line."""
    from sim.api import load_config

    try:
        return load_config(scenario, policy=policy, seed=seed)
    except ValueError as exc:  # ScenarioError and the policy/seed checks
        message = str(exc)
        for field_name, option in (("seed: ", "--seed: "), ("governance.policy: ", "--policy: ")):
            if message.startswith(field_name):
                message = f"{scenario}: {option}{message.removeprefix(field_name)}"
        raise UserError(message) from None


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


@main.command("run")
@click.argument("scenario", type=SCENARIO)
@click.option(
    "--policy",
    "-p",
    type=POLICY,
    default=None,
    help="Governance policy (default: the scenario's; `govsim policies list`).",
)
@click.option(
    "--seed",
    "-s",
    type=int,
    default=None,
    help="Root seed, an integer in [0, 2^63 - 1] (default: the scenario's).",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for timeseries.parquet, kpis.json and events.json.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Only validate SCENARIO (and --policy/--seed) and print what would run.",
)
@json_option
def run_cmd(
    scenario: Path,
    policy: str | None,
    seed: int | None,
    out_dir: Path | None,
    check: bool,
    as_json: bool,
) -> None:
    """Simulate SCENARIO once and print a summary.

    SCENARIO is a TOML file or the name of a library scenario (`govsim scenarios list`), e.g.
    `govsim run covenant_2026 --policy sudo --seed 0 --out runs/one`. Only the scenario's base
    point runs: a [sweep] table is checked for its shape and size but none of its points is
    built.
    """
    from sim.api import run

    config = _load_config(scenario, policy, seed)
    if check:
        if as_json:
            echo_json(
                {
                    "ok": True,
                    "scenario": str(scenario),
                    "name": config.name,
                    "policy": config.governance.policy,
                    "seed": config.seed,
                    "n_subnets": config.network.n_subnets,
                    "n_uids": config.network.n_uids,
                    "horizon_days": config.horizon_days,
                }
            )
            return
        click.echo(
            f"ok: {scenario}: {config.name}: policy={config.governance.policy} "
            f"seed={config.seed} {config.network.n_subnets} subnets x "
            f"{config.network.n_uids} uids, {config.horizon_days:g} days"
        )
        return
    if out_dir is not None:
        # Before the run, so an unwritable --out fails in a second, not after the simulation.
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UserError(f"--out {str(out_dir)[:80]!r}: cannot create it ({reason})") from None
    try:
        result = run(config)
    except Exception as exc:  # a strategy name refused by its registry when the model is built
        if exc.__class__.__name__ in ("ValueError", "RegistryError", "PolicyConfigError"):
            raise UserError(f"{scenario}: {exc}") from exc
        raise
    kpis = {k: _json_safe(v) for k, v in result.kpis.items()}
    if out_dir is not None:
        result.timeseries.to_parquet(out_dir / "timeseries.parquet", index=False)
        (out_dir / "kpis.json").write_text(json.dumps(kpis, indent=2, sort_keys=True) + "\n")
        (out_dir / "events.json").write_text(
            json.dumps(result.events, indent=1, default=str) + "\n"
        )
    cfg = result.config
    executed = [e for e in result.events if e["kind"] == "executed"]
    if as_json:
        outputs = (
            [str(out_dir / name) for name in ("timeseries.parquet", "kpis.json", "events.json")]
            if out_dir
            else []
        )
        echo_json(
            {
                "scenario": str(scenario),
                "name": cfg.name,
                "policy": cfg.governance.policy,
                "seed": cfg.seed,
                "n_subnets": cfg.network.n_subnets,
                "n_uids": cfg.network.n_uids,
                "horizon_days": cfg.horizon_days,
                "wall_s": result.wall_s,
                "governance_actions_executed": len(executed),
                "kpis": kpis,
                "outputs": outputs,
            }
        )
        return
    click.echo(
        f"{cfg.name}: policy={cfg.governance.policy} seed={cfg.seed} "
        f"{cfg.network.n_subnets} subnets x {cfg.network.n_uids} uids, "
        f"{cfg.horizon_days:g} days in {result.wall_s:.1f} s"
    )
    for key in SUMMARY_KEYS:
        value = result.kpis.get(key)
        if isinstance(value, float):
            click.echo(f"  {key:36s} {value:,.4g}")
        elif value is not None:
            click.echo(f"  {key:36s} {value}")
    click.echo(f"  governance actions executed          {len(executed)}")
    if out_dir is not None:
        click.echo(f"wrote {out_dir / 'timeseries.parquet'}, {out_dir / 'kpis.json'}")
