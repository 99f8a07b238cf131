"""Hostile uploads against the real coordinator app: every upload it cannot parse is a 4xx.

Signed, registered, in-window uploads whose safetensors header is mutated (integers of 5,001
digits, nesting 100,000 deep, wrong types, random byte edits, lying lengths) go through the
real ASGI app (``create_app`` over a real :class:`Coordinator`, FastAPI's ``TestClient``), so
the upload handler, the signature check, the one-pass check and the full checks all run.
"""

from __future__ import annotations

import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.live import LiveError, PayloadLimits, encode_payload, parse_safetensors_header
from protocol.live.upload_check import quick_accept
from sim.live.app import create_app
from sim.live.client import CoordinatorError, LiveClient
from sim.live.config import live_config_from_dict
from sim.live.coordinator import Coordinator
from sim.live.store import StateDir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TABLE = {
    "window_seconds": 10.0,
    "put_window_seconds": 2.0,
    "training_config": "cpu-tiny",
    "max_miners": 4,
    # Hypothesis sends hundreds of uploads from one hotkey within a second.
    "rate_per_second": 1_000_000.0,
    "rate_burst": 1_000_000,
    "training": {"inner_steps": 2, "n_eval": 16},
}
#: Refusals that show the payload checks judged the upload (not the clock, rate or signature).
PAYLOAD_CODES = {
    "malformed_payload",
    "not_safetensors",
    "payload_too_large",
    "wrong_layout",
    "non_finite",
    "out_of_range",
    "invalid_gradient",
}
HUGE_INT = "1" + "0" * 5000  # 5,001 digits: over Python's 4,300-digit conversion limit
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 40_000 + "1" + "}" * 40_000


class FakeClock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Uploader:
    """A registered miner of a real coordinator; each upload goes to a fresh window's put window,
    so no upload is refused for timing or as a duplicate before its payload is judged."""

    def __init__(self, root) -> None:
        self.clock = FakeClock()
        self.coordinator = Coordinator(
            live_config_from_dict(TABLE), StateDir(root / "state"), now=self.clock
        )
        self.client = LiveClient("http://testserver", Ed25519PrivateKey.generate())
        self.client.http = TestClient(
            create_app(self.coordinator, run_ticker=False), raise_server_exceptions=False
        )
        self.client.register()
        self.body = encode_payload(self.coordinator.engine.reference_payload())
        self.window = 0

    def put(self, body: bytes) -> tuple[int, dict]:
        """Upload ``body`` in the next window's put window; ``(status, JSON answer)``."""
        self.window += 1
        self.clock.t = self.coordinator.clock.put_window(self.window)[0] + 0.1
        request = self.client.signed(
            "PUT", f"/v1/gradient/{self.window}", window=self.window, body=body
        )
        response = self.client.http.send(request)
        return response.status_code, response.json()


@pytest.fixture(scope="module")
def uploader(tmp_path_factory) -> Uploader:
    return Uploader(tmp_path_factory.mktemp("hostile"))


def _split(raw: bytes) -> tuple[bytes, bytes]:
    (n,) = struct.unpack("<Q", raw[:8])
    return raw[8 : 8 + n], raw[8 + n :]


def _framed(header: bytes, data: bytes, declared: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if declared is None else declared) + header + data


def _with_value(body: bytes, path: tuple[str, ...], fragment: str) -> bytes:
    """``body`` with the header value at ``path`` replaced by raw JSON text ``fragment``
    (``()``: the whole header); the data bytes are unchanged."""
    header, data = _split(body)
    if not path:
        return _framed(fragment.encode(), data)
    doc = json.loads(header)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "@@HOSTILE@@"
    text = json.dumps(doc).replace('"@@HOSTILE@@"', fragment)
    return _framed(text.encode(), data)


def _assert_refused_by_the_payload_checks(status: int, doc: dict) -> None:
    assert 400 <= status < 500, (status, doc)
    assert doc["status"] == status and doc["detail"], doc
    assert doc["error"] in PAYLOAD_CODES, doc
    # Named by the checks themselves, not caught by the coordinator's last-resort guard.
    assert "could not be checked" not in doc["detail"], doc


def _first_tensor(body: bytes) -> str:
    header, _ = _split(body)
    return next(k for k in json.loads(header) if k != "__metadata__")


@pytest.mark.parametrize(
    ("field", "fragment"),
    [
        ("shape", f"[{HUGE_INT}]"),
        ("data_offsets", f"[0, {HUGE_INT}]"),
        ("dtype", HUGE_INT),
        ("shape", DEEP_ARRAY),
        ("dtype", DEEP_OBJECT),
        ("dtype", '["F32"]'),  # unhashable: `in` on a dict raised TypeError (a 500)
        ("dtype", '{"F32": 1}'),
        ("shape", "[18446744073709551616]"),  # 2**64: not a safetensors size
        ("data_offsets", "[0, 1e400]"),
        ("shape", '"12"'),
        ("data_offsets", "null"),
    ],
)
def test_hostile_header_values_get_a_4xx(uploader, field, fragment):
    body = _with_value(uploader.body, (_first_tensor(uploader.body), field), fragment)
    _assert_refused_by_the_payload_checks(*uploader.put(body))
    assert uploader.put(uploader.body)[0] == 200  # and the coordinator keeps accepting


