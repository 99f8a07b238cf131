"""Property tests over random action sequences, every policy (docs/governance.md, "The interface"):

* nothing executes before its enforced delay, nor below its threshold or quorum;
* a killed or cancelled proposal never executes;
* every execution is logged with proposer, votes and the blocks of submission ≤ decision ≤
  execution, once per executed event;
* the same inputs give the same state (determinism; no hidden randomness).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.governance import (
    Electorate,
    GovernanceError,
    RefState,
    make_policy,
)
from protocol.governance.v2_two_stage import review_delay
from protocol.levers import DissolveSubnet, SetRegistrationAllowed, SuspendEmissions

LEVERS = (SuspendEmissions(3), SetRegistrationAllowed(4, allowed=False), DissolveSubnet(5))
STAKES = {"a": 30.0, "b": 25.0, "c": 20.0, "e0": 10.0, "e1": 8.0, "e2": 5.0, "f": 2.0}
BODIES = {
    "signers": ("a", "b", "c"),
    "sudo": ("a",),
    "guardians": ("g",),
    "triumvirate": ("t1", "t2", "t3"),
    "proposers": ("p1", "a"),
    "economic": ("e0", "e1", "e2"),
    "building": ("a", "b"),
    "fellowship": ("f",),
    "cancellers": ("g",),
    "killers": ("k",),
    "jury_pool": ("a", "b", "c", "e0", "e1"),
    "emergency": ("a", "b", "g"),
}
# Shorter clocks so random sequences reach every path; thresholds stay the policies' defaults.
CONFIGS = {
    "sudo": {},
    "multisig": {"k": 2, "n": 3, "expiry_blocks": 400},
    "timelock": {"k": 2, "n": 3, "delay_blocks": 14_400},
    "v1_senate": {"senate_size": 5},
    "v2_two_stage": {
        "economic_size": 3,
        "building_size": 2,
        "decision_period": 3_000,
        "initial_delay": 300,
        "max_delay": 600,
        "term": 2_000,
    },
    "v2_1h_draft": {"economic_size": 3, "building_size": 2, "decision_period": 3_000},
    "stake_vote": {"expiry_blocks": 2_000},
    "cosmos": {"voting_period": 400, "expedited_voting_period": 200},
    "opengov": {
        "decision_period": 2_000,
        "confirm_period": 100,
        "min_enactment": 100,
        "prepare_period": 50,
        "undeciding_timeout": 1_000,
    },
    "futarchy": {"duration": 400, "liquidity": 100.0, "trade_fraction": 0.05},
    "constitutional": {
        "voting_period": 1_500,
        "timelock": 100,
        "jury_size": 3,
        "suppression_duration": 500,
        "appeal_period": 200,
    },
    "market_only": {},
}

# Who acts, per policy: proposers, voters and cancellers/killers drawn from the right seats so
# random sequences actually reach every path (execution, rejection, expiry, cancel, kill).
STAKERS = tuple(STAKES)
POOLS = {
    "sudo": (("a",), ("a",), ("a", "root")),
    "multisig": (BODIES["signers"], BODIES["signers"], ("g", "root")),
    "timelock": (BODIES["signers"], BODIES["signers"], ("g", "a")),
    "v1_senate": (BODIES["triumvirate"], ("a", "b", "c", "e0", "e1"), ("root", "a")),
    "v2_two_stage": (("p1", "a"), ("t1", "t2", "t3", "t1", "e0", "e1", "a", "b"), ("root", "t1")),
    "v2_1h_draft": (("p1", "a"), ("t1", "t2", "t3", "e2", "e0", "e1", "a", "b"), ("root", "t1")),
    "stake_vote": (STAKERS, STAKERS, ("root", "a")),
    "cosmos": (STAKERS, STAKERS, STAKERS),
    "opengov": (("a", "b", "f"), STAKERS, ("g", "k", "a")),
    "futarchy": (STAKERS, STAKERS, STAKERS),
    "constitutional": (("a", "b", "g"), ("a", "b", "c", "e0", "e1", "a", "b", "g"), ("a",)),
    "market_only": (STAKERS, STAKERS, STAKERS),
}

KINDS = ("propose", "vote", "cancel", "kill", "advance")
KIND_P = (0.15, 0.6, 0.04, 0.03, 0.18)
WAITS = (0, 1, 5, 60, 150, 400, 2_000)
TRACKS = (None, "expedited", "whitelisted", "emergency")


def random_actions(seed: int, length: int) -> list[tuple]:
    """A random action sequence from ``seed`` (hypothesis draws and shrinks seed and length)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(length):
        out.append(
            (
                KINDS[rng.choice(len(KINDS), p=KIND_P)],
                int(rng.integers(0, 8)),  # who, within the policy's pool for that action
                int(rng.integers(0, 4)),  # referendum id / lever index
                bool(rng.random() < 0.75),  # aye
                int(rng.choice(WAITS, p=(0.3, 0.2, 0.2, 0.1, 0.1, 0.07, 0.03))),
                TRACKS[rng.choice(len(TRACKS), p=(0.7, 0.1, 0.1, 0.1))],
            )
        )
    return out


