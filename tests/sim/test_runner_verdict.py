"""The verdict line: paired comparisons against the reference over common random numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.report import compare_summary, constant_kpis, format_compare_table, verdict


def _kpis(harm: dict[str, list[float]], delay: dict[str, float]) -> pd.DataFrame:
    rows = []
    for policy, values in harm.items():
        for rep, value in enumerate(values):
            rows.append(
                {
                    "policy": policy,
                    "point": 0,
                    "replication": rep,
                    "tao.max_drawdown": value,
                    "decentralisation.enforced_delay_days": delay[policy],
                    "days": 40.0,
                }
            )
    return pd.DataFrame(rows)


def test_paired_difference_detects_a_consistent_cut_hidden_by_seed_noise() -> None:
    noise = np.array([0.1, 0.5, 0.2, 0.9, 0.3, 0.7])  # shared seeds: large level noise
    kpis = _kpis(
        {
            "sudo": list(noise + 0.2),
            "timelock": list(noise + 0.05),
            "market_only": list(noise + 0.2),
        },
        {"sudo": 0.0, "timelock": 2.0, "market_only": np.inf},
    )
    # Unpaired intervals overlap heavily ...
    summary = compare_summary(kpis)
    by = summary[summary["kpi"] == "tao.max_drawdown"].set_index("policy")
    assert by.at["timelock", "high"] > by.at["sudo", "low"]
    # ... but the paired comparison is significant, and the trade-off is named.
    result = verdict(kpis)
    assert result.fewer_harm == ("timelock",)
    assert result.least_harm == ("timelock",)
    assert "1 of 2 policies do significantly less harm than sudo" in result.line
    assert "-0.15 [-0.15, -0.15]" in result.line
    assert "timelock cuts harm but reacts 2 d slower" in result.line


def test_no_better_policy_and_missing_harm_kpi() -> None:
    kpis = _kpis(
        {"sudo": [0.1, 0.2, 0.3], "v2_two_stage": [0.3, 0.4, 0.5]},
        {"sudo": 0.0, "v2_two_stage": 1.0},
    )
    result = verdict(kpis)
    assert result.fewer_harm == () and "least harm: sudo itself" in result.line
    assert "no policy cuts harm significantly" in result.line
    assert verdict(kpis.drop(columns=["tao.max_drawdown"])).harm_kpi is None


def test_constant_kpis_and_table_layout() -> None:
    kpis = _kpis({"sudo": [0.1, 0.2], "timelock": [0.1, 0.3]}, {"sudo": 0.0, "timelock": 2.0})
    assert constant_kpis(kpis) == {"days": 40.0}
    summary = compare_summary(kpis.drop(columns=list(constant_kpis(kpis))))
    text = format_compare_table(summary, width=60)
    assert text.count("KPI") == 2  # split into blocks that fit the width
    assert "0.15 ± 0.64" in text


def test_mean_ci_t_and_bootstrap() -> None:
    from scipy import stats as sps

    from sim.stats import mean_ci

    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    t = mean_ci(x)
    half = sps.t.ppf(0.975, 4) * x.std(ddof=1) / np.sqrt(5)
    assert t.mean == 6.2 and np.isclose(t.high - t.mean, half) and t.method == "t"
    boot = mean_ci(x, method="bootstrap", seed=3)
    assert boot == mean_ci(x, method="bootstrap", seed=3)  # seeded: reproducible
    assert boot.low < boot.mean < boot.high and boot.high <= x.max()
    assert mean_ci([2.0, 2.0, 2.0]).half_width == 0.0
    assert np.isnan(mean_ci([1.0]).low) and mean_ci([np.nan, 1.0, 3.0]).n == 2
