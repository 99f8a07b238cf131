"""A run's randomness: one seed, checked once, spawned once into named generators.

:func:`sim.run` checks the seed (:func:`check_seed`) and spawns the run's streams from it
(:meth:`RunStreams.from_seed`); the model and its desks receive generators, never seeds. Each
concern draws from its own child of ``numpy.random.SeedSequence(seed)``, spawned in the fixed
order of :data:`STREAMS`, so one consumer drawing more never shifts another's numbers.

A seed is a non-negative integer, nothing else. networkx's ``seed=`` also takes a
``Generator``; a govsim run is replayed from its record (``RunResult.config.seed``, a study's
manifest), and a generator's state is not in any record, so it is refused.

Examples
--------
>>> streams = RunStreams.from_seed(7)
>>> float(streams.market.random()) == float(RunStreams.from_seed(7).market.random())
True
>>> check_seed(1.5)
Traceback (most recent call last):
...
ValueError: seed: expected a non-negative integer (at most 2^63 - 1), got 1.5
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields

import numpy as np

from sim.config_fields import MAX_SEED

__all__ = ["STREAMS", "RunStreams", "check_seed"]


def check_seed(seed: object) -> int:
    """``seed`` as an ``int`` if it is an integer in [0, 2^63 - 1] (numpy integers too).

    Raises
    ------
    ValueError
        Naming ``seed``, the value and what was expected (``True``, ``1.5``, ``"3"``, ``-1`` and
        ``2**63`` are refused, not converted; a huge integer is not printed in full).
    """
    ok = isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
    if not ok or not 0 <= int(seed) <= MAX_SEED:  # type: ignore[call-overload]
        shown = repr(seed) if not ok or abs(int(seed)) < 10**30 else "a huge integer"  # type: ignore[call-overload]
        raise ValueError(f"seed: expected a non-negative integer (at most 2^63 - 1), got {shown}")
    return int(seed)  # type: ignore[call-overload]


@dataclass(frozen=True)
class RunStreams:
    """The independent random generators of one run, one per concern.

    Attributes
    ----------
    seed
        The root seed they were spawned from (Mesa gets it too, through ``rng=``).
    network
        The initial economy (pools, prices, stake).
    assign
        Who is who: strategies on uids and slots, owner types, subnet utility, staker accounts.
    skill
        Miners' skill process.
    observe
        Validators' observation noise and duplicate detection.
    stakers
        Stakers' risk aversion and cadence phase.
    events
        Random exploits, scams and quality jumps (drawn at the start).
    market
        The TAO price's exogenous news.
    governance
        Votes, policy randomness and erring seats' false positives.
    miners
        Miner strategies' own draws and relocation decisions.
    calibration
        Measured miner behaviour (last, so runs without it draw as before it existed).
    """

    seed: int
    network: np.random.Generator
    assign: np.random.Generator
    skill: np.random.Generator
    observe: np.random.Generator
    stakers: np.random.Generator
    events: np.random.Generator
    market: np.random.Generator
    governance: np.random.Generator
    miners: np.random.Generator
    calibration: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> RunStreams:
        """Spawn every stream from ``SeedSequence(seed)`` in :data:`STREAMS` order.

        ``seed`` must already be checked (:func:`check_seed`, or a validated config's).
        """
        children = np.random.SeedSequence(seed).spawn(len(STREAMS))
        generators = {
            name: np.random.default_rng(child)
            for name, child in zip(STREAMS, children, strict=True)
        }
        return cls(seed=seed, **generators)


#: Stream names in spawn order (child ``i`` of the seed's ``SeedSequence`` is stream ``i``).
STREAMS: tuple[str, ...] = tuple(f.name for f in fields(RunStreams) if f.name != "seed")
