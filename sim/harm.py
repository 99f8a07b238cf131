"""The harm vector of a run and its aggregation into one number (docs/studies.md, "The harm
vector").

A run's harm has five parts, each measured from what the run recorded (its event log, its time
series and its market), never from a structural constant of the policy:

``holders``
    TAO holders' loss: the fall of the TAO price over the horizon, valued on the circulating
    supply, ``circulating_tao * (P0 - P_end)`` (USD). A rise is a negative loss.
``lost``
    TAO lost to unstopped exploits and scams: every TAO an exploit stole (it stops only when
    a halt stops it or its loot runs out) plus every TAO emitted to a scam subnet while it
    still emitted (TAO).
``targeted``
    The loss of the participants of the (non-scam) subnets an executed intervention hit,
    measured against what they would have earned: their income (miners, validators with their
    nominators' dividends, the owner) after the first hit against the income rate of the
    ``window_days`` before it, plus the fall of the alpha price from the last record before the
    hit to the end, on the alpha staked on the subnet then (TAO).
``emission_removed``
    Emission wrongly removed from healthy subnets: for every subnet an unwarranted
    intervention hit (not a scam), the emission share it lost against its share before the
    hit, times the network's daily emission, over the days after the hit (TAO).
``halted``
    Days the chain was halted (safe mode), from the executed halts (and resumes) in the log.

Every part is valued in USD with stated prices (:class:`HarmPrices`): TAO amounts at the run's
starting TAO price (a fixed numeraire, so a policy that crashed the price does not make its own
thefts look cheaper) and a halt day at ``verdict.halt_day_usd`` (default: the network's daily
emission at that price, the day of work the network pays for). ``harm.total`` is the weighted
sum of the USD values (``verdict.weights``; defaults in ``sim.config.DEFAULT_HARM_WEIGHTS``).

The functions here are pure: they read plain data (events, a time-series frame, numbers);
:func:`harm_kpis` is the one adapter that reads a finished model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim.config import DEFAULT_HARM_WEIGHTS, HARM_COMPONENTS

if TYPE_CHECKING:
    from sim.metrics import RecordedModel

__all__ = [
    "DEFAULT_HARM_WEIGHTS",
    "HARM_COMPONENTS",
    "HARM_KPI_UNITS",
    "HarmPrices",
    "HarmVector",
    "Hit",
    "TargetedLoss",
    "aggregate",
    "emission_removed_tao",
    "halted_days",
    "harm_kpis",
    "harm_vector",
    "intervention_hits",
    "reaggregate",
    "resolve_weights",
    "reversal_weights",
    "scam_netuids",
    "targeted_loss",
]

#: Days of income before a hit that set the counterfactual income rate.
DEFAULT_WINDOW_DAYS = 7.0

#: Every ``harm.*`` KPI and its unit (for tables and reports).
HARM_KPI_UNITS: dict[str, str] = {
    "harm.total": "USD",
    "harm.holders_usd": "USD",
    "harm.holders_return": "fraction",
    "harm.lost_tao": "TAO",
    "harm.lost_exploit_tao": "TAO",
    "harm.lost_scam_tao": "TAO",
    "harm.lost_usd": "USD",
    "harm.targeted_tao": "TAO",
    "harm.targeted_usd": "USD",
    "harm.targeted_miners_tao": "TAO",
    "harm.targeted_validators_tao": "TAO",
    "harm.targeted_owner_tao": "TAO",
    "harm.targeted_stake_tao": "TAO",
    "harm.targeted_subnets": "count",
    "harm.emission_removed_tao": "TAO",
    "harm.emission_removed_usd": "USD",
    "harm.halted_days": "days",
    "harm.halted_usd": "USD",
    "harm.tao_usd": "USD/TAO",
    "harm.halt_day_usd": "USD/day",
}

#: The KPI holding each component's USD value (what the weights multiply).
_USD_KPI: dict[str, str] = {c: f"harm.{c}_usd" for c in HARM_COMPONENTS}


# -- weights ------------------------------------------------------------------------------------
def resolve_weights(weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every component's weight: the defaults, overridden by ``weights``.

    Raises
    ------
    ValueError
        For an unknown component or a negative or non-finite weight.

    Examples
    --------
    >>> resolve_weights({"halted": 2.0})["halted"], resolve_weights()["emission_removed"]
    (2.0, 0.0)
    """
    out = dict(DEFAULT_HARM_WEIGHTS)
    for name, value in (weights or {}).items():
        if name not in HARM_COMPONENTS:
            raise ValueError(
                f"weights.{name}: not a harm component; expected one of {', '.join(HARM_COMPONENTS)}"
            )
        value = float(value)
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"weights.{name}: got {value}; expected a finite weight >= 0")
        out[name] = value
    return out


