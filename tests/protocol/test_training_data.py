"""Data assignment, sources and miner inner training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protocol.training import (
    CONFIGS,
    assign_batches,
    make_model,
    miner_train_window,
    train_replicas,
)
from protocol.training.data import MarkovSource, TextSource, sample_digest
from protocol.training.models import lm_loss, param_dict

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_assignment_rule_matches_templar_formula() -> None:
    uid, window = 7, 123
    seed = ((uid * 1_000_003) ^ window) & 0xFFFFFFFF
    expected = np.random.default_rng(seed).choice(1000, 50, replace=False)
    assert np.array_equal(assign_batches(uid, window, 1000, 50), expected)
    assert not np.array_equal(assign_batches(uid, window + 1, 1000, 50), expected)
    assert len(set(assign_batches(uid, window, 1000, 50))) == 50
    with pytest.raises(ValueError, match="pool_size"):
        assign_batches(1, 1, 10, 11)


def test_sample_digest_is_order_free() -> None:
    ids = np.array([5, 3, 9])
    assert sample_digest(ids) == sample_digest(ids[::-1])
    assert sample_digest(ids) != sample_digest(np.array([5, 3, 8]))
    assert len(sample_digest(ids)) == 32  # 128 bits


def test_markov_optimal_loss_is_the_true_models_loss() -> None:
    src = MarkovSource.create(seq_len=64, n_sequences=512, n_held_out=8, seed=3)
    seqs = src.sequences
    probs = src.transitions[seqs[:, :-1], seqs[:, 1:]]
    empirical = float(-probs.log().mean())
    assert empirical == pytest.approx(src.optimal_loss, abs=0.05)
    assert 0 < src.optimal_loss < np.log(256)
    again = MarkovSource.create(seq_len=64, n_sequences=512, n_held_out=8, seed=3)
    assert torch.equal(again.sequences, seqs)


def test_text_source_is_stdlib_bytes() -> None:
    src = TextSource.create(seq_len=64, n_held_out=16)
    assert src.sequences.shape[1] == 65 and src.sequences.shape[0] > 1000
    assert int(src.sequences.max()) < 256 and src.held_out.shape == (16, 65)
    assert 3.0 < src.unigram_loss < np.log(256)


@pytest.mark.parametrize("name", ["cpu-tiny", "cpu-small"])
def test_models_have_64_multiple_shapes_and_train(name: str) -> None:
    config = CONFIGS[name]
    model = make_model(config, seed=0)
    theta = param_dict(model)
    for p in theta.values():
        if p.dim() == 2:
            assert p.shape[0] % 64 == 0 and p.shape[1] % 64 == 0
    src = MarkovSource.create(seq_len=config.seq_len, n_sequences=64, n_held_out=4, seed=0)
    batches = src.sequences[:32].reshape(4, 8, -1)
    delta = miner_train_window(model, theta, batches, lr=config.inner_lr)
    after = {k: theta[k] - delta[k] for k in theta}
    assert float(lm_loss(model, after, src.sequences[:32])) < float(
        lm_loss(model, theta, src.sequences[:32])
    )


def test_gpu_config_size() -> None:
    model = make_model(CONFIGS["gpu-small"], seed=0)
    n = sum(p.numel() for p in model.parameters())
    assert 25e6 <= n <= 40e6
    assert CONFIGS["gpu-small"].replica_chunk > 0  # 28 replicas at once would not fit one GPU


def test_replica_batching_and_step_mask() -> None:
    config = CONFIGS["cpu-tiny"]
    model = make_model(config, seed=1)
    theta = param_dict(model)
    src = MarkovSource.create(seq_len=16, n_sequences=64, n_held_out=4, seed=1)
    batches = src.sequences[:48].reshape(2, 3, 8, -1)
    stacked = {k: torch.stack([v, v]) for k, v in theta.items()}
    mask = torch.tensor([[True, True, True], [False, False, False]])
    final, losses = train_replicas(model, stacked, batches, mask, lr=1e-2)
    assert losses.shape == (2, 3)
    assert all(torch.equal(final[k][1], theta[k]) for k in theta)  # masked replica untouched
    single = miner_train_window(model, theta, batches[0], lr=1e-2)
    for k in theta:
        torch.testing.assert_close(theta[k] - final[k][0], single[k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"windows_per_weights": 0}, "windows_per_weights=0 (expected >= 1)"),
        ({"chunk": 0}, "chunk=0"),
        ({"reserve_peer_count": -1}, "reserve_peer_count=-1 (expected >= 0)"),
        ({"topk": 2.5}, "topk=2.5 (expected int)"),
        ({"inner_lr": float("nan")}, "inner_lr=nan (expected finite number)"),
        ({"measure_marginal_value": 1}, "measure_marginal_value=1 (expected bool)"),
    ],
)
def test_training_config_refuses_bad_values(override: dict, fragment: str) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="invalid TrainingConfig") as err:
        replace(CONFIGS["cpu-tiny"], **override)
    assert fragment in str(err.value)
    # an int for a float field is fine (TOML writes 1 for 1.0)
    assert replace(CONFIGS["cpu-tiny"], inner_lr=1).inner_lr == 1


@pytest.mark.parametrize("name", ["cpu-tiny", "cpu-small"])
def test_make_model_leaves_the_global_rng_alone(name: str) -> None:
    # torch's default initialisers used to draw from the global RNG while building the modules
    before = torch.get_rng_state()
    first = make_model(CONFIGS[name], seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    second = make_model(CONFIGS[name], seed=5)
    other = make_model(CONFIGS[name], seed=6)
    params = dict(first.named_parameters())
    assert all(torch.equal(p, params[k]) for k, p in second.named_parameters())
    assert any(not torch.equal(p, params[k]) for k, p in other.named_parameters())
