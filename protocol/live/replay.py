"""Replay and freshness rules as pure state transitions.

Nonces: each hotkey's nonces must strictly increase; the coordinator keeps only the last accepted
nonce per hotkey (and checkpoints it), so any replayed or reordered request is refused. Clients use
wall-clock nanoseconds, which keeps increasing across client restarts.

Windows: a signed window must match what the request is about. An upload is bound to the window
of its gradient (and must equal the window in its path); any other request must carry a window
within ``tolerance`` of the coordinator's current one, so signed requests cannot be stored and
replayed much later even under a different nonce history.
"""

from __future__ import annotations

from protocol.live.errors import LiveError

__all__ = ["advance_nonce", "check_request_window", "check_upload_window"]


def advance_nonce(last_nonce: int | None, nonce: int) -> int:
    """The hotkey's new last nonce after accepting ``nonce``.

    Parameters
    ----------
    last_nonce
        The last nonce accepted from this hotkey, or ``None`` if none yet.
    nonce
        The nonce of the request being checked.

    Returns
    -------
    int
        ``nonce`` (the new state) when it is fresh.

    Raises
    ------
    LiveError
        409 ``replayed_nonce`` when ``nonce <= last_nonce``.
    """
    if last_nonce is not None and nonce <= last_nonce:
        raise LiveError(
            409,
            "replayed_nonce",
            f"nonce {nonce}: not greater than the last accepted nonce {last_nonce} for this hotkey "
            "(replayed or reordered request)",
        )
    return nonce


def check_request_window(signed_window: int, current_window: int, tolerance: int = 1) -> None:
    """Refuse a signed window too far from the coordinator's current window.

    Raises
    ------
    LiveError
        409 ``stale_window`` when ``|signed_window - current_window| > tolerance``.
    """
    if abs(signed_window - current_window) > tolerance:
        raise LiveError(
            409,
            "stale_window",
            f"window {signed_window}: signed for a window more than {tolerance} away from the "
            f"current window {current_window}",
        )


def check_upload_window(signed_window: int, path_window: int) -> None:
    """Refuse an upload whose signature is bound to another window than its target.

    Raises
    ------
    LiveError
        409 ``window_mismatch`` when they differ.
    """
    if signed_window != path_window:
        raise LiveError(
            409,
            "window_mismatch",
            f"window: signature is bound to window {signed_window}, upload targets {path_window}",
        )
