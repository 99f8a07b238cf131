"""What fixes a run's float bits on a machine, for the golden tests that pin outputs.

The same code and seed give the same bits on one machine whatever the executor or worker count,
but not on every machine: numpy chooses its SIMD loops when it is imported, and its AVX-512
loops for ``exp``, ``log`` and ``power`` of float64 round differently in the last place from the
C library's that it uses on other CPUs (seen on one machine with and without numpy's AVX-512
loops, ``NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL"``: 90 of 271 pinned coinbase cases and a
golden run's fingerprint moved, by 1e-16 to 1e-14 relative). So a golden test compares every
value to a relative tolerance on any machine, and bit for bit (a fingerprint) on the platforms
whose fingerprints it recorded, each under its :func:`platform_key`.
"""

from __future__ import annotations

import math

import numpy as np

#: Relative agreement asked of pinned values on a platform that did not pin them: last-place
#: differences grow through a run, but a change of behaviour moves values far more than this.
RTOL = 1e-9


def platform_key() -> str:
    """numpy's version and the SIMD targets its loops dispatch to here, the CPU numba compiles
    its kernels for, and torch's version, as one string."""
    import llvmlite.binding
    import torch
    from numba.core import config

    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy < 2
        from numpy.core import _multiarray_umath as umath

    features = umath.__cpu_features__
    targets = "+".join(t for t in umath.__cpu_dispatch__ if features.get(t)) or "baseline"
    # numba compiles for NUMBA_CPU_NAME (and NUMBA_CPU_FEATURES) where set, else this host's CPU
    cpu = config.CPU_NAME or llvmlite.binding.get_host_cpu_name()
    if config.CPU_FEATURES:
        cpu += f" {config.CPU_FEATURES}"
    return f"numpy {np.__version__} {targets}; numba cpu {cpu}; torch {torch.__version__}"


def close(actual: float, expected: float, scale: float = 0.0) -> bool:
    """``actual`` equals ``expected`` to :data:`RTOL` of the larger of ``|expected|`` and
    ``scale`` (NaN equals NaN; infinities only themselves)."""
    if math.isnan(expected):
        return math.isnan(actual)
    if actual == expected:
        return True
    if math.isinf(expected) or math.isinf(actual):
        return False
    return abs(actual - expected) <= RTOL * max(abs(expected), scale)
