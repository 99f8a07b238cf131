"""SparseLoCo compression (arXiv:2508.15706; templar ``src/tplr/compress.py``): chunked top-k,
error feedback, the 2-bit quantizer with its
lookup table, 12-bit index packing and the measured wire size.

Serialised layout (:meth:`CompressedGradient.to_dict`, a flat ``dict[str, Tensor]`` ready for
safetensors). For every parameter ``name``:

=====================  ========  ===================================  ==========================================
key                    dtype     shape                                meaning
=====================  ========  ===================================  ==========================================
``{name}.shape``       int64     ``[ndim]``                           dense shape of the parameter
``{name}.idx``         uint8     ``[n_chunks, 3k/2]``                 12-bit indices within each chunk, two per
                                                                      3 bytes (``a>>4``, ``(a&15)<<4 | b>>8``,
                                                                      ``b&255``)
``{name}.codes``       uint8     ``[n_chunks, k]`` (8-bit) or         quantizer codes in ``[0, bins)``; with
                                 ``[ceil(n_chunks·k/4)]`` (2-bit)     2-bit packing four codes per byte, low first
``{name}.qparams``     float32   ``[2 + bins]``                       ``shift, scale, lut[0..bins)``
=====================  ========  ===================================  ==========================================

plus ``__format__`` (int64 ``[3]``: format version 1, value bits 2 or 8, bins). Chunks are laid out
row-major over the chunk grid; a 2-D ``(n1, n2)`` tensor with chunk sides ``(h, w)`` (the largest
divisors ≤ ``chunk``) becomes ``[(n1/h)·(n2/w), h·w]``; 1-D tensors use chunks of ≤ ``chunk`` entries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

__all__ = [
    "FORMAT_VERSION",
    "CompressedGradient",
    "CompressedTensor",
    "CompressionResult",
    "WireSize",
    "chunk_sides",
    "compress_pseudo_gradient",
    "compress_tensor",
    "decompress",
    "decompress_tensor",
    "dequantize",
    "effective_k",
    "from_chunks",
    "pack_codes_2bit",
    "pack_indices_12bit",
    "quantize",
    "to_chunks",
    "unpack_codes_2bit",
    "unpack_indices_12bit",
    "wire_size",
]

FORMAT_VERSION = 1


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def chunk_sides(shape: tuple[int, ...], chunk: int) -> tuple[int, ...]:
    """Chunk side per dimension: the largest divisor of each size that is ≤ ``chunk``.

    Tensors of more than two dimensions are treated as ``(shape[0], prod(shape[1:]))``.
    """
    dims = (shape[0], math.prod(shape[1:])) if len(shape) > 2 else tuple(shape)
    return tuple(_largest_divisor_at_most(n, chunk) for n in dims)


def to_chunks(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """Rearrange ``x`` into ``[n_chunks, chunk_size]`` (row-major over the chunk grid)."""
    sides = chunk_sides(tuple(x.shape), chunk)
    if len(sides) == 1:
        return x.reshape(-1, sides[0])
    n1, n2 = x.shape[0], x.numel() // x.shape[0]
    h, w = sides
    return x.reshape(n1 // h, h, n2 // w, w).permute(0, 2, 1, 3).reshape(-1, h * w)


def from_chunks(chunks: torch.Tensor, shape: tuple[int, ...], chunk: int) -> torch.Tensor:
    """Inverse of :func:`to_chunks`."""
    sides = chunk_sides(shape, chunk)
    if len(sides) == 1:
        return chunks.reshape(shape)
    n1, n2 = shape[0], math.prod(shape[1:])
    h, w = sides
    return chunks.reshape(n1 // h, n2 // w, h, w).permute(0, 2, 1, 3).reshape(shape)


def effective_k(topk: int, chunk_size: int) -> int:
    """``min(topk, chunk_size)`` rounded down to an even number, at least 2 (Templar's rule)."""
    k = min(topk, chunk_size)
    return max(2, k - (k % 2))


def quantize(
    values: torch.Tensor, bins: int = 4, value_range: float = 6.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Templar's per-tensor quantizer.

    ``shift = mean``, ``σ = ‖v − shift‖/√(n−1)``, ``scale = range·σ/bins``,
    ``code = clamp(round((v − shift)/scale + bins/2), 0, bins−1)``, and ``lut[b]`` = mean of the
    centred values with code ``b`` (empty bins keep their nominal centre ``(b − bins/2)·scale``).

    Returns
    -------
    codes, shift, scale, lut
        uint8 codes shaped like ``values``; float32 scalars ``shift`` and ``scale``; float32 ``lut[bins]``.
    """
    v = values.float()
    shift = v.mean()
    centred = v - shift
    sigma = centred.norm() / math.sqrt(max(v.numel() - 1, 1))
    scale = value_range * sigma / bins
    safe_scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    codes = torch.clamp(torch.round(centred / safe_scale + bins // 2), 0, bins - 1).to(torch.uint8)
    flat_codes = codes.reshape(-1).long()
    sums = torch.zeros(bins, dtype=torch.float32, device=v.device).index_add_(
        0, flat_codes, centred.reshape(-1)
    )
    counts = torch.bincount(flat_codes, minlength=bins).float()
    nominal = (torch.arange(bins, device=v.device, dtype=torch.float32) - bins // 2) * scale
    lut = torch.where(counts > 0, sums / counts.clamp_min(1), nominal)
    return codes, shift, scale, lut


def dequantize(codes: torch.Tensor, shift: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """``lut[code] + shift``."""
    return lut[codes.long()] + shift


def pack_indices_12bit(idx: torch.Tensor) -> torch.Tensor:
    """Pack indices < 4096 along the last axis (even length) two per three bytes."""
    if idx.shape[-1] % 2:
        raise ValueError(f"12-bit packing needs an even count per chunk, got {idx.shape[-1]}")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= 4096):
        raise ValueError("12-bit packing needs indices in [0, 4096)")
    a, b = idx[..., 0::2].long(), idx[..., 1::2].long()
    packed = torch.stack([a >> 4, ((a & 15) << 4) | (b >> 8), b & 255], dim=-1)
    return packed.reshape(*idx.shape[:-1], -1).to(torch.uint8)


def unpack_indices_12bit(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_indices_12bit` (int64 indices)."""
    if packed.shape[-1] % 3:
        raise ValueError(
            f"packed index rows must have a multiple of 3 bytes, got {packed.shape[-1]}"
        )
    triples = packed.long().reshape(*packed.shape[:-1], -1, 3)
    a = (triples[..., 0] << 4) | (triples[..., 1] >> 4)
    b = ((triples[..., 1] & 15) << 8) | triples[..., 2]
    return torch.stack([a, b], dim=-1).reshape(*packed.shape[:-1], -1)


def pack_codes_2bit(codes: torch.Tensor) -> torch.Tensor:
    """Pack codes in ``[0, 4)`` four per byte (low bits first), flattened and zero-padded."""
    flat = codes.reshape(-1).long()
    flat = torch.cat([flat, flat.new_zeros((-flat.numel()) % 4)]).reshape(-1, 4)
    return (flat[:, 0] | flat[:, 1] << 2 | flat[:, 2] << 4 | flat[:, 3] << 6).to(torch.uint8)


def unpack_codes_2bit(packed: torch.Tensor, count: int) -> torch.Tensor:
    """Inverse of :func:`pack_codes_2bit`: the first ``count`` codes as uint8."""
    p = packed.long().reshape(-1, 1)
    codes = (p >> torch.tensor([0, 2, 4, 6], device=p.device)) & 3
    return codes.reshape(-1)[:count].to(torch.uint8)


@dataclass(frozen=True)
class CompressedTensor:
    """One parameter's message: top-k indices per chunk, quantizer codes and parameters."""

    shape: tuple[int, ...]
    idx: torch.Tensor  # [n_chunks, k] int64
    codes: torch.Tensor  # [n_chunks, k] uint8
    shift: torch.Tensor  # float32 scalar
    scale: torch.Tensor  # float32 scalar
    lut: torch.Tensor  # [bins] float32

    def values(self) -> torch.Tensor:
        """Dequantized values ``[n_chunks, k]``."""
        return dequantize(self.codes, self.shift, self.lut)


@dataclass(frozen=True)
class CompressedGradient:
    """A miner's upload: one :class:`CompressedTensor` per parameter name."""

    tensors: dict[str, CompressedTensor]

    def to_dict(self, value_bits: int = 2) -> dict[str, torch.Tensor]:
        """Flat, safetensors-ready dict (layout in the module docstring).

        Parameters
        ----------
        value_bits
            2 packs codes four per byte (the paper's 14 bits per value); 8 stores one uint8 per code
            (Templar's code, 20 bits per value).
        """
        if value_bits not in (2, 8):
            raise ValueError(f"value_bits must be 2 or 8, got {value_bits}")
        bins = next(iter(self.tensors.values())).lut.numel() if self.tensors else 4
        if value_bits == 2 and bins > 4:
            raise ValueError(f"2-bit packing needs at most 4 bins, got {bins}")
        out: dict[str, torch.Tensor] = {
            "__format__": torch.tensor([FORMAT_VERSION, value_bits, bins], dtype=torch.int64)
        }
        for name, ct in self.tensors.items():
            out[f"{name}.shape"] = torch.tensor(ct.shape, dtype=torch.int64)
            out[f"{name}.idx"] = pack_indices_12bit(ct.idx).cpu()
            codes = pack_codes_2bit(ct.codes) if value_bits == 2 else ct.codes
            out[f"{name}.codes"] = codes.cpu().contiguous()
            out[f"{name}.qparams"] = (
                torch.cat([ct.shift.reshape(1), ct.scale.reshape(1), ct.lut.reshape(-1)])
                .float()
                .cpu()
            )
        return out

    @classmethod
    def from_dict(
        cls, payload: Mapping[str, torch.Tensor], device: str | torch.device = "cpu"
    ) -> CompressedGradient:
        """Parse the flat layout; raises ``ValueError`` naming the key on any structural problem.

        Deep checks (index range, k, finiteness, expected parameters) live in
        :func:`protocol.training.validation.validate_gradient`.
        """
        fmt = payload.get("__format__")
        if fmt is None or fmt.dtype != torch.int64 or fmt.shape != (3,):
            raise ValueError("key '__format__': expected int64 [3] (version, value_bits, bins)")
        version, value_bits, bins = (int(v) for v in fmt)
        if version != FORMAT_VERSION or value_bits not in (2, 8) or not 2 <= bins <= 256:
            raise ValueError(f"key '__format__': unsupported {fmt.tolist()}")
        names = sorted({key.rsplit(".", 1)[0] for key in payload if key != "__format__"})
        parts: dict[str, dict[str, torch.Tensor]] = {}
        for name in names:
            parts[name] = {}
            for part, dtype in _PARTS:
                tensor = payload.get(f"{name}.{part}")
                if tensor is None or tensor.dtype != dtype:
                    raise ValueError(f"key '{name}.{part}': missing or not {dtype}")
                parts[name][part] = tensor
            if parts[name]["idx"].dim() != 2 or parts[name]["qparams"].shape != (2 + bins,):
                raise ValueError(f"key '{name}': idx must be 2-D and qparams [{2 + bins}]")
            if parts[name]["idx"].shape[-1] % 3:
                raise ValueError(
                    f"packed index rows must have a multiple of 3 bytes, got {parts[name]['idx'].shape[-1]}"
                )
            n_values = parts[name]["idx"].numel() // 3 * 2
            if value_bits == 2 and parts[name]["codes"].numel() * 4 < n_values:
                raise ValueError(f"key '{name}.codes': too few packed codes for {n_values} values")
        # Unpack every parameter's indices (and 2-bit codes) in one pass over the concatenated
        # bytes, then hand out views: a per-parameter unpack costs ~20 small tensor ops each.
        idx_all = _unpack_flat(names, parts, "idx", device, unpack_indices_12bit)
        codes_all = (
            _unpack_flat(
                names, parts, "codes", device, lambda p: unpack_codes_2bit(p, 4 * p.numel())
            )
            if value_bits == 2
            else None
        )
        tensors = {}
        idx_at, codes_at = 0, 0
        for name in names:
            packed_idx = parts[name]["idx"]
            rows, width = packed_idx.shape[0], packed_idx.shape[1] // 3 * 2
            idx = idx_all[idx_at : idx_at + rows * width].view(rows, width)
            idx_at += rows * width
            if codes_all is None:
                codes = parts[name]["codes"].to(device)
            else:
                codes = codes_all[codes_at : codes_at + rows * width].view(rows, width)
                codes_at += 4 * parts[name]["codes"].numel()
            q = parts[name]["qparams"].to(device)
            shape = tuple(int(s) for s in parts[name]["shape"].tolist())
            tensors[name] = CompressedTensor(shape, idx, codes, q[0], q[1], q[2:])
        return cls(tensors)


_PARTS = (
    ("shape", torch.int64),
    ("idx", torch.uint8),
    ("codes", torch.uint8),
    ("qparams", torch.float32),
)


def _unpack_flat(
    names: list[str],
    parts: Mapping[str, Mapping[str, torch.Tensor]],
    part: str,
    device: str | torch.device,
    unpack: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``unpack`` applied once to the concatenated flat bytes of ``part`` of every parameter."""
    flat = [parts[name][part].reshape(-1) for name in names]
    if not flat:
        return torch.empty(0, dtype=torch.int64, device=device)
    joined = flat[0] if len(flat) == 1 else torch.cat(flat)
    if part == "idx":
        joined = joined.reshape(1, -1)
    return unpack(joined.to(device)).reshape(-1)


@dataclass(frozen=True)
class WireSize:
    """Bytes of one upload: measured as serialised, and per value as in arXiv:2603.08163."""

    n_values: int
    dense_params: int
    serialized_bytes: int
    payload_bits_per_value: float
    ratio_vs_fp32: float
    payload_ratio_vs_fp32: float


def wire_size(gradient: CompressedGradient, value_bits: int = 2) -> WireSize:
    """Measure the serialised size of ``gradient`` (tensor bytes of :meth:`to_dict`).

    ``payload_ratio_vs_fp32`` counts only indices and value codes (12 + ``value_bits`` bits per value,
    the paper's 146× figure at 2 bits); ``ratio_vs_fp32`` includes shapes and quantizer parameters.
    """
    payload = gradient.to_dict(value_bits)
    serialized = sum(t.numel() * t.element_size() for t in payload.values())
    n_values = sum(ct.idx.numel() for ct in gradient.tensors.values())
    dense = sum(math.prod(ct.shape) for ct in gradient.tensors.values())
    payload_bits = sum(
        payload[f"{n}.idx"].numel() * 8 + payload[f"{n}.codes"].numel() * 8
        for n in gradient.tensors
    )
    return WireSize(
        n_values=n_values,
        dense_params=dense,
        serialized_bytes=serialized,
        payload_bits_per_value=payload_bits / max(n_values, 1),
        ratio_vs_fp32=dense * 32 / (serialized * 8),
        payload_ratio_vs_fp32=dense * 32 / max(payload_bits, 1),
    )


def compress_tensor(
    x: torch.Tensor, *, chunk: int = 64, topk: int = 64, bins: int = 4, value_range: float = 6.0
) -> CompressedTensor:
    """Top-k per chunk of ``x`` (by magnitude), then quantize the kept values per tensor."""
    chunks = to_chunks(x, chunk)
    k = effective_k(topk, chunks.shape[1])
    idx = chunks.abs().topk(k, dim=1, sorted=False).indices
    codes, shift, scale, lut = quantize(chunks.gather(1, idx), bins, value_range)
    return CompressedTensor(tuple(x.shape), idx, codes, shift, scale, lut)


def decompress_tensor(
    ct: CompressedTensor, *, chunk: int = 64, values: torch.Tensor | None = None
) -> torch.Tensor:
    """Dense tensor from a message (``values`` overrides the dequantized values, e.g. after clipping)."""
    vals = ct.values() if values is None else values
    chunk_size = math.prod(chunk_sides(ct.shape, chunk))
    dense = torch.zeros(ct.idx.shape[0], chunk_size, dtype=vals.dtype, device=vals.device)
    dense.scatter_(1, ct.idx, vals)
    return from_chunks(dense, ct.shape, chunk)


def decompress(gradient: CompressedGradient, chunk: int = 64) -> dict[str, torch.Tensor]:
    """Dense pseudo-gradient estimate, by parameter name."""
    return {name: decompress_tensor(ct, chunk=chunk) for name, ct in gradient.tensors.items()}


@dataclass(frozen=True)
class CompressionResult:
    """Output of :func:`compress_pseudo_gradient`.

    ``transmitted_fraction`` is ‖decode(ê)‖² / ‖a‖², the share of the error-feedback mass sent.
    """

    gradient: CompressedGradient
    error: dict[str, torch.Tensor]
    transmitted_fraction: float
    error_norm: float


def compress_pseudo_gradient(
    delta: Mapping[str, torch.Tensor],
    error: Mapping[str, torch.Tensor] | None,
    *,
    chunk: int = 64,
    topk: int = 64,
    ef_beta: float = 0.95,
    bins: int = 4,
    value_range: float = 6.0,
) -> CompressionResult:
    """Error feedback and compression of one pseudo-gradient (arXiv:2508.15706).

    ``a = β·e + Δ``; ``ê = Q(TopK(chunk(a)))``; ``e ← a − decode(ê)``.

    Parameters
    ----------
    delta
        Pseudo-gradient Δ = θ_start − θ_after_H by parameter name.
    error
        Previous error-feedback buffers (``None`` for zeros).
    chunk, topk, ef_beta, bins, value_range
        Chunk side, values kept per chunk, EF decay β, quantizer bins and range (in σ).
    """
    tensors, new_error = {}, {}
    sent_sq, total_sq, err_sq = 0.0, 0.0, 0.0
    for name, d in delta.items():
        acc = d.float() if error is None else ef_beta * error[name] + d.float()
        ct = compress_tensor(acc, chunk=chunk, topk=topk, bins=bins, value_range=value_range)
        decoded = decompress_tensor(ct, chunk=chunk)
        tensors[name] = ct
        new_error[name] = acc - decoded
        sent_sq += float(decoded.pow(2).sum())
        total_sq += float(acc.pow(2).sum())
        err_sq += float(new_error[name].pow(2).sum())
    return CompressionResult(
        CompressedGradient(tensors),
        new_error,
        sent_sq / total_sq if total_sq > 0 else 0.0,
        err_sq**0.5,
    )
