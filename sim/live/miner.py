"""The live miner: join a coordinator, and each window pull θ and the assignment, train, upload.

:func:`prepare` rebuilds the model and data locally from ``/v1/info`` (everything is derivable
from the public config and the run seed; no dataset download). :func:`train_payload` is one
window's work for a strategy of :data:`protocol.training.miner.MINER_STRATEGIES`.
:func:`run_miner` is the loop behind ``govsim live mine``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import httpx
import numpy as np
import torch
from torch import nn

from protocol.live import PayloadLimits, decode_payload, encode_payload
from protocol.training import init_run
from protocol.training.compression import compress_pseudo_gradient
from protocol.training.config import TrainingConfig
from protocol.training.data import assign_batches, random_pool_uid, sample_digest
from protocol.training.miner import (
    MINER_STRATEGIES,
    MinerContext,
    MinerStrategy,
    miner_train_window,
    steps_for,
)
from sim.live.client import CoordinatorError, LiveClient

#: How long a miner keeps retrying an unreachable coordinator before giving up.
RECONNECT_SECONDS = 120.0

__all__ = [
    "MinerSetup",
    "UnsupportedStrategyError",
    "prepare",
    "registration_line",
    "run_miner",
    "train_payload",
    "window_report_line",
]


class UnsupportedStrategyError(ValueError):
    """A strategy that cannot run against a live coordinator (the message says why)."""


@dataclass
class MinerSetup:
    """What a miner rebuilds locally from ``/v1/info``."""

    config: TrainingConfig
    model: nn.Module
    sequences: torch.Tensor
    shapes: dict[str, tuple[int, ...]]
    put_window_seconds: float
    device: torch.device


def training_config_from_info(doc: Mapping[str, Any]) -> TrainingConfig:
    """The coordinator's :class:`TrainingConfig` from its public JSON (unknown keys are ignored,
    so a newer coordinator stays usable)."""
    known = {f.name for f in fields(TrainingConfig)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in doc.items() if k in known}
    return TrainingConfig(**kwargs)


def prepare(info: Mapping[str, Any], device: str) -> MinerSetup:
    """Build model and data for the coordinator described by ``info`` on ``device``.

    Raises
    ------
    ValueError
        If ``device`` is ``cuda`` and no CUDA device is available.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"--device {device}: CUDA is not available on this machine (use --device cpu)"
        )
    dev = torch.device(device)
    training = info["training"]
    config = training_config_from_info(training["config"])
    # The same run the coordinator holds (data from the public seed); θ is pulled every window.
    run = init_run(config, seed=int(training["seed"]), device=dev)
    return MinerSetup(
        config,
        run.model,
        run.sequences,
        dict(run.shapes),
        float(info["clock"]["put_window_seconds"]),
        dev,
    )


def own_sequence_ids(setup: MinerSetup, uid: int, window: int) -> np.ndarray:
    """``[H, B]`` ids of the sequences ``uid`` trains on in ``window`` (its pool's first H·B)."""
    cfg = setup.config
    pool = assign_batches(uid, window, len(setup.sequences), cfg.pool_size)
    return pool[: cfg.inner_steps * cfg.batch_size].reshape(cfg.inner_steps, cfg.batch_size)


def strategy_for(name: str) -> MinerStrategy:
    """Look a strategy up, refusing those that need other miners' uploads."""
    strategy = MINER_STRATEGIES.get(name)
    if strategy.copies != "none":
        raise UnsupportedStrategyError(
            f"strategy {name!r} copies other miners' uploads, which a live coordinator never serves"
        )
    if strategy.skips_outer_steps:
        raise UnsupportedStrategyError(
            f"strategy {name!r} lags outer steps; live miners always pull θ"
        )
    return strategy


def train_payload(
    setup: MinerSetup,
    strategy: MinerStrategy,
    uid: int,
    window: int,
    theta: Mapping[str, torch.Tensor],
    error: dict[str, torch.Tensor] | None,
    rng: np.random.Generator,
) -> tuple[bytes, dict[str, torch.Tensor], dict[str, Any]]:
    """One window of mining: H inner steps on the assigned pool, error feedback, compression.

    Returns
    -------
    tuple
        The safetensors body to upload, the new error-feedback buffers, and a receipt dict
        (steps, sample digest, bytes).
    """
    cfg = setup.config
    n = len(setup.sequences)
    pool_uid = uid if strategy.data == "own" else random_pool_uid(int(rng.integers(2**31)))
    pool = assign_batches(pool_uid, window, n, cfg.pool_size)
    used = pool[: cfg.inner_steps * cfg.batch_size]  # the part an honest miner consumes, in order
    theta_dev = {k: v.to(setup.device) for k, v in theta.items()}
    steps = steps_for(strategy, cfg)
    delta = None
    if strategy.trains:
        batches = setup.sequences[torch.as_tensor(used)].reshape(
            cfg.inner_steps, cfg.batch_size, -1
        )
        delta = miner_train_window(
            setup.model,
            theta_dev,
            batches.to(setup.device),
            lr=cfg.inner_lr,
            betas=cfg.betas,
            weight_decay=cfg.weight_decay,
            grad_clip=cfg.grad_clip,
            n_steps=steps,
        )
    ctx = MinerContext(uid, window, delta, {}, setup.shapes, rng, cfg, setup.device)
    built = strategy.build_delta(ctx)
    result = compress_pseudo_gradient(
        built,
        error,
        chunk=cfg.chunk,
        topk=cfg.topk,
        ef_beta=cfg.ef_beta,
        bins=cfg.quant_bins,
        value_range=cfg.quant_range,
    )
    digest = sample_digest(pool)
    body = encode_payload(
        result.gradient.to_dict(2),
        {
            "window": str(window),
            "uid": str(uid),
            "sample_digest": digest,
            "sample_count": str(len(pool)),
        },
    )
    return body, result.error, {"steps": steps, "sample_digest": digest, "bytes": len(body)}


