"""``govsim run``: outputs on disk, a summary, and exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from sim.cli import main

SCENARIO = """
name = "cli_small"
horizon_days = 1
[network]
n_subnets = 2
n_uids = 12
n_validators = 2
[stakers]
n_stakers = 3
"""


def test_run_writes_timeseries_and_kpis(tmp_path: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(scenario), "--policy", "timelock", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "policy=timelock seed=3" in result.output
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert {"day", "tao_price_usd", "netuid", "emission_share"} <= set(ts.columns)
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["policy"] == "timelock" and kpis["seed"] == 3


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["run", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "no such scenario file" in missing.output
    scenario = tmp_path / "small.toml"
    scenario.write_text(SCENARIO)
    bad_policy = runner.invoke(main, ["run", str(scenario), "--policy", "no_such_policy"])
    assert bad_policy.exit_code == 2
    assert "no_such_policy" in bad_policy.output and "Traceback" not in bad_policy.output
    # an --out that cannot be created is refused before the run (it was a traceback after it)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    unwritable = runner.invoke(main, ["run", str(scenario), "--out", str(blocker / "out")])
    assert unwritable.exit_code == 2 and "--out" in unwritable.output
    assert "Traceback" not in unwritable.output and "policy=" not in unwritable.output
