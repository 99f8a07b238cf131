"""The simulated network around a live subnet: the agent model advancing with the live windows,
paying the live subnet what the network gives it, surviving a coordinator restart, and the
``[live.network]`` table's validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sim.live.app import create_app
from sim.live.config import LiveConfigError, load_live_config
from sim.live.coordinator import Coordinator
from sim.live.network import SimulatedNetwork, network_for
from sim.live.store import StateDir
from sim.schema import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# A small network whose sudo authority suspends subnet 0's emission on day 1: a quarter of a
# simulated day per live window, so the suspension lands in window 4.
NETWORK = f"""
extends = "{SCENARIOS / "baseline.toml"}"
horizon_days = 3

[network]
n_subnets = 4

[governance]
policy = "sudo"
actors = [{{ count = 1, intent = "self_interested" }}]

[[shocks]]
kind = "intervention"
day = "1 days"
lever = {{ kind = "set_emission_enabled", netuid = 0, enabled = false }}
intent = "self_interested"
justified = false
"""

LIVE = """
[live]
window_seconds = 10.0
put_window_seconds = 2.0
training_config = "cpu-tiny"
validators = 2
max_miners = 4

[live.training]
inner_steps = 2
n_eval = 16
windows_per_weights = 1

[live.network]
netuid = 0
blocks_per_window = 1800
"""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def scenario(tmp_path) -> Path:
    path = tmp_path / "live_net.toml"
    path.write_text(NETWORK + LIVE)
    return path


class FakeClock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _coordinator(path: Path, state: Path, clock: FakeClock) -> Coordinator:
    config, _ = load_live_config(path)
    return Coordinator(config, StateDir(state), now=clock, network=network_for(path, config))


def _close(coordinator: Coordinator, clock: FakeClock, window: int) -> None:
    clock.t = coordinator.clock.close_time(window) + 0.01
    assert coordinator.run_due() == [window]


def test_windows_advance_the_network_and_the_suspension_lowers_the_pay(scenario):
    config, _ = load_live_config(scenario)
    network = network_for(scenario, config)
    assert isinstance(network, SimulatedNetwork)
    assert network.netuid == 0 and network.blocks_per_window == 1800
    paid = [network.advance(w) for w in range(8)]
    assert [p.block for p in paid] == [1800 * (w + 1) for w in range(8)]
    before, after = paid[2], paid[-1]
    assert before.emission_enabled and before.emission_share > 0 and before.emission_tao > 0
    # Day 1 = window 4: sudo executes at once; the pool-side share goes to 0, alpha_out goes on,
    # and the harm reaches the live subnet through its alpha price.
    assert not after.emission_enabled and after.emission_share == 0.0
    assert after.alpha_price < before.alpha_price
    assert 0 < after.emission_tao < before.emission_tao
    kinds = [e["kind"] for e in network.status()["events"]]
    assert "executed" in kinds and "miner_move" not in kinds
    assert network.advance(7) == paid[-1]  # a retried window is paid once
    with pytest.raises(ValueError, match="not the next one"):
        network.advance(9)


def test_same_seed_same_network_and_replay_catches_up(scenario):
    config, _ = load_live_config(scenario)
    a, b = network_for(scenario, config), network_for(scenario, config)
    run_a = [a.advance(w) for w in range(6)]
    b.replay(5)
    assert b.windows_done == 5 and b.advance(5) == run_a[5]


def test_the_coordinator_pays_what_the_network_gives_and_resumes_it(scenario, tmp_path):
    clock = FakeClock()
    coordinator = _coordinator(scenario, tmp_path / "state", clock)
    for window in range(3):
        _close(coordinator, clock, window)
    history = coordinator.history
    assert [h["network"]["window"] for h in history] == [0, 1, 2]
    # From window 1 the validators' weights are on chain: the epoch splits exactly the TAO the
    # network paid (whole rao, floor-conserving).
    for h in history[1:]:
        credited = sum(h["emission_tao"].values())
        assert credited == pytest.approx(h["network"]["emission_tao"], abs=1e-6)
        assert credited > 0
    status = TestClient(create_app(coordinator, run_ticker=False)).get("/v1/status").json()
    assert status["simulated_network"]["netuid"] == 0
    assert status["simulated_network"]["last_window"]["window"] == 2
    coordinator.stop()

    # A restart rebuilds the network by replaying the closed windows: window 3 is paid as an
    # uninterrupted coordinator would pay it.
    resumed = _coordinator(scenario, tmp_path / "state", clock)
    assert resumed.network.windows_done == 3
    _close(resumed, clock, 3)
    resumed.stop()
    reference = network_for(scenario, load_live_config(scenario)[0])
    reference.replay(4)
    assert resumed.history[-1]["network"] == reference.status()["last_window"]


def test_a_file_with_only_live_has_no_network(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text(LIVE.split("[live.network]")[0])
    config, rest = load_live_config(path)
    assert rest == {} and network_for(path, config) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (LIVE.replace("netuid = 0", "netuid = 0\ncolour = 1"), "live.network.colour: unknown key"),
        (LIVE.replace("blocks_per_window = 1800", "blocks_per_window = 0"), "blocks_per_window"),
        (LIVE.replace("netuid = 0", "netuid = -1"), "live.network.netuid"),
        (
            LIVE.replace("[live.network]", "emission_per_window = 2.0\n[live.network]"),
            "emission_per_window",
        ),
    ],
)
def test_bad_network_tables_name_the_field(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(NETWORK + text)
    with pytest.raises(LiveConfigError, match=fragment):
        load_live_config(path)


def test_a_netuid_outside_the_network_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(NETWORK + LIVE.replace("netuid = 0", "netuid = 9"))
    config, _ = load_live_config(path)
    with pytest.raises(ValueError, match=r"netuid = 9.*0\.\.3"):
        network_for(path, config)


def test_live_network_without_a_network_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(LIVE)
    with pytest.raises(LiveConfigError, match="no simulated network"):
        load_live_config(path)


def test_a_bad_network_table_is_named_with_its_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(NETWORK.replace("n_subnets = 4", "n_subnets = 0") + LIVE)
    with pytest.raises(LiveConfigError, match="n_subnets"):
        load_live_config(path)


def test_the_shipped_covenant_live_scenario_builds_its_network():
    path = SCENARIOS / "live" / "covenant_live.toml"
    config, _ = load_live_config(path)
    assert config.network_netuid == 0 and config.network_blocks_per_window == 3600
    assert load_scenario(path, exclude=("live",)).to_config().network.n_subnets == 16