def aggregate(usd: Mapping[str, float], weights: Mapping[str, float] | None = None) -> float:
    """``harm.total``: the weighted sum of the components' USD values (larger = worse).

    A component with weight 0 is left out even when its value is NaN (not measurable in the
    run); a weighted NaN component makes the total NaN (never silently 0).

    Examples
    --------
    >>> aggregate({"holders": 100.0, "lost": 50.0, "targeted": 0.0, "emission_removed": 7.0,
    ...            "halted": 10.0}, {"halted": 2.0})
    170.0
    """
    w = resolve_weights(weights)
    total = 0.0
    for name in HARM_COMPONENTS:
        if w[name] == 0.0:
            continue
        total += w[name] * float(usd.get(name, 0.0))
    return total


# -- the parts, from plain data -----------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """An executed intervention on a subnet: when (day), and whether it was warranted."""

    netuid: int
    day: float
    justified: bool


def intervention_hits(events: Iterable[Mapping[str, Any]]) -> list[Hit]:
    """Every subnet an executed, non-reversal lever acted on, in order (one hit per target).

    Parameters
    ----------
    events
        The run's event log (``kind == "executed"`` entries with ``targets``, ``justified``,
        ``reversal`` and ``day``).
    """
    hits: list[Hit] = []
    for event in events:
        if event.get("kind") != "executed" or event.get("reversal"):
            continue
        day = float(event.get("day", event.get("block", 0) / BLOCKS_PER_DAY))
        for netuid in event.get("targets") or ():
            hits.append(Hit(int(netuid), day, bool(event.get("justified", False))))
    return hits


def scam_netuids(events: Iterable[Mapping[str, Any]]) -> frozenset[int]:
    """Subnets that turned scam during the run (``scam_subnet`` events)."""
    return frozenset(int(e["netuid"]) for e in events if e.get("kind") == "scam_subnet")


def _halt_levers(detail: Any) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """(kind, fields) of a lever and of the effects of a runtime upgrade, depth first."""
    if not isinstance(detail, Mapping):
        return
    yield str(detail.get("kind", "")), detail
    for effect in detail.get("effects") or ():
        yield from _halt_levers(effect)


def halted_days(events: Iterable[Mapping[str, Any]], end_block: int) -> float:
    """Days the chain spent halted between block 0 and ``end_block``.

    A halt executed at block ``b`` with ``duration_blocks`` d holds the chain until
    ``max(previous end, b + d)`` (the economy's rule); an executed ``resume_chain`` ends it.

    Examples
    --------
    >>> log = [{"kind": "executed", "block": 7200, "lever": "halt_chain",
    ...         "lever_detail": {"kind": "halt_chain", "duration_blocks": 7200}}]
    >>> halted_days(log, 30 * 7200)
    1.0
    """
    halted = 0
    until = 0
    last = 0
    for event in sorted(
        (e for e in events if e.get("kind") == "executed"), key=lambda e: int(e.get("block", 0))
    ):
        block = min(int(event.get("block", 0)), end_block)
        if until > last:
            halted += max(min(until, block) - last, 0)
        last = max(last, block)
        for kind, detail in _halt_levers(event.get("lever_detail")):
            if kind == "halt_chain":
                until = max(until, block + int(detail.get("duration_blocks", 0)))
            elif kind == "resume_chain":
                until = block
    if until > last:
        halted += max(min(until, end_block) - last, 0)
    return halted / BLOCKS_PER_DAY


@dataclass(frozen=True)
class TargetedLoss:
    """The loss of the participants of the subnets interventions hit (TAO).

    Attributes
    ----------
    miners, validators, owner
        Income shortfall against the pre-hit income rate (validators' income holds their
        nominators' dividends).
    stake
        Fall of the subnet's alpha price from the last record before the hit to the end, on the
        alpha staked on it then (validators, nominators, miners and owner holding it).
    subnets
        The subnets counted.
    """

    miners: float = 0.0
    validators: float = 0.0
    owner: float = 0.0
    stake: float = 0.0
    subnets: tuple[int, ...] = ()

    @property
    def total(self) -> float:
        """All of it (TAO)."""
        return self.miners + self.validators + self.owner + self.stake


_INCOME = {
    "miners": "income_miners_tao",
    "validators": "income_validators_tao",
    "owner": "income_owner_tao",
}


