"""Offline, deterministic training data and the per-(uid, window) data assignment (templar
``src/tplr/sharded_sampler.py``).

Two sources, both in memory:

* :class:`MarkovSource`: a synthetic first-order Markov chain over ``vocab`` tokens where each token has
  ``n_successors`` likely successors. Its entropy rate, the best achievable per-token loss, is known
  exactly, so learning curves can be read against the optimum.
* :class:`TextSource`: byte-level text from ``pydoc_data.topics``, the Python language reference that
  ships with every CPython (imported, not read from disk), split into fixed-length windows.

Both expose ``sequences`` (``[N, seq_len + 1]`` int64, the training set the pool indices point into) and
``held_out`` (disjoint sequences for the held-out loss).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "MarkovSource",
    "TextSource",
    "assign_batches",
    "eval_indices",
    "make_source",
    "random_pool_uid",
    "sample_digest",
]

UID_MULTIPLIER = 1_000_003
SEED_MASK = 0xFFFFFFFF


def _markov_transitions(vocab: int, n_successors: int, generator: torch.Generator) -> torch.Tensor:
    """A row-stochastic ``[vocab, vocab]`` matrix with ``n_successors`` non-zero entries per row."""
    probs = torch.zeros(vocab, vocab, dtype=torch.float64)
    for token in range(vocab):
        successors = torch.randperm(vocab, generator=generator)[:n_successors]
        # Exponential weights (a flat Dirichlet) so successors differ in likelihood.
        weights = -torch.log(torch.rand(n_successors, generator=generator, dtype=torch.float64))
        probs[token, successors] = weights / weights.sum()
    return probs


def _stationary(probs: torch.Tensor, iterations: int = 2000) -> torch.Tensor:
    """Stationary distribution of a Markov chain by power iteration (float64)."""
    pi = torch.full((probs.shape[0],), 1.0 / probs.shape[0], dtype=torch.float64)
    for _ in range(iterations):
        pi = pi @ probs
    return pi / pi.sum()


def _sample_chain(
    probs: torch.Tensor, start_dist: torch.Tensor, n: int, length: int, generator: torch.Generator
) -> torch.Tensor:
    """Sample ``n`` sequences of ``length`` tokens, vectorised over sequences."""
    cdf = probs.cumsum(dim=1)
    cdf[:, -1] = 1.0  # guard against rounding leaving u > cdf[-1]
    out = torch.empty(n, length, dtype=torch.int64)
    start_cdf = start_dist.cumsum(0)
    start_cdf[-1] = 1.0
    out[:, 0] = torch.searchsorted(
        start_cdf, torch.rand(n, generator=generator, dtype=torch.float64)
    )
    for t in range(1, length):
        u = torch.rand(n, 1, generator=generator, dtype=torch.float64)
        out[:, t] = (
            torch.searchsorted(cdf[out[:, t - 1]], u).squeeze(1).clamp_max(probs.shape[0] - 1)
        )
    return out


@dataclass(frozen=True)
class MarkovSource:
    """Synthetic Markov-chain token source with a known optimal loss.

    Attributes
    ----------
    transitions
        ``[vocab, vocab]`` float64 transition matrix.
    stationary
        ``[vocab]`` stationary distribution.
    sequences
        ``[n_sequences, seq_len + 1]`` int64 training sequences (inputs and shifted targets).
    held_out
        ``[n_held_out, seq_len + 1]`` int64 sequences from an independent stream.
    optimal_loss
        Entropy rate in nats per token: the expected cross-entropy of the true model.
    """

    transitions: torch.Tensor
    stationary: torch.Tensor
    sequences: torch.Tensor
    held_out: torch.Tensor
    optimal_loss: float
    name: str = "markov"

    @classmethod
    def create(
        cls,
        *,
        vocab: int = 256,
        n_successors: int = 8,
        seq_len: int = 32,
        n_sequences: int = 4096,
        n_held_out: int = 128,
        seed: int = 0,
    ) -> MarkovSource:
        """Build the chain and sample its training and held-out sequences.

        Parameters
        ----------
        vocab, n_successors
            Alphabet size and number of likely successors per token.
        seq_len
            Tokens per training example (each stored sequence has ``seq_len + 1`` tokens).
        n_sequences, n_held_out
            Sizes of the training set and the held-out set.
        seed
            Seed of the chain and of the samples.
        """
        if not 1 <= n_successors <= vocab:
            raise ValueError(f"n_successors must be in [1, vocab={vocab}], got {n_successors}")
        generator = torch.Generator().manual_seed(seed)
        probs = _markov_transitions(vocab, n_successors, generator)
        pi = _stationary(probs)
        row_entropy = -(probs * torch.log(probs.clamp_min(1e-300))).sum(dim=1)
        optimal = float((pi * row_entropy).sum())
        train = _sample_chain(probs, pi, n_sequences, seq_len + 1, generator)
        held = _sample_chain(probs, pi, n_held_out, seq_len + 1, generator)
        return cls(probs, pi, train, held, optimal)


def _stdlib_corpus() -> bytes:
    """The Python language reference topics shipped with CPython, in a fixed order."""
    from pydoc_data import topics  # stdlib; imported, never read from disk by us

    return "\n\n".join(topics.topics[key] for key in sorted(topics.topics)).encode("utf-8")


@dataclass(frozen=True)
class TextSource:
    """Byte-level text (V = 256) from the stdlib's ``pydoc_data.topics``.

    The last ``held_out_fraction`` of the corpus is held out; the rest is cut into overlapping windows
    of ``seq_len + 1`` bytes with stride ``seq_len // 2``. ``optimal_loss`` is unknown (NaN);
    ``unigram_loss`` (the byte entropy) is the loss of a model that ignores context.
    """

    sequences: torch.Tensor
    held_out: torch.Tensor
    unigram_loss: float
    optimal_loss: float = float("nan")
    name: str = "text"

    @classmethod
    def create(
        cls, *, seq_len: int = 64, n_held_out: int = 128, held_out_fraction: float = 0.1
    ) -> TextSource:
        """Cut the corpus into training and held-out windows (deterministic, no seed needed)."""
        data = torch.tensor(list(_stdlib_corpus()), dtype=torch.int64)
        split = int(len(data) * (1 - held_out_fraction))
        stride = max(1, seq_len // 2)

        def windows(part: torch.Tensor) -> torch.Tensor:
            return part.unfold(0, seq_len + 1, stride).contiguous()

        train, held = windows(data[:split]), windows(data[split:])
        counts = torch.bincount(data[:split], minlength=256).double()
        freq = counts / counts.sum()
        unigram = float(-(freq[freq > 0] * freq[freq > 0].log()).sum())
        return cls(train, held[:n_held_out], unigram)


def make_source(
    kind: str, *, seq_len: int, n_sequences: int, n_held_out: int, seed: int
) -> MarkovSource | TextSource:
    """Build the data source named ``kind`` (``"markov"`` or ``"text"``)."""
    if kind == "markov":
        return MarkovSource.create(
            seq_len=seq_len, n_sequences=n_sequences, n_held_out=n_held_out, seed=seed
        )
    if kind == "text":
        return TextSource.create(seq_len=seq_len, n_held_out=n_held_out)
    raise ValueError(f"data source must be 'markov' or 'text', got {kind!r}")


def assign_batches(uid: int, window: int, dataset_size: int, pool_size: int) -> np.ndarray:
    """The sequences assigned to ``uid`` for ``window`` (Templar's ``MinerSampler``).

    ``seed = (uid * 1_000_003 XOR window) & 0xFFFFFFFF`` and the pool is
    ``default_rng(seed).choice(dataset_size, pool_size, replace=False)``; every miner and validator
    derives the same pool from (uid, window) alone.

    Returns
    -------
    numpy.ndarray
        ``[pool_size]`` int64 sequence ids, in draw order (the miner consumes them in order).
    """
    if pool_size > dataset_size:
        raise ValueError(f"pool_size {pool_size} exceeds dataset_size {dataset_size}")
    seed = ((uid * UID_MULTIPLIER) ^ window) & SEED_MASK
    return (
        np.random.default_rng(seed).choice(dataset_size, pool_size, replace=False).astype(np.int64)
    )


def eval_indices(pool: np.ndarray, n_eval: int, seed: int) -> np.ndarray:
    """The validator's eval sample: ``n_eval`` ids from ``pool`` drawn with a per-window seed."""
    n_eval = min(n_eval, len(pool))
    return np.random.default_rng(seed).choice(pool, n_eval, replace=False).astype(np.int64)


def random_pool_uid(seed: int, low: int = 1_000_000, high: int = 2_000_000) -> int:
    """A fake UID whose pool serves as the window's "random" data (same for every evaluated UID)."""
    return int(np.random.default_rng(seed).integers(low, high))


def sample_digest(ids: np.ndarray) -> str:
    """blake2b-128 hex digest over the sorted sample ids (the miner's data receipt)."""
    data = np.sort(np.asarray(ids, dtype=np.int64)).tobytes()
    return hashlib.blake2b(data, digest_size=16).hexdigest()
