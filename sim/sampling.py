"""Experimental designs and seeds for sweeps.

A design is a list of *points*: plain dicts mapping a dotted parameter path
(``"governance.delay_blocks"``) to a value. The runner turns every point into one scenario
row, and every (scenario ``i``, replication ``j``) pair into one run seeded from the study's
root entropy (docs/studies.md, "Studies: runner, seeds, store").

Every design checks its size before it builds anything: more than :data:`MAX_POINTS` points is
a ``ValueError`` (scenario files have a lower cap, ``sim.schema.MAX_SWEEP_POINTS``).

Examples
--------
>>> grid({"a": [1, 2], "b": ["x", "y"]})
[{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'}]
>>> points = lhs(4, {"kappa": (0.1, 0.9)}, seed=7)
>>> len(points), all(0.1 <= p["kappa"] <= 0.9 for p in points)
(4, True)
>>> run_seed(12345, 0, 0) == run_seed(12345, 0, 0)
True
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "MARKET_STREAM",
    "MAX_POINTS",
    "Point",
    "ab",
    "from_records",
    "grid",
    "lhs",
    "market_seed_sequence",
    "new_entropy",
    "run_seed",
    "run_seed_sequence",
    "sobol",
]

#: One design point: dotted parameter path -> value.
Point = dict[str, Any]
#: Most points any design builds (a guard against allocating an absurd design).
MAX_POINTS: int = 1_000_000
#: First element of the spawn key of the market-constant draws (the outer Monte Carlo): far
#: above any design point index, so it never equals a run's ``(point, replication)`` key.
MARKET_STREAM: int = 2**40


def _check_size(n: int, what: str) -> None:
    if n > MAX_POINTS:
        raise ValueError(f"{what}: {n} points; expected at most {MAX_POINTS}")


def grid(axes: Mapping[str, Sequence[Any]]) -> list[Point]:
    """Full factorial design: the Cartesian product of the axes, first axis slowest.

    Parameters
    ----------
    axes
        Parameter path -> the values it takes. An empty mapping gives one empty point.

    Returns
    -------
    list of dict
        ``prod(len(v) for v in axes.values())`` points.
    """
    names = list(axes)
    for name in names:
        if len(axes[name]) == 0:
            raise ValueError(f"grid axis {name!r} has no values")
    _check_size(math.prod(len(axes[name]) for name in names), "grid")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def _qmc() -> Any:
    """``scipy.stats.qmc``, imported on first use.

    ``scipy.stats`` costs ~0.6-0.9 s of CPU to import and only designs need it; the runner
    (and with it every sweep worker process) imports this module for :func:`run_seed`.
    """
    from scipy.stats import qmc

    return qmc


def _qmc_engine(cls: type, d: int, seed: int | None) -> Any:
    """Build a scipy QMC engine, passing the generator under the keyword this SciPy accepts."""
    rng = np.random.default_rng(seed)
    params = inspect.signature(cls).parameters
    key = "rng" if "rng" in params else "seed"
    return cls(d, **{key: rng})


def _scale(unit: np.ndarray, bounds: Mapping[str, tuple[Any, Any]]) -> list[Point]:
    """Map unit-cube samples onto ``bounds``; integer bounds give integers (rounded)."""
    names = list(bounds)
    lows = np.array([float(bounds[n][0]) for n in names])
    highs = np.array([float(bounds[n][1]) for n in names])
    for name, lo, hi in zip(names, lows, highs, strict=True):
        if not hi > lo:
            raise ValueError(f"bounds of {name!r}: expected low < high, got [{lo}, {hi}]")
    scaled = _qmc().scale(unit, lows, highs)
    integer = [
        all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in bounds[n])
        for n in names
    ]
    points: list[Point] = []
    for row in scaled:
        point: Point = {}
        for k, name in enumerate(names):
            point[name] = round(float(row[k])) if integer[k] else float(row[k])
        points.append(point)
    return points


def lhs(n: int, bounds: Mapping[str, tuple[Any, Any]], *, seed: int | None = None) -> list[Point]:
    """Latin hypercube design of ``n`` points inside ``bounds`` (``scipy.stats.qmc``).

    Parameters
    ----------
    n
        Number of points.
    bounds
        Parameter path -> ``(low, high)``. Integer bounds give integer values.
    seed
        Seed of the design (the same seed gives the same points).
    """
    if n < 1:
        raise ValueError(f"lhs: expected n >= 1, got {n}")
    _check_size(n, "lhs")
    engine = _qmc_engine(_qmc().LatinHypercube, len(bounds), seed)
    return _scale(engine.random(n), bounds)


def sobol(n: int, bounds: Mapping[str, tuple[Any, Any]], *, seed: int | None = None) -> list[Point]:
    """Scrambled Sobol design of ``n`` points (a power of two keeps its balance properties)."""
    if n < 1:
        raise ValueError(f"sobol: expected n >= 1, got {n}")
    _check_size(n, "sobol")
    engine = _qmc_engine(_qmc().Sobol, len(bounds), seed)
    return _scale(engine.random(n), bounds)


def from_records(records: Sequence[Mapping[str, Any]]) -> list[Point]:
    """An explicit list of points (copied)."""
    return [dict(r) for r in records]


def ab(base: Mapping[str, Any], variant: Mapping[str, Any]) -> list[Point]:
    """A two-arm design: the ``base`` point and ``base`` updated by ``variant``."""
    return [dict(base), {**base, **variant}]


def new_entropy() -> int:
    """Fresh root entropy for a study (recorded in ``sweep.json``)."""
    return int(np.random.SeedSequence().entropy)


def run_seed_sequence(entropy: int, scenario: int, replication: int) -> np.random.SeedSequence:
    """The seed sequence of run (``scenario``, ``replication``): ``spawn_key=(i, j)``.

    Identical to ``SeedSequence(entropy).spawn(i + 1)[i].spawn(j + 1)[j]``, so any run can be
    rebuilt from the manifest alone.
    """
    return np.random.SeedSequence(entropy, spawn_key=(scenario, replication))


def run_seed(entropy: int, scenario: int, replication: int) -> int:
    """The model's integer seed for run (``scenario``, ``replication``): a non-negative int63."""
    child = run_seed_sequence(entropy, scenario, replication)
    return int(child.generate_state(1, dtype=np.uint64)[0] >> 1)


def market_seed_sequence(entropy: int, replication: int) -> np.random.SeedSequence:
    """The seed sequence of replication ``replication``'s market-constant draw.

    ``spawn_key=(MARKET_STREAM, replication)``: it depends on the study's entropy and the
    replication only, so every policy and every design point of a replication draws the same
    constants (common random numbers), whatever executor or worker count runs the study.

    Examples
    --------
    >>> a = market_seed_sequence(7, 3).generate_state(2).tolist()
    >>> a == market_seed_sequence(7, 3).generate_state(2).tolist()
    True
    >>> a == run_seed_sequence(7, 0, 3).generate_state(2).tolist()
    False
    """
    return np.random.SeedSequence(entropy, spawn_key=(MARKET_STREAM, replication))
