"""A compare study's report with the tornado of a sensitivity study of the same scenario
(``govsim compare/report --sensitivity DIR``), as ``make demo`` writes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.schema import load_scenario
from tests.scenarios.tiny import REPO, tiny_set_args

EXPLOIT = REPO / "scenarios" / "exploit_2024.toml"
POLICIES = "sudo,market_only"


def _tiny() -> list[str]:
    return [
        "--policies",
        POLICIES,
        "--entropy",
        "7",
        "--executor",
        "sequential",
        "--quiet",
        *tiny_set_args(load_scenario(EXPLOIT), 1.5),
    ]


def _json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout[stdout.index("{") :])


@pytest.fixture(scope="module")
def sensitivity_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One-at-a-time over one parameter: 3 points x 2 policies x 1 replication = 6 runs."""
    out = tmp_path_factory.mktemp("linked") / "sens"
    result = CliRunner().invoke(
        main,
        [
            "sensitivity",
            str(EXPLOIT),
            "--params",
            "market.security_beta=1.4:25.4",
            "--method",
            "oat",
            "--out",
            str(out),
            "--no-report",
            "--json",
            *_tiny(),
        ],
    )
    assert result.exit_code == 0, result.output
    return out, _json(result.stdout)


@pytest.mark.slow
def test_compare_report_shows_the_linked_tornado(
    sensitivity_study: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    sens, data = sensitivity_study
    out = tmp_path / "compare"
    result = CliRunner().invoke(
        main,
        [
            "compare",
            str(EXPLOIT),
            "--seeds",
            "1",
            "--out",
            str(out),
            "--sensitivity",
            str(sens),
            *_tiny(),
        ],
    )
    assert result.exit_code == 0, result.output
    changers = (
        ", ".join(r["parameter"] for r in data["oat"] if r["flips_low"] or r["flips_high"])
        or "none"
    )
    assert f"sensitivity ({sens}): parameters that change the ranking: {changers}" in (
        result.stdout
    )
    html = (out / "report.html").read_text()
    section = html[html.index('<section id="sensitivity">') :]
    section = section[: section.index("</section>")]
    assert "Tornado: change of harm.total[sudo] - harm.total[market_only]" in section
    assert f"From the sensitivity study in {sens} (6 runs, policies sudo, market_only" in section
    assert "One at a time" in section
    # the compare study itself is not a sensitivity study: without the option, no section
    again = CliRunner().invoke(main, ["report", str(out), "--out", str(tmp_path / "plain.html")])
    assert again.exit_code == 0, again.output
    assert '<section id="sensitivity">' not in (tmp_path / "plain.html").read_text()
    # `govsim report --sensitivity --json` names the changers too
    linked = CliRunner().invoke(
        main,
        [
            "report",
            str(out),
            "--sensitivity",
            str(sens),
            "--out",
            str(tmp_path / "linked.html"),
            "--json",
        ],
    )
    assert linked.exit_code == 0, linked.output
    assert _json(linked.stdout)["sensitivity"] == {
        "study": str(sens),
        "ranking_changers": [] if changers == "none" else changers.split(", "),
    }
    assert '<section id="sensitivity">' in (tmp_path / "linked.html").read_text()


def test_a_study_that_is_not_a_sensitivity_study_is_refused_before_any_run(tmp_path: Path) -> None:
    not_sensitivity = tmp_path / "empty"
    not_sensitivity.mkdir()
    out = tmp_path / "compare"
    result = CliRunner().invoke(
        main,
        [
            "compare",
            str(EXPLOIT),
            "--seeds",
            "1",
            "--out",
            str(out),
            "--sensitivity",
            str(not_sensitivity),
            *_tiny(),
        ],
    )
    assert result.exit_code == 2
    assert "--sensitivity" in result.output and "not a study written by" in result.output
    assert not out.exists()
