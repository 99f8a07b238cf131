"""A one-pass acceptance check for compressed-gradient uploads, straight off the raw bytes.

The full path for an upload is :func:`~protocol.live.payload.decode_payload` (header parse,
safetensors decode into ~85 torch tensors), :func:`~protocol.live.payload.check_tensors` (layout,
NaN/inf, magnitude) and :func:`protocol.training.validation.validate_gradient` (format tag,
dense shapes, chunk grids, index range, duplicate indices, code range, quantizer parameters):
about 1.8 ms of coordinator CPU per ``cpu-small`` upload, mostly per-tensor Python and torch
dispatch overhead. :func:`quick_accept` answers the same question for the common case, an upload
laid out exactly as expected, with one strict header pass and a handful of numpy operations over
the concatenated bytes of each kind of tensor (no torch tensor is built).

It is a filter, never a judge: ``True`` only when the full path would accept the payload too
(the tests check both directions on valid and mutated payloads); ``False`` for anything unusual
(metadata, duplicate or extra JSON keys, other dtypes, a failing value), after which the caller
runs the full path, which accepts or refuses with its own reason. So the refusals, their codes
and their wording stay those of the full path, and anything this module does not model costs
speed, not safety.
"""

from __future__ import annotations

import json
import math
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from protocol.live.payload import MAX_ABS_FLOAT, PayloadLimits, TensorSpec
from protocol.training.compression import chunk_sides, effective_k

__all__ = [
    "HEADER_CACHE_SIZE",
    "UploadLayout",
    "compile_upload_layout",
    "quick_accept",
    "unpack_indices_12bit_np",
]

#: Parts of one parameter in the flat layout of ``CompressedGradient.to_dict`` with their dtypes.
_PARTS = {"shape": "I64", "idx": "U8", "codes": "U8", "qparams": "F32"}
_FORMAT_KEY = "__format__"
#: ``validate_gradient``'s quantizer scale bounds (exclusive) and ``from_dict``'s format version.
_SCALE_MIN, _SCALE_MAX = 1e-12, 1e4
_FORMAT_VERSION = 1
#: 12-bit indices never reach this, so chunks at least this large need no range check.
_INDEX_CEILING = 4096
_ENTRY_KEYS = frozenset(("dtype", "shape", "data_offsets"))
_DTYPE_SIZES = {"I64": 8, "U8": 1, "F32": 4}
#: Distinct exact headers remembered (each at most ``max_header_bytes``).
HEADER_CACHE_SIZE = 16


@dataclass(frozen=True)
class _IndexGroup:
    """Parameters sharing one ``k``: their index rows are checked together."""

    k: int
    params: tuple[str, ...]
    #: Per-row chunk size (exclusive index bound); ``None`` when every bound is >= 4096.
    row_limits: np.ndarray | None


@dataclass(frozen=True)
class UploadLayout:
    """The expected upload, precompiled for :func:`quick_accept`.

    Build it with :func:`compile_upload_layout`; fields are internal.
    """

    limits: PayloadLimits
    max_abs: float
    bins: int
    #: Tensor name → (dtype, shape as a list, byte length).
    entries: Mapping[str, tuple[str, list[int], int]]
    #: Parameter names in ``from_dict`` order (sorted).
    params: tuple[str, ...]
    #: ``__format__`` followed by every ``{param}.shape`` as little-endian int64 bytes.
    fixed_bytes: bytes
    index_groups: tuple[_IndexGroup, ...]
    #: Codes (first n of each parameter's packed bytes) that must be < bins; empty when bins == 4.
    code_counts: tuple[int, ...]
    #: (header bytes, body length) → tensor spans of headers already found exact. A header's
    #: verdict depends on nothing else, and miners running one safetensors version send
    #: byte-identical headers, so the JSON parse runs about once per sender kind.
    header_cache: dict[tuple[bytes, int], dict[str, tuple[int, int]]] = field(
        default_factory=dict, compare=False, repr=False
    )
    cache_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)


