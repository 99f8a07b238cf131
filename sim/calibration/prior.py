"""The shipped result of the market fit, and drawing market constants from it per replication.

``scenarios/data/market_prior.toml`` holds the fitted range of each constant and joint posterior
draws, with the date and command that produced them. A study that wants its intervals to carry
the model's own uncertainty (an outer Monte Carlo) draws one set of constants per replication::

    prior = load_market_prior()
    rng = np.random.default_rng(np.random.SeedSequence(entropy).spawn(1)[0])
    for draw in sample_market_constants(prior, rng, n_replications):
        config = with_market_constants(base_config, draw)

Draws are whole rows of the posterior sample (the constants are correlated: β, δ and γ trade
off against each other), chosen with the given generator, so the same generator state gives
the same draws.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.config import MarketConfig, SimConfig

__all__ = [
    "EventFitRecord",
    "MarketPrior",
    "ParameterBand",
    "PriorFileError",
    "default_prior_path",
    "format_event_fits",
    "format_prior_range",
    "load_market_prior",
    "market_prior_range",
    "prior_toml",
    "replication_market_draw",
    "sample_market_constants",
    "with_market_constants",
]


@dataclass(frozen=True)
class ParameterBand:
    """A fitted constant's range: 5 % and 95 % posterior quantiles around the median."""

    name: str
    label: str
    lo: float
    median: float
    hi: float
    prior_lo: float
    prior_hi: float

    def __str__(self) -> str:
        return f"market.{self.name} = {self.median:.3g} [{self.lo:.3g}, {self.hi:.3g}] (90 %)"


@dataclass(frozen=True)
class EventFitRecord:
    """One documented event as the shipped fit sees it (``[fits.<id>]`` of the prior file).

    Falls are fractions of TAO's price (0.19 = a 19 % fall), abnormal (TAO's move minus the
    market index's where it is reported).

    Attributes
    ----------
    id, date, title
        The event of ``scenarios/data/events.toml``.
    in_fit
        Whether the event's observed move entered the likelihood.
    observed
        The reported span ``(low, high)`` of the abnormal fall, or None (not observed).
    fitted
        The replayed fall at the posterior medians.
    predicted
        ``(5 %, median, 95 %)`` of the replayed fall over the posterior.
    left_out
        The same from the posterior fitted without this event (leave-one-out), or None.
    verdict
        ``inside the reported span``, ``within 2 sigma``, ``missed`` or ``not observed``.
    """

    id: str
    date: str
    title: str
    in_fit: bool
    observed: tuple[float, float] | None
    fitted: float
    predicted: tuple[float, float, float]
    left_out: tuple[float, float, float] | None
    verdict: str


@dataclass(frozen=True)
class MarketPrior:
    """The fitted market constants: their ranges and joint posterior draws.

    Attributes
    ----------
    created, command
        When and how the file was produced.
    bands
        Each fitted constant's range, by ``MarketConfig`` field name.
    samples
        Joint posterior draws, one array per constant (equal lengths).
    event_fits
        How the fit reproduces each documented event (empty for a file written before the
        fit recorded them).
    """

    created: str
    command: str
    bands: dict[str, ParameterBand]
    samples: dict[str, np.ndarray]
    event_fits: tuple[EventFitRecord, ...] = ()

    @property
    def n_samples(self) -> int:
        """Number of stored joint draws."""
        return len(next(iter(self.samples.values())))


class PriorFileError(ValueError):
    """The prior file is missing, not TOML, or does not validate."""


