"""Building a run: strategy mixes, seats per policy, the stakers' accounts and the owners."""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import economy
from sim import build
from sim.agents.host import AgentHost
from sim.api import load_config
from sim.config import ActorConfig, SimConfig
from sim.seeds import RunStreams

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY: dict[str, Any] = {
    "network": {"n_subnets": 3, "n_uids": 8, "n_validators": 2},
    "stakers": {"n_stakers": 5},
}


class HostModel(mesa.Model):
    """A Mesa model that is an :class:`AgentHost` and nothing more: all an agent needs."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(rng=0)
        self.config = config
        self.day = 0.0


@given(
    weights=st.lists(st.floats(0.01, 10.0), min_size=1, max_size=6),
    total=st.integers(0, 500),
)
def test_allocate_counts_fills_every_slot_within_one_of_the_exact_share(
    weights: list[float], total: int
) -> None:
    mix = {f"s{i}": w for i, w in enumerate(weights)}
    counts = build.allocate_counts(mix, total)
    assert list(counts) == list(mix) and sum(counts.values()) == total
    exact = np.array(weights) / sum(weights) * total
    assert np.all(np.abs(np.array(list(counts.values())) - exact) < 1.0)


def _seats(policy_name: str, actors: tuple[ActorConfig, ...]) -> list[tuple[str, str, str]]:
    config = load_config({**TINY, "governance": {"actors": [a.model_dump() for a in actors]}},
                         policy=policy_name)
    seats = build.governors(HostModel(config), build.governance_policy(config), actors)
    return [(g.name, g.body, g.intent) for g in seats]


def test_a_fixed_body_takes_the_first_actors_and_is_topped_up_with_competent_seats() -> None:
    actors = (ActorConfig(count=2, intent="self_interested"),)
    assert _seats("sudo", actors) == [("sudo0", "sudo", "self_interested")]
    assert _seats("multisig", actors) == [
        ("signers0", "signers", "self_interested"),
        ("signers1", "signers", "self_interested"),
        ("signers2", "signers", "benevolent_competent"),
    ]


def test_two_stage_proposers_default_to_the_triumvirs() -> None:
    seats = _seats("v2_two_stage", (ActorConfig(count=1, intent="captured"),))
    assert seats == [
        ("triumvirate0", "triumvirate", "captured"),
        ("triumvirate1", "triumvirate", "benevolent_competent"),
        ("triumvirate2", "triumvirate", "benevolent_competent"),
        ("proposer_triumvirate0", "proposers", "captured"),
        ("proposer_triumvirate1", "proposers", "benevolent_competent"),
        ("proposer_triumvirate2", "proposers", "benevolent_competent"),
    ]


def test_unknown_policies_and_strategies_are_refused_naming_the_field() -> None:
    # The policy name is checked at the input boundary (load_config), which names the source.
    with pytest.raises(ValueError, match=r"^<config dict>: governance\.policy: "):
        build.governance_policy(load_config({**TINY, "governance": {"policy": "nope"}}))
    with pytest.raises(ValueError, match=r"^stakers\.mix\.nope: "):
        build.check_strategy_names(load_config({**TINY, "stakers": {"mix": {"nope": 1.0}}}))


def test_the_network_gives_stakers_accounts_without_creating_tao() -> None:
    config = load_config(TINY, seed=3)
    net = build.network(config, RunStreams.from_seed(3))
    assert economy.check_ledger(net.state).ok
    names = [net.state.account_names[a] for a in net.staker_accounts]
    assert names == [f"staker{j}" for j in range(5)]
    assert net.validator_uids.tolist() == [1, 2]
    assert net.is_miner[:, :3].sum() == 0 and net.is_miner[:, 3:].all()
    again = build.network(config, RunStreams.from_seed(3))
    assert bool((again.state.balances == net.state.balances).all())
    assert again.state.weights is not net.state.weights  # each model owns its tensors


def test_owners_follow_the_mix_and_assign_pins_a_subnet() -> None:
    config = load_config({**TINY, "owners": {"mix": {"honest": 1.0}, "assign": {2: "high_value"}}})
    host = HostModel(config)
    assert isinstance(host, AgentHost)
    owners = build.owners(host, config, np.random.default_rng(0))
    assert [o.name for o in owners] == ["honest", "honest", "high_value"]
    assert [o.netuid for o in owners] == [0, 1, 2]
    assert owners[2].utility > 0
