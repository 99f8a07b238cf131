"""The voter model (noisy signals, exposure, leaders, turnout) and the policies' own
declarations of their bodies and tracks."""

from __future__ import annotations

import pytest

from protocol.governance import POLICIES, BodySpec, GovernanceError, make_policy
from protocol.governance.voters import (
    MATTER_KINDS,
    Matter,
    Person,
    ballot,
    draw,
    matter_rng,
    own_ballot,
)
from protocol.levers import HaltChain, SetEmissionEnabled

HARM = Matter(key=(MATTER_KINDS["intervention"], 0, 0), warranted=False, target=3)
EXPLOIT = Matter(key=(MATTER_KINDS["exploit"], 0, 0), warranted=True, urgent=True)


def test_draws_are_keyed_by_seed_matter_and_person_only() -> None:
    a = Person("a", key=1)
    assert draw(5, HARM, a) == draw(5, HARM, Person("renamed", key=1, accuracy=0.6))
    assert draw(5, HARM, a) != draw(5, HARM, Person("b", key=2))
    assert draw(5, HARM, a) != draw(6, HARM, a)
    assert draw(5, HARM, a) != draw(5, EXPLOIT, a)
    with pytest.raises(GovernanceError, match="three integers"):
        Matter(key=(1, 2), warranted=True)  # type: ignore[arg-type]
    assert matter_rng(1, (1, 2, 3), 4).random() == matter_rng(1, (1, 2, 3), 4).random()


def test_accuracy_only_turns_wrong_signals_right() -> None:
    """The uniform draw is shared, so raising accuracy never flips a right signal wrong."""
    matters = [Matter(key=(4, i, 0), warranted=i % 2 == 0, target=1) for i in range(400)]
    wrong = {}
    for accuracy in (0.6, 0.8, 1.0):
        p = Person("p", key=7, accuracy=accuracy)
        wrong[accuracy] = {m.key for m in matters if own_ballot(p, m, draw(0, m, p)) != m.warranted}
    assert wrong[1.0] == set() and wrong[0.8] <= wrong[0.6]
    assert 0.3 < len(wrong[0.6]) / 400 < 0.5 and 0.1 < len(wrong[0.8]) / 400 < 0.3


def test_intents_exposure_and_the_proposer() -> None:
    d = draw(0, HARM, Person("x", key=0))
    honest = Person("h", key=0, accuracy=1.0)
    rival = Person("r", key=0, intent="self_interested", exposure={3: -1.0})
    holder = Person("o", key=0, intent="self_interested", exposure={3: 0.5})
    plain = Person("s", key=0, intent="self_interested", accuracy=1.0)
    captured = Person("c", key=0, intent="captured", accuracy=1.0)
    assert own_ballot(honest, HARM, d) is False
    assert own_ballot(honest, HARM, d, proposer=True) is True
    assert own_ballot(rival, HARM, d) is True and own_ballot(holder, HARM, d) is False
    restore = Matter(key=HARM.key, warranted=True, target=3, hurts_target=False)
    assert own_ballot(rival, restore, d) is False and own_ballot(holder, restore, d) is True
    assert own_ballot(plain, HARM, d) is False  # no exposure on subnet 3: its signal
    assert own_ballot(captured, HARM, d) is False
    captor = Matter(key=HARM.key, warranted=False, target=3, faction="captured")
    assert own_ballot(captured, captor, d) is True


def test_a_follower_copies_its_leader_with_its_correlation() -> None:
    matters = [Matter(key=(1, i, 0), warranted=False, target=0) for i in range(2_000)]
    follower = Person("f", key=3, accuracy=1.0, leader="boss", correlation=0.5)
    copied = sum(ballot(follower, m, draw(0, m, follower), leader_ballot=True) for m in matters)
    assert 0.45 < copied / len(matters) < 0.55  # copies the leader's aye half the time
    lone = Person("f", key=3, accuracy=1.0)
    assert not any(ballot(lone, m, draw(0, m, lone), leader_ballot=True) for m in matters)
    # the proposer backs its own proposal whatever its leader does
    assert ballot(
        follower, matters[0], draw(0, matters[0], follower), proposer=True, leader_ballot=False
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("accuracy", 0.4),
        ("turnout", 1.5),
        ("correlation", -0.1),
        ("exposure", {1: 2.0}),
        ("bribe_price", -1.0),
    ],
)
def test_a_person_refuses_values_out_of_range_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(GovernanceError, match=field):
        Person("p", key=0, **{field: value})  # type: ignore[arg-type]


def test_each_policy_declares_its_bodies() -> None:
    bodies = {name: make_policy(name).seat_bodies() for name in POLICIES.names()}
    assert bodies["sudo"] == {"sudo": BodySpec(1, "actors", bodies["sudo"]["sudo"].doc)}
    assert bodies["multisig"]["signers"].size == 3
    assert bodies["constitutional"]["jury_pool"].source == "holders"
    assert bodies["constitutional"]["emergency"].size == 3
    assert {k: v.source for k, v in bodies["v1_senate"].items()} == {
        "triumvirate": "actors",
        "senate": "policy",
    }
    assert list(bodies["v2_two_stage"])[:2] == ["triumvirate", "proposers"]
    assert bodies["opengov"]["fellowship"].size == 3 and bodies["opengov"]["cancellers"].size == 0
    assert bodies["cosmos"] == bodies["stake_vote"] == bodies["futarchy"] == {}
    assert make_policy("timelock").main_body() == "signers"
    assert make_policy("cosmos").main_body() is None
    with pytest.raises(GovernanceError, match="source"):
        BodySpec(1, "lottery")


def test_urgent_matters_take_the_fast_tracks() -> None:
    halt, cut = HaltChain(duration_blocks=7_200), SetEmissionEnabled(netuid=1)
    assert make_policy("opengov").paths(halt, urgent=True) == ("whitelisted", None)
    assert make_policy("opengov", whitelist_enabled=False).paths(halt, urgent=True) == (None,)
    assert make_policy("constitutional").paths(halt, urgent=True) == ("emergency", None)
    assert make_policy("cosmos").paths(halt, urgent=True) == ("expedited", None)
    for name in ("opengov", "constitutional", "cosmos", "sudo", "v2_two_stage"):
        assert make_policy(name).paths(cut, urgent=False) == (None,)
    # the retained sudo key is a path for whoever holds it, urgent or not
    assert make_policy("v1_senate", sudo_retained=True).paths(cut, urgent=False) == ("sudo", None)
    assert make_policy("v2_two_stage", sudo_retained=True).paths(halt, urgent=True) == (
        "sudo",
        None,
    )
