"""Per-key token buckets as pure state transitions.

A bucket refills at ``rate`` tokens per second up to ``burst``; each request takes one token.
The coordinator holds one bucket per verified hotkey (so a forger cannot drain someone else's
bucket) and one per client address for requests that fail verification.

Examples
--------
>>> d = take_token(None, now=0.0, rate=1.0, burst=2)
>>> d.allowed, d.bucket.tokens
(True, 1.0)
>>> d = take_token(take_token(d.bucket, now=0.0, rate=1.0, burst=2).bucket, 0.0, 1.0, 2)
>>> d.allowed, round(d.retry_after, 3)
(False, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RateDecision", "TokenBucket", "take_token"]


@dataclass(frozen=True)
class TokenBucket:
    """Tokens left and the time they were last counted (seconds, any monotonic clock)."""

    tokens: float
    updated_at: float


@dataclass(frozen=True)
class RateDecision:
    """Whether a request may proceed, the bucket after it, and how long to wait if not."""

    allowed: bool
    bucket: TokenBucket
    retry_after: float


def take_token(bucket: TokenBucket | None, now: float, rate: float, burst: float) -> RateDecision:
    """Try to take one token from ``bucket`` at time ``now``.

    Parameters
    ----------
    bucket
        The key's bucket, or ``None`` for a key not seen yet (starts full).
    now
        Current time in seconds.
    rate
        Refill rate, tokens per second (> 0).
    burst
        Capacity (>= 1).

    Returns
    -------
    RateDecision
        ``allowed`` with the decremented bucket, or refused with ``retry_after`` seconds.
    """
    if rate <= 0 or burst < 1:
        raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate}, burst={burst}")
    if bucket is None:
        tokens = float(burst)
    else:
        elapsed = max(0.0, now - bucket.updated_at)  # a clock step backwards never refills
        tokens = min(float(burst), bucket.tokens + elapsed * rate)
    if tokens >= 1.0:
        return RateDecision(True, TokenBucket(tokens - 1.0, now), 0.0)
    return RateDecision(False, TokenBucket(tokens, now), (1.0 - tokens) / rate)
