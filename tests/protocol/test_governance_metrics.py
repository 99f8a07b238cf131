"""Capture tests: minimal pass/block coalitions and key-control NC equal the hand derivations in
docs/governance.md, concentration metrics, actors, and third-party loading."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import numpy as np
import pytest

from protocol.governance import Electorate, GovernanceError, RefState, make_policy
from protocol.governance.actors import (
    Actor,
    DecisionContext,
    Intent,
    cast_votes,
    decide_votes,
    independence_groups,
)
from protocol.governance.metrics import (
    concentration,
    decentralisation_report,
    effective_exit_window,
    gini,
    hhi,
    key_control_nakamoto,
    minimal_block_coalition,
    minimal_pass_coalition,
    nakamoto_coefficient,
    path_coalition,
)
from protocol.governance.multisig import MultisigPolicy
from protocol.levers import SuspendEmissions

LEVER = SuspendEmissions(netuid=3)
TRI = ("t1", "t2", "t3")
ECON = tuple(f"e{i}" for i in range(16))
BUILD = tuple(f"b{i}" for i in range(16))


def v2_state(**cfg):
    p = make_policy("v2_two_stage", **cfg)
    e = Electorate(
        stakes=dict.fromkeys(ECON, 1.0),
        bodies={"proposers": ("p1",), "triumvirate": TRI, "economic": ECON, "building": BUILD},
    )
    return p, p.init(0, e)


# ----------------------------------------------------------------------------- concentration
def test_nakamoto_gini_hhi_reference_values():
    # Root stake, June 2024 (Mentat Minds, "What root network weights reveal about Bittensor").
    root_2024 = [25, 13.5, 11, 9, 6.5] + [35 / 35] * 35  # NC(1/3) = 2, NC(1/2) = 4
    assert nakamoto_coefficient(root_2024, 1 / 3) == 2
    assert nakamoto_coefficient(root_2024, 1 / 2) == 4
    assert hhi(root_2024) >= 0.105  # the top 5 alone give this lower bound
    assert gini([5, 5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)
    assert hhi([1, 1, 1, 1]) == pytest.approx(0.25)
    c = concentration({"a": 1.0, "b": 1.0})
    assert c.effective_number == pytest.approx(2.0) and c.nc_half == 2
    with pytest.raises(ValueError):
        gini([-1, 2])


@pytest.mark.parametrize(
    ("values", "threshold", "expected"),
    [
        ([1, 1], 1.0, 2),  # θ = 1: the fewest parties holding everything (never more than exist)
        ([1, 0], 1.0, 1),  # a party with nothing is not needed to hold everything
        ([1, 1], 0.5, 2),  # a tie is not control: neither half alone holds more than half
        ([0.25] * 4, 0.5, 3),
        ([0.1] * 10, 0.3, 4),  # 0.1 + 0.1 + 0.1 rounds above 0.3: still a tie, not control
        ([1 / 3] * 3, 2 / 3, 3),
        ([0.0, 0.0], 0.5, 0),
        ([], 0.5, 0),
        ({"a": 40.0, "b": 30.0, "c": 20.0, "d": 10.0}, 0.5, 2),
    ],
)
def test_nakamoto_convention(values, threshold, expected):
    assert nakamoto_coefficient(values, threshold) == expected


def test_nakamoto_is_never_more_than_the_parties_and_monotone_in_threshold():
    rng = np.random.default_rng(7)
    for _ in range(200):
        values = rng.exponential(size=rng.integers(1, 12)) * (rng.random() < 0.9)
        counts = [nakamoto_coefficient(values, t) for t in np.linspace(0.0, 1.0, 21)]
        assert all(0 <= c <= len(values) for c in counts)
        assert counts == sorted(counts)


def test_nakamoto_rejects_a_threshold_outside_zero_one():
    with pytest.raises(ValueError, match="threshold"):
        nakamoto_coefficient([1, 2], 1.5)


# ----------------------------------------------------------------------------- capture: V2
def test_v2_pass_is_one_proposer_two_triumvirs_with_24h():
    p, gs = v2_state()
    best = minimal_pass_coalition(p, gs)
    assert best.size == 3 and best.delay == 7_200 and best.path == "triumvirate_then_delay"
    assert sorted(best.parties) == ["p1", "t1", "t2"]
    fast = minimal_pass_coalition(p, gs, max_delay=1)
    assert fast.size == 1 + 2 + 24  # fast track needs 75 % of 32 reviewers
    assert key_control_nakamoto(p, gs) == 27


def test_v2_block_coalitions():
    p, gs = v2_state()
    paths = {path.name: path_coalition(path).size for path in p.block_paths(gs)}
    assert paths == {"triumvirate": 2, "review_cancel": 17, "root_kill": 1}
    assert minimal_block_coalition(p, gs).size == 1
    p2, gs2 = v2_state(root_kill=False)
    assert minimal_block_coalition(p2, gs2).size == 2


def test_v2_overlapping_seats_shrink_coalitions():
    # A proposer who is also a triumvir: one party fewer.
    p = make_policy("v2_two_stage")
    e = Electorate(
        bodies={"proposers": ("t1",), "triumvirate": TRI, "economic": ECON, "building": BUILD}
    )
    gs = p.init(0, e)
    assert minimal_pass_coalition(p, gs).size == 2
    # One organisation holding all three Triumvirate seats: one party passes with the proposer.
    groups = {"t1": "otf", "t2": "otf", "t3": "otf"}
    assert minimal_pass_coalition(p, gs, groups).size == 1


# ----------------------------------------------------------------------------- capture: others
def test_sudo_and_multisig_key_control():
    sudo = make_policy("sudo")
    gs = sudo.init(0, Electorate(bodies={"sudo": ("key",)}))
    assert key_control_nakamoto(sudo, gs) == 1
    assert effective_exit_window(sudo, LEVER, 7_200) == 1 - 7_200
    ms = make_policy("multisig", k=2, n=3)
    gs = ms.init(0, Electorate(bodies={"signers": ("const", "s2", "s3")}))
    assert key_control_nakamoto(ms, gs) == 2
    assert minimal_block_coalition(ms, gs).size == 2
    # Covenant's claim: the signers follow one person → one key.
    actors = [Actor(s, group="const") for s in ("const", "s2", "s3")]
    assert key_control_nakamoto(ms, gs, independence_groups(actors, 1.0)) == 1
    assert key_control_nakamoto(ms, gs, independence_groups(actors, 0.9)) == 2


def test_v1_capture_is_triumvir_plus_seven_senators_plus_root():
    p = make_policy("v1_senate")
    stakes = {f"s{i}": 100.0 - i for i in range(20)}
    gs = p.init(0, Electorate(stakes=stakes, bodies={"triumvirate": TRI}))
    best = minimal_pass_coalition(p, gs)
    assert best.size == 1 + 7 + 1
    assert minimal_block_coalition(p, gs).parties == ("root",)


def test_stake_cosmos_opengov_timelock_market_only():
    stakes = {"a": 40.0, "b": 30.0, "c": 20.0, "d": 10.0}
    sv = make_policy("stake_vote")
    gs = sv.init(0, Electorate(stakes=stakes))
    assert minimal_pass_coalition(sv, gs).size == nakamoto_coefficient(stakes, 0.5) == 2
    cos = make_policy("cosmos")
    gs = cos.init(0, Electorate(stakes=stakes))
    assert minimal_pass_coalition(cos, gs).size == 1  # 40 % ≥ quorum, unopposed
    assert minimal_block_coalition(cos, gs).size == 1  # 40 % NoWithVeto > 33.4 %
    assert key_control_nakamoto(cos, gs) is None
    og = make_policy("opengov")
    gs = og.init(0, Electorate(stakes=stakes, bodies={"fellowship": ("f",)}))
    best = minimal_pass_coalition(og, gs)
    assert best.path == "largest_holder_unopposed" and best.size == 1
    assert best.delay > og.enforced_delay(LEVER)  # the slow path: support curve must fall to 40 %
    tl = make_policy("timelock", delay_blocks=50_400)
    gs = tl.init(0, Electorate(bodies={"signers": ("x", "y", "z"), "guardians": ("g",)}))
    assert key_control_nakamoto(tl, gs) is None
    assert effective_exit_window(tl, LEVER, 7_200) == 50_400 - 7_200
    mo = make_policy("market_only")
    gs = mo.init(0, Electorate(stakes=stakes))
    assert minimal_pass_coalition(mo, gs) is None and effective_exit_window(mo, LEVER, 1) is None


def test_decentralisation_report_fields():
    p, gs = v2_state()
    rep = decentralisation_report(p, gs, LEVER, exit_blocks=3_600, emission=[0.07, 0.5, 0.43])
    assert rep.key_control_nc == 27 and rep.min_pass.size == 3 and rep.min_block.size == 1
    assert rep.exit_window == 1 - 3_600
    assert rep.voting_power.nc_half > 1 and rep.emission is not None


# ----------------------------------------------------------------------------- actors
def test_intents_vote_as_designed():
    rng = np.random.default_rng(0)
    ref = make_policy("multisig", k=1, n=1).init(0, Electorate(bodies={"signers": ("x",)}))
    ctx_harm = DecisionContext(harmful=True, block=5, target_netuid=3, captor_wants=True)
    actors = [
        Actor("good", Intent.BENEVOLENT_COMPETENT),
        Actor("captured", Intent.CAPTURED),
        Actor("owner3", Intent.SELF_INTERESTED, interests=frozenset({3})),
        Actor("rival", Intent.SELF_INTERESTED, rivals=frozenset({3})),
    ]
    from protocol.governance import Referendum

    prop = Referendum(0, "x", LEVER, "t", RefState.ONGOING, 0, None)
    votes = {v.voter: v.aye for v in decide_votes(actors, prop, ctx_harm, rng)}
    assert votes == {"captured": True, "good": False, "owner3": False, "rival": True}
    erring = [Actor(f"e{i}", Intent.BENEVOLENT_ERRING, error_rate=0.3) for i in range(2_000)]
    ayes = sum(v.aye for v in decide_votes(erring, prop, ctx_harm, rng))
    assert 0.25 < ayes / 2_000 < 0.35
    assert ref.block == 0


def test_correlation_makes_a_group_vote_as_one_and_is_seeded():
    prop_voters = tuple(f"s{i}" for i in range(50))
    from protocol.governance import Referendum

    prop = Referendum(
        0, "x", LEVER, "t", RefState.ONGOING, 0, None, voters=prop_voters, weights=(1.0,) * 50
    )
    actors = [Actor(v, Intent.BENEVOLENT_ERRING, error_rate=0.5, group="org") for v in prop_voters]
    ctx = DecisionContext(harmful=False, block=1)
    one = decide_votes(actors, prop, ctx, np.random.default_rng(1), correlation=1.0)
    assert len({v.aye for v in one}) == 1
    loose = decide_votes(actors, prop, ctx, np.random.default_rng(1), correlation=0.0)
    assert len({v.aye for v in loose}) == 2
    again = decide_votes(actors, prop, ctx, np.random.default_rng(1), correlation=0.0)
    assert loose == again
    with pytest.raises(GovernanceError):
        Actor("bad", error_rate=1.5)


def test_cast_votes_drives_a_policy():
    p = make_policy("multisig", k=2, n=3)
    gs = p.init(0, Electorate(bodies={"signers": ("a", "b", "c")}))
    gs, pid = p.propose(gs, "a", LEVER, 0)
    actors = [Actor(s, Intent.CAPTURED) for s in ("a", "b", "c")]
    votes = decide_votes(
        actors, gs.ref(pid), DecisionContext(harmful=True, block=3), np.random.default_rng(0)
    )
    gs = cast_votes(p, gs, votes)
    gs, ev = p.advance(gs, 4)
    assert [e.kind for e in ev if e.kind == "executed"] == ["executed"]


# ----------------------------------------------------------------------------- third party
class AnyoneNextBlock(MultisigPolicy):
    """A third-party policy: a 1-of-1 key on the body 'owner' (defined outside govsim)."""


def test_third_party_policy_by_dotted_path_and_entry_point(monkeypatch):
    p = make_policy(
        "tests.protocol.test_governance_metrics:AnyoneNextBlock", k=1, n=1, body="owner"
    )
    gs = p.init(0, Electorate(bodies={"owner": ("me",)}))
    gs, _ = p.propose(gs, "me", LEVER, 0)
    gs, ev = p.advance(gs, 1)
    assert [e.kind for e in ev] == ["approved", "executed"]

    import protocol.registry as reg

    ep = EntryPoint(
        "anyone", "tests.protocol.test_governance_metrics:AnyoneNextBlock", "govsim.policies"
    )
    monkeypatch.setattr(
        reg, "entry_points", lambda group: [ep] if group == "govsim.policies" else []
    )
    assert type(make_policy("anyone", k=1, n=1)).__name__ == "AnyoneNextBlock"


def test_signer_correlation_config_and_fastest_delay():
    from protocol.governance.metrics import fastest_delay

    ms = make_policy("multisig", k=2, n=3, signer_correlation=1.0)
    gs = ms.init(0, Electorate(bodies={"signers": ("x", "y", "z")}))
    assert key_control_nakamoto(ms, gs) == 1
    p, gs = v2_state()
    assert fastest_delay(p, gs, 3) == 7_200
    assert fastest_delay(p, gs, 27) == 1
    assert fastest_delay(p, gs, 2) is None


def test_cosmos_delegation_concentrates_parties():
    cos = make_policy("cosmos")
    stakes = {"val": 10.0, "d1": 30.0, "d2": 30.0, "x": 15.0, "y": 15.0}
    gs = cos.init(0, Electorate(stakes=stakes, delegations={"d1": "val", "d2": "val"}))
    assert minimal_block_coalition(cos, gs).parties == ("val",)
    gs = cos.init(0, Electorate(stakes=stakes))
    assert minimal_block_coalition(cos, gs).size == 2
