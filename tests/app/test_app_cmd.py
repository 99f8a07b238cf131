"""``govsim app``: the command line that opens the explorer."""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

from sim.cli import main
from sim.cli.app_cmd import APP_PATH, streamlit_command


def test_app_path_is_the_repository_explorer() -> None:
    assert Path(__file__).resolve().parents[2] / "app.py" == APP_PATH
    assert APP_PATH.is_file()


def test_streamlit_command_passes_options_through() -> None:
    cmd = streamlit_command(APP_PATH, port=8600, address="127.0.0.1", headless=True)
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(APP_PATH)]
    options = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert options == {
        "--server.port": "8600",
        "--server.address": "127.0.0.1",
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
    }
    assert "--server.port" not in streamlit_command(APP_PATH)


def test_app_command_rejects_a_bad_port() -> None:
    result = CliRunner().invoke(main, ["app", "--port", "70000"])
    assert result.exit_code == 2
    assert "70000" in result.output
    help_text = CliRunner().invoke(main, ["app", "--help"]).output
    assert "--port" in help_text and "explorer" in help_text
