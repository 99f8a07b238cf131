"""``govsim sensitivity``: which parameters change the comparison of policies.

``govsim sensitivity SCENARIO --policies a,b --params PATH=LOW:HIGH ...`` runs a one-at-a-time
(OAT) and a Morris design (:mod:`sim.sensitivity`) through the ordinary study runner: any
executor, a progress bar, a study directory that ``--resume`` continues after an interrupt. It
prints the tornado table (each parameter's effect on the contrast at its low and high end, and
whether the ranking of the policies flips there) and the Morris μ*/σ table, writes
``sensitivity.csv``, ``morris.csv`` and ``points.csv`` into the study directory and its
``report.html`` (with the tornado chart), or prints one JSON document with ``--json``.

Ranges come from ``--params`` or, when none is given, from the scenario's ``[sensitivity]``
table (docs/studies.md, Sensitivity).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from sim.cli._params import EXECUTOR, POLICY_LIST, SCENARIO, echo_json, json_option
from sim.cli._root import UserError, main

__all__ = ["format_morris_table", "format_tornado_table", "parse_param_ranges", "sensitivity"]

#: Widest line of the printed tables.
TABLE_WIDTH: int = 100
#: Widest parameter name shown in the printed tables (longer names are shortened); 40 keeps
#: the tornado and Morris tables at 97 columns.
NAME_WIDTH: int = 40


def _number_or_text(text: str) -> int | float | str:
    """``"3"`` -> 3, ``"2.5"`` -> 2.5, ``"1 hour"`` -> ``"1 hour"`` (a quantity)."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_param_ranges(values: tuple[str, ...]) -> dict[str, list[Any]]:
    """``("market.contagion_beta=2.3:3.6", ...)`` -> ``{"market.contagion_beta": [2.3, 3.6]}``.

    Ends may be quantities (``governance.detection_delay_blocks=1 hour:2 days``); they are
    converted and validated against the scenario later (:func:`sim.sensitivity.sensitivity_parameters`).

    Raises
    ------
    UserError
        For an item without ``=`` or ``:``, an empty path or end, or a path given twice.

    Examples
    --------
    >>> parse_param_ranges(("a.b=1:2.5", "c=1 hour:2 days"))
    {'a.b': [1, 2.5], 'c': ['1 hour', '2 days']}
    """
    ranges: dict[str, list[Any]] = {}
    for item in values:
        path, eq, span = item.partition("=")
        low, colon, high = span.partition(":")
        path = path.strip()
        if not eq or not colon or not path or not low.strip() or not high.strip():
            raise UserError(
                f"--params {item[:80]!r}: expected PATH=LOW:HIGH, e.g. "
                "market.contagion_beta=2.3:3.6"
            )
        if path in ranges:
            raise UserError(f"--params {path}: given twice")
        ranges[path] = [_number_or_text(low), _number_or_text(high)]
    return ranges


