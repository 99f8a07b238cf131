"""numpy's PCG64 draws for the simulation's large noise arrays, several times faster.

``Generator.standard_normal(dtype=np.float32)`` costs about 14 ns a sample: numpy's ziggurat
calls the bit generator through a function pointer for every sample. The functions here give
the *same bits* from the same :class:`numpy.random.Generator` (``PCG64``): they read the bit
generator's state, run PCG64's step (a 128-bit LCG, XSL-RR output) and numpy's sampling
algorithms compiled with numba, and write the state back, so the generator goes on exactly as if
numpy had drawn. Each function falls back to the numpy call itself where the twin cannot run
(numba or numba's copy of numpy's ziggurat tables missing, a bit generator other than
``PCG64``), so callers never see a difference except in speed.

What is reproduced (numpy's ``distributions.c`` and ``pcg64.h``):

* ``next_uint64``: one LCG step, then ``rotr(high ^ low, state >> 122)``.
* ``next_uint32``: the low half of a 64-bit draw, the high half buffered for the next call
  (``has_uint32`` / ``uinteger`` in ``bit_generator.state``).
* ``random(dtype=float32)``: ``(next_uint32 >> 8) * 2**-24`` (``next_float``).
* ``standard_normal``: the 256-layer ziggurat in float32 (from ``next_uint32``) and float64
  (from ``next_uint64``; its uniforms ``(next_uint64 >> 11) * 2**-53``), with its rare paths:
  the tail beyond ``r`` (``log1p``) and the wedge test against ``exp(-x * x / 2)`` in double
  precision. The C library's ``log1pf``, ``log1p`` and ``exp`` are called there, the
  functions numpy's C code calls. The tables are numba's copy of numpy's
  (``numba.np.random._constants``); the tests compare millions of draws, every layer's.

Kernels that consume draws as they go (rather than filling an array) take the stream from
:func:`pcg64_words` and advance it with :func:`next_uint32`, or jump over draws they do not
need with :func:`jump_table` and :func:`next_uint32_after` / :func:`skip_uint32`.

numba caches a kernel with the functions it calls compiled in; after a change to this module,
clear the caches of kernels elsewhere that call it (``__pycache__/*.nbi``, ``*.nbc``).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from protocol._numba import HAVE_NUMBA, jit

__all__ = [
    "HAVE_TWIN",
    "MIN_TWIN_SIZE",
    "jump_table",
    "load_words",
    "next_uint32",
    "next_uint32_after",
    "pcg64_words",
    "random_float32",
    "skip_uint32",
    "standard_normal",
    "standard_normal_float32",
    "store_words",
    "twin_agrees_with_numpy",
    "uniform_float32",
]

try:  # numba's copy of numpy's ziggurat tables (the same float32/float64 values)
    from numba.np.random import _constants as _zig

    _KI_F = np.ascontiguousarray(_zig.ki_float, dtype=np.uint32)
    _WI_F = np.ascontiguousarray(_zig.wi_float, dtype=np.float32)
    _FI_F = np.ascontiguousarray(_zig.fi_float, dtype=np.float32)
    _KI_D = np.ascontiguousarray(_zig.ki_double, dtype=np.uint64)
    _WI_D = np.ascontiguousarray(_zig.wi_double, dtype=np.float64)
    _FI_D = np.ascontiguousarray(_zig.fi_double, dtype=np.float64)
    _NOR_R_F = np.float32(_zig.ziggurat_nor_r_f)
    _NOR_INV_R_F = np.float32(_zig.ziggurat_nor_inv_r_f)
    _NOR_R_D = float(_zig.ziggurat_nor_r)
    _NOR_INV_R_D = float(_zig.ziggurat_nor_inv_r)
    _TABLES = all(t.shape == (256,) for t in (_KI_F, _WI_F, _FI_F, _KI_D, _WI_D, _FI_D))
except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover - numba's layout
    _TABLES = False

#: Whether the compiled twin can run at all (numba and the ziggurat tables are there).
HAVE_TWIN: bool = HAVE_NUMBA and _TABLES

#: Arrays of fewer draws come from numpy itself: reading and writing the generator's state
#: costs ~15 us a call, what numpy takes for a few thousand draws.
MIN_TWIN_SIZE = 4096

_MASK32 = np.uint64(0xFFFFFFFF)
_MULT_HIGH = np.uint64(2549297995355413924)  # PCG's default 128-bit multiplier
_MULT_LOW = np.uint64(4865540595714422341)
_U32 = np.uint64(32)
_U58 = np.uint64(58)
_U63 = np.uint64(63)
_U64 = np.uint64(64)
_TWO_M24 = np.float32(1.0 / 16777216.0)
_TWO_M53 = 1.0 / 9007199254740992.0

# The state words a kernel runs on (uint64): the LCG state and increment as high and low
# halves, then numpy's buffered 32-bit half.
_STATE_HIGH, _STATE_LOW, _INC_HIGH, _INC_LOW, _HAS_UINT32, _UINTEGER = range(6)


def _read_state(rng: np.random.Generator) -> np.ndarray:
    """The PCG64 generator's state as the six uint64 words the kernels run on."""
    state = rng.bit_generator.state
    lcg, inc = state["state"]["state"], state["state"]["inc"]
    mask = (1 << 64) - 1
    return np.array(
        [lcg >> 64, lcg & mask, inc >> 64, inc & mask, state["has_uint32"], state["uinteger"]],
        dtype=np.uint64,
    )


