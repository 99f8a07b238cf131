"""``govsim app``: open the Streamlit scenario explorer (``streamlit run app.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from sim.cli._root import UserError, main

__all__ = ["APP_PATH", "app", "streamlit_command"]

#: The explorer's entry script, at the repository root next to ``sim/``.
APP_PATH = Path(__file__).resolve().parents[2] / "app.py"


def streamlit_command(
    app_path: Path, *, port: int | None = None, address: str | None = None, headless: bool = False
) -> list[str]:
    """The command line that serves ``app_path`` with Streamlit.

    Parameters
    ----------
    app_path
        The Streamlit script to run.
    port
        TCP port to serve on; Streamlit's default (8501) when ``None``.
    address
        Interface to bind; Streamlit's default (all interfaces) when ``None``.
    headless
        Do not try to open a browser window.

    Returns
    -------
    list of str
        ``[python, -m, streamlit, run, app_path, ...options]``, ready for ``subprocess``.
    """
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_path)]
    if port is not None:
        cmd += ["--server.port", str(port)]
    if address is not None:
        cmd += ["--server.address", address]
    if headless:
        cmd += ["--server.headless", "true"]
    cmd += ["--browser.gatherUsageStats", "false"]
    return cmd


@main.command("app")
@click.option("--port", type=click.IntRange(1, 65_535), default=None, help="Port (default 8501).")
@click.option("--address", default=None, help="Interface to bind, e.g. 127.0.0.1.")
@click.option("--headless", is_flag=True, help="Do not open a browser window.")
def app(port: int | None, address: str | None, headless: bool) -> None:
    """Open the scenario explorer in a browser (runs ``streamlit run app.py``)."""
    if not APP_PATH.is_file():
        raise UserError(
            f"the explorer script {APP_PATH} is missing (run govsim from a source checkout)"
        )
    cmd = streamlit_command(APP_PATH, port=port, address=address, headless=headless)
    try:
        completed = subprocess.run(cmd, check=False)
    except KeyboardInterrupt:  # Ctrl-C is the normal way to stop a server
        return
    if completed.returncode not in (0, -2):
        raise SystemExit(completed.returncode)
