"""The study directory: manifest, scenarios and per-worker Parquet parts (engine.md §3.4).

Layout::

    <study>/
      sweep.json                       root entropy, code and package versions, run config, created
      manifest.parquet                 one row per run (status, attempt, seed, spawn key, error, ...)
      scenarios.parquet                one row per scenario: scenario_id, policy, design point, config
      timeseries/part-<worker>-<n>.parquet   per-run tables written by the workers
      kpis/part-<worker>-<n>.parquet
      events/part-<worker>-<n>.parquet

The driver writes ``sweep.json``, ``scenarios.parquet`` and an all-``PENDING`` manifest before it
submits anything; manifest updates are atomic (temporary file, then ``os.replace``). Workers write
their own part files through a picklable :class:`PartWriter` and return only a small reference.
Readers join parts with the manifest on ``(run_id, attempt)``, so rows of superseded or
unrecorded attempts are ignored. :meth:`StudyStore.query` runs DuckDB SQL over views of all this.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "MANIFEST_COLUMNS",
    "RESULT_TABLES",
    "STATUSES",
    "PartWriter",
    "StoreError",
    "StudyStore",
    "atomic_write_parquet",
]

#: Run statuses (engine.md §3.2).
STATUSES: tuple[str, ...] = ("PENDING", "SUCCEEDED", "FAILED", "ABORTED")
#: Tables a run may produce; each lives in its own sub-directory of part files.
RESULT_TABLES: tuple[str, ...] = ("timeseries", "kpis", "events")
#: Manifest columns, in order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "run_id",
    "scenario_id",
    "point",
    "policy",
    "replication",
    "spawn_key",
    "seed",
    "status",
    "attempt",
    "part_path",
    "n_rows",
    "wall_s",
    "worker",
    "error",
    "traceback",
)


class StoreError(ValueError):
    """A study directory that is missing, incomplete or already in use."""


def atomic_write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` so a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _jsonable_column(values: pd.Series) -> pd.Series:
    """Make an object column storable: strings stay, anything else mixed in becomes JSON.

    Parquet needs one type per column; event logs mix numbers, strings, lists and dicts.
    """
    if values.dtype != object:
        return values
    present = values.dropna()
    if present.map(lambda v: isinstance(v, str)).all():
        return values
    if present.map(lambda v: isinstance(v, bool)).all():
        return values.astype("boolean")
    if present.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool)).all():
        return values.astype(float)
    return values.map(lambda v: v if v is None or (isinstance(v, float) and v != v)
                      else json.dumps(v, default=str, sort_keys=True))


def _worker_token() -> str:
    """A name unique to this worker process (host, pid and a random tag)."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
    return f"{host}{os.getpid()}x{uuid.uuid4().hex[:6]}"


# One token per process, created on first use; a replaced worker process gets a new one, so
# two processes (or two resumes that reuse a pid) never write the same part file.
_TOKEN: dict[str, Any] = {"token": None, "count": 0}


@dataclass(frozen=True)
class PartWriter:
    """Write-only handle to a study's part files; picklable, used inside workers.

    Parameters
    ----------
    root
        The study directory (absolute, as seen by the workers).
    """

    root: str

    def write(self, run_id: str, attempt: int, tables: Mapping[str, pd.DataFrame]) -> str:
        """Write one run's tables to new part files of this worker.

        Every table gets ``run_id`` and ``attempt`` columns first. Returns the part file name,
        the same in every table directory (``part-<worker>-<n>.parquet``).
        """
        if _TOKEN["token"] is None:
            _TOKEN["token"] = _worker_token()
        _TOKEN["count"] += 1
        name = f"part-{_TOKEN['token']}-{_TOKEN['count']:05d}.parquet"
        for table, frame in tables.items():
            if table not in RESULT_TABLES:
                raise StoreError(f"table {table!r}: expected one of {', '.join(RESULT_TABLES)}")
            out = frame.reset_index(drop=True).copy()
            for col in ("run_id", "attempt"):
                if col in out.columns:
                    out = out.drop(columns=col)
            out = out.apply(_jsonable_column)
            out.insert(0, "attempt", int(attempt))
            out.insert(0, "run_id", run_id)
            directory = Path(self.root) / table
            directory.mkdir(parents=True, exist_ok=True)
            atomic_write_parquet(out, directory / name)
        return name