def _fmt(value: Any, width: int = 9, *, sign: bool = True) -> str:
    """A number in at most ``width`` characters (``n/a`` when missing)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, int | float):
        text = (
            (f"{value:+.3g}" if sign else f"{value:.3g}")
            if isinstance(value, float)
            else str(value)
        )
        return text if len(text) <= width else f"{value:.2e}"
    return str(value)


def _plain_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _name(text: str) -> str:
    return text if len(text) <= NAME_WIDTH else "…" + text[-(NAME_WIDTH - 1) :]


def _flip(row: Any) -> str:
    ends = [end for end, flag in (("low", row.flips_low), ("high", row.flips_high)) if flag]
    return "+".join(ends) if ends else "no"


def format_tornado_table(oat: Any) -> str:
    """The OAT tornado table: one line per parameter, widest swing first (≤ 100 columns).

    Columns: the parameter, its low and high value, the change of the output (the contrast)
    from the base at each end, and at which end (if any) the ranking of the policies flips.
    """
    table = oat.table.sort_values("swing", ascending=False, kind="stable", na_position="last")
    header = (
        f"{'parameter':<{NAME_WIDTH}} {'low':>9} {'high':>9} {'Δ at low':>10} "
        f"{'Δ at high':>10}  ranking flips"
    )
    lines = [header, "-" * len(header)]
    for row in table.itertuples():
        lines.append(
            f"{_name(str(row.parameter)):<{NAME_WIDTH}} {_plain_number(row.low):>9} "
            f"{_plain_number(row.high):>9} {_fmt(row.effect_low, 10):>10} "
            f"{_fmt(row.effect_high, 10):>10}  {_flip(row)}"
        )
    return "\n".join(line[:TABLE_WIDTH] for line in lines)


def format_morris_table(morris: Any) -> str:
    """The Morris table: μ*, μ, σ of the elementary effects, their count and the share of a
    parameter's steps across which the ranking changed (largest μ* first; ≤ 100 columns)."""
    header = (
        f"{'parameter':<{NAME_WIDTH}} {'mu*':>10} {'mu':>10} {'sigma':>10} {'steps':>6} "
        f"{'ranking changes':>16}"
    )
    lines = [header, "-" * len(header)]
    for row in morris.table.itertuples():
        share = "n/a" if not math.isfinite(row.ranking_changes) else f"{row.ranking_changes:.0%}"
        lines.append(
            f"{_name(str(row.parameter)):<{NAME_WIDTH}} {_fmt(row.mu_star, 10, sign=False):>10} "
            f"{_fmt(row.mu, 10):>10} {_fmt(row.sigma, 10, sign=False):>10} {row.n_effects:>6} "
            f"{share:>16}"
        )
    return "\n".join(line[:TABLE_WIDTH] for line in lines)


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _write_tables(result: Any, out: Path) -> dict[str, str]:
    """``sensitivity.csv`` (OAT), ``morris.csv`` and ``points.csv`` in the study directory."""
    files: dict[str, str] = {}
    result.points.to_csv(out / "points.csv", index=False)
    files["points"] = str(out / "points.csv")
    if result.oat is not None:
        result.oat.table.to_csv(out / "sensitivity.csv", index=False)
        files["oat"] = str(out / "sensitivity.csv")
    if result.morris is not None:
        result.morris.table.to_csv(out / "morris.csv", index=False)
        files["morris"] = str(out / "morris.csv")
    return files


def _ranges(scenario: Any, params: tuple[str, ...]) -> tuple[dict[str, list[Any]], str]:
    """The ranges to study and where they came from."""
    if params:
        return parse_param_ranges(params), "--params"
    spec = getattr(scenario, "sensitivity", None)
    if spec is None:
        raise UserError(
            f"{scenario.source or scenario.name}: no parameters to study; pass "
            "--params PATH=LOW:HIGH (e.g. market.contagion_beta=2.3:3.6) or give the "
            "scenario a [sensitivity] table with params = {PATH = [LOW, HIGH]}"
        )
    return spec.ranges(), f"{scenario.source or scenario.name} [sensitivity]"


def _stored_entropy(out: Path) -> int | None:
    """The root entropy of the study in ``out`` (None when there is none to read)."""
    from sim.store import StoreError, StudyStore

    store = StudyStore(out)
    try:
        return int(store.sweep()["entropy"]) if store.exists() else None
    except (StoreError, OSError, ValueError, KeyError, TypeError):
        return None


