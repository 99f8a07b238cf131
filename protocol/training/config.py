"""Hyper-parameters of a ground-truth training run and its named configurations.

Defaults follow the Covenant-72B era hparams (``one-covenant/templar`` @ ``142666f0``,
``hparams/hparams.json``) wherever scale does not force a change; docs/training.md,
"Configurations", lists the named ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

__all__ = ["CONFIGS", "TrainingConfig", "default_roles", "get_config"]


def default_roles(n_miners: int) -> tuple[str, ...]:
    """Default mix: about 60 % honest, then copier, free-rider, wrong-data, poisoner, ... in turn."""
    adversaries = (
        "copier",
        "free_rider",
        "wrong_data",
        "poisoner",
        "lazy",
        "late",
        "stale",
        "copier_partial",
        "sybil",
        "early",
    )
    n_adv = min(len(adversaries), (2 * n_miners) // 5)
    return ("honest",) * (n_miners - n_adv) + adversaries[:n_adv]


#: Sizes, counts and periods that must be at least 1 (divisors, shapes, schedules).
_POSITIVE_INTS = (
    "vocab",
    "seq_len",
    "n_held_out",
    "pool_factor",
    "d_model",
    "n_layers",
    "n_heads",
    "chunk",
    "topk",
    "n_eval",
    "uids_per_window",
    "gather_peer_count",
    "peer_replacement_frequency",
    "windows_per_weights",
    "blocks_per_window",
)


def _type_problems(config: TrainingConfig) -> list[str]:
    """Fields whose value has not the type of the field's default (a bool is not an int; a float
    must be finite). Overrides from scenario files reach the config unchecked otherwise."""
    problems = []
    for f in fields(config):
        value, default = getattr(config, f.name), f.default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            continue
        if not ok:
            kind = type(default).__name__ if not isinstance(default, float) else "finite number"
            problems.append(f"{f.name}={value!r} (expected {kind})")
    return problems


@dataclass(frozen=True)
class TrainingConfig:
    """Everything one run needs; frozen so a run is described by (config, seed).

    Attributes are grouped as data, model, inner optimizer, compression, outer step, validator and
    chain. ``roles`` lists one strategy name (see ``MINER_STRATEGIES``) per miner UID.
    """

    name: str = "custom"
    # data
    data: str = "markov"
    vocab: int = 256
    seq_len: int = 32
    n_sequences: int = 4096
    n_held_out: int = 64
    pool_factor: int = 1  # assigned pool = pool_factor · H · B (Templar: 1024/192 ≈ 5.3)
    # model
    model: str = "bigram"
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    # inner optimizer (AdamW)
    inner_steps: int = 8
    batch_size: int = 16
    inner_lr: float = 3e-2
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    replica_chunk: int = 0  # miners trained per vmapped call (0: all at once; bounds GPU memory)
    # compression (SparseLoCo)
    chunk: int = 64
    topk: int = 64
    ef_beta: float = 0.95
    quant_bins: int = 4
    quant_range: float = 6.0
    # outer step
    outer_lr: float = 1.0
    aggregation: str = "scatter_mean"
    # validator
    n_validators: int = 1
    eval_lr_factor: float = 0.2
    n_eval: int = 16
    uids_per_window: int = 10
    n_bins: int = 5
    gather_peer_count: int = 20
    reserve_peer_count: int = 10
    peer_replacement_frequency: int = 2
    bma_alpha: float = 0.05
    bma_threshold: float = 0.10
    bma_warmup_windows: int = 10
    openskill_beta: float = 7.0
    openskill_tau: float = 0.1
    sync_max_steps: float = 3.0
    sync_slash_steps: float = 2.0
    sync_ema_alpha: float = 0.2
    idx_overlap_threshold: float = 0.4
    overlap_slash_after_step: int = 20
    weight_schedule: str = "rank"
    burn_rate: float = 0.5
    windows_per_weights: int = 3
    own_eval_from: str = "assigned_pool"
    measure_marginal_value: bool = (
        True  # leave-one-out held-out loss per gathered peer (costly on GPU)
    )
    # chain and clock
    blocks_per_window: int = 7
    put_window_seconds: float = 70.0
    chain: str = "yuma"
    validator_stake: float = 1000.0
    # miners
    roles: tuple[str, ...] = field(default_factory=lambda: default_roles(10))
    poison_scale: float = 10.0
    free_rider_noise: float = 1e-3
    copier_mix: float = 0.5
    lazy_fraction: float = 0.5
    stale_skip: int = 2

    def __post_init__(self) -> None:
        problems = _type_problems(self)
        if problems:  # the range checks below assume the right types
            raise ValueError("invalid TrainingConfig: " + "; ".join(problems))
        if self.aggregation not in ("scatter_mean", "sum_over_R"):
            problems.append(
                f"aggregation={self.aggregation!r} (expected scatter_mean or sum_over_R)"
            )
        if self.weight_schedule not in ("rank", "power2"):
            problems.append(f"weight_schedule={self.weight_schedule!r} (expected rank or power2)")
        if self.own_eval_from not in ("assigned_pool", "consumed"):
            problems.append(
                f"own_eval_from={self.own_eval_from!r} (expected assigned_pool or consumed)"
            )
        if self.chain not in ("yuma", "yuma_lite"):
            problems.append(f"chain={self.chain!r} (expected yuma or yuma_lite)")
        if self.inner_steps < 1 or self.batch_size < 1:
            problems.append(
                f"inner_steps={self.inner_steps}, batch_size={self.batch_size} (expected >= 1)"
            )
        if not 0 <= self.burn_rate <= 1:
            problems.append(f"burn_rate={self.burn_rate} (expected in [0, 1])")
        if self.n_validators < 1:
            problems.append(f"n_validators={self.n_validators} (expected >= 1)")
        for name in _POSITIVE_INTS:
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)} (expected >= 1)")
        for name in ("n_sequences", "reserve_peer_count", "replica_chunk"):
            if getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)} (expected >= 0)")
        if problems:
            raise ValueError("invalid TrainingConfig: " + "; ".join(problems))

    @property
    def n_miners(self) -> int:
        """Number of miner UIDs."""
        return len(self.roles)

    @property
    def burn_uid(self) -> int:
        """The owner's burn UID, right after the validators (UID 1 with one validator, as in Templar)."""
        return self.n_validators

    @property
    def first_miner_uid(self) -> int:
        """UID of the first miner (validators, then the burn UID, then miners)."""
        return self.n_validators + 1

    @property
    def n_uids(self) -> int:
        """All UIDs: validators, burn UID and miners."""
        return self.first_miner_uid + self.n_miners

    @property
    def pool_size(self) -> int:
        """Sequences assigned to one (uid, window)."""
        return self.pool_factor * self.inner_steps * self.batch_size

    def with_miners(self, n_miners: int) -> TrainingConfig:
        """The same config with ``n_miners`` miners in the default role mix."""
        return replace(self, roles=default_roles(n_miners))


