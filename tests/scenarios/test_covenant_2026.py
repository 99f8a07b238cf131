"""The flagship scenario, as the chain ran on 10 April 2026: date, era, levers, candidate
actions, and two behaviours of its runs (smooth alpha prices, the cost of a failed vote)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import run
from sim.config import SimConfig
from sim.model import GovSimModel
from sim.schema import ScenarioError, load_scenario
from sim.stats import wilson_interval
from tests.scenarios.tiny import tiny_overrides

COVENANT = Path(__file__).resolve().parents[2] / "scenarios" / "covenant_2026.toml"
EMISSION_OFF = {"kind": "set_emission_enabled", "netuid": 0, "enabled": False}


def test_declares_its_date_and_runs_on_the_tao_flow_era() -> None:
    scenario = load_scenario(COVENANT)
    assert scenario.config.date == date(2026, 4, 10)
    config = scenario.to_config(overrides=tiny_overrides(scenario, 0.1))
    model = GovSimModel(config)
    assert model.params.era == "tao_flow"
    assert model.params.net_tao_flow_enabled is False  # gross flow until 2026-05-27
    assert model.params.recycle_chain_bought_alpha is True  # until 2026-06-01
    assert scenario.config.shocks[1].lever["kind"] == "set_registration_allowed"  # base point


def test_the_emission_switch_is_refused_naming_its_arrival() -> None:
    scenario = load_scenario(COVENANT)
    with pytest.raises(ScenarioError, match="2026-05-12") as info:
        scenario.to_config(overrides={"shocks.1.lever": EMISSION_OFF})
    assert "shocks[1].lever" in str(info.value) and "set_emission_enabled" in str(info.value)
    # ... also inside a batch, and as the scam response lever
    batch = {"kind": "any_change", "effects": [EMISSION_OFF]}
    with pytest.raises(ScenarioError, match="2026-05-12"):
        scenario.to_config(overrides={"shocks.1.lever": batch})
    with pytest.raises(ScenarioError, match=r"governance\.response_lever.*2026-05-12"):
        scenario.to_config(overrides={"governance.response_lever": "set_emission_enabled"})
    # live once it reached main
    assert scenario.to_config(overrides={"shocks.1.lever": EMISSION_OFF, "date": "2026-05-27"})


def test_a_sweep_record_with_a_lever_not_yet_live_is_refused(tmp_path: Path) -> None:
    text = (
        f'extends = "{COVENANT.as_posix()}"\n[sweep]\ndesign = "list"\n'
        '[[sweep.records]]\n"shocks.1.lever" = { kind = "set_registration_allowed", netuid = 0 }\n'
        '[[sweep.records]]\n"shocks.1.lever" = { kind = "set_emission_enabled", netuid = 0 }\n'
    )
    path = tmp_path / "later_lever.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=r"sweep point 1.*2026-05-12"):
        load_scenario(path)


def test_the_sweep_runs_every_candidate_action() -> None:
    scenario = load_scenario(COVENANT)
    actions = []
    for _, config in scenario.point_configs():
        lever = config.shocks[1].lever
        effects = lever.get("effects") or [lever]
        actions.append((effects[0]["kind"], tuple(e["netuid"] for e in effects)))
    assert actions == [
        ("set_registration_allowed", (0,)),
        ("set_subtoken_enabled", (0,)),
        ("set_registration_allowed", (0, 1, 2)),
        ("set_subtoken_enabled", (0, 1, 2)),
    ]
    # every candidate runs (tiny network, half a day) and closes its subnets' emission
    for point in scenario.points():
        config = scenario.to_config("sudo", {**point, **tiny_overrides(scenario, 0.5)})
        result = run(config, policy="sudo", seed=1)
        executed = [e for e in result.events if e["kind"] == "executed"]
        assert executed and executed[0]["applied"]
        last = result.timeseries[result.timeseries.day == result.timeseries.day.max()]
        targets = executed[0]["targets"]
        assert (last.set_index("netuid").loc[targets, "emission_share"] == 0.0).all()


def _daily_price_moves(result_timeseries: pd.DataFrame) -> np.ndarray:
    prices = result_timeseries.pivot_table(index="day", columns="netuid", values="alpha_price_tao")
    return np.abs(np.diff(np.log(prices.to_numpy()), axis=0))


@pytest.mark.slow
def test_alpha_prices_do_not_saw_tooth_seed_0_sudo() -> None:
    """The two-day oscillation: with market orders every staker acted on the same day-old yields
    at once, and one round put ~12x a subnet's pool TAO into it (price 0.019 -> 3.2 TAO, back to
    0.08 the next day, ...). Stakers now send limit orders at the price they decided on, so a
    round moves a price by at most the tolerance (5 %); rows are one tempo apart."""
    scenario = load_scenario(COVENANT)
    # three days: the quality jump (day 2) and two rebalancing rounds; the later shocks are
    # moved to the horizon and left out of the rows compared
    overrides = {"horizon_days": 3, "shocks.1.day": 3, "shocks.2.day": 3}
    result = run(scenario.to_config("sudo", overrides), policy="sudo", seed=0)
    moves = _daily_price_moves(result.timeseries[result.timeseries.day < 2.99])
    assert moves.max() < np.log(1.12), np.exp(moves.max())


@pytest.mark.slow
def test_a_rejected_proposal_still_cuts_the_subnets_tao_flow_share() -> None:
    """Under TAO-flow shares a public proposal against a subnet costs it emission even when the
    vote fails: while it is open the subnet is flagged, stakers leave it at market, and the
    outflow turns its flow EMA negative. Same seed with and without the proposal (a 3-seat
    multisig whose competent seats reject the self-interested seat's move after two days)."""
    scenario = load_scenario(COVENANT)
    overrides = {
        "horizon_days": 8, "network.n_uids": 16, "network.n_validators": 4,
        "stakers.n_stakers": 16, "shocks.0.day": 1, "shocks.1.day": 3, "shocks.2.day": 7.5,
        "governance.vote_delay_blocks": 14_400,
        # the two signers judge for themselves and are right: they refuse (the scenario's own
        # signers copy the proposer half the time and would often sign)
        "governance.correlation": 0.0, "governance.signal_accuracy": 1.0,
    }  # fmt: skip
    with_proposal = scenario.to_config("multisig", overrides)
    body = with_proposal.model_dump()
    body["shocks"] = [s for i, s in enumerate(body["shocks"]) if i != 1]
    without = SimConfig.model_validate(body)
    runs = {name: run(c, policy="multisig", seed=0)
            for name, c in (("with", with_proposal), ("without", without))}  # fmt: skip
    kinds = [e["kind"] for e in runs["with"].events]
    assert "gov_rejected" in kinds and "executed" not in kinds
    share = {}
    for name, result in runs.items():
        ts = result.timeseries
        subnet0 = ts[ts.netuid == 0].set_index("day")
        share[name] = float(subnet0.emission_share.iloc[-1])
        if name == "with":
            assert subnet0.flagged.any()
    assert share["without"] > 0.03
    assert share["with"] < 0.5 * share["without"], share


#: The share of seeds in which the 2-of-3 multisig executes the cut, as the scenario states:
#: const signs by proposing; each of two signers copies him with p = 0.5, else signs on a wrong
#: signal (accuracy 0.9): 1 - (1 - 0.5 - 0.5 * 0.1) ** 2.
STATED_SHARE = 1 - (1 - 0.5 - 0.5 * 0.1) ** 2


@pytest.mark.slow
def test_the_multisig_executes_the_cut_in_the_share_the_scenario_states() -> None:
    scenario = load_scenario(COVENANT)
    config = scenario.to_config("multisig", tiny_overrides(scenario, 2.0))
    seeds = 24
    executed = 0
    for seed in range(seeds):
        result = run(config, policy="multisig", seed=seed)
        assert result.kpis["governance.harmful_proposals"] == 1
        executed += result.kpis["governance.harmful_executed"]
    ci = wilson_interval(executed, seeds)
    assert ci.low <= STATED_SHARE <= ci.high, (executed, ci)
    assert ci.low > 0.4  # told apart from 0 (and from a coin)
    # without the leader the same signers mostly refuse
    alone = scenario.to_config(
        "multisig", {**tiny_overrides(scenario, 2.0), "governance.correlation": 0.0}
    )
    refused = sum(
        run(alone, policy="multisig", seed=s).kpis["governance.harmful_executed"]
        for s in range(seeds)
    )
    assert refused < executed / 2


@pytest.mark.slow
def test_the_target_keeps_a_real_share_until_the_sudo_cut() -> None:
    """The quality jump draws stakers to subnet 0, so it still emits when the cut comes and the
    cut is felt (severity scales by the share it hits). With the default yield sensitivity (20)
    the stakers' softmax sent nearly all stake to the highest-yield subnets whatever the jump,
    and subnet 0 held 0 % at the cut in 3 of 16 seeds (seed 5: 2.0 % on day 3, 0 from day 18);
    SN3 held 6.5-7.1 % when it was suspended (docs/calibration.md)."""
    from sim import api, chain

    scenario = load_scenario(COVENANT)
    config = scenario.to_config("sudo")
    before_cut, severity = [], []
    for seed in range(5):
        model = GovSimModel(api.load_config(config, policy="sudo", seed=seed))
        while model.day < 29.9 - 1e-9:
            model.step()
        before_cut.append(float(chain.emission_shares(model.state, model.params)[0]))
        while model.day < 30.2:
            model.step()
        executed = [e for e in model.event_log if e["kind"] == "executed"]
        assert len(executed) == 1 and executed[0]["targets"] == [0]
        severity.append(executed[0]["severity"])
    # measured: 0.165 0.056 0.081 0.077 0.131 (seeds 0-4; 0.014-0.27 over seeds 0-15)
    assert sum(share >= 0.03 for share in before_cut) >= 4, before_cut
    assert float(np.median(before_cut)) >= 0.05, before_cut
    assert all(s > 0 for s in severity), severity
