"""``govsim sweep | compare | report | replay | resume``: scripted policy studies.

- ``govsim compare SCENARIO --policies a,b|all --seeds N``: the flagship study. Runs the
  scenario (its base point; the ``[sweep]`` table is ignored) under each policy with ``N``
  seeds, writes the study directory and ``report.html``, prints each KPI per policy with a 95 %
  confidence interval and a verdict line on harm versus reaction speed.
- ``govsim sweep SCENARIO``: the scenario's whole ``[sweep]`` design x policies x seeds; prints
  the response KPI per design point (the design's parameters as columns) and the verdict over
  the design and at each point, and writes ``report.html`` with the response plots.
- ``govsim report DIR [--kpi NAME]``: (re)write the HTML report of a study and print its
  summary.

Every summary ends with the frontier (:mod:`sim.frontier`): harm against measured days to act
per policy, the Pareto-efficient designs and those that cannot act (by each policy's
conformance check, run once and cached in the study's ``conformance.json``; ``--no-conformance``
judges it from the runs), written to ``frontier.csv``. ``--market-uncertainty prior|off``
overrides the scenario's ``market_uncertainty`` key (the outer Monte Carlo over the market
constants).

SCENARIO is a TOML file or a library scenario's name (``govsim scenarios list``). ``--json`` on
``compare``, ``sweep`` and ``report`` prints the summary as one JSON document on stdout;
``--csv PATH`` writes it in long form (one row per policy [and design point] and KPI, with the
KPI's readable name, unit and group: ``sim.report.summary_table``).
- ``govsim replay RUN_ID --study DIR``: re-run one stored run and check it is bit-identical.
- ``govsim resume DIR``: re-run the runs that are pending, failed or aborted.

A study directory is never replaced silently: ``compare``/``sweep`` into a non-empty ``--out``
refuse, unless ``--resume`` (continue the same design: same configs, policies, seeds, entropy
and run settings) or ``--force`` (move the old directory aside to a timestamped sibling, then
start afresh).

Executors: ``--executor process`` (default), ``sequential``, ``dask-local``,
``dask://HOST:PORT`` or ``ray`` (see docs/studies.md).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from sim.cli._params import EXECUTOR, POLICY_LIST, SCENARIO, csv_option, echo_json, json_option
from sim.cli._root import UserError, main

__all__ = ["compare", "replay_cmd", "report_cmd", "resume_cmd", "sweep"]


def _executor_options(func: Any) -> Any:
    func = click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="Worker processes (default: all cores).",
    )(func)
    return click.option(
        "--executor",
        "executor_kind",
        type=EXECUTOR,
        default="process",
        show_default=True,
        help="Where runs execute: a process pool here (process), one after "
        "another (sequential), a local Dask cluster (dask-local), Ray "
        "(ray), or a running Dask scheduler (dask://HOST:PORT); see "
        "docs/studies.md.",
    )(func)


_CONFORMANCE_OPTION = click.option(
    "--no-conformance",
    "no_conformance",
    is_flag=True,
    help="Judge which designs can act from the runs instead of running each policy's "
    "conformance check once (cached in the study's conformance.json).",
)


def _study_options(func: Any) -> Any:
    options = [
        click.option(
            "--out",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Study directory (default: out/<scenario name>[-sweep]).",
        ),
        click.option(
            "--seeds",
            type=click.IntRange(min=1),
            default=None,
            help="Replications per scenario (default: the file's `seeds`).",
        ),
        click.option(
            "--policies",
            type=POLICY_LIST,
            default=None,
            help="Comma-separated policy names or 'all' (default: the file's; "
            "`govsim policies list`).",
        ),
        click.option(
            "--entropy",
            type=int,
            default=None,
            help="Root entropy of the study (default: fresh; recorded).",
        ),
        click.option(
            "--set",
            "sets",
            multiple=True,
            metavar="PATH=VALUE",
            help="Override a field, e.g. --set horizon_days=10 "
            "--set 'governance.detection_delay_blocks=\"2 hours\"' (TOML values).",
        ),
        click.option(
            "--mode",
            type=click.Choice(["trajectory", "kpi"]),
            default="trajectory",
            show_default=True,
            help="Store time series too, or only KPIs.",
        ),
        click.option(
            "--resume",
            "resume_study",
            is_flag=True,
            help="If --out holds this same study (same design, policies, seeds and "
            "entropy), run only its runs that are not done yet.",
        ),
        click.option(
            "--force",
            is_flag=True,
            help="If --out holds a study (or anything), move it aside to "
            "<out>.replaced-<timestamp> and start afresh.",
        ),
        click.option(
            "--overwrite", "force_alias", is_flag=True, hidden=True, help="Old name of --force."
        ),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        click.option(
            "--check",
            is_flag=True,
            help="Only validate the scenario, its design and --out, print the plan and "
            "stop (nothing is run or written).",
        ),
        click.option(
            "--model",
            default="sim:run",
            show_default=True,
            help="Model entry point 'module:function' (advanced: a custom model).",
        ),
        click.option(
            "--market-uncertainty",
            "market_uncertainty",
            type=click.Choice(["prior", "off"]),
            default=None,
            help="Draw the market constants fitted to the documented events per "
            "replication (prior: the outer Monte Carlo, docs/studies.md) or keep "
            "the file's (off); default: the scenario's market_uncertainty key.",
        ),
        _CONFORMANCE_OPTION,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load(path: Path, sets: tuple[str, ...]) -> Any:
    """The scenario with its ``--set`` overrides, validated once (its sweep not yet built)."""
    from sim.schema import ScenarioError, load_scenario, parse_overrides

    try:
        overrides = parse_overrides(sets, where=f"{path} (--set)")
        return load_scenario(path, overrides=overrides, check_sweep=False)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None


def _policies(scenario: Any, option: str | None) -> list[str]:
    from sim.schema import ScenarioError, resolve_policies

    try:
        if option is None:
            return scenario.policy_names()
        names = [p.strip() for p in option.split(",") if p.strip()]
        if not names:
            raise UserError("--policies: expected 'all' or comma-separated policy names")
        return resolve_policies(names, "--policies")
    except ScenarioError as exc:
        raise UserError(str(exc)) from None


def _check_executor(kind: str) -> None:
    from sim.executors import ExecutorError, check_executor_kind

    try:
        check_executor_kind(kind)
    except ExecutorError as exc:
        raise UserError(str(exc)) from None


def _make_executor(kind: str, workers: int | None) -> Any:
    from sim.executors import ExecutorError, make_executor

    try:
        return make_executor(kind, workers=workers)
    except ExecutorError as exc:
        raise UserError(str(exc)) from None


def _default_out(name: str, suffix: str = "") -> Path:
    """``out/<name><suffix>``, the name made safe as one directory name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:100] or "study"
    return Path("out") / f"{safe}{suffix}"


