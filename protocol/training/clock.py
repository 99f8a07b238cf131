"""Virtual block clock: windows and put windows from virtual timestamps, no sleeping.

As templar (``neurons/base_node.py``, ``src/tplr/comms.py``): ``window = block //
blocks_per_window``, and an upload counts when its storage timestamp lies within
``time_window_delta_seconds`` after the timestamp of the block that opens window w+1.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.units import BLOCK_SECONDS

__all__ = ["VirtualClock"]


@dataclass(frozen=True)
class VirtualClock:
    """``window = floor(block / blocks_per_window)``; block b has timestamp ``genesis + 12·b`` seconds.

    The put window of window w opens at the timestamp of block ``(w + 1)·blocks_per_window`` and lasts
    ``put_window_seconds`` (Templar's ``time_window_delta_seconds``).
    """

    blocks_per_window: int = 7
    put_window_seconds: float = 70.0
    genesis_time: float = 0.0
    block_seconds: float = BLOCK_SECONDS

    def window_of_block(self, block: int) -> int:
        """The window a block belongs to."""
        return block // self.blocks_per_window

    def block_time(self, block: int) -> float:
        """Virtual timestamp (seconds) of a block."""
        return self.genesis_time + block * self.block_seconds

    def block_at(self, time: float) -> int:
        """The block current at a virtual (or wall) time."""
        return int((time - self.genesis_time) // self.block_seconds)

    def put_window(self, window: int) -> tuple[float, float]:
        """``(time_min, time_max)`` within which an upload for ``window`` counts."""
        start = self.block_time((window + 1) * self.blocks_per_window)
        return start, start + self.put_window_seconds

    def upload_status(self, window: int, put_time: float) -> str:
        """``"ok"``, ``"too_early"`` or ``"too_late"`` judged on the upload's LastModified time."""
        start, end = self.put_window(window)
        if put_time < start:
            return "too_early"
        if put_time > end:
            return "too_late"
        return "ok"
