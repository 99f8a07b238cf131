"""Does a ranking hold inside the model's uncertainty? Paired reading of a study's KPIs.

With the outer Monte Carlo on (``sim.runner.RunConfig(market_uncertainty="prior")``) every
replication of a study runs with its own draw of the fitted market constants, the same for
every policy; its intervals then hold model uncertainty as well as seed noise. For every pair
of policies :func:`ranking_stability` reports, over the paired replications (same design point
and replication), the share in which ``a`` does less harm than ``b``, its Wilson interval, the
paired mean difference with its t interval, and whether the ranking is **settled** (the
difference's interval excludes 0 and the share's interval excludes 50 %) or **flips inside the
range**. Given the drawn constants (``sim.runner.market_draws``), it also splits the share by
each constant below and above its median: where in the range the ranking turns.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.stats import CI, paired_diff_ci, wilson_interval

__all__ = ["PairRanking", "RankingStability", "ranking_stability"]


@dataclass(frozen=True)
class PairRanking:
    """How two policies rank on a metric across paired replications.

    Attributes
    ----------
    a, b
        The policies.
    metric
        The KPI (larger = worse).
    n
        Paired replications (both runs succeeded).
    share_a_less
        Share of them in which ``a``'s metric is below ``b``'s (``a`` does less harm).
    share_low, share_high
        The share's Wilson interval.
    diff
        Paired mean of ``metric[a] - metric[b]`` with its t interval.
    by_constant
        Per drawn market constant: the share in replications with the constant below its
        median and at or above it (empty without draws).
    """

    a: str
    b: str
    metric: str
    n: int
    share_a_less: float
    share_low: float
    share_high: float
    diff: CI
    by_constant: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        """The ranking holds inside the range: the difference's interval excludes 0 and the
        share's interval excludes 50 %."""
        diff_clear = bool(np.isfinite(self.diff.low) and (self.diff.low > 0 or self.diff.high < 0))
        share_clear = bool(self.share_low > 0.5 or self.share_high < 0.5)
        return diff_clear and share_clear

    @property
    def flips(self) -> bool:
        """The ranking flips inside the range (not :attr:`settled`)."""
        return not self.settled

    @property
    def leader(self) -> str | None:
        """The policy doing less harm on the paired mean (None on a tie)."""
        if self.diff.mean < 0:
            return self.a
        if self.diff.mean > 0:
            return self.b
        return None

    def line(self) -> str:
        """One readable line."""
        verdict = "settled" if self.settled else "flips inside the range"
        text = (
            f"{self.a} vs {self.b}: {self.a} does less harm in {self.share_a_less:.0%} "
            f"[{self.share_low:.0%}, {self.share_high:.0%}] of {self.n} paired replications; "
            f"mean {self.metric} difference {self.diff.format()}: {verdict}"
        )
        if self.by_constant and self.flips:
            parts = [
                f"{name}: {lo:.0%} below median, {hi:.0%} above"
                for name, (lo, hi) in self.by_constant.items()
            ]
            text += " (" + "; ".join(parts) + ")"
        return text


@dataclass(frozen=True)
class RankingStability:
    """Every pair of policies' :class:`PairRanking` on one metric."""

    metric: str
    pairs: tuple[PairRanking, ...]

    @property
    def flipping(self) -> tuple[PairRanking, ...]:
        """The pairs whose ranking flips inside the range."""
        return tuple(p for p in self.pairs if p.flips)

    def table(self) -> pd.DataFrame:
        """One row per pair: ``a, b, n, share_a_less, share_low, share_high, diff_mean,
        diff_low, diff_high, settled``."""
        return pd.DataFrame(
            [
                {
                    "a": p.a,
                    "b": p.b,
                    "n": p.n,
                    "share_a_less": p.share_a_less,
                    "share_low": p.share_low,
                    "share_high": p.share_high,
                    "diff_mean": p.diff.mean,
                    "diff_low": p.diff.low,
                    "diff_high": p.diff.high,
                    "settled": p.settled,
                }
                for p in self.pairs
            ]
        )

    def lines(self) -> list[str]:
        """One line per pair."""
        return [p.line() for p in self.pairs]


def _by_constant(paired: pd.DataFrame, less: np.ndarray) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for column in paired.columns:
        if not str(column).startswith("market."):
            continue
        values = paired[column].to_numpy(dtype=float)
        ok = np.isfinite(values)
        if ok.sum() < 2:
            continue
        median = float(np.median(values[ok]))
        below, above = ok & (values < median), ok & (values >= median)
        out[str(column)] = (
            float(less[below].mean()) if below.any() else math.nan,
            float(less[above].mean()) if above.any() else math.nan,
        )
    return out


def ranking_stability(
    kpis: pd.DataFrame,
    *,
    metric: str = "harm.total",
    policies: Sequence[str] | None = None,
    draws: pd.DataFrame | None = None,
    level: float = 0.95,
) -> RankingStability:
    """Pairwise rankings of policies on ``metric`` over paired replications.

    Parameters
    ----------
    kpis
        One row per succeeded run with ``policy``, ``point``, ``replication`` and ``metric``
        (``StudyStore.table("kpis")``).
    metric
        The KPI compared; larger = worse.
    policies
        The policies (default: those in ``kpis``, in order of appearance).
    draws
        The market constants per run (``sim.runner.market_draws``): splits each pair's share
        by each constant's median.
    level
        Confidence level of both intervals.
    """
    if metric not in kpis.columns:
        raise KeyError(f"metric {metric!r} is not a KPI column")
    names = list(policies) if policies is not None else list(dict.fromkeys(kpis["policy"]))
    keys = ["point", "replication"]
    wide = kpis.pivot_table(index=keys, columns="policy", values=metric, aggfunc="first")
    constants = None
    if draws is not None and not draws.empty:
        constants = (
            draws.drop(columns=["run_id", "policy"], errors="ignore")
            .drop_duplicates(keys)
            .set_index(keys)
        )
    pairs = []
    for a, b in itertools.combinations(names, 2):
        if a not in wide.columns or b not in wide.columns:
            continue
        paired = wide[[a, b]].dropna()
        values_a, values_b = paired[a].to_numpy(float), paired[b].to_numpy(float)
        less = values_a < values_b
        n = int(less.size)
        share = float(less.mean()) if n else math.nan
        share_ci = wilson_interval(int(less.sum()), n, level=level)
        lo, hi = share_ci.low, share_ci.high
        split = {}
        if constants is not None and n:
            split = _by_constant(constants.reindex(paired.index), less)
        pairs.append(
            PairRanking(
                a,
                b,
                metric,
                n,
                share,
                lo,
                hi,
                paired_diff_ci(values_a, values_b, level=level),
                split,
            )
        )
    return RankingStability(metric, tuple(pairs))
