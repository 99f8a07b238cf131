"""Conformance check of a governance policy: can it act, and does it refuse harm?

On a small network where every person and stake holder is benevolent and competent (signal
accuracy 1), each policy faces two matters, each in its own run of the agent model:

(a) **warranted** — an exploit drains TAO from half a day in; persons propose a chain halt on
    the fastest track the policy offers (:meth:`~protocol.governance.GovernancePolicy.paths`)
    and it must execute within the horizon;
(b) **unwarranted** — a self-interested person (third on the roster: a signer of a 2-of-3
    multisig, a triumvir, not the sudo key; a rival of subnet 1) wants subnet 1's emission
    switched off; it files it where the policy lets it propose, else it must convince a
    competent proposer; the others must refuse it and it must never execute (the
    policy's state is projected :data:`PROJECTION_DAYS` past the horizon, so a decision that
    falls later counts).

The measured blocks of detection, proposal, decision and execution are reported. A policy whose
warranted halt does not execute within the horizon is ``cannot act``; one without any way to
pass a proposal (``pass_paths`` empty, ``market_only``) is ``never acts by design``; one that
executes the unwarranted action ``acts on harm``. Studies and reports name ``cannot act``
designs instead of ranking them (:func:`check_policies`).

Examples
--------
>>> result = check_policy("sudo")  # doctest: +SKIP
>>> result.verdict, result.warranted.blocks_to_execute
('passes', 1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from protocol.governance import ACTIVE_STATES, POLICIES
from protocol.units import BLOCKS_PER_DAY
from sim import engine
from sim.api import load_config
from sim.model import GovSimModel

__all__ = [
    "CHECK_HORIZON_DAYS",
    "PROJECTION_DAYS",
    "CaseOutcome",
    "PolicyCheck",
    "check_config",
    "check_policies",
    "check_policy",
]

#: Days each check run may take to act (a day-long exploit detection, then the slowest
#: documented warranted path: futarchy's 3-day markets, a timelock's 2 days, Cosmos' 2-day
#: fallback after a failed expedited vote, with margin).
CHECK_HORIZON_DAYS = 10.0
#: Days the policy's state is carried past the horizon to see where an unwarranted proposal
#: ends (OpenGov's root track decides within 14 + 28 days).
PROJECTION_DAYS = 60.0
#: When the check's matters arise (days).
MATTER_DAY = 0.5
#: The subnet the unwarranted action targets.
TARGET = 1

#: The check's small network and its benevolent, competent roster.
_BASE: dict[str, Any] = {
    "name": "policy_check",
    "network": {"n_subnets": 3, "n_uids": 8, "n_validators": 2},
    "stakers": {"n_stakers": 4},
    "miners": {"relocation_probability": 0.0},
    "events": {
        "exploit_rate_per_year": 0.0,
        "scam_rate_per_year": 0.0,
        "quality_shock_rate_per_year": 0.0,
    },
    "governance": {
        "actors": [
            {"count": 2, "intent": "benevolent_competent", "accuracy": 1.0, "label": "seat"},
            {"intent": "self_interested", "label": "requester", "exposure": {TARGET: -1.0}},
        ],
        "signal_accuracy": 1.0,
        "holder_accuracy": 1.0,
        "error_rate_per_year": 0.0,
        "detection_delay_blocks": 300,
    },
}
_WARRANTED = {
    "kind": "exploit",
    "day": MATTER_DAY,
    "damage_tao_per_block": 0.5,
    "max_damage_tao": 1_000_000.0,
    "sold_fraction": 0.0,
}
_UNWARRANTED = {
    "kind": "intervention",
    "day": MATTER_DAY,
    "lever": {"kind": "set_emission_enabled", "netuid": TARGET, "enabled": False},
    "intent": "self_interested",
    "justified": False,
}


@dataclass(frozen=True)
class CaseOutcome:
    """What happened to one matter of the check.

    Attributes
    ----------
    warranted
        Whether acting was right.
    executed
        Whether an action for it executed (by the horizon, or for the unwarranted case in the
        projection past it).
    proposals
        Proposals filed for it.
    track
        Track of the first proposal ("" = the default track, "-" = none filed).
    state
        Final state of the first proposal's referendum ("not proposed" when none was filed).
    detected_block, proposed_block, decided_block, executed_block
        The measured blocks (None when it did not happen).
    """

    warranted: bool
    executed: bool
    proposals: int
    track: str
    state: str
    detected_block: int | None
    proposed_block: int | None
    decided_block: int | None
    executed_block: int | None

    @property
    def blocks_to_execute(self) -> int | None:
        """Blocks from proposal to execution (None: never executed)."""
        if self.executed_block is None or self.proposed_block is None:
            return None
        return self.executed_block - self.proposed_block

    @property
    def days_to_act(self) -> float:
        """Days from detection to execution (``inf``: never)."""
        if self.executed_block is None or self.detected_block is None:
            return math.inf
        return (self.executed_block - self.detected_block) / BLOCKS_PER_DAY


@dataclass(frozen=True)
class PolicyCheck:
    """The conformance verdict of one policy.

    Attributes
    ----------
    policy
        Its name (or dotted path).
    verdict
        ``"passes"``, ``"cannot act"``, ``"never acts by design"`` or ``"acts on harm"``.
    warranted, unwarranted
        The two cases' outcomes.
    horizon_days
        The horizon the warranted case had.
    summary
        The policy's one-line description.
    """

    policy: str
    verdict: str
    warranted: CaseOutcome
    unwarranted: CaseOutcome
    horizon_days: float
    summary: str = ""

    @property
    def ok(self) -> bool:
        """True for ``passes`` and ``never acts by design`` (the design's intent)."""
        return self.verdict in ("passes", "never acts by design")

    @property
    def can_act(self) -> bool:
        """Whether it executed the warranted action within the horizon."""
        return self.warranted.executed

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``--json`` and study files)."""
        out = asdict(self)
        out["ok"] = self.ok
        out["can_act"] = self.can_act
        for case in ("warranted", "unwarranted"):
            outcome: CaseOutcome = getattr(self, case)
            out[case]["blocks_to_execute"] = outcome.blocks_to_execute
            days = outcome.days_to_act
            out[case]["days_to_act"] = days if math.isfinite(days) else None
        return out


def check_config(
    policy: str,
    shock: Mapping[str, Any],
    horizon_days: float,
    seed: int,
    policy_config: Mapping[str, Any] | None = None,
) -> Any:
    """The ``SimConfig`` of one check run: the small network, the roster, one matter."""
    body = {**_BASE, "horizon_days": horizon_days, "seed": seed, "shocks": [dict(shock)]}
    body["governance"] = {
        **_BASE["governance"],
        "policy": policy,
        "policy_config": dict(policy_config or {}),
    }
    return load_config(body)


def _outcome(model: GovSimModel, warranted: bool, *, project_days: float) -> CaseOutcome:
    desk = model.governance
    metas = [
        m
        for pid, m in sorted(desk.meta.items())
        if not m.reversal and desk.gs.ref(pid).parent is None
    ]
    executed_block = next((m.executed_block for m in metas if m.executed_block is not None), None)
    gs = desk.gs
    if executed_block is None and project_days > 0 and metas:
        # Carry the policy's own state past the horizon: every ballot is in by now.
        gs, events = desk.policy.advance(gs, gs.block + round(project_days * BLOCKS_PER_DAY))
        pids = {m.pid for m in metas}
        pids |= {r.pid for r in gs.referenda if r.parent is not None and r.parent in pids}
        executed_block = next(
            (e.block for e in events if e.kind == "executed" and e.pid in pids), None
        )
    first = metas[0] if metas else None
    acted = next((m for m in metas if m.executed_block is not None), first)
    state = gs.ref(first.pid).state.value if first is not None else "not proposed"
    detected = min((c.detected_block for c in desk.cases.values()), default=None)
    return CaseOutcome(
        warranted=warranted,
        executed=executed_block is not None,
        proposals=len(metas),
        track=(first.track or "") if first is not None else "-",
        state=state,
        detected_block=detected,
        proposed_block=acted.proposed_block if acted is not None else None,
        decided_block=acted.decided_block if acted is not None else None,
        executed_block=executed_block,
    )


def _run_case(config: Any, warranted: bool) -> tuple[CaseOutcome, bool]:
    """Step one check run until its matter is settled or the horizon; its outcome and whether
    the policy has any way to pass a proposal."""
    model = GovSimModel(config)
    try:
        desk = model.governance
        while not model.finished:
            model.step()
            metas = [m for m in desk.meta.values() if not m.reversal]
            if warranted and any(m.executed_block is not None for m in metas):
                break
            if (
                not warranted
                and metas
                and not any(r.state in ACTIVE_STATES for r in desk.gs.referenda)
            ):
                break
        outcome = _outcome(model, warranted, project_days=0.0 if warranted else PROJECTION_DAYS)
        can_pass = bool(desk.policy.pass_paths(desk.gs))
        return outcome, can_pass
    finally:
        engine.release(model)


def check_policy(
    policy: str,
    *,
    policy_config: Mapping[str, Any] | None = None,
    seed: int = 0,
    horizon_days: float = CHECK_HORIZON_DAYS,
) -> PolicyCheck:
    """Run the conformance check of ``policy`` (a registered name or ``pkg.mod:Class``).

    Parameters
    ----------
    policy
        The policy.
    policy_config
        Its configuration (defaults otherwise).
    seed
        The runs' seed (the network and the draws; persons are always right here).
    horizon_days
        Days the warranted halt has to execute.

    Returns
    -------
    PolicyCheck
        The verdict and both cases' measured blocks.
    """
    warranted, can_pass = _run_case(
        check_config(policy, _WARRANTED, horizon_days, seed, policy_config), True
    )
    unwarranted, _ = _run_case(
        check_config(policy, _UNWARRANTED, horizon_days, seed, policy_config), False
    )
    if unwarranted.executed:
        verdict = "acts on harm"
    elif warranted.executed:
        verdict = "passes"
    elif not can_pass:
        verdict = "never acts by design"
    else:
        verdict = "cannot act"
    summary = ""
    try:
        from protocol.governance import make_policy

        summary = make_policy(policy, dict(policy_config or {})).describe()["summary"]
    except Exception:  # the runs already validated it; the summary is cosmetic
        summary = ""
    return PolicyCheck(policy, verdict, warranted, unwarranted, horizon_days, summary)


def check_policies(
    names: Iterable[str] | None = None, *, seed: int = 0, horizon_days: float = CHECK_HORIZON_DAYS
) -> list[PolicyCheck]:
    """:func:`check_policy` for ``names`` (default: every registered policy), in order."""
    chosen = list(names) if names is not None else list(POLICIES.names())
    return [check_policy(name, seed=seed, horizon_days=horizon_days) for name in chosen]
