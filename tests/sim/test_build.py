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


def _seats(
    policy_name: str, actors: tuple[ActorConfig, ...], **policy_config: Any
) -> list[tuple[str, tuple[str, ...], str]]:
    governance = {
        "actors": [a.model_dump() for a in actors],
        "policy": policy_name,
        "policy_config": policy_config,
    }
    config = load_config({**TINY, "governance": governance})
    people = build.governors(HostModel(config), build.governance_policy(config), config.governance)
    return [(g.name, tuple(g.seats), g.intent) for g in people]


def test_every_policy_seats_the_same_roster_in_order() -> None:
    """The roster (actors, topped up to roster_size) is the same under every policy; each
    policy's roster bodies take its first persons, so the first person is every main body's
    first seat."""
    actors = (ActorConfig(count=2, intent="self_interested"),)
    roster = [
        ("actor0", "self_interested"),
        ("actor1", "self_interested"),
        ("actor2", "benevolent_competent"),
    ]
    assert _seats("sudo", actors) == [
        ("actor0", ("sudo",), "self_interested"),
        ("actor1", (), "self_interested"),
        ("actor2", (), "benevolent_competent"),
    ]
    assert _seats("multisig", actors) == [(n, ("signers",), i) for n, i in roster]
    assert _seats("v2_two_stage", actors) == [
        (n, ("triumvirate", "proposers"), i) for n, i in roster
    ]
    assert _seats("constitutional", actors) == [(n, ("emergency",), i) for n, i in roster]
    assert _seats("cosmos", actors) == [(n, (), i) for n, i in roster]


def test_a_body_larger_than_the_roster_is_topped_up_after_it() -> None:
    seats = _seats(
        "multisig", (ActorConfig(count=1, intent="captured", label="attacker"),), n=5, k=3
    )
    assert seats == [
        ("attacker", ("signers",), "captured"),
        ("actor1", ("signers",), "benevolent_competent"),
        ("actor2", ("signers",), "benevolent_competent"),
        ("actor3", ("signers",), "benevolent_competent"),
        ("actor4", ("signers",), "benevolent_competent"),
    ]


def test_a_person_tied_to_a_body_sits_only_there() -> None:
    actors = (ActorConfig(label="boss"), ActorConfig(label="guard", body="guardians"))
    assert _seats("timelock", actors) == [
        ("boss", ("signers",), "benevolent_competent"),
        ("guard", ("guardians",), "benevolent_competent"),
        ("actor2", ("signers",), "benevolent_competent"),
        ("actor3", ("signers",), "benevolent_competent"),
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