def _write_state(rng: np.random.Generator, words: np.ndarray) -> None:
    """Put the words a kernel advanced back into the generator."""
    high, low, inc_high, inc_low, has_uint32, uinteger = words.tolist()
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": (high << 64) | low, "inc": (inc_high << 64) | inc_low},
        "has_uint32": has_uint32,
        "uinteger": uinteger,
    }


@contextmanager
def pcg64_words(rng: np.random.Generator) -> Iterator[np.ndarray | None]:
    """The generator's stream as words a compiled kernel draws from, written back at the end.

    Yields ``None`` where the twin cannot run (numba or the ziggurat tables missing, a bit
    generator other than ``PCG64``): the caller then draws through ``rng`` as usual. Otherwise
    it yields six uint64 words (LCG state and increment as high and low halves, numpy's
    ``has_uint32`` and ``uinteger``) under the bit generator's lock; kernels advance them
    with :func:`next_uint32`, and on leaving the block the generator takes them over, as if
    numpy had made the draws. Do not draw from ``rng`` inside the block (the lock is held).

    Parameters
    ----------
    rng
        The generator to draw from.

    Yields
    ------
    numpy.ndarray or None
        The state words, or ``None`` (draw with numpy).
    """
    if (
        not HAVE_TWIN
        or type(rng.bit_generator) is not np.random.PCG64
        or not twin_agrees_with_numpy()
    ):
        yield None
        return
    with rng.bit_generator.lock:
        words = _read_state(rng)
        yield words
        _write_state(rng, words)


@jit
def _mul_high(a: np.uint64, b: np.uint64) -> np.uint64:  # pragma: no cover - numba
    """The high 64 bits of the 128-bit product ``a * b`` (from 32-bit halves)."""
    a_lo, a_hi = a & _MASK32, a >> _U32
    b_lo, b_hi = b & _MASK32, b >> _U32
    low_low = a_lo * b_lo
    mid = a_hi * b_lo + (low_low >> _U32)
    mid2 = a_lo * b_hi + (mid & _MASK32)
    return a_hi * b_hi + (mid >> _U32) + (mid2 >> _U32)


@jit
def _affine(
    high: np.uint64,
    low: np.uint64,
    mult_high: np.uint64,
    mult_low: np.uint64,
    add_high: np.uint64,
    add_low: np.uint64,
) -> tuple[np.uint64, np.uint64]:  # pragma: no cover - numba
    """``state * mult + add`` (mod 2**128) on high and low 64-bit words."""
    new_low = low * mult_low
    new_high = _mul_high(low, mult_low) + low * mult_high + high * mult_low
    summed_low = new_low + add_low
    carry = np.uint64(1) if summed_low < new_low else np.uint64(0)
    return new_high + add_high + carry, summed_low


@jit
def _output(high: np.uint64, low: np.uint64) -> np.uint64:  # pragma: no cover - numba
    """PCG64's XSL-RR output of a state: ``rotr(high ^ low, state >> 122)``."""
    xored = high ^ low
    rot = high >> _U58
    return (xored >> rot) | (xored << ((_U64 - rot) & _U63))


@jit
def _step(
    high: np.uint64, low: np.uint64, inc_high: np.uint64, inc_low: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64]:  # pragma: no cover - numba
    """One PCG64 step: ``state * multiplier + inc`` (mod 2**128); returns the new state's
    high and low words and the XSL-RR output of the new state."""
    new_high, new_low = _affine(high, low, _MULT_HIGH, _MULT_LOW, inc_high, inc_low)
    return new_high, new_low, _output(new_high, new_low)


