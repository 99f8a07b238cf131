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

try:  # numba is an optional speed-up: without it the torch paths run
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None
    HAVE_NUMBA = False

__all__ = ["BACKENDS", "HAVE_NUMBA", "Backend", "choose_backend", "jit"]

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
