"""The live clock: wall time to windows, blocks and put windows.

Window ``w`` spans ``[genesis + w·S, genesis + (w+1)·S)`` for ``S = window_seconds``. A miner
trains during window ``w`` and uploads its pseudo-gradient in the *put window* of ``w``: the first
``put_window_seconds`` of window ``w + 1`` (as in the ground-truth round, ``docs/training.md``;
Templar's 70 s ``time_window_delta_seconds``). Earlier is ``too_early``, later ``too_late``, judged on the
coordinator's receive time (the storage timestamp). Blocks are 12 s as on chain; with test-sized
windows a window is not a whole number of blocks, so the block number is informative only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from protocol.units import BLOCK_SECONDS

__all__ = ["LiveClock", "UploadTiming"]

UploadTiming = Literal["ok", "too_early", "too_late"]


@dataclass(frozen=True)
class LiveClock:
    """Maps wall time (unix seconds) to windows.

    Parameters
    ----------
    genesis
        Unix time at which window 0 starts.
    window_seconds
        Length of a window (> 0).
    put_window_seconds
        Length of the upload window at the start of the next window (0 < put < window).
    """

    genesis: float
    window_seconds: float
    put_window_seconds: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            raise ValueError(f"window_seconds: expected > 0, got {self.window_seconds}")
        if not 0 < self.put_window_seconds < self.window_seconds:
            raise ValueError(
                f"put_window_seconds: expected in (0, window_seconds={self.window_seconds}), "
                f"got {self.put_window_seconds}"
            )

    def window_at(self, t: float) -> int:
        """The window containing time ``t`` (0 before genesis)."""
        return max(0, math.floor((t - self.genesis) / self.window_seconds))

    def window_start(self, window: int) -> float:
        """Unix time at which ``window`` starts."""
        return self.genesis + window * self.window_seconds

    def put_window(self, window: int) -> tuple[float, float]:
        """``(open, close)`` of the upload window for ``window``'s gradient."""
        opens = self.window_start(window + 1)
        return opens, opens + self.put_window_seconds

    def close_time(self, window: int) -> float:
        """When ``window`` can be scored: its put window has closed."""
        return self.put_window(window)[1]

    def judge_upload(self, window: int, t: float) -> UploadTiming:
        """``"ok"``, ``"too_early"`` or ``"too_late"`` for an upload of ``window`` received at ``t``."""
        opens, closes = self.put_window(window)
        if t < opens:
            return "too_early"
        if t > closes:
            return "too_late"
        return "ok"

    def block_at(self, t: float) -> int:
        """The chain block at ``t`` (12 s blocks since genesis)."""
        return max(0, math.floor((t - self.genesis) / BLOCK_SECONDS))
