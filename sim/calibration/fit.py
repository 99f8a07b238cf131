"""Joint fit of the market constants to every documented event, as a range (a grid posterior).

Fitted, each with a flat prior on a stated range:

- ``contagion_beta`` (β): the governance-risk premium per unit of intervention severity;
- ``duration_exponent`` (δ): severity scales with (known duration / 30 days)^δ, so it sets how
  much a one-day chain halt weighs against an open-ended suspension;
- ``security_beta`` (γ): the security discount per unit of TAO lost (as a fraction of
  circulating TAO) to unstopped exploits and scams.

**Observations.** For every event in ``events.toml`` with a known TAO move, TAO's own
(abnormal) one-day fall: the reported span of TAO moves minus the index's move that day
(:meth:`MarketEvent.abnormal_fall`). The true move is taken to lie anywhere in the reported
span (uniform), blurred by a Gaussian of the model discrepancy and, where the index move is not
reported, of the index's typical daily move. So the likelihood of a model fall ``f`` is
``[Φ((hi - f)/σ) - Φ((lo - f)/σ)] / (hi - lo)`` (a Gaussian density when ``lo = hi``).

**Model response.** Each event is replayed in the simulator (:mod:`sim.calibration.replay`) on
a design grid of the constants it depends on (a suspension depends on β; a halted exploit on
β, δ and γ; an unhalted one on γ; an event without an on-chain action on none, its fall is 0).
Between design points the replayed log-fall ``-log(1 - fall)`` is interpolated multilinearly,
with δ entered through the halt's time factor ``(1 day / 30 days)^δ``: the run depends on δ
only through it, and the premium is then bilinear in β and the time factor, so linear
interpolation is close to exact. Held-out replays at random points measure the interpolation
error, which is reported.

**Posterior.** Flat priors times the likelihoods on a fine grid; marginal 5/50/95 % quantiles
are the fitted range, posterior draws (grid cells drawn by weight, jittered uniformly inside the
cell, seeded) are what studies resample per replication (:mod:`sim.calibration.prior`). Each
observed event is also predicted from the posterior fitted without it (leave-one-out).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.interpolate import RegularGridInterpolator
from scipy.special import log_ndtr

from sim.calibration.events import (
    EventCatalog,
    ExploitReplay,
    MarketEvent,
    SuspensionReplay,
    load_events,
)
from sim.calibration.replay import HALT_DAYS, Replayer, source_fingerprint
from sim.config import MarketConfig

__all__ = [
    "PARAMETERS",
    "EventEmulator",
    "EventFit",
    "FitResult",
    "FittedParameter",
    "build_emulators",
    "event_log_likelihood",
    "event_parameters",
    "fit_market",
    "format_fit",
]


@dataclass(frozen=True)
class FittedParameter:
    """One fitted ``MarketConfig`` field, its flat prior and its design.

    Attributes
    ----------
    name
        The ``MarketConfig`` field.
    label
        What it means, for reports.
    lo, hi
        Flat prior range (the posterior grid spans it).
    design, quick_design
        Values at which events are replayed (full fit and ``--quick``).
    grid
        Posterior grid points along this axis.
    """

    name: str
    label: str
    lo: float
    hi: float
    design: tuple[float, ...]
    quick_design: tuple[float, ...]
    grid: int


#: The fitted constants. Ranges: β up to 8 (a 7 %-share suspension would then take 43 % off
#: TAO in a day); δ from 0.25 (a one-day halt weighs 43 % of a month) to 1.5 (0.6 %: a short,
#: announced halt treated as routine); γ up to 60 (losing 1 % of circulating TAO would take
#: 45 % off).
PARAMETERS: tuple[FittedParameter, ...] = (
    FittedParameter(
        "contagion_beta",
        "governance premium per unit of severity (β)",
        0.0,
        8.0,
        (0.0, 8 / 3, 16 / 3, 8.0),
        (0.0, 8.0),
        81,
    ),
    FittedParameter(
        "duration_exponent",
        "severity ∝ (duration / 30 d)^δ (δ)",
        0.25,
        1.5,
        (0.25, 0.5, 0.75, 1.0, 1.25, 1.5),
        (0.25, 0.875, 1.5),
        51,
    ),
    FittedParameter(
        "security_beta",
        "security discount per unit of TAO lost / circulating (γ)",
        0.0,
        60.0,
        (0.0, 30.0, 60.0),
        (0.0, 60.0),
        61,
    ),
)
_BY_NAME = {p.name: p for p in PARAMETERS}


def event_parameters(event: MarketEvent) -> tuple[str, ...]:
    """The fitted constants an event's replay depends on (in :data:`PARAMETERS` order).

    An open-ended suspension has time factor 1 whatever δ; an exploit without a halt triggers
    no intervention, so only γ (and price impact, not fitted) moves TAO.
    """
    spec = event.model
    if isinstance(spec, SuspensionReplay):
        return ("contagion_beta",)
    if isinstance(spec, ExploitReplay):
        if spec.halt:
            return ("contagion_beta", "duration_exponent", "security_beta")
        return ("security_beta",)
    return ()


def _coordinate(name: str, values: np.ndarray) -> np.ndarray:
    """The emulator's axis for a constant: δ enters through the halt's time factor."""
    if name == "duration_exponent":
        expected = MarketConfig().expected_suspension_days
        return (HALT_DAYS / expected) ** np.asarray(values, dtype=float)
    return np.asarray(values, dtype=float)


@dataclass
class EventEmulator:
    """Interpolates an event's replayed log-fall between design points.

    Attributes
    ----------
    event_id
        The event.
    params
        The constants it depends on (empty: the fall is 0).
    axes
        Emulator coordinates of the design, ascending, one per parameter.
    log_fall
        ``-log(1 - fall)`` replayed on the design grid.
    """

    event_id: str
    params: tuple[str, ...]
    axes: tuple[np.ndarray, ...] = ()
    log_fall: np.ndarray = field(default_factory=lambda: np.zeros(()))
    _interp: Any = None

    def __post_init__(self) -> None:
        if self.params:
            self._interp = RegularGridInterpolator(self.axes, self.log_fall, method="linear")

    def __call__(self, theta: Mapping[str, np.ndarray]) -> np.ndarray:
        """The model's one-day fall at constants ``theta`` (arrays of equal shape)."""
        if not self.params:
            shape = np.shape(next(iter(theta.values()))) if theta else ()
            return np.zeros(shape)
        coords = [_coordinate(name, theta[name]) for name in self.params]
        shape = np.shape(coords[0])
        points = np.stack([np.ravel(c) for c in coords], axis=-1)
        y = self._interp(points).reshape(shape)
        return 1.0 - np.exp(-y)


