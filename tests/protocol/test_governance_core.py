"""Rules of sudo, multisig, v1_senate and v2 (scripted votes), config errors, dotted-path loading."""

from __future__ import annotations

import pickle

import pytest

from protocol.governance import (
    Electorate,
    GovernanceError,
    PolicyConfigError,
    RefState,
    SubnetInfo,
    make_policy,
)
from protocol.governance.v2_two_stage import V2Config, review_delay
from protocol.levers import DissolveSubnet, SuspendEmissions

LEVER = SuspendEmissions(netuid=3)
TRI = ("t1", "t2", "t3")
ECON = tuple(f"e{i}" for i in range(16))
BUILD = tuple(f"b{i}" for i in range(16))


def v2_electorate(**kw) -> Electorate:
    bodies = {"proposers": ("p1", "p2"), "triumvirate": TRI, "economic": ECON, "building": BUILD}
    bodies.update(kw)
    return Electorate(stakes=dict.fromkeys(ECON, 10.0), bodies=bodies)


def executed(events):
    return [e for e in events if e.kind == "executed"]


# ----------------------------------------------------------------------------- sudo / multisig
def test_sudo_executes_next_block_and_logs():
    p = make_policy("sudo")
    gs = p.init(0, Electorate(bodies={"sudo": ("const",)}))
    gs, _pid = p.propose(gs, "const", LEVER, 100)
    gs, ev = p.advance(gs, 100)
    assert executed(ev) == []
    gs, ev = p.advance(gs, 101)
    assert [(e.kind, e.block, e.lever) for e in executed(ev)] == [("executed", 101, LEVER)]
    rec = gs.log[0]
    assert (rec.proposer, rec.submitted, rec.decided, rec.executed) == ("const", 100, 100, 101)
    with pytest.raises(GovernanceError):
        p.propose(gs, "mallory", LEVER, 102)
    assert p.enforced_delay(LEVER) == 1


def test_multisig_needs_k_signatures():
    p = make_policy("multisig", k=2, n=3)
    gs = p.init(0, Electorate(bodies={"signers": ("a", "b", "c")}))
    gs, pid = p.propose(gs, "a", LEVER, 10)
    gs, ev = p.advance(gs, 5_000)
    assert executed(ev) == [] and gs.ref(pid).state == RefState.ONGOING
    gs = p.sign(gs, "b", pid, 5_000)
    gs, ev = p.advance(gs, 5_001)
    assert [e.block for e in executed(ev)] == [5_001]


def test_multisig_rejected_when_unreachable_and_expiry():
    p = make_policy("multisig", k=3, n=3, expiry_blocks=100)
    gs = p.init(0, Electorate(bodies={"signers": ("a", "b", "c")}))
    gs, pid = p.propose(gs, "a", LEVER, 0)
    gs = p.vote(gs, "b", pid, False, 1)
    assert gs.ref(pid).state == RefState.REJECTED
    gs, pid2 = p.propose(gs, "a", LEVER, 2)
    gs = p.sign(gs, "b", pid2, 50)
    gs, ev = p.advance(gs, 500)
    assert gs.ref(pid2).state == RefState.EXPIRED and [
        e.block for e in ev if e.kind == "expired"
    ] == [102]
    with pytest.raises(GovernanceError):
        p.sign(gs, "c", pid2, 501)


def test_multisig_electorate_must_match_n():
    with pytest.raises(GovernanceError, match="signers"):
        make_policy("multisig", n=3).init(0, Electorate(bodies={"signers": ("a", "b")}))


# ----------------------------------------------------------------------------- config / registry
@pytest.mark.parametrize(
    ("name", "config", "field"),
    [
        ("multisig", {"k": 4, "n": 3}, "k"),
        ("multisig", {"k": "two"}, "k"),
        ("v2_two_stage", {"initial_delay": 20_000}, "initial_delay"),
        ("v2_two_stage", {"curve": "quartic"}, "curve"),
        ("v2_two_stage", {"fast_track_threshold": 1.5}, "fast_track_threshold"),
        ("v1_senate", {"motion_duration": 100}, "motion_duration"),
        ("v1_senate", {"senat_size": 12}, "senat_size"),
    ],
)
def test_malformed_config_names_field(name, config, field):
    with pytest.raises(PolicyConfigError) as info:
        make_policy(name, config)
    assert str(info.value).startswith(f"{field}:")
    assert isinstance(info.value, ValueError)


