"""``govsim ground-truth``: real SparseLoCo / Gauntlet training rounds on a small torch model."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import click

from sim.cli._root import UserError, main

CONFIG_NAMES = ("cpu-tiny", "cpu-small", "gpu-small")
# Per-UID columns of metrics.parquet, dropped for the per-round table.
UID_FIELDS = frozenset(
    {
        "uid",
        "role",
        "status",
        "in_gather_list",
        "gathered",
        "evaluated",
        "gradient_score",
        "indicator",
        "bma",
        "ordinal",
        "sync",
        "steps_behind",
        "final_score",
        "weight",
        "incentive",
        "emission",
        "max_overlap",
        "overlap_offender",
        "marginal_value",
    }
)


def _summary_table(metrics: list, elapsed: float) -> str:
    """Per-role table of the last round plus the learning curve's ends."""
    first, last = metrics[0], metrics[-1]
    lines = [
        f"rounds {len(metrics)}  held-out loss {first.held_out_loss:.3f} -> {last.held_out_loss:.3f}"
        f"  (optimal {last.optimal_loss:.3f})  contributors {last.contributors}"
        f"  upload {last.upload_bytes / 1024:.1f} KiB ({last.ratio_vs_fp32:.0f}x vs fp32)"
        f"  {elapsed:.1f} s",
        f"{'role':<16}{'uids':>5}{'weight':>9}{'bma':>8}{'ordinal':>9}{'grad score':>12}{'zero since':>12}",
    ]
    roles: dict[str, list] = {}
    for record in last.uids:
        roles.setdefault(record.role, []).append(record)
    for role, records in roles.items():
        uids = {r.uid for r in records}
        scores = [
            r.gradient_score
            for m in metrics
            for r in m.uids
            if r.uid in uids and r.evaluated and math.isfinite(r.gradient_score)
        ]
        mean_score = sum(scores) / len(scores) if scores else float("nan")
        paid = [
            i for i, m in enumerate(metrics) if any(r.weight > 0 for r in m.uids if r.uid in uids)
        ]
        zero = (
            "never paid"
            if not paid
            else ("-" if paid[-1] == len(metrics) - 1 else f"round {paid[-1] + 1}")
        )
        lines.append(
            f"{role:<16}{len(records):>5}{sum(r.weight for r in records):>9.3f}"
            f"{sum(r.bma for r in records) / len(records):>8.3f}"
            f"{sum(r.ordinal for r in records) / len(records):>9.2f}{mean_score:>12.5f}{zero:>12}"
        )
    lines.append(f"{'burn':<16}{1:>5}{last.burn_weight:>9.3f}")
    return "\n".join(lines)


@main.command("ground-truth")
@click.option(
    "--config",
    "config_name",
    type=click.Choice(CONFIG_NAMES),
    default="cpu-tiny",
    show_default=True,
    help="Named training configuration (model size, miners, batch; see docs/training.md).",
)
@click.option("--rounds", type=int, default=20, show_default=True, help="Windows to run.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory for metrics.parquet (per round and UID) and rounds.parquet.",
)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option(
    "--calibrate",
    "calibrate_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write calibration statistics (JSON) for the agent model to FILE.",
)
@click.option(
    "--miners", type=int, default=None, help="Number of miners (default: the config's mix)."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--threads",
    type=int,
    default=1,
    show_default=True,
    help="torch CPU threads (0: torch's default). Small models run faster on one.",
)
def ground_truth(
    config_name: str,
    rounds: int,
    out_dir: Path,
    device: str,
    calibrate_file: Path | None,
    miners: int | None,
    seed: int,
    threads: int,
) -> None:
    """Run ground-truth training rounds and write per-round metrics (Parquet) and a summary."""
    if rounds < 1:
        raise UserError(f"--rounds must be >= 1, got {rounds}")
    if miners is not None and miners < 1:
        raise UserError(f"--miners must be >= 1, got {miners}")
    if seed < 0:
        raise UserError(f"--seed must be >= 0, got {seed}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: exists and is not a directory")
    try:  # before the rounds, so an uncreatable --out fails at once, not after the training
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out_dir}: cannot create it ({exc.strerror})") from None
    import pandas as pd
    import torch

    from protocol.training import get_config, init_run, run_round
    from protocol.training.calibration import calibration_stats

    if threads < 0:
        raise UserError(f"--threads must be >= 0, got {threads}")
    if threads:
        torch.set_num_threads(threads)
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here")
    config = get_config(config_name)
    if miners is not None:
        config = config.with_miners(miners)
    try:
        state = init_run(config, seed=seed, device=device)
    except ValueError as exc:
        raise UserError(f"--config {config_name}: {exc}") from None
    started = time.perf_counter()
    metrics = []
    with click.progressbar(
        range(rounds), label=f"{config_name} seed {seed}", file=sys.stderr
    ) as bar:
        for _ in bar:
            metrics.append(run_round(state))
    elapsed = time.perf_counter() - started
    rows = pd.DataFrame([row for m in metrics for row in m.to_rows()])
    rows.insert(0, "config", config_name)
    rows.insert(1, "seed", seed)
    rows.to_parquet(out_dir / "metrics.parquet", index=False)
    per_round = rows.drop_duplicates("window").drop(
        columns=[c for c in rows.columns if c in UID_FIELDS]
    )
    timing = pd.DataFrame([{f"time_{k}": v for k, v in m.timings.items()} for m in metrics])
    pd.concat([per_round.reset_index(drop=True), timing], axis=1).to_parquet(
        out_dir / "rounds.parquet", index=False
    )
    if calibrate_file is not None:
        stats = calibration_stats([metrics], config_name=config_name, seeds=[seed])
        try:
            calibrate_file.parent.mkdir(parents=True, exist_ok=True)
            calibrate_file.write_text(
                json.dumps(stats, indent=2, allow_nan=False) + "\n", encoding="utf-8"
            )
        except OSError as exc:
            raise UserError(f"--calibrate {calibrate_file}: cannot write ({exc})") from None
    click.echo(_summary_table(metrics, elapsed))
    click.echo(
        f"wrote {out_dir / 'metrics.parquet'} ({len(rows)} rows) and {out_dir / 'rounds.parquet'}"
    )
