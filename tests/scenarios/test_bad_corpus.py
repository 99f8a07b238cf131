"""The corpus of malformed scenario files: each gets its own clear error, and the CLI exits 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.schema import ScenarioError, load_scenario

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
    "name", ["wrong_type_int", "unit_wrong_dimension", "extends_cycle_a", "unknown_key_nested",
             "policy_unknown", "syntax_error"]
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
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "network.tempo" in proc.stderr and "whole number of blocks" in proc.stderr
