"""The sweep runner: executor independence, failures as data, kill + resume, replay, seeds."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.config import SimConfig
from sim.executors import ExecutorError, SequentialExecutor, make_executor
from sim.runner import RunConfig, plan_study, replay, resume, run_cost, run_one, run_sweep
from sim.sampling import run_seed, run_seed_sequence
from sim.schema import load_scenario
from sim.store import StudyStore
from tests.scenarios.tiny import REPO, tiny_overrides, tiny_set_args

COVENANT = REPO / "scenarios" / "covenant_2026.toml"
POLICIES = ["sudo", "v2_two_stage"]
# Columns that legitimately differ between executors (who ran it, when, how long).
VOLATILE = ["part_path", "wall_s", "worker"]


def _plan(
    n_points: int = 2,
    replications: int = 2,
    *,
    entropy: int = 20260410,
    model: str = "sim:run",
    horizon: float = 0.5,
):
    scenario = load_scenario(COVENANT)
    points = scenario.points()[:n_points]
    configs = [
        scenario.to_config(overrides={**p, **tiny_overrides(scenario, horizon)}).model_dump(
            mode="json"
        )
        for p in points
    ]
    return plan_study(
        configs, points, POLICIES, replications, entropy=entropy, run_config=RunConfig(model=model)
    )


def _tables(root: Path) -> dict[str, pd.DataFrame]:
    store = StudyStore(root)
    manifest = store.manifest().drop(columns=[*VOLATILE, "attempt"]).sort_values("run_id")
    out = {"manifest": manifest.reset_index(drop=True), "scenarios": store.scenarios()}
    for table in ("kpis", "timeseries", "events"):
        frame = store.table(table).drop(columns=["attempt"])
        out[table] = frame.reset_index(drop=True)
    return out


def _assert_same_store(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)


def test_seeds_follow_the_spawn_key_rule() -> None:
    entropy = 1234567
    child = np.random.SeedSequence(entropy).spawn(3)[2].spawn(5)[4]
    assert (
        run_seed_sequence(entropy, 2, 4).generate_state(4).tolist()
        == child.generate_state(4).tolist()
    )
    expected = int(child.generate_state(1, dtype=np.uint64)[0] >> 1)
    assert run_seed(entropy, 2, 4) == expected
    plan = _plan(1, 3, entropy=entropy)
    manifest = plan.manifest
    # Common random numbers: both policies of a point share the seeds of its replications.
    for (_, rep), group in manifest.groupby(["point", "replication"]):
        assert group["seed"].nunique() == 1
        assert group["seed"].iloc[0] == run_seed(entropy, 0, rep)
    assert manifest["run_id"].is_unique


def test_identical_stores_on_sequential_process_and_dask(
    tmp_path: Path, process_pool: Executor
) -> None:
    plan = _plan(2, 1, horizon=0.25)
    roots = {}
    for kind in ("sequential", "process", "dask-local"):
        roots[kind] = tmp_path / kind
        with contextlib.ExitStack() as stack:
            executor = (
                process_pool
                if kind == "process"  # two workers, shared (conftest)
                else stack.enter_context(make_executor(kind, workers=2))
            )
            summary = run_sweep(plan, roots[kind], executor, progress=False)
        assert summary.counts == {"SUCCEEDED": 4}, kind
    _assert_same_store(roots["sequential"], roots["process"])
    _assert_same_store(roots["sequential"], roots["dask-local"])
    # Process workers wrote their own part files.
    workers = StudyStore(roots["process"]).manifest()["worker"]
    assert workers.nunique() >= 1 and not workers.str.contains("None").any()


def test_one_failing_run_never_loses_the_others(tmp_path: Path) -> None:
    scenario = load_scenario(COVENANT)
    tiny = tiny_overrides(scenario, 0.25)
    points = [{}, {"name": "fail-me"}, {"horizon_days": 0.3}]
    configs = [scenario.to_config(overrides={**tiny, **p}).model_dump(mode="json") for p in points]
    plan = plan_study(
        configs,
        points,
        ["sudo"],
        2,
        entropy=5,
        run_config=RunConfig(model="tests.scenarios.tiny:run_or_fail"),
    )
    summary = run_sweep(plan, tmp_path / "s", SequentialExecutor(), progress=False)
    assert summary.counts == {"SUCCEEDED": 4, "FAILED": 2}
    store = StudyStore(tmp_path / "s")
    manifest = store.manifest().set_index("run_id")
    failed = manifest[manifest["status"] == "FAILED"]
    assert set(failed["point"]) == {1}
    assert failed["error"].str.contains("injected failure").all()
    assert failed["traceback"].str.contains("RuntimeError").all()
    kpis = store.table("kpis")
    assert sorted(kpis["run_id"]) == sorted(manifest.index[manifest["status"] == "SUCCEEDED"])
    # Resume re-runs only the failed runs (still failing: attempt 1), never the others.
    before = store.manifest().set_index("run_id")
    summary = resume(tmp_path / "s", SequentialExecutor(), progress=False)
    after = store.manifest().set_index("run_id")
    assert summary.counts == {"SUCCEEDED": 4, "FAILED": 2}
    assert (after.loc[failed.index, "attempt"] == 1).all()
    ok = before.index[before["status"] == "SUCCEEDED"]
    pd.testing.assert_frame_equal(before.loc[ok], after.loc[ok])


def test_run_one_returns_failures_as_data(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    writer = pickle.loads(pickle.dumps(store.writer()))
    ref = run_one(
        "s0000-r0000", 0, SimConfig(horizon_days=0.1), "no_such_policy", 1, RunConfig(), writer
    )
    assert ref.status == "FAILED" and "governance.policy" in ref.error
    assert ref.part_path is None and ref.traceback


def test_workers_receive_the_validated_config_objects(tmp_path: Path) -> None:
    # The plan carries SimConfig objects and the workers get them as they are: never
    # re-validated from the stored JSON (a config whose validation would fail in a worker
    # still runs, because the worker does not validate).
    seen: list[object] = []

    class Capture(SequentialExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(args[2])
            return super().submit(fn, *args, **kwargs)

    config = SimConfig(
        horizon_days=0.25,
        network={"n_subnets": 2, "n_uids": 8, "n_validators": 2},
        stakers={"n_stakers": 4},
    )
    plan = plan_study(
        [config],
        [{}],
        ["sudo"],
        2,
        entropy=1,
        run_config=RunConfig(model="tests.scenarios.tiny:run_or_fail", mode="kpi"),
    )
    assert plan.configs == (config,)
    assert run_sweep(plan, tmp_path / "s", Capture(), progress=False).ok
    assert len(seen) == 2 and all(c is config for c in seen)
    # The store keeps the JSON in the config's own key order (a replay must see the same mix).
    stored = json.loads(StudyStore(tmp_path / "s").scenarios()["config"].iloc[0])
    assert list(stored["miners"]["mix"]) == list(config.miners.mix)


def test_plan_validates_plain_mappings_once_naming_the_point() -> None:
    from sim.schema import ScenarioError

    plan = plan_study([{"horizon_days": "2 days"}], [{}], ["sudo"], 1, entropy=1)
    assert plan.configs[0].horizon_days == 2.0
    with pytest.raises(ScenarioError, match=r"design point 0: horizon_days: got -1"):
        plan_study([{"horizon_days": -1}], [{}], ["sudo"], 1, entropy=1)


def test_replay_is_bit_identical(tmp_path: Path) -> None:
    plan = _plan(1, 2)
    run_sweep(plan, tmp_path / "s", SequentialExecutor(), progress=False)
    store = StudyStore(tmp_path / "s")
    series = store.table("timeseries")
    target = "s0001-r0001"
    result = replay(tmp_path / "s", target)
    stored = series[series["run_id"] == target].drop(
        columns=["run_id", "attempt", "scenario_id", "policy", "point", "replication"]
    )
    pd.testing.assert_frame_equal(
        result.timeseries.reset_index(drop=True),
        stored.reset_index(drop=True),
        check_exact=True,
        check_dtype=False,
    )
    kpis = store.query(f"SELECT * FROM kpis WHERE run_id = '{target}'")
    assert kpis["tao.price_end_usd"].iloc[0] == result.kpis["tao.price_end_usd"]
    # A different replication is a different path.
    other = series[series["run_id"] == "s0001-r0000"]["tao_price_usd"].to_numpy()
    assert not np.array_equal(other, stored["tao_price_usd"].to_numpy())


def test_kill_mid_way_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    scenario = load_scenario(COVENANT)
    common = [
        "--policies",
        ",".join(POLICIES),
        "--seeds",
        "3",
        "--entropy",
        "99",
        "--quiet",
        *tiny_set_args(scenario, 0.75),
    ]
    killed = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "sim",
        "compare",
        str(COVENANT),
        "--out",
        str(killed),
        "--executor",
        "process",
        "--workers",
        "1",
        "--no-report",
        *common,
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    manifest_path = killed / "manifest.parquet"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if manifest_path.exists():
                status = pd.read_parquet(manifest_path)["status"]
                if (status == "SUCCEEDED").sum() >= 1:
                    break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its pool worker
        proc.wait(timeout=30)
    status = pd.read_parquet(manifest_path)["status"]
    assert 1 <= (status == "SUCCEEDED").sum() < len(status), "the study was not killed mid-way"
    summary = resume(killed, SequentialExecutor(), progress=False)
    assert summary.ok
    assert json.loads((killed / "sweep.json").read_text())["entropy"] == "99"

    # The same study, uninterrupted.
    from click.testing import CliRunner

    from sim.cli import main

    whole = tmp_path / "whole"
    result = CliRunner().invoke(
        main,
        [
            "compare",
            str(COVENANT),
            "--out",
            str(whole),
            "--executor",
            "sequential",
            "--no-report",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "verdict:" in result.output
    _assert_same_store(killed, whole)


def test_unknown_executor_is_a_clear_error() -> None:
    with pytest.raises(ExecutorError, match="expected one of"):
        make_executor("threads")
    with pytest.raises(ExecutorError, match="workers"):
        make_executor("process", workers=0)


def test_ray_backend_when_installed(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    with make_executor("ray", workers=1) as executor:
        assert executor.submit(sum, [1, 2]).result() == 3
    # The same small sweep on Ray gives the sequential executor's store.
    plan = _plan(2, 1, horizon=0.25)
    roots = {kind: tmp_path / kind for kind in ("sequential", "ray")}
    for kind, root in roots.items():
        with make_executor(kind, workers=2) as executor:
            assert run_sweep(plan, root, executor, progress=False).counts == {"SUCCEEDED": 4}
    _assert_same_store(roots["sequential"], roots["ray"])


def test_process_pool_replaces_workers_past_their_task_quota() -> None:
    # The stdlib's max_tasks_per_child hangs on Python 3.11 once the quota is used up with work
    # still queued; the recycling pool must keep going and use fresh worker processes.
    # No preload: six workers start here, and the recycling, not the simulator's imports, is
    # under test (the preload is test_executors.py's).
    with make_executor("process", workers=2, max_tasks_per_child=2, preload=()) as executor:
        assert executor.max_workers == 2
        batches = []
        for _ in range(3):
            futures = [executor.submit(os.getpid) for _ in range(2)]
            batches.append({f.result(timeout=60) for f in futures})
    # The first four tasks used up the quota: the last two ran in new processes.
    assert batches[2].isdisjoint(batches[0] | batches[1])


class _RecordingExecutor(SequentialExecutor):
    """Runs tasks in the calling thread and remembers the order of the run ids it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.order.append(args[0])
        return super().submit(fn, *args, **kwargs)