def _first_hits(
    hits: Iterable[Hit], skip: Iterable[int], *, unjustified_only: bool
) -> dict[int, float]:
    """The day of the first counted hit per subnet."""
    excluded = set(skip)
    first: dict[int, float] = {}
    for hit in hits:
        if hit.netuid in excluded or (unjustified_only and hit.justified):
            continue
        first[hit.netuid] = min(first.get(hit.netuid, math.inf), hit.day)
    return first


def _subnet_rows(timeseries: pd.DataFrame, netuid: int) -> pd.DataFrame | None:
    if timeseries.empty or "netuid" not in timeseries.columns:
        return None
    rows = timeseries[timeseries["netuid"] == netuid].sort_values("day", kind="stable")
    return rows if len(rows) else None


def targeted_loss(
    timeseries: pd.DataFrame,
    hits: Sequence[Hit],
    *,
    scams: Iterable[int] = (),
    window_days: float = DEFAULT_WINDOW_DAYS,
) -> TargetedLoss:
    """The loss of the participants of every non-scam subnet an intervention hit (TAO).

    For subnet ``s`` first hit on day ``h``: with ``i`` the last record at or before ``h`` and
    ``w`` the last record at or before ``h - window_days`` (the first record if none), the
    counterfactual income of each role after the hit is its income rate over records
    ``(w, i]`` times the days from record ``i`` to the end; the shortfall is that minus what it
    earned after record ``i``. The stake loss is the subnet's staked alpha at record ``i``
    times the fall of its alpha price (TAO per alpha) from record ``i`` to the end. Signed:
    a subnet that did better after the hit gives a negative loss. A hit with no record before
    it (day 0) has no income rate to compare with: its income part is 0.

    Parameters
    ----------
    timeseries
        One row per subnet and record (``netuid``, ``day``, ``income_*_tao``,
        ``alpha_price_tao``, ``stake_alpha``), as ``sim.metrics.Recorder`` writes it.
    hits
        :func:`intervention_hits`.
    scams
        Subnets that turned scam: hits on them are warranted responses, not counted.
    window_days
        Days of income before the hit that set the rate.

    Returns
    -------
    TargetedLoss
        NaN in every part when there are hits but no per-subnet rows to measure them.
    """
    first = _first_hits(hits, scams, unjustified_only=False)
    if not first:
        return TargetedLoss()
    parts = dict.fromkeys(("miners", "validators", "owner", "stake"), 0.0)
    counted: list[int] = []
    for netuid, day in sorted(first.items()):
        rows = _subnet_rows(timeseries, netuid)
        if rows is None:
            nan = float("nan")
            return TargetedLoss(nan, nan, nan, nan, tuple(sorted(first)))
        days = rows["day"].to_numpy(dtype=float)
        i = int(np.searchsorted(days, day, side="right")) - 1
        if i < 0:
            i = 0
        w = max(int(np.searchsorted(days, day - window_days, side="right")) - 1, 0)
        span = days[i] - days[w]
        after = days[-1] - days[i]
        for role, column in _INCOME.items():
            income = rows[column].to_numpy(dtype=float)
            before = income[w + 1 : i + 1].sum()
            earned = income[i + 1 :].sum()
            if span > 0:
                parts[role] += float(before / span * after - earned)
        price = rows["alpha_price_tao"].to_numpy(dtype=float)
        stake = rows["stake_alpha"].to_numpy(dtype=float)
        parts["stake"] += float(stake[i] * (price[i] - price[-1]))
        counted.append(netuid)
    return TargetedLoss(**{k: float(v) for k, v in parts.items()}, subnets=tuple(counted))


def emission_removed_tao(
    timeseries: pd.DataFrame,
    hits: Sequence[Hit],
    *,
    emission_tao_per_day: float,
    scams: Iterable[int] = (),
) -> float:
    """TAO of emission wrongly removed from healthy subnets.

    For every subnet an unwarranted intervention hit (not a scam) on day ``h``: with ``i`` the
    last record at or before ``h`` and ``σ0`` its emission share there, the sum over later
    records ``k`` of ``max(σ0 - σ_k, 0) * emission_tao_per_day * (day_k - day_{k-1})``.

    Returns NaN when there are such hits but no per-subnet rows to measure them.
    """
    first = _first_hits(hits, scams, unjustified_only=True)
    total = 0.0
    for netuid, day in first.items():
        rows = _subnet_rows(timeseries, netuid)
        if rows is None:
            return float("nan")
        days = rows["day"].to_numpy(dtype=float)
        share = rows["emission_share"].to_numpy(dtype=float)
        i = max(int(np.searchsorted(days, day, side="right")) - 1, 0)
        gap = np.clip(share[i] - share[i + 1 :], 0.0, None)
        total += float(np.sum(gap * np.diff(days[i:]))) * emission_tao_per_day
    return total