@jit
def jump_table(words: np.ndarray, longest: int) -> np.ndarray:  # pragma: no cover - numba
    """The LCG's ``d``-step maps for ``d = 0 .. longest``: row ``d`` holds ``(mult_high,
    mult_low, add_high, add_low)`` with ``state_after_d = state * mult + add`` (mod 2**128),
    so that :func:`skip_uint32` jumps over unused draws in one multiply.

    Parameters
    ----------
    words
        The stream (:func:`pcg64_words`); its increment enters the additive part.
    longest
        The most steps one jump takes (longer skips chain jumps); >= 1.

    Returns
    -------
    numpy.ndarray
        ``[longest + 1, 4]`` uint64.
    """
    inc_high, inc_low = words[_INC_HIGH], words[_INC_LOW]
    table = np.empty((longest + 1, 4), dtype=np.uint64)
    mult_high, mult_low = np.uint64(0), np.uint64(1)
    add_high, add_low = np.uint64(0), np.uint64(0)
    for d in range(longest + 1):
        table[d, 0], table[d, 1], table[d, 2], table[d, 3] = mult_high, mult_low, add_high, add_low
        # one step more: (state * m + a) * M + inc
        mult_high, mult_low = _affine(
            mult_high, mult_low, _MULT_HIGH, _MULT_LOW, np.uint64(0), np.uint64(0)
        )
        add_high, add_low = _affine(add_high, add_low, _MULT_HIGH, _MULT_LOW, inc_high, inc_low)
    return table