def compile_upload_layout(
    spec: Mapping[str, TensorSpec],
    shapes: Mapping[str, tuple[int, ...]],
    *,
    chunk: int,
    topk: int,
    bins: int,
    limits: PayloadLimits,
    max_abs: float = MAX_ABS_FLOAT,
) -> UploadLayout | None:
    """Precompile the checks for uploads shaped like ``spec``.

    Parameters
    ----------
    spec
        The expected tensors (:func:`~protocol.live.payload.spec_from_reference` of a 2-bit
        ``CompressedGradient.to_dict``).
    shapes
        Parameter name → dense shape (what ``validate_gradient`` is given).
    chunk, topk, bins
        Compression hparams (as given to ``validate_gradient``).
    limits
        The payload caps (as given to ``decode_payload``).
    max_abs
        The float magnitude cap (as given to ``check_tensors``).

    Returns
    -------
    UploadLayout or None
        ``None`` when ``spec`` is not the 2-bit compressed-gradient layout of ``shapes`` (then
        every upload takes the full path).
    """
    params = tuple(sorted(shapes))
    expected_names = {_FORMAT_KEY} | {f"{p}.{part}" for p in params for part in _PARTS}
    if set(spec) != expected_names or any(
        s.min_value is not None or s.max_value is not None for s in spec.values()
    ):
        return None
    if not 2 <= bins <= 4 or spec[_FORMAT_KEY] != TensorSpec("I64", (3,)):
        return None
    if len(spec) > limits.max_tensors or any(len(s.shape) > limits.max_rank for s in spec.values()):
        return None  # the full path refuses every upload; let it say why
    groups: dict[int, tuple[list[str], list[int]]] = {}
    code_counts = []
    fixed = [struct.pack("<3q", _FORMAT_VERSION, 2, bins)]
    for p in params:
        shape = tuple(int(d) for d in shapes[p])
        if not shape or any(d <= 0 for d in shape):
            return None
        chunk_size = math.prod(chunk_sides(shape, chunk))
        n_chunks, k = math.prod(shape) // chunk_size, effective_k(topk, chunk_size)
        packed_codes = -(-n_chunks * k // 4)
        layout = {
            "shape": TensorSpec("I64", (len(shape),)),
            "idx": TensorSpec("U8", (n_chunks, 3 * k // 2)),
            "codes": TensorSpec("U8", (packed_codes,)),
            "qparams": TensorSpec("F32", (2 + bins,)),
        }
        if any(spec[f"{p}.{part}"] != want for part, want in layout.items()):
            return None
        fixed.append(struct.pack(f"<{len(shape)}q", *shape))
        names, limits_by_row = groups.setdefault(k, ([], []))
        names.append(p)
        # Indices are 12-bit: a bound above 4096 is the same check as 4096 (and fits uint16).
        limits_by_row.extend([min(chunk_size, _INDEX_CEILING)] * n_chunks)
        code_counts.append(n_chunks * k)
    entries = {
        name: (s.dtype, list(s.shape), math.prod(s.shape) * _DTYPE_SIZES[s.dtype])
        for name, s in spec.items()
    }
    index_groups = tuple(
        _IndexGroup(
            k=k,
            params=tuple(names),
            row_limits=None
            if min(row_limits) >= _INDEX_CEILING
            else np.asarray(row_limits, dtype=np.uint16),
        )
        for k, (names, row_limits) in sorted(groups.items())
    )
    return UploadLayout(
        limits=limits,
        max_abs=float(max_abs),
        bins=bins,
        entries=entries,
        params=params,
        fixed_bytes=b"".join(fixed),
        index_groups=index_groups,
        code_counts=tuple(code_counts) if bins < 4 else (),
    )


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """``json.loads`` hook: a JSON object with a repeated key is not modelled (full path)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _NotModelledError
    return obj


class _NotModelledError(Exception):
    """Raised inside the header parse for input the full path must judge."""


def _header_spans(raw: bytes, layout: UploadLayout) -> dict[str, tuple[int, int]] | None:
    """Absolute byte spans of every tensor, when the header is exactly the expected layout."""
    size = len(raw)
    if size > layout.limits.max_bytes or size < 8:
        return None
    (header_len,) = struct.unpack_from("<Q", raw)
    if header_len > layout.limits.max_header_bytes or 8 + header_len > size:
        return None
    text = raw[8 : 8 + header_len]
    key = (text, size)
    spans = layout.header_cache.get(key)
    if spans is None:
        spans = _parse_exact_header(text, size, layout)
        if spans is not None:
            with layout.cache_lock:
                cache = layout.header_cache
                while len(cache) >= HEADER_CACHE_SIZE:
                    del cache[next(iter(cache))]  # the oldest
                cache[key] = spans
    return spans


def _parse_exact_header(
    text: bytes, size: int, layout: UploadLayout
) -> dict[str, tuple[int, int]] | None:
    """:func:`_header_spans` without the cache: the strict parse of header bytes ``text``."""
    header_len = len(text)
    # safetensors itself insists on a header that starts with '{' (json.loads would skip blanks).
    if text[:1] != b"{":
        return None
    # No negative numbers at all (a "-0" offset is 0 to Python, perhaps not to safetensors).
    if b"-" in text:
        return None
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (_NotModelledError, UnicodeDecodeError, ValueError, RecursionError):
        # ValueError also covers integer literals too long to convert (thousands of digits),
        # RecursionError arrays or objects nested about a thousand deep: the full path refuses.
        return None
    entries = layout.entries
    if not isinstance(header, dict) or len(header) != len(entries):
        return None
    data_len = size - 8 - header_len
    base = 8 + header_len
    spans: dict[str, tuple[int, int]] = {}
    for name, info in header.items():
        want = entries.get(name)
        if want is None or not isinstance(info, dict) or info.keys() != _ENTRY_KEYS:
            return None
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        # `type(x) is int` refuses floats and bools, which compare equal to ints.
        if dtype != want[0] or type(shape) is not list or shape != want[1]:
            return None
        if not all(type(d) is int for d in shape):
            return None
        if type(offsets) is not list or len(offsets) != 2:
            return None
        start, end = offsets
        if type(start) is not int or type(end) is not int:
            return None
        if not 0 <= start <= end <= data_len or end - start != want[2]:
            return None
        spans[name] = (base + start, base + end)
    # The tensors must tile the data exactly (as the full path and safetensors require).
    cursor = base
    for start, end in sorted(spans.values()):
        if start != cursor:
            return None
        cursor = end
    if cursor != size:
        return None
    return spans


def _gather(raw: memoryview, spans: Mapping[str, tuple[int, int]], names: list[str]) -> bytes:
    return b"".join([raw[spans[n][0] : spans[n][1]] for n in names])


def unpack_indices_12bit_np(packed: np.ndarray) -> np.ndarray:
    """Flat uint8 bytes (a multiple of 3) → uint16 indices, two per three bytes.

    The numpy twin of :func:`protocol.training.compression.unpack_indices_12bit`.
    """
    triples = packed.reshape(-1, 3).astype(np.uint16)
    idx = np.empty((triples.shape[0], 2), np.uint16)
    idx[:, 0] = (triples[:, 0] << 4) | (triples[:, 1] >> 4)
    idx[:, 1] = ((triples[:, 1] & 15) << 8) | triples[:, 2]
    return idx.reshape(-1)


def _indices_ok(raw: memoryview, spans: Mapping[str, tuple[int, int]], group: _IndexGroup) -> bool:
    """12-bit unpack of one ``k`` group; every index below its chunk size, none repeated in a row."""
    packed = np.frombuffer(_gather(raw, spans, [f"{p}.idx" for p in group.params]), np.uint8)
    rows = unpack_indices_12bit_np(packed).reshape(-1, group.k)
    if group.row_limits is not None and bool((rows.max(axis=1) >= group.row_limits).any()):
        return False
    if group.k > 1:
        ordered = np.sort(rows, axis=1)
        if bool((ordered[:, 1:] == ordered[:, :-1]).any()):
            return False
    return True


def _codes_ok(raw: memoryview, spans: Mapping[str, tuple[int, int]], layout: UploadLayout) -> bool:
    """With fewer than 4 bins, the used 2-bit codes (low bits first) must stay below ``bins``."""
    for p, count in zip(layout.params, layout.code_counts, strict=True):
        start, end = spans[f"{p}.codes"]
        packed = np.frombuffer(raw[start:end], np.uint8)
        codes = (packed[:, None] >> np.array([0, 2, 4, 6], np.uint8)) & 3
        if bool((codes.reshape(-1)[:count] >= layout.bins).any()):
            return False
    return True


def quick_accept(raw: bytes, layout: UploadLayout | None) -> bool:
    """Whether ``raw`` certainly passes the full upload checks.

    The full checks are ``decode_payload(raw, limits)``, ``check_tensors(tensors, spec,
    max_abs)`` and ``validate_gradient(tensors, shapes, chunk=, topk=, bins=)`` with the
    arguments ``layout`` was compiled from.

    Parameters
    ----------
    raw
        The upload body.
    layout
        From :func:`compile_upload_layout` (``None``: always ``False``).

    Returns
    -------
    bool
        ``True`` only if the full checks accept ``raw``; ``False`` means "run them".
    """
    if layout is None:
        return False
    try:
        return _quick_accept(raw, layout)
    except Exception:  # a filter never fails: anything odd goes to the full path, which judges
        return False


def _quick_accept(raw: bytes, layout: UploadLayout) -> bool:
    """:func:`quick_accept` for a compiled layout (may raise on input it does not model)."""
    spans = _header_spans(raw, layout)
    if spans is None:
        return False
    view = memoryview(raw)
    params = layout.params
    # Format tag and dense shapes: fixed values, one byte comparison.
    fixed = _gather(view, spans, [_FORMAT_KEY, *(f"{p}.shape" for p in params)])
    if fixed != layout.fixed_bytes:
        return False
    qparams = np.frombuffer(_gather(view, spans, [f"{p}.qparams" for p in params]), "<f4")
    qparams = qparams.reshape(len(params), 2 + layout.bins)
    # check_tensors: finite and within the magnitude cap (compared in float64, as torch does).
    if not bool(np.isfinite(qparams).all()):
        return False
    if not bool((np.abs(qparams.astype(np.float64)) <= layout.max_abs).all()):
        return False
    scales = qparams[:, 1].astype(np.float64)
    if not bool(((scales > _SCALE_MIN) & (scales < _SCALE_MAX)).all()):
        return False
    if layout.code_counts and not _codes_ok(view, spans, layout):
        return False
    return all(_indices_ok(view, spans, group) for group in layout.index_groups)
