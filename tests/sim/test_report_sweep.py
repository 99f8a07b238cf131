"""Sweeps report their design: per-point KPIs with the axes as columns, response plots, the
verdict over the design and per point; the HTML from the jinja2 template; ``--json``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.report import (
    Design,
    StudyStatus,
    StudySummary,
    format_study,
    response_figures,
    study_design,
)
from sim.stats import grouped_mean_ci, mean_ci
from tests.scenarios.tiny import REPO

CABAL = REPO / "scenarios" / "validator_cabal.toml"

TINY_CABAL = f"""
extends = "{CABAL.as_posix()}"
description = "a tiny cabal <script>alert(1)</script>"
horizon_days = 0.5
[network]
n_subnets = 3
n_uids = 16
n_validators = 4
[stakers]
n_stakers = 4
[sweep]
design = "list"
records = [
  {{ "validators.mix" = {{ honest = 0.75, cabal = 0.25 }}, "network.kappa" = 0.5 }},
  {{ "validators.mix" = {{ honest = 0.5, cabal = 0.5 }}, "network.kappa" = 0.5 }},
  {{ "validators.mix" = {{ honest = 0.75, cabal = 0.25 }}, "network.kappa" = 0.6 }},
  {{ "validators.mix" = {{ honest = 0.5, cabal = 0.5 }}, "network.kappa" = 0.6 }},
]
"""
AXES = ["validators.mix.cabal", "network.kappa"]


@pytest.fixture(scope="module")
def sweep_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("sweep")
    scenario = root / "tiny_cabal.toml"
    scenario.write_text(TINY_CABAL)
    out = root / "study"
    result = CliRunner().invoke(
        main,
        [
            "sweep",
            str(scenario),
            "--policies",
            "sudo,multisig",
            "--seeds",
            "2",
            "--entropy",
            "5",
            "--executor",
            "sequential",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def sweep_report(
    sweep_study: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path, Path]:
    """``govsim report STUDY --json --csv CSV --out HTML`` once, for the three tests that read
    its JSON, its CSV and its HTML (each report draws ~9 figures: the costly part)."""
    out, _ = sweep_study
    root = tmp_path_factory.mktemp("sweep-report")
    csv, html = root / "sweep.csv", root / "again.html"
    result = CliRunner().invoke(
        main, ["report", str(out), "--json", "--csv", str(csv), "--out", str(html)]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), csv, html


def _table_rows(output: str, first_header: str) -> list[list[str]]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_sweep_prints_the_kpi_per_design_point_with_the_axes_as_columns(
    sweep_study: tuple[Path, str],
) -> None:
    out, output = sweep_study
    assert "16 runs: 16 SUCCEEDED" in output
    assert "4 design points over validators.mix.cabal x network.kappa" in output
    assert "cabal.gain per design point" in output and "the default for validator_cabal" in output
    header = next(line for line in output.splitlines() if line.startswith("validators.mix.cabal"))
    assert header.split() == [*AXES, "sudo", "multisig"]
    assert "validators.mix.honest" not in output  # 1 - cabal: adds nothing
    rows = _table_rows(output, "validators.mix.cabal")[:4]
    assert [r[:2] for r in rows] == [
        ["0.25", "0.5"],
        ["0.5", "0.5"],
        ["0.25", "0.6"],
        ["0.5", "0.6"],
    ]
    assert all(r.count("±") == 2 for r in rows)
    assert "verdict over the whole design (4 points x 2 seeds, paired on point and seed)" in output
    assert "verdict per design point (paired over that point's seeds only):" in output
    assert (out / "report.html").is_file()


def test_report_json_has_the_design_per_point_kpis_and_verdicts(
    sweep_report: tuple[dict[str, Any], Path, Path],
) -> None:
    data, _, html = sweep_report
    assert data["design"]["axes"] == AXES
    assert [(p["validators.mix.cabal"], p["network.kappa"]) for p in data["design"]["points"]] == [
        (0.25, 0.5),
        (0.5, 0.5),
        (0.25, 0.6),
        (0.5, 0.6),
    ]
    assert data["kpi"] == "cabal.gain"
    gain = [r for r in data["per_point"] if r["kpi"] == "cabal.gain"]
    assert len(gain) == 8 and {r["policy"] for r in gain} == {"sudo", "multisig"}
    assert all(r["n"] == 2 and isinstance(r["mean"], float) for r in gain)
    assert data["verdict"]["scope"] == "design"
    assert [v["point"] for v in data["point_verdicts"]] == [0, 1, 2, 3]
    assert all(
        v["scope"] == "point" and v["line"].startswith("verdict:") for v in data["point_verdicts"]
    )
    assert data["report"] == str(html)


def test_report_html_holds_the_point_table_and_response_plots(
    sweep_report: tuple[dict[str, Any], Path, Path],
) -> None:
    _, _, html = sweep_report
    text = html.read_text()
    assert "<h2>cabal.gain per design point</h2>" in text
    table = text.split("<h2>cabal.gain per design point</h2>", 1)[1].split("</table>", 1)[0]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    assert headers == [*AXES, "sudo", "multisig"]
    assert len(re.findall(r"<tr>", table)) == 5
    assert "a heatmap per policy" in text and "a line per policy" in text
    images = re.findall(r"<img [^>]*src='([^']*)'", text)
    assert len(images) >= 4 and all(s.startswith("data:image/png;base64,") for s in images)
    assert "Verdict per design point" in text
    # Autoescaped: the study's text is text.
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "http://" not in text and "https://" not in text


def test_report_kpi_option(sweep_study: tuple[Path, str]) -> None:
    out, _ = sweep_study
    result = CliRunner().invoke(main, ["report", str(out), "--kpi", "tao.max_drawdown"])
    assert result.exit_code == 0, result.output
    assert "tao.max_drawdown per design point" in result.output
    assert "chosen with --kpi" in result.output
    from click.shell_completion import BashComplete

    completer = BashComplete(main, {}, "govsim", "_GOVSIM_COMPLETE")
    offered = [c.value for c in completer.get_completions(["report", str(out), "--kpi"], "cabal.g")]
    assert offered == ["cabal.gain"]
    bad = CliRunner().invoke(main, ["report", str(out), "--kpi", "cabal.gian"])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: --kpi 'cabal.gian': not a KPI")
    assert "did you mean cabal.gain" in bad.output


# -- the design, from stored configs ---------------------------------------------------------------
def _scenarios(points: list[dict[str, Any]], configs: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for p, (point, config) in enumerate(zip(points, configs, strict=True)):
        stored = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in point.items()}
        rows.append(
            {"scenario_id": p, "point": p, "policy": "sudo", **stored, "config": json.dumps(config)}
        )
    return pd.DataFrame(rows)


def test_design_of_a_mix_keeps_the_varied_share() -> None:
    mixes = [{"honest": 1 - c, "cabal": c} for c in (0.1, 0.2, 0.3)]
    points = [{"validators.mix": m, "network.kappa": 0.5} for m in mixes]
    configs = [{"validators": {"mix": m}, "network": {"kappa": 0.5}} for m in mixes]
    design = study_design(_scenarios(points, configs))
    assert design.axes == ("validators.mix.cabal",)  # kappa is constant, honest = 1 - cabal
    assert design.points["validators.mix.cabal"].tolist() == [0.1, 0.2, 0.3]
    assert design.label(1) == "validators.mix.cabal=0.2"


def test_design_reads_values_from_the_config_and_drops_dependent_leaves() -> None:
    levers = [
        {"kind": "set_emission_enabled", "netuid": 0, "enabled": False},
        {"kind": "set_registration_allowed", "netuid": 0, "allowed": False},
        {"kind": "set_subtoken_enabled", "netuid": 0, "enabled": False},
        {"kind": "set_emission_enabled", "netuid": 0, "enabled": False},
    ]
    points = [{"shocks.1.lever": lever} for lever in levers]
    points[3]["shocks.1.duration_days"] = "30 days"
    configs = [
        {"shocks": [{"day": 2}, {"lever": lever, "duration_days": None}]} for lever in levers
    ]
    configs[3]["shocks"][1]["duration_days"] = 30.0
    design = study_design(_scenarios(points, configs))
    assert design.axes == ("shocks.1.lever.kind", "shocks.1.duration_days")
    assert design.points["shocks.1.duration_days"].tolist() == [None, None, None, 30.0]
    assert design.label(3) == "shocks.1.lever.kind=set_emission_enabled, shocks.1.duration_days=30"


def test_design_of_one_point_has_no_axes() -> None:
    design = study_design(_scenarios([{}], [{"horizon_days": 3}]))
    assert design.axes == () and not design.is_sweep


# -- response plots and verdicts from a summary ------------------------------------------------------
def _summary(axes: dict[str, list[Any]], policies: list[str]) -> StudySummary:
    points = pd.DataFrame(axes)
    points.index.name = "point"
    rows = []
    for p in points.index:
        for i, policy in enumerate(policies):
            mean = float(p + i)
            rows.append(
                {
                    "point": p,
                    **points.loc[p].to_dict(),
                    "policy": policy,
                    "kpi": "k",
                    "mean": mean,
                    "low": mean - 0.5,
                    "high": mean + 0.5,
                    "n": 2,
                }
            )
    per_point = pd.DataFrame(rows)
    summary = per_point.groupby(["policy", "kpi"], as_index=False)["mean"].mean()
    return StudySummary(
        Path("x"),
        "s",
        "",
        {"replications": 2},
        StudyStatus({"SUCCEEDED": len(rows) * 2}, len(points) * 2, len(points) * 2),
        tuple(policies),
        Design(tuple(axes), points),
        "k",
        "chosen with --kpi",
        summary.assign(low=np.nan, high=np.nan, n=2),
        {},
        per_point,
        None,
        (),
    )


def test_one_axis_gives_lines_three_give_one_panel_per_axis() -> None:
    one = response_figures(_summary({"network.kappa": [0.5, 0.6, 0.7]}, ["sudo", "multisig"]))
    assert len(one) == 1 and "a line per policy" in one[0][0]
    three = response_figures(
        _summary(
            {"a": [1, 2, 1, 2], "b": [True, True, False, False], "c": ["x", "y", "z", "w"]},
            ["sudo"],
        )
    )
    assert len(three) == 1 and "against each axis" in three[0][0]
    two = response_figures(_summary({"a": [1, 2, 1, 2], "b": ["u", "u", "v", "v"]}, ["sudo"]))
    assert len(two) == 2 and "heatmap per policy" in two[0][0]
    # Two continuous axes of a Latin hypercube are no grid: one panel per axis, as scatters.
    lhs = response_figures(
        _summary({"a": [0.1, 0.5, 0.3, 0.9], "b": [2.0, 1.0, 4.0, 3.0]}, ["sudo"])
    )
    assert len(lhs) == 1 and "against each axis" in lhs[0][0]


def test_one_policy_sweep_says_there_is_nothing_to_compare() -> None:
    text = format_study(_summary({"network.kappa": [0.5, 0.6]}, ["sudo"]))
    assert "verdict: one policy (sudo) in this study, nothing to compare it with" in text
    assert "k per design point" in text
    assert "0 of 0" not in text


def test_grouped_intervals_match_mean_ci() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "p": rng.integers(0, 3, 60),
            "q": rng.choice(["a", "b"], 60),
            "x": rng.normal(size=60),
            "same": 1.0,
            "gappy": np.where(rng.random(60) < 0.3, np.nan, rng.normal(size=60)),
        }
    )
    frame.loc[frame.index[:3], "x"] = np.inf
    out = grouped_mean_ci(frame, ["p", "q"], ["x", "same", "gappy"])
    for _, row in out.iterrows():
        values = frame[(frame["p"] == row["p"]) & (frame["q"] == row["q"])][row["kpi"]]
        ci = mean_ci(values.to_numpy())
        assert ci.n == row["n"]
        np.testing.assert_allclose(
            [ci.mean, ci.low, ci.high], [row["mean"], row["low"], row["high"]], equal_nan=True
        )


def test_report_csv_of_a_sweep_is_per_design_point(
    sweep_report: tuple[dict[str, Any], Path, Path],
) -> None:
    data, csv, _ = sweep_report
    assert data["csv"] == str(csv)
    frame = pd.read_csv(csv)
    assert list(frame.columns) == [
        "point",
        *AXES,
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
    gain = frame[frame["kpi"] == "cabal.gain"]
    assert len(gain) == 8 and set(gain["policy"]) == {"sudo", "multisig"}
    assert (gain["unit"] == "%").all() and (gain["n"] == 2).all()
    assert sorted(set(zip(gain["validators.mix.cabal"], gain["network.kappa"], strict=True))) == [
        (0.25, 0.5),
        (0.25, 0.6),
        (0.5, 0.5),
        (0.5, 0.6),
    ]


def test_sweep_table_with_many_policies_fits_the_width_in_blocks() -> None:
    policies = [f"policy_{i:02d}" for i in range(12)]
    report = _summary(
        {
            "governance.detection_delay_blocks": [7200, 144000],
            "shocks.0.damage_tao_per_block": [1.5, 15.0],
        },
        policies,
    )
    # One cell rests on fewer runs than the others: it says so.
    fewer = (report.per_point["point"] == 1) & (report.per_point["policy"] == "policy_03")
    report.per_point.loc[fewer, "n"] = 1
    text = format_study(report, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    headers = [
        line.split()
        for line in text.splitlines()
        if line.startswith("governance.detection_delay_blocks")
    ]
    assert len(headers) > 1  # blocks of policies, each repeating the axes
    assert all(
        h[:2] == ["governance.detection_delay_blocks", "shocks.0.damage_tao_per_block"]
        for h in headers
    )
    assert [p for h in headers for p in h[2:]] == policies
    assert "each cell rests on 2 runs unless it says n=k" in text
    assert text.count(" n=1") == 1
