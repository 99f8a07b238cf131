"""Live mode, protocol side: pure rules for real miners talking to a coordinator.

No I/O here: envelopes and signatures (:mod:`~protocol.live.signing`,
:mod:`~protocol.live.envelope`), replay and freshness rules (:mod:`~protocol.live.replay`),
token-bucket rate limits (:mod:`~protocol.live.ratelimit`), the window clock
(:mod:`~protocol.live.clock`), payload checks (:mod:`~protocol.live.payload`, with the
one-pass check of well-formed uploads in :mod:`~protocol.live.upload_check`) and the
registration rule (:mod:`~protocol.live.registration`: burn, immunity, pruning, per-address
share). The coordinator
that serves them over HTTP lives in :mod:`sim.live`. See ``docs/live.md``.
"""

from __future__ import annotations

from protocol.live.clock import LiveClock, UploadTiming
from protocol.live.envelope import SignedEnvelope, open_envelope, seal
from protocol.live.errors import LiveError
from protocol.live.payload import (
    PayloadLimits,
    TensorSpec,
    check_tensors,
    decode_payload,
    encode_payload,
    parse_safetensors_header,
    spec_from_reference,
)
from protocol.live.ratelimit import RateDecision, TokenBucket, take_token
from protocol.live.registration import (
    RegistrationRule,
    UidStanding,
    address_cap,
    address_group,
    burn_after_registration,
    decayed_burn,
    uid_to_prune,
)
from protocol.live.replay import advance_nonce, check_request_window, check_upload_window
from protocol.live.signing import hotkey_of, payload_digest, signing_bytes, verify_signature
from protocol.live.upload_check import UploadLayout, compile_upload_layout, quick_accept

__all__ = [
    "LiveClock",
    "LiveError",
    "PayloadLimits",
    "RateDecision",
    "RegistrationRule",
    "SignedEnvelope",
    "TensorSpec",
    "TokenBucket",
    "UidStanding",
    "UploadLayout",
    "UploadTiming",
    "address_cap",
    "address_group",
    "advance_nonce",
    "burn_after_registration",
    "check_request_window",
    "check_tensors",
    "check_upload_window",
    "compile_upload_layout",
    "decayed_burn",
    "decode_payload",
    "encode_payload",
    "hotkey_of",
    "open_envelope",
    "parse_safetensors_header",
    "payload_digest",
    "quick_accept",
    "seal",
    "signing_bytes",
    "spec_from_reference",
    "take_token",
    "uid_to_prune",
    "verify_signature",
]