def _design(name: str, quick: bool) -> tuple[float, ...]:
    p = _BY_NAME[name]
    return p.quick_design if quick else p.design


def build_emulators(
    catalog: EventCatalog,
    replayer: Replayer,
    *,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, EventEmulator]:
    """Replay every replayable event on its design grid (cached) and build its emulator."""
    out: dict[str, EventEmulator] = {}
    for event in catalog.events:
        params = event_parameters(event)
        if not params:
            out[event.id] = EventEmulator(event.id, ())
            continue
        designs = [_design(name, quick) for name in params]
        coords = [_coordinate(name, np.array(d)) for name, d in zip(params, designs, strict=True)]
        orders = [np.argsort(c) for c in coords]
        values = np.zeros([len(d) for d in designs])
        for index in itertools.product(*(range(len(d)) for d in designs)):
            constants = {name: designs[k][index[k]] for k, name in enumerate(params)}
            fall = replayer.fall(event, constants)
            values[index] = -math.log(max(1.0 - fall, 1e-12))
        if progress is not None:
            progress(f"{event.id}: {values.size} design points")
        # Ascending axes for the interpolator (δ's time factor falls as δ grows).
        for axis, order in enumerate(orders):
            values = np.take(values, order, axis=axis)
        axes = tuple(c[o] for c, o in zip(coords, orders, strict=True))
        out[event.id] = EventEmulator(event.id, params, axes, values)
    return out


