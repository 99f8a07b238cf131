"""Miners: H inner AdamW steps, the pseudo-gradient (templar ``neurons/miner.py``), and the
adversarial strategies of docs/training.md ("Miner strategies").

Inner training is written over a leading *replica* axis (``torch.func.vmap`` of ``grad``), so one call
trains every miner of a round at once; :func:`miner_train_window` is the single-replica form. AdamW is
written out (decoupled weight decay, bias correction, per-replica global-norm clipping) so that a
per-replica step mask expresses lazy and sybil miners (fewer steps) inside the same batched call.

Strategies live in :data:`MINER_STRATEGIES` (a :class:`~protocol.registry.Registry`); each one is a
:class:`MinerStrategy` saying how the miner trains, how it builds its upload from its pseudo-gradient
and the window's earlier uploads, when it uploads, and whether it skips outer steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: config imports nothing from here, but keep modules decoupled
    from protocol.training.config import TrainingConfig

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import grad_and_value, vmap

from protocol.registry import Registry
from protocol.training.compression import CompressedGradient, decompress
from protocol.training.models import lm_loss

__all__ = [
    "MINER_STRATEGIES",
    "MinerContext",
    "MinerStrategy",
    "miner_train_window",
    "steps_for",
    "train_replicas",
]


def train_replicas(
    model: nn.Module,
    start: Mapping[str, torch.Tensor],
    batches: torch.Tensor,
    step_mask: torch.Tensor,
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.95),
    weight_decay: float = 0.1,
    grad_clip: float = 1.0,
    eps: float = 1e-8,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Run H AdamW steps for R replicas at once.

    Parameters
    ----------
    model
        The architecture (its own parameters are not used; ``functional_call`` supplies them).
    start
        Stacked starting parameters ``{name: [R, ...]}``.
    batches
        ``[R, H, B, T+1]`` int64 token sequences; replica r uses ``batches[r, h]`` at step h.
    step_mask
        ``[R, H]`` bool: whether replica r takes step h (masked steps change nothing, not even moments).
    lr, betas, weight_decay, grad_clip, eps
        AdamW hyper-parameters and the per-replica global gradient-norm clip.

    Returns
    -------
    params, losses
        Final stacked parameters and ``[R, H]`` training losses.
    """
    params = {n: p.clone() for n, p in start.items()}
    m = {n: torch.zeros_like(p) for n, p in params.items()}
    v = {n: torch.zeros_like(p) for n, p in params.items()}
    steps = torch.zeros(batches.shape[0], dtype=torch.float32, device=batches.device)
    grad_fn = vmap(grad_and_value(lambda p, seqs: lm_loss(model, p, seqs)))
    beta1, beta2 = betas
    losses = []
    for h in range(batches.shape[1]):
        grads, loss = grad_fn(params, batches[:, h])
        losses.append(loss)
        active = step_mask[:, h].to(torch.float32)
        steps = steps + active
        norm = torch.sqrt(sum(g.pow(2).flatten(1).sum(1) for g in grads.values()))
        clip = torch.clamp(grad_clip / (norm + 1e-6), max=1.0)
        # Masked replicas: bias corrections use their own step counts (at least 1 to stay finite).
        bc1 = 1 - beta1 ** steps.clamp_min(1)
        bc2 = 1 - beta2 ** steps.clamp_min(1)
        for name, p in params.items():
            shape = (-1,) + (1,) * (p.dim() - 1)
            a, c = active.view(shape), clip.view(shape)
            g = grads[name] * c
            m[name] = torch.where(a > 0, beta1 * m[name] + (1 - beta1) * g, m[name])
            v[name] = torch.where(a > 0, beta2 * v[name] + (1 - beta2) * g * g, v[name])
            update = (m[name] / bc1.view(shape)) / ((v[name] / bc2.view(shape)).sqrt() + eps)
            new_p = p * (1 - lr * weight_decay) - lr * update
            params[name] = torch.where(a > 0, new_p, p)
    return params, torch.stack(losses, dim=1)


def miner_train_window(
    model: nn.Module,
    theta: Mapping[str, torch.Tensor],
    batches: torch.Tensor,
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.95),
    weight_decay: float = 0.1,
    grad_clip: float = 1.0,
    n_steps: int | None = None,
) -> dict[str, torch.Tensor]:
    """One miner's window: H AdamW steps from θ, returning the pseudo-gradient Δ = θ − θ_after_H.

    Parameters
    ----------
    model
        The architecture.
    theta
        Starting parameters ``{name: tensor}`` (not modified).
    batches
        ``[H, B, T+1]`` token sequences, one batch per inner step.
    lr, betas, weight_decay, grad_clip
        AdamW hyper-parameters.
    n_steps
        Steps actually taken (``< H`` for a lazy miner); default all H.
    """
    H = batches.shape[0]
    mask = torch.arange(H, device=batches.device) < (H if n_steps is None else n_steps)
    start = {n: p.unsqueeze(0) for n, p in theta.items()}
    final, _ = train_replicas(
        model,
        start,
        batches.unsqueeze(0),
        mask.unsqueeze(0),
        lr=lr,
        betas=betas,
        weight_decay=weight_decay,
        grad_clip=grad_clip,
    )
    return {n: theta[n] - final[n][0] for n in theta}