def test_policy_and_state_pickle_roundtrip():
    p = make_policy("v2_two_stage")
    gs = p.init(0, v2_electorate())
    gs, _ = p.propose(gs, "p1", LEVER, 1)
    p2, gs2 = pickle.loads(pickle.dumps((p, gs)))
    assert p2 == p and gs2 == gs


# ----------------------------------------------------------------------------- v1 senate
def v1_setup(**cfg):
    p = make_policy("v1_senate", **cfg)
    stakes = {f"s{i}": 100.0 - i for i in range(15)}
    gs = p.init(0, Electorate(stakes=stakes, bodies={"triumvirate": TRI}))
    return p, gs


def test_v1_senate_is_top_12_and_needs_7():
    p, gs = v1_setup()
    assert gs.seat("senate") == tuple(f"s{i}" for i in range(12))
    gs, pid = p.propose(gs, "t1", LEVER, 0)
    for i in range(6):
        gs = p.vote(gs, f"s{i}", pid, True, 10 + i)
    gs, ev = p.advance(gs, 3_000)
    assert executed(ev) == []
    gs = p.vote(gs, "s6", pid, True, 3_000)
    gs, ev = p.advance(gs, 3_000)
    assert [e.block for e in executed(ev)] == [3_000]
    with pytest.raises(GovernanceError):
        p.propose(gs, "s0", LEVER, 3_001)


def test_v1_at_end_waits_motion_and_root_veto():
    p, gs = v1_setup(close_mode="at_end")
    gs, pid = p.propose(gs, "t1", LEVER, 0)
    for i in range(7):
        gs = p.vote(gs, f"s{i}", pid, True, 1)
    gs, ev = p.advance(gs, 3_599)
    assert executed(ev) == []
    gs, ev = p.advance(gs, 3_600)
    assert [e.block for e in executed(ev)] == [3_600]
    gs, pid = p.propose(gs, "t2", LEVER, 4_000)
    with pytest.raises(GovernanceError):
        p.cancel(gs, "s0", pid, 4_001)
    gs = p.veto(gs, "root", pid, 4_001)
    gs, ev = p.advance(gs, 20_000)
    assert gs.ref(pid).state == RefState.CANCELLED and executed(ev) == []


def test_v1_expires_and_rejects():
    p, gs = v1_setup()
    gs, pid = p.propose(gs, "t1", LEVER, 0)
    gs, _ev = p.advance(gs, 3_600)
    assert gs.ref(pid).state == RefState.EXPIRED
    gs, pid = p.propose(gs, "t1", LEVER, 4_000)
    for i in range(6):
        gs = p.vote(gs, f"s{i}", pid, False, 4_001)
    assert gs.ref(pid).state == RefState.REJECTED


# ----------------------------------------------------------------------------- v2
def v2_to_review(p, gs, block=0):
    gs, pid = p.propose(gs, "p1", LEVER, block)
    gs = p.vote(gs, "t1", pid, True, block)
    gs = p.vote(gs, "t2", pid, True, block)
    return gs, gs.ref(pid).child


def test_v2_default_24h_delay():
    p = make_policy("v2_two_stage")
    gs = p.init(0, v2_electorate())
    gs, pid = p.propose(gs, "p1", LEVER, 100)
    gs = p.vote(gs, "t1", pid, True, 200)
    assert gs.ref(pid).state == RefState.ONGOING
    gs = p.vote(gs, "t3", pid, True, 300)
    assert gs.ref(pid).state == RefState.DELEGATED
    child = gs.ref(pid).child
    assert len(gs.ref(child).voters) == 32
    gs, ev = p.advance(gs, 300 + 7_199)
    assert executed(ev) == []
    gs, ev = p.advance(gs, 300 + 7_200)
    assert [e.block for e in executed(ev)] == [7_500]
    rec = gs.log[0]
    assert rec.submitted == 100 and rec.executed == 7_500 and len(rec.votes) == 2


def test_v2_fast_track_at_75_percent_not_below():
    p = make_policy("v2_two_stage")
    gs = p.init(0, v2_electorate())
    gs, child = v2_to_review(p, gs)
    reviewers = gs.ref(child).voters
    for who in reviewers[24:]:
        gs = p.vote(gs, who, child, False, 1)  # 8 nays keep the shaped delay well above 0
    for i, who in enumerate(reviewers[:23]):
        gs = p.vote(gs, who, child, True, 2 + i)
    assert gs.ref(child).state == RefState.ONGOING
    assert gs.ref(child).scheduled == 380  # 24 h · (1 − curved((23 − 8)/32 / 0.75))
    gs = p.vote(gs, reviewers[23], child, True, 40)
    assert gs.ref(child).state == RefState.FAST_TRACKED
    gs, ev = p.advance(gs, 41)
    assert [e.block for e in executed(ev)] == [41]