def event_log_likelihood(fall: np.ndarray, low: float, high: float, sigma: float) -> np.ndarray:
    """Log-likelihood of model falls given an observed span ``[low, high]`` and blur ``sigma``.

    The true fall is uniform on the span (a point when ``low == high``), observed with Gaussian
    error ``sigma``.
    """
    fall = np.asarray(fall, dtype=float)
    if high - low < 1e-12:
        z = (fall - low) / sigma
        return -0.5 * z * z - math.log(sigma * math.sqrt(2.0 * math.pi))
    upper = (high - fall) / sigma
    lower = (low - fall) / sigma
    # log(Φ(u) - Φ(l)), stable on both sides: above the span's middle both arguments may be
    # very negative, so factor out Φ(u); below it use the mirror image Φ(-l) - Φ(-u).
    above = fall >= 0.5 * (low + high)
    big = np.where(above, log_ndtr(upper), log_ndtr(-lower))
    small = np.where(above, log_ndtr(lower), log_ndtr(-upper))
    log_mass = big + np.log1p(-np.exp(np.minimum(small - big, -1e-300)))
    return log_mass - math.log(high - low)


# --------------------------------------------------------------------------------------------
# the posterior
# --------------------------------------------------------------------------------------------


def _grid() -> tuple[dict[str, np.ndarray], dict[str, float]]:
    axes = [np.linspace(p.lo, p.hi, p.grid) for p in PARAMETERS]
    mesh = np.meshgrid(*axes, indexing="ij")
    theta = {p.name: m.ravel() for p, m in zip(PARAMETERS, mesh, strict=True)}
    widths = {p.name: (p.hi - p.lo) / (p.grid - 1) for p in PARAMETERS}
    return theta, widths


def _posterior_weights(loglik: Mapping[str, np.ndarray], include: Sequence[str]) -> np.ndarray:
    total = sum((loglik[e] for e in include), start=np.zeros_like(next(iter(loglik.values()))))
    w = np.exp(total - total.max())
    return w / w.sum()


