"""``govsim run``: simulate one scenario under one policy and seed, and write the outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

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


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


@main.command("run")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--policy", "-p", default=None, help="Governance policy (default: the scenario's).")
@click.option("--seed", "-s", type=int, default=None, help="Root seed (default: the scenario's).")
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for timeseries.parquet, kpis.json and events.json.",
)
def run_cmd(scenario: Path, policy: str | None, seed: int | None, out_dir: Path | None) -> None:
    """Simulate SCENARIO (a TOML file) once and print a summary."""
    from sim.api import run

    if not scenario.exists():
        raise UserError(f"{scenario}: no such scenario file")
    if seed is not None and seed < 0:
        raise UserError(f"--seed: expected a non-negative integer, got {seed}")
    if out_dir is not None:
        # Before the run, so an unwritable --out fails in a second, not after the simulation.
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--out {out_dir}: cannot create it ({exc.strerror})") from None
    try:
        result = run(scenario, policy=policy, seed=seed)
    except Exception as exc:  # every input problem surfaces as one clear line
        if exc.__class__.__name__ in (
            "ScenarioError",
            "ValueError",
            "RegistryError",
            "PolicyConfigError",
        ):
            raise UserError(str(exc)) from exc
        raise
    kpis = {k: _json_safe(v) for k, v in result.kpis.items()}
    if out_dir is not None:
        result.timeseries.to_parquet(out_dir / "timeseries.parquet", index=False)
        (out_dir / "kpis.json").write_text(json.dumps(kpis, indent=2, sort_keys=True) + "\n")
        (out_dir / "events.json").write_text(
            json.dumps(result.events, indent=1, default=str) + "\n"
        )
    cfg = result.config
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
    executed = [e for e in result.events if e["kind"] == "executed"]
    click.echo(f"  governance actions executed          {len(executed)}")
    if out_dir is not None:
        click.echo(f"wrote {out_dir / 'timeseries.parquet'}, {out_dir / 'kpis.json'}")
