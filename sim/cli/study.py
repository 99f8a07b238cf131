"""``govsim sweep | compare | report | replay | resume``: scripted policy studies.

- ``govsim compare SCENARIO --policies a,b|all --seeds N``: the flagship study. Runs the
  scenario (its base point; the ``[sweep]`` table is ignored) under each policy with ``N``
  seeds, writes the study directory and ``report.html``, prints each KPI per policy with a 95 %
  confidence interval and a verdict line on harm versus reaction speed.
- ``govsim sweep SCENARIO``: the scenario's whole ``[sweep]`` design x policies x seeds.
- ``govsim report DIR``: (re)write the HTML report of a study.
- ``govsim replay RUN_ID --study DIR``: re-run one stored run and check it is bit-identical.
- ``govsim resume DIR``: re-run the runs that are pending, failed or aborted.

Executors: ``--executor process`` (default), ``sequential``, ``dask-local``,
``dask://HOST:PORT`` or ``ray`` (see docs/studies.md).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click

from sim.cli._root import UserError, main

__all__ = ["compare", "replay_cmd", "report_cmd", "resume_cmd", "sweep"]


def _executor_options(func: Any) -> Any:
    func = click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="Worker processes (default: all cores).")(func)
    return click.option("--executor", "executor_kind", default="process", show_default=True,
                        help="sequential | process | dask-local | dask://HOST:PORT | ray")(func)


def _study_options(func: Any) -> Any:
    options = [
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Study directory (default: out/<scenario name>[-sweep])."),
        click.option("--seeds", type=click.IntRange(min=1), default=None,
                     help="Replications per scenario (default: the file's `seeds`)."),
        click.option("--policies", default=None,
                     help="Comma-separated policy names or 'all' (default: the file's)."),
        click.option("--entropy", type=int, default=None,
                     help="Root entropy of the study (default: fresh; recorded)."),
        click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                     help="Override a field, e.g. --set horizon_days=10 "
                          "--set 'governance.detection_delay_blocks=\"2 hours\"' (TOML values)."),
        click.option("--mode", type=click.Choice(["trajectory", "kpi"]), default="trajectory",
                     show_default=True, help="Store time series too, or only KPIs."),
        click.option("--overwrite", is_flag=True,
                     help="Replace an unfinished study in --out (a finished one is replaced "
                          "anyway)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        click.option("--model", default="sim:run", show_default=True,
                     help="Model entry point 'module:function' (advanced: a custom model)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _parse_sets(sets: tuple[str, ...]) -> dict[str, Any]:
    """``PATH=VALUE`` pairs; VALUE is a TOML value, or a bare string when it is not one."""
    out: dict[str, Any] = {}
    for item in sets:
        path, sep, text = item.partition("=")
        if not sep or not path.strip():
            raise UserError(f"--set {item!r}: expected PATH=VALUE, e.g. horizon_days=10")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        out[path.strip()] = value
    return out


def _load(path: Path, sets: tuple[str, ...]) -> Any:
    from sim.schema import Scenario, ScenarioError, load_scenario

    try:
        scenario = load_scenario(path)
        overrides = _parse_sets(sets)
        if overrides:
            config = scenario.to_config(overrides=overrides)
            scenario = Scenario(body=config.model_dump(mode="json"), config=config,
                                policies=scenario.policies, seeds=scenario.seeds,
                                sweep=scenario.sweep, source=scenario.source)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    return scenario


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


def _prepare_out(out: Path, overwrite: bool) -> bool:
    """Whether to overwrite ``out``: yes for a finished study, refuse an unfinished one."""
    from sim.store import StudyStore

    store = StudyStore(out)
    if not store.exists():
        return False
    finished = set(store.manifest()["status"]) <= {"SUCCEEDED"}
    if finished or overwrite:
        return True
    raise UserError(f"{out} holds an unfinished study; run `govsim resume {out}` or pass "
                    "--overwrite")


def _run_study(scenario: Any, points: list[dict[str, Any]], policies: list[str], seeds: int,
               out: Path, executor_kind: str, workers: int | None, entropy: int | None,
               mode: str, overwrite: bool, quiet: bool, label: str, model: str) -> Any:
    from sim.runner import RunConfig, plan_study, run_sweep
    from sim.schema import ScenarioError

    _check_executor(executor_kind)
    try:
        configs = [scenario.to_config(overrides=p).model_dump(mode="json") for p in points]
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    meta = {"scenario": scenario.name, "description": scenario.description,
            "scenario_file": scenario.source, "scenario_hash": scenario.hash, "command": label}
    plan = plan_study(configs, points, policies, seeds, entropy=entropy,
                      run_config=RunConfig(model=model, mode=mode), meta=meta)
    n_runs = len(plan.manifest)
    click.echo(f"{scenario.name}: {len(points)} point(s) x {len(policies)} policies x {seeds} "
               f"seeds = {n_runs} runs on {executor_kind} ({workers or 'all'} workers) -> {out}")
    replace = _prepare_out(out, overwrite)
    with _make_executor(executor_kind, workers) as executor:
        summary = run_sweep(plan, out, executor, overwrite=replace, progress=not quiet)
    click.echo(summary.line())
    return summary


def _print_failures(root: Path) -> None:
    from sim.store import StudyStore

    manifest = StudyStore(root).manifest()
    bad = manifest[manifest["status"] != "SUCCEEDED"]
    for _, row in bad.head(10).iterrows():
        click.echo(f"  {row['run_id']} ({row['policy']}): {row['status']}: {row['error']}",
                   err=True)
    if len(bad):
        click.echo(f"{len(bad)} run(s) did not succeed; `govsim resume {root}` re-runs them "
                   "(tracebacks are in manifest.parquet)", err=True)


def _print_compare(root: Path) -> None:
    from sim.report import compare_summary, constant_kpis, format_compare_table, verdict
    from sim.store import StudyStore

    store = StudyStore(root)
    kpis = store.table("kpis")
    if kpis.empty:
        click.echo("no successful runs: nothing to compare")
        return
    order = [p for p in dict.fromkeys(store.manifest()["policy"]) if p in set(kpis["policy"])]
    constant = constant_kpis(kpis)
    summary = compare_summary(kpis.drop(columns=list(constant)), policies=order)
    click.echo("")
    click.echo(format_compare_table(summary))
    if constant:
        click.echo("the same in every run: "
                   + ", ".join(f"{k} = {v:.4g}" for k, v in constant.items()))
    click.echo("")
    click.echo(verdict(kpis).line)


def _write_report(root: Path) -> None:
    from sim.report import build_report

    path = build_report(root)
    click.echo(f"report: {path}")


@main.command("compare")
@click.argument("scenario_path", metavar="SCENARIO",
                type=click.Path(dir_okay=False, path_type=Path))
@_study_options
@_executor_options
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@click.option("--allow-failures", is_flag=True,
              help="Exit 0 even if some runs failed (they are listed and stay resumable).")
def compare(scenario_path: Path, out: Path | None, seeds: int | None, policies: str | None,
            entropy: int | None, sets: tuple[str, ...], mode: str, overwrite: bool, quiet: bool,
            model: str, executor_kind: str, workers: int | None, no_report: bool,
            allow_failures: bool) -> None:
    """Compare governance policies on SCENARIO: KPIs with 95 % CIs and a verdict."""
    scenario = _load(scenario_path, sets)
    names = _policies(scenario, policies)
    out = out or Path("out") / scenario.name
    summary = _run_study(scenario, [{}], names, seeds or scenario.seeds, out, executor_kind,
                         workers, entropy, mode, overwrite, quiet, "compare", model)
    _print_compare(out)
    if not no_report:
        _write_report(out)
    if not summary.ok:
        _print_failures(out)
        if not allow_failures:
            raise SystemExit(1)


@main.command("sweep")
@click.argument("scenario_path", metavar="SCENARIO",
                type=click.Path(dir_okay=False, path_type=Path))
@_study_options
@_executor_options
def sweep(scenario_path: Path, out: Path | None, seeds: int | None, policies: str | None,
          entropy: int | None, sets: tuple[str, ...], mode: str, overwrite: bool, quiet: bool,
          model: str, executor_kind: str, workers: int | None) -> None:
    """Run SCENARIO's [sweep] design x policies x seeds into a study directory."""
    scenario = _load(scenario_path, sets)
    names = _policies(scenario, policies)
    out = out or Path("out") / f"{scenario.name}-sweep"
    summary = _run_study(scenario, scenario.points(), names, seeds or scenario.seeds, out,
                         executor_kind, workers, entropy, mode, overwrite, quiet, "sweep", model)
    if not summary.ok:
        _print_failures(out)
        raise SystemExit(1)