def run(name: str, actions: list) -> tuple:
    policy = make_policy(name, CONFIGS[name])
    gs = policy.init(0, Electorate(stakes=STAKES, bodies=BODIES))
    block = 0
    events: list = []
    for kind, who_i, idx, aye, wait, track in actions:
        block += wait
        proposers, voters, closers = POOLS[name]
        who = {"propose": proposers, "vote": voters}.get(kind, closers)[
            who_i % len({"propose": proposers, "vote": voters}.get(kind, closers))
        ]
        pid = max(0, len(gs.referenda) - 1 - idx)  # mostly the latest referenda
        try:
            if kind == "propose":
                gs, _ = policy.propose(gs, who, LEVERS[idx % len(LEVERS)], block, track=track)
            elif kind == "vote":
                gs = policy.vote(
                    gs, who, pid, aye, block, conviction=who_i % 7, veto=not aye and who_i == 7
                )
            elif kind == "cancel":
                gs = policy.cancel(gs, who, pid, block)
            elif kind == "kill":
                gs = policy.kill(gs, who, pid, block)
            else:
                gs, ev = policy.advance(gs, block, np.random.default_rng(idx))
                events.extend(ev)
        except GovernanceError:
            pass
    gs, ev = policy.advance(gs, block + 300_000)
    events.extend(ev)
    return policy, gs, events


def check_thresholds(name: str, policy, gs) -> None:
    """Recompute each executed action's decisive rule from its logged votes."""
    for rec in gs.log:
        ref = gs.ref(rec.pid)
        # Votes that counted: up to execution (stake_vote: up to the block before the epoch).
        upto = rec.executed - 1 if name == "stake_vote" else rec.executed
        ayes = {v.voter for v in ref.latest_votes(upto).values() if v.aye}
        if name in ("multisig", "timelock", "sudo"):
            assert len(ayes & set(ref.voters)) >= policy.config.k
        elif name == "v1_senate":
            assert len(ayes & set(ref.voters)) >= len(ref.voters) // 2 + 1
        elif name.startswith("v2"):
            parent = gs.ref(ref.parent)
            tri_ayes = {v.voter for v in parent.latest_votes().values() if v.aye}
            assert len(tri_ayes) >= 2
            n = len(ref.voters)
            nays = sum(1 for v in ref.latest_votes().values() if not v.aye)
            ayes_n = len(ayes)
            if ref.state == RefState.ENACTED and ayes_n < np.ceil(
                policy.config.fast_track_threshold * n - 1e-9
            ):
                # Not fast-tracked: the shaped delay was respected, unless a vote pulled it in.
                last = max((v.block for v in ref.votes), default=ref.submitted)
                assert rec.executed >= min(
                    ref.submitted + review_delay(ayes_n, nays, n, policy.config), last + 1
                )
            assert nays < np.ceil(policy.config.cancel_threshold * n - 1e-9)
        elif name == "stake_vote":
            total = sum(STAKES.values())
            assert sum(STAKES[v] for v in ayes) > 0.5 * total
        elif name == "cosmos":
            votes = ref.latest_votes(upto).values()
            total = sum(STAKES.values())
            voted = sum(STAKES[v.voter] for v in votes)
            veto = sum(STAKES[v.voter] for v in votes if v.veto)
            yes = sum(STAKES[v.voter] for v in votes if v.aye)
            abstain = sum(STAKES[v.voter] for v in votes if v.abstain)
            quorum = 0.5 if ref.track == "expedited" else 0.334
            assert voted / total >= quorum and veto / voted <= 0.334
            assert yes / (voted - abstain) > (0.667 if ref.track == "expedited" else 0.5)
        elif name == "opengov":
            c = policy.config
            floor = (
                c.wl_prepare_period + c.wl_confirm_period + c.wl_min_enactment
                if ref.track == "whitelisted"
                else c.prepare_period + c.confirm_period + c.min_enactment
            )
            assert rec.executed - rec.submitted >= floor
            confirm, enact = (
                (c.wl_confirm_period, c.wl_min_enactment)
                if ref.track == "whitelisted"
                else (c.confirm_period, c.min_enactment)
            )
            assert rec.executed == ref.confirm_since + confirm + enact
            assert policy.passing(gs, ref, ref.confirm_since)  # the votes passed both curves
        elif name == "futarchy":
            twap_pass, twap_fail = policy.twaps(ref)
            assert twap_pass > twap_fail * 1.03 and rec.executed == ref.deadline
        elif name == "constitutional" and ref.track == "normal":
            assert (
                rec.executed - rec.submitted >= policy.config.voting_period + policy.config.timelock
            )
        elif name == "market_only":
            raise AssertionError("market_only executed something")


