"""numba where it is installed, and the one backend switch of protocol's kernels.

Several steps of :mod:`protocol` have two implementations: a torch path (the reference, any
device) and a fused CPU kernel compiled with numba (one pass over the rows while they sit in the
cache). Every public function with such a twin takes the same keyword::

    backend="auto"   # the fused kernel where it can run (numba installed, CPU, ...), else torch
    backend="torch"  # always the torch path (the reference)
    backend="fused"  # the fused kernel, or ValueError naming why it cannot run here

:func:`choose_backend` is that rule; each caller passes the reasons its own inputs rule the
kernel out (a CUDA tensor, a mechanism with its own consensus, ...). numba is optional: without
it ``"auto"`` runs torch everywhere and the kernels below are plain Python functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

import numpy as np

try:  # numba is an optional speed-up: without it the torch paths run
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None
    HAVE_NUMBA = False

__all__ = [
    "BACKENDS",
    "HAVE_NUMBA",
    "Backend",
    "block_sum",
    "choose_backend",
    "jit",
    "pairwise_sum",
]

#: What a caller may ask for (see the module docstring).
Backend = Literal["auto", "torch", "fused"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "fused")

F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F | None = None, *, reassoc: bool = False) -> Any:
    """``numba.njit(cache=True, nogil=True, error_model="numpy")`` where numba is installed.

    Without numba the function is returned as it is (a slow but correct Python twin). Compiled
    once per machine (``cache=True``, next to the source file); ``nogil`` lets callers run
    batches in threads.

    Parameters
    ----------
    fn
        The kernel (``@jit``), or ``None`` for ``@jit(reassoc=True)``.
    reassoc
        Allow LLVM to reassociate float additions (``fastmath={"reassoc"}``) so that sums
        vectorise: a serial add chain costs ~4 cycles per element, and the changed order is
        within rounding, as torch's own sums are. Off for kernels whose results must equal the
        torch path's bit for bit.
    """

    def wrap(kernel: F) -> F:
        if not HAVE_NUMBA:
            return kernel
        options: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}
        if reassoc:
            options["fastmath"] = {"reassoc"}
        return numba.njit(**options)(kernel)  # type: ignore[no-any-return]

    return wrap if fn is None else wrap(fn)


def choose_backend(backend: str, obstacles: Iterable[str] = ()) -> Literal["torch", "fused"]:
    """The backend a call runs on: ``"torch"`` or ``"fused"``.

    Parameters
    ----------
    backend
        What the caller asked for: ``"auto"``, ``"torch"`` or ``"fused"``.
    obstacles
        Why the fused kernel cannot run on these inputs (empty: it can); "numba is not
        installed" is added here where it applies.

    Returns
    -------
    str
        ``"torch"`` for ``"torch"``, and for ``"auto"`` where anything stands in the kernel's
        way; ``"fused"`` otherwise.

    Raises
    ------
    ValueError
        ``backend`` is not one of :data:`BACKENDS`, or it is ``"fused"`` and the kernel cannot
        run (the message names every reason).

    Examples
    --------
    >>> choose_backend("torch", ["device cuda:0 is not the CPU"])
    'torch'
    >>> choose_backend("auto", ["device cuda:0 is not the CPU"])
    'torch'
    """
    if backend == "torch":
        return "torch"
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected 'auto', 'torch' or 'fused', got {backend!r}")
    reasons = list(obstacles)
    if not HAVE_NUMBA:
        reasons.append("numba is not installed")
    if not reasons:
        return "fused"
    if backend == "fused":
        raise ValueError(f"backend 'fused' cannot run: {'; '.join(reasons)}")
    return "torch"


# numpy's float64 sum, for kernels whose results must equal numpy's bit for bit: numpy sums a
# contiguous run pairwise (``pairwise_sum`` in its ``loops_utils.h``): blocks of at most 128
# values by eight accumulators, longer runs as the sum of two halves.
@jit
def block_sum(values: np.ndarray, start: int, count: int) -> float:  # pragma: no cover
    """numpy's pairwise sum of a block of up to 128 values: eight running sums (one value
    at a time below eight)."""
    if count < 8:
        total = -0.0
        for i in range(start, start + count):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    i = 8
    while i < count - count % 8:
        at = start + i
        r0 += values[at]
        r1 += values[at + 1]
        r2 += values[at + 2]
        r3 += values[at + 3]
        r4 += values[at + 4]
        r5 += values[at + 5]
        r6 += values[at + 6]
        r7 += values[at + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < count:
        total += values[start + i]
        i += 1
    return total


@jit
def pairwise_sum(values: np.ndarray, start: int, count: int) -> float:  # pragma: no cover
    """numpy's sum of ``values[start:start + count]`` before its initial ``0.0`` is added:
    blocks of up to 128 (:func:`block_sum`), above that the sum of the two halves (a
    multiple of eight first), so ``0.0 + pairwise_sum(...)`` equals the slice's ``sum()``
    bit for bit. The halving runs on a stack of its own (a cached numba kernel must not
    call itself)."""
    if count <= 128:
        return block_sum(values, start, count)
    half = count // 2
    half -= half % 8
    if count - half <= 128:
        # one halving (a row of up to ~256: the sim's uids): no stack to allocate
        return block_sum(values, start, half) + block_sum(values, start + half, count - half)
    # frames: (start, count, stage: 0 new, 1 left half pending, 2 right half pending)
    starts = np.empty(64, np.int64)
    counts = np.empty(64, np.int64)
    stages = np.zeros(64, np.int64)
    lefts = np.empty(64)
    top = 0
    starts[0], counts[0] = start, count
    while True:
        at, size = starts[top], counts[top]
        if size <= 128:
            total = block_sum(values, at, size)
            top -= 1
            while top >= 0 and stages[top] == 2:  # both halves done: the frame's sum
                total = lefts[top] + total
                top -= 1
            if top < 0:
                return total
            # the left half of frame ``top`` is done: its right half next
            lefts[top] = total
            stages[top] = 2
            half = counts[top] // 2
            half -= half % 8
            starts[top + 1], counts[top + 1], stages[top + 1] = (
                starts[top] + half,
                counts[top] - half,
                0,
            )
            top += 1
            continue
        half = size // 2
        half -= half % 8
        stages[top] = 1
        starts[top + 1], counts[top + 1], stages[top + 1] = at, half, 0
        top += 1
