"""``govsim sensitivity`` end to end on a tiny scenario: the tables, ``--json``, the CSVs, the
report's sensitivity section, resume after an interrupt, ranges from the scenario's
``[sensitivity]`` table, and the input errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import sim.api
from sim.cli import main
from sim.cli._root import UserError
from sim.cli.sensitivity import parse_param_ranges
from sim.schema import ScenarioError, load_scenario
from sim.store import StudyStore
from tests.scenarios.tiny import REPO, tiny_set_args

EXPLOIT = REPO / "scenarios" / "exploit_2024.toml"
POLICIES = "sudo,market_only"
PARAMS = [
    "--params",
    "market.security_beta=1.4:25.4",
    "--params",
    "governance.detection_delay_blocks=1 hour:1 day",
]


def _args(out: Path, *extra: str) -> list[str]:
    """A tiny sensitivity study of exploit_2024 (by its library name): 2 policies, 2 params,
    OAT + Morris with 2 trajectories, 1 replication: 11 points x 2 policies = 22 runs."""
    return [
        "sensitivity",
        "exploit_2024",
        "--policies",
        POLICIES,
        *PARAMS,
        "--method",
        "both",
        "--trajectories",
        "2",
        "--entropy",
        "5",
        "--executor",
        "sequential",
        "--quiet",
        "--out",
        str(out),
        *tiny_set_args(load_scenario(EXPLOIT), 1.5),
        *extra,
    ]


def _json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout[stdout.index("{") :])


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("sens") / "exploit"
    result = CliRunner().invoke(main, _args(out, "--json"))
    assert result.exit_code == 0, result.output
    return out, _json(result.stdout)


@pytest.mark.slow
def test_json_output_and_files(study: tuple[Path, dict[str, Any]]) -> None:
    out, data = study
    assert data["runs"]["counts"] == {"SUCCEEDED": 22}
    assert data["contrast"] == ["sudo", "market_only"]
    assert data["output"] == "harm.total[sudo] - harm.total[market_only]"
    assert {row["parameter"] for row in data["oat"]} == {
        "market.security_beta",
        "governance.detection_delay_blocks",
    }
    for row in data["oat"]:
        assert row["effect_low"] == pytest.approx(row["y_low"] - row["y_base"])
        assert row["flips_low"] == (row["ranking_low"] != row["ranking_base"])
    assert [r["parameter"] for r in data["tornado"]] == [
        r["parameter"] for r in sorted(data["oat"], key=lambda r: -r["swing"])
    ]
    assert sum(row["n_effects"] for row in data["morris"]) == 4  # 2 trajectories x 2 steps
    assert data["base"]["ranking"] in ("sudo < market_only", "market_only < sudo")
    oat = pd.read_csv(out / "sensitivity.csv")
    assert oat["effect_high"].tolist() == pytest.approx([r["effect_high"] for r in data["oat"]])
    assert set(pd.read_csv(out / "morris.csv")["parameter"]) == {
        "market.security_beta",
        "governance.detection_delay_blocks",
    }
    assert len(pd.read_csv(out / "points.csv")) == 11
    assert data["report"] == str(out / "report.html")


@pytest.mark.slow
def test_text_tables_fit_100_columns_and_resume_of_a_finished_study(
    study: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = study
    result = CliRunner().invoke(main, _args(out, "--resume", "--no-report"))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "continuing the same study" in text
    assert set(StudyStore(out).manifest()["attempt"]) == {0}  # nothing re-run
    assert "One at a time" in text and "Morris" in text
    header = next(
        line
        for line in text.splitlines()
        if line.startswith("parameter") and "ranking flips" in line
    )
    assert "Δ at low" in header and "Δ at high" in header
    table_lines = [
        line
        for line in text.splitlines()
        if line.startswith(("parameter", "market.", "governance.", "---"))
    ]
    assert len(table_lines) >= 8
    assert max(len(line) for line in table_lines) <= 100
    row = next(
        line
        for line in text.splitlines()
        if line.startswith("market.security_beta") and "1.4" in line
    )
    assert row.split()[-1] in ("no", "low", "high", "low+high")
    assert "parameters that change the ranking:" in text


@pytest.mark.slow
def test_report_renders_the_tornado_and_morris_tables(study: tuple[Path, dict[str, Any]]) -> None:
    out, _ = study
    result = CliRunner().invoke(main, ["report", str(out), "--out", str(out / "again.html")])
    assert result.exit_code == 0, result.output
    html = (out / "again.html").read_text()
    section = html[html.index('<section id="sensitivity">') : html.index("</section>")]
    assert "Tornado: change of harm.total[sudo] - harm.total[market_only]" in section
    assert re.search(r"<img [^>]*src='data:image/png;base64,", section)
    assert "One at a time" in section and "Morris elementary effects" in section
    assert section.count('<td class="label">market.security_beta</td>') == 2


@pytest.mark.slow
def test_resume_after_an_interrupt_gives_the_uninterrupted_result(
    study: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the 10th run, then --resume: the same tables as the uninterrupted study."""
    _, full = study
    out = tmp_path / "interrupted"
    # every run ends in sim.api._run_model, alone or as one policy of a shared prefix
    real_run = sim.api._run_model
    calls = {"n": 0}

    def interrupted_run(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real_run(*args, **kwargs)

    monkeypatch.setattr(sim.api, "_run_model", interrupted_run)
    result = CliRunner().invoke(main, _args(out, "--json"))
    assert result.exit_code == 1 and "Aborted!" in result.output  # click's Ctrl-C
    manifest = StudyStore(out).manifest()
    # what finished is kept: both parameters are read only after the fork (sim.fork
    # LATE_FIELDS), so the 22 runs of the seed are one prefix group, cut into tasks of 6, 6,
    # 5 and 5 runs for the one worker; the 10th run is in the 2nd task: the 1st task's 6 runs
    assert (manifest["status"] == "SUCCEEDED").sum() == 6
    monkeypatch.setattr(sim.api, "_run_model", real_run)
    again = CliRunner().invoke(main, _args(out, "--json"))  # without --resume: refused
    assert again.exit_code == 2 and "--resume" in again.output
    # --no-report: the tables and the store are compared; the report is another test's.
    resumed = CliRunner().invoke(main, _args(out, "--resume", "--json", "--no-report"))
    assert resumed.exit_code == 0, resumed.output
    data = _json(resumed.stdout)
    assert data["runs"]["counts"] == {"SUCCEEDED": 22}
    for key in ("oat", "morris", "tornado", "base", "ranking_changers"):
        assert data[key] == full[key], key
    # The stored KPIs equal the uninterrupted study's, run by run.
    a = StudyStore(out).table("kpis").drop(columns=["attempt"])
    b = StudyStore(study[0]).table("kpis").drop(columns=["attempt"])
    pd.testing.assert_frame_equal(a, b)


def test_parse_param_ranges() -> None:
    assert parse_param_ranges(("a.b=-1:2", "c=1 hour:2 days")) == {
        "a.b": [-1, 2],
        "c": ["1 hour", "2 days"],
    }
    for bad in (
        "a.b",
        "a.b=1",
        "=1:2",
        "a=1:",
    ):
        with pytest.raises(UserError, match="PATH=LOW:HIGH"):
            parse_param_ranges((bad,))
    with pytest.raises(UserError, match="given twice"):
        parse_param_ranges(("a=1:2", "a=2:3"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--params", "market.no_such=1:2"], r"sensitivity\.market\.no_such.*no_such"),
        (["--params", "market.contagion_beta=3:2"], r"market\.contagion_beta.*low < high"),
        (["--params", "market.contagion_beta=2.3"], r"PATH=LOW:HIGH"),
        (["--params", "market.contagion_beta=-2:1"], r"market\.contagion_beta"),
    ],
)
def test_bad_parameters_exit_2_naming_the_path(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    args = [
        "sensitivity",
        "exploit_2024",
        "--policies",
        POLICIES,
        *extra,
        "--check",
        "--out",
        str(tmp_path / "s"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "s").exists()


def test_policies_and_ranges_are_required(tmp_path: Path) -> None:
    one = CliRunner().invoke(
        main, ["sensitivity", "exploit_2024", "--policies", "sudo", *PARAMS, "--check"]
    )
    assert one.exit_code == 2 and "at least two policies" in one.output
    none = CliRunner().invoke(
        main, ["sensitivity", "exploit_2024", "--policies", POLICIES, "--check"]
    )
    assert none.exit_code == 2 and "[sensitivity]" in none.output and "--params" in none.output


def test_ranges_from_the_scenarios_sensitivity_table(tmp_path: Path) -> None:
    path = tmp_path / "with_ranges.toml"
    path.write_text(
        f'extends = "{EXPLOIT.as_posix()}"\n[sensitivity]\nmethod = "oat"\n'
        'params = {"market.contagion_beta" = [2.3, 3.6], '
        '"governance.detection_delay_blocks" = ["1 hour", "2 days"]}\n'
    )
    result = CliRunner().invoke(
        main,
        ["sensitivity", str(path), "--policies", POLICIES, "--check", "--out", str(tmp_path / "s")],
    )
    assert result.exit_code == 0, result.output
    assert "2 parameter(s) from" in result.output and "[sensitivity]" in result.output
    assert "oat design of 5 points x 2 policies x 1 replication(s) = 10 runs" in result.output
    spec = load_scenario(path).sensitivity
    assert spec is not None and spec.ranges()["governance.detection_delay_blocks"] == [
        "1 hour",
        "2 days",
    ]
    # --params replaces the table's ranges; --method its method.
    result = CliRunner().invoke(
        main,
        [
            "sensitivity",
            str(path),
            "--policies",
            POLICIES,
            "--params",
            "market.security_beta=1:2",
            "--method",
            "morris",
            "--trajectories",
            "3",
            "--check",
        ],
    )
    assert "1 parameter(s) from --params, morris design of 6 points" in result.output


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'params = {"market.contagion_beta" = [3.6, 2.3]}',
            r"sensitivity\.params\.market\.contagion_beta: got \[3\.6, 2\.3\]; expected low < high",
        ),
        ('params = {"market.nope" = [1, 2]}', r"sensitivity\.params\.market\.nope \(low end\)"),
        ('params = {"market.contagion_beta" = [2, 3]}\nlevels = 3', r"sensitivity\.levels: got 3"),
        ('params = {"market.contagion_beta" = [2, 3]}\nmethod = "sobol"', r"sensitivity\.method"),
        ("params = {}", r"sensitivity\.params"),
        ('prams = {"market.contagion_beta" = [2, 3]}', r"sensitivity\.prams.*unknown key"),
    ],
)
def test_sensitivity_table_is_validated_at_load(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'extends = "{EXPLOIT.as_posix()}"\n[sensitivity]\n{table}\n')
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenario(path)
    assert str(path.name) in str(info.value)


