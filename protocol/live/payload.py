"""Upload payloads: size caps, a strict safetensors header check, decoding, tensor validation.

Uploads are safetensors: an 8-byte little-endian header length, a JSON header
``{name: {"dtype", "shape", "data_offsets"}}``, then raw data. :func:`parse_safetensors_header`
checks all of it *before* any tensor is built (length cap, header cap, dtypes, shapes, offsets
that tile the data exactly), so pickles, zip archives (``torch.save``), truncated or lying files
are refused with a clear reason and nothing executable is ever loaded. :func:`check_tensors`
then compares the decoded tensors with the expected layout and refuses NaN/inf and out-of-range
integers.
"""

from __future__ import annotations

import json
import math
import reprlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from protocol.live.errors import LiveError

__all__ = [
    "DTYPE_SIZES",
    "MAX_ABS_FLOAT",
    "PayloadLimits",
    "TensorEntry",
    "TensorSpec",
    "check_tensors",
    "decode_payload",
    "encode_payload",
    "parse_safetensors_header",
    "spec_from_reference",
]

#: safetensors dtype name → bytes per element (the dtypes live mode accepts).
DTYPE_SIZES: dict[str, int] = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}
_TORCH_TO_ST = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


@dataclass(frozen=True)
class PayloadLimits:
    """Caps applied before parsing.

    Parameters
    ----------
    max_bytes
        Largest accepted body.
    max_header_bytes
        Largest accepted JSON header.
    max_tensors
        Most tensors in one payload.
    max_rank
        Most dimensions per tensor.
    """

    max_bytes: int = 32 * 1024 * 1024
    max_header_bytes: int = 256 * 1024
    max_tensors: int = 4096
    max_rank: int = 8


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the header describes it."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class TensorSpec:
    """What one tensor of a valid payload must look like.

    ``min_value``/``max_value`` bound integer tensors (e.g. top-k indices within a chunk).
    """

    dtype: str
    shape: tuple[int, ...]
    min_value: int | None = None
    max_value: int | None = None


def _refuse(detail: str, code: str = "malformed_payload", status: int = 422) -> LiveError:
    return LiveError(status, code, detail)


def _sniff(raw: bytes) -> str:
    """A hint about what a non-safetensors body is, for the error message."""
    if raw[:1] == b"\x80":
        return " (it looks like a Python pickle, which is never accepted)"
    if raw[:2] == b"PK":
        return " (it looks like a zip / torch.save archive, which is never accepted)"
    return ""


def parse_safetensors_header(raw: bytes, limits: PayloadLimits) -> dict[str, TensorEntry]:
    """Check a safetensors byte string's framing and header without building tensors.

    Parameters
    ----------
    raw
        The whole payload.
    limits
        Size and shape caps.

    Returns
    -------
    dict[str, TensorEntry]
        The tensors the header declares.

    Raises
    ------
    LiveError
        413 ``payload_too_large`` over ``limits.max_bytes``; 415 ``not_safetensors`` when the
        framing is wrong (pickles, archives, truncated data); 422 ``malformed_payload`` for a
        header that lies about dtypes, shapes or offsets.
    """
    return _parse_header(raw, limits)[0]


def _parse_header(
    raw: bytes, limits: PayloadLimits
) -> tuple[dict[str, TensorEntry], dict[str, str]]:
    """:func:`parse_safetensors_header`, also returning the header's string metadata."""
    if len(raw) > limits.max_bytes:
        raise _refuse(
            f"payload: {len(raw)} bytes exceeds the cap of {limits.max_bytes}",
            "payload_too_large",
            413,
        )
    if len(raw) < 8:
        raise _refuse(
            f"payload: {len(raw)} bytes is too short for safetensors{_sniff(raw)}",
            "not_safetensors",
            415,
        )
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > limits.max_header_bytes or 8 + header_len > len(raw):
        raise _refuse(
            f"payload: header length {header_len} is not within the body of {len(raw)} bytes "
            f"(cap {limits.max_header_bytes}); not a safetensors file{_sniff(raw)}",
            "not_safetensors",
            415,
        )
    header = _load_header_json(raw, header_len)
    if not isinstance(header, dict):
        raise _refuse("payload: header must be a JSON object", "not_safetensors", 415)
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise _refuse("payload.__metadata__: expected an object of strings")
    if len(header) > limits.max_tensors:
        raise _refuse(f"payload: {len(header)} tensors exceeds the cap of {limits.max_tensors}")
    data_len = len(raw) - 8 - header_len
    entries: dict[str, TensorEntry] = {}
    for name, info in header.items():
        entries[name] = _entry(name, info, data_len, limits)
    # The declared tensors must tile the data exactly: no gaps, no overlaps, no trailing bytes.
    spans = sorted((e.start, e.end) for e in entries.values())
    cursor = 0
    for start, end in spans:
        if start != cursor:
            raise _refuse(f"payload: tensor data offsets leave a gap or overlap at byte {cursor}")
        cursor = end
    if cursor != data_len:
        raise _refuse(f"payload: tensors cover {cursor} of {data_len} data bytes")
    return entries, dict(metadata or {})