CONFIGS: dict[str, TrainingConfig] = {
    # CI scale: bigram table, seconds per run. Gather 6 + reserve 3 is the 20 + 10 schedule scaled to 10.
    "cpu-tiny": TrainingConfig(
        name="cpu-tiny",
        model="bigram",
        seq_len=32,
        inner_steps=8,
        batch_size=16,
        inner_lr=3e-2,
        topk=256,
        n_eval=16,
        uids_per_window=10,
        gather_peer_count=6,
        reserve_peer_count=3,
        overlap_slash_after_step=0,
        roles=default_roles(10),
    ),
    # Nightly scale: 2-layer transformer, d = 128, ctx 64, 18 miners.
    "cpu-small": TrainingConfig(
        name="cpu-small",
        model="transformer",
        seq_len=64,
        d_model=128,
        n_layers=2,
        n_heads=4,
        inner_steps=10,
        batch_size=16,
        inner_lr=3e-3,
        n_sequences=8192,
        topk=64,
        n_eval=16,
        uids_per_window=8,
        gather_peer_count=12,
        reserve_peer_count=6,
        roles=default_roles(18),
    ),
    # One GPU: 8 layers, d = 512, ctx 256, Covenant compression, 28 miners.
    "gpu-small": TrainingConfig(
        name="gpu-small",
        data="text",
        model="gpt",
        seq_len=256,
        d_model=512,
        n_layers=8,
        n_heads=8,
        inner_steps=30,
        batch_size=32,
        inner_lr=6e-4,
        n_sequences=0,
        topk=64,
        n_eval=16,
        uids_per_window=20,
        gather_peer_count=20,
        reserve_peer_count=10,
        replica_chunk=4,
        measure_marginal_value=False,
        roles=default_roles(28),
    ),
}


def get_config(name: str) -> TrainingConfig:
    """Look a named configuration up, with a clear error for unknown names."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown training config {name!r}; known: {', '.join(CONFIGS)}") from None
