"""The live registration rule's pure parts: burn, per-address cap and groups, pruning order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.live.registration import (
    RegistrationRule,
    UidStanding,
    address_cap,
    address_group,
    burn_after_registration,
    decayed_burn,
    uid_to_prune,
)

RULE = RegistrationRule()


def test_defaults_are_subtensors():
    # runtime/src/lib.rs and pallets/subtensor/src/lib.rs at 14bc6f9f: InitialBurn 0.1 TAO,
    # InitialMinBurn 500k rao, InitialMaxBurn 100 TAO, DefaultBurnIncreaseMult 1.26.
    assert (RULE.burn, RULE.min_burn, RULE.max_burn) == (0.1, 0.0005, 100.0)
    assert RULE.burn_increase_mult == 1.26


def test_burn_rises_per_registration_and_halves_per_half_life():
    assert burn_after_registration(0.1, RULE) == pytest.approx(0.126)
    assert burn_after_registration(99.0, RULE) == 100.0  # clamped at max_burn
    assert decayed_burn(0.4, 20.0, 20.0, RULE) == pytest.approx(0.2)  # one window = one half-life
    assert decayed_burn(0.4, 40.0, 20.0, RULE) == pytest.approx(0.1)
    assert decayed_burn(0.4, 1e9, 20.0, RULE) == RULE.min_burn  # floored
    assert decayed_burn(0.4, -5.0, 20.0, RULE) == 0.4  # a clock step back never raises it


def test_a_burst_of_registrations_grows_the_burn_geometrically():
    burn, paid = RULE.burn, []
    for _ in range(10):
        paid.append(burn)
        burn = burn_after_registration(burn, RULE)
    assert paid[-1] == pytest.approx(0.1 * 1.26**9)
    assert sum(paid) == pytest.approx(0.1 * (1.26**10 - 1) / 0.26)


@pytest.mark.parametrize(
    ("max_miners", "share", "cap"),
    [(64, 0.25, 16), (4, 0.25, 1), (3, 0.25, 1), (10, 0.5, 5), (64, 1.0, 64), (7, 0.3, 2)],
)
def test_address_cap(max_miners, share, cap):
    assert address_cap(max_miners, RegistrationRule(max_address_share=share)) == cap


def test_address_groups():
    assert address_group("203.0.113.7") == "203.0.113.7"
    assert address_group("2001:db8:1:2:3:4:5:6") == address_group("2001:db8:1:2::99")
    assert address_group("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_group("2001:db8:1:3::1") != address_group("2001:db8:1:2::1")
    assert address_group("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_group("testclient") == "testclient"


def test_pruning_takes_the_lowest_emission_non_immune_uid():
    rule = RegistrationRule(immunity_windows=5)
    standings = [
        UidStanding(uid=2, registered_window=0, emission=0.3),
        UidStanding(uid=3, registered_window=1, emission=0.0),
        UidStanding(uid=4, registered_window=0, emission=0.0),
        UidStanding(uid=5, registered_window=9, emission=0.0),  # immune at window 10
    ]
    assert uid_to_prune(standings, 10, rule) == 4  # tie on emission: earlier registration
    standings[2] = UidStanding(uid=4, registered_window=1, emission=0.0)
    assert uid_to_prune(standings, 10, rule) == 3  # tie on both: lower uid
    assert uid_to_prune(standings, 5, rule) == 2  # 3 and 4 are still immune at window 5
    assert uid_to_prune(standings[3:], 10, rule) is None  # only immune uids: nobody goes
    assert uid_to_prune([], 10, rule) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.floats(0, 5, allow_nan=False)), min_size=1, max_size=12
    ),
    st.integers(0, 40),
    st.integers(0, 10),
)
def test_pruning_never_picks_an_immune_uid(rows, window, immunity):
    rule = RegistrationRule(immunity_windows=immunity)
    standings = [UidStanding(uid, reg, em) for uid, (reg, em) in enumerate(rows)]
    picked = uid_to_prune(standings, window, rule)
    free = [s for s in standings if window - s.registered_window >= immunity]
    if not free:
        assert picked is None
    else:
        chosen = next(s for s in standings if s.uid == picked)
        assert window - chosen.registered_window >= immunity
        assert chosen.emission == min(s.emission for s in free)
