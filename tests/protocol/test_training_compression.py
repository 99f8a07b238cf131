"""Compression: chunking, top-k, quantizer, packing, wire size, error feedback."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.training.compression import (
    CompressedGradient,
    compress_pseudo_gradient,
    compress_tensor,
    decompress,
    decompress_tensor,
    effective_k,
    from_chunks,
    pack_codes_2bit,
    pack_indices_12bit,
    to_chunks,
    unpack_codes_2bit,
    unpack_indices_12bit,
    wire_size,
)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@settings(max_examples=20, deadline=None)
@given(n1=st.sampled_from([64, 128, 192, 96, 30]), n2=st.sampled_from([64, 256, 48, 7]))
def test_chunk_round_trip(n1: int, n2: int) -> None:
    x = _randn(n1, n2)
    chunks = to_chunks(x, 64)
    assert torch.equal(from_chunks(chunks, (n1, n2), 64), x)
    assert chunks.numel() == x.numel()


def test_chunks_are_64x64_blocks() -> None:
    x = torch.arange(128 * 128).reshape(128, 128)
    chunks = to_chunks(x, 64)
    assert chunks.shape == (4, 4096)
    assert torch.equal(chunks[1], x[:64, 64:].reshape(-1))  # row-major over the chunk grid


def test_effective_k_rule() -> None:
    assert effective_k(64, 4096) == 64
    assert effective_k(64, 64) == 64
    assert effective_k(64, 7) == 6
    assert effective_k(64, 1) == 2


@settings(max_examples=20, deadline=None)
@given(
    data=st.lists(st.integers(0, 4095), min_size=2, max_size=40).filter(lambda v: len(v) % 2 == 0)
)
def test_12bit_packing_round_trip(data: list[int]) -> None:
    idx = torch.tensor(data).reshape(1, -1)
    packed = pack_indices_12bit(idx)
    assert packed.dtype == torch.uint8 and packed.shape[-1] == len(data) * 3 // 2
    assert torch.equal(unpack_indices_12bit(packed), idx)


def test_2bit_packing_round_trip() -> None:
    codes = torch.tensor([0, 1, 2, 3, 3, 2, 1], dtype=torch.uint8)
    packed = pack_codes_2bit(codes)
    assert packed.numel() == 2
    assert torch.equal(unpack_codes_2bit(packed, 7), codes)


def test_round_trip_within_quantizer_error() -> None:
    x = _randn(256, 128, seed=1)
    ct = compress_tensor(x, chunk=64, topk=64)
    dense = decompress_tensor(ct, chunk=64)
    chunks, dchunks = to_chunks(x, 64), to_chunks(dense, 64)
    kept = chunks.gather(1, ct.idx)
    decoded = dchunks.gather(1, ct.idx)
    # Support: exactly the top-k magnitudes per chunk, nothing else decoded.
    assert torch.equal((dchunks != 0).sum(1), torch.full((ct.idx.shape[0],), 64))
    threshold = chunks.abs().topk(64, dim=1).values[:, -1:]
    assert bool((kept.abs() >= threshold).all())
    # Each decoded value is its bin's centroid: within that bin's span of the original values.
    for code in range(4):
        members = kept[ct.codes == code]
        if members.numel():
            err = (decoded[ct.codes == code] - members).abs().max()
            assert float(err) <= float(members.max() - members.min()) + 1e-6
    # Interior bins are one quantizer step wide.
    interior = (ct.codes == 1) | (ct.codes == 2)
    assert float((decoded[interior] - kept[interior]).abs().max()) <= float(ct.scale) + 1e-6
    # Relative reconstruction error of the kept values: "sign + magnitude centroid" is coarse but bounded.
    assert float((decoded - kept).norm() / kept.norm()) < 0.5


def test_serialised_round_trip_is_exact() -> None:
    delta = {"w": _randn(128, 64, seed=2), "b": _randn(64, seed=3)}
    result = compress_pseudo_gradient(delta, None)
    for bits in (2, 8):
        payload = result.gradient.to_dict(value_bits=bits)
        assert all(isinstance(v, torch.Tensor) for v in payload.values())
        parsed = CompressedGradient.from_dict(payload)
        a, b = decompress(result.gradient), decompress(parsed)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_error_feedback_identity() -> None:
    delta = {"w": _randn(128, 128, seed=4)}
    error = {"w": _randn(128, 128, seed=5)}
    result = compress_pseudo_gradient(delta, error, ef_beta=0.95)
    acc = 0.95 * error["w"] + delta["w"]
    sent = decompress(result.gradient)["w"]
    torch.testing.assert_close(sent + result.error["w"], acc)
    assert 0 < result.transmitted_fraction < 1


def test_wire_ratio_146x_at_14_bits() -> None:
    result = compress_pseudo_gradient({"w": _randn(512, 512, seed=6)}, None, topk=64)
    size = wire_size(result.gradient, value_bits=2)
    assert size.payload_bits_per_value == 14.0
    assert size.payload_ratio_vs_fp32 == pytest.approx(4096 * 32 / (64 * 14))
    assert math.floor(size.payload_ratio_vs_fp32) == 146
    assert size.ratio_vs_fp32 == pytest.approx(146.3, rel=0.01)  # shapes and qparams add < 1 %
    stored = wire_size(result.gradient, value_bits=8)
    assert stored.payload_bits_per_value == 20.0
    assert stored.payload_ratio_vs_fp32 == pytest.approx(102.4)


def test_safetensors_round_trip() -> None:
    from safetensors.torch import load, save

    delta = {"blocks.0.fc.weight": _randn(256, 64, seed=7), "ln.bias": _randn(64, seed=8)}
    gradient = compress_pseudo_gradient(delta, None).gradient
    blob = save(gradient.to_dict())
    parsed = CompressedGradient.from_dict(load(blob))
    a, b = decompress(gradient), decompress(parsed)
    assert set(a) == set(delta) and all(torch.equal(a[k], b[k]) for k in a)
    assert len(blob) < 0.05 * sum(t.numel() * 4 for t in delta.values()) + 2048
