"""The one-pass upload check against the full path (decode, check_tensors, validate_gradient).

The property that matters: ``quick_accept`` never says yes where the full path says no. The
tests mutate valid payloads (data bytes, quantizer values, indices, format tag, header text) and
check that implication, and that unmutated payloads do take the quick path.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.live import (
    LiveError,
    PayloadLimits,
    TensorSpec,
    check_tensors,
    decode_payload,
    encode_payload,
    parse_safetensors_header,
    spec_from_reference,
)
from protocol.live.upload_check import (
    HEADER_CACHE_SIZE,
    compile_upload_layout,
    quick_accept,
    unpack_indices_12bit_np,
)
from protocol.training.compression import compress_pseudo_gradient
from protocol.training.validation import validate_gradient

# Chunk sizes 64 (k 4), 5 and 3 (k 4 and 2: bounded rows) and 4096 (no bound needed).
SHAPES = {"a.weight": (16, 24), "b.bias": (10,), "c.gain": (3,), "d.big": (64, 64)}
CHUNK, TOPK = 8, 4
LIMITS = PayloadLimits(max_bytes=1 << 20)


def _payload(seed: int, bins: int = 4, shapes=SHAPES, chunk: int = CHUNK) -> bytes:
    gen = torch.Generator().manual_seed(seed)
    delta = {name: torch.randn(shape, generator=gen) for name, shape in shapes.items()}
    # d.big gets chunks of 4096 only with chunk 64; the others keep `chunk`.
    result = compress_pseudo_gradient(
        delta, None, chunk=chunk, topk=TOPK, ef_beta=0.9, bins=bins, value_range=6.0
    )
    return encode_payload(result.gradient.to_dict(2))


def _setup(bins: int = 4, chunk: int = CHUNK):
    reference, _ = decode_payload(_payload(0, bins, chunk=chunk), LIMITS)
    spec = spec_from_reference(reference)
    hparams = {"chunk": chunk, "topk": TOPK, "bins": bins}
    layout = compile_upload_layout(spec, SHAPES, limits=LIMITS, **hparams)
    assert layout is not None
    return spec, hparams, layout


def _full_accepts(raw: bytes, spec, hparams) -> bool:
    try:
        tensors, _ = decode_payload(raw, LIMITS)
        check_tensors(tensors, spec)
    except LiveError:
        return False
    return validate_gradient(tensors, SHAPES, **hparams).ok


def _split(raw: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header_text: bytes, data: bytes) -> bytes:
    return struct.pack("<Q", len(header_text)) + header_text + data


def _poke(raw: bytes, name: str, offset: int, new: bytes) -> bytes:
    """``raw`` with ``new`` written at byte ``offset`` of tensor ``name``'s data."""
    entries = parse_safetensors_header(raw, LIMITS)
    (n,) = struct.unpack("<Q", raw[:8])
    at = 8 + n + entries[name].start + offset
    return raw[:at] + new + raw[at + len(new) :]


@pytest.mark.parametrize("chunk", [CHUNK, 64])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_valid_payloads_take_the_quick_path(seed, chunk):
    spec, hparams, layout = _setup(chunk=chunk)
    raw = _payload(seed, chunk=chunk)
    assert _full_accepts(raw, spec, hparams)
    assert quick_accept(raw, layout)


def test_the_live_engine_layout_compiles_and_its_uploads_pass():
    from sim.live.engine import LiveEngine, live_training_config

    config = live_training_config("cpu-tiny", {}, validators=1, validator_stake=1.0, max_miners=2)
    engine = LiveEngine(config, seed=0, emission_per_window=1.0)
    reference = engine.reference_payload()
    spec = spec_from_reference(reference)
    layout = compile_upload_layout(
        spec,
        engine.shapes,
        chunk=config.chunk,
        topk=config.topk,
        bins=config.quant_bins,
        limits=PayloadLimits(),
    )
    raw = encode_payload(reference)
    assert quick_accept(raw, layout)
    tensors, _ = decode_payload(raw, PayloadLimits())
    check_tensors(tensors, spec)
    assert engine.check_payload(tensors) == ""


