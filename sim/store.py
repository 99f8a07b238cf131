"""The study directory: manifest, scenarios and per-run Parquet parts (see docs/studies.md).

Layout::

    <study>/
      sweep.json                       root entropy, code and package versions, run config, created
      manifest.parquet                 one row per run (status, attempt, seed, spawn key, error,
                                       the market constants drawn for it, ...)
      scenarios.parquet                one row per scenario: scenario_id, policy, design point, config
      timeseries/part-<run_id>-a<attempt>.parquet   per-run tables written by the workers
      kpis/part-<run_id>-a<attempt>.parquet
      events/part-<run_id>-a<attempt>.parquet

The driver writes ``sweep.json``, ``scenarios.parquet`` and an all-``PENDING`` manifest before it
submits anything; manifest updates are atomic (temporary file, then ``os.replace``). Workers write
their own part files through a picklable :class:`PartWriter` and return only a small reference.

A run is stored once however often it is executed. Executors deliver at least once: Dask
re-runs a task whose worker died, possibly after that worker wrote its parts, and a lost
worker's late copy may still finish. So a part file is named after ``(run_id, attempt)`` alone
and replaced atomically (every execution of one attempt writes the same rows: same config,
same seed), and readers take only the part file the manifest records for a succeeded run,
joined on ``(run_id, attempt)``; rows of superseded, unrecorded or stray attempts are ignored.
:meth:`StudyStore.query` runs DuckDB SQL over views of all this.
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

import numpy as np
import pandas as pd

__all__ = [
    "MANIFEST_COLUMNS",
    "RESULT_TABLES",
    "STATUSES",
    "PartWriter",
    "StoreError",
    "StudyStore",
    "atomic_write_parquet",
    "part_name",
]

#: Run statuses.
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
    "market_draw",
)


class StoreError(ValueError):
    """A study directory that is missing, incomplete or already in use."""


def atomic_write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` so a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


#: Column dtypes whose one-row values go to Arrow as plain Python scalars, typed as pandas
#: would type them (float64 -> double, int64 -> int64, bool -> bool, str -> string,
#: None -> null).
_PLAIN_DTYPES = frozenset(np.dtype(t) for t in ("float64", "int64", "bool", "object"))


def _plain_record(frame: pd.DataFrame) -> dict[str, Any] | None:
    """The only row of ``frame`` as Python scalars, or None when it needs the pandas path.

    A KPI table is one row of ~100 columns: converting it through pandas' per-column machinery
    costs ~25 ms a run, as a record ~1 ms, with the same Arrow types (the stored values and
    their types are identical; only pandas' schema metadata is left out, which DuckDB, the
    store's reader, never uses).
    """
    if len(frame) != 1:
        return None
    record: dict[str, Any] = {}
    for name, column in frame.items():
        dtype = column.dtype
        is_text = isinstance(dtype, pd.StringDtype)
        if not is_text and (not isinstance(dtype, np.dtype) or dtype not in _PLAIN_DTYPES):
            return None
        value = column.to_numpy()[0]
        if isinstance(value, np.generic):
            value = value.item()
        if is_text:
            if not isinstance(value, str):
                return None  # a missing string: the pandas path types it
            value = _LargeString(value)
        elif value is not None and not isinstance(value, str | bool | int | float):
            return None  # lists, dicts, numpy objects: JSON through the pandas path
        record[str(name)] = value
    return record


class _LargeString(str):
    """A value of a pandas ``str`` column: Arrow ``large_string``, as pandas writes it."""


#: Whether pandas stores a column of Python strings as its ``str`` dtype (pandas 3), which
#: Arrow receives as ``large_string`` (pandas 2: ``object``, Arrow ``string``).
_STR_DTYPE_IS_LARGE: bool = str(pd.Series(["x"]).dtype) in ("str", "string")


def _atomic_write_record(record: Mapping[str, Any], path: Path) -> None:
    """Write one row of plain Python scalars to ``path`` as Parquet, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [
        pa.field(name, pa.large_string()) if isinstance(value, _LargeString) else (name, None)
        for name, value in record.items()
    ]
    table = pa.Table.from_pylist([dict(record)])
    if any(isinstance(f, pa.Field) for f in fields):
        table = table.cast(
            pa.schema(
                [
                    f if isinstance(f, pa.Field) else table.schema.field(n)
                    for f, n in zip(fields, record, strict=True)
                ]
            )
        )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    pq.write_table(table, tmp)
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
    return values.map(
        lambda v: (
            v
            if v is None or (isinstance(v, float) and v != v)
            else json.dumps(v, default=str, sort_keys=True)
        )
    )


def _worker_token() -> str:
    """A name unique to this worker process (host, pid and a random tag)."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
    return f"{host}{os.getpid()}x{uuid.uuid4().hex[:6]}"


# One token per process, created on first use (the manifest's ``worker`` column); a replaced
# worker process gets a new one, even where it reuses a pid.
_TOKEN: dict[str, Any] = {"token": None}

# The last read of each result table in this process: table -> (StudyStore._version, frame).
_TABLE_CACHE: dict[str, tuple[tuple[Any, ...], pd.DataFrame]] = {}

# Characters a run id may hold: it names part files.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# The column DuckDB fills with each row's part file path (dropped from the views).
_PART_FILE_COLUMN = "_govsim_part_file"


def part_name(run_id: str, attempt: int) -> str:
    """The part file name of one attempt of a run: ``part-<run_id>-a<attempt>.parquet``.

    Every execution of the same attempt writes the same name, so a re-delivered task replaces
    its own earlier file instead of adding a second copy of the run.

    Raises
    ------
    StoreError
        If ``run_id`` is not a plain file-name token or ``attempt`` is negative.
    """
    if not _RUN_ID.fullmatch(run_id):
        raise StoreError(f"run_id {run_id!r}: expected letters, digits, '_', '.' or '-' only")
    if int(attempt) < 0:
        raise StoreError(f"attempt {attempt}: expected a non-negative integer")
    return f"part-{run_id}-a{int(attempt):04d}.parquet"


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
        """Write one attempt's tables, each to its part file (atomically replaced if present).

        Every table gets ``run_id`` and ``attempt`` columns first. Writing the same attempt
        again (a retried or duplicated task) replaces the files: the run is stored once.
        Returns the part file name, the same in every table directory (:func:`part_name`).

        Raises
        ------
        StoreError
            If this process does not see the study (no ``sweep.json`` under ``root``), or for
            an unknown table or a run id unfit for a file name.
        """
        name = part_name(run_id, attempt)
        root = Path(self.root)
        if not (root / "sweep.json").is_file():
            # A worker on another machine that does not mount the study would otherwise write
            # a private copy the driver never sees, and the run would look stored.
            raise StoreError(
                f"{root}: no study here as seen from {socket.gethostname()}; the study "
                "directory must be on a filesystem every worker mounts at the same path"
            )
        for table, frame in tables.items():
            if table not in RESULT_TABLES:
                raise StoreError(f"table {table!r}: expected one of {', '.join(RESULT_TABLES)}")
            directory = root / table
            directory.mkdir(parents=True, exist_ok=True)
            out = frame.drop(columns=[c for c in ("run_id", "attempt") if c in frame.columns])
            record = _plain_record(out)
            if record is not None:  # a KPI row: the fast path, same stored values and types
                run_key = _LargeString(run_id) if _STR_DTYPE_IS_LARGE else run_id
                _atomic_write_record(
                    {"run_id": run_key, "attempt": int(attempt), **record}, directory / name
                )
                continue
            out = out.reset_index(drop=True)
            for col in out.columns:
                # object columns, and pandas 3's string columns (object ones before pandas 3;
                # select_dtypes("object") stops including them in a later pandas)
                if out[col].dtype == object or isinstance(out[col].dtype, pd.StringDtype):
                    out[col] = _jsonable_column(out[col])
            out.insert(0, "attempt", int(attempt))
            out.insert(0, "run_id", run_id)
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
            raise StoreError(
                f"{self.root}: not a study directory (no sweep.json / manifest.parquet)"
            )

    def sweep(self) -> dict[str, Any]:
        """The contents of ``sweep.json``."""
        self._require()
        return json.loads(self.sweep_path.read_text())

    def manifest(self) -> pd.DataFrame:
        """The manifest, one row per run."""
        self._require()
        manifest = pd.read_parquet(self.manifest_path)
        if "market_draw" not in manifest.columns:  # a study written before the outer Monte Carlo
            manifest["market_draw"] = None
        return manifest

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
        ``kpis``, ``events``) holds only rows of the part file the manifest records for a
        succeeded run (its attempt, its ``part_path``), with ``scenario_id``, ``policy``,
        ``point`` and ``replication`` joined in: any other copy of a run is never read.
        """
        import duckdb

        self._require()
        con = duckdb.connect()
        con.execute(f"CREATE VIEW manifest AS SELECT * FROM read_parquet('{self.manifest_path}')")
        con.execute(f"CREATE VIEW scenarios AS SELECT * FROM read_parquet('{self.scenarios_path}')")
        con.execute("CREATE VIEW runs AS SELECT * FROM manifest WHERE status = 'SUCCEEDED'")
        for table in RESULT_TABLES:
            pattern = self._parts_glob(table)
            if pattern is None:
                con.execute(f"CREATE VIEW {table} AS SELECT run_id, attempt FROM runs WHERE false")
                continue
            con.execute(
                f"CREATE VIEW {table} AS SELECT r.scenario_id, r.policy, r.point, r.replication, "
                f"t.* EXCLUDE ({_PART_FILE_COLUMN}) FROM read_parquet('{pattern}', "
                f"union_by_name = true, filename = '{_PART_FILE_COLUMN}') t "
                "JOIN runs r ON t.run_id = r.run_id AND t.attempt = r.attempt "
                f"AND parse_filename(t.{_PART_FILE_COLUMN}) = r.part_path"
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

    def _version(self, table: str) -> tuple[Any, ...] | None:
        """What changes whenever ``table``'s rows may change: the manifest's and the part
        directory's identity and modification times (a part file written or replaced, the
        manifest rewritten); None when they cannot be read."""
        try:
            manifest = self.manifest_path.stat()
            parts = (self.root / table).stat() if (self.root / table).exists() else None
        except OSError:
            return None
        part_key = None if parts is None else (parts.st_ino, parts.st_mtime_ns)
        return (
            str(self.root),
            table,
            manifest.st_ino,
            manifest.st_mtime_ns,
            manifest.st_size,
            part_key,
        )

    def table(self, table: str) -> pd.DataFrame:
        """All rows of ``table`` for succeeded runs, sorted by run and row order.

        The last read of each table in this process is kept while the study on disk is
        unchanged (:meth:`_version`): a summary, its analysis and its report read a study of a
        thousand part files once, not once each (reading the time series in between does
        not drop the KPIs). Callers get their own copy.
        """
        if table not in RESULT_TABLES:
            raise StoreError(f"table {table!r}: expected one of {', '.join(RESULT_TABLES)}")
        version = self._version(table)
        cached = _TABLE_CACHE.get(table)
        if version is not None and cached is not None and cached[0] == version:
            return cached[1].copy()
        frame = self.query(f"SELECT * FROM {table}")
        if not frame.empty:
            # Row order inside one part file is the run's order; keep it, sort runs by id.
            frame = frame.sort_values("run_id", kind="stable").reset_index(drop=True)
        if version is not None and version == self._version(table):  # unchanged while read
            _TABLE_CACHE[table] = (version, frame.copy())
        return frame
