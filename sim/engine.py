"""The only Mesa-version-specific code in govsim.

Mesa 3.3.1 keeps a class-level ``Agent._ids`` mapping keyed by model instance, so every model
stays alive after its run and a sweep leaks inside one process (fixed in Mesa 3.4.2, PR #3180).
:func:`release` undoes that; every run ends with it. The other helpers guard features that exist
only in some Mesa versions, so the move to Mesa 4 is a one-file change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mesa

__all__ = ["MESA_VERSION", "has_event_scheduling", "make_model_kwargs", "release", "torch_threads"]

MESA_VERSION: str = getattr(mesa, "__version__", "unknown")


def make_model_kwargs(seed: int) -> dict[str, Any]:
    """Keyword arguments for ``mesa.Model.__init__`` seeding both of Mesa's random streams.

    Parameters
    ----------
    seed
        A non-negative integer derived from the run's ``SeedSequence``.

    Returns
    -------
    dict
        ``{"rng": seed}``: never ``seed=`` (deprecated in Mesa 3.5, removed in 4.0).
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    return {"rng": seed}


def has_event_scheduling() -> bool:
    """Whether this Mesa has ``Model.schedule_event`` (3.5+); govsim never needs it."""
    return hasattr(mesa.Model, "schedule_event")


def release(model: mesa.Model) -> None:
    """Free a finished model: remove its agents and Mesa 3.3.1's class-level reference to it.

    Safe to call twice and a no-op for the ``_ids`` part on Mesa >= 3.4.2.

    Parameters
    ----------
    model
        The model whose run has ended.
    """
    remove_all = getattr(model, "remove_all_agents", None)
    if callable(remove_all):
        remove_all()
    ids = getattr(mesa.Agent, "_ids", None)
    # 3.3.1: a defaultdict(model -> itertools.count); 3.4.2+: no such class attribute.
    if isinstance(ids, dict) and model in ids:
        del ids[model]


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n)`` and restore the previous setting.

    The model's tensors are small per operation, so intra-op threads only contend (on a shared
    2-core machine one thread is ~10x faster). ``None`` leaves the setting alone.
    """
    if n is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