def _float_bytes(value: float) -> bytes:
    return struct.pack("<f", value)


VALUE_MUTATIONS = {
    "nan shift": ("a.weight.qparams", 0, _float_bytes(math.nan)),
    "inf lut": ("b.bias.qparams", 12, _float_bytes(math.inf)),
    "huge lut": ("c.gain.qparams", 8, _float_bytes(2e6)),
    "zero scale": ("a.weight.qparams", 4, _float_bytes(0.0)),
    "negative scale": ("d.big.qparams", 4, _float_bytes(-1.0)),
    "scale at 1e4": ("b.bias.qparams", 4, _float_bytes(1e4)),
    "wrong dense shape": ("a.weight.shape", 0, struct.pack("<q", 24)),
    "format value bits 8": ("__format__", 8, struct.pack("<q", 8)),
    "format version 2": ("__format__", 0, struct.pack("<q", 2)),
    "format bins 3": ("__format__", 16, struct.pack("<q", 3)),
    # 12-bit pair (5, 4095) in b.bias's first chunk of 5: index out of range.
    "index out of range": ("b.bias.idx", 0, bytes([0x00, 0x5F, 0xFF])),
    # pair (7, 7) in a.weight's first chunk: a duplicate index.
    "duplicate index": ("a.weight.idx", 0, bytes([0x00, 0x70, 0x07])),
}


@pytest.mark.parametrize("mutation", sorted(VALUE_MUTATIONS))
def test_invalid_values_are_never_quick_accepted(mutation):
    spec, hparams, layout = _setup()
    name, offset, new = VALUE_MUTATIONS[mutation]
    raw = _poke(_payload(5), name, offset, new)
    assert not _full_accepts(raw, spec, hparams)
    assert not quick_accept(raw, layout)


def _header_variants(raw: bytes) -> dict[str, bytes]:
    header, data = _split(raw)
    text = json.dumps(header).encode()
    first = next(k for k in header if k != "__metadata__")
    variants = {
        "leading blank": _join(b" " + text, data),
        "metadata": _join(json.dumps({"__metadata__": {"a": "b"}} | header).encode(), data),
        "extra entry key": _join(
            json.dumps(header | {first: header[first] | {"x": 1}}).encode(), data
        ),
        "float shape": _join(text.replace(b'"shape": [3]', b'"shape": [3.0]'), data),
        "bool offsets": _join(
            text.replace(b'"data_offsets": [0, ', b'"data_offsets": [false, '), data
        ),
        "negative zero": _join(
            text.replace(b'"data_offsets": [0, ', b'"data_offsets": [-0, '), data
        ),
        "duplicate key": _join(
            text[:-1] + b", " + json.dumps({first: header[first]}).encode()[1:], data
        ),
        "dtype": _join(text.replace(b'"F32"', b'"F16"', 1), data),
        "truncated": raw[:-1],
        "trailing byte": raw + b"\0",
        "no tensors": _join(b"{}", b""),
        "pickle": b"\x80\x04\x95" + raw[3:],
        "too short": raw[:7],
    }
    # Swap two parameters' quantizer parameters: another valid file, tensors in another order.
    a, b = "a.weight.qparams", "b.bias.qparams"
    swapped = header | {
        a: header[a] | {"data_offsets": header[b]["data_offsets"]},
        b: header[b] | {"data_offsets": header[a]["data_offsets"]},
    }
    variants["swapped offsets"] = _join(json.dumps(swapped).encode(), data)
    # Two tensors on the same bytes: the lengths still add up, but a gap is left elsewhere.
    overlap = header | {b: header[b] | {"data_offsets": header[a]["data_offsets"]}}
    variants["overlap"] = _join(json.dumps(overlap).encode(), data)
    return variants


