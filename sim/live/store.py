"""The coordinator's state directory: atomic writes, JSON and safetensors only (never pickle).

Layout::

    state.json                   the commit point: registry, nonces, credited emission, windows
                                 closed, validator state, history
    model-w{window}.safetensors  θ for training ``window`` (named so a crash between the model
                                 write and the state write leaves the old pair intact)
    uploads/w{window}.log        accepted uploads of ``window``: an append-only log of
                                 checksummed records (receipt JSON + the body byte for byte)

``state.json`` and model files are written to a temporary name in the same directory, fsynced,
renamed over the target, and the directory is fsynced: a reader sees the old file or the new
one, never a torn one. Upload logs are fsynced before an upload is acknowledged, with group
commit (one fsync covers every record appended while the previous one ran); a record torn by a
crash fails its checksum and is dropped, and it was never acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["StateDir", "UploadLog", "atomic_write_bytes", "atomic_write_json", "read_upload_log"]

_LOG_RE = re.compile(r"^w(\d+)\.log$")
_MAGIC = b"GVUL"
_FRAME = struct.Struct("<4sIQ16s")  # magic, receipt length, body length, blake2b-128 of both


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
        self._logs: dict[int, UploadLog] = {}
        self._logs_lock = threading.Lock()
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

    def upload_log_path(self, window: int) -> Path:
        """The upload log of ``window``."""
        return self.root / "uploads" / f"w{window}.log"

    def upload_log(self, window: int) -> UploadLog:
        """The (cached, open) upload log of ``window``."""
        with self._logs_lock:
            log = self._logs.get(window)
            if log is None:
                log = self._logs[window] = UploadLog(self.upload_log_path(window))
            return log

    def read_uploads(self, window: int) -> dict[int, tuple[dict[str, Any], bytes]]:
        """Accepted uploads of ``window`` by uid: ``(receipt, body)``; the first record per uid wins."""
        out: dict[int, tuple[dict[str, Any], bytes]] = {}
        for receipt, body in read_upload_log(self.upload_log_path(window)):
            out.setdefault(int(receipt["uid"]), (receipt, body))
        return out

    def upload_windows(self) -> list[int]:
        """Windows that have an upload log, ascending."""
        found = []
        for path in (self.root / "uploads").iterdir():
            match = _LOG_RE.match(path.name)
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def prune_uploads(self, before_window: int) -> None:
        """Close and delete the upload logs of windows older than ``before_window``."""
        for window in self.upload_windows():
            if window < before_window:
                with self._logs_lock:
                    log = self._logs.pop(window, None)
                if log is not None:
                    log.close()
                self.upload_log_path(window).unlink(missing_ok=True)

    def close(self) -> None:
        """Close every open upload log."""
        with self._logs_lock:
            logs, self._logs = list(self._logs.values()), {}
        for log in logs:
            log.close()


def _records(data: bytes) -> tuple[list[tuple[dict[str, Any], bytes]], int]:
    """Parse records; stop at the first torn or corrupt one. Returns them and the valid length."""
    out, pos = [], 0
    while pos + _FRAME.size <= len(data):
        magic, n_receipt, n_body, digest = _FRAME.unpack_from(data, pos)
        start = pos + _FRAME.size
        end = start + n_receipt + n_body
        if magic != _MAGIC or end > len(data):
            break
        payload = data[start:end]
        if hashlib.blake2b(payload, digest_size=16).digest() != digest:
            break
        out.append((json.loads(payload[:n_receipt]), payload[n_receipt:]))
        pos = end
    return out, pos


def read_upload_log(path: Path) -> list[tuple[dict[str, Any], bytes]]:
    """Every intact record of an upload log, in append order (``[]`` if there is no log)."""
    if not path.exists():
        return []
    return _records(path.read_bytes())[0]


class UploadLog:
    """An append-only, checksummed, group-committed log of one window's accepted uploads.

    Parameters
    ----------
    path
        The log file; an existing log is truncated after its last intact record (a record torn by
        a crash was never acknowledged).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        existed = path.exists()
        if existed:
            valid = _records(path.read_bytes())[1]
            with open(path, "r+b") as fh:
                fh.truncate(valid)
        self._fh: BinaryIO = open(path, "ab")  # noqa: SIM115 - kept open for appends
        if not existed:
            _fsync_dir(path.parent)  # the new name must survive a crash too
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = self._fh.tell()
        self._synced = self._written

    def append(self, receipt: dict[str, Any], body: bytes) -> None:
        """Append one record and return once it is on disk (fsynced)."""
        encoded = json.dumps(receipt, sort_keys=True).encode("utf-8")
        # Hash and write the parts in turn: no copies of a body that may be megabytes.
        hasher = hashlib.blake2b(encoded, digest_size=16)
        hasher.update(body)
        frame = _FRAME.pack(_MAGIC, len(encoded), len(body), hasher.digest())
        with self._write_lock:
            self._fh.write(frame + encoded)
            self._fh.write(body)
            self._fh.flush()
            self._written += _FRAME.size + len(encoded) + len(body)
            mine = self._written
        with self._sync_lock:  # group commit: whoever syncs covers every record written so far
            if self._synced >= mine:
                return
            with self._write_lock:
                target = self._written
            os.fsync(self._fh.fileno())
            self._synced = target

    def close(self) -> None:
        """Close the file (appends after this fail)."""
        with self._write_lock:
            self._fh.close()