def test_run_cost_grows_with_horizon_network_and_step() -> None:
    base = {
        "horizon_days": 10.0,
        "step": "tempo",
        "network": {"n_subnets": 4, "n_uids": 16, "tempo": 360},
        "stakers": {"n_stakers": 8},
    }
    assert run_cost({**base, "horizon_days": 20.0}) == 2 * run_cost(base)
    assert run_cost({**base, "network": {**base["network"], "n_subnets": 8}}) > run_cost(base)
    assert run_cost({**base, "step": "block"}) == 360 * run_cost(base)
    assert run_cost({**base, "step": "day"}) < run_cost(base)


def test_costly_runs_are_submitted_first(tmp_path: Path) -> None:
    scenario = load_scenario(COVENANT)
    points = [{"horizon_days": 0.25}, {"horizon_days": 0.5}]
    configs = [
        scenario.to_config(overrides={**tiny_overrides(scenario, 0.25), **p}).model_dump(
            mode="json"
        )
        for p in points
    ]
    plan = plan_study(
        configs,
        points,
        ["sudo"],
        2,
        entropy=3,
        run_config=RunConfig(model="tests.scenarios.tiny:run_or_fail", mode="kpi"),
    )
    executor = _RecordingExecutor()
    assert run_sweep(plan, tmp_path / "s", executor, progress=False).ok
    # Point 1 (twice the horizon) first; ties keep the manifest's order.
    assert executor.order == ["s0001-r0000", "s0001-r0001", "s0000-r0000", "s0000-r0001"]