def test_v2_review_cancel_17_of_32_and_root_kill():
    p = make_policy("v2_two_stage")
    gs = p.init(0, v2_electorate())
    gs, child = v2_to_review(p, gs)
    reviewers = gs.ref(child).voters
    for who in reviewers[:16]:
        gs = p.vote(gs, who, child, False, 5)
    assert gs.ref(child).state == RefState.ONGOING
    assert gs.ref(child).scheduled > 7_200  # nays stretch the delay toward 48 h
    gs = p.vote(gs, reviewers[16], child, False, 6)
    assert gs.ref(child).state == RefState.CANCELLED
    gs, child2 = v2_to_review(p, gs, 100)
    with pytest.raises(GovernanceError):
        p.kill(gs, "t1", child2, 101)
    gs = p.kill(gs, "root", child2, 101)
    gs, ev = p.advance(gs, 50_000)
    assert executed(ev) == [] and gs.ref(child2).state == RefState.KILLED


def test_v2_triumvirate_reject_expire_and_proposer_rules():
    p = make_policy("v2_two_stage")
    gs = p.init(0, v2_electorate())
    with pytest.raises(GovernanceError):
        p.propose(gs, "t1", LEVER, 0)
    gs, pid = p.propose(gs, "p1", LEVER, 0)
    gs = p.vote(gs, "t1", pid, False, 1)
    gs = p.vote(gs, "t2", pid, False, 2)
    assert gs.ref(pid).state == RefState.REJECTED
    gs, pid = p.propose(gs, "p1", LEVER, 10)
    gs = p.vote(gs, "t1", pid, True, 11)
    gs, ev = p.advance(gs, 10 + 50_400)
    assert gs.ref(pid).state == RefState.EXPIRED and executed(ev) == []
    for b in range(5):
        gs, _ = p.propose(gs, "p2", DissolveSubnet(b), 60_000)
    with pytest.raises(GovernanceError, match="MaxActivePerProposer"):
        p.propose(gs, "p2", LEVER, 60_000)


def test_review_delay_curve_shape():
    cfg = V2Config()
    assert review_delay(0, 0, 32, cfg) == 7_200
    assert review_delay(24, 0, 32, cfg) == 0
    assert review_delay(0, 17, 32, cfg) == 14_400
    ups = [review_delay(a, 0, 32, cfg) for a in range(25)]
    assert ups == sorted(ups, reverse=True)
    lin = V2Config(curve="linear")
    assert review_delay(12, 0, 32, cfg) < review_delay(12, 0, 32, lin)  # ease-out cubic is faster


def test_v2_draft_exponential_delay_and_17_cancel():
    p = make_policy("v2_1h_draft")
    gs = p.init(0, v2_electorate())
    gs, child = v2_to_review(p, gs)
    rv = gs.ref(child).voters
    gs = p.vote(gs, rv[0], child, False, 1)
    gs = p.vote(gs, rv[1], child, False, 2)
    assert gs.ref(child).scheduled == 1_200  # 1 h · 2^2
    gs = p.vote(gs, rv[2], child, True, 3)
    assert gs.ref(child).scheduled == 600
    gs, ev = p.advance(gs, 600)
    assert [e.block for e in executed(ev)] == [600]


def test_v2_rotation_every_60_days_and_snapshot():
    p = make_policy("v2_two_stage", ema_min_samples=0)
    stakes = {f"v{i}": 100.0 - i for i in range(20)}
    subnets = tuple(SubnetInfo(n, f"o{n}", -1_000_000, float(n)) for n in range(20))
    e = Electorate(
        stakes=stakes, bodies={"proposers": ("p1",), "triumvirate": TRI}, subnets=subnets
    )
    gs = p.init(0, e)
    assert gs.seat("economic") == tuple(f"v{i}" for i in range(16))
    assert gs.seat("building") == ()  # 1 000 000 blocks old: not yet 180 days
    gs, child = v2_to_review(p, gs, 431_000)
    before = gs.ref(child).voters
    whale = dict(stakes, whale=1e6)
    gs = p.update_electorate(
        gs, Electorate(stakes=whale, bodies=e.bodies, subnets=subnets), 431_500
    )
    assert "whale" not in gs.seat("economic")  # seats change only at the term boundary
    gs, ev = p.advance(gs, 432_000)
    assert any(x.kind == "rotated" and x.block == 432_000 for x in ev)
    assert "whale" in gs.seat("economic")
    assert gs.seat("building")[0] == "o19" and len(gs.seat("building")) == 16
    assert gs.ref(child).voters == before  # the open poll keeps its snapshot


