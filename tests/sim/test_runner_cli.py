"""The study commands end to end on a tiny study: compare, report, replay, resume."""

from __future__ import annotations

import re
from pathlib import Path

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
    args = ["compare", str(COVENANT), "--policies", "sudo,v2_two_stage,market_only",
            "--seeds", "2", "--entropy", "11", "--executor", "sequential", "--quiet",
            "--out", str(out), *tiny_set_args(load_scenario(COVENANT), 1.0)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_compare_prints_table_with_intervals_and_verdict(study: tuple[Path, str]) -> None:
    out, output = study
    assert "6 runs: 6 SUCCEEDED" in output
    header = next(line for line in output.splitlines() if line.startswith("KPI"))
    assert header.split()[1:] == ["sudo", "v2_two_stage", "market_only"]
    row = next(line for line in output.splitlines() if line.startswith("tao.max_drawdown"))
    assert len(re.findall(r"±", row)) == 3
    verdict = next(line for line in output.splitlines() if line.startswith("verdict:"))
    # Harm is the harm vector's aggregate (harm.total, USD), the verdict's first harm KPI.
    assert "policies do significantly less harm than sudo (harm: harm.total" in verdict
    assert "least harm:" in verdict and "reaction (" in verdict
    assert (out / "report.html").is_file()


def test_report_is_self_contained_with_plots(study: tuple[Path, str]) -> None:
    out, _ = study
    result = CliRunner().invoke(main, ["report", str(out), "--out", str(out / "again.html")])
    assert result.exit_code == 0, result.output
    text = (out / "again.html").read_text()
    assert "verdict:" in text and "<table" in text
    images = re.findall(r"<img [^>]*src='([^']*)'", text)
    assert len(images) >= 3
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "http://" not in text and "https://" not in text
    for caption in ("TAO price (USD)", "emission_share of subnet", "PnL per role",
                    "Decentralisation"):
        assert caption in text


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
        result = CliRunner().invoke(main, ["compare", str(COVENANT), "--seeds", "1",
                                           "--out", str(tmp_path / "x"), *extra])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ")