class StudyStore:
    """A study directory on disk.

    Parameters
    ----------
    root
        The directory; :meth:`create` makes it, the other methods expect it to exist.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    # -- paths -------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        """``manifest.parquet``."""
        return self.root / "manifest.parquet"

    @property
    def scenarios_path(self) -> Path:
        """``scenarios.parquet``."""
        return self.root / "scenarios.parquet"

    @property
    def sweep_path(self) -> Path:
        """``sweep.json``."""
        return self.root / "sweep.json"

    def exists(self) -> bool:
        """True when the directory holds a study (``sweep.json`` and a manifest)."""
        return self.sweep_path.is_file() and self.manifest_path.is_file()

    # -- writing (driver) --------------------------------------------------------------------
    def create(
        self,
        sweep: Mapping[str, Any],
        scenarios: pd.DataFrame,
        manifest: pd.DataFrame,
        *,
        overwrite: bool = False,
    ) -> None:
        """Write ``sweep.json``, ``scenarios.parquet`` and the initial manifest.

        Raises
        ------
        StoreError
            If a study already exists there and ``overwrite`` is false.
        """
        if self.exists() and not overwrite:
            raise StoreError(
                f"{self.root}: a study already exists here; use `govsim resume {self.root}` "
                "or choose another --out"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for table in RESULT_TABLES:
                for part in (self.root / table).glob("part-*.parquet"):
                    part.unlink()
        tmp = self.sweep_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(dict(sweep), indent=2, sort_keys=True, default=str))
        os.replace(tmp, self.sweep_path)
        atomic_write_parquet(scenarios.apply(_jsonable_column), self.scenarios_path)
        self.write_manifest(manifest)

    def write_manifest(self, manifest: pd.DataFrame) -> None:
        """Atomically replace the manifest."""
        missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
        if missing:
            raise StoreError(f"manifest: missing columns {missing}")
        atomic_write_parquet(manifest.loc[:, list(MANIFEST_COLUMNS)], self.manifest_path)

    def writer(self) -> PartWriter:
        """The picklable writer handed to workers."""
        return PartWriter(str(self.root))

    # -- reading -----------------------------------------------------------------------------
    def _require(self) -> None:
        if not self.exists():
            raise StoreError(f"{self.root}: not a study directory (no sweep.json / manifest.parquet)")

    def sweep(self) -> dict[str, Any]:
        """The contents of ``sweep.json``."""
        self._require()
        return json.loads(self.sweep_path.read_text())

    def manifest(self) -> pd.DataFrame:
        """The manifest, one row per run."""
        self._require()
        return pd.read_parquet(self.manifest_path)

    def scenarios(self) -> pd.DataFrame:
        """The scenario table."""
        self._require()
        return pd.read_parquet(self.scenarios_path)

    def _parts_glob(self, table: str) -> str | None:
        directory = self.root / table
        if not any(directory.glob("part-*.parquet")):
            return None
        return str(directory / "part-*.parquet")

    def connect(self) -> Any:
        """A DuckDB connection with views ``manifest``, ``scenarios``, ``runs`` and each table.

        ``runs`` is the manifest's succeeded runs; each result table view (``timeseries``,
        ``kpis``, ``events``) holds only rows of the attempt the manifest records as succeeded,
        with ``scenario_id``, ``policy``, ``point`` and ``replication`` joined in.
        """
        import duckdb

        self._require()
        con = duckdb.connect()
        con.execute(
            f"CREATE VIEW manifest AS SELECT * FROM read_parquet('{self.manifest_path}')"
        )
        con.execute(
            f"CREATE VIEW scenarios AS SELECT * FROM read_parquet('{self.scenarios_path}')"
        )
        con.execute("CREATE VIEW runs AS SELECT * FROM manifest WHERE status = 'SUCCEEDED'")
        for table in RESULT_TABLES:
            pattern = self._parts_glob(table)
            if pattern is None:
                con.execute(
                    f"CREATE VIEW {table} AS SELECT run_id, attempt FROM runs WHERE false"
                )
                continue
            con.execute(
                f"CREATE VIEW {table} AS SELECT r.scenario_id, r.policy, r.point, r.replication, "
                f"t.* FROM read_parquet('{pattern}', union_by_name = true) t "
                "JOIN runs r USING (run_id, attempt)"
            )
        return con

    def query(self, sql: str) -> pd.DataFrame:
        """Run DuckDB ``sql`` over the study's views (see :meth:`connect`) into a DataFrame.

        Examples
        --------
        ``store.query("SELECT policy, avg(tao_price_final) FROM kpis GROUP BY policy")``
        """
        con = self.connect()
        try:
            return con.execute(sql).df()
        finally:
            con.close()

    def table(self, table: str) -> pd.DataFrame:
        """All rows of ``table`` for succeeded runs, sorted by run and row order."""
        if table not in RESULT_TABLES:
            raise StoreError(f"table {table!r}: expected one of {', '.join(RESULT_TABLES)}")
        frame = self.query(f"SELECT * FROM {table}")
        if frame.empty:
            return frame
        # Row order inside one part file is the run's order; keep it, sort runs by id.
        return frame.sort_values("run_id", kind="stable").reset_index(drop=True)