def test_dotted_path_third_party_policy():
    p = make_policy("protocol.governance.multisig:MultisigPolicy", k=1, n=1)
    assert p.config.k == 1
    from protocol.registry import RegistryError

    with pytest.raises(RegistryError):
        make_policy("protocol.levers:Lever")


def test_v2_dynamic_voter_set_uses_current_reviewers():
    p = make_policy("v2_two_stage", snapshot_voters=False, term=1_000)
    gs = p.init(0, v2_electorate())
    gs, child = v2_to_review(p, gs)
    newcomer = tuple(f"n{i}" for i in range(16))
    gs = p.update_electorate(gs, v2_electorate(economic=newcomer), 500)
    gs, _ = p.advance(gs, 1_000)  # rotation: the Economic seats are now the newcomers
    assert gs.seat("economic") == newcomer
    with pytest.raises(GovernanceError):
        p.vote(gs, "e0", child, False, 1_001)
    for who in newcomer + BUILD[:1]:
        gs = p.vote(gs, who, child, False, 1_001)
    assert gs.ref(child).state == RefState.CANCELLED


def test_describe_lists_name_and_config():
    d = make_policy("v2_1h_draft").describe()
    assert d["name"] == "v2_1h_draft" and d["config"]["initial_delay"] == 300
    assert d["summary"].startswith("The V2 draft")


def test_time_never_runs_backward_and_stakes_are_checked():
    p = make_policy("sudo")
    gs = p.init(10, Electorate(bodies={"sudo": ("k",)}))
    with pytest.raises(GovernanceError, match="time runs forward"):
        p.advance(gs, 9)
    with pytest.raises(GovernanceError, match="stakes"):
        Electorate(stakes={"x": -1.0})


def test_v1_senate_follows_stake_at_once():
    p, gs = v1_setup()
    stakes = {f"s{i}": 100.0 - i for i in range(15)}
    stakes["whale"] = 1_000.0
    gs = p.update_electorate(gs, Electorate(stakes=stakes, bodies={"triumvirate": TRI}), 10)
    assert gs.seat("senate")[0] == "whale" and "s11" not in gs.seat("senate")


def test_spec_preset_names_resolve_without_duplicating_the_registry():
    from protocol.governance import POLICIES

    assert make_policy("v2_24h").name == "v2_two_stage"
    assert make_policy("multisig_timelock").name == "timelock"
    assert "v2_24h" not in POLICIES.names() and len(POLICIES.names()) == 12


def test_sudo_retained_flag_bypasses_v1_and_v2():
    from protocol.governance.metrics import key_control_nakamoto

    p = make_policy("v2_two_stage")
    gs = p.init(0, v2_electorate())
    with pytest.raises(GovernanceError, match="sudo_retained"):
        p.propose(gs, "root", LEVER, 0, track="sudo")
    assert key_control_nakamoto(p, gs) == 27
    p = make_policy("v2_two_stage", sudo_retained=True)
    gs = p.init(0, v2_electorate())
    with pytest.raises(GovernanceError):
        p.propose(gs, "p1", LEVER, 0, track="sudo")
    gs, _ = p.propose(gs, "root", LEVER, 5, track="sudo")
    gs, ev = p.advance(gs, 6)
    assert [e.block for e in executed(ev)] == [6] and gs.log[0].track == "sudo"
    assert key_control_nakamoto(p, gs) == 1
    v1 = make_policy("v1_senate", close_mode="at_end", sudo_retained=True)
    gs = v1.init(0, Electorate(stakes={"s": 1.0}, bodies={"triumvirate": TRI}))
    gs, _ = v1.propose(gs, "root", LEVER, 0, track="sudo")
    gs, ev = v1.advance(gs, 1)
    assert len(executed(ev)) == 1 and v1.enforced_delay(LEVER) == 1
