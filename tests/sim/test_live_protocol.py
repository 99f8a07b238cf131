"""Live mode, pure rules: signing, envelopes, nonces, windows, rate limits, payload checks."""

from __future__ import annotations

import json
import pickle
import struct

import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.live import (
    LiveClock,
    LiveError,
    PayloadLimits,
    advance_nonce,
    check_request_window,
    check_tensors,
    check_upload_window,
    decode_payload,
    encode_payload,
    hotkey_of,
    open_envelope,
    parse_safetensors_header,
    payload_digest,
    seal,
    signing_bytes,
    spec_from_reference,
    take_token,
    verify_signature,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _headers(**kw):
    args = {"method": "PUT", "path": "/v1/gradient/3", "nonce": 7, "window": 3, "body": b"abc"} | kw
    return seal(KEY, **args)


def test_envelope_round_trip_and_binding():
    env = open_envelope("PUT", "/v1/gradient/3", _headers(), b"abc")
    assert (env.hotkey, env.nonce, env.window) == (hotkey_of(KEY), 7, 3)
    assert env.digest == payload_digest(b"abc")
    # The signature binds body, path, method and window: change any one and it fails.
    for method, path, body in (
        ("PUT", "/v1/gradient/3", b"abd"),
        ("PUT", "/v1/gradient/4", b"abc"),
        ("POST", "/v1/gradient/3", b"abc"),
    ):
        with pytest.raises(LiveError) as err:
            open_envelope(method, path, _headers(), body)
        assert (err.value.status, err.value.code) == (401, "bad_signature")
    tampered = _headers() | {"x-govsim-window": "4"}
    with pytest.raises(LiveError, match="bad_signature"):
        open_envelope("PUT", "/v1/gradient/3", tampered, b"abc")


def test_forged_signature_with_someone_elses_hotkey_is_refused():
    forged = seal(OTHER, method="GET", path="/v1/model", nonce=1, window=0)
    forged["x-govsim-hotkey"] = hotkey_of(KEY)
    with pytest.raises(LiveError) as err:
        open_envelope("GET", "/v1/model", forged, b"")
    assert err.value.status == 401 and err.value.code == "bad_signature"


@pytest.mark.parametrize(
    ("drop", "status"),
    [("x-govsim-hotkey", 401), ("x-govsim-signature", 401), ("x-govsim-nonce", 401)],
)
def test_missing_headers_are_unsigned(drop, status):
    headers = _headers()
    del headers[drop]
    with pytest.raises(LiveError) as err:
        open_envelope("PUT", "/v1/gradient/3", headers, b"abc")
    assert err.value.status == status and drop in err.value.detail


@pytest.mark.parametrize("bad", ["-1", "1e3", "99999999999999999999", "", "٣"])
def test_malformed_nonce_header(bad):
    headers = _headers() | {"x-govsim-nonce": bad}
    with pytest.raises(LiveError) as err:
        open_envelope("PUT", "/v1/gradient/3", headers, b"abc")
    assert err.value.status == 400 and "x-govsim-nonce" in err.value.detail


def test_signing_bytes_refuse_field_injection():
    hk = hotkey_of(KEY)
    with pytest.raises(LiveError):
        signing_bytes(
            action="GET /v1/model\nx", hotkey=hk, nonce=1, window=0, payload_digest="0" * 64
        )
    with pytest.raises(LiveError):
        signing_bytes(
            action="GET /v1/model", hotkey=hk.upper(), nonce=1, window=0, payload_digest="0" * 64
        )
    with pytest.raises(LiveError):
        signing_bytes(action="GET /v1/model", hotkey=hk, nonce=0, window=0, payload_digest="0" * 64)
    assert not verify_signature("zz" * 32, b"m", "00" * 64)
    assert not verify_signature(hk, b"m", "not-hex")


@settings(max_examples=25, deadline=None)
@given(
    nonce=st.integers(1, 2**63 - 1),
    window=st.integers(0, 10**9),
    body=st.binary(max_size=64),
    flip=st.integers(0, 63),
)
def test_any_bit_flip_in_the_signature_fails(nonce, window, body, flip):
    headers = seal(KEY, method="PUT", path="/v1/gradient/1", nonce=nonce, window=window, body=body)
    env = open_envelope("PUT", "/v1/gradient/1", headers, body)
    assert env.nonce == nonce
    sig = bytearray(bytes.fromhex(headers["x-govsim-signature"]))
    sig[flip] ^= 1
    with pytest.raises(LiveError):
        open_envelope("PUT", "/v1/gradient/1", headers | {"x-govsim-signature": sig.hex()}, body)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=1, max_size=20))
def test_nonces_accept_exactly_the_strictly_increasing_ones(nonces):
    last = None
    for n in nonces:
        if last is not None and n <= last:
            with pytest.raises(LiveError) as err:
                advance_nonce(last, n)
            assert err.value.code == "replayed_nonce" and err.value.status == 409
        else:
            last = advance_nonce(last, n)
    assert last == max(nonces)  # the running maximum is always accepted


def test_window_rules():
    check_request_window(5, 6)
    with pytest.raises(LiveError, match="stale_window"):
        check_request_window(3, 6)
    check_upload_window(4, 4)
    with pytest.raises(LiveError, match="window_mismatch"):
        check_upload_window(4, 5)


def test_clock_put_window():
    clock = LiveClock(genesis=100.0, window_seconds=10.0, put_window_seconds=2.0)
    assert clock.window_at(99.0) == 0 and clock.window_at(125.0) == 2
    assert clock.put_window(2) == (130.0, 132.0)
    assert clock.judge_upload(2, 129.9) == "too_early"
    assert clock.judge_upload(2, 131.0) == "ok"
    assert clock.judge_upload(2, 132.5) == "too_late"
    assert clock.close_time(2) == 132.0
    with pytest.raises(ValueError, match="put_window_seconds"):
        LiveClock(0.0, 10.0, 10.0)


