"""Ground-truth training rounds: SparseLoCo miners and Gauntlet validators on a real torch model.

Sources: the Templar / Covenant code (``one-covenant/templar`` @ ``142666f0``, 2026-03-31:
``neurons/{miner,validator}.py``, ``src/tplr/{compress,neurons,comms,chain,sharded_sampler}.py``,
``hparams/hparams.json``; "templar" below), the Gauntlet paper ("Incentivizing Permissionless
Distributed Learning of LLMs", arXiv:2505.21684), SparseLoCo (Sarfi, Thérien, Lidin, Belilovsky
2025, arXiv:2508.15706) and the Covenant-72B report (arXiv:2603.08163). docs/training.md describes
the modules and the deviations.
No I/O here; the CLI (``govsim ground-truth``) writes files.

Public API
----------
TrainingConfig, CONFIGS, get_config
    Run configuration and the named ``cpu-tiny`` / ``cpu-small`` / ``gpu-small`` configs.
make_model(config, seed=, device=) -> nn.Module; lm_loss(model, params, sequences)
MarkovSource, TextSource, make_source; assign_batches(uid, window, dataset_size, pool_size)
miner_train_window(model, theta, batches[H,B,T+1], lr=...) -> Δ; train_replicas (vmapped over replicas)
compress_pseudo_gradient(delta, error, chunk=, topk=, ef_beta=) -> CompressionResult
decompress(gradient, chunk) -> dense; CompressedGradient (.to_dict()/.from_dict(): safetensors layout)
validate_gradient(payload, expected_shapes, chunk=, topk=, bins=) -> ValidationResult
ValidatorState, process_window, compute_weights, aggregate, outer_step (Gauntlet validator)
init_run(config, seed, device) -> RunState; run_round(state, external=None) -> RoundMetrics
worker_task(state, uid) -> WorkerTask; ExternalUpload(payload, put_time, debug): live-mode hooks
MINER_STRATEGIES: registry of miner behaviours.
"""

from __future__ import annotations

from protocol.training.clock import VirtualClock
from protocol.training.compression import (
    CompressedGradient,
    CompressedTensor,
    CompressionResult,
    WireSize,
    compress_pseudo_gradient,
    decompress,
    wire_size,
)
from protocol.training.config import CONFIGS, TrainingConfig, get_config
from protocol.training.data import (
    MarkovSource,
    TextSource,
    assign_batches,
    eval_indices,
    make_source,
    sample_digest,
)
from protocol.training.miner import (
    MINER_STRATEGIES,
    MinerStrategy,
    miner_train_window,
    train_replicas,
)
from protocol.training.models import lm_loss, make_model
from protocol.training.round import (
    ExternalUpload,
    RoundMetrics,
    RunState,
    UidRecord,
    WorkerTask,
    init_run,
    run_round,
    worker_task,
)
from protocol.training.validation import ValidationResult, validate_gradient
from protocol.training.validator import (
    Submission,
    ValidatorState,
    aggregate,
    compute_weights,
    outer_step,
    process_window,
)

GauntletValidator = ValidatorState  # the state object; scoring is process_window()

__all__ = [
    "CONFIGS",
    "MINER_STRATEGIES",
    "CompressedGradient",
    "CompressedTensor",
    "CompressionResult",
    "ExternalUpload",
    "GauntletValidator",
    "MarkovSource",
    "MinerStrategy",
    "RoundMetrics",
    "RunState",
    "Submission",
    "TextSource",
    "TrainingConfig",
    "UidRecord",
    "ValidationResult",
    "ValidatorState",
    "VirtualClock",
    "WireSize",
    "WorkerTask",
    "aggregate",
    "assign_batches",
    "compress_pseudo_gradient",
    "compute_weights",
    "decompress",
    "eval_indices",
    "get_config",
    "init_run",
    "lm_loss",
    "make_model",
    "make_source",
    "miner_train_window",
    "outer_step",
    "process_window",
    "run_round",
    "sample_digest",
    "train_replicas",
    "validate_gradient",
    "wire_size",
    "worker_task",
]