@jit
def skip_uint32(
    high: np.uint64,
    low: np.uint64,
    inc_high: np.uint64,
    inc_low: np.uint64,
    has_uint32: np.uint64,
    uinteger: np.uint64,
    count: int,
    table: np.ndarray,
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:  # pragma: no cover - numba
    """Advance the stream past ``count`` 32-bit draws without making them: the state
    :func:`next_uint32` would leave after ``count`` calls, by jumps of :func:`jump_table`
    (a multiply for up to ``len(table) - 1`` steps). Returns ``high, low, has_uint32,
    uinteger``."""
    if count <= 0:
        return high, low, has_uint32, uinteger
    if has_uint32:
        count -= 1
        has_uint32 = np.uint64(0)
    steps = count // 2
    longest = table.shape[0] - 1
    while steps > 0:
        d = min(steps, longest)
        high, low = _affine(high, low, table[d, 0], table[d, 1], table[d, 2], table[d, 3])
        steps -= d
    if count % 2:  # the last draw is the low half of a new 64-bit one: its high half waits
        high, low, full = _step(high, low, inc_high, inc_low)
        has_uint32, uinteger = np.uint64(1), full >> _U32
    elif count > 0:  # numpy leaves the last high half it handed out in ``uinteger``
        uinteger = _output(high, low) >> _U32
    return high, low, has_uint32, uinteger


@jit
def next_uint32(
    high: np.uint64,
    low: np.uint64,
    inc_high: np.uint64,
    inc_low: np.uint64,
    has_uint32: np.uint64,
    uinteger: np.uint64,
) -> tuple[np.int64, np.uint64, np.uint64, np.uint64, np.uint64]:  # pragma: no cover - numba
    """numpy's ``pcg64_next32``: the buffered high half if there is one, else the low half of
    a new 64-bit draw (its high half buffered). Returns the draw and the new ``high, low,
    has_uint32, uinteger``."""
    if has_uint32:
        return np.int64(uinteger), high, low, np.uint64(0), uinteger
    high, low, full = _step(high, low, inc_high, inc_low)
    return np.int64(full & _MASK32), high, low, np.uint64(1), full >> _U32


@jit
def next_uint32_after(
    high: np.uint64,
    low: np.uint64,
    has_uint32: np.uint64,
    uinteger: np.uint64,
    count: int,
    table: np.ndarray,
) -> tuple[np.int64, np.uint64, np.uint64, np.uint64, np.uint64]:  # pragma: no cover - numba
    """:func:`next_uint32` after ``count`` draws skipped: one jump (:func:`jump_table`) to the
    64-bit draw that holds it instead of a step per skipped pair. Returns the draw and the new
    ``high, low, has_uint32, uinteger``.

    Written with selects rather than branches: which half a draw is depends on random data
    (where the previous one fell), and a mispredicted branch costs more than the jump.
    """
    buffered_next = (has_uint32 != 0) & (count == 0)  # the buffered half is the draw
    fresh = count - np.int64(has_uint32)  # draws to skip after the buffered one
    steps = 0 if buffered_next else fresh // 2 + 1
    longest = table.shape[0] - 1
    while steps > longest:  # only a gap longer than the table's
        high, low = _affine(
            high, low, table[longest, 0], table[longest, 1], table[longest, 2], table[longest, 3]
        )
        steps -= longest
    high, low = _affine(
        high, low, table[steps, 0], table[steps, 1], table[steps, 2], table[steps, 3]
    )
    full = _output(high, low)
    upper = full >> _U32
    high_half = (fresh % 2) != 0  # the high half: consumed, and numpy leaves it in uinteger
    draw = uinteger if buffered_next else (upper if high_half else full & _MASK32)
    has_next = np.uint64(0) if (buffered_next | high_half) else np.uint64(1)
    return np.int64(draw), high, low, has_next, uinteger if buffered_next else upper


@jit
def load_words(
    words: np.ndarray,
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64, np.uint64, np.uint64]:  # pragma: no cover
    """The words of :func:`pcg64_words` as the arguments of :func:`next_uint32`: ``high, low,
    inc_high, inc_low, has_uint32, uinteger``."""
    return (
        words[_STATE_HIGH],
        words[_STATE_LOW],
        words[_INC_HIGH],
        words[_INC_LOW],
        words[_HAS_UINT32],
        words[_UINTEGER],
    )


@jit
def store_words(
    words: np.ndarray, high: np.uint64, low: np.uint64, has_uint32: np.uint64, uinteger: np.uint64
) -> None:  # pragma: no cover - numba
    """Write a kernel's advanced state back into the words of :func:`pcg64_words`."""
    words[_STATE_HIGH], words[_STATE_LOW] = high, low
    words[_HAS_UINT32], words[_UINTEGER] = has_uint32, uinteger


@jit
def uniform_float32(r: np.int64) -> np.float32:  # pragma: no cover - numba
    """numpy's ``next_float``: a 32-bit draw as a float32 in ``[0, 1)``, ``(r >> 8) * 2**-24``."""
    return np.float32(np.int32(r >> 8)) * _TWO_M24


@jit
def _fill_random_float32(words: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out[i]`` = numpy's ``random(dtype=float32)`` draws, advancing ``words``."""
    high, low, inc_high, inc_low, has, buffered = load_words(words)
    for i in range(out.size):
        r, high, low, has, buffered = next_uint32(high, low, inc_high, inc_low, has, buffered)
        out[i] = uniform_float32(r)
    store_words(words, high, low, has, buffered)


@jit
def _normal_float32_rare(
    r: np.int64,
    high: np.uint64,
    low: np.uint64,
    inc_high: np.uint64,
    inc_low: np.uint64,
    has: np.uint64,
    buffered: np.uint64,
    ki: np.ndarray,
    wi: np.ndarray,
    fi: np.ndarray,
    nor_r: np.float32,
    nor_inv_r: np.float32,
) -> tuple[np.float32, np.uint64, np.uint64, np.uint64, np.uint64]:  # pragma: no cover - numba
    """The rest of numpy's ``random_standard_normal_f`` after the draw ``r`` missed the
    ziggurat's rectangle (0.7 % of the draws): the tail beyond ``r`` (layer 0) or the wedge
    test, then new draws until one is accepted. Returns the sample and the new state words."""
    while True:
        idx = r & 0xFF
        rabs = (r >> 9) & 0x7FFFFF
        x = np.float32(np.int32(rabs)) * wi[idx]
        if (r >> 8) & 1:
            x = -x
        if rabs < ki[idx]:
            return x, high, low, has, buffered
        if idx == 0:
            # the tail: two uniforms per try, ``1 - U`` as log1pf(-U) (numpy's order)
            while True:
                u, high, low, has, buffered = next_uint32(
                    high, low, inc_high, inc_low, has, buffered
                )
                xx = -nor_inv_r * math.log1p(-uniform_float32(u))
                u, high, low, has, buffered = next_uint32(
                    high, low, inc_high, inc_low, has, buffered
                )
                yy = -math.log1p(-uniform_float32(u))
                if yy + yy > xx * xx:
                    x = nor_r + xx
                    if (rabs >> 8) & 1:
                        x = -x
                    return x, high, low, has, buffered
        u, high, low, has, buffered = next_uint32(high, low, inc_high, inc_low, has, buffered)
        wedge = (fi[idx - 1] - fi[idx]) * uniform_float32(u) + fi[idx]
        # numpy compares in double: exp(-0.5 * x * x) with x widened
        xd = np.float64(x)
        if np.float64(wedge) < math.exp(-0.5 * xd * xd):
            return x, high, low, has, buffered
        r, high, low, has, buffered = next_uint32(high, low, inc_high, inc_low, has, buffered)


@jit
def _fill_standard_normal_float32(
    words: np.ndarray,
    out: np.ndarray,
    ki: np.ndarray,
    wi: np.ndarray,
    fi: np.ndarray,
    nor_r: np.float32,
    nor_inv_r: np.float32,
) -> None:  # pragma: no cover - numba
    """``out[i]`` = numpy's ``standard_normal(dtype=float32)`` draws, advancing ``words``.

    The ziggurat of numpy's ``random_standard_normal_f``; every 32-bit draw, the common one and
    those of the rare paths, comes from the same buffered ``next_uint32``.
    """
    high, low, inc_high, inc_low, has, buffered = load_words(words)
    for i in range(out.size):
        r, high, low, has, buffered = next_uint32(high, low, inc_high, inc_low, has, buffered)
        idx = r & 0xFF
        rabs = (r >> 9) & 0x7FFFFF
        if rabs < ki[idx]:  # 99.3 % of the draws
            # The sign as a product with +-1 (exact): a branch on a random bit mispredicts
            # half the time and triples the cost of the loop.
            out[i] = np.float32(np.int32(rabs)) * wi[idx] * np.float32(1 - 2 * ((r >> 8) & 1))
        else:
            out[i], high, low, has, buffered = _normal_float32_rare(
                r, high, low, inc_high, inc_low, has, buffered, ki, wi, fi, nor_r, nor_inv_r
            )
    store_words(words, high, low, has, buffered)


@jit
def _fill_standard_normal_float64(
    words: np.ndarray,
    out: np.ndarray,
    ki: np.ndarray,
    wi: np.ndarray,
    fi: np.ndarray,
    nor_r: float,
    nor_inv_r: float,
) -> None:  # pragma: no cover - numba
    """``out[i]`` = numpy's ``standard_normal()`` (float64) draws, advancing ``words``.

    The ziggurat of numpy's ``random_standard_normal``: every draw is a 64-bit one, which
    leaves the buffered 32-bit half alone.
    """
    high, low = words[_STATE_HIGH], words[_STATE_LOW]
    inc_high, inc_low = words[_INC_HIGH], words[_INC_LOW]
    for i in range(out.size):
        while True:
            high, low, full = _step(high, low, inc_high, inc_low)
            idx = np.int64(full & np.uint64(0xFF))
            rabs = np.int64((full >> np.uint64(9)) & np.uint64(0x000FFFFFFFFFFFFF))
            sign = np.int64((full >> np.uint64(8)) & np.uint64(1))
            x = np.float64(rabs) * wi[idx] * np.float64(1 - 2 * sign)  # exact, branch-free
            if rabs < ki[idx]:
                break
            if idx == 0:
                while True:
                    high, low, u = _step(high, low, inc_high, inc_low)
                    xx = -nor_inv_r * math.log1p(-(np.float64(u >> np.uint64(11)) * _TWO_M53))
                    high, low, u = _step(high, low, inc_high, inc_low)
                    yy = -math.log1p(-(np.float64(u >> np.uint64(11)) * _TWO_M53))
                    if yy + yy > xx * xx:
                        break
                x = nor_r + xx
                if (rabs >> 8) & 1:
                    x = -x
                break
            high, low, u = _step(high, low, inc_high, inc_low)
            wedge = (fi[idx - 1] - fi[idx]) * (np.float64(u >> np.uint64(11)) * _TWO_M53) + fi[idx]
            if wedge < math.exp(-0.5 * x * x):
                break
        out[i] = x
    words[_STATE_HIGH], words[_STATE_LOW] = high, low


def _normals_float32(words: np.ndarray, out: np.ndarray) -> None:
    """Fill flat ``out`` with float32 normals from ``words`` (the tables bound in)."""
    _fill_standard_normal_float32(words, out, _KI_F, _WI_F, _FI_F, _NOR_R_F, _NOR_INV_R_F)


def _normals_float64(words: np.ndarray, out: np.ndarray) -> None:
    """Fill flat ``out`` with float64 normals from ``words`` (the tables bound in)."""
    _fill_standard_normal_float64(words, out, _KI_D, _WI_D, _FI_D, _NOR_R_D, _NOR_INV_R_D)


#: The twin's fills in the order of the self-check's draws.
_FILLS = (_normals_float32, _normals_float64, _fill_random_float32)


def _draw(
    rng: np.random.Generator,
    size: int | tuple[int, ...],
    dtype: type[np.floating],
    fill: Callable[[np.ndarray, np.ndarray], None],
    numpy_draw: Callable[[], np.ndarray],
) -> np.ndarray:
    """``numpy_draw()``'s values and generator state: through ``fill`` where the twin runs
    (at least :data:`MIN_TWIN_SIZE` draws and :func:`pcg64_words` gives words), else numpy."""
    if _count(size) < MIN_TWIN_SIZE:
        return numpy_draw()
    with pcg64_words(rng) as words:
        if words is None:
            return numpy_draw()
        out = np.empty(size, dtype=dtype)
        fill(words, out.reshape(-1))
    return out


@functools.cache
def twin_agrees_with_numpy() -> bool:
    """Whether the twin draws numpy's own bits in this process (checked once, then cached).

    numpy does not promise its ``Generator`` streams across versions, and the ziggurat tables
    come from numba's private module: a version of either that no longer matches would make
    the twin draw other numbers than numpy. So before its first use the twin draws 65,536
    float32 normals, as many float64 normals and float32 uniforms (after a buffered 32-bit
    half) next to numpy from one seed; if any byte or the generator's final state differs, it
    warns and every draw goes to numpy instead.

    Returns
    -------
    bool
        ``True`` where the twin may run.
    """
    if not HAVE_TWIN:
        return False
    n = 1 << 16
    reference = np.random.Generator(np.random.PCG64(20261207))
    twin = np.random.Generator(np.random.PCG64(20261207))
    reference.random(1, dtype=np.float32)  # leaves numpy's buffered half
    twin.random(1, dtype=np.float32)
    expected = (
        reference.standard_normal(n, dtype=np.float32),
        reference.standard_normal(n),
        reference.random(n, dtype=np.float32),
    )
    words = _read_state(twin)
    drawn = (np.empty(n, dtype=np.float32), np.empty(n), np.empty(n, dtype=np.float32))
    for fill, out in zip(_FILLS, drawn, strict=True):
        fill(words, out)
    _write_state(twin, words)
    agrees = all(a.tobytes() == b.tobytes() for a, b in zip(expected, drawn, strict=True))
    agrees = agrees and twin.bit_generator.state == reference.bit_generator.state
    if not agrees:
        warnings.warn(
            "sim.noise_stream: the compiled twin does not reproduce this numpy's draws "
            f"(numpy {np.__version__}); drawing with numpy instead (same results, slower)",
            RuntimeWarning,
            stacklevel=2,
        )
    return agrees


def _count(size: int | tuple[int, ...]) -> int:
    """How many draws numpy's ``size`` argument asks for."""
    return math.prod(size) if isinstance(size, (tuple, list)) else int(size)


def standard_normal_float32(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """``rng.standard_normal(size, dtype=np.float32)``, the same values and generator state.

    Parameters
    ----------
    rng
        The generator to draw from (the twin runs for ``PCG64`` and at least
        :data:`MIN_TWIN_SIZE` draws; otherwise numpy draws).
    size
        Output shape.

    Returns
    -------
    numpy.ndarray
        float32 standard normal draws in C order.
    """
    return _draw(
        rng, size, np.float32, _normals_float32, lambda: rng.standard_normal(size, dtype=np.float32)
    )


def standard_normal(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """``rng.standard_normal(size)`` (float64), the same values and generator state.

    Parameters
    ----------
    rng
        The generator to draw from (the twin runs for ``PCG64`` and at least
        :data:`MIN_TWIN_SIZE` draws; otherwise numpy draws).
    size
        Output shape.

    Returns
    -------
    numpy.ndarray
        float64 standard normal draws in C order.
    """
    return _draw(rng, size, np.float64, _normals_float64, lambda: rng.standard_normal(size))


def random_float32(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """``rng.random(size, dtype=np.float32)``, the same values and generator state.

    Parameters
    ----------
    rng
        The generator to draw from (the twin runs for ``PCG64`` and at least
        :data:`MIN_TWIN_SIZE` draws; otherwise numpy draws).
    size
        Output shape.

    Returns
    -------
    numpy.ndarray
        float32 uniform draws in ``[0, 1)``, C order.
    """
    return _draw(
        rng, size, np.float32, _fill_random_float32, lambda: rng.random(size, dtype=np.float32)
    )
