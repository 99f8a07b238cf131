"""Rules of stake_vote, timelock, cosmos, opengov, futarchy, constitutional and market_only."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.governance import Electorate, GovernanceError, RefState, make_policy
from protocol.governance.opengov import OpenGovPolicy
from protocol.levers import DissolveSubnet, ResumeChain, SetRegistrationAllowed, SuspendEmissions

LEVER = SuspendEmissions(netuid=3)


def kinds(events, kind):
    return [e for e in events if e.kind == kind]


# ----------------------------------------------------------------------------- stake_vote
def stake_setup(**cfg):
    p = make_policy("stake_vote", **cfg)
    stakes = {"a": 30.0, "b": 21.0, "c": 25.0, "d": 24.0}
    return p, p.init(0, Electorate(stakes=stakes))


def test_stake_vote_needs_more_than_half_and_waits_for_epoch():
    p, gs = stake_setup()
    gs, pid = p.propose(gs, "a", LEVER, 10)
    gs = p.vote(gs, "a", pid, True, 10)
    gs = p.vote(gs, "c", pid, True, 20)  # 55 % of registered root stake
    gs, ev = p.advance(gs, 359)
    assert kinds(ev, "executed") == []
    gs, ev = p.advance(gs, 720)
    assert [e.block for e in kinds(ev, "executed")] == [360]
    # Support falls under 50 % → lifted at the next epoch with the inverse lever.
    gs = p.vote(gs, "c", pid, False, 800)
    gs, ev = p.advance(gs, 1_080)
    rev = kinds(ev, "reverted")
    assert [e.block for e in rev] == [1_080]
    assert rev[0].lever == SuspendEmissions(netuid=3, enabled=True)


def test_stake_vote_exactly_half_does_not_pass_and_stakes_recompute():
    p, gs = stake_setup()
    gs, pid = p.propose(gs, "a", LEVER, 0)
    gs = p.vote(gs, "a", pid, True, 1)
    gs = p.vote(gs, "b", pid, True, 1)  # 51 of 100 > 50 %
    gs = p.update_electorate(gs, Electorate(stakes={"a": 30.0, "b": 20.0, "c": 25.0, "d": 25.0}), 5)
    gs, ev = p.advance(gs, 2_000)  # 50 of 100 is not more than half
    assert kinds(ev, "executed") == []


def test_stake_vote_vote_at_epoch_block_counts_next_epoch_and_root_override():
    p, gs = stake_setup()
    gs, pid = p.propose(gs, "a", LEVER, 0)
    gs = p.vote(gs, "a", pid, True, 360)
    gs = p.vote(gs, "c", pid, True, 360)
    gs, ev = p.advance(gs, 719)
    assert kinds(ev, "executed") == []
    gs, ev = p.advance(gs, 720)
    assert [e.block for e in kinds(ev, "executed")] == [720]
    with pytest.raises(GovernanceError):
        p.cancel(gs, "a", pid, 721)
    gs = p.cancel(gs, "root", pid, 721)
    gs, ev = p.advance(gs, 721)
    assert gs.ref(pid).state == RefState.CANCELLED and len(kinds(ev, "reverted")) == 1


# ----------------------------------------------------------------------------- timelock
def timelock_setup(**cfg):
    p = make_policy("timelock", k=2, n=3, **cfg)
    e = Electorate(bodies={"signers": ("a", "b", "c"), "guardians": ("g",)})
    return p, p.init(0, e)


def test_timelock_waits_delay_and_guardian_cancels():
    p, gs = timelock_setup()
    gs, pid = p.propose(gs, "a", LEVER, 0)
    gs = p.sign(gs, "b", pid, 100)
    assert gs.ref(pid).state == RefState.APPROVED
    gs, ev = p.advance(gs, 100 + 14_399)
    assert kinds(ev, "executed") == []
    gs, ev = p.advance(gs, 100 + 14_400)
    assert [e.block for e in kinds(ev, "executed")] == [14_500]
    gs, pid = p.propose(gs, "a", LEVER, 20_000)
    gs = p.sign(gs, "c", pid, 20_001)
    with pytest.raises(GovernanceError):
        p.cancel(gs, "a", pid, 20_002)
    gs = p.cancel(gs, "g", pid, 20_002)
    gs, ev = p.advance(gs, 100_000)
    assert kinds(ev, "executed") == [] and gs.ref(pid).state == RefState.CANCELLED


def test_timelock_bounds_and_grace():
    from protocol.governance import PolicyConfigError

    with pytest.raises(PolicyConfigError, match=r"^delay_blocks"):
        make_policy("timelock", delay_blocks=7_200)
    with pytest.raises(PolicyConfigError, match=r"^delay_blocks"):
        make_policy("timelock", delay_blocks=216_001)
    p, gs = timelock_setup(auto_execute=False)
    gs, pid = p.propose(gs, "a", LEVER, 0)
    gs = p.sign(gs, "b", pid, 0)
    with pytest.raises(GovernanceError):
        p.execute(gs, "a", pid, 14_399)
    gs2 = p.execute(gs, "a", pid, 14_400)
    assert gs2.ref(pid).executed == 14_400
    gs3, ev = p.advance(gs, 14_400 + 100_801)
    assert gs3.ref(pid).state == RefState.EXPIRED and kinds(ev, "executed") == []


# ----------------------------------------------------------------------------- cosmos
def cosmos_setup(**cfg):
    p = make_policy("cosmos", **cfg)
    stakes = {f"v{i}": 10.0 for i in range(10)}
    return p, p.init(0, Electorate(stakes=stakes))


def test_cosmos_quorum_threshold_veto():
    p, gs = cosmos_setup()
    gs, pid = p.propose(gs, "v0", LEVER, 0)
    for i in range(3):  # 30 % turnout < 33.4 % quorum
        gs = p.vote(gs, f"v{i}", pid, True, 1)
    gs, ev = p.advance(gs, 14_400)
    assert gs.ref(pid).state == RefState.REJECTED
    gs, pid = p.propose(gs, "v0", LEVER, 20_000)
    for i in range(4):
        gs = p.vote(gs, f"v{i}", pid, True, 20_001)
    gs, ev = p.advance(gs, 20_000 + 14_399)
    assert kinds(ev, "executed") == []
    gs, ev = p.advance(gs, 20_000 + 14_401)
    assert [e.block for e in kinds(ev, "executed")] == [34_401]
    gs, pid = p.propose(gs, "v0", LEVER, 40_000)
    for i in range(6):
        gs = p.vote(gs, f"v{i}", pid, True, 40_001)
    for i in range(6, 10):  # 40 % NoWithVeto > 33.4 %
        gs = p.vote(gs, f"v{i}", pid, False, 40_001, veto=True)
    gs, ev = p.advance(gs, 60_000)
    assert gs.ref(pid).state == RefState.REJECTED and gs.ref(pid).get("deposit_burned") == 1.0


def test_cosmos_abstain_and_tie_and_expedited_fallback():
    p, gs = cosmos_setup()
    gs, pid = p.propose(gs, "v0", LEVER, 0)
    for i in range(2):
        gs = p.vote(gs, f"v{i}", pid, True, 1)
    for i in range(2, 4):
        gs = p.vote(gs, f"v{i}", pid, False, 1)
    gs = p.vote(gs, "v4", pid, False, 1, abstain=True)
    gs, _ = p.advance(gs, 14_400)
    assert gs.ref(pid).state == RefState.REJECTED  # yes 50 % of non-abstain is not > 50 %
    gs, pid = p.propose(gs, "v0", LEVER, 20_000, track="expedited")
    for i in range(10):  # 60 % yes: enough for regular, not for expedited 66.7 %
        gs = p.vote(gs, f"v{i}", pid, i < 6, 20_001)
    gs, ev = p.advance(gs, 27_200)
    assert gs.ref(pid).state == RefState.ONGOING and gs.ref(pid).track == "regular"
    gs, ev = p.advance(gs, 34_401)
    assert [e.block for e in kinds(ev, "executed")] == [34_401]
    gs, pid = p.propose(gs, "v1", LEVER, 40_000)
    with pytest.raises(GovernanceError):
        p.cancel(gs, "v2", pid, 40_001)
    gs = p.cancel(gs, "v1", pid, 40_001)
    assert gs.ref(pid).state == RefState.CANCELLED


# ----------------------------------------------------------------------------- opengov
def opengov_setup():
    p = make_policy("opengov")
    stakes = {f"h{i}": 10.0 for i in range(10)}
    e = Electorate(
        stakes=stakes, bodies={"fellowship": ("f",), "cancellers": ("c",), "killers": ("k",)}
    )
    return p, p.init(0, e)


def test_opengov_curves_match_polkadot():
    p = make_policy("opengov")
    assert p.approval_needed(0.0, "root") == pytest.approx(1.0)
    assert p.approval_needed(4 / 28, "root") == pytest.approx(0.8)
    assert p.approval_needed(1.0, "root") == pytest.approx(0.5)
    assert p.support_needed(0.5, "root") == pytest.approx(0.25)
    assert p.support_needed(1 / 28, "whitelisted") == pytest.approx(0.2)


def test_opengov_fastest_root_path_is_prepare_confirm_enactment():
    p, gs = opengov_setup()
    gs, pid = p.propose(gs, "h0", LEVER, 0)
    for i in range(5):  # 50 % support, 100 % approval
        gs = p.vote(gs, f"h{i}", pid, True, 0, conviction=1)
    gs, ev = p.advance(gs, 600 + 7_200 - 1)
    assert gs.ref(pid).confirm_since == 600 and gs.ref(pid).state == RefState.ONGOING
    gs, ev = p.advance(gs, 600 + 7_200 + 7_199)
    assert kinds(ev, "approved")[0].block == 7_800 and kinds(ev, "executed") == []
    gs, ev = p.advance(gs, 15_000)
    assert [e.block for e in kinds(ev, "executed")] == [15_000]


def test_opengov_confirm_aborts_and_decision_period_rejects():
    p, gs = opengov_setup()
    gs, pid = p.propose(gs, "h0", LEVER, 0)
    for i in range(5):
        gs = p.vote(gs, f"h{i}", pid, True, 0, conviction=1)
    gs = p.vote(gs, "h5", pid, False, 1_000, conviction=6)  # approval 5/11 < 50 %
    assert gs.ref(pid).confirm_since is None
    gs, ev = p.advance(gs, 600 + 201_600)
    assert gs.ref(pid).state == RefState.REJECTED and kinds(ev, "executed") == []


def test_opengov_support_curve_lets_small_stake_pass_late():
    p, gs = opengov_setup()
    gs, pid = p.propose(gs, "h0", LEVER, 0)
    gs = p.vote(gs, "h0", pid, True, 0)  # 10 % support: passes once the curve falls to 10 %
    gs, ev = p.advance(gs, 250_000)
    t = kinds(ev, "executed")[0].block
    x = (t - 600 - 7_200 - 7_200) / 201_600
    assert p.support_needed(x, "root") <= 0.1 + 1e-9
    assert p.support_needed(x - 2 / 201_600, "root") > 0.1


def test_opengov_whitelisted_fast_path_and_cancel_kill():
    p, gs = opengov_setup()
    with pytest.raises(GovernanceError):
        p.propose(gs, "h0", LEVER, 0, track="whitelisted")
    gs, pid = p.propose(gs, "f", LEVER, 0, track="whitelisted")
    for i in range(5):
        gs = p.vote(gs, f"h{i}", pid, True, 0, conviction=1)
    gs, ev = p.advance(gs, 249)
    assert kinds(ev, "executed") == []
    gs, ev = p.advance(gs, 250)
    assert [e.block for e in kinds(ev, "executed")] == [250]
    assert p.enforced_delay(LEVER) == 250
    gs, pid = p.propose(gs, "h0", LEVER, 1_000)
    gs = p.cancel(gs, "c", pid, 1_001)
    gs, pid = p.propose(gs, "h0", LEVER, 2_000)
    with pytest.raises(GovernanceError):
        p.kill(gs, "c", pid, 2_001)
    gs = p.kill(gs, "k", pid, 2_001)
    assert gs.ref(pid).state == RefState.KILLED


def test_opengov_root_track_decides_one_at_a_time():
    p, gs = opengov_setup()
    gs, first = p.propose(gs, "h0", LEVER, 0)
    gs, second = p.propose(gs, "h1", DissolveSubnet(4), 0)
    for i in range(5):
        gs = p.vote(gs, f"h{i}", second, True, 0, conviction=1)
    gs, ev = p.advance(gs, 20_000)
    assert "deciding_since" not in dict(gs.ref(second).info)  # the slot is taken by the first
    gs = p.cancel(gs, "c", first, 20_000)
    gs, ev = p.advance(gs, 20_000 + 7_200 + 7_200)
    assert [e.pid for e in kinds(ev, "executed")] == [second]


def test_opengov_undeciding_timeout():
    p, gs = opengov_setup()
    gs, _first = p.propose(gs, "h0", LEVER, 0)
    gs, second = p.propose(gs, "h1", LEVER, 1)
    gs, _ = p.advance(gs, 100_801)
    assert gs.ref(second).state == RefState.EXPIRED
    assert isinstance(p, OpenGovPolicy)


# ----------------------------------------------------------------------------- futarchy
def futarchy_setup(**cfg):
    p = make_policy("futarchy", **cfg)
    stakes = {"bull": 2_000.0, "bear": 500.0, "small": 10.0}
    return p, p.init(0, Electorate(stakes=stakes))


def test_futarchy_passes_only_above_3_percent_after_3_days():
    p, gs = futarchy_setup()
    gs, pid = p.propose(gs, "bull", LEVER, 0)
    gs = p.vote(gs, "bull", pid, True, 0)  # 20 TAO into a 1 000 TAO pool: ratio 1.02^4 ≈ 1.082
    gs, ev = p.advance(gs, 21_599)
    assert kinds(ev, "executed") == []
    gs, ev = p.advance(gs, 21_600)
    assert [e.block for e in kinds(ev, "executed")] == [21_600]
    gs, pid = p.propose(gs, "small", LEVER, 30_000)
    gs = p.vote(gs, "small", pid, True, 30_000)  # 0.1 TAO: far below the 3 % premium
    gs, ev = p.advance(gs, 60_000)
    assert gs.ref(pid).state == RefState.REJECTED


def test_futarchy_twap_weights_time_and_counter_trade():
    p, gs = futarchy_setup()
    gs, pid = p.propose(gs, "bull", LEVER, 0)
    gs = p.vote(gs, "bull", pid, True, 20_000)  # late buy: TWAP barely moves
    gs, _ev = p.advance(gs, 21_600)
    assert gs.ref(pid).state == RefState.REJECTED
    assert p.capital_to_pass() == pytest.approx(((1.03) ** 0.25 - 1) * 1_000 / 0.01)


def test_futarchy_noise_is_seeded():
    p, gs = futarchy_setup(noise_sigma=0.05)
    gs, _pid = p.propose(gs, "bull", LEVER, 0)
    a, _ = p.advance(gs, 100, np.random.default_rng(7))
    b, _ = p.advance(gs, 100, np.random.default_rng(7))
    c, _ = p.advance(gs, 100, np.random.default_rng(8))
    assert a == b and a != c


def test_futarchy_whale_trades_never_empty_a_market():
    # Traders far larger than the markets (rao-scale stakes against 1 000 TAO of liquidity) used
    # to drive a reserve to zero and crash the next trade with a ZeroDivisionError.
    p = make_policy("futarchy")
    stakes = {f"whale{i}": 1e18 for i in range(40)}
    gs = p.init(0, Electorate(stakes=stakes))
    gs, pid = p.propose(gs, "whale0", LEVER, 0)
    for i in range(40):
        gs = p.vote(gs, f"whale{i}", pid, False, 10 * i)  # one-sided selling
    spot_pass, spot_fail = p.prices(gs.ref(pid))
    assert spot_pass > 0 and spot_fail > 0
    assert np.isfinite(spot_pass) and np.isfinite(spot_fail)
    gs, _ev = p.advance(gs, 21_600)
    assert gs.ref(pid).state in (RefState.REJECTED, RefState.ENACTED)


# ----------------------------------------------------------------------------- constitutional
def const_setup(**cfg):
    p = make_policy("constitutional", **cfg)
    stakes = {f"s{i}": 10.0 for i in range(5)}
    pool = tuple(f"j{i}" for i in range(20))
    e = Electorate(stakes=stakes, bodies={"jury_pool": pool, "emergency": ("e1", "e2", "e3")})
    return p, p.init(0, e)


def pass_normal(p, gs, lever, block):
    gs, pid = p.propose(gs, "s0", lever, block)
    for i in range(3):
        gs = p.vote(gs, f"s{i}", pid, True, block)
    for j in gs.ref(pid).voters[:7]:
        gs = p.vote(gs, j, pid, True, block)
    return gs, pid


def test_constitutional_needs_both_chambers_then_timelock_then_lapses():
    p, gs = const_setup()
    gs, _pid = pass_normal(p, gs, LEVER, 0)
    gs, ev = p.advance(gs, 21_600 + 14_399)
    assert kinds(ev, "executed") == []
    gs, ev = p.advance(gs, 36_000)
    assert [e.block for e in kinds(ev, "executed")] == [36_000]
    gs, ev = p.advance(gs, 36_000 + 216_000)
    rev = kinds(ev, "reverted")
    assert [e.block for e in rev] == [252_000] and rev[0].lever == SuspendEmissions(3, enabled=True)


def test_constitutional_jury_minority_blocks_and_renewal_extends():
    p, gs = const_setup()
    gs, pid = p.propose(gs, "s0", LEVER, 0)
    for i in range(5):
        gs = p.vote(gs, f"s{i}", pid, True, 0)
    for j in gs.ref(pid).voters[:6]:  # 6 of 12 jurors is not a majority
        gs = p.vote(gs, j, pid, True, 0)
    gs, _ = p.advance(gs, 21_600)
    assert gs.ref(pid).state == RefState.REJECTED
    gs, _first = pass_normal(p, gs, LEVER, 30_000)
    gs, second = pass_normal(p, gs, LEVER, 200_000)  # re-vote before the lapse at 282 000
    gs, ev = p.advance(gs, 240_000)
    gs, ev = p.advance(gs, 300_000)
    assert kinds(ev, "reverted") == []
    gs, ev = p.advance(gs, 236_000 + 216_000)
    assert [e.pid for e in kinds(ev, "reverted")] == [second]


def test_constitutional_appeal_reverts_and_emergency_pause_lapses():
    p, gs = const_setup()
    gs, pid = pass_normal(p, gs, LEVER, 0)
    gs, _ = p.advance(gs, 36_000)
    gs, appeal = p.appeal(gs, "owner3", pid, 40_000)
    for j in gs.ref(appeal).voters[:7]:
        gs = p.vote(gs, j, appeal, True, 40_001)
    gs, ev = p.advance(gs, 40_000 + 21_600)
    assert [e.lever for e in kinds(ev, "executed")] == [SuspendEmissions(3, enabled=True)]
    gs, ev = p.advance(gs, 400_000)
    assert kinds(ev, "reverted") == []  # overturned: nothing left to lapse
    with pytest.raises(GovernanceError):
        p.appeal(gs, "owner3", pid, 400_001)
    halt = SetRegistrationAllowed(netuid=5, allowed=False)
    with pytest.raises(GovernanceError):
        p.propose(gs, "s0", halt, 400_001, track="emergency")
    with pytest.raises(GovernanceError):
        p.propose(gs, "e1", DissolveSubnet(5), 400_001, track="emergency")
    gs, epid = p.propose(gs, "e1", halt, 400_001, track="emergency")
    gs = p.sign(gs, "e2", epid, 400_002)
    gs, ev = p.advance(gs, 400_003)
    assert [e.block for e in kinds(ev, "executed")] == [400_003]
    gs, ev = p.advance(gs, 400_003 + 7_200)
    assert [(e.block, e.lever) for e in kinds(ev, "reverted")] == [
        (407_203, SetRegistrationAllowed(5, allowed=True))
    ]


def test_jury_draw_is_deterministic():
    p, gs = const_setup(jury_seed=3)
    assert p.draw_jury(gs, 0) == p.draw_jury(gs, 0)
    assert len(set(p.draw_jury(gs, 0))) == 12


# ----------------------------------------------------------------------------- market_only
def test_market_only_refuses_everything():
    p = make_policy("market_only")
    gs = p.init(0, Electorate(stakes={"a": 1.0}))
    assert not p.can_propose(gs, "a", LEVER)
    with pytest.raises(GovernanceError, match="no discretionary"):
        p.propose(gs, "a", ResumeChain(), 1)
    assert p.enforced_delay(LEVER) is None
    gs, ev = p.advance(gs, 10_000_000)
    assert ev == () and gs.log == ()


def test_futarchy_revote_uses_capital_once():
    p, gs = futarchy_setup()
    gs, pid = p.propose(gs, "bull", LEVER, 0)
    gs = p.vote(gs, "small", pid, True, 0)
    once = p.prices(gs.ref(pid))
    gs = p.vote(gs, "small", pid, True, 1)
    assert p.prices(gs.ref(pid)) == once
    gs = p.vote(gs, "small", pid, False, 2)
    pass_price, fail_price = p.prices(gs.ref(pid))
    assert pass_price < 1.0 < fail_price  # flipped: net short pass


def test_cosmos_delegators_inherit_and_override_their_validator():
    p = make_policy("cosmos")
    stakes = {"val": 20.0, "d1": 30.0, "d2": 30.0, "other": 20.0}
    e = Electorate(stakes=stakes, delegations={"d1": "val", "d2": "val"})
    gs = p.init(0, e)
    gs, pid = p.propose(gs, "val", LEVER, 0)
    gs = p.vote(gs, "val", pid, True, 1)  # carries d1 and d2: 80 % yes
    gs, ev = p.advance(gs, 14_401)
    assert len(kinds(ev, "executed")) == 1
    gs, pid = p.propose(gs, "val", LEVER, 20_000)
    gs = p.vote(gs, "val", pid, True, 20_001)
    gs = p.vote(gs, "d1", pid, False, 20_002, veto=True)  # d1 and d2 override: yes keeps 20 of 80
    gs = p.vote(gs, "d2", pid, False, 20_003)
    gs, ev = p.advance(gs, 40_000)
    assert gs.ref(pid).state == RefState.REJECTED and kinds(ev, "executed") == []
