"""Policies sharing a run's prefix (sim.fork): every result equals the run done alone."""

from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Any

import pandas as pd
import pytest

import sim.fork as fork
from sim import api, engine
from sim.agents.events import EVENT_HANDLERS
from sim.config import SimConfig
from sim.model import GovSimModel
from tests.scenarios.tiny import REPO, tiny_config

COVENANT = REPO / "scenarios" / "covenant_2026.toml"
EXPLOIT = REPO / "scenarios" / "exploit_2024.toml"
POLICIES = ["sudo", "multisig", "constitutional", "market_only"]


def _tiny(path: Any, days: float = 1.0, **governance: Any) -> SimConfig:
    config = tiny_config(api.load_config(path), days)
    if governance:
        body = config.model_dump(mode="json")
        body["governance"].update(governance)
        config = SimConfig.model_validate(body)
    return config


def _assert_same(a: api.RunResult, b: api.RunResult) -> None:
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries, check_exact=True)
    assert a.events == b.events
    assert api._same(a.kpis, b.kpis)
    assert a.fingerprint() == b.fingerprint()


class StepCounter:
    """Counts GovSimModel.step calls (the prefix is stepped once for all policies)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps = 0
        original = GovSimModel.step

        def counted(model: GovSimModel) -> None:
            self.steps += 1
            original(model)

        monkeypatch.setattr(GovSimModel, "step", counted)


@pytest.mark.parametrize("path", [COVENANT, EXPLOIT], ids=["covenant", "exploit"])
def test_each_policy_equals_its_own_run(path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _tiny(path)
    alone = [api.run(config, policy, seed=3) for policy in POLICIES]
    counter = StepCounter(monkeypatch)
    shared = fork.run_policies(config, POLICIES, seed=3)
    for a, b in zip(shared, alone, strict=True):
        _assert_same(a, b)
    # the prefix (up to the first matter: the cut at 3/4 of the covenant run, the exploit at
    # 1/6 of the exploit run) ran once, not four times
    steps_alone = 4 * round(1.0 * 7200 / config.network.tempo)
    assert counter.steps < steps_alone
    if path == COVENANT:
        assert counter.steps <= steps_alone // 2


def _point(config: SimConfig, **fields: Any) -> SimConfig:
    """``config`` with ``section__field=value`` replaced (a design point of a study)."""
    body = config.model_dump(mode="json")
    for key, value in fields.items():
        section, name = key.split("__")
        body[section][name] = value
    return SimConfig.model_validate(body)


def _runs(points: list[SimConfig], policies: list[str], seed: int) -> list[SimConfig]:
    return [api.load_config(p, policy=policy, seed=seed) for p in points for policy in policies]


def test_points_that_differ_only_in_late_fields_share_one_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a study's design points: the market's contagion β, the exit's quality factor and the
    # signers' correlation are read only once the cut reaches governance (day 30 of 40)
    base = _tiny(COVENANT)
    points = [
        base,
        _point(base, market__contagion_beta=25.0),
        _point(base, owners__exit_quality_factor=0.0),
        _point(base, governance__correlation=1.0),
    ]
    configs = _runs(points, ["sudo", "multisig"], seed=3)
    differ = {".".join(p) for p in fork.differing_fields(configs)}
    assert differ == {
        "market.contagion_beta",
        "owners.exit_quality_factor",
        "governance.correlation",
    } and differ <= set(fork.LATE_FIELDS)
    alone = [api.run(c) for c in configs]
    counter = StepCounter(monkeypatch)
    shared = fork.run_configs(configs)
    for a, b in zip(shared, alone, strict=True):
        _assert_same(a, b)
    steps = round(1.0 * 7200 / base.network.tempo)
    assert counter.steps < steps + len(configs) * steps // 2  # one prefix for all eight
    # the points are different runs: each late field moves something after the fork
    prints = [r.fingerprint() for r in shared]
    assert prints[2] != prints[0] and prints[3] != prints[1] and prints[4] != prints[0]


def test_a_late_field_read_before_the_fork_falls_back_to_sharing_by_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the premium's half-life is read at every market step: the guarded prefix stops at the
    # first read, and each point's policies then share their own prefix
    base = _tiny(COVENANT)
    points = [base, _point(base, market__premium_half_life_days=3.0)]
    configs = _runs(points, ["sudo", "multisig"], seed=1)
    alone = [api.run(c) for c in configs]
    attempts: list[tuple[int, str]] = []
    original = fork._shared_prefix

    def spy(cfgs: Any, late: Any = ()) -> Any:
        try:
            return original(cfgs, late)
        except fork._PrefixOverrunError as exc:
            attempts.append((len(cfgs), str(exc)))
            raise

    monkeypatch.setattr(fork, "_shared_prefix", spy)
    counter = StepCounter(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an expected fallback, not a bug in the prefix rule
        shared = fork.run_configs(configs)
    for a, b in zip(shared, alone, strict=True):
        _assert_same(a, b)
    assert attempts == [(4, "market.premium_half_life_days was read during the shared prefix")]
    steps, counter.steps = counter.steps, 0
    for k in (0, 2):
        fork.run_configs(configs[k : k + 2])
    assert steps == counter.steps + 1  # the failed attempt stopped at its first step


def test_a_swallowed_refusal_still_ends_the_shared_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # model code that catches the guard's error would run on without the value: the tripwire
    # still ends the attempt after that step
    base = _tiny(COVENANT, days=0.5)
    configs = _runs([base, _point(base, market__contagion_beta=9.0)], ["sudo"], seed=2)
    original = GovSimModel.step

    def step(model: GovSimModel) -> None:
        with contextlib.suppress(RuntimeError):
            model.config.market.contagion_beta  # the read (refused) is the point
        original(model)

    monkeypatch.setattr(GovSimModel, "step", step)
    seen: list[Any] = []
    original_prefix = fork._shared_prefix

    def spy(cfgs: Any, late: Any = ()) -> Any:
        try:
            return original_prefix(cfgs, late)
        except fork._PrefixOverrunError as exc:
            seen.append(exc)
            raise

    monkeypatch.setattr(fork, "_shared_prefix", spy)
    shared = fork.run_configs(configs)
    assert len(seen) == 1 and "contagion_beta" in str(seen[0])
    for a, b in zip(shared, (api.run(c) for c in configs), strict=True):
        _assert_same(a, b)


def test_the_guard_gives_out_only_what_every_run_shares() -> None:
    config = _tiny(COVENANT)
    trip = fork._Tripwire()
    late = fork._late_tree(
        [("market", "contagion_beta"), ("shocks", "0", "day"), ("governance", "correlation")],
        config,
    )
    assert late == {
        "market": {"contagion_beta": None},
        "shocks": None,
        "governance": {"correlation": None},
    }
    guard = fork._GuardedConfig(config, late, "", trip)
    assert isinstance(guard, SimConfig) and isinstance(guard.market, type(config.market))
    assert guard.horizon_days == config.horizon_days
    assert guard.market.premium_half_life_days == config.market.premium_half_life_days
    assert guard.market is guard.market  # one guard per section (the fork's copy memo)
    # a method runs with the guard as ``self``
    assert guard.governance.roster() == config.governance.roster()
    assert trip.reason is None
    refused = [
        lambda: guard.market.contagion_beta,
        lambda: guard.shocks,
        lambda: guard.model_dump(),
        lambda: guard == config,
        lambda: hash(guard),
        lambda: copy.deepcopy(guard),
        lambda: list(guard.market),
        lambda: guard.market.model_copy(),
    ]
    for use in refused:
        with pytest.raises(fork._PrefixOverrunError):
            use()
    assert trip.reason == "market.contagion_beta was read during the shared prefix"
    other = _point(config, market__contagion_beta=7.0)
    memo = guard.own_sections(other)
    assert memo == {
        id(guard): other,
        id(guard.market): other.market,
        id(guard.governance): other.governance,
    }


def test_configs_that_differ_in_a_field_read_early_run_by_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = api.load_config(_tiny(COVENANT), policy="sudo", seed=1)
    b = api.load_config(
        _tiny(COVENANT).model_copy(update={"horizon_days": 0.5}), policy="multisig", seed=1
    )
    assert fork.differing_fields([a, b]) == [("horizon_days",)]  # read when the model is built
    out = fork.run_configs([a, b])
    _assert_same(out[0], api.run(a))
    _assert_same(out[1], api.run(b))
    monkeypatch.setattr(fork, "_shared_prefix", _never)
    other_seed = api.load_config(a, seed=2)
    assert fork.differing_fields([a, other_seed]) == [("seed",)]
    out = fork.run_configs([a, other_seed])  # different seeds: nothing to share
    _assert_same(out[1], api.run(other_seed))


def _never(*_: Any) -> Any:
    raise AssertionError("the prefix must not be shared")


def test_false_alarms_scheduled_alike_are_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    # a benevolent-erring person's false alarms are scheduled when the desk is built, keyed by
    # the person (the same under every policy): the queue holds them once, for every policy
    config = _tiny(
        COVENANT,
        actors=[
            {"count": 1, "intent": "self_interested"},
            {"count": 1, "intent": "benevolent_erring"},
        ],
        error_rate_per_year=3000.0,
    )
    policies = ["sudo", "multisig", "cosmos"]
    built = GovSimModel(api.load_config(config, seed=2))
    alarms = [entry for entry in built._queue if entry[3] == "false_alarm"]
    engine.release(built)
    assert len(alarms) >= 2 and min(entry[0] for entry in alarms) > 2 * config.network.tempo
    alone = [api.run(config, policy, seed=2) for policy in policies]
    counter = StepCounter(monkeypatch)
    shared = fork.run_policies(config, policies, seed=2)
    for a, b in zip(shared, alone, strict=True):
        _assert_same(a, b)
    assert counter.steps < 3 * round(1.0 * 7200 / config.network.tempo)


def test_desks_that_schedule_different_events_run_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sim.desks import GovernanceDesk

    original = GovernanceDesk._schedule_false_alarms

    def schedule(desk: GovernanceDesk) -> None:
        original(desk)
        if desk.policy.name == "multisig":  # a policy-dependent event, in its own run too
            desk.host.schedule(7200 * 2, "quality_jump", netuid=0, factor=1.5)

    monkeypatch.setattr(GovernanceDesk, "_schedule_false_alarms", schedule)
    config = _tiny(COVENANT)
    counter = StepCounter(monkeypatch)
    shared = fork.run_policies(config, ["sudo", "multisig"], seed=2)
    assert counter.steps == 2 * round(1.0 * 7200 / config.network.tempo)  # nothing shared
    for policy, result in zip(["sudo", "multisig"], shared, strict=True):
        _assert_same(result, api.run(config, policy, seed=2))


def test_one_failing_policy_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _tiny(COVENANT, days=1.0)
    original = fork._finish

    def finish(model: Any, cfg: SimConfig, *args: Any) -> Any:
        if cfg.governance.policy == "multisig":
            raise RuntimeError("injected")
        return original(model, cfg, *args)

    monkeypatch.setattr(fork, "_finish", finish)
    out = fork.run_policies(config, ["sudo", "multisig", "cosmos"], seed=4, return_exceptions=True)
    assert isinstance(out[1], RuntimeError)
    _assert_same(out[0], api.run(config, "sudo", seed=4))
    _assert_same(out[2], api.run(config, "cosmos", seed=4))
    with pytest.raises(RuntimeError, match="injected"):
        fork.run_policies(config, ["sudo", "multisig"], seed=4)


def test_governance_free_events_are_handlers() -> None:
    for name in fork.GOVERNANCE_FREE_EVENTS:
        EVENT_HANDLERS.get(name)  # raises on a name that is not a handler
    # handlers that reach governance (or schedule one that does) are never listed
    assert not fork.GOVERNANCE_FREE_EVENTS & {
        "intervention",
        "exploit",
        "exploit_detected",
        "scam_subnet",
        "scam_detected",
        "reverse",
        "false_alarm",
        "cast_vote",
        "veto",
    }


def test_a_desk_that_acts_unprompted_is_not_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy that writes to the network or the log on its own, before any matter, makes
    the prefix policy-dependent: the runs go one by one and still equal their own runs."""
    from sim.desks import GovernanceDesk

    original = GovernanceDesk.advance

    def advance(desk: GovernanceDesk) -> None:
        original(desk)
        if desk.policy.name == "multisig" and desk.host.steps_done == 3:
            desk.host.log_event("unprompted", policy=desk.policy.name)

    monkeypatch.setattr(GovernanceDesk, "advance", advance)
    config = _tiny(COVENANT, days=1.0)
    with pytest.warns(UserWarning, match="acted during the shared prefix"):
        shared = fork.run_policies(config, ["sudo", "multisig"], seed=5)
    for policy, result in zip(["sudo", "multisig"], shared, strict=True):
        _assert_same(result, api.run(config, policy, seed=5))
    assert any(e["kind"] == "unprompted" for e in shared[1].events)
