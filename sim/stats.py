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
import pandas as pd
from scipy import stats

__all__ = ["CI", "grouped_mean_ci", "mean_ci", "paired_diff_ci", "wilson_interval"]


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
            (x,),
            np.mean,
            confidence_level=level,
            n_resamples=n_resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        return CI(
            mean,
            float(res.confidence_interval.low),
            float(res.confidence_interval.high),
            n,
            level,
            "bootstrap",
        )
    raise ValueError(f"method: expected 't' or 'bootstrap', got {method!r}")


def paired_diff_ci(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, level: float = 0.95
) -> CI:
    """t interval of the mean of ``a - b`` over paired observations (same seeds)."""
    x = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return mean_ci(x, level=level, method="t")


def grouped_mean_ci(
    frame: pd.DataFrame, by: Sequence[str], columns: Sequence[str], *, level: float = 0.95
) -> pd.DataFrame:
    """Student-t intervals of the mean of each column within each group, in one pass.

    The same numbers as :func:`mean_ci` (method ``"t"``) on every group and column: NaNs and
    infinities dropped, ``nan`` bounds for fewer than two values, ``low = high = mean`` when all
    values are equal.

    Parameters
    ----------
    frame
        One row per observation (run).
    by
        The grouping columns (e.g. ``["point", "policy"]``).
    columns
        Numeric columns to summarise.
    level
        Confidence level.

    Returns
    -------
    DataFrame
        ``*by, kpi, mean, low, high, n``: one row per group and column, groups in order of
        appearance, columns in the given order.

    Examples
    --------
    >>> df = pd.DataFrame({"g": ["a"] * 4 + ["b"], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    >>> grouped_mean_ci(df, ["g"], ["x"]).round(3).to_dict("records")[0]
    {'g': 'a', 'kpi': 'x', 'mean': 2.5, 'low': 0.446, 'high': 4.554, 'n': 4}
    """
    by = list(by)
    out_columns = [*by, "kpi", "mean", "low", "high", "n"]
    if frame.empty or not columns:
        return pd.DataFrame(columns=out_columns)
    values = frame[list(columns)].astype(float)
    values = values.where(np.isfinite(values.to_numpy()))
    grouped = values.groupby([frame[k] for k in by], sort=False)
    parts = {
        "mean": grouped.mean(),
        "std": grouped.std(ddof=1),
        "n": grouped.count(),
        "distinct": grouped.nunique(),
    }
    long = pd.concat({name: part.stack(future_stack=True) for name, part in parts.items()}, axis=1)
    long.index = long.index.set_names([*by, "kpi"])
    long = long.reset_index()
    n = long["n"].to_numpy(dtype=int)
    mean = long["mean"].to_numpy(dtype=float)
    q = stats.t.ppf(0.5 + level / 2.0, df=np.maximum(n - 1, 1))
    half = q * long["std"].to_numpy(dtype=float) / np.sqrt(np.maximum(n, 1))
    half = np.where(long["distinct"].to_numpy() <= 1, 0.0, half)
    half = np.where(n < 2, np.nan, half)
    long["low"] = mean - half
    long["high"] = mean + half
    long["n"] = n
    return long[out_columns].reset_index(drop=True)


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
        raise ValueError(
            f"successes, trials: expected 0 <= successes <= trials, got {successes}, {trials}"
        )
    if trials == 0:
        return CI(float("nan"), float("nan"), float("nan"), 0, level, "wilson")
    p = successes / trials
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return CI(
        p, max(0.0, float(centre - half)), min(1.0, float(centre + half)), trials, level, "wilson"
    )