def _upload_delay(strategy: MinerStrategy, setup: MinerSetup, rng: np.random.Generator) -> float:
    """Seconds after the put window opens, scaled from the strategy's 70-s-window offsets."""
    low, high = strategy.upload_offset
    scale = setup.put_window_seconds / setup.config.put_window_seconds
    return float(rng.uniform(low, high)) * scale


def warm_up(setup: MinerSetup, strategy: MinerStrategy) -> float:
    """Run one throw-away window on the initial model so the first real window is not slowed by
    one-time costs (lazy imports, kernel selection); returns the seconds it took."""
    started = time.perf_counter()
    theta = {n: p.detach() for n, p in setup.model.named_parameters()}
    train_payload(setup, strategy, 0, 0, theta, None, np.random.default_rng(0))
    return time.perf_counter() - started


def run_miner(
    client: LiveClient,
    *,
    device: str = "cpu",
    strategy_name: str = "honest",
    windows: int | None = None,
    seed: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Mine until ``windows`` uploads were attempted (forever if None); return the final report
    (``/v1/me`` plus ``uploads``: window, steps, train seconds, bytes, accepted).

    Each window: wait for θ of the current window, pull it, train, wait for the put window, upload,
    and print the scores and earnings of every window the coordinator closed meanwhile.

    Parameters
    ----------
    client
        A client holding the miner's key.
    device
        ``cpu`` or ``cuda[:N]``.
    strategy_name
        A name in ``MINER_STRATEGIES`` (copiers and stale miners are refused).
    windows
        Windows to mine (None: forever).
    seed
        Seed of the miner's own draws (default: derived from the hotkey).
    log
        Where progress lines go.
    """
    strategy = strategy_for(strategy_name)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"--device {device}: CUDA is not available on this machine (use --device cpu)"
        )
    info = client.info()  # first contact fails fast: a wrong URL is a user error
    setup = prepare(info, device)
    log(f"warm-up window took {warm_up(setup, strategy):.2f} s")
    _retrying(client.server_clock, log)
    registration = _retrying(client.register, log)
    uid = int(registration["uid"])
    log(registration_line(client.hotkey, registration, f"{strategy.name}, {device}"))
    rng = np.random.default_rng(seed if seed is not None else int(client.hotkey[:15], 16))
    error: dict[str, torch.Tensor] | None = None
    window_s = float(info["clock"]["window_seconds"])
    genesis = float(info["clock"]["genesis"])
    put_s = float(info["clock"]["put_window_seconds"])
    poll = min(0.2, window_s / 25)
    attempted, last_trained, reported = 0, -1, -1
    unreachable_since: float | None = None
    uploads: list[dict[str, Any]] = []
    while windows is None or attempted < windows:
        try:
            clock = client.server_clock()
            unreachable_since = None
            current, model_window = int(clock["window"]), int(clock["model_window"])
            if int(clock["last_closed_window"]) > reported:
                reported = _report(client, reported, log)
            if model_window != current or current == last_trained:
                time.sleep(poll)
                continue
            raw, theta_window, _ = client.model()
            if theta_window != current:
                continue
            theta, _ = decode_payload(raw, PayloadLimits(max_bytes=1 << 34))
            ids = client.assignment(current)["sequence_ids"]
            local = own_sequence_ids(setup, uid, current)
            if ids != local.reshape(len(ids), -1).tolist():
                log(
                    f"window {current}: warning: the coordinator's assignment differs from the local one"
                )
            started = time.perf_counter()
            window_rng = np.random.default_rng([int(rng.integers(2**31)), current])
            body, error, receipt = train_payload(
                setup, strategy, uid, current, theta, error, window_rng
            )
            took = time.perf_counter() - started
            last_trained = current
            attempted += 1
            target = genesis + (current + 1) * window_s + _upload_delay(strategy, setup, rng)
            time.sleep(max(0.0, target - client.server_now()))
            entry = {
                "window": current,
                "steps": receipt["steps"],
                "train_seconds": took,
                "bytes": receipt["bytes"],
                "accepted": False,
            }
            uploads.append(entry)
            try:
                answer = client.upload(current, body)
                entry["accepted"] = True
                log(
                    f"window {current}: trained {receipt['steps']} steps in {took:.2f} s, uploaded "
                    f"{receipt['bytes']} bytes, accepted (digest {answer['digest'][:12]})"
                )
            except CoordinatorError as err:
                entry["refused"] = str(err)
                log(f"window {current}: trained in {took:.2f} s, upload refused: {err}")
                if err.status >= 500:
                    raise
        except httpx.TransportError as exc:
            # The coordinator may be restarting from its checkpoint: keep trying for a while.
            if unreachable_since is None:
                unreachable_since = time.monotonic()
                log(
                    f"coordinator unreachable ({type(exc).__name__}); retrying for up to {RECONNECT_SECONDS:g} s"
                )
            elif time.monotonic() - unreachable_since > RECONNECT_SECONDS:
                raise
            time.sleep(1.0)
    # Wait for the last window to close, then report it.
    deadline = genesis + (last_trained + 1) * window_s + put_s + 3 * window_s
    while client.server_now() < deadline:
        if int(_retrying(client.server_clock, log)["last_closed_window"]) >= last_trained:
            break
        time.sleep(poll)
    _retrying(lambda: _report(client, reported, log), log)
    return _retrying(client.me, log) | {"uploads": uploads}


def _retrying(call: Callable[[], Any], log: Callable[[str], None]) -> Any:
    """``call()``, retried for up to :data:`RECONNECT_SECONDS` while the coordinator is unreachable
    (it may be restarting from its checkpoint); one log line per outage."""
    started = time.monotonic()
    while True:
        try:
            result = call()
        except httpx.TransportError as exc:
            if time.monotonic() - started > RECONNECT_SECONDS:
                raise
            if time.monotonic() - started < 0.5:
                log(
                    f"coordinator unreachable ({type(exc).__name__}); retrying for up to {RECONNECT_SECONDS:g} s"
                )
            time.sleep(1.0)
            continue
        if time.monotonic() - started >= 1.0:
            log("coordinator reachable again")
        return result


def _number(value: object, digits: int) -> str:
    """``value`` with ``digits`` decimals, or ``-`` when there is none (not evaluated)."""
    return "-" if value is None else f"{float(value):.{digits}f}"


def registration_line(hotkey: str, doc: Mapping[str, Any], what: str) -> str:
    """The miner's line after ``POST /v1/register`` (new or already registered)."""
    uid = doc["uid"]
    burn = float(doc.get("burn_tao", 0.0))
    immune = doc.get("immune_until_window")
    if doc.get("new", True):
        paid = f"burned {burn:.6f} TAO (simulated) to register"
    else:
        paid = f"already registered at window {doc.get('registered_window')}"
    protected = f"; immune from pruning until window {immune}" if immune is not None else ""
    return f"registered hotkey {hotkey[:16]}... as uid {uid} ({what}): {paid}{protected}"


def window_report_line(row: Mapping[str, Any], total_tao: float) -> str:
    """One closed window, for the miner: its own score, and what it was paid and why.

    A window's payment is not its own score's: validators put weights on chain every
    ``windows_per_weights`` windows, and the window's emission follows the weights on chain
    then, so the line names the window those weights came from and the miner's score there.
    """
    score = row["score"] or {}
    own = (
        f"window {row['window']} closed: status {row['status']}; its score: final "
        f"{_number(score.get('final'), 4)} (gradient {_number(score.get('gradient_score'), 5)}, "
        f"ordinal {_number(score.get('ordinal'), 3)}, BMA {_number(score.get('bma'), 4)})"
    )
    earned = float(row["emission_tao"])
    source = row.get("paid_from_window")
    then = row.get("paid_from_score") or {}
    every = row.get("windows_per_weights")
    cadence = f", set every {every} windows" if every else ""
    if source is None:
        paid = f"paid nothing: no validator weights on chain yet{cadence}"
    else:
        basis = (
            f"your final score then {_number(then.get('final'), 4)}, weight "
            f"{_number(then.get('weight'), 4)}"
            if then
            else "before you registered"
        )
        verb = f"paid {earned:.6f} TAO" if earned > 0 else "paid nothing"
        paid = (
            f"{verb} (incentive {float(row['weight']):.4f} of the miners' half) on the weights of "
            f"window {source}"
            f"{cadence} ({basis})"
        )
    return f"{own}; {paid}; total then {total_tao:.6f} TAO"


def _report(client: LiveClient, reported: int, log: Callable[[str], None]) -> int:
    """Print windows closed since ``reported``; returns the last window printed."""
    me = client.me()
    rows = me["windows"]
    # The total as it stood after each window: today's total less what later windows paid.
    later = [0.0] * len(rows)
    for i in range(len(rows) - 2, -1, -1):
        later[i] = later[i + 1] + float(rows[i + 1]["emission_tao"])
    for row, after in zip(rows, later, strict=True):
        if row["window"] > reported:
            log(window_report_line(row, float(me["emission_tao"]) - after))
            reported = row["window"]
    return reported
