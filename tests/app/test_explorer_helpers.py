"""Unit tests of the explorer's Streamlit-free data layer (``sim.explorer``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import explorer
from sim.explorer._tables import network_columns
from sim.explorer.scenario import MAX_UPLOAD_BYTES
from sim.explorer.yuma import PLAYGROUND_START_BLOCK, PLAYGROUND_TEMPO, playground_state

# -- the package's face ------------------------------------------------------------------------


def test_the_package_exports_exactly_what_the_pages_use() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pages = [root / "app.py", *sorted((root / "app_pages").glob("*.py"))]
    used = {m for page in pages for m in re.findall(r"explorer\.(\w+)", page.read_text())}
    assert used == set(explorer.__all__)


def test_the_data_layer_never_imports_streamlit() -> None:
    import subprocess
    import sys
    from pathlib import Path

    package = Path(explorer.__file__).parent
    for module in package.glob("*.py"):
        assert "streamlit" not in module.read_text(), module.name
    check = "import sys, sim.explorer; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", check], check=True)


# -- playground --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(explorer.PLAYGROUND_PRESETS))
def test_presets_are_valid_square_tables(name: str) -> None:
    stake, weights = explorer.playground_preset(name)
    stake_tao, w = explorer.validate_playground(stake, weights)
    assert w.shape == (len(stake_tao), len(stake_tao))
    assert stake_tao.sum() > 0
    # Only staked uids set weights, and nobody weights itself.
    assert np.all(w[stake_tao == 0] == 0)
    assert np.all(np.diag(w) == 0)


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="known: dissent"):
        explorer.playground_preset("nope")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s, w: s.assign(stake_tao=[-1.0, *s["stake_tao"].tolist()[1:]]), r"stake\[uid 0\]"),
        (lambda s, w: s.assign(stake_tao=0.0), "at least one uid needs stake"),
        (lambda s, w: (s, w.iloc[:, :-1]), "expected a 6×6 table"),
        (lambda s, w: (s, w.map(lambda v: -v if v else 0.0)), r"weights\[0, 3\]"),
        (lambda s, w: (s, w * 0.0), "no staked validator sets any weight"),
    ],
)
def test_validate_playground_names_the_field(edit, message: str) -> None:
    stake, weights = explorer.playground_preset("dissent")
    out = edit(stake, weights)
    stake, weights = out if isinstance(out, tuple) else (out, weights)
    with pytest.raises(ValueError, match=message):
        explorer.validate_playground(stake, weights)


def test_validate_playground_rejects_text() -> None:
    stake, weights = explorer.playground_preset("dissent")
    stake = stake.astype(object)
    stake.iloc[1, 0] = "lots"
    with pytest.raises(ValueError, match=r"stake\[uid 1\].*'lots'"):
        explorer.validate_playground(stake, weights)


def test_playground_state_stores_weights_max_upscaled() -> None:
    stake, weights = explorer.playground_preset("dissent")
    stake_tao, w = explorer.validate_playground(stake, weights)
    state = playground_state(stake_tao, w, epoch=2)
    assert state["n"] == 6
    assert state["block"] == PLAYGROUND_START_BLOCK + 2 * PLAYGROUND_TEMPO
    assert state["stake"][0] == 600 * 10**9
    # Row 0 = [.., 0.5, 0.4, 0.1]: the max becomes 65535 and the rest scale with it.
    assert state["weights"][0] == {"3": 65535, "4": round(0.8 * 65535), "5": round(0.2 * 65535)}
    assert state["weights"][3] == {}
    assert all(lu == state["block"] - 1 for lu in state["last_update"])


# -- graph -------------------------------------------------------------------------------------


def test_stake_weight_graph_roles_and_shares() -> None:
    stake, weights = explorer.playground_preset("dissent")
    stake_tao, w = explorer.validate_playground(stake, weights)
    graph = explorer.stake_weight_graph(stake_tao, w)
    roles = nx.get_node_attributes(graph, "role")
    assert [n for n, r in roles.items() if r == "validator"] == ["uid0", "uid1", "uid2"]
    assert graph["uid2"]["uid5"]["weight"] == pytest.approx(0.8)
    received = nx.get_node_attributes(graph, "received")
    assert sum(received.values()) == pytest.approx(1.0)
    # uid3 receives 0.6*0.5 + 0.3*0.6 + 0.1*0.1 of the stake-weighted vote.
    assert received["uid3"] == pytest.approx(0.49)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 8),
    seed=st.integers(0, 2**16),
)
def test_graph_frames_cover_every_node_and_edge(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    stake = rng.exponential(size=n) * (rng.random(n) < 0.6)
    w = rng.random((n, n)) * (rng.random((n, n)) < 0.5)
    graph = explorer.stake_weight_graph(stake, w)
    nodes, edges = explorer.graph_frames(graph)
    assert len(nodes) == n
    assert len(edges) == graph.number_of_edges()
    assert nodes["y"].between(0, 1).all()
    assert set(nodes["x"]) <= {0.0, 1.0}
    # Every edge starts at a validator (x = 0).
    assert (edges["x"] == 0.0).all()


# -- tables ------------------------------------------------------------------------------------


def _replicates() -> pd.DataFrame:
    rows = []
    for policy, offset in (("sudo", 0.0), ("v2_24h", 10.0)):
        for seed in range(5):
            for day in range(3):
                rows.append(
                    {"policy": policy, "seed": seed, "day": day, "price": offset + seed + day}
                )
    return pd.DataFrame(rows)


def test_band_frame_mean_and_quantiles() -> None:
    bands = explorer.band_frame(_replicates(), "price", level=0.5)
    row = bands[(bands["policy"] == "v2_24h") & (bands["day"] == 2)].iloc[0]
    assert row["mean"] == pytest.approx(14.0)
    assert row["lo"] == pytest.approx(13.0)
    assert row["hi"] == pytest.approx(15.0)
    assert row["n"] == 5
    with pytest.raises(ValueError, match="level"):
        explorer.band_frame(_replicates(), "price", level=1.5)


def test_kpi_summary_interval_contains_mean_and_shrinks_to_point() -> None:
    kpis = pd.DataFrame(
        {"policy": ["a"] * 4 + ["b"], "harm": [1.0, 2.0, 3.0, 4.0, 7.0], "label": list("xxxxy")}
    )
    summary = explorer.kpi_summary(kpis)
    a = summary[summary["policy"] == "a"].iloc[0]
    assert a["kpi"] == "harm"
    assert a["mean"] == pytest.approx(2.5)
    assert a["ci_lo"] < a["mean"] < a["ci_hi"]
    b = summary[summary["policy"] == "b"].iloc[0]
    assert b["n"] == 1 and np.isnan(b["ci_lo"])
    from sim.explorer._tables import kpi_table

    table = kpi_table(summary)
    assert list(table.columns) == ["a", "b"]
    assert list(kpi_table(summary.iloc[::-1]).columns) == ["b", "a"]
    assert table.loc["harm", "b"] == "7"
    assert table.loc["harm", "a"].startswith("2.5 [")


def test_readable_kpi_table_groups_names_and_counts_runs() -> None:
    kpis = pd.DataFrame(
        {
            "policy": ["sudo"] * 3 + ["timelock"] * 3,
            "harm.total": [1e6, 2e6, 3e6, 1e5, 2e5, 3e5],
            "reaction.days_to_act_mean": [0.5, 0.5, 0.5, 2.0, np.nan, 2.5],
            "pnl.tao_holders.mean": [-0.1, -0.2, -0.15, 0.0, 0.01, 0.02],
        }
    )
    table = explorer.readable_kpi_table(explorer.kpi_summary(kpis))
    assert list(table.columns) == ["group", "KPI", "unit", "sudo", "timelock", "key"]
    assert table.iloc[0][["KPI", "sudo", "timelock"]].tolist() == ["runs (n)", "3", "3"]
    assert table["group"].tolist()[1:] == ["Harm", "Reaction speed", "Economy and participants"]
    harm = table.iloc[1]
    assert harm["KPI"] == "Harm, weighted total" and harm["unit"] == "USD ↓"
    assert harm["sudo"] == "2M [-484k, 4.48M]" and harm["key"] == "harm.total"
    speed = table.iloc[2]
    assert speed["sudo"] == "0.5" and speed["timelock"].endswith(" n=2")
    assert table.iloc[3]["unit"] == "% ↑" and table.iloc[3]["sudo"].startswith("-15 [")


def test_time_column_prefers_days_and_errors_clearly() -> None:
    assert explorer.time_column(pd.DataFrame({"block": [1], "day": [0.1]})) == "day"
    with pytest.raises(ValueError, match="no time column"):
        explorer.time_column(pd.DataFrame({"x": [1]}))


def test_stable_hash_ignores_key_order_and_sees_values() -> None:
    assert explorer.stable_hash({"a": 1, "b": [1, 2]}) == explorer.stable_hash(
        {"b": [1, 2], "a": 1}
    )
    assert explorer.stable_hash({"a": 1}) != explorer.stable_hash({"a": 2})


# -- live status -------------------------------------------------------------------------------


class _StatusHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/status":
            body = json.dumps(
                {"window": 7, "phase": "gather", "miners": [{"uid": 1, "score": 0.5}]}
            )
            code = 200
        elif self.path == "/list":
            body, code = "[1, 2]", 200
        else:
            body, code = "nope", 503
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:  # keep test output quiet
        return


@pytest.fixture()
def status_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_status_reads_json_and_splits_tables(status_server: str) -> None:
    status = explorer.fetch_status(f"{status_server}/status")
    scalars, tables = explorer.status_tables(status)
    assert scalars == {"window": 7, "phase": "gather"}
    assert tables["miners"].to_dict("records") == [{"uid": 1, "score": 0.5}]


@pytest.mark.parametrize(
    ("path", "message"), [("/broken", "HTTP 503"), ("/list", "expected an object")]
)
def test_fetch_status_bad_answers(status_server: str, path: str, message: str) -> None:
    with pytest.raises(explorer.StatusUnavailableError, match=message):
        explorer.fetch_status(f"{status_server}{path}")


def test_fetch_status_unreachable_and_malformed() -> None:
    from tests.app.conftest import free_port

    with pytest.raises(explorer.StatusUnavailableError, match="cannot reach"):
        explorer.fetch_status(f"http://127.0.0.1:{free_port()}/status", timeout_s=1.0)
    with pytest.raises(explorer.StatusUnavailableError, match="http:// or https://"):
        explorer.fetch_status("ftp://example.org")


def test_live_network_view_of_a_status() -> None:
    status = {
        "windows": [
            {
                "window": 4,
                "network": {
                    "window": 4,
                    "day": 1.25,
                    "emission_tao": 2.0,
                    "alpha_price": 0.01,
                    "emission_share": 0.0,
                    "emission_enabled": False,
                },
            },
            {"window": 5},  # a window closed before the network existed: no row
        ],
        "simulated_network": {
            "scenario": "s",
            "policy": "sudo",
            "netuid": 0,
            "last_window": {"day": 1.25, "alpha_price": 0.01, "emission_enabled": False},
            "events": [{"kind": "executed", "lever_detail": {"kind": "x"}}],
        },
    }
    view = explorer.live_network(status)
    assert dict(view.metrics)["Emission enabled"] is False
    assert dict(view.metrics)["Simulated day"] == 1.25
    assert view.payments.to_dict("records") == [
        {
            "window": 4,
            "day": 1.25,
            "emission_tao": 2.0,
            "alpha_price": 0.01,
            "emission_share": 0.0,
            "emission_enabled": False,
        }
    ]
    assert view.events.loc[0, "lever_detail"] == "{'kind': 'x'}"
    assert explorer.live_network({"simulated_network": None}) is None


# -- run shaping -------------------------------------------------------------------------------


def _per_subnet_series() -> pd.DataFrame:
    """Two subnets, three days: network columns repeated on each subnet's row, as sim.run does."""
    rows = []
    for day in range(3):
        for netuid, share in ((0, 0.7 - 0.1 * day), (1, 0.3 + 0.1 * day)):
            rows.append(
                {
                    "day": float(day),
                    "netuid": netuid,
                    "tao_price_usd": 300.0 + day,
                    "emission_share": share,
                    "income_miners_tao": 10.0 * (netuid + 1),
                    "alpha_price_tao": 0.01 * (netuid + 1),
                }
            )
    return pd.DataFrame(rows)


