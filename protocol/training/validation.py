"""Structural checks on an upload before any tensor reaches a model (spec §2 step 9, §12.2 live mode).

Templar's ``check_compressed_indices`` plus the live-mode boundary: every expected parameter present and
no others, dense shape as expected, the chunk grid and exactly ``k`` indices per chunk, indices inside
the chunk, no duplicate index within a chunk (added here: a duplicate makes the scatter ambiguous),
codes inside the quantizer's bins, finite quantizer parameters with ``scale`` in (1e-12, 1e4), finite
lookup table, and an optional byte limit. A failure is reported, never raised: the validator scores an
invalid upload as invalid (final score 0, OpenSkill −99; spec §6.6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from protocol.training.compression import (
    CompressedGradient,
    CompressedTensor,
    chunk_sides,
    effective_k,
)

__all__ = ["SCALE_MAX", "SCALE_MIN", "ValidationResult", "validate_gradient"]

SCALE_MIN = 1e-12
SCALE_MAX = 1e4


@dataclass(frozen=True)
class ValidationResult:
    """``ok`` and, when not ok, a one-line ``reason`` naming the parameter; the parsed gradient if ok."""

    ok: bool
    reason: str = ""
    gradient: CompressedGradient | None = None


def _check_tensor(
    name: str, ct: CompressedTensor, shape: tuple[int, ...], *, chunk: int, topk: int, bins: int
) -> str:
    if tuple(ct.shape) != tuple(shape):
        return f"{name}: shape {tuple(ct.shape)} != expected {tuple(shape)}"
    sides = chunk_sides(shape, chunk)
    chunk_size = math.prod(sides)
    n_chunks = math.prod(shape) // chunk_size
    k = effective_k(topk, chunk_size)
    if tuple(ct.idx.shape) != (n_chunks, k):
        return f"{name}: index grid {tuple(ct.idx.shape)} != expected ({n_chunks}, {k}) (wrong k or chunking)"
    if tuple(ct.codes.shape) != (n_chunks, k):
        return f"{name}: value grid {tuple(ct.codes.shape)} != expected ({n_chunks}, {k})"
    if ct.idx.numel() and (int(ct.idx.min()) < 0 or int(ct.idx.max()) >= chunk_size):
        return f"{name}: index out of range [0, {chunk_size})"
    if k > 1 and bool((ct.idx.sort(dim=1).values.diff(dim=1) == 0).any()):
        return f"{name}: duplicate index within a chunk"
    if ct.codes.numel() and int(ct.codes.max()) >= bins:
        return f"{name}: quantizer code >= bins ({bins})"
    if ct.lut.numel() != bins:
        return f"{name}: lookup table has {ct.lut.numel()} entries, expected {bins}"
    qparams = torch.cat([ct.shift.reshape(1), ct.scale.reshape(1), ct.lut.reshape(-1)])
    if not bool(torch.isfinite(qparams).all()):
        return f"{name}: non-finite quantizer parameters"
    scale = float(ct.scale)
    if not SCALE_MIN < scale < SCALE_MAX:
        return f"{name}: quantizer scale {scale:g} outside ({SCALE_MIN:g}, {SCALE_MAX:g})"
    return ""


def validate_gradient(
    payload: CompressedGradient | Mapping[str, torch.Tensor],
    expected_shapes: Mapping[str, tuple[int, ...]],
    *,
    chunk: int = 64,
    topk: int = 64,
    bins: int = 4,
    max_bytes: int | None = None,
) -> ValidationResult:
    """Check an upload against the model's parameters and the compression hparams.

    Parameters
    ----------
    payload
        A :class:`CompressedGradient`, or the flat tensor dict of :meth:`CompressedGradient.to_dict`
        (e.g. loaded from safetensors). Anything else is rejected.
    expected_shapes
        Parameter name → dense shape of the model.
    chunk, topk, bins
        Compression hparams the upload must follow.
    max_bytes
        Optional limit on the serialised size (dict payloads only).

    Returns
    -------
    ValidationResult
    """
    if isinstance(payload, CompressedGradient):
        gradient = payload
    elif isinstance(payload, Mapping):
        if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()):
            return ValidationResult(False, "payload must map strings to tensors")
        size = sum(t.numel() * t.element_size() for t in payload.values())
        if max_bytes is not None and size > max_bytes:
            return ValidationResult(False, f"payload of {size} bytes exceeds the limit {max_bytes}")
        try:
            gradient = CompressedGradient.from_dict(payload)
        except ValueError as exc:
            return ValidationResult(False, str(exc))
    else:
        return ValidationResult(False, f"payload type {type(payload).__name__} is not accepted")
    missing = sorted(set(expected_shapes) - set(gradient.tensors))
    extra = sorted(set(gradient.tensors) - set(expected_shapes))
    if missing or extra:
        return ValidationResult(False, f"parameters missing {missing[:3]} / unexpected {extra[:3]}")
    for name, shape in expected_shapes.items():
        reason = _check_tensor(
            name, gradient.tensors[name], shape, chunk=chunk, topk=topk, bins=bins
        )
        if reason:
            return ValidationResult(False, reason)
    return ValidationResult(True, "", gradient)