def test_token_bucket():
    d = take_token(None, 0.0, rate=2.0, burst=2)
    d = take_token(d.bucket, 0.0, 2.0, 2)
    assert d.allowed
    refused = take_token(d.bucket, 0.0, 2.0, 2)
    assert not refused.allowed and refused.retry_after == pytest.approx(0.5)
    assert take_token(refused.bucket, 0.5, 2.0, 2).allowed
    # A clock stepping backwards never grants tokens.
    assert not take_token(refused.bucket, -100.0, 2.0, 2).allowed


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 5.0), min_size=1, max_size=40))
def test_token_bucket_never_exceeds_rate(gaps):
    bucket, t, allowed = None, 0.0, 0
    for gap in gaps:
        t += gap
        d = take_token(bucket, t, rate=1.0, burst=3)
        bucket, allowed = d.bucket, allowed + d.allowed
    assert allowed <= 3 + t * 1.0 + 1e-9


# ---------------------------------------------------------------- payloads

LIMITS = PayloadLimits(max_bytes=4096, max_header_bytes=1024)
REF = {"w.idx": torch.zeros(4, 6, dtype=torch.uint8), "w.qparams": torch.zeros(6)}
SPEC = spec_from_reference(REF)


def test_payload_round_trip():
    good = {"w.idx": torch.arange(24, dtype=torch.uint8).reshape(4, 6), "w.qparams": torch.ones(6)}
    tensors, meta = decode_payload(encode_payload(good, {"window": "3"}), LIMITS)
    check_tensors(tensors, SPEC)
    assert meta == {"window": "3"} and torch.equal(tensors["w.idx"], good["w.idx"])


def test_pickle_and_torch_save_are_refused_before_parsing(tmp_path):
    raw = pickle.dumps({"w.idx": [1, 2, 3]})
    with pytest.raises(LiveError) as err:
        decode_payload(raw, LIMITS)
    assert err.value.status == 415 and "pickle" in err.value.detail
    path = tmp_path / "t.pt"
    torch.save(REF, path)
    with pytest.raises(LiveError) as err:
        decode_payload(path.read_bytes(), PayloadLimits(max_bytes=10**6))
    assert err.value.status == 415 and "zip" in err.value.detail


def test_oversize_is_refused_before_parsing():
    with pytest.raises(LiveError) as err:
        parse_safetensors_header(b"\x00" * 5000, LIMITS)
    assert err.value.status == 413 and err.value.code == "payload_too_large"


def _framed(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


@pytest.mark.parametrize(
    ("header", "data", "fragment"),
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, "needs 8 bytes"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, "cover 4 of 8"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 40]}}, b"\0" * 4, "data_offsets"),
        ({"a": {"dtype": "PY", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "dtype"),
        ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
        (
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            },
            b"\0" * 4,
            "gap or overlap",
        ),
        ({"a": [1, 2]}, b"", "expected an object"),
    ],
)
def test_lying_headers_are_refused(header, data, fragment):
    with pytest.raises(LiveError) as err:
        parse_safetensors_header(_framed(header, data), LIMITS)
    assert err.value.status == 422 and fragment in err.value.detail


def test_truncated_and_garbage_framing():
    for raw in (
        b"",
        b"\x01\x02",
        struct.pack("<Q", 10**9) + b"{}",
        struct.pack("<Q", 3) + b"\xff\xfe\xfd",
    ):
        with pytest.raises(LiveError) as err:
            parse_safetensors_header(raw, LIMITS)
        assert err.value.status == 415


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_are_refused(bad_value):
    q = torch.ones(6)
    q[2] = bad_value
    tensors, _ = decode_payload(encode_payload({"w.idx": REF["w.idx"], "w.qparams": q}), LIMITS)
    with pytest.raises(LiveError) as err:
        check_tensors(tensors, SPEC)
    assert (err.value.status, err.value.code) == (
        422,
        "non_finite",
    ) and "w.qparams" in err.value.detail


def test_huge_finite_values_are_refused():
    q = torch.ones(6)
    q[1] = 3e38  # finite in float32, but overflows any norm
    with pytest.raises(LiveError) as err:
        check_tensors({"w.idx": REF["w.idx"], "w.qparams": q}, SPEC)
    assert (err.value.status, err.value.code) == (422, "out_of_range")
    check_tensors({"w.idx": REF["w.idx"], "w.qparams": q.clamp(max=10.0)}, SPEC)


def test_layout_mismatches_are_refused():
    cases = [
        {"w.idx": REF["w.idx"]},  # missing
        REF | {"extra": torch.zeros(1)},  # unexpected
        {"w.idx": REF["w.idx"].int(), "w.qparams": REF["w.qparams"]},  # dtype
        {"w.idx": torch.zeros(5, 6, dtype=torch.uint8), "w.qparams": REF["w.qparams"]},  # shape
    ]
    for tensors in cases:
        with pytest.raises(LiveError) as err:
            check_tensors(tensors, SPEC)
        assert err.value.code == "wrong_layout"


def test_integer_bounds():
    spec = spec_from_reference({"i": torch.zeros(3, dtype=torch.int64)}, {"i": (0, 9)})
    check_tensors({"i": torch.tensor([0, 5, 9])}, spec)
    with pytest.raises(LiveError, match="out_of_range"):
        check_tensors({"i": torch.tensor([0, 5, 10])}, spec)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_decoder(raw):
    try:
        tensors, _ = decode_payload(raw, LIMITS)
    except LiveError as err:
        assert 400 <= err.status < 500
    else:
        assert isinstance(tensors, dict)