def test_network_frame_keeps_network_columns_and_sums_incomes() -> None:
    series = _per_subnet_series()
    assert network_columns(series) == ["tao_price_usd"]
    network = explorer.network_frame(series)
    assert list(network["day"]) == [0.0, 1.0, 2.0]
    assert list(network["tao_price_usd"]) == [300.0, 301.0, 302.0]
    assert list(network["income_miners_tao"]) == [30.0, 30.0, 30.0]
    # Day 0: SN0 holds 70 % (one subnet is a majority); day 2: 50/50 needs both.
    assert list(network["emission_nakamoto_50"]) == [1, 1, 2]
    subnets = explorer.subnet_frame(series)
    assert set(subnets["netuid"]) == {"SN0", "SN1"}
    assert "tao_price_usd" not in subnets


@pytest.mark.parametrize(
    ("shares", "expected"), [([1.0], 1), ([0.5, 0.5], 2), ([0.25] * 4, 3), ([0.0, 0.0], 0)]
)
def test_nakamoto_coefficient(shares: list[float], expected: int) -> None:
    series = pd.DataFrame({"day": 0.0, "netuid": range(len(shares)), "emission_share": shares})
    assert list(explorer.network_frame(series)["emission_nakamoto_50"]) == [expected]


def test_one_nakamoto_coefficient_everywhere() -> None:
    """The explorer once kept its own copy, which said 3 for [1, 1] at θ = 1 (two parties!)."""
    from protocol.governance.metrics import nakamoto_coefficient
    from sim.metrics import nakamoto

    assert nakamoto_coefficient([1, 1], 1.0) == nakamoto([1, 1], 1.0) == 2
    assert not hasattr(explorer, "nakamoto")
    rng = np.random.default_rng(3)
    for _ in range(50):
        shares = rng.dirichlet(np.ones(rng.integers(1, 9))) * (rng.random() < 0.9)
        series = pd.DataFrame({"day": 0.0, "netuid": range(len(shares)), "emission_share": shares})
        expected = nakamoto_coefficient(shares, 0.5)
        assert explorer.network_frame(series)["emission_nakamoto_50"].iloc[0] == expected
        assert nakamoto(shares, 0.5) == expected