@pytest.mark.parametrize(
    "header",
    [HUGE_INT, DEEP_ARRAY, DEEP_OBJECT, "[]", '"x"', "null", "-0", "{}", '{"__metadata__": 5}'],
)
def test_hostile_whole_headers_get_a_4xx(uploader, header):
    _assert_refused_by_the_payload_checks(*uploader.put(_with_value(uploader.body, (), header)))


def test_the_two_reported_headers_are_refused_by_both_checks(uploader):
    """A 5,001-digit integer and nesting 100,000 deep: the full path refuses (422), and the
    one-pass check never accepts (it hands them to the full path)."""
    layout = uploader.coordinator.upload_layout
    for fragment in (f"[{HUGE_INT}]", DEEP_ARRAY):
        body = _with_value(uploader.body, (_first_tensor(uploader.body), "shape"), fragment)
        assert not quick_accept(body, layout)
        with pytest.raises(LiveError) as err:
            parse_safetensors_header(body, PayloadLimits())
        assert err.value.status == 422


# Values of every JSON type, nested, including the hostile ones.
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["F32", "U8", "I64", "BOOL"])
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
).map(json.dumps)
_FRAGMENTS = (
    _JSON
    | st.sampled_from(
        [
            HUGE_INT,
            "-" + HUGE_INT,
            f"[{HUGE_INT}, 1]",
            DEEP_ARRAY,
            DEEP_OBJECT,
            "1e400",
            "-1e400",
            "NaN",
            "Infinity",
            "-1",
            "1.0",
            "true",
            "18446744073709551616",
            '"' + "x" * 5000 + '"',
        ]
    )
    | st.integers(min_value=-(2**70), max_value=2**70).map(str)
)


@st.composite
def _header_mutation(draw, body: bytes) -> bytes:
    header, data = _split(body)
    names = [k for k in json.loads(header) if k != "__metadata__"]
    kind = draw(st.sampled_from(["value", "entry", "key", "bytes", "length"]))
    if kind == "value":
        name = draw(st.sampled_from(names))
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        return _with_value(body, (name, field), draw(_FRAGMENTS))
    if kind == "entry":
        name = draw(st.sampled_from([*names, "__metadata__", "extra"]))
        return _with_value(body, (name,), draw(_FRAGMENTS))
    if kind == "key":  # a tensor renamed to something odd, or a huge name
        doc = json.loads(header)
        old = draw(st.sampled_from(names))
        doc[draw(st.text(max_size=30) | st.just("k" * 100_000))] = doc.pop(old)
        return _framed(json.dumps(doc).encode(), data)
    if kind == "bytes":  # random byte edits inside the header text
        edited = bytearray(header)
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(edited) - 1))
            op = draw(st.sampled_from(["set", "insert", "delete"]))
            if op == "set":
                edited[at] = draw(st.integers(0, 255))
            elif op == "insert":
                edited[at:at] = draw(st.binary(min_size=1, max_size=4))
            elif len(edited) > 1:
                del edited[at]
        return _framed(bytes(edited), data)
    declared = draw(st.integers(0, 2**64 - 1) | st.integers(0, len(header) + 16))
    return _framed(header, data, declared)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_header_mutation_is_accepted_or_refused_with_a_4xx(uploader, data):
    body = data.draw(_header_mutation(uploader.body))
    status, doc = uploader.put(body)
    if status == 200:
        assert doc["accepted"]  # a mutation that kept the header valid (e.g. a no-op edit)
    else:
        _assert_refused_by_the_payload_checks(status, doc)


def test_api_docs_are_off_unless_asked_for(uploader):
    http = TestClient(create_app(uploader.coordinator, run_ticker=False))
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        r = http.get(path)
        assert r.status_code == 404 and r.json()["error"] == "not_found", path
    on = TestClient(create_app(uploader.coordinator, run_ticker=False, api_docs=True))
    assert on.get("/openapi.json").json()["info"]["title"] == "govsim live coordinator"
    assert on.get("/docs").status_code == 200 and on.get("/redoc").status_code == 200


def test_serve_has_an_api_docs_flag_off_by_default():
    from click.testing import CliRunner

    from sim.cli import main

    text = CliRunner().invoke(main, ["live", "serve", "--help"]).output
    assert "--api-docs" in text and "off by default" in text


def test_a_refused_upload_still_names_its_problem(uploader):
    status, doc = uploader.put(b"\x80\x04 not a safetensors file")
    assert (status, doc["error"]) == (415, "not_safetensors") and "pickle" in doc["detail"]
    with pytest.raises(CoordinatorError) as err:
        uploader.client.upload(10**6, uploader.body)  # far from any put window
    assert err.value.status in (410, 425)


@pytest.mark.parametrize(
    "declared", [b"9" * 5000, "²".encode("latin-1"), "¹³".encode("latin-1"), b"-1", b"1e3", b"0x1"]
)
def test_odd_content_lengths_are_a_400(uploader, declared):
    # "²" passes str.isdigit but not int(); 5,000 digits exceed int()'s conversion limit.
    http = TestClient(create_app(uploader.coordinator, run_ticker=False))
    r = http.put("/v1/gradient/0", content=b"x", headers={b"content-length": declared})
    assert r.status_code == 400 and r.json()["error"] == "bad_header", (declared, r.text)