@main.command("sensitivity")
@click.argument("scenario_path", metavar="SCENARIO", type=SCENARIO)
@click.option(
    "--policies",
    type=POLICY_LIST,
    default=None,
    help="Comma-separated policies (at least two; the first two form the contrast). "
    "Default: the scenario's.",
)
@click.option(
    "--params",
    "params",
    multiple=True,
    metavar="PATH=LOW:HIGH",
    help="A parameter and its range, e.g. --params market.contagion_beta=2.3:3.6 "
    "--params 'governance.detection_delay_blocks=1 hour:2 days' (repeat it). "
    "Default: the scenario's [sensitivity] params.",
)
@click.option(
    "--method",
    type=click.Choice(["oat", "morris", "both"]),
    default=None,
    help="One at a time, Morris elementary effects, or both (default: the scenario's, else both).",
)
@click.option(
    "--trajectories",
    type=click.IntRange(min=1, max=10_000),
    default=None,
    help="Morris trajectories (default: the scenario's, else 4).",
)
@click.option(
    "--levels",
    type=click.IntRange(min=2, max=1000),
    default=None,
    help="Morris grid levels, even (default: the scenario's, else 4).",
)
@click.option(
    "--seeds",
    "--replications",
    "replications",
    type=click.IntRange(min=1),
    default=None,
    help="Replications per point and policy (default: 1).",
)
@click.option(
    "--metric", default="harm.total", show_default=True, help="The KPI compared (larger = worse)."
)
@click.option(
    "--market-uncertainty",
    "market_uncertainty",
    is_flag=True,
    help="Draw the fitted market constants per replication (the outer Monte Carlo); "
    "a parameter the design moves keeps its value.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a field of the base scenario (TOML values), e.g. --set horizon_days=10.",
)
@click.option(
    "--entropy",
    type=int,
    default=None,
    help="Root entropy (default: fresh; recorded). It also draws the Morris design.",
)
@click.option(
    "--executor",
    "executor_kind",
    type=EXECUTOR,
    default="process",
    show_default=True,
    help="Where runs execute: process, sequential, dask-local, ray or "
    "dask://HOST:PORT (docs/studies.md).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: all cores).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Study directory (default: out/<scenario name>-sensitivity).",
)
@click.option(
    "--resume",
    "resume_study",
    is_flag=True,
    help="Continue the same study in --out (only its runs not done yet).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Move a study already in --out aside (<out>.replaced-<timestamp>).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--check",
    is_flag=True,
    help="Validate the scenario, the ranges and --out, print the plan and stop.",
)
@click.option("--no-report", is_flag=True, help="Skip report.html.")
@json_option
def sensitivity(
    scenario_path: Path,
    policies: str | None,
    params: tuple[str, ...],
    method: str | None,
    trajectories: int | None,
    levels: int | None,
    replications: int | None,
    metric: str,
    market_uncertainty: bool,
    sets: tuple[str, ...],
    entropy: int | None,
    executor_kind: str,
    workers: int | None,
    out: Path | None,
    resume_study: bool,
    force: bool,
    quiet: bool,
    check: bool,
    no_report: bool,
    as_json: bool,
) -> None:
    """Which parameters change the ranking of policies on SCENARIO (OAT and Morris).

    Every design point runs every policy on the same seeds. The output is the contrast
    METRIC[a] - METRIC[b] of the first two policies (larger = a does more harm); at every point
    the policies are ranked by mean METRIC. Prints the tornado table and the Morris table,
    writes sensitivity.csv, morris.csv, points.csv and report.html into --out.
    """
    from sim.cli.study import (
        _check_executor,
        _default_out,
        _execute_plan,
        _load,
        _policies,
        _print_failures,
    )
    from sim.runner import RunConfig
    from sim.schema import ScenarioError, check_study_size
    from sim.sensitivity import design_sensitivity, plan_sensitivity, sensitivity_parameters

    _check_executor(executor_kind)
    if resume_study and force:
        raise UserError("--resume and --force: pass one of them")
    scenario = _load(scenario_path, sets)
    names = _policies(scenario, policies)
    if len(names) < 2:
        raise UserError(
            f"--policies: expected at least two policies to compare, got "
            f"{', '.join(names) or 'none'}"
        )
    ranges, origin = _ranges(scenario, params)
    spec = scenario.sensitivity
    method = method or (spec.method if spec else "both")
    trajectories = trajectories or (spec.trajectories if spec else 4)
    levels = levels or (spec.levels if spec else 4)
    if levels % 2:
        raise UserError(f"--levels {levels}: expected an even number (a Morris grid)")
    replications = replications or 1
    out = out or _default_out(scenario.name, "-sensitivity")
    if resume_study and entropy is None:
        # The Morris design is drawn from the entropy: continue the stored one.
        entropy = _stored_entropy(out)
    try:
        parameters = sensitivity_parameters(scenario, ranges)
        chosen = entropy if entropy is not None else _fresh_entropy()
        design = design_sensitivity(
            parameters,
            method=method,  # type: ignore[arg-type]
            trajectories=trajectories,
            levels=levels,
            seed=chosen,
        )
        check_study_size(len(design.points), len(names), replications, scenario.source or "study")
        run_config = RunConfig(
            mode="kpi", market_uncertainty="prior" if market_uncertainty else "off"
        )
        plan = plan_sensitivity(
            scenario,
            names,
            design,
            replications=replications,
            entropy=chosen,
            run_config=run_config,
        )
    except (ScenarioError, ValueError) as exc:
        prefix = "--params: " if origin == "--params" else ""
        raise UserError(f"{prefix}{exc}") from None
    n_runs = len(plan.manifest)
    line = (
        f"{scenario.name}: {len(parameters)} parameter(s) from {origin}, {method} design "
        f"of {len(design.points)} points x {len(names)} policies x {replications} "
        f"replication(s) = {n_runs} runs on {executor_kind} ({workers or 'all'} workers) "
        f"-> {out}"
    )
    summary = _execute_plan(
        plan,
        out,
        line,
        executor_kind=executor_kind,
        workers=workers,
        resume_study=resume_study,
        force=force,
        entropy_given=entropy is not None,
        quiet=quiet,
        err=as_json,
        check=check,
    )
    if summary is None:  # --check
        return
    _finish(out, metric=metric, runs=summary, write_report=not no_report, as_json=as_json)
    if not summary.ok:
        _print_failures(out)
        raise SystemExit(1)