def test_subnets_sort_by_netuid_and_keep_their_colours() -> None:
    labels = [explorer.subnet_label(i) for i in (10, 2, 0, 1, 19, 11)]
    domain, colours = explorer.subnet_scale(labels + labels)
    assert domain == ["SN0", "SN1", "SN2", "SN10", "SN11", "SN19"]
    # A subnet's colour depends on its netuid only, whatever else is on the chart.
    assert dict(zip(*explorer.subnet_scale(["SN10", "SN3"]), strict=True))["SN10"] == colours[3]
    all_twenty = explorer.subnet_scale([explorer.subnet_label(i) for i in range(20)])[1]
    assert len(set(all_twenty)) == 20
    series = pd.DataFrame({"day": 0.0, "netuid": [10, 2, 1], "alpha_price_tao": [0.1, 0.2, 0.3]})
    subnets = explorer.subnet_frame(series)
    assert list(subnets["netuid"]) == ["SN10", "SN2", "SN1"]
    assert list(subnets["subnet_order"]) == [10, 2, 1]


def test_policies_keep_their_colours_whatever_is_chosen() -> None:
    registered = ["cosmos", "stake_vote", "sudo", "timelock", "v2_two_stage"]
    domain, colours = explorer.policy_scale(["sudo", "cosmos", "sudo"], registered)
    assert domain == ["sudo", "cosmos"]
    alone = dict(zip(*explorer.policy_scale(["sudo"], registered), strict=True))
    assert alone["sudo"] == colours[0]
    everything = explorer.policy_scale(registered, registered)[1]
    assert len(set(everything)) == len(registered)
    # A policy the registry does not know still gets a colour no registered one has.
    extra = dict(zip(*explorer.policy_scale(["mine", "sudo"], registered), strict=True))
    assert extra["mine"] not in everything


