"""The market calibration: the events file, the likelihood, the joint fit and the shipped prior."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import norm

from sim.calibration import (
    EventsFileError,
    PriorFileError,
    Replayer,
    fit_market,
    format_prior_range,
    load_events,
    load_market_prior,
    market_prior_range,
    sample_market_constants,
    with_market_constants,
)
from sim.calibration.events import default_events_path, parse_events
from sim.calibration.fit import PARAMETERS, event_log_likelihood, event_parameters
from sim.calibration.prior import default_prior_path, prior_toml
from sim.calibration.replay import FITTED_FIELDS
from sim.cli import main
from sim.config import MarketConfig, SimConfig

REQUIRED_EVENTS = {
    "jun_2024_wallet_drain",
    "jul_2024_exploit_safe_mode",
    "feb_2026_governance_announcement",
    "apr_2026_covenant_exit",
    "may_2026_emission_switch",
}


def _raw_events() -> dict:
    return tomllib.loads(default_events_path().read_text(encoding="utf-8"))


# ------------------------------------------------------------------ the events file


def test_shipped_events_cover_the_documented_incidents_with_sources() -> None:
    catalog = load_events()
    ids = {e.id for e in catalog.events}
    assert ids >= REQUIRED_EVENTS
    for e in catalog.events:
        assert e.sources and all(s.startswith("http") for s in e.sources)
        if e.observed:
            assert e.tao_move.sources
    # The events the fit rests on, with their reported spans.
    april = catalog.get("apr_2026_covenant_exit")
    assert (april.tao_move.low, april.tao_move.high) == (-0.23, -0.16)
    july = catalog.get("jul_2024_exploit_safe_mode")
    assert july.model.kind == "exploit" and july.model.halt
    assert july.index_move != "unknown"  # BTC's move that day is reported
    # Unknown facts stay unknown rather than invented.
    assert catalog.get("jun_2024_wallet_drain").tao_move == "unknown"
    assert catalog.get("may_2026_emission_switch").model.kind == "none"


def test_abnormal_fall_subtracts_the_index_and_widens_for_unknowns() -> None:
    catalog = load_events()
    a = catalog.assumptions
    lo, hi, sigma = catalog.get("jul_2024_exploit_safe_mode").abnormal_fall(a)
    # TAO -15..-10 %, BTC -4.2..-3.04 %: TAO's own fall 5.8..11.96 %.
    assert (lo, hi) == pytest.approx((0.058, 0.1196))
    assert sigma == pytest.approx(a.model_sigma)
    lo, hi, sigma = catalog.get("apr_2026_covenant_exit").abnormal_fall(a)
    assert (lo, hi) == pytest.approx((0.16, 0.23))
    assert sigma == pytest.approx(math.hypot(a.model_sigma, a.unknown_index_sigma))
    with pytest.raises(ValueError, match="unknown"):
        catalog.get("jun_2024_wallet_drain").abnormal_fall(a)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["event"][2]["tao_move"].update(low=0.1, high=-0.1),
            r"event\[2\] \(id=jul_2024_exploit_safe_mode\)\.tao_move.*must not exceed",
        ),
        (
            lambda d: d["event"][2]["tao_move"].update(sources=["not a url"]),
            r"event\[2\] \(id=jul_2024_exploit_safe_mode\)\.tao_move\.sources\[0\].*'not a url'",
        ),
        (
            lambda d: d["event"][5]["model"].update(target_share=1.5),
            r"event\[5\] \(id=apr_2026_covenant_exit\)\.model\.target_share.*1\.5",
        ),
        (
            lambda d: d["event"][0].update(kind="rumour"),
            r"event\[0\] \(id=sep_2023_migrations\)\.kind.*'rumour'",
        ),
        (
            lambda d: d["event"][1].update(colour="red"),
            r"event\[1\] \(id=jun_2024_wallet_drain\)\.colour: Extra inputs",
        ),
        (lambda d: d["event"][3].update(id=d["event"][2]["id"]), r"duplicate event id"),
        (lambda d: d["assumptions"].update(model_sigma=0.0), r"assumptions\.model_sigma"),
    ],
)
def test_events_file_errors_name_the_field(mutate, expected) -> None:
    data = _raw_events()
    mutate(data)
    with pytest.raises(EventsFileError, match=expected):
        parse_events(data, source="events.toml")


def test_events_file_unreadable_or_not_toml(tmp_path: Path) -> None:
    with pytest.raises(EventsFileError, match="cannot read"):
        load_events(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("schema_version = \n", encoding="utf-8")
    with pytest.raises(EventsFileError, match="not valid TOML"):
        load_events(bad)


# ------------------------------------------------------------------ the likelihood


def test_likelihood_is_flat_inside_the_span_and_gaussian_outside() -> None:
    lo, hi, s = 0.10, 0.20, 0.02
    falls = np.array([-0.4, 0.0, 0.09, 0.145, 0.155, 0.25, 0.6, 1.5])
    with np.errstate(divide="ignore"):
        expected = np.log((norm.cdf((hi - falls) / s) - norm.cdf((lo - falls) / s)) / (hi - lo))
    got = event_log_likelihood(falls, lo, hi, s)
    finite = np.isfinite(expected)
    assert np.allclose(got[finite], expected[finite])
    assert np.all(np.isfinite(got))  # far tails stay finite (and keep falling)
    assert got[0] < got[1] and got[-1] < got[-2]
    assert got[3] == pytest.approx(got[4], abs=1e-3)
    point = event_log_likelihood(np.array([0.185, 0.205]), 0.185, 0.185, 0.03)
    assert point[0] - point[1] == pytest.approx(0.5 * (0.02 / 0.03) ** 2)


def test_fitted_parameters_are_market_fields_and_events_declare_them() -> None:
    assert tuple(p.name for p in PARAMETERS) == FITTED_FIELDS
    for p in PARAMETERS:
        assert p.name in MarketConfig.model_fields
        assert p.lo <= min(p.design) and max(p.design) <= p.hi
        assert p.design[0] == p.lo and p.design[-1] == p.hi
    catalog = load_events()
    assert event_parameters(catalog.get("apr_2026_covenant_exit")) == ("contagion_beta",)
    assert set(event_parameters(catalog.get("jul_2024_exploit_safe_mode"))) == set(FITTED_FIELDS)
    assert event_parameters(catalog.get("feb_2026_governance_announcement")) == ()


# ------------------------------------------------------------------ the fit (quick mode)


@pytest.fixture(scope="module")
def quick_fit(tmp_path_factory):
    cache = tmp_path_factory.mktemp("calibration-cache")
    replayer = Replayer(cache)
    result = fit_market(replayer=replayer, quick=True, n_samples=200, seed=11)
    return result, cache, replayer


@pytest.mark.slow
def test_quick_fit_gives_a_range_that_fits_the_observed_events(quick_fit) -> None:
    result, _, _ = quick_fit
    by_name = {p.name: p for p in result.parameters}
    for p in result.parameters:
        assert p.prior[0] <= p.q05 < p.median < p.q95 <= p.prior[1]
    # β is pinned by April 2026; a range, not a point.
    beta = by_name["contagion_beta"]
    assert 1.0 < beta.q05 < beta.median < beta.q95 < 6.0
    events = {e.id: e for e in result.events}
    april, july = events["apr_2026_covenant_exit"], events["jul_2024_exploit_safe_mode"]
    assert april.in_fit and july.in_fit
    assert 0.12 <= april.central_fall <= 0.27
    assert july.abnormal_fall is not None
    lo, hi, sigma = july.abnormal_fall
    assert lo - 2 * sigma <= july.central_fall <= hi + 2 * sigma
    assert july.central_details["stolen_tao"] == pytest.approx(32_000.0, rel=0.01)
    assert events["feb_2026_governance_announcement"].central_fall == 0.0
    assert not events["jun_2024_wallet_drain"].in_fit
    # The leave-one-out prediction and the interpolation check are there.
    assert july.left_out is not None and july.left_out[0] <= july.left_out[2]
    assert july.emulator_error is not None and july.emulator_error < 0.02
    assert len(result.samples["security_beta"]) == 200


@pytest.mark.slow
def test_quick_fit_is_deterministic_and_cached(quick_fit) -> None:
    result, cache, _ = quick_fit
    again = Replayer(cache)
    second = fit_market(replayer=again, quick=True, n_samples=200, seed=11)
    assert again.runs == 0  # everything came from the cache
    assert second.samples == result.samples
    assert second.central == result.central


@pytest.mark.slow
def test_calibrate_cli_quick_json_and_prior_file(quick_fit, tmp_path: Path) -> None:
    _, cache, _ = quick_fit
    out = tmp_path / "prior.toml"
    res = CliRunner().invoke(
        main,
        [
            "calibrate",
            "--quick",
            "--json",
            "--cache",
            str(cache),
            "--samples",
            "50",
            "--seed",
            "11",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {p["name"] for p in data["parameters"]} == set(FITTED_FIELDS)
    assert data["mode"] == "quick" and data["runs"] == 0
    prior = load_market_prior(out)
    assert prior.n_samples == 50
    assert "--quick" in prior.command
    draws = sample_market_constants(prior, np.random.default_rng(0), 5)
    assert len(draws) == 5


def test_calibrate_cli_user_errors(tmp_path: Path) -> None:
    bad = tmp_path / "events.toml"
    bad.write_text("schema_version = 1\n[[event]]\nid = 'X'\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["calibrate", "--events", str(bad), "--no-cache"])
    assert res.exit_code == 2
    assert "event[0] (id=X).id" in res.output
    res = CliRunner().invoke(main, ["calibrate", "--samples", "3"])
    assert res.exit_code == 2 and "--samples" in res.output
    res = CliRunner().invoke(main, ["calibrate", "--prior"])
    assert res.exit_code == 0 and "market.contagion_beta" in res.output


# ------------------------------------------------------------------ the shipped prior


def test_shipped_prior_matches_the_defaults_and_the_events() -> None:
    prior = load_market_prior()
    assert set(prior.bands) == set(FITTED_FIELDS)
    defaults = MarketConfig()
    for name, band in market_prior_range(prior).items():
        assert band.lo <= getattr(defaults, name) <= band.hi, name
        assert band.lo < band.hi
    data = tomllib.loads(default_prior_path().read_text(encoding="utf-8"))
    assert set(data["events"]) == {e.id for e in load_events().events if e.observed}
    text = format_prior_range(prior)
    assert "market.contagion_beta" in text and prior.command in text
    # The shipped fit records every documented event's fit, so reports can show it; the two
    # events that set the constants are reproduced inside their reported spans.
    fits = {f.id: f for f in prior.event_fits}
    assert set(fits) == {e.id for e in load_events().events}
    for event in ("jul_2024_exploit_safe_mode", "apr_2026_covenant_exit"):
        assert fits[event].in_fit and fits[event].verdict == "inside the reported span"
        low, high = fits[event].observed
        assert low <= fits[event].fitted <= high


def test_sample_market_constants_is_seeded_and_draws_whole_rows() -> None:
    prior = load_market_prior()
    a = sample_market_constants(prior, np.random.default_rng(42), 25)
    b = sample_market_constants(prior, np.random.default_rng(42), 25)
    c = sample_market_constants(prior, np.random.default_rng(43), 25)
    assert a == b and a != c
    rows = set(zip(*(prior.samples[k] for k in sorted(prior.samples)), strict=True))
    for draw in a:
        assert set(draw) == {f"market.{k}" for k in FITTED_FIELDS}
        assert tuple(draw[f"market.{k}"] for k in sorted(prior.samples)) in rows
    # Children of one SeedSequence give independent, reproducible streams per study.
    kids = np.random.SeedSequence(2026).spawn(2)
    assert sample_market_constants(prior, np.random.default_rng(kids[0]), 3) == (
        sample_market_constants(
            prior, np.random.default_rng(np.random.SeedSequence(2026).spawn(2)[0]), 3
        )
    )
    assert sample_market_constants(prior, np.random.default_rng(0), 0) == []
    with pytest.raises(ValueError, match="n"):
        sample_market_constants(prior, np.random.default_rng(0), -1)


def test_with_market_constants_applies_a_draw() -> None:
    draw = sample_market_constants(None, np.random.default_rng(1), 1)[0]
    config = with_market_constants(SimConfig(), draw)
    assert config.market.contagion_beta == draw["market.contagion_beta"]
    assert config.market.security_beta == draw["market.security_beta"]
    with pytest.raises(ValueError, match="market"):
        with_market_constants(SimConfig(), {"network.n_subnets": 3})


def test_prior_file_errors_name_the_field(tmp_path: Path) -> None:
    text = default_prior_path().read_text(encoding="utf-8")
    broken = tmp_path / "prior.toml"
    broken.write_text(text.replace("[samples]\n", "[samples]\nkappa = [1.0]\n"), encoding="utf-8")
    with pytest.raises(PriorFileError, match="samples"):
        load_market_prior(broken)
    with pytest.raises(PriorFileError, match="cannot read"):
        load_market_prior(tmp_path / "none.toml")


@pytest.mark.slow
def test_prior_file_records_each_event_fit(quick_fit, tmp_path: Path) -> None:
    from sim.calibration.prior import format_event_fits

    result = quick_fit[0]
    path = tmp_path / "prior.toml"
    path.write_text(prior_toml(result), encoding="utf-8")
    prior = load_market_prior(path)
    assert [f.id for f in prior.event_fits] == [e.id for e in result.events]
    for record, event in zip(prior.event_fits, result.events, strict=True):
        assert record.verdict == event.verdict
        assert record.in_fit == event.in_fit
        assert record.fitted == pytest.approx(event.central_fall, abs=1e-4)
        assert record.predicted == pytest.approx(event.predicted, abs=1e-4)
        assert (record.observed is None) == (event.abnormal_fall is None)
    rows = format_event_fits(prior)
    assert len(rows) == len(result.events)
    april = next(
        r for r, e in zip(rows, result.events, strict=True) if e.id == "apr_2026_covenant_exit"
    )
    assert april["observed fall"] == "16.0–23.0 %"


def test_prior_toml_round_trips(quick_fit_light) -> None:
    path, result = quick_fit_light
    prior = load_market_prior(path)
    for p in result.parameters:
        assert prior.bands[p.name].median == pytest.approx(p.median, abs=1e-4)
        assert len(prior.samples[p.name]) == len(result.samples[p.name])


@pytest.fixture
def quick_fit_light(tmp_path: Path):
    """A FitResult-shaped object without running the simulator (for the file format alone)."""
    from sim.calibration.fit import FitResult, ParameterFit

    rng = np.random.default_rng(3)
    samples = {p.name: tuple(rng.uniform(p.lo, p.hi, 20).round(4)) for p in PARAMETERS}
    params = tuple(
        ParameterFit(
            p.name, p.label, (p.lo, p.hi), *np.quantile(samples[p.name], [0.05, 0.5, 0.95]), 0.0
        )
        for p in PARAMETERS
    )
    result = FitResult(
        "2026-01-01",
        "python -m sim.calibration",
        "full",
        params,
        (),
        {},
        samples,
        (),
        {},
        0,
        0,
        0.0,
        "x",
    )
    path = tmp_path / "prior.toml"
    path.write_text(prior_toml(result), encoding="utf-8")
    return path, result
