"""Governance as pluggable policies over proposals whose payloads are levers.

Import this package to register the built-in policies, then ``make_policy(name, **config)``.
See docs/governance.md.
"""

from __future__ import annotations

from . import (  # noqa: F401  (importing registers each policy)
    constitutional,
    cosmos,
    futarchy,
    market_only,
    multisig,
    opengov,
    stake_vote,
    sudo,
    timelock,
    v1_senate,
    v2_two_stage,
)
from .base import (
    ACTIVE_STATES,
    FINAL_STATES,
    SEAT_SOURCES,
    BodySpec,
    Electorate,
    ExecutionRecord,
    GovernanceError,
    GovernancePolicy,
    GovEvent,
    GovState,
    Path,
    Referendum,
    RefState,
    Requirement,
    SubnetInfo,
    Tally,
    Vote,
    count_requirement,
    inverse_lever,
    stake_requirement,
)
from .config import PolicyConfigError
from .registry import POLICIES, make_policy, policy_class, register_policy

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "POLICIES",
    "SEAT_SOURCES",
    "BodySpec",
    "Electorate",
    "ExecutionRecord",
    "GovEvent",
    "GovState",
    "GovernanceError",
    "GovernancePolicy",
    "Path",
    "PolicyConfigError",
    "RefState",
    "Referendum",
    "Requirement",
    "SubnetInfo",
    "Tally",
    "Vote",
    "count_requirement",
    "inverse_lever",
    "make_policy",
    "policy_class",
    "register_policy",
    "stake_requirement",
]