def test_timeline_marks_governance_and_shocks_others_on_demand() -> None:
    from sim.config import SimConfig

    config = SimConfig(
        horizon_days=4,
        shocks=[
            {"kind": "quality_jump", "day": 1, "netuid": 0, "factor": 2.0},
            {"kind": "intervention", "day": 2,
             "lever": {"kind": "set_emission_enabled", "netuid": 1, "enabled": False}},
        ],
    )  # fmt: skip
    events = pd.DataFrame(
        [
            {"block": 14_400, "kind": "proposed", "lever": "set_emission_enabled"},
            {"block": 14_400, "kind": "executed", "lever": "set_emission_enabled"},
            {"block": 21_600, "kind": "proposal_refused", "lever": "set_emission_enabled"},
            {"block": 7_200, "kind": "quality_jump", "netuid": 0.0},
            {"block": 3_600, "kind": "miner_move", "netuid": 1.0},
        ]
    )
    marks = explorer.timeline_marks(events, time="day", shocks=config.shocks)
    assert set(marks["category"]) == {"governance", "shock"}
    governance = marks[marks["category"] == "governance"]
    assert list(governance["day"]) == [2.0, 3.0]
    assert list(governance["label"]) == [
        "executed set_emission_enabled",
        "proposal_refused set_emission_enabled",
    ]
    shocks = marks[marks["category"] == "shock"].set_index("day")["label"]
    assert shocks[1.0] == "shock: quality_jump SN0"
    assert shocks[2.0] == "shock: intervention set_emission_enabled SN1"
    everything = explorer.timeline_marks(events, time="day", shocks=config.shocks, other=True)
    assert len(everything) == len(marks) + 3
    assert set(everything.loc[everything["category"] == "other", "label"]) == {
        "proposed set_emission_enabled",
        "quality_jump 0",
        "miner_move 1",
    }
    in_blocks = explorer.timeline_marks(events, time="block", shocks=config.shocks)
    assert sorted(in_blocks["block"]) == [7_200, 14_400, 14_400, 21_600]


