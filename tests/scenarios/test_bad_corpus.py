"""The corpus of malformed scenario files: each gets its own clear error, and the CLI exits 2."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.schema import MAX_EXTENDS, MAX_FILE_BYTES, Scenario, ScenarioError, load_scenario
from tests.scenarios.tiny import REPO

BAD_DIR = Path(__file__).parent / "bad"
BAD_FILES = sorted(BAD_DIR.glob("*.toml"))


def _expectations(path: Path) -> dict[str, str]:
    """The ``# expect...: value`` header lines of a corpus file."""
    out = {}
    for line in path.read_text().splitlines():
        match = re.match(r"#\s*(expect(?:-path|-file)?):\s*(.+)$", line)
        if match:
            out[match.group(1)] = match.group(2).strip()
    return out


def test_corpus_is_large_and_documented() -> None:
    assert len(BAD_FILES) >= 30
    for path in BAD_FILES:
        expect = _expectations(path)
        assert {"expect", "expect-path"} <= set(expect), path.name


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_each_bad_file_gets_its_clear_error(path: Path) -> None:
    expect = _expectations(path)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    message = str(err)
    # The file, the field path and what was expected are all in the one-line message.
    assert expect.get("expect-file", path.name) in err.file
    assert expect.get("expect-file", path.name) in message
    assert err.path == expect["expect-path"]
    assert expect["expect"] in message
    assert "\n" not in message
    assert "got " in message and "; expected " in message


def test_value_is_named() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(BAD_DIR / "wrong_type_int.toml")
    assert info.value.value == "eight"
    assert "got 'eight'" in str(info.value)


