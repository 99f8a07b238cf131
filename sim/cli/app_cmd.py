"""``govsim app``: open the Streamlit scenario explorer (``streamlit run app.py``).

The explorer ships with govsim: ``app.py`` (a top-level module) and the ``app_pages`` package sit
side by side wherever govsim is installed, in a checkout as in ``site-packages``. They are found
through the import system, not relative to this file, and the Streamlit settings shipped in
``app_pages/.streamlit/config.toml`` (usage statistics off, an upload limit) are passed to
``streamlit run`` as options, so they apply from any working directory.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import click

from sim.cli._root import UserError, main

__all__ = ["app", "find_app", "shipped_options", "streamlit_command"]


def find_app() -> Path:
    """The installed explorer's entry script: ``app.py`` next to the ``app_pages`` package.

    The package is located, not imported (the explorer depends on ``sim``, never the reverse).

    Raises
    ------
    UserError
        If this installation of govsim has no explorer.
    """
    spec = importlib.util.find_spec("app_pages")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the explorer (package app_pages) is not installed with this govsim; "
            "reinstall it with `pip install govsim` or from a checkout with `pip install .`"
        )
    pages = Path(next(iter(spec.submodule_search_locations)))
    script = pages.parent / "app.py"
    if not script.is_file():
        raise UserError(f"the explorer's entry script {script} is missing; reinstall govsim")
    return script


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, prefix=f"{name}."))
        else:
            out[name] = value
    return out


def shipped_options(app_path: Path) -> dict[str, Any]:
    """The Streamlit options shipped with the explorer, as ``{"section.option": value}``.

    Read from ``app_pages/.streamlit/config.toml`` next to ``app_path``; empty when absent.
    """
    config = app_path.parent / "app_pages" / ".streamlit" / "config.toml"
    if not config.is_file():
        return {}
    return _flatten(tomllib.loads(config.read_text(encoding="utf-8")))


def _flag_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def streamlit_command(
    app_path: Path, *, port: int | None = None, address: str | None = None, headless: bool = False
) -> list[str]:
    """The command line that serves ``app_path`` with Streamlit and the shipped settings.

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
        ``[python, -m, streamlit, run, app_path, ...options]``, ready for ``subprocess``:
        the shipped options first, then those given here. Usage statistics are always off.
    """
    options = {**shipped_options(app_path), "browser.gatherUsageStats": False}
    if port is not None:
        options["server.port"] = port
    if address is not None:
        options["server.address"] = address
    if headless:
        options["server.headless"] = True
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_path)]
    for name, value in options.items():
        cmd += [f"--{name}", _flag_value(value)]
    return cmd


@main.command("app")
@click.option("--port", type=click.IntRange(1, 65_535), default=None, help="Port (default 8501).")
@click.option("--address", default=None, help="Interface to bind, e.g. 127.0.0.1.")
@click.option("--headless", is_flag=True, help="Do not open a browser window.")
def app(port: int | None, address: str | None, headless: bool) -> None:
    """Open the scenario explorer in a browser (Streamlit; works from any directory).

    Studies are looked for under studies/, runs/ and out/ of the directory you start it in.
    """
    cmd = streamlit_command(find_app(), port=port, address=address, headless=headless)
    if os.name == "posix":
        # Become the server: signals (Ctrl-C, a supervisor's SIGTERM) reach Streamlit itself,
        # and no server outlives a stopped `govsim app`.
        sys.stdout.flush()
        os.execv(cmd[0], cmd)
    try:
        completed = subprocess.run(cmd, check=False)
    except KeyboardInterrupt:  # Ctrl-C is the normal way to stop a server
        return
    if completed.returncode not in (0, -2):
        raise SystemExit(completed.returncode)