@dataclass(frozen=True)
class MinerContext:
    """What a strategy sees when it builds its upload.

    ``delta`` is its own pseudo-gradient (``None`` if it did not train), ``earlier`` the uploads other
    miners already put this window (uid → gradient), ``rng`` a per-(miner, window) generator.
    """

    uid: int
    window: int
    delta: dict[str, torch.Tensor] | None
    earlier: Mapping[int, CompressedGradient]
    shapes: Mapping[str, tuple[int, ...]]
    rng: np.random.Generator
    config: TrainingConfig
    device: torch.device


@dataclass(frozen=True)
class MinerStrategy:
    """A miner behaviour.

    Attributes
    ----------
    name
        Registry name.
    trains
        Whether the miner runs inner steps at all.
    data
        ``"own"`` (its assigned pool) or ``"random"`` (a pool it was not assigned).
    step_fraction
        Share of the H inner steps it takes (``None``: split by the number of sybil UIDs).
    upload_offset
        ``(low, high)`` seconds after the put window opens, drawn uniformly (negative: too early).
    skips_outer_steps
        Whether its replica lags the network by ``config.stale_skip`` outer steps.
    copies
        ``"none"``, ``"full"`` (re-upload a peer's message) or ``"partial"`` (mix a peer's update in).
    transform
        ``"none"``, ``"poison"`` (−c·Δ) or ``"noise"`` (a random pseudo-gradient).
    """

    name: str
    trains: bool = True
    data: str = "own"
    step_fraction: float | None = 1.0
    upload_offset: tuple[float, float] = (2.0, 30.0)
    skips_outer_steps: bool = False
    copies: str = "none"
    transform: str = "none"

    def uploads_after_peers(self) -> bool:
        """Copiers must see other uploads first."""
        return self.copies != "none"

    def build_delta(self, ctx: MinerContext) -> dict[str, torch.Tensor] | CompressedGradient | None:
        """The dense update to compress, or an already compressed message (full copy), or nothing."""
        cfg = ctx.config
        if self.copies != "none":
            victims = sorted(ctx.earlier)
            if not victims:
                return ctx.delta
            victim = ctx.earlier[victims[int(ctx.rng.integers(len(victims)))]]
            if self.copies == "full":
                return victim
            copied = decompress(victim, cfg.chunk)
            own = ctx.delta or {n: torch.zeros_like(t) for n, t in copied.items()}
            return {n: cfg.copier_mix * copied[n] + (1 - cfg.copier_mix) * own[n] for n in copied}
        if self.transform == "poison":
            return {n: -cfg.poison_scale * d for n, d in ctx.delta.items()}
        if self.transform == "noise":
            gen = torch.Generator().manual_seed(int(ctx.rng.integers(2**62)))
            return {
                n: (torch.randn(s, generator=gen) * cfg.free_rider_noise).to(ctx.device)
                for n, s in ctx.shapes.items()
            }
        return ctx.delta


MINER_STRATEGIES: Registry[MinerStrategy] = Registry("miner strategy")
for _strategy in (
    MinerStrategy("honest"),
    MinerStrategy("free_rider", trains=False, transform="noise"),
    MinerStrategy("copier", trains=False, copies="full", upload_offset=(35.0, 60.0)),
    MinerStrategy("copier_partial", copies="partial", upload_offset=(35.0, 60.0)),
    MinerStrategy("wrong_data", data="random"),
    MinerStrategy("poisoner", transform="poison"),
    MinerStrategy("lazy", step_fraction=None),  # config.lazy_fraction of H
    MinerStrategy("late", upload_offset=(75.0, 120.0)),
    MinerStrategy("early", upload_offset=(-60.0, -5.0)),
    MinerStrategy("stale", skips_outer_steps=True),
    MinerStrategy("sybil", step_fraction=None),  # H / number of sybil UIDs
    # Live mode: a real worker fills this UID through run_round(external=...); alone it never uploads.
    MinerStrategy("live", trains=False),
):
    MINER_STRATEGIES.add(_strategy.name, _strategy)


def steps_for(strategy: MinerStrategy, config: TrainingConfig) -> int:
    """Inner steps a strategy takes this window."""
    H = config.inner_steps
    if not strategy.trains:
        return 0
    if strategy.name == "lazy":
        return max(1, round(H * config.lazy_fraction))
    if strategy.name == "sybil":
        return max(1, H // max(1, sum(r == "sybil" for r in config.roles)))
    return max(1, round(H * (strategy.step_fraction or 1.0)))