@pytest.mark.parametrize("command", ["compare", "sweep"])
@pytest.mark.parametrize(
    "name",
    [
        "wrong_type_int",
        "unit_wrong_dimension",
        "extends_cycle_a",
        "unknown_key_nested",
        "policy_unknown",
        "syntax_error",
    ],
)
def test_cli_exits_2_without_traceback(command: str, name: str) -> None:
    result = CliRunner().invoke(main, [command, str(BAD_DIR / f"{name}.toml"), "--seeds", "1"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ")
    assert f"{name}.toml" in result.output


def test_cli_process_exits_2_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "compare", str(BAD_DIR / "unit_fractional_blocks.toml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "network.tempo" in proc.stderr and "whole number of blocks" in proc.stderr


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_every_bad_file_is_one_clean_line_from_the_cli(path: Path) -> None:
    # `govsim run` never builds a sweep point, so bad sweep values are `govsim sweep`'s to find.
    command = "sweep" if _expectations(path)["expect-path"].startswith("sweep point") else "run"
    result = CliRunner().invoke(main, [command, str(path), "--check"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert _expectations(path)["expect-path"] in lines[0]


# -- cases that need the file system: built in a temporary directory ---------------------------
def test_extends_chain_deeper_than_the_limit_is_refused(tmp_path: Path) -> None:
    # 1 500 files, each legal, used to end in a RecursionError; the chain is now walked
    # iteratively and capped.
    depth = 1_500
    (tmp_path / "f0.toml").write_text('name = "root"\n')
    for i in range(1, depth):
        (tmp_path / f"f{i}.toml").write_text(f'extends = "f{i - 1}.toml"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / f"f{depth - 1}.toml")
    assert info.value.path == "extends"
    assert f"a chain of at most {MAX_EXTENDS} files" in str(info.value)
    # A chain within the limit still loads.
    assert load_scenario(tmp_path / f"f{MAX_EXTENDS - 1}.toml").name == "root"


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    (tmp_path / "child.toml").write_text('extends = "a.toml"\n')
    for path, where in ((tmp_path / "a.toml", "<file>"), (tmp_path / "child.toml", "extends")):
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        assert info.value.path == where
        assert "an existing scenario file" in str(info.value)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "child.toml"), "--check"])
    assert result.exit_code == 2 and result.output.startswith("error: ")
    assert "child.toml: extends" in result.output


def test_file_name_too_long_for_the_os_is_refused(tmp_path: Path) -> None:
    long_name = "x" * 5_000 + ".toml"
    (tmp_path / "child.toml").write_text(f'extends = "{long_name}"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "child.toml")
    assert info.value.path == "extends" and "an existing scenario file" in str(info.value)
    result = CliRunner().invoke(main, ["run", str(tmp_path / long_name), "--check"])
    assert result.exit_code == 2 and result.output.startswith("error: ")
    assert "Traceback" not in result.output


def test_file_larger_than_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(ScenarioError, match=f"a file of at most {MAX_FILE_BYTES} bytes"):
        load_scenario(path)


def test_a_name_that_looks_like_a_quantity_is_a_name(tmp_path: Path) -> None:
    # String fields are never quantities ("90 days" used to be refused for `name`).
    path = tmp_path / "s.toml"
    path.write_text('name = "90 days"\ndescription = "1e400 blocks"\n')
    scenario = load_scenario(path)
    assert scenario.name == "90 days" and scenario.description == "1e400 blocks"


def test_levers_are_typed_and_quantities_convert_by_annotation() -> None:
    from sim.config import SimConfig

    def lever(**fields: object) -> dict:
        data = {"shocks": [{"kind": "intervention", "day": 1, "lever": fields}]}
        return Scenario.from_dict(data).config.shocks[0].lever

    # HaltChain.duration_blocks is annotated Blocks: a quantity converts into blocks.
    assert lever(kind="halt_chain", duration_blocks="2 days")["duration_blocks"] == 14_400
    assert lever(kind="token_sale", amount_tao="5e9 rao")["amount_tao"] == 5.0
    for bad, path in (
        ({"netuid": True}, "netuid"),
        ({"netuid": -1}, "netuid"),
        ({"netuid": 1.0}, "netuid"),
        ({"netuid": 0, "enabled": 0}, "enabled"),
    ):
        with pytest.raises(ScenarioError) as info:
            lever(kind="set_emission_enabled", **bad)
        assert info.value.path == f"shocks[0].lever.{path}"
    # The same checks hold for configs built in code.
    with pytest.raises(ValueError, match=r"lever\.netuid"):
        SimConfig.model_validate(
            {
                "shocks": [
                    {
                        "kind": "intervention",
                        "day": 1,
                        "lever": {"kind": "set_emission_enabled", "netuid": "2"},
                    }
                ]
            }
        )


def test_policy_config_quantities_convert_into_the_annotated_unit() -> None:
    data = {"governance": {"policy": "multisig", "policy_config": {"delay_blocks": "2 hours"}}}
    assert Scenario.from_dict(data).config.governance.policy_config == {"delay_blocks": 600}
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict({"governance": {"policy": "multisig", "policy_config": {"k": True}}})
    assert info.value.path == "governance.policy_config.k"


def test_sweep_size_is_checked_before_any_point_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from sim import sampling

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a design point was built")

    for name in ("lhs", "sobol", "grid"):
        monkeypatch.setattr(sampling, name, never)
    start = time.perf_counter()
    for name in ("sweep_lhs_too_many_points", "sweep_grid_too_many_points"):
        with pytest.raises(ScenarioError, match="at most 10000 points"):
            load_scenario(BAD_DIR / f"{name}.toml")
    assert time.perf_counter() - start < 5.0


def test_a_million_point_design_is_refused_at_once() -> None:
    start = time.perf_counter()
    data = {
        "sweep": {
            "design": "sobol",
            "n": 1_000_000,
            "bounds": {"market.contagion_beta": [1.0, 5.0]},
        }
    }
    with pytest.raises(ScenarioError, match="at most 10000 points"):
        Scenario.from_dict(data)
    assert time.perf_counter() - start < 5.0


def test_govsim_run_on_a_sweep_file_builds_only_the_base_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sim.schema import SweepSpec

    def never(self: SweepSpec) -> None:
        raise AssertionError("govsim run built the sweep")

    monkeypatch.setattr(SweepSpec, "points", never)
    monkeypatch.setattr(SweepSpec, "probes", never)
    path = REPO / "scenarios" / "exploit_2024.toml"
    result = CliRunner().invoke(main, ["run", str(path), "--check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")


@pytest.mark.parametrize(
    ("setting", "path", "expected"),
    [
        ('network.tempo="1e400 blocks"', "network.tempo", "a finite quantity"),
        ("network.n_subnets=true", "network.n_subnets", "an integer"),
        ("market.drift_per_year=nan", "market.drift_per_year", "a finite number"),
        ('shocks.1.lever.allowed="false"', "shocks[1].lever.allowed", "true or false"),
        ("network.n_subnetz=3", "network.n_subnetz", "did you mean 'n_subnets'"),
        ("seeds=3", "seeds", "study keys are set with --seeds"),
        ("shocks.9.day=1", "shocks.9.day", "arrays indexed in range"),
        ("description=" + "[" * 3000 + "]" * 3000, "description", "nested at most"),
    ],
)
def test_set_values_pass_the_same_boundary(setting: str, path: str, expected: str) -> None:
    covenant = REPO / "scenarios" / "covenant_2026.toml"
    result = CliRunner().invoke(main, ["compare", str(covenant), "--check", "--set", setting])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and line.startswith("error: ") and "Traceback" not in line
    assert "covenant_2026.toml" in line
    assert path in line and expected in line


def test_sweep_values_are_checked_with_the_point_named() -> None:
    data = {
        "sweep": {
            "design": "list",
            "records": [{"network.tempo": 360}, {"network.tempo": "1e400 blocks"}],
        }
    }
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(data)
    assert info.value.path == "sweep point 1: network.tempo"
