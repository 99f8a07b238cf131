"""Canonical signing bytes and ed25519 signatures for live-mode requests.

Every request a miner sends is signed over ``(action, hotkey, nonce, window, payload digest)``.
The *action* (HTTP method and path, e.g. ``"PUT /v1/gradient/12"``) binds a signature to one
endpoint and one target, so a signature for a model download cannot authorise an upload, and an
upload signed for window 12 cannot be replayed into window 13. The digest binds the body. Each
field is checked to be newline-free before joining, so the encoding is injective.

A hotkey is the hex of a raw 32-byte ed25519 public key (64 lowercase hex characters).

Examples
--------
>>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
>>> key = Ed25519PrivateKey.from_private_bytes(bytes(32))
>>> hk = hotkey_of(key)
>>> msg = signing_bytes(action="GET /v1/model", hotkey=hk, nonce=1, window=0,
...                     payload_digest=payload_digest(b""))
>>> verify_signature(hk, msg, sign(key, msg))
True
"""

from __future__ import annotations

import hashlib
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.live.errors import LiveError

__all__ = [
    "DOMAIN",
    "MAX_NONCE",
    "hotkey_of",
    "parse_hotkey",
    "payload_digest",
    "sign",
    "signing_bytes",
    "verify_signature",
]

#: Domain separation tag: these signatures can never be valid for another protocol or version.
DOMAIN = "govsim-live/v1"
#: Nonces are positive and fit a signed 64-bit integer (clients use wall-clock nanoseconds).
MAX_NONCE = 2**63 - 1

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX128 = re.compile(r"^[0-9a-f]{128}$")
_ACTION = re.compile(r"^(GET|POST|PUT) /[A-Za-z0-9/_.-]{0,200}$")


def payload_digest(body: bytes) -> str:
    """blake2b-256 of a request body, as 64 hex characters (the empty body has a digest too)."""
    return hashlib.blake2b(body, digest_size=32).hexdigest()


def parse_hotkey(hotkey: str) -> Ed25519PublicKey:
    """The public key a hotkey names.

    Raises
    ------
    LiveError
        400 ``bad_hotkey`` when it is not 64 lowercase hex characters of a valid key.
    """
    if not isinstance(hotkey, str) or not _HEX64.match(hotkey):
        raise LiveError(
            400, "bad_hotkey", f"hotkey: expected 64 lowercase hex chars, got {hotkey!r:.80}"
        )
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hotkey))
    except ValueError as exc:  # not a point on the curve
        raise LiveError(400, "bad_hotkey", f"hotkey {hotkey}: not an ed25519 public key") from exc


def hotkey_of(key: Ed25519PrivateKey) -> str:
    """The hotkey (hex public key) of a private key."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def signing_bytes(
    *, action: str, hotkey: str, nonce: int, window: int, payload_digest: str
) -> bytes:
    """The canonical bytes a request signature covers.

    Parameters
    ----------
    action
        ``"<METHOD> <path>"``, e.g. ``"PUT /v1/gradient/12"``.
    hotkey
        The signer's hotkey (64 hex chars).
    nonce
        A positive integer, strictly increasing per hotkey.
    window
        The window the request is about (the upload's window, or the signer's current window).
    payload_digest
        :func:`payload_digest` of the body.

    Raises
    ------
    LiveError
        400 when a field is malformed (so a malformed field can never collide with another).
    """
    if not isinstance(action, str) or not _ACTION.match(action):
        raise LiveError(
            400, "bad_action", f"action: expected '<GET|POST|PUT> /path', got {action!r:.80}"
        )
    if not isinstance(hotkey, str) or not _HEX64.match(hotkey):
        raise LiveError(
            400, "bad_hotkey", f"hotkey: expected 64 lowercase hex chars, got {hotkey!r:.80}"
        )
    if isinstance(nonce, bool) or not isinstance(nonce, int) or not 0 < nonce <= MAX_NONCE:
        raise LiveError(
            400, "bad_nonce", f"nonce: expected an integer in [1, 2^63-1], got {nonce!r:.40}"
        )
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise LiveError(
            400, "bad_window", f"window: expected a non-negative integer, got {window!r:.40}"
        )
    if not isinstance(payload_digest, str) or not _HEX64.match(payload_digest):
        raise LiveError(
            400, "bad_digest", f"digest: expected 64 hex chars, got {payload_digest!r:.80}"
        )
    fields = (DOMAIN, action, hotkey, str(nonce), str(window), payload_digest)
    return "\n".join(fields).encode("ascii")


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """An ed25519 signature of ``message`` as 128 hex characters (deterministic, RFC 8032)."""
    return key.sign(message).hex()


def verify_signature(hotkey: str, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (128 hex chars) is ``hotkey``'s signature of ``message``.

    Malformed hotkeys or signatures verify as ``False``; this never raises for bad input.
    """
    if not isinstance(signature, str) or not _HEX128.match(signature):
        return False
    try:
        public = parse_hotkey(hotkey)
        public.verify(bytes.fromhex(signature), message)
    except (LiveError, InvalidSignature):
        return False
    return True