def _load_header_json(raw: bytes, header_len: int) -> object:
    """The header's JSON value; every way the text can fail to parse is a refusal.

    Besides text that is not UTF-8 JSON (415), Python's parser raises ``ValueError`` for an
    integer literal longer than ``sys.get_int_max_str_digits()`` digits and ``RecursionError``
    for arrays or objects nested about a thousand deep: both are 422 (a valid safetensors header
    is an object of objects, three levels deep, with small integers).
    """
    try:
        text = raw[8 : 8 + header_len].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(
            f"payload: header is not UTF-8 JSON ({exc}){_sniff(raw)}", "not_safetensors", 415
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refuse(
            f"payload: header is not UTF-8 JSON ({exc}){_sniff(raw)}", "not_safetensors", 415
        ) from exc
    except RecursionError:
        raise _refuse(
            "payload: header is nested too deeply (a safetensors header is 3 levels deep)"
        ) from None
    except ValueError as exc:  # e.g. an integer literal of thousands of digits
        raise _refuse(f"payload: header holds a value Python cannot read ({exc})"[:300]) from None


#: Largest dimension or offset a header may declare (safetensors reads them as 64-bit sizes).
_MAX_HEADER_INT = 2**63 - 1
_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother, _BRIEF.maxlong = 2, 40, 40, 24
_BRIEF.maxlist = _BRIEF.maxdict = 6


def _brief(value: object) -> str:
    """A short repr of a header value for an error line, never raising.

    A header value may be a string of 200 kB, a list nested hundreds deep or an integer of
    thousands of digits (whose ``str`` raises ``ValueError``); none of them may turn a refusal
    into a crash.
    """
    try:
        return _BRIEF.repr(value)[:80]
    except (ValueError, RecursionError):
        return f"<a {type(value).__name__}>"


def _is_size(value: object) -> bool:
    """A JSON integer (not a bool) in ``[0, 2**63)``."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_HEADER_INT


def _entry(name: str, info: object, data_len: int, limits: PayloadLimits) -> TensorEntry:
    where = f"payload[{_brief(name)}]"
    if not isinstance(info, dict):
        raise _refuse(f"{where}: expected an object with dtype, shape, data_offsets")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    # isinstance first: a list or object is unhashable and `in` on a dict would raise TypeError.
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise _refuse(f"{where}.dtype: {_brief(dtype)} is not one of {sorted(DTYPE_SIZES)}")
    if (
        not isinstance(shape, list)
        or len(shape) > limits.max_rank
        or not all(_is_size(d) for d in shape)
    ):
        raise _refuse(
            f"{where}.shape: expected up to {limits.max_rank} ints in [0, 2**63), got {_brief(shape)}"
        )
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_size(o) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= data_len
    ):
        raise _refuse(f"{where}.data_offsets: expected [start, end] within {data_len} bytes")
    nbytes = math.prod(shape) * DTYPE_SIZES[dtype]  # at most 8 dims of 63 bits: printable
    if offsets[1] - offsets[0] != nbytes:
        raise _refuse(
            f"{where}: shape {shape} of {dtype} needs {nbytes} bytes, offsets give {offsets[1] - offsets[0]}"
        )
    return TensorEntry(dtype=dtype, shape=tuple(shape), start=offsets[0], end=offsets[1])


def decode_payload(
    raw: bytes, limits: PayloadLimits
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Check and decode a safetensors payload into CPU tensors and its string metadata.

    Raises
    ------
    LiveError
        As :func:`parse_safetensors_header`, or 422 when safetensors itself refuses the data.
    """
    _, meta = _parse_header(raw, limits)
    try:
        tensors = st_load(raw)
    except Exception as exc:  # safetensors raises its own error types for bad bytes
        raise _refuse(f"payload: safetensors could not decode it ({exc})") from exc
    return tensors, meta


def encode_payload(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Serialize tensors (moved to CPU, made contiguous) as safetensors bytes."""
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    return st_save(cpu, metadata=dict(metadata) if metadata else None)


def spec_from_reference(
    reference: Mapping[str, torch.Tensor], index_bounds: Mapping[str, tuple[int, int]] | None = None
) -> dict[str, TensorSpec]:
    """The expected layout of a payload, taken from a reference payload of the right shape.

    Parameters
    ----------
    reference
        A payload the coordinator built itself (e.g. the compression of a zero update).
    index_bounds
        Optional ``name -> (min, max)`` inclusive bounds for integer tensors.
    """
    bounds = dict(index_bounds or {})
    specs: dict[str, TensorSpec] = {}
    for name, t in reference.items():
        lo, hi = bounds.get(name, (None, None))
        specs[name] = TensorSpec(
            dtype=_TORCH_TO_ST[t.dtype], shape=tuple(t.shape), min_value=lo, max_value=hi
        )
    return specs


#: Largest magnitude accepted in a float tensor of an upload. Quantizer scales must be < 1e4
#: (``validate_gradient``); look-up values and shifts of a sane update are far below this, and the
#: cap keeps norms and sums of uploads finite in float32.
MAX_ABS_FLOAT = 1e6


def check_tensors(
    tensors: Mapping[str, torch.Tensor],
    expected: Mapping[str, TensorSpec],
    max_abs: float = MAX_ABS_FLOAT,
) -> None:
    """Refuse tensors that do not match ``expected`` exactly, or hold NaN/inf/out-of-range values.

    Raises
    ------
    LiveError
        422 ``wrong_layout`` (names, dtypes, shapes), 422 ``non_finite`` (NaN/inf) or
        422 ``out_of_range`` (integer bounds, float magnitude over ``max_abs``); the detail names
        the tensor.
    """
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise _refuse(
            f"payload: tensor names differ from the expected layout (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]})",
            "wrong_layout",
        )
    # Batched first: one pass per float dtype instead of ~4 tensor ops per tensor. On any
    # failure the per-tensor loop below finds the first offending tensor and names it.
    if _layout_matches(tensors, expected) and _values_within(tensors, expected, max_abs):
        return
    for name, spec in expected.items():
        t = tensors[name]
        dtype = _TORCH_TO_ST.get(t.dtype)
        if dtype != spec.dtype or tuple(t.shape) != spec.shape:
            raise _refuse(
                f"payload[{name!r}]: got {dtype} {list(t.shape)}, expected {spec.dtype} {list(spec.shape)}",
                "wrong_layout",
            )
        if t.is_floating_point():
            if not bool(torch.isfinite(t).all()):
                raise _refuse(f"payload[{name!r}]: contains NaN or inf", "non_finite")
            if t.numel() and float(t.abs().max()) > max_abs:
                raise _refuse(
                    f"payload[{name!r}]: |value| up to {float(t.abs().max()):.3g} exceeds {max_abs:g}",
                    "out_of_range",
                )
        elif t.numel() and t.dtype != torch.bool:
            lo, hi = int(t.min()), int(t.max())
            if (spec.min_value is not None and lo < spec.min_value) or (
                spec.max_value is not None and hi > spec.max_value
            ):
                raise _refuse(
                    f"payload[{name!r}]: values span [{lo}, {hi}], expected within "
                    f"[{spec.min_value}, {spec.max_value}]",
                    "out_of_range",
                )
    # Unreachable unless the batched and per-tensor checks disagree: refuse rather than pass.
    raise _refuse("payload: tensors failed the batched value checks", "out_of_range")


def _layout_matches(
    tensors: Mapping[str, torch.Tensor], expected: Mapping[str, TensorSpec]
) -> bool:
    """Every expected tensor has its dtype and shape (names already match)."""
    for name, spec in expected.items():
        t = tensors[name]
        if _TORCH_TO_ST.get(t.dtype) != spec.dtype or tuple(t.shape) != spec.shape:
            return False
    return True


def _values_within(
    tensors: Mapping[str, torch.Tensor], expected: Mapping[str, TensorSpec], max_abs: float
) -> bool:
    """The value checks of :func:`check_tensors` for all tensors at once (layout already ok)."""
    floats: dict[torch.dtype, list[torch.Tensor]] = {}
    for name, spec in expected.items():
        t = tensors[name]
        if not t.numel():
            continue
        if t.is_floating_point():
            floats.setdefault(t.dtype, []).append(t.reshape(-1))
        elif t.dtype != torch.bool and (spec.min_value is not None or spec.max_value is not None):
            # Only bounded integer tensors need their extremes (none in a gradient upload).
            lo, hi = int(t.min()), int(t.max())
            if (spec.min_value is not None and lo < spec.min_value) or (
                spec.max_value is not None and hi > spec.max_value
            ):
                return False
    for group in floats.values():
        values = group[0] if len(group) == 1 else torch.cat(group)
        if not bool(torch.isfinite(values).all()) or float(values.abs().max()) > max_abs:
            return False
    return True
