"""Reports a reader can use: every KPI a run emits is catalogued (name, unit, group,
direction); the grouped terminal tables fit the terminal and say how many runs each cell rests
on; the long form for ``--csv``; the timelines' marks (shocks and executed actions only)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from sim.kpi_catalog import CATALOG, GROUPS, describe_kpi, group_kpis, kpi_info, uncatalogued
from sim.kpi_tables import (
    compact_number,
    format_constants,
    format_kpi_tables,
    html_kpi_tables,
    kpi_cell,
    long_kpi_table,
    terminal_width,
)
from sim.timeline_marks import executed_marks, report_marks, shock_marks

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: A tiny network with a validator cabal and every kind of timed shock inside one day.
EVERY_SHOCK = """
name = "every_shock"
horizon_days = 1
[network]
n_subnets = 3
n_uids = 12
n_validators = 3
[stakers]
n_stakers = 4
[validators]
mix = { honest = 0.67, cabal = 0.33 }
cabal_miners = 2
[[shocks]]
kind = "quality_jump"
day = "0.1 days"
netuid = 1
[[shocks]]
kind = "intervention"
day = "0.25 days"
lever = { kind = "set_emission_enabled", netuid = 0, enabled = false }
[[shocks]]
kind = "exploit"
day = "0.25 days"
[[shocks]]
kind = "token_sale"
day = "0.5 days"
amount_tao = "1000 TAO"
[[shocks]]
kind = "scam_subnet"
day = "0.5 days"
netuid = 2
[[shocks]]
kind = "team_exit"
day = "0.6 days"
netuid = 1
"""

_UNITS = {"TAO", "USD", "%", "days", "count", "seats", "index", "USD/TAO", "USD/day", ""}


@pytest.fixture(scope="module")
def every_shock_kpis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    import sim
    from sim.schema import load_scenario

    path = tmp_path_factory.mktemp("catalog") / "every_shock.toml"
    path.write_text(EVERY_SHOCK)
    config = load_scenario(path).config
    out = {}
    for policy in ("sudo", "v2_two_stage"):
        kpis = sim.run(config, policy=policy, seed=3).kpis
        out[policy] = dict(kpis.iloc[0]) if isinstance(kpis, pd.DataFrame) else dict(kpis)
    return out


@pytest.mark.slow
def test_every_kpi_a_real_run_emits_is_catalogued(every_shock_kpis) -> None:
    for policy, kpis in every_shock_kpis.items():
        keys = [k for k in kpis if k not in ("policy", "seed")]
        # The run exercised every family a report groups by.
        for prefix in (
            "harm.",
            "governance.",
            "reaction.",
            "exploits.",
            "interventions.",
            "decentralisation.",
            "cabal.",
            "pnl.",
            "tao.",
            "fp.",
            "fn.",
        ):
            assert any(k.startswith(prefix) for k in keys), (policy, prefix)
        assert uncatalogued(keys) == [], f"{policy}: KPIs without a catalogue entry"


def test_the_catalogue_is_well_formed() -> None:
    assert set(GROUPS) >= {"harm", "speed", "governance", "decentralisation", "economy"}
    seen = set()
    for key, info in CATALOG.items():
        assert info.key == key and info.name and info.name != key
        assert info.group in GROUPS and info.direction in ("lower", "higher", "neither")
        assert info.unit in _UNITS, (key, info.unit)
        assert info.scale == (100.0 if info.unit == "%" else 1.0)
        assert (info.name, info.unit) not in seen, f"two KPIs read {info.label}"
        seen.add((info.name, info.unit))
    # What a reader needs most sits where they look for it.
    assert CATALOG["harm.total"].group == "harm" and CATALOG["harm.total"].direction == "lower"
    assert CATALOG["reaction.days_to_act_mean"].group == "speed"
    assert CATALOG["reaction.days_to_act_mean"].unit == "days"
    assert CATALOG["governance.p_harmful_executed"].unit == "%"
    assert CATALOG["exploits.stolen_tao"].unit == "TAO"


def test_harm_units_agree_with_the_harm_module() -> None:
    from sim.harm import HARM_KPI_UNITS

    same = {
        "fraction": "%",
        "TAO": "TAO",
        "USD": "USD",
        "days": "days",
        "count": "count",
        "USD/TAO": "USD/TAO",
        "USD/day": "USD/day",
    }
    for key, unit in HARM_KPI_UNITS.items():
        assert key in CATALOG, key
        assert CATALOG[key].unit == same[unit], key


def test_patterns_and_unknown_keys() -> None:
    assert kpi_info("market.beta").group == "other"
    assert "beta" in kpi_info("market.beta").name
    assert kpi_info("made.up") is None and uncatalogued(["made.up", "days"]) == ["made.up"]
    unknown = describe_kpi("made.up")
    assert unknown.name == "made.up" and unknown.group == "other"
    grouped = group_kpis(
        [
            "made.up",
            "days",
            "pnl.miners.mean",
            "harm.lost_tao",
            "harm.total",
            "reaction.days_to_act_mean",
        ]
    )
    assert [g for g, _ in grouped] == ["harm", "speed", "economy", "other"]
    assert grouped[0][1] == ["harm.total", "harm.lost_tao"]  # catalogue order
    assert grouped[-1][1] == ["days", "made.up"]  # uncatalogued last


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (0.02471, "0.0247"),
        (-3.456, "-3.46"),
        (14_400.0, "14.4k"),
        (999_600.0, "1M"),
        (2_080_000_000.0, "2.08G"),
        (-73_500_000.0, "-73.5M"),
        (0.000139, "1.4e-4"),
        (math.nan, "n/a"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (336.0, "336"),
        (1.0, "1"),
    ],
)
def test_compact_number(value: float, text: str) -> None:
    assert compact_number(value) == text


def test_cells_show_the_interval_unless_every_run_agrees() -> None:
    assert kpi_cell(0.5, 0.25, 0.75) == "0.5 [0.25, 0.75]"
    assert kpi_cell(0.5, 0.25, 0.75, scale=100) == "50 [25, 75]"
    assert kpi_cell(2.0, 2.0, 2.0) == "2"
    assert kpi_cell(2.0, math.nan, math.nan) == "2"  # one run
    assert kpi_cell(math.nan, math.nan, math.nan) == "n/a"


def _summary(policies: list[str], keys: list[str], n: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for p in policies:
        for k in keys:
            mean = float(rng.normal(0, 1e5))
            rows.append(
                {
                    "policy": p,
                    "kpi": k,
                    "mean": mean,
                    "low": mean - 12_345.6,
                    "high": mean + 12_345.6,
                    "n": n,
                }
            )
    return pd.DataFrame(rows)


_KEYS = [
    "harm.total",
    "harm.lost_tao",
    "reaction.days_to_act_mean",
    "governance.p_harmful_executed",
    "decentralisation.stake_gini",
    "pnl.miners.mean",
    "made.up",
]
_POLICIES = [
    "sudo",
    "multisig",
    "timelock",
    "v2_two_stage",
    "stake_vote",
    "market_only",
    "futarchy",
    "quadratic",
    "conviction",
    "optimistic",
    "council",
    "delegated",
]


@pytest.mark.parametrize("width", [60, 80, 100])
def test_tables_never_exceed_the_width_and_keep_every_policy(width: int) -> None:
    text = format_kpi_tables(_summary(_POLICIES, _KEYS), width=width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    # Policies in column blocks: each group's blocks list every policy once, in order.
    by_group: dict[str, list[str]] = {}
    for block in text.split("\n\n")[:-1]:  # the legend last
        title, header = block.splitlines()[:2]
        group = title.split(" (policies")[0]
        by_group.setdefault(group, []).extend(header.split()[2:])
    assert list(by_group) == [
        "Harm",
        "Reaction speed",
        "Governance outcomes",
        "Decentralisation and capture",
        "Economy and participants",
        "Other",
    ]
    assert all(policies == _POLICIES for policies in by_group.values())
    assert "Harm (policies 1/" in text  # twelve policies do not fit side by side
    harm = [line for line in lines if line.startswith("KPI")]
    # Readable names, units and which way is better; every table says its runs.
    assert "Harm, weighted total" in text and "USD ↓" in text and "harm.total" not in text
    runs_rows = [line for line in lines if line.startswith("runs (n)")]
    assert len(runs_rows) == len(harm)
    assert all(set(line.split()[2:]) == {"8"} for line in runs_rows)
    assert re.search(r"-?\d[\d.]*[kMG]? \[-?[\d.]+[kMG]?, -?[\d.]+[kMG]?\]", text)


def test_default_width_is_the_terminal_up_to_100(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "72")
    assert terminal_width() == 72
    text = format_kpi_tables(_summary(_POLICIES[:4], _KEYS))
    assert max(len(line) for line in text.splitlines()) <= 72
    monkeypatch.setenv("COLUMNS", "250")
    assert terminal_width() == 100


def test_a_cell_resting_on_fewer_runs_says_so() -> None:
    summary = _summary(["sudo", "timelock"], ["harm.total", "exploits.mean_days_to_stop"])
    summary.loc[
        (summary["policy"] == "timelock") & (summary["kpi"] == "exploits.mean_days_to_stop"), "n"
    ] = 3
    text = format_kpi_tables(summary, width=100)
    speed = text.split("Reaction speed", 1)[1]
    row = next(line for line in speed.splitlines() if line.startswith("Exploit start to stop"))
    assert row.endswith("n=3") and row.count("n=") == 1


def test_long_form_and_html_tables() -> None:
    summary = _summary(["sudo", "timelock"], ["governance.p_harmful_executed", "harm.total"])
    long = long_kpi_table(summary)
    assert list(long.columns) == [
        "policy",
        "kpi",
        "name",
        "unit",
        "group",
        "direction",
        "mean",
        "low",
        "high",
        "n",
    ]
    share = long[long["kpi"] == "governance.p_harmful_executed"].iloc[0]
    raw = summary[summary["kpi"] == "governance.p_harmful_executed"].iloc[0]
    assert share["unit"] == "%" and share["mean"] == pytest.approx(raw["mean"] * 100)
    assert share["group"] == "governance" and share["direction"] == "lower"
    tables = html_kpi_tables(summary)
    assert [t["title"] for t in tables] == ["Harm", "Governance outcomes"]
    assert tables[0]["columns"] == ["KPI", "unit", "sudo", "timelock"]
    assert tables[0]["rows"][0] == ["runs (n)", "", "8", "8"]
    assert tables[0]["keys"] == ["", "harm.total"]
    assert (
        format_constants({"days": 40.0, "subnets": 16.0}, width=100)
        == "the same in every run: Horizon 40 days; Subnets 16"
    )


# -- the timelines' marks -----------------------------------------------------------------------
def test_marks_are_the_shocks_and_the_executed_actions_only() -> None:
    configs = [
        {
            "shocks": [
                {"day": 2.0, "kind": "quality_jump", "netuid": 0, "factor": 3.0},
                {
                    "day": 30.0,
                    "kind": "intervention",
                    "lever": {"kind": "set_registration_allowed", "netuid": 0, "allowed": False},
                },
            ]
        }
    ] * 2  # two design points with the same shocks: marked once
    events = pd.DataFrame(
        [
            {"policy": "sudo", "run_id": "a", "day": 30.0, "kind": "proposed", "lever": "x"},
            {
                "policy": "sudo",
                "run_id": "a",
                "day": 30.0,
                "kind": "executed",
                "lever": "set_registration_allowed",
                "lever_detail": '{"kind": "set_registration_allowed", "netuid": 0}',
                "reversal": False,
            },
            {
                "policy": "sudo",
                "run_id": "b",
                "day": 30.5,
                "kind": "executed",
                "lever": "set_registration_allowed",
                "lever_detail": '{"kind": "set_registration_allowed", "netuid": 0}',
                "reversal": False,
            },
            {"policy": "sudo", "run_id": "c", "day": 1.0, "kind": "miner_move", "lever": None},
            {"policy": "timelock", "run_id": "d", "day": 3.0, "kind": "gov_rejected", "lever": "y"},
        ]
    )
    marks = report_marks(events, configs)
    assert list(marks["category"]) == ["shock", "shock", "governance"]
    assert list(marks["label"]) == [
        "quality_jump SN0",
        "intervention set_registration_allowed SN0",
        "sudo: set_registration_allowed SN0 (2/3 seeds)",
    ]
    assert marks["day"].tolist() == [2.0, 30.0, 30.25]
    assert executed_marks(events[events["kind"] != "executed"]).empty
    assert shock_marks([{}]).empty
    assert report_marks(pd.DataFrame(), []).empty


def test_draw_marks_puts_a_rule_per_mark() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from sim.timeline_marks import draw_marks

    marks = report_marks(
        pd.DataFrame(),
        [
            {
                "shocks": [
                    {"day": 1.0, "kind": "exploit"},
                    {"day": 2.0, "kind": "scam_subnet", "netuid": 3},
                ]
            }
        ],
    )
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2, 3], [0, 1, 0, 1])
    draw_marks(ax, marks, time="block")
    rules = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert sorted(line.get_xdata()[0] for line in rules) == [7200.0, 14400.0]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "1: block 7200, shock: exploit" in texts and "scam_subnet SN3" in texts
    plt.close(fig)
