"""Small shared helpers for the policies (count thresholds, body lookups)."""

from __future__ import annotations

import math

from .base import GovernanceError, GovState, Vote

__all__ = ["at_least", "last_vote_block", "require_member"]


def at_least(fraction: float, n: int) -> int:
    """Smallest count reaching ``fraction`` of ``n`` seats (``ceil`` without float noise)."""
    return max(0, math.ceil(fraction * n - 1e-9))


def last_vote_block(votes: tuple[Vote, ...], default: int) -> int:
    """Block of the latest vote, or ``default`` with no votes."""
    return max((v.block for v in votes), default=default)


def require_member(gs: GovState, body: str, who: str, action: str) -> None:
    """Raise unless ``who`` sits in ``body``."""
    if who not in gs.seat(body):
        raise GovernanceError(f"{who!r} may not {action}: not in {body} {list(gs.seat(body))}")
