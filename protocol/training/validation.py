"""Structural checks on an upload before any tensor reaches a model (templar's
``check_compressed_indices`` in ``src/tplr/neurons.py``, plus the live-mode boundary of
docs/live.md).

Templar's ``check_compressed_indices`` plus the live-mode boundary: every expected parameter present and
no others, dense shape as expected, the chunk grid and exactly ``k`` indices per chunk, indices inside
the chunk, no duplicate index within a chunk (added here: a duplicate makes the scatter ambiguous),
codes inside the quantizer's bins, finite quantizer parameters with ``scale`` in (1e-12, 1e4), finite
lookup table, and an optional byte limit. A failure is reported, never raised: the validator scores an
invalid upload as invalid (final score 0, OpenSkill −99; templar ``neurons/validator.py``).
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=4096)
def _grid(shape: tuple[int, ...], chunk: int, topk: int) -> tuple[int, int, int]:
    """``(chunk_size, n_chunks, k)`` of a parameter of ``shape``."""
    chunk_size = math.prod(chunk_sides(tuple(shape), chunk))
    return chunk_size, math.prod(shape) // chunk_size, effective_k(topk, chunk_size)


def _layout_ok(
    gradient: CompressedGradient,
    expected_shapes: Mapping[str, tuple[int, ...]],
    *,
    chunk: int,
    topk: int,
    bins: int,
) -> bool:
    """Shapes, grids and table sizes of every parameter (pure Python, no tensor data read)."""
    for name, shape in expected_shapes.items():
        ct = gradient.tensors[name]
        if tuple(ct.shape) != tuple(shape):
            return False
        _, n_chunks, k = _grid(shape, chunk, topk)
        if tuple(ct.idx.shape) != (n_chunks, k) or tuple(ct.codes.shape) != (n_chunks, k):
            return False
        if ct.lut.numel() != bins:
            return False
    return True


def _values_ok(
    gradient: CompressedGradient,
    expected_shapes: Mapping[str, tuple[int, ...]],
    *,
    chunk: int,
    topk: int,
    bins: int,
) -> bool:
    """Every data check of :func:`_check_tensor`, for all parameters at once.

    Index grids of equal ``k`` are stacked so the range and duplicate checks (sort along the
    chunk axis, compare neighbours) run once per distinct ``k`` instead of once per parameter.
    Assumes :func:`_layout_ok`.
    """
    by_k: dict[int, tuple[list[torch.Tensor], list[int]]] = {}
    codes, qparams = [], []
    for name, shape in expected_shapes.items():
        ct = gradient.tensors[name]
        chunk_size, _, k = _grid(shape, chunk, topk)
        grids, limits = by_k.setdefault(k, ([], []))
        grids.append(ct.idx)
        limits.append(chunk_size)
        codes.append(ct.codes.reshape(-1))
        qparams.append(torch.cat([ct.shift.reshape(1), ct.scale.reshape(1), ct.lut.reshape(-1)]))
    for k, (grids, limits) in by_k.items():
        idx = grids[0] if len(grids) == 1 else torch.cat(grids)
        if not idx.numel():
            continue
        if int(idx.min()) < 0:
            return False
        # Each row's bound is its parameter's chunk size; equal bounds need no per-row vector.
        if len(set(limits)) == 1:
            if int(idx.max()) >= limits[0]:
                return False
        else:
            rows = torch.tensor([g.shape[0] for g in grids])
            bound = torch.repeat_interleave(
                torch.tensor(limits, device=idx.device), rows.to(idx.device)
            )
            if bool((idx.max(dim=1).values >= bound).any()):
                return False
        if k > 1 and bool((idx.sort(dim=1).values.diff(dim=1) == 0).any()):
            return False
    all_codes = torch.cat(codes) if codes else torch.empty(0, dtype=torch.uint8)
    if all_codes.numel() and int(all_codes.max()) >= bins:
        return False
    params = torch.stack(qparams) if qparams else torch.empty(0, 2 + bins)
    if not bool(torch.isfinite(params).all()):
        return False
    scales = params[:, 1].double()
    return bool(((scales > SCALE_MIN) & (scales < SCALE_MAX)).all())


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
    hparams = {"chunk": chunk, "topk": topk, "bins": bins}
    shapes = {name: tuple(int(d) for d in shape) for name, shape in expected_shapes.items()}
    if _layout_ok(gradient, shapes, **hparams) and _values_ok(gradient, shapes, **hparams):
        return ValidationResult(True, "", gradient)
    # Something failed: the per-parameter checks find the first failure and name it.
    for name, shape in expected_shapes.items():
        reason = _check_tensor(name, gradient.tensors[name], shape, **hparams)
        if reason:
            return ValidationResult(False, reason)
    # Unreachable unless the batched and per-parameter checks disagree; refuse rather than pass.
    return ValidationResult(False, "upload failed the batched structural checks")
