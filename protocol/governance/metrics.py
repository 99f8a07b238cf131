"""Decentralisation metrics of a governance state (see docs/governance.md).

* Nakamoto coefficient NC(θ), Gini, HHI and effective number of any non-negative weights
  (stake, voting power, emission shares);
* minimal pass and block coalitions of a policy, counted in *independent parties* (a mapping
  member → party merges correlated members), with the delay of the path;
* key-control Nakamoto coefficient: fewest independent parties able to execute a change with
  no enforced delay (``max_delay`` blocks, 1 = next block);
* effective exit window: enforced delay − the time users need to exit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from protocol.levers import Lever
from protocol.units import Blocks

from .base import GovernancePolicy, GovState, Path

__all__ = [
    "CoalitionResult",
    "Concentration",
    "DecentralisationReport",
    "concentration",
    "decentralisation_report",
    "effective_exit_window",
    "fastest_delay",
    "gini",
    "hhi",
    "key_control_nakamoto",
    "minimal_block_coalition",
    "minimal_pass_coalition",
    "nakamoto_coefficient",
    "path_coalition",
]


def _weights(values: Iterable[float] | Mapping[str, float]) -> np.ndarray:
    seq = list(values.values()) if isinstance(values, Mapping) else list(values)
    arr = np.asarray(seq, dtype=float)
    if arr.size and (arr < 0).any():
        raise ValueError("weights must be non-negative")
    return arr


def nakamoto_coefficient(
    values: Iterable[float] | Mapping[str, float], threshold: float = 0.5
) -> int:
    """Fewest parties, largest first, that together hold more than ``threshold`` of the total.

    The convention, used by every caller in govsim: a coalition controls a share θ when it
    holds *strictly more* than θ of the total, so a tie does not control (two equal halves:
    NC(1/2) = 2, neither half alone is a majority). Since no coalition holds more than
    everything, θ = 1 asks for the fewest parties that hold all of it (the parties with a
    positive share). Ties within rounding (relative 1e-12) count as ties.

    Parameters
    ----------
    values
        Non-negative weights per party (stake, voting power, emission shares); any scale.
    threshold
        θ in [0, 1]: 1/3 (can block or halt), 1/2 (controls), 2/3 (supermajority).

    Returns
    -------
    int
        The coefficient, at most the number of parties; 0 when nothing is held.

    Raises
    ------
    ValueError
        For a negative weight or a threshold outside [0, 1].

    Examples
    --------
    Root stake in June 2024 (Opentensor 25 %, Taostats 13.5 %, Foundry 11 %, Guru 9 %,
    RoundTable21 6.5 %, the rest spread thinly; Mentat Minds, "What root network weights
    reveal about Bittensor", Medium, 2024):

    >>> root_2024 = [25, 13.5, 11, 9, 6.5] + [1.0] * 35
    >>> nakamoto_coefficient(root_2024, 1 / 3), nakamoto_coefficient(root_2024, 1 / 2)
    (2, 4)
    >>> nakamoto_coefficient([1, 1], 1 / 2), nakamoto_coefficient([1, 1], 1.0)
    (2, 2)
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold: expected a share in [0, 1], got {threshold}")
    held = np.cumsum(np.sort(_weights(values))[::-1])
    if held.size == 0 or held[-1] <= 0:
        return 0
    total = held[-1]
    controls = (held > (threshold + _TIE_TOLERANCE) * total) | (held >= total)
    return int(np.argmax(controls)) + 1


#: Relative tolerance under which a coalition's share equals the threshold (a tie, no control):
#: equal stakes summed in floating point land a few ulps above or below the exact fraction.
_TIE_TOLERANCE = 1e-12


def gini(values: Iterable[float] | Mapping[str, float]) -> float:
    """Gini coefficient ``Σ_i Σ_j |x_i − x_j| / (2 n² μ)`` (0 equal, → 1 concentrated)."""
    arr = np.sort(_weights(values))
    n = arr.size
    if n == 0 or arr.sum() <= 0:
        return 0.0
    # Sorted form of the double sum: Σ (2i − n − 1) x_i / (n Σ x).
    ranks = np.arange(1, n + 1)
    return float(np.sum((2 * ranks - n - 1) * arr) / (n * arr.sum()))


def hhi(values: Iterable[float] | Mapping[str, float]) -> float:
    """Herfindahl–Hirschman index ``Σ s_i²`` of shares in [0, 1]."""
    arr = _weights(values)
    total = arr.sum()
    if total <= 0:
        return 0.0
    return float(np.sum((arr / total) ** 2))


@dataclass(frozen=True)
class Concentration:
    """Concentration of one distribution (stake, voting power or emission)."""

    nc_third: int
    nc_half: int
    nc_two_thirds: int
    gini: float
    hhi: float
    effective_number: float


def concentration(values: Iterable[float] | Mapping[str, float]) -> Concentration:
    """NC at 1/3, 1/2, 2/3, Gini, HHI and 1/HHI of ``values``."""
    arr = _weights(values)
    h = hhi(arr)
    return Concentration(
        nakamoto_coefficient(arr, 1 / 3),
        nakamoto_coefficient(arr, 1 / 2),
        nakamoto_coefficient(arr, 2 / 3),
        gini(arr),
        h,
        (1 / h) if h > 0 else 0.0,
    )


@dataclass(frozen=True)
class CoalitionResult:
    """A smallest coalition found for one path: its independent parties and the path's delay."""

    path: str
    parties: tuple[str, ...]
    delay: Blocks

    @property
    def size(self) -> int:
        """Number of independent parties."""
        return len(self.parties)


def path_coalition(path: Path, parties: Mapping[str, str] | None = None) -> CoalitionResult | None:
    """Fewest independent parties meeting every requirement of ``path`` (None: impossible).

    Members of one party act together. Greedy by weight per requirement, then pruned; exact
    for a single requirement and for requirements over disjoint parties, an upper bound
    otherwise.
    """
    party_of = dict(parties or {})

    def party(member: str) -> str:
        return party_of.get(member, member)

    def members_of(p: str) -> set[str]:
        found = {m for req in path.requirements for m in req.members if party(m) == p}
        return found | {p}

    chosen: list[str] = []
    acting: set[str] = set()
    for req in path.requirements:
        if req.met_by(acting):
            continue
        weight: dict[str, float] = {}
        for m, w in zip(req.members, req.weights, strict=True):
            if m not in acting:
                weight[party(m)] = weight.get(party(m), 0.0) + w
        for p in sorted(weight, key=lambda p: (-weight[p], p)):
            chosen.append(p)
            acting |= members_of(p)
            if req.met_by(acting):
                break
        if not req.met_by(acting):
            return None
    # Drop parties the others do not need (smallest weight first).
    for p in list(reversed(chosen)):
        rest = [q for q in chosen if q != p]
        rest_members = set().union(*(members_of(q) for q in rest)) if rest else set()
        if all(req.met_by(rest_members) for req in path.requirements):
            chosen = rest
    return CoalitionResult(path.name, tuple(chosen), path.delay)


def _smallest(
    paths: Iterable[Path], parties: Mapping[str, str] | None, max_delay: Blocks | None = None
) -> CoalitionResult | None:
    best: CoalitionResult | None = None
    for path in paths:
        if max_delay is not None and path.delay > max_delay:
            continue
        found = path_coalition(path, parties)
        if found is not None and (
            best is None or (found.size, found.delay) < (best.size, best.delay)
        ):
            best = found
    return best


def _parties(
    policy: GovernancePolicy, gs: GovState, parties: Mapping[str, str] | None
) -> dict[str, str]:
    merged = policy.independent_parties(gs)
    merged.update(parties or {})
    return merged


def minimal_pass_coalition(
    policy: GovernancePolicy,
    gs: GovState,
    parties: Mapping[str, str] | None = None,
    *,
    max_delay: Blocks | None = None,
) -> CoalitionResult | None:
    """The smallest coalition able to pass a proposal (unopposed), over the policy's paths.

    ``parties`` maps members to independent parties, on top of the policy's own
    (``independent_parties``, e.g. a multisig with ``signer_correlation = 1``).
    """
    return _smallest(policy.pass_paths(gs), _parties(policy, gs, parties), max_delay)


def minimal_block_coalition(
    policy: GovernancePolicy, gs: GovState, parties: Mapping[str, str] | None = None
) -> CoalitionResult | None:
    """The smallest coalition able to stop any proposal."""
    return _smallest(policy.block_paths(gs), _parties(policy, gs, parties))


def fastest_delay(
    policy: GovernancePolicy,
    gs: GovState,
    max_parties: int,
    parties: Mapping[str, str] | None = None,
) -> Blocks | None:
    """Shortest delay a coalition of at most ``max_parties`` independent parties can force.

    The delay an adverse change really faces depends on who wants it: in V2 two triumvirs and
    a proposer face 24 h, but 24 more reviewers make it the next block. ``None``: no such
    coalition can pass anything.
    """
    best: Blocks | None = None
    for path in policy.pass_paths(gs):
        found = path_coalition(path, _parties(policy, gs, parties))
        if found is not None and found.size <= max_parties and (best is None or path.delay < best):
            best = path.delay
    return best


def key_control_nakamoto(
    policy: GovernancePolicy,
    gs: GovState,
    parties: Mapping[str, str] | None = None,
    *,
    max_delay: Blocks = 1,
) -> int | None:
    """Fewest independent parties able to execute a change within ``max_delay`` blocks.

    ``None`` when no coalition can act that fast (an enforced delay protects users).
    """
    found = minimal_pass_coalition(policy, gs, parties, max_delay=max_delay)
    return None if found is None else found.size


def effective_exit_window(
    policy: GovernancePolicy, lever: Lever, exit_blocks: Blocks
) -> Blocks | None:
    """Enforced delay before ``lever`` can take effect minus the time users need to exit.

    ``None`` when the policy can never execute the lever (no exit needed). L2BEAT's Stage 1
    asks for ≥ 7 days (50 400 blocks) for non-emergency upgrades.
    """
    delay = policy.enforced_delay(lever)
    return None if delay is None else delay - exit_blocks


@dataclass(frozen=True)
class DecentralisationReport:
    """All the decentralisation metrics of one policy state."""

    policy: str
    key_control_nc: int | None
    min_pass: CoalitionResult | None
    min_block: CoalitionResult | None
    exit_window: Blocks | None
    stake: Concentration
    voting_power: Concentration
    emission: Concentration | None


def decentralisation_report(
    policy: GovernancePolicy,
    gs: GovState,
    lever: Lever,
    *,
    exit_blocks: Blocks = 0,
    parties: Mapping[str, str] | None = None,
    emission: Iterable[float] | Mapping[str, float] | None = None,
) -> DecentralisationReport:
    """Compute every decentralisation metric for ``policy`` at ``gs`` (``lever`` for the exit window)."""
    power = policy.voting_power(gs)
    groups = _parties(policy, gs, parties)
    if groups:
        merged: dict[str, float] = {}
        for m, w in power.items():
            merged[groups.get(m, m)] = merged.get(groups.get(m, m), 0.0) + w
        power = merged
    return DecentralisationReport(
        policy.name,
        key_control_nakamoto(policy, gs, parties),
        minimal_pass_coalition(policy, gs, parties),
        minimal_block_coalition(policy, gs, parties),
        effective_exit_window(policy, lever, exit_blocks),
        concentration(gs.electorate.stakes),
        concentration(power),
        None if emission is None else concentration(emission),
    )
