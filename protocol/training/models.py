"""Small language models for the ground-truth rounds; every 2-D shape is a multiple of 64.

docs/training.md, "Configurations", says which configuration uses which model.


* ``bigram``: a 256×256 logit table (65k parameters).
* ``mlp``: embedding d=128, a 4d hidden layer, output head (previous-token context).
* ``transformer`` / ``gpt``: a pre-LayerNorm GPT with causal attention written with plain matmuls so
  that ``torch.func.vmap`` can batch many miners' replicas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: config imports nothing from here, but keep modules decoupled
    from protocol.training.config import TrainingConfig

import math

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional

__all__ = ["GPT", "MLPLM", "BigramLM", "lm_loss", "make_model", "param_dict"]


class BigramLM(nn.Module):
    """Next-token logits from a ``[vocab, vocab]`` table."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.table(tokens)


class MLPLM(nn.Module):
    """Embedding → GELU hidden layer (4d) → logits, conditioned on the previous token."""

    def __init__(self, vocab: int, d_model: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.hidden = nn.Linear(d_model, 4 * d_model)
        self.head = nn.Linear(4 * d_model, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(functional.gelu(self.hidden(self.embed(tokens))))


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model, bias=False)
        self.fc_out = nn.Linear(4 * d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, d = x.shape
        head_dim = d // self.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.view(batch, seq, self.n_heads, head_dim).transpose(1, 2) for t in (q, k, v))
        # Plain-matmul causal attention: vmap-friendly on every backend.
        att = (q @ k.transpose(-2, -1)) / math.sqrt(head_dim)
        mask = torch.ones(seq, seq, dtype=torch.bool, device=x.device).triu(1)
        att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(batch, seq, d)
        x = x + self.proj(y)
        return x + self.fc_out(functional.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """A pre-LayerNorm decoder-only transformer with learned positions and an untied head."""

    def __init__(self, vocab: int, d_model: int, n_layers: int, n_heads: int, ctx: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} must be divisible by n_heads {n_heads}")
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.zeros(ctx, d_model))
        self.blocks = nn.ModuleList(_Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[: tokens.shape[-1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def _init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """GPT-2 style init (normal, std 0.02; LayerNorm 1/0) from an explicit generator."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("ln1.weight", "ln2.weight", "ln_f.weight")):
                param.fill_(1.0)
            elif name.endswith("bias"):
                param.zero_()
            else:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)


def make_model(
    config: TrainingConfig, *, seed: int = 0, device: str | torch.device = "cpu"
) -> nn.Module:
    """Instantiate the model a :class:`~protocol.training.config.TrainingConfig` names.

    Parameters
    ----------
    config
        A ``TrainingConfig`` (fields ``model``, ``vocab``, ``d_model``, ``n_layers``, ``n_heads``,
        ``seq_len``).
    seed
        Initialisation seed (an explicit ``torch.Generator``; the global RNG is never used).
    device
        Where the parameters live.
    """
    kind = config.model
    # Built on the meta device: torch's default initialisers would draw from (and advance) the
    # global RNG; _init_weights then sets every parameter from the explicit generator.
    with torch.device("meta"):
        if kind == "bigram":
            model: nn.Module = BigramLM(config.vocab)
        elif kind == "mlp":
            model = MLPLM(config.vocab, config.d_model)
        elif kind in ("transformer", "gpt"):
            model = GPT(
                config.vocab, config.d_model, config.n_layers, config.n_heads, config.seq_len
            )
        else:
            raise ValueError(f"model must be bigram, mlp, transformer or gpt, got {kind!r}")
    model = model.to_empty(device="cpu")
    _init_weights(model, torch.Generator().manual_seed(seed))
    return model.to(device)


def param_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the model's parameters, by name (the protocol's θ)."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def lm_loss(
    model: nn.Module, params: dict[str, torch.Tensor], sequences: torch.Tensor
) -> torch.Tensor:
    """Mean next-token cross-entropy (nats) of ``model`` with ``params`` on ``[B, T+1]`` sequences."""
    logits = functional_call(model, params, (sequences[:, :-1],))
    return functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), sequences[:, 1:].reshape(-1)
    )