def test_event_marks_convert_blocks_and_label_without_nans() -> None:
    events = pd.DataFrame(
        [
            {"block": 14_400, "kind": "executed", "lever": "set_emission_enabled", "netuid": 0.0},
            {"block": 7_200, "kind": "token_sale", "lever": None, "netuid": np.nan},
        ]
    )
    marks = explorer.timeline_marks(events, time="day", other=True)
    assert list(marks["day"]) == [2.0, 1.0]
    assert list(marks["label"]) == ["executed set_emission_enabled 0", "token_sale"]
    assert explorer.timeline_marks(pd.DataFrame(), time="day").empty


def _tiny_study(root) -> None:
    """A two-policy study written through the real planner and store (stand-in runs)."""
    from sim.runner import plan_study
    from sim.store import StudyStore

    plan = plan_study([{}], [{}], ["sudo", "timelock"], replications=2, entropy=11)
    store = StudyStore(root)
    store.create(plan.sweep, plan.scenarios, plan.manifest)
    manifest = store.manifest()
    writer = store.writer()
    for idx, row in manifest.iterrows():
        harm = 1.0 if row["policy"] == "sudo" else 2.0
        tables = {
            "timeseries": pd.DataFrame({"day": [0.0, 1.0], "x": [1.0, harm + row["replication"]]}),
            "kpis": pd.DataFrame([{"harm": harm + row["replication"], "n": 8}]),
        }
        if row["policy"] == "timelock":
            tables["events"] = pd.DataFrame([{"day": 1.0, "kind": "executed", "targets": [0]}])
        manifest.loc[idx, "part_path"] = writer.write(row["run_id"], 0, tables)
        manifest.loc[idx, "status"] = "SUCCEEDED"
    store.write_manifest(manifest)


def test_stacked_runs_from_a_study_and_constant_kpis(tmp_path) -> None:
    from sim.explorer.compare import stacked_runs
    from sim.sampling import run_seed

    _tiny_study(tmp_path / "study")
    stacked = stacked_runs(tmp_path / "study")
    assert len(stacked.timeseries) == 8
    assert list(stacked.kpis.columns[:4]) == ["policy", "point", "replication", "seed"]
    assert "run_id" not in stacked.kpis and "attempt" not in stacked.timeseries
    seeds = stacked.kpis.groupby("policy")["seed"].apply(sorted)
    assert seeds["sudo"] == seeds["timelock"] == sorted(run_seed(11, 0, r) for r in range(2))
    assert set(stacked.events["policy"]) == {"timelock"}
    varying, constant = explorer.split_constant_kpis(stacked.kpis.drop(columns=["seed"]))
    assert constant == {"n": 8}
    assert "harm" in varying and "n" not in varying
    verdict = explorer.comparison_verdict(stacked.kpis)
    assert verdict.line.startswith("verdict:")


def test_verdict_lines_split_clauses_not_parentheses() -> None:
    line = "verdict: 1 of 2 do less harm than sudo (harm: x; sudo 3); least harm: a (b; c); fast"
    assert explorer.verdict_lines(line) == [
        "1 of 2 do less harm than sudo (harm: x; sudo 3)",
        "least harm: a (b; c)",
        "fast",
    ]
    assert explorer.verdict_lines("verdict: no harm KPI") == ["no harm KPI"]