def _draw(
    theta: Mapping[str, np.ndarray],
    widths: Mapping[str, float],
    weights: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    cells = rng.choice(weights.size, size=n, p=weights)
    out: dict[str, np.ndarray] = {}
    for p in PARAMETERS:
        jitter = rng.uniform(-0.5, 0.5, n) * widths[p.name]
        out[p.name] = np.clip(theta[p.name][cells] + jitter, p.lo, p.hi)
    return out


@dataclass(frozen=True)
class ParameterFit:
    """A fitted constant's range."""

    name: str
    label: str
    prior: tuple[float, float]
    q05: float
    median: float
    q95: float
    mean: float


@dataclass(frozen=True)
class EventFit:
    """One event: what was observed, what the fitted model gives."""

    id: str
    date: str
    title: str
    kind: str
    replay: str
    tao_move: tuple[float, float] | None
    index_move: tuple[float, float] | None
    abnormal_fall: tuple[float, float, float] | None
    in_fit: bool
    central_fall: float
    central_details: dict[str, Any]
    predicted: tuple[float, float, float]
    left_out: tuple[float, float, float] | None
    emulator_error: float | None

    @property
    def verdict(self) -> str:
        """Whether the central fit lies inside the observed span widened by 2 sigma."""
        if self.abnormal_fall is None:
            return "not observed"
        lo, hi, sigma = self.abnormal_fall
        if lo <= self.central_fall <= hi:
            return "inside the reported span"
        if lo - 2 * sigma <= self.central_fall <= hi + 2 * sigma:
            return "within 2 sigma"
        return "missed"


@dataclass(frozen=True)
class FitResult:
    """The joint fit: ranges, draws, per-event fit and provenance."""

    created: str
    command: str
    mode: str
    parameters: tuple[ParameterFit, ...]
    correlation: tuple[tuple[float, ...], ...]
    central: dict[str, float]
    samples: dict[str, tuple[float, ...]]
    events: tuple[EventFit, ...]
    assumptions: dict[str, float]
    runs: int
    cached_runs: int
    cpu_seconds: float
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``govsim calibrate --json``)."""
        return {
            "created": self.created,
            "command": self.command,
            "mode": self.mode,
            "parameters": [vars(p) | {"prior": list(p.prior)} for p in self.parameters],
            "correlation": [list(r) for r in self.correlation],
            "central": self.central,
            "events": [
                {
                    **vars(e),
                    "verdict": e.verdict,
                }
                for e in self.events
            ],
            "assumptions": self.assumptions,
            "runs": self.runs,
            "cached_runs": self.cached_runs,
            "cpu_seconds": self.cpu_seconds,
            "source_fingerprint": self.fingerprint,
            "n_samples": len(next(iter(self.samples.values()))),
        }


def _span(move: Any) -> tuple[float, float] | None:
    return (move.low, move.high) if not isinstance(move, str) else None


def fit_market(
    catalog: EventCatalog | None = None,
    *,
    replayer: Replayer | None = None,
    quick: bool = False,
    n_samples: int = 400,
    seed: int = 2026,
    command: str = "python -m sim.calibration",
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit β, δ and γ jointly to every event with a known TAO move.

    Parameters
    ----------
    catalog
        The events (default: the shipped ``events.toml``).
    replayer
        Runs and caches replays (default: in-memory cache only).
    quick
        A coarse design (about 20 runs instead of about 80), for tests.
    n_samples
        Posterior draws kept for studies.
    seed
        Seeds the draws and the held-out points.
    command
        Recorded as provenance.
    progress
        Called with a line of progress now and then.

    Returns
    -------
    FitResult
    """
    start = time.process_time()
    catalog = catalog or load_events()
    replayer = replayer or Replayer()
    say = progress or (lambda _line: None)
    seeds = np.random.SeedSequence(seed).spawn(2)
    emulators = build_emulators(catalog, replayer, quick=quick, progress=say)

    theta, widths = _grid()
    observed = [e for e in catalog.events if e.observed]
    spans = {e.id: e.abnormal_fall(catalog.assumptions) for e in observed}
    loglik = {e.id: event_log_likelihood(emulators[e.id](theta), *spans[e.id]) for e in observed}
    fitted_ids = [e.id for e in observed]
    weights = _posterior_weights(loglik, fitted_ids)

    # Quantiles from many jittered draws: smooth, not stuck on grid nodes.
    dense = _draw(theta, widths, weights, 20_000, np.random.default_rng(seeds[1]))
    params = []
    for p in PARAMETERS:
        q05, q50, q95 = (float(x) for x in np.quantile(dense[p.name], [0.05, 0.5, 0.95]))
        mean = float(np.sum(weights * theta[p.name]))
        params.append(ParameterFit(p.name, p.label, (p.lo, p.hi), q05, q50, q95, mean))
    means = {p.name: float(np.sum(weights * theta[p.name])) for p in PARAMETERS}
    cov = np.array(
        [
            [
                float(
                    np.sum(
                        weights * (theta[a.name] - means[a.name]) * (theta[b.name] - means[b.name])
                    )
                )
                for b in PARAMETERS
            ]
            for a in PARAMETERS
        ]
    )
    sd = np.sqrt(np.maximum(np.diag(cov), 1e-300))
    corr = cov / np.outer(sd, sd)
    central = {p.name: float(f"{p.median:.3g}") for p in params}
    samples = _draw(theta, widths, weights, n_samples, np.random.default_rng(seeds[0]))

    check_rng = np.random.default_rng(seeds[1])
    events = []
    for event in catalog.events:
        emulator = emulators[event.id]
        predicted = _quantiles3(emulator(samples))
        left_out = None
        if event.id in loglik and len(fitted_ids) > 1:
            others = [i for i in fitted_ids if i != event.id]
            w = _posterior_weights(loglik, others)
            loo = _draw(theta, widths, w, n_samples, np.random.default_rng(seeds[1]))
            left_out = _quantiles3(emulator(loo))
        error = (
            _emulator_error(event, emulator, replayer, check_rng, quick)
            if emulator.params
            else None
        )
        details = replayer.details(event, central)
        say(f"{event.id}: central fall {details['fall']:+.3f}")
        events.append(
            EventFit(
                id=event.id,
                date=event.date.isoformat(),
                title=event.title,
                kind=event.kind,
                replay=event.model.kind,
                tao_move=_span(event.tao_move),
                index_move=_span(event.index_move),
                abnormal_fall=spans.get(event.id),
                in_fit=event.id in loglik,
                central_fall=float(details["fall"]),
                central_details=details,
                predicted=predicted,
                left_out=left_out,
                emulator_error=error,
            )
        )
    return FitResult(
        created=dt.date.today().isoformat(),
        command=command,
        mode="quick" if quick else "full",
        parameters=tuple(params),
        correlation=tuple(tuple(round(float(x), 4) for x in row) for row in corr),
        central=central,
        samples={k: tuple(round(float(x), 5) for x in v) for k, v in samples.items()},
        events=tuple(events),
        assumptions=catalog.assumptions.model_dump(),
        runs=replayer.runs,
        cached_runs=replayer.cached,
        cpu_seconds=time.process_time() - start,
        fingerprint=source_fingerprint(),
    )