def _fresh_entropy() -> int:
    from sim.sampling import new_entropy

    return new_entropy()


def _finish(out: Path, *, metric: str, runs: Any, write_report: bool, as_json: bool) -> None:
    """Analyse the study, write its tables and report, print them (text or JSON)."""
    from sim.sensitivity import analyse_sensitivity

    try:
        result = analyse_sensitivity(out, metric=metric)
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise UserError(
            f"--metric {metric}: {message}" if isinstance(exc, KeyError) else str(message)
        ) from None
    files = _write_tables(result, out)
    report = None
    if write_report:
        from sim.report import build_report

        report = build_report(out)
    base = result.points[result.points["role"] == "base"]
    base_row = base.iloc[0] if len(base) else None
    if as_json:
        echo_json(
            {
                "study": str(out),
                "runs": {"line": runs.line(), "ok": runs.ok, "counts": runs.counts},
                "metric": result.metric,
                "policies": list(result.policies),
                "contrast": list(result.contrast) if result.contrast else None,
                "output": result.output,
                "base": None
                if base_row is None
                else {"y": float(base_row["y"]), "ranking": base_row["ranking"]},
                "oat": _records(result.oat.table) if result.oat is not None else None,
                "tornado": _records(result.tornado_table()),
                "morris": _records(result.morris.table) if result.morris is not None else None,
                "ranking_changers": result.ranking_changers(),
                "files": files,
                "report": str(report) if report is not None else None,
            }
        )
        return
    click.echo("")
    click.echo(
        f"output: {result.output} (larger = {result.contrast[0]} does more harm)"
        if result.contrast
        else f"output: {result.output}"
    )
    if base_row is not None:
        click.echo(
            f"base: {_fmt(float(base_row['y']), 12)}; ranking (least harm first): "
            f"{base_row['ranking']}"
        )
    if result.oat is not None:
        click.echo("")
        click.echo("One at a time (Δ = change of the output from the base):")
        click.echo(format_tornado_table(result.oat))
    if result.morris is not None:
        click.echo("")
        click.echo(
            f"Morris ({len(result.points[result.points['role'] == 'morris'])} points; "
            "effects over each parameter's whole range):"
        )
        click.echo(format_morris_table(result.morris))
    changers = result.ranking_changers()
    click.echo("")
    click.echo("parameters that change the ranking: " + (", ".join(changers) or "none"))
    for key, path in files.items():
        click.echo(f"{key}: {path}")
    if report is not None:
        click.echo(f"report: {report}")