def test_report_section_on_a_model_with_a_known_answer(tmp_path: Path) -> None:
    """The section's tables and chart, on the linear stand-in model of test_sensitivity."""
    from sim.executors import SequentialExecutor
    from sim.report import build_report, sensitivity_section
    from sim.runner import RunConfig, plan_study, run_sweep
    from sim.sensitivity import run_sensitivity

    model = RunConfig(model="tests.sim.test_sensitivity:linear_model", mode="kpi")
    scenario = load_scenario(EXPLOIT, check_sweep=False)
    ranges = {
        "market.contagion_beta": [1.0, 5.0],
        "governance.detection_delay_blocks": ["1 hour", "2 days"],
    }
    run_sensitivity(
        scenario,
        ["sudo", "market_only"],
        ranges,
        tmp_path / "sens",
        SequentialExecutor(),
        method="both",
        trajectories=2,
        entropy=3,
        run_config=model,
        progress=False,
    )
    section = sensitivity_section(tmp_path / "sens")
    assert section is not None and section["note"] is None
    assert section["output"] == "harm.total[sudo] - harm.total[market_only]"
    oat = section["oat"]
    assert oat["columns"][-1] == "ranking flips"
    # The delay has the widest swing and flips the ranking at its low end (one hour).
    assert oat["rows"][0][0] == "governance.detection_delay_blocks"
    assert oat["rows"][0][-1] == "low" and oat["rows"][1][-1] == "no"
    assert [r[0] for r in section["morris"]["rows"]] == [
        "governance.detection_delay_blocks",
        "market.contagion_beta",
    ]
    html = build_report(tmp_path / "sens").read_text()
    assert '<section id="sensitivity">' in html and "Morris elementary effects" in html
    assert section["changers"] in html
    # A study that is not a sensitivity study has no such section.
    plain = plan_study(
        [scenario.config], [{}], ["sudo", "market_only"], 1, entropy=1, run_config=model
    )
    run_sweep(plain, tmp_path / "plain", SequentialExecutor(), progress=False)
    assert sensitivity_section(tmp_path / "plain") is None
    assert '<section id="sensitivity">' not in build_report(tmp_path / "plain").read_text()
