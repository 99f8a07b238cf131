"""Policies sharing a run's prefix (sim.fork): every result equals the run done alone."""

from __future__ import annotations

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


def test_configs_that_differ_beyond_the_policy_run_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = api.load_config(_tiny(COVENANT), policy="sudo", seed=1)
    b = api.load_config(_tiny(COVENANT).model_copy(update={"name": "other"}), policy="multisig",
                        seed=1)
    monkeypatch.setattr(fork, "_shared_prefix", _never)
    out = fork.run_configs([a, b])
    _assert_same(out[0], api.run(a))
    _assert_same(out[1], api.run(b))


def _never(*_: Any) -> Any:
    raise AssertionError("the prefix must not be shared")


def test_false_alarms_scheduled_alike_are_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    # a benevolent-erring person's false alarms are scheduled when the desk is built, keyed by
    # the person (the same under every policy): the queue holds them once, for every policy
    config = _tiny(
        COVENANT,
        actors=[{"count": 1, "intent": "self_interested"},
                {"count": 1, "intent": "benevolent_erring"}],
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
    out = fork.run_policies(config, ["sudo", "multisig", "cosmos"], seed=4,
                            return_exceptions=True)
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
        "intervention", "exploit", "exploit_detected", "scam_subnet", "scam_detected",
        "reverse", "false_alarm", "cast_vote", "veto",
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
