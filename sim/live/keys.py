"""Hotkey files: an ed25519 private key as JSON, created with mode 0600 on first use.

``govsim live mine`` keeps them in the per-user config directory by default
(:func:`sim.live.paths.default_key_path`, directories ``0700``), never in the working directory.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.live import hotkey_of
from sim.live.paths import ensure_private_dir

__all__ = ["KEY_FORMAT", "KeyFileError", "load_or_create_key", "loose_permissions"]

KEY_FORMAT = "govsim-ed25519-v1"


class KeyFileError(ValueError):
    """A key file that exists but cannot be used; the message names the file and field."""


def _private_hex(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return raw.hex()


def loose_permissions(path: str | Path) -> str | None:
    """A warning when a key file can be read or written by other users (as ``ssh`` warns)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if mode & 0o077:
        return (
            f"warning: key file {path} has mode {mode:04o}: other users can read it; "
            f"run `chmod 600 {path}`"
        )
    return None


def load_or_create_key(
    path: str | Path, *, private_root: Path | None = None
) -> tuple[Ed25519PrivateKey, bool]:
    """Load the hotkey at ``path``, or create it (mode 0600) if the file does not exist.

    Parameters
    ----------
    path
        Key file (JSON: ``format``, ``private_key`` hex, ``hotkey`` hex).
    private_root
        Directories created at or below it get mode 0700 (the per-user config directory);
        other missing parents are created with the usual mode.

    Returns
    -------
    tuple[Ed25519PrivateKey, bool]
        The key and whether it was just created.

    Raises
    ------
    KeyFileError
        When the file is not a valid key file, or its hotkey does not match its private key.
    """
    p = Path(path)
    if not p.exists():
        key = Ed25519PrivateKey.generate()  # OS entropy: a key must never come from a seed
        doc = {"format": KEY_FORMAT, "private_key": _private_hex(key), "hotkey": hotkey_of(key)}
        try:
            if private_root is None:
                p.parent.mkdir(parents=True, exist_ok=True)
            else:
                ensure_private_dir(p.parent, private_root)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if p.exists():  # another process created it meanwhile: use theirs
                return load_or_create_key(p)
            raise KeyFileError(f"{p}: cannot create it (a parent path is a file)") from None
        except OSError as exc:  # a parent that is a file, a read-only directory
            raise KeyFileError(f"{p}: cannot create it ({exc.strerror})") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
            fh.flush()
            os.fsync(fh.fileno())
        return key, True
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"{p}: not a readable JSON key file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise KeyFileError(f"{p}: format: expected {KEY_FORMAT!r}")
    try:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(doc["private_key"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyFileError(f"{p}: private_key: expected 64 hex characters") from exc
    if doc.get("hotkey") != hotkey_of(key):
        raise KeyFileError(f"{p}: hotkey: does not match the private key")
    return key, False