# -- the vector ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HarmPrices:
    """The prices that put every part in USD.

    Attributes
    ----------
    tao_usd
        USD per TAO for TAO amounts: the run's starting TAO price.
    halt_day_usd
        USD per day of chain halt.
    """

    tao_usd: float
    halt_day_usd: float


@dataclass(frozen=True)
class HarmVector:
    """The harm of one run, part by part (see the module docstring).

    Attributes
    ----------
    holders_return
        The TAO price's fall over the horizon, ``1 - P_end / P0`` (fraction).
    holders_usd
        That fall valued on the circulating supply (USD).
    lost_exploit_tao, lost_scam_tao
        TAO stolen by exploits; TAO emitted to scam subnets while they still emitted.
    targeted
        :class:`TargetedLoss` (TAO).
    emission_removed_tao
        Emission wrongly removed from healthy subnets (TAO).
    halted_days
        Days of chain halt.
    prices
        :class:`HarmPrices`.
    weights
        The weights of ``total`` (every component).
    """

    holders_return: float
    holders_usd: float
    lost_exploit_tao: float
    lost_scam_tao: float
    targeted: TargetedLoss
    emission_removed_tao: float
    halted_days: float
    prices: HarmPrices
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HARM_WEIGHTS))

    @property
    def lost_tao(self) -> float:
        """TAO lost to unstopped exploits and scams."""
        return self.lost_exploit_tao + self.lost_scam_tao

    def usd(self) -> dict[str, float]:
        """Each component's USD value (before weighting)."""
        tao = self.prices.tao_usd
        return {
            "holders": self.holders_usd,
            "lost": self.lost_tao * tao,
            "targeted": self.targeted.total * tao,
            "emission_removed": self.emission_removed_tao * tao,
            "halted": self.halted_days * self.prices.halt_day_usd,
        }

    @property
    def total(self) -> float:
        """``harm.total``: the weighted sum of :meth:`usd` (USD; larger = worse)."""
        return aggregate(self.usd(), self.weights)

    def kpis(self) -> dict[str, float]:
        """The ``harm.*`` KPIs (units in :data:`HARM_KPI_UNITS`)."""
        usd = self.usd()
        t = self.targeted
        return {
            "harm.total": self.total,
            "harm.holders_usd": self.holders_usd,
            "harm.holders_return": self.holders_return,
            "harm.lost_tao": self.lost_tao,
            "harm.lost_exploit_tao": self.lost_exploit_tao,
            "harm.lost_scam_tao": self.lost_scam_tao,
            "harm.lost_usd": usd["lost"],
            "harm.targeted_tao": t.total,
            "harm.targeted_usd": usd["targeted"],
            "harm.targeted_miners_tao": t.miners,
            "harm.targeted_validators_tao": t.validators,
            "harm.targeted_owner_tao": t.owner,
            "harm.targeted_stake_tao": t.stake,
            "harm.targeted_subnets": float(len(t.subnets)),
            "harm.emission_removed_tao": self.emission_removed_tao,
            "harm.emission_removed_usd": usd["emission_removed"],
            "harm.halted_days": self.halted_days,
            "harm.halted_usd": usd["halted"],
            "harm.tao_usd": self.prices.tao_usd,
            "harm.halt_day_usd": self.prices.halt_day_usd,
        }


