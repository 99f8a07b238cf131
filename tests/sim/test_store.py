"""The study store: layout, atomic manifest, attempt-aware joins, DuckDB views."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from sim.runner import plan_study
from sim.store import MANIFEST_COLUMNS, StoreError, StudyStore


def _plan(n_runs: int = 2):
    configs = [{"horizon_days": 1.0}]
    return plan_study(configs, [{"network.kappa": 0.5}], ["sudo"], n_runs, entropy=3)


def _store(tmp_path: Path, n_runs: int = 2) -> StudyStore:
    plan = _plan(n_runs)
    store = StudyStore(tmp_path / "study")
    store.create(plan.sweep, plan.scenarios, plan.manifest)
    return store


def test_layout_written_before_any_run(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.exists()
    manifest = store.manifest()
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert (manifest["status"] == "PENDING").all()
    scenarios = store.scenarios()
    assert list(scenarios["network.kappa"]) == [0.5]
    assert store.sweep()["entropy"] == "3"
    with pytest.raises(StoreError, match="already exists"):
        store.create(store.sweep(), scenarios, manifest)


def test_writer_is_picklable_and_parts_join_on_recorded_attempt(tmp_path: Path) -> None:
    store = _store(tmp_path)
    writer = pickle.loads(pickle.dumps(store.writer()))
    kpis = pd.DataFrame([{"x": 1.0, "policy": "ignored-by-join"}]).drop(columns="policy")
    old = writer.write("s0000-r0000", 0, {"kpis": kpis})
    new = writer.write("s0000-r0000", 1, {"kpis": kpis.assign(x=2.0)})
    assert old != new and (store.root / "kpis" / new).is_file()
    manifest = store.manifest()
    # Nothing succeeded yet: the views are empty even though part files exist.
    assert store.table("kpis").empty
    manifest.loc[0, ["status", "attempt", "part_path"]] = ["SUCCEEDED", 1, new]
    store.write_manifest(manifest)
    table = store.table("kpis")
    assert list(table["x"]) == [2.0]  # the superseded attempt 0 is ignored
    assert list(table["policy"]) == ["sudo"]  # joined from the manifest


def test_event_columns_with_mixed_types_are_stored(tmp_path: Path) -> None:
    store = _store(tmp_path)
    events = pd.DataFrame(
        [
            {"kind": "a", "info": 3, "lever": {"netuid": 1}},
            {"kind": "b", "info": "text", "lever": None},
        ]
    )
    name = store.writer().write("s0000-r0000", 0, {"events": events})
    manifest = store.manifest()
    manifest.loc[0, ["status", "part_path"]] = ["SUCCEEDED", name]
    store.write_manifest(manifest)
    table = store.table("events")
    assert list(table["kind"]) == ["a", "b"]
    assert table["lever"].iloc[0] == '{"netuid": 1}'


def test_manifest_write_is_atomic(tmp_path: Path) -> None:
    store = _store(tmp_path)
    manifest = store.manifest()
    store.write_manifest(manifest.assign(status="ABORTED"))
    assert set(store.manifest()["status"]) == {"ABORTED"}
    assert not list(store.root.glob(".manifest*.tmp"))
    with pytest.raises(StoreError, match="missing columns"):
        store.write_manifest(manifest.drop(columns=["seed"]))
    assert len(store.manifest()) == 2  # the failed write left the old manifest intact


def test_query_runs_duckdb_over_the_directory(tmp_path: Path) -> None:
    store = _store(tmp_path, n_runs=3)
    writer = store.writer()
    manifest = store.manifest()
    for i, run_id in enumerate(manifest["run_id"]):
        name = writer.write(run_id, 0, {"kpis": pd.DataFrame([{"x": float(i)}])})
        manifest.loc[i, ["status", "part_path"]] = ["SUCCEEDED", name]
    store.write_manifest(manifest)
    out = store.query("SELECT policy, count(*) AS n, avg(x) AS mean_x FROM kpis GROUP BY policy")
    assert out.to_dict("records") == [{"policy": "sudo", "n": 3, "mean_x": 1.0}]
    joined = store.query(
        'SELECT k.x, s."network.kappa" AS kappa FROM kpis k '
        "JOIN scenarios s USING (scenario_id) ORDER BY k.x"
    )
    assert list(joined["kappa"]) == [0.5, 0.5, 0.5]


def test_not_a_study_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a study directory"):
        StudyStore(tmp_path).manifest()


def test_each_table_is_read_once_while_the_study_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    writer = store.writer()
    part = writer.write(
        "s0000-r0000",
        0,
        {"kpis": pd.DataFrame([{"x": 1.0}]), "timeseries": pd.DataFrame([{"day": 0.0}])},
    )
    manifest = store.manifest()
    manifest.loc[0, ["status", "part_path"]] = ["SUCCEEDED", part]
    store.write_manifest(manifest)
    reads: list[str] = []
    query = StudyStore.query

    def counted(self: StudyStore, sql: str) -> pd.DataFrame:
        reads.append(sql)
        return query(self, sql)

    monkeypatch.setattr(StudyStore, "query", counted)
    first = store.table("kpis")
    store.table("timeseries")  # a summary's figures, between its table and its analysis
    again = store.table("kpis")
    assert reads == ["SELECT * FROM kpis", "SELECT * FROM timeseries"]
    pd.testing.assert_frame_equal(first, again)
    again.loc[0, "x"] = 5.0  # callers get their own copy
    assert store.table("kpis").loc[0, "x"] == 1.0
    store.write_manifest(store.manifest())  # the study changed on disk: read again
    store.table("kpis")
    assert reads[-1] == "SELECT * FROM kpis" and len(reads) == 3