def check_invariants(name: str, policy, gs, events) -> None:
    executed = [e for e in events if e.kind == "executed"]
    assert len(executed) == len(gs.log)
    assert [(e.pid, e.block) for e in executed] == sorted(
        ((r.pid, r.executed) for r in gs.log), key=lambda x: x[1]
    )
    closed_at = {e.pid: e.block for e in events if e.kind in ("cancelled", "killed")}
    for rec in gs.log:
        ref = gs.ref(rec.pid)
        assert rec.submitted <= rec.decided <= rec.executed
        # A cancelled or killed proposal never executes afterwards (stake_vote's override may
        # lift a suppression already in force: it then emits the inverse lever at the cancel).
        if ref.state in (RefState.CANCELLED, RefState.KILLED):
            assert rec.executed <= closed_at[rec.pid]
            assert any(
                e.kind == "reverted" and e.pid == rec.pid and e.block == closed_at[rec.pid]
                for e in events
            )
        # Logged with proposer and exactly the votes cast up to the execution.
        history = tuple(v for r in _lineage(gs, ref) for v in r.votes)
        assert rec.proposer == ref.proposer
        assert rec.votes == history[: len(rec.votes)]
        assert all(v.block <= rec.executed for v in rec.votes)
        delay = policy.enforced_delay(rec.lever)
        assert delay is not None and rec.executed - rec.submitted >= delay
    for ref in gs.referenda:
        if ref.state in (RefState.REJECTED, RefState.EXPIRED):
            assert ref.executed is None
        if ref.state == RefState.KILLED or (
            ref.state == RefState.CANCELLED and name != "stake_vote"
        ):
            assert ref.executed is None
    check_thresholds(name, policy, gs)


def _lineage(gs, ref):
    chain = [ref]
    while chain[0].parent is not None:
        chain.insert(0, gs.ref(chain[0].parent))
    return chain


def _make(name: str):
    @settings(max_examples=12, deadline=None, derandomize=True)
    @given(st.integers(0, 2**32 - 1), st.integers(1, 60))
    def prop(seed: int, length: int) -> None:
        actions = random_actions(seed, length)
        policy, gs, events = run(name, actions)
        check_invariants(name, policy, gs, events)
        _, gs2, events2 = run(name, actions)
        assert gs2 == gs and events2 == events

    prop.__name__ = f"test_invariants_{name}"
    return prop


for _name in CONFIGS:
    globals()[f"test_invariants_{_name}"] = _make(_name)
