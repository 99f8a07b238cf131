"""The ``govsim`` command line.

Each command family lives in its own module and attaches itself to :data:`main`; heavy imports
(torch, Mesa, Dask) happen inside the commands, so ``govsim --help`` stays fast.
"""

from __future__ import annotations

from sim.cli import (  # noqa: F401  (registration)
    app_cmd,
    calibrate,
    ground_truth,
    live,
    policies,
    policies_check,
    run,
    scenarios,
    sensitivity,
    study,
    yuma,
)
from sim.cli._root import UserError, main

__all__ = ["UserError", "main"]
