"""The signed envelope of a live-mode request: four HTTP headers around any body.

``X-Govsim-Hotkey``, ``X-Govsim-Nonce``, ``X-Govsim-Window`` and ``X-Govsim-Signature`` carry
the signer, its nonce, the window the request is bound to, and an ed25519 signature over
:func:`protocol.live.signing.signing_bytes` of ``(METHOD path, hotkey, nonce, window,
blake2b-256(body))``. The body digest is recomputed by the receiver, never trusted from the
sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.live.errors import LiveError
from protocol.live.signing import (
    MAX_NONCE,
    hotkey_of,
    payload_digest,
    sign,
    signing_bytes,
    verify_signature,
)

__all__ = [
    "HEADER_HOTKEY",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_WINDOW",
    "SignedEnvelope",
    "open_envelope",
    "seal",
]

HEADER_HOTKEY = "x-govsim-hotkey"
HEADER_NONCE = "x-govsim-nonce"
HEADER_WINDOW = "x-govsim-window"
HEADER_SIGNATURE = "x-govsim-signature"


@dataclass(frozen=True)
class SignedEnvelope:
    """A verified request envelope: who signed, with which nonce, bound to which window."""

    action: str
    hotkey: str
    nonce: int
    window: int
    digest: str


def seal(
    key: Ed25519PrivateKey, *, method: str, path: str, nonce: int, window: int, body: bytes = b""
) -> dict[str, str]:
    """The four signed headers for a request (the client side of :func:`open_envelope`).

    Parameters
    ----------
    key
        The miner's private key.
    method, path
        HTTP method and URL path (no query string), e.g. ``"PUT"``, ``"/v1/gradient/3"``.
    nonce
        Strictly greater than any nonce this hotkey used before.
    window
        The window the request is bound to.
    body
        The exact request body bytes.
    """
    hotkey = hotkey_of(key)
    message = signing_bytes(
        action=f"{method.upper()} {path}",
        hotkey=hotkey,
        nonce=nonce,
        window=window,
        payload_digest=payload_digest(body),
    )
    return {
        HEADER_HOTKEY: hotkey,
        HEADER_NONCE: str(nonce),
        HEADER_WINDOW: str(window),
        HEADER_SIGNATURE: sign(key, message),
    }


def _int_header(headers: Mapping[str, str], name: str, upper: int) -> int:
    raw = headers.get(name)
    if raw is None:
        raise LiveError(401, "unsigned", f"header {name}: missing (every request must be signed)")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise LiveError(
            400, "bad_header", f"header {name}: expected a decimal integer, got {raw!r:.40}"
        )
    value = int(raw)
    if value > upper:
        raise LiveError(400, "bad_header", f"header {name}: {value} exceeds {upper}")
    return value


def open_envelope(
    method: str, path: str, headers: Mapping[str, str], body: bytes
) -> SignedEnvelope:
    """Check a request's signature and return its envelope.

    Parameters
    ----------
    method, path
        The request line as received (the path without query string).
    headers
        Request headers with lowercase names.
    body
        The full request body (already size-capped by the caller).

    Returns
    -------
    SignedEnvelope
        Only when the signature is valid for exactly this method, path, window and body.

    Raises
    ------
    LiveError
        401 ``unsigned`` for missing headers, 400 for malformed ones, 401 ``bad_signature``
        when the signature does not verify.
    """
    hotkey = headers.get(HEADER_HOTKEY)
    signature = headers.get(HEADER_SIGNATURE)
    if hotkey is None or signature is None:
        missing = HEADER_HOTKEY if hotkey is None else HEADER_SIGNATURE
        raise LiveError(
            401, "unsigned", f"header {missing}: missing (every request must be signed)"
        )
    nonce = _int_header(headers, HEADER_NONCE, MAX_NONCE)
    window = _int_header(headers, HEADER_WINDOW, MAX_NONCE)
    action = f"{method.upper()} {path}"
    digest = payload_digest(body)
    message = signing_bytes(
        action=action, hotkey=hotkey, nonce=nonce, window=window, payload_digest=digest
    )
    if not verify_signature(hotkey, message, signature):
        raise LiveError(
            401,
            "bad_signature",
            f"header {HEADER_SIGNATURE}: not a valid ed25519 signature by {hotkey[:16]}... "
            f"over ({action}, nonce {nonce}, window {window}, body digest)",
        )
    return SignedEnvelope(action=action, hotkey=hotkey, nonce=nonce, window=window, digest=digest)