def test_harm_by_policy_signs_and_intervals() -> None:
    kpis = pd.DataFrame({"policy": ["a"] * 3 + ["b"] * 3, "pnl": [-1.0, -2.0, -3.0, 0.0, 0.0, 0.0]})
    harm = explorer.harm_by_policy(kpis, "loss = -pnl").set_index("policy")
    assert harm.loc["a", "harm"] == pytest.approx(2.0)  # a loss of 2 on average: harm 2
    assert harm.loc["a", "ci_lo"] < 2.0 < harm.loc["a", "ci_hi"]
    assert harm.loc["b", "harm"] == 0.0
    assert explorer.harm_by_policy(kpis, None).empty
    assert explorer.harm_by_policy(kpis, "missing").empty


def test_parquet_download_round_trips() -> None:
    frame = pd.DataFrame({"a": [1, 2], "nested": [[1, 2], {"k": 1}]})
    back = pd.read_parquet(__import__("io").BytesIO(explorer.to_parquet_bytes(frame)))
    assert list(back["a"]) == [1, 2]
    assert list(back["nested"]) == ["[1, 2]", "{'k': 1}"]


def test_default_policies_are_light_and_prefer_the_scenarios_selection() -> None:
    available = ["cosmos", "stake_vote", "sudo", "timelock", "v2_two_stage", "opengov"]
    assert explorer.default_policies(available, ["cosmos"]) == ["cosmos"]
    # No selection, or "all" (every policy): the four defaults, not everything.
    assert explorer.default_policies(available) == [
        "sudo",
        "v2_two_stage",
        "timelock",
        "stake_vote",
    ]
    assert explorer.default_policies(available, available) == explorer.default_policies(available)
    assert explorer.default_policies(["cosmos", "sudo", "timelock", "v2_two_stage"]) == [
        "sudo",
        "v2_two_stage",
        "timelock",
    ]
    assert explorer.default_policies(["a", "b", "c", "d", "e"]) == ["a", "b", "c", "d"]
    assert len(explorer.default_policies(available, [*available[::-1], "x"], limit=2)) == 2


# -- comparisons on the study runner -----------------------------------------------------------


def _tiny_config():
    from sim.config import SimConfig

    return SimConfig(
        name="tiny",
        horizon_days=2,
        network={"n_subnets": 2, "n_uids": 8, "n_validators": 2},
        stakers={"n_stakers": 4},
        shocks=[{"kind": "intervention", "day": 1,
                 "lever": {"kind": "set_emission_enabled", "netuid": 0, "enabled": False}}],
        governance={"actors": [{"count": 1, "intent": "self_interested", "label": "authority"}]},
    )  # fmt: skip


def test_comparison_runs_a_study_with_common_seeds() -> None:
    """The runner's sequential executor here; the page's process pool is tested through the page
    (``test_app_pages.py::test_compare_runs_policies_on_common_seeds``) and the browser tour."""
    import sim
    from sim.runner import result_tables
    from sim.sampling import run_seed

    job = explorer.Comparison(
        _tiny_config(), ["sudo", "v2_two_stage"], seeds=2, entropy=7, executor="sequential"
    ).start()
    try:
        assert job.wait(timeout=300)
        state = job.progress()
        assert (state.done, state.total, state.failed, state.cancelled) == (4, 4, 0, False)
        assert state.fraction == 1.0
        results = job.results()
        assert job.failures().empty
        assert job.seeds == [run_seed(7, 0, r) for r in range(2)]
        seeds = results.kpis.groupby("policy")["seed"].apply(sorted)
        assert seeds["sudo"] == seeds["v2_two_stage"] == sorted(job.seeds)
        # The stored run is sim.run's, bit for bit (workers run the same model with the seed).
        row = results.kpis[results.kpis["policy"] == "sudo"].iloc[0]
        again = sim.run(_tiny_config(), policy="sudo", seed=int(row["seed"]))
        stored = result_tables(again, "kpi")["kpis"].iloc[0]
        assert row["tao.price_end_usd"] == stored["tao.price_end_usd"]
        executed = results.kpis.set_index("policy")["interventions.executed"]
        assert (executed["sudo"] >= 1).all() and (executed["v2_two_stage"] == 0).all()
    finally:
        job.discard()
    assert job.wait(timeout=60)
    assert not job.root.exists()


