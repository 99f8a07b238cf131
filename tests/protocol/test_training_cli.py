"""``govsim ground-truth`` end to end, and the calibration statistics it writes."""

from __future__ import annotations

import json

import pandas as pd
import torch
from click.testing import CliRunner

from sim.cli import main


def test_ground_truth_writes_metrics_and_calibration(tmp_path) -> None:
    previous = torch.get_num_threads()
    out, cal = tmp_path / "gt", tmp_path / "cal.json"
    try:
        result = CliRunner().invoke(
            main,
            [
                "ground-truth",
                "--config",
                "cpu-tiny",
                "--rounds",
                "3",
                "--out",
                str(out),
                "--miners",
                "5",
                "--seed",
                "1",
                "--calibrate",
                str(cal),
            ],
        )
    finally:
        torch.set_num_threads(previous)
    assert result.exit_code == 0, result.output
    assert "honest" in result.output and "burn" in result.output
    rows = pd.read_parquet(out / "metrics.parquet")
    assert len(rows) == 3 * 5 and set(rows["window"]) == {0, 1, 2}
    assert {"held_out_loss", "weight", "gradient_score", "role", "bma"} <= set(rows.columns)
    rounds = pd.read_parquet(out / "rounds.parquet")
    assert len(rounds) == 3 and "time_train" in rounds.columns and "uid" not in rounds.columns
    stats = json.loads(cal.read_text())
    assert stats["schema"] == "govsim.training.calibration/1" and stats["rounds"] == 3
    assert stats["roles"]["honest"]["n_uids"] == 3
    assert len(stats["network"]["loss_curve"]) == 3
    assert -1.0 <= stats["network"]["rank_stability_kendall_tau"] <= 1.0


def test_ground_truth_rejects_bad_input(tmp_path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["ground-truth", "--rounds", "0", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "--rounds" in bad.output
    afile = tmp_path / "file"
    afile.write_text("x")
    clash = runner.invoke(main, ["ground-truth", "--rounds", "1", "--out", str(afile)])
    assert clash.exit_code == 2 and "not a directory" in clash.output
    unknown = runner.invoke(main, ["ground-truth", "--config", "huge", "--out", str(tmp_path)])
    assert unknown.exit_code == 2
    negative_seed = runner.invoke(
        main, ["ground-truth", "--rounds", "1", "--seed", "-1", "--out", str(tmp_path)]
    )
    # the error names --seed, not the config
    assert negative_seed.exit_code == 2 and "--seed" in negative_seed.output
    # an --out that cannot be created is refused before the rounds (was a traceback after them)
    below_file = runner.invoke(main, ["ground-truth", "--rounds", "1", "--out", str(afile / "o")])
    assert below_file.exit_code == 2 and "--out" in below_file.output
    assert "Traceback" not in below_file.output
