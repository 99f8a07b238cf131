"""The one error type of live mode: a refusal with an HTTP status, a stable code and a clear line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LiveError"]


@dataclass(eq=False)
class LiveError(Exception):
    """A request the coordinator refuses.

    Parameters
    ----------
    status
        The HTTP status (always 4xx for a client's fault).
    code
        A stable machine-readable token (``"bad_signature"``, ``"replayed_nonce"``...).
    detail
        One human-readable line naming the field, the value and what was expected.
    """

    status: int
    code: str
    detail: str

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.code}: {self.detail}")

    def to_json(self) -> dict[str, Any]:
        """The JSON body of the refusal: ``{"error": code, "detail": ..., "status": ...}``."""
        return {"error": self.code, "detail": self.detail, "status": self.status}