def test_comparison_cancel_keeps_what_finished() -> None:
    import time

    job = explorer.Comparison(
        _tiny_config(), ["sudo", "timelock", "v2_two_stage"], seeds=3, entropy=1,
        executor="sequential",
    ).start()  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while job.progress().done < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        job.cancel()
        assert job.wait(timeout=120)
        state = job.progress()
        assert state.cancelled and state.finished
        assert 1 <= state.done < state.total == 9
        results = job.results()
        assert len(results.kpis) == state.done
        failures = job.failures()
        assert len(failures) == state.total - state.done
        assert set(failures["status"]) == {"ABORTED"}
        assert failures["error"].str.contains("cancelled").all()
    finally:
        job.discard()
    assert not job.root.exists()


def test_comparison_rejects_bad_requests() -> None:
    with pytest.raises(ValueError, match="seeds"):
        explorer.Comparison(_tiny_config(), ["sudo"], seeds=0, entropy=0)
    with pytest.raises(ValueError, match="policies"):
        explorer.Comparison(_tiny_config(), [], seeds=1, entropy=0)


# -- uploads -----------------------------------------------------------------------------------


def test_upload_may_extend_a_library_scenario() -> None:
    library = explorer.library_scenarios()
    if "baseline" not in library:
        pytest.skip("no baseline scenario in the library")
    scenario = explorer.load_uploaded_scenario(
        b'extends = "baseline.toml"\nname = "mine"\nhorizon_days = 7\n', "mine.toml"
    )
    base = explorer.load_library_scenario("baseline")
    assert scenario.name == "mine"
    assert scenario.config.horizon_days == 7
    assert scenario.config.network == base.config.network


def test_upload_limits() -> None:
    with pytest.raises(ValueError, match="too large"):
        explorer.load_uploaded_scenario(b"#" * (MAX_UPLOAD_BYTES + 1), "big.toml")
    with pytest.raises(ValueError, match="unknown library scenario"):
        explorer.load_library_scenario("no-such-scenario")


# -- running -----------------------------------------------------------------------------------


def test_run_scenario_equals_sim_run_and_snapshots_the_network() -> None:
    import sim
    from sim.config import SimConfig
    from sim.runner import result_tables

    config = SimConfig(
        horizon_days=1,
        network={"n_subnets": 2, "n_uids": 8, "n_validators": 2},
        stakers={"n_stakers": 4},
    )
    tables = explorer.run_scenario(config, policy="sudo", seed=3)
    reference = result_tables(sim.run(config, policy="sudo", seed=3), "trajectory")
    pd.testing.assert_frame_equal(tables.timeseries, reference["timeseries"])
    assert tables.kpis == pytest.approx(reference["kpis"].iloc[0].to_dict(), nan_ok=True)
    snapshot = tables.snapshot
    assert snapshot is not None
    assert snapshot.stake.shape == (2, 8) and snapshot.weights.shape == (2, 8, 8)
    assert snapshot.roles[0].count("validator") == 2
    # Only validators set weights on chain.
    setters = {i for i in range(8) if snapshot.weights[0, i].sum() > 0}
    assert setters <= {i for i, r in enumerate(snapshot.roles[0]) if r == "validator"}


def test_readable_run_kpis_and_constants() -> None:
    kpis = {
        "policy": "sudo",
        "seed": 3,
        "days": 40.0,
        "harm.total": 1.25e6,
        "governance.p_harmful_executed": 0.5,
        "made.up": 2,
    }
    table = explorer.readable_run_kpis(kpis)
    assert list(table.columns) == ["group", "KPI", "unit", "value", "key"]
    assert table["key"].tolist() == [
        "harm.total",
        "governance.p_harmful_executed",
        "days",
        "made.up",
    ]
    assert table.iloc[0][["group", "KPI", "unit", "value"]].tolist() == [
        "Harm",
        "Harm, weighted total",
        "USD ↓",
        "1.25M",
    ]
    assert table.iloc[1]["value"] == "50" and table.iloc[1]["unit"] == "% ↓"
    assert table.iloc[3]["KPI"] == "made.up" and table.iloc[3]["group"] == "Other"
    line = explorer.readable_constants({"days": 40.0, "pnl.miners.n": 220})
    assert line == "the same in every run: Horizon 40 days; Miners 220"
    assert explorer.readable_constants({}) == ""
