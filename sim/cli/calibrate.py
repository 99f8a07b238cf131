"""``govsim calibrate``: fit the TAO market's constants to the documented events, as a range."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sim.cli._root import UserError, main

__all__ = ["calibrate"]

DEFAULT_CACHE = Path("out") / "calibration-cache"


@main.command("calibrate")
@click.option(
    "--events",
    "events_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Events file (default: the shipped scenarios/data/events.toml).",
)
@click.option("--quick", is_flag=True, help="Coarse design (about 20 runs): for tests and a look.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the fitted prior here (e.g. scenarios/data/market_prior.toml).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CACHE,
    show_default=True,
    help="Directory caching replay runs (keyed by configuration and simulator source).",
)
@click.option("--no-cache", is_flag=True, help="Keep runs in memory only.")
@click.option("--samples", type=int, default=400, show_default=True, help="Posterior draws kept.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Seed of the draws.")
@click.option(
    "--prior",
    "show_prior",
    is_flag=True,
    help="Print the shipped fit's ranges (scenarios/data/market_prior.toml) and exit.",
)
def calibrate(
    events_path: Path | None,
    quick: bool,
    as_json: bool,
    out_path: Path | None,
    cache_dir: Path,
    no_cache: bool,
    samples: int,
    seed: int,
    show_prior: bool,
) -> None:
    """Fit market.contagion_beta, duration_exponent and security_beta to every event."""
    from sim.calibration import (
        EventsFileError,
        PriorFileError,
        Replayer,
        fit_market,
        format_fit,
        format_prior_range,
        load_events,
        load_market_prior,
    )
    from sim.calibration.prior import prior_toml

    if show_prior:
        try:
            prior = load_market_prior()
        except PriorFileError as exc:
            raise UserError(str(exc)) from None
        click.echo(format_prior_range(prior))
        return
    if samples < 10:
        raise UserError(f"--samples: expected at least 10, got {samples}")
    if seed < 0:
        raise UserError(f"--seed: expected a non-negative integer, got {seed}")
    try:
        catalog = load_events(events_path)
    except EventsFileError as exc:
        raise UserError(str(exc)) from None
    if not any(e.observed for e in catalog.events):
        raise UserError("no event has a known TAO move: nothing to fit")
    root = click.get_current_context().find_root()
    words = [root.info_name or "govsim"]
    if root.command is main:
        words.append("calibrate")
    if quick:
        words.append("--quick")
    if events_path is not None:
        words += ["--events", str(events_path)]
    if out_path is not None:
        words += ["--out", out_path.as_posix()]
    replayer = Replayer(None if no_cache else cache_dir)
    progress = None if as_json else (lambda line: click.echo(f"  {line}", err=True))
    result = fit_market(
        catalog,
        replayer=replayer,
        quick=quick,
        n_samples=samples,
        seed=seed,
        command=" ".join(words),
        progress=progress,
    )
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(prior_toml(result), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        click.echo(format_fit(result))
        if out_path is not None:
            click.echo(f"wrote {out_path}")
