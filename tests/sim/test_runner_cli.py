"""The study commands end to end on a tiny study: compare, report, replay, resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.schema import load_scenario
from sim.store import StudyStore
from tests.scenarios.tiny import REPO, tiny_set_args

COVENANT = REPO / "scenarios" / "covenant_2026.toml"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("cli") / "covenant"
    args = [
        "compare",
        str(COVENANT),
        "--policies",
        "sudo,v2_two_stage,market_only",
        "--seeds",
        "2",
        "--entropy",
        "11",
        "--executor",
        "sequential",
        "--quiet",
        "--out",
        str(out),
        "--csv",
        str(out.parent / "summary.csv"),
        *tiny_set_args(load_scenario(COVENANT), 1.0),
    ]
    result = CliRunner(env={"COLUMNS": "100"}).invoke(main, args)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def report_again(
    study: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, str]:
    """``govsim report STUDY --csv CSV --json --out HTML`` once, for the two tests that read
    its HTML and its CSV and JSON (drawing the report's figures is the costly part)."""
    out, _ = study
    root = tmp_path_factory.mktemp("report-again")
    html, csv = root / "again.html", root / "deep" / "again.csv"
    result = CliRunner().invoke(
        main, ["report", str(out), "--csv", str(csv), "--json", "--out", str(html)]
    )
    assert result.exit_code == 0, result.output
    return html, csv, result.stdout


def test_compare_prints_table_with_intervals_and_verdict(study: tuple[Path, str]) -> None:
    out, output = study
    assert "6 runs: 6 SUCCEEDED" in output
    # KPI tables grouped by the catalogue, readable names with units, within 100 columns;
    # the policies in column blocks when they do not fit side by side.
    tables = output.split("verdict:", 1)[0].split("\n\n")
    harm = [t for t in tables if t.startswith("Harm")]
    headers = [t.splitlines()[1] for t in harm]
    assert all(h.split()[:2] == ["KPI", "unit"] for h in headers)
    assert [p for h in headers for p in h.split()[2:]] == ["sudo", "v2_two_stage", "market_only"]
    rows = [
        line
        for t in harm
        for line in t.splitlines()
        if line.startswith("TAO price: largest fall from a peak")
    ]
    assert len(rows) == len(harm) and all("% ↓" in r for r in rows)
    assert sum(len(re.findall(r"\[[^\]]+\]", r)) for r in rows) == 3  # mean [low, high]
    runs = [line for t in harm for line in t.splitlines() if line.startswith("runs (n)")]
    assert [n for line in runs for n in line.split()[2:]] == ["2", "2", "2"]
    assert max(len(line) for t in tables[1:] for line in t.splitlines()) <= 100
    assert "tao.max_drawdown" not in output.split("verdict:", 1)[0]
    verdict = next(line for line in output.splitlines() if line.startswith("verdict:"))
    # Harm is the harm vector's aggregate (harm.total, USD), the verdict's first harm KPI.
    assert "policies do significantly less harm than sudo (harm: harm.total" in verdict
    assert "least harm:" in verdict and "reaction (" in verdict
    assert (out / "report.html").is_file()


def test_report_is_self_contained_with_plots(report_again: tuple[Path, Path, str]) -> None:
    html, _, _ = report_again
    text = html.read_text()
    assert "verdict:" in text and "<table" in text
    images = re.findall(r"<img [^>]*src='([^']*)'", text)
    assert len(images) >= 3
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "http://" not in text and "https://" not in text
    for caption in (
        "TAO price (USD)",
        "emission_share of subnet",
        "PnL per role",
        "Decentralisation",
    ):
        assert caption in text


def test_compare_csv_is_the_summary_in_long_form(study: tuple[Path, str]) -> None:
    out, output = study
    path = out.parent / "summary.csv"
    assert f"csv: {path}" in output
    frame = pd.read_csv(path)
    assert list(frame.columns) == [
        "policy",
        "kpi",
        "name",
        "unit",
        "group",
        "direction",
        "mean",
        "low",
        "high",
        "n",
    ]
    kpis = StudyStore(out).table("kpis")
    numeric = [
        c
        for c in kpis.columns
        if c not in {"run_id", "attempt", "scenario_id", "point", "replication", "policy", "seed"}
        and pd.api.types.is_numeric_dtype(kpis[c])
    ]
    assert list(dict.fromkeys(frame["policy"])) == ["sudo", "v2_two_stage", "market_only"]
    assert len(frame) == 3 * len(numeric)  # every KPI, the constant ones included
    assert frame["name"].notna().all() and not (frame["name"] == frame["kpi"]).any()
    drawdown = frame[(frame["kpi"] == "tao.max_drawdown") & (frame["policy"] == "sudo")].iloc[0]
    stored = kpis.loc[kpis["policy"] == "sudo", "tao.max_drawdown"]
    assert drawdown["unit"] == "%" and drawdown["group"] == "harm"
    assert drawdown["mean"] == pytest.approx(stored.mean() * 100)
    assert drawdown["n"] == 2 and drawdown["low"] <= drawdown["mean"] <= drawdown["high"]


def test_report_csv_and_json_name_the_file(
    study: tuple[Path, str], report_again: tuple[Path, Path, str]
) -> None:
    out, _ = study
    html, csv, stdout = report_again
    data = json.loads(stdout)
    assert data["csv"] == str(csv) and data["report"] == str(html)
    assert pd.read_csv(csv).equals(pd.read_csv(out.parent / "summary.csv"))


def test_report_html_groups_the_kpis_and_marks_the_timelines(study: tuple[Path, str]) -> None:
    out, _ = study
    text = (out / "report.html").read_text()
    for title in ("Harm", "Reaction speed", "Governance outcomes", "Economy and participants"):
        assert f"<h3>{title}</h3>" in text
    assert "TAO price: largest fall from a peak" in text and "runs (n)" in text
    assert "dashed rules: the scenario&#39;s timed shocks" in text


def test_replay_command_reproduces_a_stored_run(study: tuple[Path, str]) -> None:
    out, _ = study
    result = CliRunner().invoke(main, ["replay", "s0001-r0001", "--study", str(out)])
    assert result.exit_code == 0, result.output
    assert "identical to the stored run: yes" in result.output


def test_resume_of_a_finished_study_reruns_nothing(study: tuple[Path, str]) -> None:
    out, _ = study
    before = StudyStore(out).manifest()
    result = CliRunner().invoke(main, ["resume", str(out), "--executor", "sequential"])
    assert result.exit_code == 0, result.output
    assert "0 of 6 runs to re-run" in result.output
    assert StudyStore(out).manifest().equals(before)


@pytest.mark.parametrize("command", [["report"], ["resume"], ["replay", "s0000-r0000", "--study"]])
def test_commands_on_a_non_study_exit_2(tmp_path: Path, command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, str(tmp_path)])
    assert result.exit_code == 2
    assert "not a study directory" in result.output and "Traceback" not in result.output


def test_unknown_policy_and_executor_exit_2(tmp_path: Path) -> None:
    for extra in (["--policies", "sudo,nope"], ["--executor", "threads"]):
        result = CliRunner().invoke(
            main, ["compare", str(COVENANT), "--seeds", "1", "--out", str(tmp_path / "x"), *extra]
        )
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ")
