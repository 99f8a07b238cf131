"""The Studies page's data: find study directories and shape a study's stored time series.

A study is what ``govsim compare`` / ``govsim sweep`` write (``sim.store.StudyStore``); the page
reads it through the store, never through the files directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ._tables import TIME_COLUMNS, network_frame_by_run

__all__ = ["STUDY_SEARCH_ROOTS", "find_studies", "study_network_series"]

#: Directories (relative to where the explorer runs) searched for studies, as the README's
#: commands name them.
STUDY_SEARCH_ROOTS: tuple[str, ...] = ("studies", "runs", "out")


def find_studies(roots: Sequence[str | Path]) -> list[Path]:
    """Study directories (holding ``sweep.json`` and ``manifest.parquet``) in or under ``roots``.

    Looks at each root and its direct sub-directories; missing roots are skipped.
    """
    found: list[Path] = []
    for root in roots:
        base = Path(root)
        if not base.is_dir():
            continue
        for candidate in [base, *sorted(p for p in base.iterdir() if p.is_dir())]:
            if (candidate / "sweep.json").is_file() and (candidate / "manifest.parquet").is_file():
                found.append(candidate)
    return found


def study_network_series(timeseries: pd.DataFrame) -> tuple[str, pd.DataFrame] | None:
    """A study's stored time series as network-wide values, one series per run.

    Parameters
    ----------
    timeseries
        ``StudyStore.table("timeseries")``.

    Returns
    -------
    (time, frame) or None
        The time column and one row per (run, time) with ``policy`` and ``run_id`` kept;
        ``None`` when the table has no time column.
    """
    time = next((c for c in TIME_COLUMNS if c in timeseries.columns), None)
    if time is None:
        return None
    per_run = timeseries.drop(
        columns=["scenario_id", "point", "replication", "attempt"], errors="ignore"
    )
    return time, network_frame_by_run(per_run, keys=("policy", "run_id"))