class _CountingValidator:
    """Wraps a pydantic validator and counts full validations."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.calls = 0

    def validate_python(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        return self.inner.validate_python(*args, **kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_a_study_validates_its_scenario_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file is validated once at the boundary (with its --set values); planning, the
    # workers and `sim.run` (policy and seed overrides included) never validate it again.
    from click.testing import CliRunner

    from sim.cli import main

    scenario = tmp_path / "tiny.toml"
    scenario.write_text(
        'name = "tiny"\nhorizon_days = 0.25\n[network]\nn_subnets = 2\n'
        "n_uids = 8\nn_validators = 2\n[stakers]\nn_stakers = 4\n"
    )
    counter = _CountingValidator(SimConfig.__pydantic_validator__)
    monkeypatch.setattr(SimConfig, "__pydantic_validator__", counter)
    result = CliRunner().invoke(
        main,
        [
            "compare",
            str(scenario),
            "--policies",
            "sudo,v2_two_stage",
            "--seeds",
            "2",
            "--executor",
            "sequential",
            "--quiet",
            "--no-report",
            "--out",
            str(tmp_path / "s"),
            "--set",
            'network.tempo="1 hour"',
            "--model",
            "tests.scenarios.tiny:run_or_fail",
            "--mode",
            "kpi",
            "--no-conformance",
        ],
    )  # the check validates configs of its own
    assert result.exit_code == 0, result.output
    assert "4 runs: 4 SUCCEEDED" in result.output
    assert counter.calls == 1


def test_shared_prefix_stores_what_one_run_per_task_stores(tmp_path: Path) -> None:
    """Runs of one point and seed go in one task (sim.fork) and store exactly what they store
    when each runs alone; off, every run is its own task."""
    plan = _plan(1, 4, horizon=0.5)  # 8 runs: two a task, four tasks for the one worker
    submitted: dict[bool, list[str]] = {}
    for share in (True, False):
        executor = SequentialExecutor()
        calls = submitted.setdefault(share, [])
        original = executor.submit

        def submit(fn, *args, _calls=calls, _original=original, **kw):
            _calls.append(fn.__name__)
            return _original(fn, *args, **kw)

        executor.submit = submit  # type: ignore[method-assign]
        summary = run_sweep(
            plan, tmp_path / str(share), executor, progress=False, share_prefix=share
        )
        assert summary.counts == {"SUCCEEDED": 8}
    assert submitted[True] == ["run_bundle"] * 4  # 4 seeds x (sudo, v2_two_stage)
    assert submitted[False] == ["run_one"] * 8
    _assert_same_store(tmp_path / "True", tmp_path / "False")


def test_a_failing_run_in_a_bundle_keeps_the_others(tmp_path: Path) -> None:
    from sim.runner import run_bundle

    plan = _plan(1, 1, horizon=0.25)
    store = StudyStore(tmp_path / "s")
    store.create(plan.sweep, plan.scenarios, plan.manifest)
    config = plan.configs[0]
    items = [
        ("a", 0, config, "sudo"),
        ("b", 0, config, "no_such_policy"),
        ("c", 0, config, "multisig"),
    ]
    refs = run_bundle(items, 7, RunConfig(), store.writer())
    assert [r.status for r in refs] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert "governance.policy" in refs[1].error and "ValueError" in refs[1].traceback
    # what the bundle stored for "c" is what run_one stores for it
    alone = run_one("c", 1, config, "multisig", 7, RunConfig(), store.writer())
    assert alone.status == "SUCCEEDED" and alone.n_rows == refs[2].n_rows
    for table in ("kpis", "timeseries"):
        shared = pd.read_parquet(tmp_path / "s" / table / refs[2].part_path)
        own = pd.read_parquet(tmp_path / "s" / table / alone.part_path)
        pd.testing.assert_frame_equal(
            shared.drop(columns="attempt"), own.drop(columns="attempt"), check_exact=True
        )


def test_bundles_group_point_seed_and_draw_and_leave_every_worker_work() -> None:
    from sim.runner import _bundles

    manifest = pd.DataFrame(
        {
            "point": [0, 0, 0, 0, 1, 1, 0, 0],
            "seed": [5, 5, 6, 6, 5, 5, 5, 5],
            "market_draw": [None, None, None, None, None, None, '{"a": 1}', '{"a": 1}'],
        }
    )
    order = list(range(8))
    pairs = [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert _bundles(order, manifest, RunConfig(), 0, True) == pairs  # workers unknown
    assert _bundles(order, manifest, RunConfig(), 1, True) == pairs  # 4 tasks for 1 worker
    assert _bundles(order, manifest, RunConfig(), 2, True) == [[k] for k in order]
    assert _bundles(order, manifest, RunConfig(), 1, False) == [[k] for k in order]
    own_model = RunConfig(model="tests.scenarios.tiny:run_or_fail")
    assert _bundles(order, manifest, own_model, 1, True) == [[k] for k in order]
    # the order of the groups is the order of their first runs (costly runs first)
    assert _bundles([4, 0, 5, 1], manifest, RunConfig(), 0, True) == [[4, 5], [0, 1]]
    # a large group is cut into near-equal tasks: 12 policies of one seed, 2 workers
    one_seed = pd.DataFrame({"point": [0] * 12, "seed": [1] * 12, "market_draw": [None] * 12})
    assert [len(t) for t in _bundles(range(12), one_seed, RunConfig(), 2, True)] == [2] * 6
    assert [len(t) for t in _bundles(range(12), one_seed, RunConfig(), 1, True)] == [3] * 4


def test_points_that_differ_only_in_late_fields_go_together() -> None:
    from sim.runner import _bundles, prefix_group

    config = load_scenario(COVENANT).to_config()

    def point(section: str, name: str, value: Any) -> SimConfig:
        body = config.model_dump(mode="json")
        body[section][name] = value
        return SimConfig.model_validate(body)

    late = [
        point("market", "contagion_beta", 9.0),
        point("owners", "exit_quality_factor", 0.0),
        point("governance", "correlation", 1.0),
        config.with_policy("multisig"),
    ]
    early = point("market", "premium_half_life_days", 3.0)
    assert {prefix_group(c) for c in (config, *late)} == {prefix_group(config)}
    assert prefix_group(early) != prefix_group(config)
    groups_of = {0: prefix_group(config), 1: prefix_group(late[0]), 2: prefix_group(early)}
    manifest = pd.DataFrame(
        {
            "scenario_id": [0, 1, 2, 0, 1, 2],
            "point": [0, 1, 2, 0, 1, 2],
            "seed": [5, 5, 5, 6, 6, 6],
            "market_draw": [None] * 6,
        }
    )
    assert _bundles(range(6), manifest, RunConfig(), 0, True, groups_of) == [
        [0, 1],
        [2],
        [3, 4],
        [5],
    ]