class _Band(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = ""
    prior: tuple[float, float]
    q05: float
    median: float
    q95: float
    mean: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Band:
        if not (self.prior[0] <= self.q05 <= self.median <= self.q95 <= self.prior[1]):
            raise ValueError(
                f"expected prior[0] <= q05 <= median <= q95 <= prior[1], got {self.prior[0]}, "
                f"{self.q05}, {self.median}, {self.q95}, {self.prior[1]}"
            )
        return self


class _Fit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: str
    title: str
    in_fit: bool
    observed: tuple[float, float] | None = None
    fitted: float
    predicted: tuple[float, float, float]
    left_out: tuple[float, float, float] | None = None
    verdict: str


class _PriorFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = Field(ge=1, le=1)
    created: str
    command: str
    method: str = ""
    events: tuple[str, ...] = ()
    source_fingerprint: str = ""
    parameters: dict[str, _Band] = Field(min_length=1)
    samples: dict[str, tuple[float, ...]]
    fits: dict[str, _Fit] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> _PriorFile:
        fields = MarketConfig.model_fields
        for name in self.parameters:
            if name not in fields:
                raise ValueError(f"parameters.{name}: not a market constant (MarketConfig field)")
        if set(self.samples) != set(self.parameters):
            raise ValueError(
                f"samples: expected one list per parameter {sorted(self.parameters)}, got "
                f"{sorted(self.samples)}"
            )
        lengths = {len(v) for v in self.samples.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise ValueError(f"samples: lists must be non-empty and of equal length, got {lengths}")
        for name, values in self.samples.items():
            lo, hi = self.parameters[name].prior
            bad = [v for v in values if not (math.isfinite(v) and lo <= v <= hi)]
            if bad:
                raise ValueError(f"samples.{name}: {bad[0]} is outside the prior [{lo}, {hi}]")
        return self


def default_prior_path() -> Path:
    """``scenarios/data/market_prior.toml``, shipped with govsim."""
    from scenarios import DATA_DIR

    return DATA_DIR / "market_prior.toml"


def load_market_prior(path: str | Path | None = None) -> MarketPrior:
    """Read and validate a market prior file (default: the shipped one).

    Raises
    ------
    PriorFileError
        Naming the file, the field and what was expected.
    """
    file = Path(path) if path is not None else default_prior_path()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriorFileError(f"{file}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PriorFileError(f"{file}: not valid TOML ({exc})") from None
    try:
        parsed = _PriorFile.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{file}: {'.'.join(str(x) for x in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise PriorFileError("\n".join(lines)) from None
    bands = {
        name: ParameterBand(name, b.label, b.q05, b.median, b.q95, b.prior[0], b.prior[1])
        for name, b in parsed.parameters.items()
    }
    samples = {name: np.asarray(v, dtype=float) for name, v in parsed.samples.items()}
    fits = tuple(
        EventFitRecord(
            key, f.date, f.title, f.in_fit, f.observed, f.fitted, f.predicted, f.left_out, f.verdict
        )
        for key, f in parsed.fits.items()
    )
    return MarketPrior(parsed.created, parsed.command, bands, samples, fits)


def sample_market_constants(
    prior: MarketPrior | None, rng: np.random.Generator, n: int
) -> list[dict[str, float]]:
    """Draw ``n`` joint sets of market constants from the fitted posterior.

    Parameters
    ----------
    prior
        The fitted prior (None: the shipped one).
    rng
        The caller's generator (e.g. a child of the study's ``SeedSequence``); the draws depend
        on its state only.
    n
        Number of draws (replications).

    Returns
    -------
    list of dict
        ``{"market.contagion_beta": ..., "market.duration_exponent": ..., ...}`` per draw: whole
        posterior rows, so the constants keep their correlation.

    Examples
    --------
    >>> import numpy as np
    >>> a = sample_market_constants(None, np.random.default_rng(7), 3)
    >>> a == sample_market_constants(None, np.random.default_rng(7), 3)
    True
    """
    if n < 0:
        raise ValueError(f"n: expected >= 0, got {n}")
    prior = prior if prior is not None else load_market_prior()
    rows = rng.integers(0, prior.n_samples, size=n)
    names = sorted(prior.samples)
    return [{f"market.{k}": float(prior.samples[k][r]) for k in names} for r in rows]


def replication_market_draw(
    prior: MarketPrior | None, entropy: int, replication: int
) -> dict[str, float]:
    """The market constants of one replication of a study (the outer Monte Carlo).

    One joint posterior row, drawn with a generator seeded by
    :func:`sim.sampling.market_seed_sequence` ``(entropy, replication)``: the same for every
    policy and design point of the replication, and for any executor or worker count.

    Examples
    --------
    >>> a = replication_market_draw(None, 2026, 0)
    >>> a == replication_market_draw(None, 2026, 0), a == replication_market_draw(None, 2026, 1)
    (True, False)
    >>> sorted(a)
    ['market.contagion_beta', 'market.duration_exponent', 'market.security_beta']
    """
    from sim.sampling import market_seed_sequence

    rng = np.random.default_rng(market_seed_sequence(int(entropy), int(replication)))
    return sample_market_constants(prior, rng, 1)[0]


def with_market_constants(config: SimConfig, draw: Mapping[str, float]) -> SimConfig:
    """``config`` with the market constants of one draw (``market.<field>`` keys) applied.

    Only the market section is validated again (its bounds); the rest of ``config`` was
    validated when it was built and no cross-section rule of ``SimConfig`` reads the market,
    so a study applies a draw per run at the cost of one small validation.
    """
    updates: dict[str, Any] = {}
    for key, value in draw.items():
        section, _, name = key.partition(".")
        if section != "market" or name not in MarketConfig.model_fields:
            raise ValueError(f"{key}: expected 'market.<MarketConfig field>'")
        updates[name] = float(value)
    if not updates:
        return config
    market = MarketConfig.model_validate({**config.market.model_dump(), **updates})
    return config.model_copy(update={"market": market})


def market_prior_range(prior: MarketPrior | None = None) -> dict[str, ParameterBand]:
    """Each fitted constant's 90 % range (default: the shipped prior)."""
    prior = prior if prior is not None else load_market_prior()
    return dict(prior.bands)


def format_prior_range(prior: MarketPrior | None = None) -> str:
    """The fitted ranges as lines of text, with their provenance."""
    prior = prior if prior is not None else load_market_prior()
    lines = [f"market constants fitted {prior.created} by `{prior.command}`:"]
    lines += [f"  {band}  {band.label}" for band in prior.bands.values()]
    lines.append(f"  ({prior.n_samples} joint posterior draws)")
    return "\n".join(lines)


def prior_toml(result: Any) -> str:
    """The ``market_prior.toml`` text for a :class:`sim.calibration.fit.FitResult`."""
    fitted = [e.id for e in result.events if e.in_fit]
    out = [
        "# Fitted range of the TAO market's constants and joint posterior draws",
        "# (docs/calibration.md). Written by the command below; do not edit by hand.",
        "# Studies draw whole rows of [samples] per replication:",
        "# sim.calibration.sample_market_constants.",
        "",
        "schema_version = 1",
        f'created = "{result.created}"',
        f'command = "{result.command}"',
        'method = "grid posterior, flat priors, replayed events (sim.calibration.fit)"',
        "events = [" + ", ".join(f'"{e}"' for e in fitted) + "]",
        f'source_fingerprint = "{result.fingerprint}"',
        "",
    ]
    for p in result.parameters:
        out += [
            f"[parameters.{p.name}]",
            f'label = "{p.label}"',
            f"prior = [{p.prior[0]!r}, {p.prior[1]!r}]",
            f"q05 = {p.q05:.4f}",
            f"median = {p.median:.4f}",
            f"q95 = {p.q95:.4f}",
            f"mean = {p.mean:.4f}",
            "",
        ]
    for e in result.events:
        # how the fit reproduces each event: the report's event-fit table reads these
        out += [
            f"[fits.{e.id}]",
            f'date = "{e.date}"',
            "title = " + _toml_string(e.title),
            f"in_fit = {'true' if e.in_fit else 'false'}",
        ]
        if e.abnormal_fall is not None:
            out.append(f"observed = [{e.abnormal_fall[0]:.4f}, {e.abnormal_fall[1]:.4f}]")
        out += [
            f"fitted = {e.central_fall:.4f}",
            "predicted = [" + ", ".join(f"{v:.4f}" for v in e.predicted) + "]",
        ]
        if e.left_out is not None:
            out.append("left_out = [" + ", ".join(f"{v:.4f}" for v in e.left_out) + "]")
        out += [f'verdict = "{e.verdict}"', ""]
    out.append("[samples]")
    for name, values in result.samples.items():
        body = ", ".join(f"{v:.5g}" for v in values)
        out.append(f"{name} = [{body}]")
    return "\n".join(out) + "\n"


def _toml_string(text: str) -> str:
    """A TOML basic string (quotes and backslashes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_event_fits(prior: MarketPrior | None = None) -> list[dict[str, str]]:
    """The event-fit table's rows (event, date, observed, fitted, predicted, left out, verdict)
    as percentages of TAO's price, for reports."""
    prior = prior if prior is not None else load_market_prior()

    def pct(x: float) -> str:
        return f"{100 * x:.1f} %"

    def band(b: tuple[float, float, float] | None) -> str:
        return "-" if b is None else f"{pct(b[1])} [{100 * b[0]:.1f}, {100 * b[2]:.1f}]"

    return [
        {
            "event": f.title,
            "date": f.date,
            "observed fall": "not observed"
            if f.observed is None
            else f"{100 * f.observed[0]:.1f}–{100 * f.observed[1]:.1f} %",
            "fitted (medians)": pct(f.fitted),
            "posterior [5 %, 95 %]": band(f.predicted),
            "left out of the fit": band(f.left_out),
            "in the fit": "yes" if f.in_fit else "no",
            "verdict": f.verdict,
        }
        for f in prior.event_fits
    ]
