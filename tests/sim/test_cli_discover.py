"""A discoverable CLI: policies and scenarios listed, library scenarios by name from anywhere,
choices for enumerated flags, shell completion, ``--json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.shell_completion import BashComplete
from click.testing import CliRunner

from sim.cli import main
from sim.cli._params import EXECUTOR
from sim.cli._root import UserError
from sim.library import library, policy_catalog, resolve_scenario
from tests.scenarios.tiny import REPO

SMALL = """
name = "cli_small"
horizon_days = 0.5
[network]
n_subnets = 2
n_uids = 12
n_validators = 2
[stakers]
n_stakers = 3
"""


def _complete(args: list[str], incomplete: str) -> list[str]:
    completer = BashComplete(main, {}, "govsim", "_GOVSIM_COMPLETE")
    return [item.value for item in completer.get_completions(args, incomplete)]


# -- policies ------------------------------------------------------------------------------------
def test_policies_list_names_every_registered_policy_with_parameters() -> None:
    from protocol.governance.registry import POLICIES

    result = CliRunner().invoke(main, ["policies", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{len(POLICIES)} governance policies")
    for name in POLICIES.names():
        assert any(line.startswith(f"{name} ") for line in result.output.splitlines()), name
    assert "    delay_blocks       = 14400 blocks (2 d)" in result.output  # timelock
    assert "(also: v2_24h)" in result.output
    brief = CliRunner().invoke(main, ["policies", "list", "--brief"])
    assert "    delay_blocks" not in brief.output and "timelock" in brief.output


def test_policies_list_json() -> None:
    result = CliRunner().invoke(main, ["policies", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data) == 12 == len(policy_catalog())
    by_name = {p["name"]: p for p in data}
    sudo = {p["name"]: p for p in by_name["sudo"]["params"]}
    assert sudo["delay_blocks"]["default"] == 1 and sudo["delay_blocks"]["unit"] == "blocks"
    assert by_name["sudo"]["summary"].startswith("One key")
    assert by_name["market_only"]["params"] == []
    curve = {p["name"]: p for p in by_name["v2_two_stage"]["params"]}["curve"]
    assert curve["choices"] == ["cubic", "linear", "exponential"]
    # Help texts cite nothing outside the repository.
    assert "\N{SECTION SIGN}" not in result.stdout


# -- scenarios -----------------------------------------------------------------------------------
def test_scenarios_list_and_show() -> None:
    result = CliRunner().invoke(main, ["scenarios", "list"])
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.output.splitlines()[: len(library())]]
    assert names == sorted(library()) and "covenant_2026" in names
    assert "\N{SECTION SIGN}" not in result.output
    show = CliRunner().invoke(main, ["scenarios", "show", "validator_cabal"])
    assert show.exit_code == 0, show.output
    assert "sweep         list, 12 points over network.kappa, validators.mix" in show.output
    assert "# validator_cabal — " in show.output  # the file itself
    path = CliRunner().invoke(main, ["scenarios", "show", "baseline", "--path"])
    assert Path(path.output.strip()) == library()["baseline"].path
    data = json.loads(
        CliRunner().invoke(main, ["scenarios", "show", "exploit_2024", "--json"]).stdout
    )
    assert data["sweep"]["points"] == 9 and data["policies"][0]
    unknown = CliRunner().invoke(main, ["scenarios", "show", "nope"])
    assert unknown.exit_code == 2 and unknown.output.startswith("error: scenario 'nope'")


def test_a_library_name_resolves_but_a_file_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_scenario("baseline") == library()["baseline"].path
    assert resolve_scenario("baseline.toml") == library()["baseline"].path
    (tmp_path / "baseline.toml").write_text(SMALL)
    assert resolve_scenario("baseline.toml") == Path("baseline.toml")
    result = CliRunner().invoke(main, ["run", "no_such_scenario"])
    assert result.exit_code == 2
    assert "no such scenario file, and no library scenario of that name" in result.output
    assert "covenant_2026" in result.output


# -- enumerated flags and completion ----------------------------------------------------------------
def test_executor_choices_and_the_dask_form() -> None:
    assert (
        EXECUTOR.convert("dask://scheduler.example:8786", None, None)
        == "dask://scheduler.example:8786"
    )
    assert EXECUTOR.convert("sequential", None, None) == "sequential"
    for bad in ("threads", "dask://nohost", "dask://h:port"):
        with pytest.raises(UserError, match="expected one of process, sequential"):
            EXECUTOR.convert(bad, None, None)
    help_text = CliRunner().invoke(main, ["sweep", "--help"]).output
    assert "[process|sequential|dask-local|ray|dask://HOST:PORT]" in help_text
    assert "--kpi NAME" in help_text and "--json" in help_text


def test_shell_completion_offers_scenarios_policies_and_executors() -> None:
    assert "covenant_2026" in _complete(["run"], "cov")
    assert _complete(["run", "baseline", "--policy"], "time") == ["timelock"]
    assert _complete(["compare", "baseline", "--policies"], "sudo,multi") == ["sudo,multisig"]
    assert _complete(["sweep", "baseline", "--executor"], "da") == ["dask-local", "dask://"]
    assert _complete(["scenarios", "show"], "validator") == ["validator_cabal"]
    assert "policies" in _complete([], "pol")


def test_completion_script_is_what_the_readme_documents() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from sim.cli import main; main(prog_name='govsim')"],
        env={**os.environ, "_GOVSIM_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "_GOVSIM_COMPLETE=bash_complete" in result.stdout
    readme = (REPO / "README.md").read_text()
    assert "_GOVSIM_COMPLETE=bash_source govsim" in readme
    assert "12 governance policies" in readme and "11 governance policies" not in readme


# -- --json ----------------------------------------------------------------------------------------
def test_run_json(tmp_path: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(scenario),
            "--policy",
            "timelock",
            "--seed",
            "3",
            "--json",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["policy"] == "timelock" and data["seed"] == 3
    assert data["kpis"]["days"] == pytest.approx(0.5)
    assert data["kpis"]["exploits.mean_days_to_stop"] is None  # NaN as null
    assert {Path(p).name for p in data["outputs"]} == {
        "timeseries.parquet",
        "kpis.json",
        "events.json",
    }


def test_compare_json_keeps_stdout_for_the_document(tmp_path: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    result = CliRunner().invoke(
        main,
        [
            "compare",
            str(scenario),
            "--policies",
            "sudo,timelock",
            "--seeds",
            "2",
            "--executor",
            "sequential",
            "--quiet",
            "--entropy",
            "3",
            "--no-report",
            "--json",
            "--out",
            str(tmp_path / "study"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # progress lines went to stderr
    assert data["policies"] == ["sudo", "timelock"] and data["design"]["axes"] == []
    assert data["verdict"]["scope"] == "study" and data["verdict_line"].startswith("verdict:")
    assert {r["policy"] for r in data["kpis"]} == {"sudo", "timelock"}
    assert data["runs"]["ok"] and data["report"] is None
    assert "4 runs: 4 SUCCEEDED" in result.stderr


# -- from outside the checkout -------------------------------------------------------------------
def _govsim() -> list[str]:
    script = Path(sys.executable).with_name("govsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim"]


def _git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.slow
def test_library_by_name_from_a_directory_outside_the_checkout(tmp_path: Path) -> None:
    """The README tour's first commands, as a user types them, in a fresh directory."""
    before = _git_status()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def govsim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_govsim(), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )

    policies = govsim("policies", "list", "--json")
    assert policies.returncode == 0, policies.stderr
    assert len(json.loads(policies.stdout)) == 12
    scenarios = govsim("scenarios", "list")
    assert scenarios.returncode == 0 and "covenant_2026" in scenarios.stdout
    run = govsim("run", "covenant_2026", "--policy", "sudo", "--seed", "0", "--out", "one")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("covenant_2026: policy=sudo seed=0 16 subnets x 64 uids")
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        "events.json",
        "kpis.json",
        "timeseries.parquet",
    ]
    assert json.loads((tmp_path / "one" / "kpis.json").read_text())["days"] == 40.0
    assert _git_status() == before


@pytest.mark.slow
def test_the_wheel_ships_the_template_library_license_and_py_typed(tmp_path: Path) -> None:
    """Package data: what `pip install govsim` needs outside the checkout."""
    import zipfile

    pytest.importorskip("setuptools", minversion="77")
    files = subprocess.run(
        [
            "git",
            "ls-files",
            "pyproject.toml",
            "README.md",
            "LICENSE",
            "protocol",
            "sim",
            "scenarios",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    source = tmp_path / "src"
    for name in files:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / name).read_bytes())
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("govsim-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "sim/templates/report.html.j2",
        "sim/py.typed",
        "protocol/py.typed",
        "scenarios/py.typed",
    } <= names
    assert {f"scenarios/{name}.toml" for name in library()} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
