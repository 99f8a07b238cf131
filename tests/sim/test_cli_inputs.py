"""The command line against hostile and careless input: replay JSON, study directories that must
never be replaced silently, and reports on half-finished studies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.store import StudyStore


def _one_clean_error(result: object) -> str:
    """The single ``error: ...`` line of a refused command (exit 2, no traceback)."""
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    output = result.output.strip()  # type: ignore[attr-defined]
    assert "Traceback" not in output and "\n" not in output, output
    assert output.startswith("error: "), output
    return output


# -- replay JSON ----------------------------------------------------------------------------------
U64 = 2**64 - 1
REPLAY_CASES = [
    ("deep_list.json", "[" * 5_000 + "]" * 5_000, "--exact", "nested too deeply"),
    (
        "deep_object.json",
        '{"stake": [1, 2], "weights": ' + '{"0": ' * 5_000 + "1" + "}" * 5_000 + "}",
        "--exact",
        "nested too deeply",
    ),
    ("digits.json", '{"stake": [1, 2], "block": ' + "9" * 5_000 + "}", "--exact", "4300 digits"),
    (
        "digits_short.json",
        '{"stake": [1, 2], "block": ' + "9" * 4_000 + "}",
        "--exact",
        "block: expected an integer in [0, 18446744073709551615], got an integer of 4000 digits",
    ),
    (
        "block_u64.json",
        json.dumps({"stake": [1, 2], "block": U64 - 1, "last_update": [0, 0]}),
        "--float",
        "block: expected at most 2^63 - 1 in float mode",
    ),
    (
        "lms_u64.json",
        json.dumps({"stake": [1, 2], "lms": U64 - 1}),
        "--float",
        "lms: expected at most 2^63 - 1 in float mode",
    ),
    (
        "block_default_u64.json",
        json.dumps({"stake": [1, 2], "block": U64 - 1}),
        "--exact",
        "last_update[0]: expected at most 2^63 - 1",
    ),
    (
        "chain_past_u64.json",
        json.dumps([{"stake": [1, 2], "block": U64 - 10, "last_update": [0, 0]}, {}]),
        "--exact",
        "state 1: block (previous block + tempo): expected an integer in [0, 18446744073709551615]",
    ),
    (
        "alpha_version_zero.json",
        json.dumps({"stake": [1, 2], "liquid_alpha_version": 0}),
        "--exact",
        "liquid_alpha_version: expected 'v1' or 'v2', got 0",
    ),
    (
        "alpha_version_empty.json",
        json.dumps({"stake": [1, 2], "liquid_alpha_version": ""}),
        "--float",
        "liquid_alpha_version: expected 'v1' or 'v2', got ''",
    ),
    ("nan.json", '{"stake": [NaN, 1]}', "--exact", "NaN is not a number JSON allows"),
    (
        "infinity.json",
        '{"stake": [1, 2], "kappa_u16": Infinity}',
        "--float",
        "Infinity is not a number JSON allows",
    ),
    ("stake_scalar.json", '{"stake": 5}', "--exact", "stake: expected a list"),
    (
        "float_too_big.json",
        '{"stake": [1, 2], "tempo": 1e300}',
        "--exact",
        "tempo: expected an integer",
    ),
    (
        "uid_key_digits.json",
        '{"stake": [1, 2], "weights": [{"' + "9" * 5_000 + '": 1}, {}]}',
        "--exact",
        "weights[0] key",
    ),
    (
        "too_many_uids.json",
        json.dumps({"n": 5_000, "stake": [1] * 5_000}),
        "--float",
        "n: expected at most 4096 uids",
    ),
    (
        "lines.jsonl",
        '{"stake": [1, 2]}\n' + "[" * 5_000 + "]" * 5_000 + "\n",
        "--exact",
        "line 2: invalid state",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "mode", "message"), REPLAY_CASES, ids=[c[0] for c in REPLAY_CASES]
)
def test_replay_refuses_hostile_json_cleanly(
    tmp_path: Path, name: str, text: str, mode: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    line = _one_clean_error(CliRunner().invoke(main, ["yuma", "replay", str(path), mode]))
    assert name in line and message in line, line


def test_replay_still_accepts_u64_blocks_in_exact_mode(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(
        json.dumps({"stake": [1, 2], "block": U64 - 1, "last_update": [0, 0], "lms": U64 - 1})
    )
    result = CliRunner().invoke(main, ["yuma", "replay", str(path), "--exact"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["block"] == U64 - 1


# -- study directories ------------------------------------------------------------------------------
TINY = """
name = "tiny"
policies = ["sudo", "v2_two_stage"]
seeds = 2
horizon_days = 0.25
[network]
n_subnets = 2
n_uids = 8
n_validators = 2
[stakers]
n_stakers = 4
"""


def _compare(scenario: Path, out: Path, *extra: str) -> object:
    return CliRunner().invoke(
        main,
        [
            "compare",
            str(scenario),
            "--out",
            str(out),
            "--executor",
            "sequential",
            "--quiet",
            "--no-report",
            "--entropy",
            "5",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("studies")
    scenario = root / "tiny.toml"
    scenario.write_text(TINY)
    out = root / "study"
    result = _compare(scenario, out)
    assert result.exit_code == 0, result.output
    return scenario, out


def test_a_finished_study_survives_a_second_compare(tiny_study: tuple[Path, Path]) -> None:
    scenario, out = tiny_study
    before = StudyStore(out).manifest()
    # The data loss of old: a 2-seed study replaced by a 1-seed one without a word.
    line = _one_clean_error(_compare(scenario, out, "--seeds", "1"))
    assert "already holds a study (4 of 4 runs done)" in line
    assert "--resume" in line and "--force" in line
    assert StudyStore(out).manifest().equals(before)


def test_resume_continues_only_the_same_design(tiny_study: tuple[Path, Path]) -> None:
    scenario, out = tiny_study
    before = StudyStore(out).manifest()
    result = _compare(scenario, out, "--resume")
    assert result.exit_code == 0, result.output
    assert "continuing the same study (--resume)" in result.output
    assert "4 runs: 4 SUCCEEDED" in result.output
    assert StudyStore(out).manifest().equals(before)  # nothing re-ran
    for extra in (
        ["--seeds", "3"],
        ["--policies", "sudo"],
        ["--entropy", "6"],
        ["--set", "horizon_days=0.3"],
        ["--mode", "kpi"],
    ):
        line = _one_clean_error(_compare(scenario, out, "--resume", *extra))
        assert "a different design" in line, extra
    assert StudyStore(out).manifest().equals(before)


def test_resume_runs_what_a_killed_study_left(
    tmp_path: Path, tiny_study: tuple[Path, Path]
) -> None:
    scenario, study = tiny_study
    out = tmp_path / "killed"
    shutil.copytree(study, out)  # the same study as `_compare(scenario, out)` would write
    store = StudyStore(out)
    manifest = store.manifest()
    manifest.loc[manifest["run_id"] == "s0001-r0001", "status"] = "PENDING"
    store.write_manifest(manifest)
    result = _compare(scenario, out, "--resume")
    assert result.exit_code == 0, result.output
    after = store.manifest().set_index("run_id")
    assert (after["status"] == "SUCCEEDED").all()
    assert after.at["s0001-r0001", "attempt"] == 1 and after.at["s0000-r0000", "attempt"] == 0


def test_force_moves_the_old_study_aside(tmp_path: Path, tiny_study: tuple[Path, Path]) -> None:
    scenario, study = tiny_study
    out = tmp_path / "forced"
    shutil.copytree(study, out)  # the same study as `_compare(scenario, out)` would write
    old = StudyStore(out).manifest()
    result = _compare(scenario, out, "--force", "--seeds", "1")
    assert result.exit_code == 0, result.output
    assert "moved the old contents aside" in result.output
    siblings = [p for p in tmp_path.iterdir() if p.name.startswith("forced.replaced-")]
    assert len(siblings) == 1
    assert StudyStore(siblings[0]).manifest().equals(old)  # the old study is intact
    assert len(StudyStore(out).manifest()) == 2


def test_a_non_study_directory_is_not_written_into(
    tmp_path: Path, tiny_study: tuple[Path, Path]
) -> None:
    scenario, _ = tiny_study
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    for extra in ([], ["--resume"]):
        line = _one_clean_error(_compare(scenario, out, *extra))
        assert "not empty and holds no study" in line
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert _one_clean_error(_compare(scenario, out, "--resume", "--force"))
    file_out = tmp_path / "file"
    file_out.write_text("x")
    result = _compare(scenario, file_out)  # click's own usage error
    assert result.exit_code == 2 and "is a file" in result.output  # type: ignore[attr-defined]
    assert file_out.read_text() == "x"


def test_check_validates_without_writing(tmp_path: Path, tiny_study: tuple[Path, Path]) -> None:
    scenario, _ = tiny_study
    out = tmp_path / "never"
    result = _compare(scenario, out, "--check")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: tiny: 1 point(s) x 2 policies x 2 seeds = 4 runs")
    assert not out.exists()


def test_report_on_a_half_finished_study_says_so(
    tmp_path: Path, tiny_study: tuple[Path, Path]
) -> None:
    _, study = tiny_study
    out = tmp_path / "half"
    shutil.copytree(study, out)  # the same study as `_compare(scenario, out)` would write
    store = StudyStore(out)
    manifest = store.manifest()
    manifest.loc[manifest["run_id"] == "s0001-r0001", "status"] = "PENDING"
    manifest.loc[manifest["run_id"] == "s0000-r0000", "status"] = "FAILED"
    store.write_manifest(manifest)
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("unfinished study: 2 of 4 runs not done (1 PENDING, 1 FAILED)")
    assert "the verdict only the 0 of 2 seeds" in first
    verdict = next(line for line in result.output.splitlines() if line.startswith("verdict:"))
    assert verdict.startswith("verdict: none: no seed has a succeeded run of every policy")
    html = (out / "report.html").read_text()
    head = html[: html.index("</h1>") + 400]
    assert "unfinished study: 2 of 4 runs not done (1 PENDING, 1 FAILED)" in head
    # One seed back: the verdict uses it alone and says so.
    manifest.loc[manifest["run_id"] == "s0000-r0000", "status"] = "SUCCEEDED"
    store.write_manifest(manifest)
    result = CliRunner().invoke(main, ["report", str(out)])
    verdict = next(line for line in result.output.splitlines() if line.startswith("verdict:"))
    assert verdict.endswith("[on the 1 of 2 seeds every policy finished]")