def _quantiles3(values: np.ndarray) -> tuple[float, float, float]:
    q = np.quantile(np.asarray(values, dtype=float), [0.05, 0.5, 0.95])
    return float(q[0]), float(q[1]), float(q[2])


def _emulator_error(
    event: MarketEvent,
    emulator: EventEmulator,
    replayer: Replayer,
    rng: np.random.Generator,
    quick: bool,
) -> float:
    """Largest |emulated - replayed| fall at held-out random points inside the prior box."""
    n = 1 if quick else (3 if len(emulator.params) > 1 else 2)
    worst = 0.0
    for _ in range(n):
        constants = {
            name: float(rng.uniform(_BY_NAME[name].lo, _BY_NAME[name].hi))
            for name in emulator.params
        }
        replayed = replayer.fall(event, constants)
        emulated = float(emulator({k: np.array([v]) for k, v in constants.items()})[0])
        worst = max(worst, abs(emulated - replayed))
    return worst


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:+.{digits}f} %"


def _band(b: tuple[float, float, float] | None) -> str:
    if b is None:
        return "—"
    return f"{100 * b[1]:.1f} % [{100 * b[0]:.1f}, {100 * b[2]:.1f}]"


def format_fit(result: FitResult) -> str:
    """A terminal report: the fitted ranges and each event's observed vs fitted fall."""
    lines = [
        f"market calibration ({result.mode}): {result.runs} simulator runs, "
        f"{result.cached_runs} cached, {result.cpu_seconds:.0f} s CPU",
        "",
        "fitted range (posterior 5 % / median / 95 %; flat prior on the range shown)",
    ]
    for p in result.parameters:
        lines.append(
            f"  {p.name:<18} {p.q05:7.3f} {p.median:7.3f} {p.q95:7.3f}   "
            f"prior [{p.prior[0]:g}, {p.prior[1]:g}]  {p.label}"
        )
    names = [p.name for p in result.parameters]
    lines.append(
        "  correlation: "
        + "; ".join(
            f"{a}~{b} {result.correlation[i][j]:+.2f}"
            for i, a in enumerate(names)
            for j, b in enumerate(names)
            if j > i
        )
    )
    lines.append(
        "  central (medians): " + ", ".join(f"{k}={v:g}" for k, v in result.central.items())
    )
    lines += [
        "",
        "events: TAO's own one-day fall (observed span after the index) vs the model",
        f"  {'event':<34} {'observed fall':>16} {'central':>9} {'posterior 90 %':>24} "
        f"{'fit without it':>24}  verdict",
    ]
    for e in result.events:
        obs = (
            "unknown"
            if e.abnormal_fall is None
            else (f"{100 * e.abnormal_fall[0]:.1f}..{100 * e.abnormal_fall[1]:.1f} %")
        )
        lines.append(
            f"  {e.id:<34} {obs:>16} {100 * e.central_fall:8.1f}% {_band(e.predicted):>24} "
            f"{_band(e.left_out):>24}  {e.verdict}"
        )
    errors = [e.emulator_error for e in result.events if e.emulator_error is not None]
    if errors:
        lines.append(
            f"  emulator: largest held-out error {100 * max(errors):.3f} points of fall "
            "(interpolation between design runs, checked against fresh runs)"
        )
    return "\n".join(lines)