@main.command("report")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output HTML file (default: STUDY/report.html).")
def report_cmd(study: Path, out_file: Path | None) -> None:
    """Write the self-contained HTML report of a study directory."""
    from sim.report import build_report
    from sim.store import StoreError

    try:
        path = build_report(study, out_file)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    _print_compare(study)
    click.echo(f"report: {path}")


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
@click.option("--study", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The study directory holding the run.")
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
        raise UserError(f"run {run_id!r} is not in {study}; runs look like "
                        f"{manifest.index[0] if len(manifest) else 's0000-r0000'}")
    row = manifest.loc[run_id]
    click.echo(f"replaying {run_id}: policy {row['policy']}, seed {row['seed']}, "
               f"spawn key ({row['spawn_key']})")
    result = replay(study, run_id)
    fresh = result_tables(result, "kpi")["kpis"]
    for name, value in fresh.iloc[0].items():
        click.echo(f"  {name} = {value}")
    if row["status"] != "SUCCEEDED":
        click.echo(f"stored run is {row['status']}: nothing to compare against")
        return
    stored = store.query(f"SELECT * FROM kpis WHERE run_id = '{run_id}'")
    stored = stored.drop(columns=[c for c in ("run_id", "attempt", "scenario_id", "policy",
                                              "point", "replication") if c in stored.columns])
    fresh = fresh.reindex(columns=stored.columns)
    try:
        pd.testing.assert_frame_equal(fresh.reset_index(drop=True), stored.reset_index(drop=True),
                                      check_dtype=False, check_exact=True)
    except AssertionError as exc:
        click.echo(f"replay differs from the store: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo("identical to the stored run: yes")