def _check_out(out: Path) -> None:
    text = str(out)
    if "\0" in text or len(text) > 4096:
        raise UserError(f"--out {text[:80]!r}: expected a usable directory name")
    try:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out}: exists and is not a directory")
    except OSError as exc:
        raise UserError(f"--out {text[:80]}: cannot use it ({exc.strerror})") from None


def _is_empty_dir(out: Path) -> bool:
    try:
        return not out.exists() or not any(out.iterdir())
    except OSError as exc:
        raise UserError(f"--out {out}: cannot read it ({exc.strerror})") from None


def _design_key(scenarios: Any, sweep: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two studies the same design: every scenario's config and policy, the
    replications, the run settings and the root entropy."""
    rows = tuple(
        sorted(
            zip(
                scenarios["point"].astype(int),
                scenarios["policy"].astype(str),
                scenarios["config"].astype(str),
                strict=True,
            )
        )
    )
    run_config = dict(sweep.get("run_config") or {})
    return (
        rows,
        int(sweep.get("replications", 0)),
        tuple(sorted(run_config.items())),
        str(sweep.get("entropy")),
    )


def _move_aside(out: Path) -> Path:
    """Rename ``out`` to a timestamped sibling (never overwriting one) and return its path."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = out.with_name(f"{out.name}.replaced-{stamp}")
    n = 1
    while target.exists():
        target = out.with_name(f"{out.name}.replaced-{stamp}-{n}")
        n += 1
    try:
        out.rename(target)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot move it aside to {target} ({exc.strerror})") from None
    return target


def _prepare_out(
    out: Path, plan: Any, resume_study: bool, force: bool, entropy_given: bool, err: bool = False
) -> str:
    """What to do with ``out``: ``"new"`` (empty, or moved aside) or ``"resume"``.

    Refuses (exit 2) a non-empty ``out`` without ``--resume``/``--force``, and ``--resume`` of
    a directory that holds no study or a study of a different design.
    """
    from sim.store import StoreError, StudyStore

    _check_out(out)
    if _is_empty_dir(out):
        return "new"
    if force:
        moved = _move_aside(out)
        click.echo(f"{out}: moved the old contents aside to {moved}", err=err)
        return "new"
    store = StudyStore(out)
    if not store.exists():
        raise UserError(
            f"--out {out}: the directory is not empty and holds no study; choose "
            "another --out, or pass --force to move it aside"
        )
    try:
        manifest = store.manifest()
        stored = (store.scenarios(), store.sweep())
    except (StoreError, OSError, ValueError) as exc:
        raise UserError(
            f"--out {out}: cannot read the study there ({exc}); choose another "
            "--out, or pass --force to move it aside"
        ) from None
    if not resume_study:
        done = int((manifest["status"] == "SUCCEEDED").sum())
        raise UserError(
            f"--out {out} already holds a study ({done} of {len(manifest)} runs "
            "done); pass --resume to continue it (same design), --force to move it "
            "aside and start afresh, or choose another --out"
        )
    sweep = dict(plan.sweep)
    if not entropy_given:
        sweep["entropy"] = stored[1].get("entropy")
    if _design_key(plan.scenarios, sweep) != _design_key(*stored):
        raise UserError(
            f"--out {out} holds a study of a different design (scenario, "
            "policies, seeds, entropy, --mode or --model differ); --resume only "
            "continues the same design. Choose another --out, or pass --force to "
            "move it aside"
        )
    return "resume"


def _run_study(
    scenario: Any,
    policies: list[str],
    seeds: int,
    out: Path,
    *,
    sweep: bool,
    executor_kind: str,
    workers: int | None,
    entropy: int | None,
    mode: str,
    resume_study: bool,
    force: bool,
    quiet: bool,
    label: str,
    model: str,
    check: bool = False,
    err: bool = False,
    market_uncertainty: str | None = None,
) -> Any:
    """Plan the study, prepare ``out`` and run it; ``err`` sends the progress lines to stderr
    (``--json``). ``market_uncertainty`` (``--market-uncertainty``) overrides the scenario's
    key. Returns the :class:`sim.runner.SweepSummary` (None with ``check``)."""
    from sim.runner import RunConfig, plan_study
    from sim.schema import ScenarioError, check_study_size

    _check_executor(executor_kind)
    if resume_study and force:
        raise UserError("--resume and --force: pass one of them")
    size = scenario.sweep.size if (sweep and scenario.sweep is not None) else 1
    try:
        check_study_size(size, len(policies), seeds, scenario.source or "study")
        pairs = scenario.point_configs() if sweep else [({}, scenario.config)]
    except (ScenarioError, ValueError) as exc:
        raise UserError(str(exc)) from None
    points = [point for point, _ in pairs]
    meta = {
        "scenario": scenario.name,
        "description": scenario.description,
        "scenario_file": scenario.source,
        "scenario_hash": scenario.hash,
        "command": label,
    }
    uncertainty = market_uncertainty or getattr(scenario, "market_uncertainty", "off")
    run_config = RunConfig(model=model, mode=mode, market_uncertainty=uncertainty)
    plan = plan_study(
        [config for _, config in pairs],
        points,
        policies,
        seeds,
        entropy=entropy,
        run_config=run_config,
        meta=meta,
    )
    n_runs = len(plan.manifest)
    line = (
        f"{scenario.name}: {len(points)} point(s) x {len(policies)} policies x {seeds} "
        f"seeds = {n_runs} runs on {executor_kind} ({workers or 'all'} workers; market "
        f"constants {'drawn per replication' if uncertainty == 'prior' else 'fixed'}) "
        f"-> {out}"
    )
    return _execute_plan(
        plan,
        out,
        line,
        executor_kind=executor_kind,
        workers=workers,
        resume_study=resume_study,
        force=force,
        entropy_given=entropy is not None,
        quiet=quiet,
        err=err,
        check=check,
    )


def _execute_plan(
    plan: Any,
    out: Path,
    line: str,
    *,
    executor_kind: str,
    workers: int | None,
    resume_study: bool,
    force: bool,
    entropy_given: bool,
    quiet: bool,
    err: bool,
    check: bool = False,
) -> Any:
    """Prepare ``out`` for ``plan`` (new, ``--resume`` or ``--force``), say ``line``, run or
    continue the study on the chosen executor and say how it ended; the
    :class:`sim.runner.SweepSummary`. Shared by every command that runs a study.

    With ``check`` (``--check``), only check that ``out`` may be written, say ``ok: line``
    and return ``None``: nothing runs."""
    from sim.runner import resume, run_sweep

    if check:
        _check_out(out)
        click.echo(f"ok: {line}")
        return None

    action = _prepare_out(out, plan, resume_study, force, entropy_given, err=err)
    click.echo(line, err=err)
    with _make_executor(executor_kind, workers) as executor:
        if action == "resume":
            click.echo(f"{out}: continuing the same study (--resume)", err=err)
            summary = resume(out, executor, progress=not quiet)
        else:
            summary = run_sweep(plan, out, executor, progress=not quiet)
    click.echo(summary.line(), err=err)
    return summary


def _print_failures(root: Path) -> None:
    from sim.store import StudyStore

    manifest = StudyStore(root).manifest()
    bad = manifest[manifest["status"] != "SUCCEEDED"]
    for _, row in bad.head(10).iterrows():
        click.echo(
            f"  {row['run_id']} ({row['policy']}): {row['status']}: {row['error']}", err=True
        )
    if len(bad):
        click.echo(
            f"{len(bad)} run(s) did not succeed; `govsim resume {root}` re-runs them "
            "(tracebacks are in manifest.parquet)",
            err=True,
        )


def _summarize(root: Path, kpi: str | None, conformance: bool = True) -> Any:
    from sim.report import ReportError, summarize_study
    from sim.store import StoreError

    try:
        return summarize_study(root, kpi=kpi, conformance=conformance)
    except (StoreError, ReportError) as exc:
        raise UserError(str(exc)) from None


def _write_csv(summary: Any, csv_path: Path | None, err: bool) -> Path | None:
    """Write the summary's long form to ``csv_path`` (``--csv``) and say so."""
    if csv_path is None:
        return None
    from sim.report import write_summary_csv

    try:
        written = write_summary_csv(summary, csv_path)
    except OSError as exc:
        raise UserError(f"--csv {csv_path}: cannot write it ({exc.strerror})") from None
    click.echo(f"csv: {written}", err=err)
    return written


def _finish(
    root: Path,
    *,
    kpi: str | None,
    write_report: bool,
    as_json: bool,
    runs: Any = None,
    csv_path: Path | None = None,
    conformance: bool = True,
    sensitivity: Path | None = None,
    report_file: Path | None = None,
) -> None:
    """Print the study's summary (text or JSON), write its report (to ``report_file``, default
    ``root/report.html``) and, with ``--csv``, the summary in long form. ``runs``: how the
    runs just executed ended (compare and sweep). ``sensitivity``: a sensitivity study whose
    tornado the report shows and whose ranking changers the summary names."""
    from sim.report import build_report, format_study

    summary = _summarize(root, kpi, conformance)
    path = (
        build_report(root, report_file, summary=summary, sensitivity=sensitivity)
        if write_report
        else None
    )
    changers = _sensitivity_changers(sensitivity) if sensitivity is not None else None
    if as_json:
        data = summary.to_dict()
        data["report"] = str(path) if path is not None else None
        if changers is not None:
            data["sensitivity"] = {"study": str(sensitivity), "ranking_changers": changers}
        written = _write_csv(summary, csv_path, err=True)
        data["csv"] = str(written) if written is not None else None
        if runs is not None:
            data["runs"] = {"line": runs.line(), "ok": runs.ok}
        echo_json(data)
        return
    if runs is not None:
        click.echo("")  # below the progress bar
    click.echo(format_study(summary))
    if changers is not None:
        click.echo(_changers_line(sensitivity, changers))
    if path is not None:
        click.echo(f"report: {path}")
    _write_csv(summary, csv_path, err=False)


def _changers_line(study: Path, changers: list[str]) -> str:
    return (
        f"sensitivity ({study}): parameters that change the ranking: "
        f"{', '.join(changers) or 'none'}"
    )


def _sensitivity_changers(study: Path) -> list[str]:
    """The parameters whose range changes the ranking in a sensitivity study."""
    from sim.sensitivity import analyse_sensitivity

    return list(analyse_sensitivity(study).ranking_changers())


def _complete_kpi(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The KPIs of the study named on the command line (``govsim report STUDY --kpi ...``)."""
    # While the option's value is being typed the parse is partial: STUDY may still sit in
    # the unparsed arguments.
    study = ctx.params.get("study") or next(iter(ctx.args), None)
    if study is None:
        return []
    try:
        from sim.report import available_kpis
        from sim.store import StudyStore

        names = available_kpis(StudyStore(study).table("kpis"))
    except Exception:  # completion never fails loudly: no study, no names
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


_KPI_OPTION = click.option(
    "--kpi",
    default=None,
    metavar="NAME",
    shell_complete=_complete_kpi,
    help="The KPI shown per design point and in the response plots of a sweep (default: the "
    "scenario's, e.g. cabal.gain for validator_cabal, else the verdict's harm KPI).",
)


def _check_sensitivity_study(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path | None:
    """Refuse, before any run starts, a --sensitivity that is not a sensitivity study."""
    if value is None:
        return None
    from sim.store import StudyStore

    store = StudyStore(value)
    if not store.exists() or "sensitivity" not in store.sweep():
        raise click.BadParameter(
            f"{value} is not a study written by `govsim sensitivity` (run one first, e.g. "
            "`govsim sensitivity SCENARIO --out DIR`)",
            ctx=ctx,
            param=param,
        )
    return value


_SENSITIVITY_OPTION = click.option(
    "--sensitivity",
    "sensitivity_study",
    default=None,
    callback=_check_sensitivity_study,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="A `govsim sensitivity` study of the same scenario: the report shows its tornado "
    "chart and tables, and the summary names the parameters that change the ranking.",
)


@main.command("compare")
@click.argument("scenario_path", metavar="SCENARIO", type=SCENARIO)
@_study_options
@_executor_options
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@_SENSITIVITY_OPTION
@click.option(
    "--allow-failures",
    is_flag=True,
    help="Exit 0 even if some runs failed (they are listed and stay resumable).",
)
@json_option
@csv_option
def compare(
    scenario_path: Path,
    out: Path | None,
    seeds: int | None,
    policies: str | None,
    entropy: int | None,
    sets: tuple[str, ...],
    mode: str,
    resume_study: bool,
    force: bool,
    force_alias: bool,
    quiet: bool,
    check: bool,
    model: str,
    market_uncertainty: str | None,
    no_conformance: bool,
    executor_kind: str,
    workers: int | None,
    no_report: bool,
    sensitivity_study: Path | None,
    allow_failures: bool,
    as_json: bool,
    csv_path: Path | None,
) -> None:
    """Compare governance policies on SCENARIO: KPIs with 95 % CIs and a verdict.

    SCENARIO is a TOML file or a library scenario's name. Only its base point runs (see
    `govsim sweep` for its [sweep] design). A non-empty --out is refused unless --resume (the
    same study) or --force (move it aside).
    """
    scenario = _load(scenario_path, sets)
    names = _policies(scenario, policies)
    out = out or _default_out(scenario.name)
    summary = _run_study(
        scenario,
        names,
        seeds or scenario.seeds,
        out,
        sweep=False,
        executor_kind=executor_kind,
        workers=workers,
        entropy=entropy,
        mode=mode,
        resume_study=resume_study,
        force=force or force_alias,
        quiet=quiet,
        label="compare",
        model=model,
        check=check,
        err=as_json,
        market_uncertainty=market_uncertainty,
    )
    if summary is None:
        return
    _finish(
        out,
        kpi=None,
        write_report=not no_report,
        as_json=as_json,
        runs=summary,
        csv_path=csv_path,
        conformance=not no_conformance,
        sensitivity=sensitivity_study,
    )
    if not summary.ok:
        _print_failures(out)
        if not allow_failures:
            raise SystemExit(1)


@main.command("sweep")
@click.argument("scenario_path", metavar="SCENARIO", type=SCENARIO)
@_study_options
@_executor_options
@_KPI_OPTION
@click.option("--no-report", is_flag=True, help="Skip the summary and the HTML report.")
@json_option
@csv_option
def sweep(
    scenario_path: Path,
    out: Path | None,
    seeds: int | None,
    policies: str | None,
    entropy: int | None,
    sets: tuple[str, ...],
    mode: str,
    resume_study: bool,
    force: bool,
    force_alias: bool,
    quiet: bool,
    check: bool,
    model: str,
    market_uncertainty: str | None,
    no_conformance: bool,
    executor_kind: str,
    workers: int | None,
    kpi: str | None,
    no_report: bool,
    as_json: bool,
    csv_path: Path | None,
) -> None:
    """Run SCENARIO's [sweep] design x policies x seeds into a study directory.

    Then prints the response KPI per design point (the design's parameters as columns) with
    the verdict over the design and at each point, and writes report.html with the response
    plots. A non-empty --out is refused unless --resume (the same study) or --force (move it
    aside).
    """
    scenario = _load(scenario_path, sets)
    names = _policies(scenario, policies)
    out = out or _default_out(scenario.name, "-sweep")
    summary = _run_study(
        scenario,
        names,
        seeds or scenario.seeds,
        out,
        sweep=True,
        executor_kind=executor_kind,
        workers=workers,
        entropy=entropy,
        mode=mode,
        resume_study=resume_study,
        force=force or force_alias,
        quiet=quiet,
        label="sweep",
        model=model,
        check=check,
        err=as_json,
        market_uncertainty=market_uncertainty,
    )
    if summary is None:
        return
    if not no_report or as_json or csv_path is not None:
        _finish(
            out,
            kpi=kpi,
            write_report=not no_report,
            as_json=as_json,
            runs=summary,
            csv_path=csv_path,
            conformance=not no_conformance,
        )
    if not summary.ok:
        _print_failures(out)
        raise SystemExit(1)


@main.command("report")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output HTML file (default: STUDY/report.html).",
)
@_KPI_OPTION
@_CONFORMANCE_OPTION
@_SENSITIVITY_OPTION
@json_option
@csv_option
def report_cmd(
    study: Path,
    out_file: Path | None,
    kpi: str | None,
    no_conformance: bool,
    sensitivity_study: Path | None,
    as_json: bool,
    csv_path: Path | None,
) -> None:
    """Summarise a study directory and write its self-contained HTML report.

    A compare study: each KPI per policy with 95 % intervals, and the verdict. A sweep: the
    response KPI (--kpi) per design point with the design's parameters as columns, response
    plots over one or two of them (lines or heatmaps, per policy), and the verdict over the
    whole design and at each point.
    """
    _finish(
        study,
        kpi=kpi,
        write_report=True,
        as_json=as_json,
        csv_path=csv_path,
        conformance=not no_conformance,
        sensitivity=sensitivity_study,
        report_file=out_file,
    )


@main.command("resume")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@_executor_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
def resume_cmd(study: Path, executor_kind: str, workers: int | None, quiet: bool) -> None:
    """Re-run the pending, failed or aborted runs of a study (seeds from its manifest)."""
    from sim.runner import resume
    from sim.store import StoreError, StudyStore

    _check_executor(executor_kind)
    try:
        manifest = StudyStore(study).manifest()
    except StoreError as exc:
        raise UserError(str(exc)) from None
    todo = int((manifest["status"] != "SUCCEEDED").sum())
    click.echo(f"{study}: {todo} of {len(manifest)} runs to re-run")
    with _make_executor(executor_kind, workers) as executor:
        summary = resume(study, executor, progress=not quiet)
    click.echo(summary.line())
    if not summary.ok:
        _print_failures(study)
        raise SystemExit(1)


@main.command("replay")
@click.argument("run_id")
@click.option(
    "--study",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The study directory holding the run.",
)
def replay_cmd(run_id: str, study: Path) -> None:
    """Re-run one stored run and check that its KPIs match the store bit for bit."""
    import pandas as pd

    from sim.runner import replay, result_tables
    from sim.store import StoreError, StudyStore

    store = StudyStore(study)
    try:
        manifest = store.manifest().set_index("run_id")
    except StoreError as exc:
        raise UserError(f"{exc} (pass --study DIR)") from None
    if run_id not in manifest.index:
        raise UserError(
            f"run {run_id!r} is not in {study}; runs look like "
            f"{manifest.index[0] if len(manifest) else 's0000-r0000'}"
        )
    row = manifest.loc[run_id]
    click.echo(
        f"replaying {run_id}: policy {row['policy']}, seed {row['seed']}, "
        f"spawn key ({row['spawn_key']})"
    )
    result = replay(study, run_id)
    fresh = result_tables(result, "kpi")["kpis"]
    for name, value in fresh.iloc[0].items():
        click.echo(f"  {name} = {value}")
    if row["status"] != "SUCCEEDED":
        click.echo(f"stored run is {row['status']}: nothing to compare against")
        return
    stored = store.query(f"SELECT * FROM kpis WHERE run_id = '{run_id}'")
    stored = stored.drop(
        columns=[
            c
            for c in ("run_id", "attempt", "scenario_id", "policy", "point", "replication")
            if c in stored.columns
        ]
    )
    fresh = fresh.reindex(columns=stored.columns)
    try:
        pd.testing.assert_frame_equal(
            fresh.reset_index(drop=True),
            stored.reset_index(drop=True),
            check_dtype=False,
            check_exact=True,
        )
    except AssertionError as exc:
        click.echo(f"replay differs from the store: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo("identical to the stored run: yes")
