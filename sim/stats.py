"""Confidence intervals for study outcomes: Student t and bootstrap.

Examples
--------
>>> ci = mean_ci([1.0, 2.0, 3.0, 4.0])
>>> round(ci.mean, 3), round(ci.low, 3), round(ci.high, 3)
(2.5, 0.446, 4.554)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

__all__ = ["CI", "mean_ci", "paired_diff_ci", "wilson_interval"]


@dataclass(frozen=True)
class CI:
    """A mean and its confidence interval.

    Attributes
    ----------
    mean, low, high
        The estimate and the interval bounds (``nan`` when undefined).
    n
        Finite observations used.
    level
        Confidence level (0.95).
    method
        ``"t"`` or ``"bootstrap"``.
    """

    mean: float
    low: float
    high: float
    n: int
    level: float
    method: str

    @property
    def half_width(self) -> float:
        """Half the interval width."""
        return (self.high - self.low) / 2.0

    def format(self, digits: int = 3) -> str:
        """``mean [low, high]`` with ``digits`` significant digits."""
        fmt = f"{{:.{digits}g}}"
        if not np.isfinite(self.low):
            return fmt.format(self.mean)
        return f"{fmt.format(self.mean)} [{fmt.format(self.low)}, {fmt.format(self.high)}]"


def mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    level: float = 0.95,
    method: Literal["t", "bootstrap"] = "t",
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> CI:
    """Confidence interval of the mean of ``values`` (NaNs dropped).

    Parameters
    ----------
    values
        Observations, one per run.
    level
        Confidence level.
    method
        ``"t"`` (Student t, the default) or ``"bootstrap"`` (percentile bootstrap; robust to
        skew, e.g. CVaR-type outcomes).
    n_resamples
        Bootstrap resamples.
    seed
        Seed of the bootstrap's generator (the same seed, the same interval).

    Returns
    -------
    CI
        With ``low = high = mean`` when all values are equal and ``nan`` bounds for n < 2.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return CI(float("nan"), float("nan"), float("nan"), 0, level, method)
    mean = float(x.mean())
    if n < 2:
        return CI(mean, float("nan"), float("nan"), n, level, method)
    if np.all(x == x[0]):
        return CI(mean, mean, mean, n, level, method)
    if method == "t":
        sem = float(x.std(ddof=1) / np.sqrt(n))
        q = float(stats.t.ppf(0.5 + level / 2.0, df=n - 1))
        return CI(mean, mean - q * sem, mean + q * sem, n, level, "t")
    if method == "bootstrap":
        res = stats.bootstrap(
            (x,), np.mean, confidence_level=level, n_resamples=n_resamples,
            method="percentile", rng=np.random.default_rng(seed),
        )
        return CI(mean, float(res.confidence_interval.low), float(res.confidence_interval.high),
                  n, level, "bootstrap")
    raise ValueError(f"method: expected 't' or 'bootstrap', got {method!r}")


def paired_diff_ci(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, level: float = 0.95
) -> CI:
    """t interval of the mean of ``a - b`` over paired observations (same seeds)."""
    x = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return mean_ci(x, level=level, method="t")


def wilson_interval(successes: int, trials: int, *, level: float = 0.95) -> CI:
    """Wilson score interval of a proportion (e.g. harmful proposals executed, pooled over seeds).

    Better than the normal interval for small counts and shares near 0 or 1 (Wilson 1927;
    Brown, Cai & DasGupta 2001). ``nan`` bounds for zero trials.

    Examples
    --------
    >>> ci = wilson_interval(6, 8)
    >>> round(ci.mean, 3), round(ci.low, 3), round(ci.high, 3)
    (0.75, 0.409, 0.929)
    >>> wilson_interval(0, 8).low
    0.0
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"successes, trials: expected 0 <= successes <= trials, got "
                         f"{successes}, {trials}")
    if trials == 0:
        return CI(float("nan"), float("nan"), float("nan"), 0, level, "wilson")
    p = successes / trials
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return CI(p, max(0.0, float(centre - half)), min(1.0, float(centre + half)), trials, level,
              "wilson")