def harm_vector(
    *,
    price_start_usd: float,
    price_end_usd: float,
    circulating_tao: float,
    stolen_tao: float,
    scam_tao: float,
    events: Sequence[Mapping[str, Any]],
    timeseries: pd.DataFrame,
    end_block: int,
    emission_tao_per_day: float,
    halt_day_usd: float | None = None,
    weights: Mapping[str, float] | None = None,
    window_days: float = DEFAULT_WINDOW_DAYS,
) -> HarmVector:
    """Build a run's :class:`HarmVector` from what it recorded (plain data only).

    Parameters
    ----------
    price_start_usd, price_end_usd
        The TAO price at the start and the end (USD).
    circulating_tao
        Circulating TAO (the holders' loss is valued on it).
    stolen_tao
        TAO stolen by exploits over the run.
    scam_tao
        TAO emitted to scam subnets while they still emitted.
    events
        The event log.
    timeseries
        The recorded rows (per subnet).
    end_block
        The run's last block.
    emission_tao_per_day
        The network's TAO emission per day.
    halt_day_usd
        USD per halt day (None: ``emission_tao_per_day * price_start_usd``).
    weights
        Weights of ``harm.total`` (defaults for components left out).
    window_days
        Days of income before a hit that set the counterfactual rate.
    """
    hits = intervention_hits(events)
    scams = scam_netuids(events)
    fall = 1.0 - price_end_usd / price_start_usd
    prices = HarmPrices(
        tao_usd=price_start_usd,
        halt_day_usd=(
            emission_tao_per_day * price_start_usd if halt_day_usd is None else float(halt_day_usd)
        ),
    )
    return HarmVector(
        holders_return=fall,
        holders_usd=circulating_tao * (price_start_usd - price_end_usd),
        lost_exploit_tao=float(stolen_tao),
        lost_scam_tao=float(scam_tao),
        targeted=targeted_loss(timeseries, hits, scams=scams, window_days=window_days),
        emission_removed_tao=emission_removed_tao(
            timeseries, hits, emission_tao_per_day=emission_tao_per_day, scams=scams
        ),
        halted_days=halted_days(events, end_block),
        prices=prices,
        weights=resolve_weights(weights),
    )


def harm_kpis(model: RecordedModel) -> dict[str, float]:
    """The ``harm.*`` KPIs of a finished model (the one adapter that reads a model)."""
    from protocol.economy.emission import block_emission

    cfg = model.config
    rec = model.recorder
    market = model.market.state
    emission_per_day = block_emission(model.state.total_issuance) / RAO_PER_TAO * BLOCKS_PER_DAY
    vector = harm_vector(
        price_start_usd=rec.start_price,
        price_end_usd=model.market.price_usd,
        circulating_tao=cfg.market.circulating_tao,
        stolen_tao=sum(ex.stolen_tao for ex in model.shocks.exploits),
        scam_tao=market.scam_tao_lost,
        events=model.event_log,
        # The rows are read only when an intervention hit a subnet (the rest needs none).
        timeseries=rec.timeseries() if intervention_hits(model.event_log) else pd.DataFrame(),
        end_block=model.block,
        emission_tao_per_day=float(emission_per_day),
        halt_day_usd=cfg.verdict.halt_day_usd,
        weights=cfg.verdict.resolved_weights(),
    )
    return vector.kpis()


# -- re-weighting stored results ----------------------------------------------------------------
def reaggregate(kpis: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.Series:
    """``harm.total`` of every run of a KPI table under other ``weights``.

    Reads the stored ``harm.<component>_usd`` columns (a study's ``kpis`` table), so a study
    can be re-read under any weights without running it again.
    """
    w = resolve_weights(weights)
    total = pd.Series(0.0, index=kpis.index)
    for name in HARM_COMPONENTS:
        if w[name] == 0.0:
            continue
        total = total + w[name] * kpis[_USD_KPI[name]].astype(float)
    return total.rename("harm.total")


def reversal_weights(
    a: Mapping[str, float], b: Mapping[str, float], weights: Mapping[str, float] | None = None
) -> dict[str, float | None]:
    """Per component, the weight at which ``a`` and ``b`` trade places (the others held).

    ``a`` and ``b`` are the components' USD values of two designs (e.g. their means over a
    study). With every other weight at ``weights``, the totals tie when component ``c`` has
    weight ``w_c + (total_b - total_a) / (a_c - b_c)``; above (or below) it the ranking is
    reversed. None when no weight >= 0 reverses it (the component cannot close the gap, or it
    does not separate the two).

    Examples
    --------
    >>> a = {"holders": 10.0, "lost": 60.0, "targeted": 0.0, "emission_removed": 0.0,
    ...      "halted": 0.0}
    >>> b = {"holders": 12.0, "lost": 10.0, "targeted": 0.0, "emission_removed": 0.0,
    ...      "halted": 1.0}
    >>> reversal_weights(a, b)["halted"]
    48.0
    """
    w = resolve_weights(weights)
    gap = aggregate(b, w) - aggregate(a, w)
    out: dict[str, float | None] = {}
    for name in HARM_COMPONENTS:
        delta = float(a.get(name, 0.0)) - float(b.get(name, 0.0))
        if delta == 0.0 or not math.isfinite(delta):
            out[name] = None
            continue
        tie = w[name] + gap / delta
        out[name] = tie if tie >= 0.0 else None
    return out