def test_header_variants_never_quick_accepted_where_the_full_path_refuses():
    spec, hparams, layout = _setup()
    raw = _payload(6)
    variants = _header_variants(raw)
    refused = [
        "overlap",
        "float shape",
        "bool offsets",
        "negative zero",
        "dtype",
        "truncated",
        "trailing byte",
        "no tensors",
        "pickle",
        "too short",
    ]
    for label in refused:
        assert variants[label] != raw, label
        assert not _full_accepts(variants[label], spec, hparams), label
        assert not quick_accept(variants[label], layout), label
    # Valid but unusual headers take the full path, which accepts them.
    for label in ("leading blank", "metadata", "extra entry key", "duplicate key"):
        assert _full_accepts(variants[label], spec, hparams), label
        assert not quick_accept(variants[label], layout), label
    # Tensors stored in another order are still an exact layout.
    assert _full_accepts(variants["swapped offsets"], spec, hparams)
    assert quick_accept(variants["swapped offsets"], layout)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 3),
    edits=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=3),
)
def test_random_byte_edits_never_fool_the_quick_check(seed, edits):
    spec, hparams, layout = _setup()
    raw = bytearray(_payload(seed))
    for where, value in edits:
        raw[where % len(raw)] = value
    mutated = bytes(raw)
    if quick_accept(mutated, layout):
        assert _full_accepts(mutated, spec, hparams)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 3), position=st.integers(0, 10**6))
def test_fewer_bins_refuse_an_unused_code_value(seed, position):
    """With 3 bins the code 3 is out of range where it is used, and ignored in the padding."""
    spec, hparams, layout = _setup(bins=3)
    raw = _payload(seed, bins=3)
    assert quick_accept(raw, layout)
    entries = parse_safetensors_header(raw, LIMITS)
    name = sorted(SHAPES)[position % len(SHAPES)]
    packed = entries[f"{name}.codes"]
    byte = (position // len(SHAPES)) % (packed.end - packed.start)
    mutated = _poke(raw, f"{name}.codes", byte, bytes([0xFF]))  # four codes of 3
    assert quick_accept(mutated, layout) == _full_accepts(mutated, spec, hparams)


def test_layouts_it_does_not_model_compile_to_none():
    spec, hparams, _ = _setup()
    bounded = dict(spec) | {"b.bias.idx": TensorSpec("U8", spec["b.bias.idx"].shape, 0, 10)}
    assert compile_upload_layout(bounded, SHAPES, limits=LIMITS, **hparams) is None
    extra = dict(spec) | {"z.other": TensorSpec("F32", (2,))}
    assert compile_upload_layout(extra, SHAPES, limits=LIMITS, **hparams) is None
    few = PayloadLimits(max_bytes=LIMITS.max_bytes, max_tensors=len(spec) - 1)
    assert compile_upload_layout(spec, SHAPES, limits=few, **hparams) is None
    assert quick_accept(_payload(1), None) is False


def test_header_cache_is_bounded_and_keyed_by_length():
    _, _, layout = _setup()
    raw = _payload(7)
    assert quick_accept(raw, layout)
    assert len(layout.header_cache) == 1
    # Same header, one byte more data: not the cached verdict (the tiling no longer holds).
    assert not quick_accept(raw + b"\0", layout)
    header, data = _split(raw)
    for pad in range(HEADER_CACHE_SIZE + 3):
        padded = json.dumps(header).encode() + b" " * pad
        assert quick_accept(_join(padded, data), layout)
    assert len(layout.header_cache) == HEADER_CACHE_SIZE


def test_index_unpacking_matches_the_training_decoder():
    """The numpy 12-bit unpack agrees with protocol.training's on every byte pattern."""
    from protocol.training.compression import unpack_indices_12bit

    triples = np.array(
        [[a, b, c] for a in (0, 1, 128, 255) for b in range(256) for c in (0, 7, 255)], np.uint8
    )
    expected = unpack_indices_12bit(torch.from_numpy(triples.reshape(1, -1))).reshape(-1)
    got = unpack_indices_12bit_np(triples.reshape(-1))
    assert np.array_equal(got.astype(np.int64), expected.numpy())
