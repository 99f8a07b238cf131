"""The coordinator's state directory: atomic writes, JSON and safetensors only (never pickle).

Layout::

    state.json                         the commit point: registry, nonces, credited emission,
                                       windows closed, validator state, history
    model-w{window}.safetensors        θ for training ``window`` (named so a crash between the
                                       model write and the state write leaves the old pair intact)
    uploads/w{window}/uid{uid}.safetensors   an accepted upload, byte for byte as signed
    uploads/w{window}/uid{uid}.json          its receipt (hotkey, nonce, digest, receive time);
                                             written last, so its presence means "accepted"

Every file is written to a temporary name in the same directory, fsynced, then renamed over the
target, and the directory is fsynced: a reader sees the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["StateDir", "atomic_write_bytes", "atomic_write_json"]

_UPLOAD_RE = re.compile(r"^uid(\d+)\.json$")
_WINDOW_RE = re.compile(r"^w(\d+)$")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers never observe a partial file.

    Parameters
    ----------
    path
        Target file; its directory must exist.
    data
        The full contents.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode("utf-8"))


class StateDir:
    """Paths and atomic reads/writes of one coordinator's state directory.

    Parameters
    ----------
    root
        The directory (created if missing).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "uploads").mkdir(exist_ok=True)
        # Leftovers of writes interrupted by a crash are never valid files: drop them.
        for stale in self.root.rglob(".*.tmp"):
            stale.unlink(missing_ok=True)

    @property
    def state_path(self) -> Path:
        """``state.json``."""
        return self.root / "state.json"

    def model_path(self, window: int) -> Path:
        """The model file for training ``window``."""
        return self.root / f"model-w{window}.safetensors"

    def upload_dir(self, window: int) -> Path:
        """Where window ``window``'s uploads live."""
        return self.root / "uploads" / f"w{window}"

    def load_state(self) -> dict[str, Any] | None:
        """The last committed state, or ``None`` for a fresh directory."""
        if not self.state_path.exists():
            return None
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def save_state(self, state: dict[str, Any]) -> None:
        """Commit ``state`` (atomic)."""
        atomic_write_json(self.state_path, state)

    def save_model(self, window: int, data: bytes) -> None:
        """Write the safetensors bytes of θ for ``window`` (atomic)."""
        atomic_write_bytes(self.model_path(window), data)

    def load_model(self, window: int) -> bytes:
        """The safetensors bytes of θ for ``window``."""
        return self.model_path(window).read_bytes()

    def prune_models(self, keep_window: int) -> None:
        """Delete model files other than ``keep_window``'s (after the state commit)."""
        for path in self.root.glob("model-w*.safetensors"):
            if path != self.model_path(keep_window):
                path.unlink(missing_ok=True)

    def save_upload(self, window: int, uid: int, raw: bytes, receipt: dict[str, Any]) -> None:
        """Persist an accepted upload: the bytes, then the receipt (the "accepted" marker)."""
        directory = self.upload_dir(window)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(directory / f"uid{uid}.safetensors", raw)
        atomic_write_json(directory / f"uid{uid}.json", receipt)

    def load_upload(self, window: int, uid: int) -> bytes:
        """The bytes of an accepted upload."""
        return (self.upload_dir(window) / f"uid{uid}.safetensors").read_bytes()

    def receipts(self, window: int) -> dict[int, dict[str, Any]]:
        """Receipts of the accepted uploads of ``window`` by uid."""
        directory = self.upload_dir(window)
        out: dict[int, dict[str, Any]] = {}
        if directory.is_dir():
            for path in directory.iterdir():
                match = _UPLOAD_RE.match(path.name)
                if match:
                    out[int(match.group(1))] = json.loads(path.read_text(encoding="utf-8"))
        return out

    def upload_windows(self) -> list[int]:
        """Windows that have an upload directory, ascending."""
        found = []
        for path in (self.root / "uploads").iterdir():
            match = _WINDOW_RE.match(path.name)
            if match and path.is_dir():
                found.append(int(match.group(1)))
        return sorted(found)

    def prune_uploads(self, before_window: int) -> None:
        """Delete upload directories of windows older than ``before_window``."""
        for window in self.upload_windows():
            if window < before_window:
                shutil.rmtree(self.upload_dir(window), ignore_errors=True)
