"""Gauntlet scoring pieces: weight schedules, sync, aggregation, final score, overlap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protocol.training.compression import (
    CompressedGradient,
    CompressedTensor,
    compress_pseudo_gradient,
)
from protocol.training.validator import (
    aggregate,
    binary_indicator,
    final_score,
    gradient_score,
    index_overlap,
    outer_step,
    power2_weights,
    rank_weights,
    steps_behind,
    sync_score,
)


def test_rank_schedule_worked_example() -> None:
    final = np.zeros(42)
    final[2:] = np.linspace(10, 1, 40)  # 40 positive scorers, uid 1 burns
    w = rank_weights(final, burn_uid=1, burn_rate=0.5, gather_count=20, reserve_count=10)
    assert w.sum() == pytest.approx(1.0)
    assert w[1] == 0.5
    assert w[2] == pytest.approx(0.0323, abs=2e-4)  # top gather ≈ 3.23 %
    assert w[21] == pytest.approx(0.0161, abs=2e-4)  # 20th ≈ 1.61 %
    assert w[22:32].sum() == pytest.approx(0.0161, abs=2e-4)  # whole reserve ≈ 1.61 %
    assert (w[32:] == 0).all() and w[0] == 0


def test_rank_schedule_ignores_non_positive_and_burns_everything_without_scorers() -> None:
    final = np.array([0.0, 0.0, 3.0, -1.0, 0.0, 2.0])
    w = rank_weights(final, burn_uid=1, burn_rate=0.5, gather_count=20, reserve_count=10)
    assert w.sum() == pytest.approx(1.0) and w[3] == 0 and w[4] == 0 and w[2] > w[5] > 0
    none = rank_weights(np.zeros(5), burn_uid=1)
    assert none[1] == 1.0 and none.sum() == 1.0


def test_power2_schedule() -> None:
    final = np.array([0.0, 0.0, 1.0, 2.0, -3.0])
    w = power2_weights(final, burn_uid=1, burn_rate=0.5)
    assert w.sum() == pytest.approx(1.0)
    assert w[3] / w[2] == pytest.approx(4.0)
    assert w[4] == 0 and w[1] == 0.5


def test_scores() -> None:
    assert gradient_score(2.0, 1.9) == pytest.approx(0.05)
    assert binary_indicator(2.0, 1.8, 2.0, 1.9) == 1
    assert binary_indicator(2.0, 1.95, 2.0, 1.9) == -1
    assert sync_score(0.0) == 1.0 and sync_score(3.0) == 0.0 and sync_score(5.0) == 0.0
    assert sync_score(1.5) == pytest.approx(0.5**2.5)
    assert final_score(2.0, 0.5, 1.0, windows_since_start=3) == 1.0
    assert (
        final_score(2.0, 0.05, 1.0, windows_since_start=10) == 0.0
    )  # under threshold after warmup
    assert final_score(2.0, -0.5, 1.0, windows_since_start=3) == 0.0  # BMA clipped at 0
    assert final_score(-2.0, 0.5, 1.0, windows_since_start=3) < 0


@pytest.mark.parametrize("lag", [0, 1, 2, 3])
def test_steps_behind_recovers_lag(lag: int) -> None:
    gen = torch.Generator().manual_seed(lag)
    step = {f"p{i}": torch.randn(64, generator=gen) * 0.01 for i in range(8)}
    theta = {n: torch.zeros(64) for n in step}
    history = [theta]
    for _ in range(5):
        theta = {n: theta[n] - step[n] for n in theta}
        history.append(theta)
    scale = {n: s.flatten()[10:12].abs() for n, s in step.items()}
    debug = {n: t.flatten()[10:12] for n, t in history[-1 - lag].items()}
    assert steps_behind(debug, history[-1], scale) == pytest.approx(lag, abs=1e-4)


def _message(idx: list[int], vals: list[float]) -> CompressedGradient:
    # One 1-D tensor of 64 entries, one chunk; a 4-entry LUT whose codes map to the given values.
    lut = torch.tensor(sorted(set(vals)) + [0.0] * (4 - len(set(vals))))
    codes = torch.tensor([sorted(set(vals)).index(v) for v in vals], dtype=torch.uint8)
    ct = CompressedTensor(
        (64,), torch.tensor([idx]), codes.reshape(1, -1), torch.tensor(0.0), torch.tensor(1.0), lut
    )
    return CompressedGradient({"b": ct})


def test_aggregation_modes() -> None:
    a = _message([0, 1], [1.0, 2.0])
    b = _message([1, 2], [4.0, 2.0])
    # Median norm clip: norms √5 and √20; median of two (lower) = √5, so b is scaled by 1/2.
    mean = aggregate([a, b], mode="scatter_mean")["b"]
    assert mean[0] == pytest.approx(1.0)
    assert mean[1] == pytest.approx((2.0 + 2.0) / 2)
    assert mean[2] == pytest.approx(1.0)
    total = aggregate([a, b], mode="sum_over_R")["b"]
    assert (
        total[0] == pytest.approx(0.5)
        and total[1] == pytest.approx(2.0)
        and total[2] == pytest.approx(0.5)
    )
    assert mean[3:].abs().sum() == 0


def test_median_clip_bounds_a_poisoner() -> None:
    gen = torch.Generator().manual_seed(0)
    honest = [
        compress_pseudo_gradient({"w": torch.randn(64, 64, generator=gen)}, None).gradient
        for _ in range(4)
    ]
    poison = compress_pseudo_gradient(
        {"w": 1000 * torch.randn(64, 64, generator=gen)}, None
    ).gradient
    clean = aggregate(honest)["w"].norm()
    dirty = aggregate([*honest, poison])["w"].norm()
    assert dirty < 2 * clean


def test_outer_step_skips_non_finite() -> None:
    theta = {"a": torch.ones(3), "b": torch.ones(3)}
    out = outer_step(theta, {"a": torch.ones(3), "b": torch.tensor([1.0, float("nan"), 0.0])}, 0.5)
    assert torch.equal(out["a"], torch.full((3,), 0.5)) and torch.equal(out["b"], theta["b"])


def test_index_overlap() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = (torch.randn(128, 128, generator=gen) for _ in range(2))
    gx = compress_pseudo_gradient({"w": x}, None).gradient
    gy = compress_pseudo_gradient({"w": y}, None).gradient
    gmix = compress_pseudo_gradient({"w": x + 0.05 * y}, None).gradient
    ov = index_overlap([gx, gy, gx, gmix])
    assert ov[0, 2] == pytest.approx(1.0)
    assert ov[0, 1] < 0.1  # independent: ≈ k/C = 1/64
    assert ov[0, 3] > 0.6


def test_put_window_on_the_virtual_clock() -> None:
    from protocol.training.clock import VirtualClock

    clock = VirtualClock(blocks_per_window=7, put_window_seconds=70.0)
    start, end = clock.put_window(3)
    assert start == 4 * 7 * 12 and end == start + 70
    assert clock.upload_status(3, start - 0.1) == "too_early"
    assert clock.upload_status(3, start + 35) == "ok"
    assert clock.upload_status(3, end + 0.1) == "too_late"
    assert clock.window_of_block(clock.block_at(start)) == 4


def test_peer_selection_and_eval_bins() -> None:
    from protocol.training.validator import select_eval_uids, select_peers

    rng = np.random.default_rng(0)
    ranking = np.arange(20, dtype=float)
    gather, reserve = select_peers(range(2, 20), ranking, gather_count=5, reserve_count=3, rng=rng)
    assert gather == [19, 18, 17, 16, 15] and reserve == [14, 13, 12]
    # Fewer than n_bins · uids_per_window candidates: one bin; never-evaluated peers weigh most.
    chosen = select_eval_uids(
        range(10),
        {},
        dict.fromkeys(range(5), 9),
        10,
        uids_per_window=5,
        n_bins=5,
        rng=np.random.default_rng(1),
    )
    assert len(chosen) == 5 and len(set(chosen)) == 5
    assert (
        sum(u >= 5 for u in chosen) >= 4
    )  # weight 11 (never evaluated) vs 1 (evaluated last window)
    # Enough candidates: all chosen UIDs come from one ordinal bin.
    ordinals = {u: float(u) for u in range(50)}
    chosen = select_eval_uids(
        range(50), ordinals, {}, 0, uids_per_window=4, n_bins=5, rng=np.random.default_rng(2)
    )
    assert len(chosen) == 4 and max(chosen) - min(chosen) < 10


def test_yuma_lite_is_a_stake_weighted_median() -> None:
    from protocol.training.round import yuma_lite

    weights = np.zeros((4, 4))
    weights[0, 2:] = [0.8, 0.2]
    weights[1, 2:] = [0.2, 0.8]
    stake = np.array([3.0, 1.0, 0.0, 0.0])
    incentive = yuma_lite(weights, stake)
    assert incentive.sum() == pytest.approx(1.0)
    assert incentive[2] == pytest.approx(0.8) and incentive[3] == pytest.approx(0.2)
