"""``govsim app``: the command line that opens the explorer, and its shipped Streamlit settings."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from sim.cli import main
from sim.cli.app_cmd import find_app, shipped_options, streamlit_command

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_find_app_locates_the_explorer_through_the_installed_package() -> None:
    app_path = find_app()
    pages = importlib.util.find_spec("app_pages").submodule_search_locations
    assert app_path == Path(next(iter(pages))).parent / "app.py"
    assert app_path.is_file()
    assert (app_path.parent / "app_pages" / "scenario.py").is_file()


def test_the_shipped_config_turns_telemetry_off_and_is_the_checkouts() -> None:
    shipped = REPO_ROOT / "app_pages" / ".streamlit" / "config.toml"
    config = tomllib.loads(shipped.read_text())
    assert config["browser"]["gatherUsageStats"] is False
    # `streamlit run app.py` in a checkout reads .streamlit/ at the root: the same file.
    assert (REPO_ROOT / ".streamlit" / "config.toml").resolve() == shipped.resolve()
    assert shipped_options(find_app())["browser.gatherUsageStats"] is False


def test_streamlit_command_passes_shipped_and_given_options() -> None:
    app_path = find_app()
    cmd = streamlit_command(app_path, port=8600, address="127.0.0.1", headless=True)
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(app_path)]
    options = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert options == {
        "--browser.gatherUsageStats": "false",
        "--server.maxUploadSize": "1",
        "--client.toolbarMode": "minimal",
        "--server.port": "8600",
        "--server.address": "127.0.0.1",
        "--server.headless": "true",
    }
    bare = streamlit_command(app_path)
    assert "--server.port" not in bare
    assert bare[bare.index("--browser.gatherUsageStats") + 1] == "false"


def test_streamlit_command_keeps_telemetry_off_without_a_shipped_config(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text("")
    cmd = streamlit_command(script)
    assert cmd[5:] == ["--browser.gatherUsageStats", "false"]


def test_app_command_rejects_a_bad_port() -> None:
    result = CliRunner().invoke(main, ["app", "--port", "70000"])
    assert result.exit_code == 2
    assert "70000" in result.output
    help_text = CliRunner().invoke(main, ["app", "--help"]).output
    assert "--port" in help_text and "explorer" in help_text
