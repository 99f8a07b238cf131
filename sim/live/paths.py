"""Where live mode listens and keeps its files by default: one port, per-user directories.

Keys are secrets and state directories grow, so neither defaults to the working directory (a
checkout): keys go to the per-user config directory, coordinator state to the per-user state
directory, following freedesktop.org's XDG Base Directory Specification:

* keys: ``$XDG_CONFIG_HOME/govsim/keys/NAME.json`` (default ``~/.config/govsim/keys``);
  directories created ``0700``, key files ``0600``;
* coordinator state: ``$XDG_STATE_HOME/govsim/live/SCENARIO`` (default
  ``~/.local/state/govsim/live``), created ``0700`` (it holds the registry and the uploads).

A relative or empty ``XDG_*`` variable is ignored, as the specification asks.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_KEY_NAME",
    "DEFAULT_PORT",
    "config_dir",
    "default_coordinator_url",
    "default_key_path",
    "default_state_dir",
    "ensure_private_dir",
    "state_root",
]

#: The coordinator's TCP port everywhere: ``govsim live serve``, ``govsim live mine``, the docs and
#: the explorer's live page.
DEFAULT_PORT = 8765
#: The address ``govsim live serve`` listens on by default (loopback only).
DEFAULT_HOST = "127.0.0.1"
#: The key ``govsim live mine`` uses without ``--key`` or ``--name``.
DEFAULT_KEY_NAME = "default"


def default_coordinator_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """``http://HOST:PORT`` of a coordinator (the default: this machine, the default port)."""
    return f"http://{host}:{port}"


def _xdg_home(variable: str, fallback: tuple[str, ...]) -> Path:
    value = os.environ.get(variable, "")
    if value and Path(value).is_absolute():
        return Path(value)
    return Path.home().joinpath(*fallback)


def config_dir() -> Path:
    """govsim's per-user config directory: ``$XDG_CONFIG_HOME/govsim`` or ``~/.config/govsim``."""
    return _xdg_home("XDG_CONFIG_HOME", (".config",)) / "govsim"


def state_root() -> Path:
    """Where coordinators keep state by default: ``$XDG_STATE_HOME/govsim/live`` or
    ``~/.local/state/govsim/live``."""
    return _xdg_home("XDG_STATE_HOME", (".local", "state")) / "govsim" / "live"


def default_key_path(name: str = DEFAULT_KEY_NAME) -> Path:
    """The key file of key ``name`` in the per-user config directory.

    Raises
    ------
    ValueError
        When ``name`` is not a plain file name (letters, digits, ``-``, ``_``, ``.``).
    """
    if (
        not name
        or name.startswith(".")
        or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)
    ):
        raise ValueError(
            f"--name {name!r}: expected a plain key name (letters, digits, '-', '_', '.')"
        )
    return config_dir() / "keys" / f"{name}.json"


def default_state_dir(scenario_stem: str) -> Path:
    """The default state directory of a coordinator serving scenario ``scenario_stem``."""
    return state_root() / scenario_stem


def ensure_private_dir(path: Path, private_root: Path) -> None:
    """Create ``path`` and its missing parents; those created at or below ``private_root`` get mode
    ``0700`` (secrets and uploads live there), the others the usual mode.

    Existing directories are left as they are (``~/.config`` belongs to the user).
    """
    missing = []
    probe = path
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        private = directory == private_root or private_root in directory.parents
        directory.mkdir(mode=0o700 if private else 0o777, exist_ok=True)
        if private:
            os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask
