"""The live coordinator in-process (FastAPI TestClient, fake clock): windows, rewards, refusals,
rate limits, checkpoints and restarts, config and key files."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace

import numpy as np
import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.live import PayloadLimits, decode_payload, encode_payload
from sim.live.app import create_app
from sim.live.client import CoordinatorError, LiveClient
from sim.live.config import LiveConfigError, live_config_from_dict, load_live_config
from sim.live.coordinator import Coordinator
from sim.live.keys import KeyFileError, load_or_create_key
from sim.live.miner import UnsupportedStrategyError, prepare, strategy_for, train_payload
from sim.live.store import StateDir

TABLE = {
    "window_seconds": 10.0,
    "put_window_seconds": 2.0,
    "training_config": "cpu-tiny",
    "validators": 2,
    "validator_stake": 1000.0,
    "max_miners": 4,
    "training": {"inner_steps": 4, "n_eval": 64},
    # Every TestClient request comes from one address ("testclient"); these tests play several
    # operators through it, so the per-address share is lifted (tests of the share set it).
    "registration": {"max_address_share": 1.0},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FakeClock:
    """A settable wall clock."""

    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _coordinator(tmp_path, clock, **overrides):
    config = live_config_from_dict(TABLE | overrides)
    return Coordinator(config, StateDir(tmp_path / "state"), now=clock)


def _client(coordinator, key=None):
    client = LiveClient("http://testserver", key or Ed25519PrivateKey.generate())
    client.http = TestClient(create_app(coordinator, run_ticker=False))
    return client


def _at(clock, coordinator, client, t, window):
    clock.t = t
    client.window_hint = window


@pytest.fixture()
def net(tmp_path):
    clock = FakeClock()
    coordinator = _coordinator(tmp_path, clock)
    clients = [_client(coordinator) for _ in range(3)]
    setup = prepare(clients[0].info(), "cpu")
    return clock, coordinator, clients, setup


def _mine_window(clock, coordinator, clients, setup, strategies, window, errors):
    """Every client pulls θ, trains, and uploads in the put window; then the window closes."""
    bodies = []
    for i, client in enumerate(clients):
        _at(clock, coordinator, client, coordinator.clock.window_start(window) + 0.5, window)
        raw, model_window, _ = client.model()
        assert model_window == window
        theta, _ = decode_payload(raw, PayloadLimits(max_bytes=1 << 30))
        uid = client.me()["uid"]
        body, errors[i], _ = train_payload(
            setup,
            strategy_for(strategies[i]),
            uid,
            window,
            theta,
            errors[i],
            np.random.default_rng([i, window]),
        )
        bodies.append(body)
    for client, body in zip(clients, bodies, strict=True):
        _at(clock, coordinator, client, coordinator.clock.put_window(window)[0] + 0.5, window + 1)
        assert client.upload(window, body)["accepted"]
    clock.t = coordinator.clock.close_time(window) + 0.01
    assert coordinator.run_due() == [window]


def test_windows_reward_honest_miners_and_survive_a_restart(net, tmp_path):
    clock, coordinator, clients, setup = net
    for client in clients:
        client.window_hint = 0
        client.register()
    strategies = ["honest", "honest", "poisoner"]
    errors = [None, None, None]
    for window in range(4):
        _mine_window(clock, coordinator, clients, setup, strategies, window, errors)
    earned = [c.me()["emission_tao"] for c in clients]
    assert earned[2] == 0.0 and earned[0] > 0 and earned[1] > 0
    status = clients[0].status()
    assert status["last_closed_window"] == 3 and status["model"]["window"] == 4
    total = sum(status["emission_tao"].values())
    assert total == pytest.approx(4 * coordinator.config.emission_per_window)
    assert len(status["windows"][-1]["uploads"]) == 3
    assert status["windows"][-1]["metrics"]["contributors"] >= 2

    # An upload for window 4 is accepted, then the coordinator dies before window 4 closes.
    _at(clock, coordinator, clients[0], coordinator.clock.window_start(4) + 0.5, 4)
    raw, _, _ = clients[0].model()
    theta, _ = decode_payload(raw, PayloadLimits(max_bytes=1 << 30))
    body, _, _ = train_payload(
        setup,
        strategy_for("honest"),
        clients[0].me()["uid"],
        4,
        theta,
        errors[0],
        np.random.default_rng(9),
    )
    _at(clock, coordinator, clients[0], coordinator.clock.put_window(4)[0] + 0.2, 5)
    clients[0].upload(4, body)
    before = coordinator.status()
    model_before = clients[0].model()[0]
    del coordinator

    restarted = _coordinator(tmp_path, clock)
    after = restarted.status()
    assert after["emission_tao"] == before["emission_tao"]
    assert after["pending_uploads"] == {"4": 1}
    assert after["model"] == before["model"] and after["windows"] == before["windows"]
    # Replaying the accepted upload after the restart is refused (nonce and duplicate).
    again = _client(restarted, clients[0].key)
    _at(clock, restarted, again, clock.t, 5)
    assert again.model()[0] == model_before
    with pytest.raises(CoordinatorError) as err:
        again.upload(4, body)
    assert err.value.status == 409 and err.value.code == "already_uploaded"
    clock.t = restarted.clock.close_time(4) + 0.01
    assert restarted.run_due() == [4]
    assert restarted.history[-1]["statuses"][str(again.me()["uid"])] == "ok"


def test_model_bytes_survive_restart_exactly(tmp_path):
    clock = FakeClock()
    first = _coordinator(tmp_path, clock)
    clock.t = first.clock.close_time(0) + 0.01
    first.run_due()
    second = _coordinator(tmp_path, clock)
    assert second.model_bytes == first.model_bytes and second.last_closed == 0
    with pytest.raises(ValueError, match="different \\[live\\] config"):
        _coordinator(tmp_path, clock, seed=5)


def test_timing_and_registration_refusals(net):
    clock, coordinator, clients, _ = net
    a = clients[0]
    a.window_hint = 0
    body = encode_payload(coordinator.engine.reference_payload())
    with pytest.raises(CoordinatorError) as err:
        a.upload(0, body)
    assert (err.value.status, err.value.code) == (403, "not_registered")
    a.register()
    assert a.register()["uid"] == coordinator.engine.first_miner_uid  # idempotent
    with pytest.raises(CoordinatorError) as err:
        a.upload(0, body)  # still in window 0: too early
    assert (err.value.status, err.value.code) == (425, "too_early")
    _at(clock, coordinator, a, coordinator.clock.put_window(0)[0] + 0.1, 1)
    assert a.upload(0, body)["accepted"]
    with pytest.raises(CoordinatorError) as err:
        a.upload(0, body)
    assert (err.value.status, err.value.code) == (409, "already_uploaded")
    request = a.signed("PUT", "/v1/gradient/0", window=1, body=body)
    with pytest.raises(CoordinatorError) as err:
        a.send(request)
    assert err.value.code == "window_mismatch"
    late = clients[1]
    _at(clock, coordinator, late, coordinator.clock.close_time(0) + 0.1, 1)
    late.register()
    with pytest.raises(CoordinatorError) as err:
        late.upload(0, body)
    assert (err.value.status, err.value.code) == (410, "too_late")
    with pytest.raises(CoordinatorError) as err:
        late.upload(5, body)  # far from any put window: refused before parsing
    assert (err.value.status, err.value.code) == (425, "too_early")
    a.window_hint = 7
    with pytest.raises(CoordinatorError) as err:
        a.me()
    assert err.value.code == "stale_window"
    for _ in range(2):
        extra = _client(coordinator)
        extra.window_hint = 1
        extra.register()
    with pytest.raises(CoordinatorError) as err:
        full = _client(coordinator)
        full.window_hint = 1
        full.register()
    assert (err.value.status, err.value.code) == (403, "subnet_full")


def test_invalid_gradient_is_refused_and_scored_invalid(net):
    clock, coordinator, clients, _ = net
    a = clients[0]
    a.window_hint = 0
    uid = a.register()["uid"]
    payload = coordinator.engine.reference_payload()
    name = next(k for k in payload if k.endswith(".idx"))
    bad = dict(payload)
    bad[name] = torch.zeros_like(payload[name])  # every index 0: duplicates within each chunk
    _at(clock, coordinator, a, coordinator.clock.put_window(0)[0] + 0.1, 1)
    with pytest.raises(CoordinatorError) as err:
        a.upload(0, encode_payload(bad))
    assert (err.value.status, err.value.code) == (
        422,
        "invalid_gradient",
    ) and "duplicate" in err.value.detail
    clock.t = coordinator.clock.close_time(0) + 0.01
    coordinator.run_due()
    assert coordinator.history[-1]["statuses"][str(uid)] == "invalid"


def test_rate_limit_is_per_verified_hotkey(tmp_path):
    clock = FakeClock()
    coordinator = _coordinator(tmp_path, clock, rate_per_second=0.001, rate_burst=3)
    victim = _client(coordinator)
    victim.window_hint = 0
    forger = Ed25519PrivateKey.generate()
    # Forged requests in the victim's name never touch the victim's bucket or nonce.
    for _ in range(10):
        req = LiveClient("http://testserver", forger).signed("POST", "/v1/register")
        req.headers["x-govsim-hotkey"] = victim.hotkey
        with pytest.raises(CoordinatorError) as err:
            victim.send(req)
        assert err.value.status == 401
    victim_uid = victim.register()["uid"]
    victim.me()
    victim.me()
    with pytest.raises(CoordinatorError) as err:
        victim.me()
    assert (err.value.status, err.value.code) == (429, "rate_limited")
    # Another hotkey is unaffected.
    other = _client(coordinator)
    other.window_hint = 0
    assert other.register()["uid"] == victim_uid + 1


def test_oversize_chunked_body_without_length_is_refused(tmp_path):
    clock = FakeClock()
    coordinator = _coordinator(tmp_path, clock, max_upload_bytes=4096)
    http = TestClient(create_app(coordinator, run_ticker=False))

    def chunks():
        for _ in range(100):
            yield b"\0" * 1024

    r = http.put("/v1/gradient/0", content=chunks())
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = http.put("/v1/gradient/0", content=b"x" * 5000)
    assert r.status_code == 413
    assert http.get("/v1/clock").status_code == 200
    r = http.get("/v1/nowhere")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = http.get("/v1/assignment/abc")
    assert r.status_code == 422 and r.json()["error"] == "bad_request"


def test_well_formed_uploads_skip_the_full_decode_and_odd_ones_still_get_judged(net, monkeypatch):
    import sim.live.coordinator as coordinator_module

    clock, coordinator, clients, _ = net
    a, b = clients[0], clients[1]
    for client in (a, b):
        client.window_hint = 0
        client.register()
    body = encode_payload(coordinator.engine.reference_payload())
    _at(clock, coordinator, a, coordinator.clock.put_window(0)[0] + 0.1, 1)
    b.window_hint = 1
    decoded = []
    real_decode = coordinator_module.decode_payload
    monkeypatch.setattr(
        coordinator_module,
        "decode_payload",
        lambda raw, limits: decoded.append(len(raw)) or real_decode(raw, limits),
    )
    assert a.upload(0, body)["accepted"]
    assert decoded == []  # the one-pass check vouched for it
    # The same upload with metadata in its header: valid, but only the full path may say so.
    tensors, _ = real_decode(body, coordinator.limits)
    assert b.upload(0, encode_payload(tensors, {"note": "x"}))["accepted"]
    assert len(decoded) == 1
    # Received uploads are the exact bytes, durable, and decode at window close as before.
    clock.t = coordinator.clock.close_time(0) + 0.01
    coordinator.run_due()
    assert coordinator.history[-1]["uploads"] == sorted([a.me()["uid"], b.me()["uid"]])


def test_upload_route_edge_cases_answer_as_json(tmp_path, monkeypatch):
    clock = FakeClock()
    coordinator = _coordinator(tmp_path, clock)
    http = TestClient(create_app(coordinator, run_ticker=False), raise_server_exceptions=False)
    r = http.put("/v1/gradient/0", content=b"x", headers={"content-length": "abc"})
    assert r.status_code == 400 and r.json()["error"] == "bad_header"
    # Paths the upload layer leaves to FastAPI answer as FastAPI always did.
    r = http.put("/v1/gradient/abc", content=b"x")
    assert r.status_code == 422 and r.json()["error"] == "bad_request"
    for path in ("/v1/gradient/-1", "/v1/gradient/" + "9" * 30):
        r = http.put(path, content=b"x")
        assert r.status_code == 401 and r.json()["error"] == "unsigned", path
    r = http.put("/v1/gradient/0", content=b"x")  # unsigned
    assert r.status_code == 401 and r.json() == {
        "error": "unsigned",
        "detail": r.json()["detail"],
        "status": 401,
    }

    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    # A bug costs one request (JSON 500), on the upload route and on the FastAPI routes.
    monkeypatch.setattr(coordinator, "authenticate", bug)
    r = http.put("/v1/gradient/0", content=b"x")
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert "a bug" in r.json()["detail"]
    monkeypatch.setattr(coordinator, "info", bug)
    r = http.get("/v1/info")
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert http.get("/v1/clock").status_code == 200


def test_status_and_info_are_json_for_the_explorer(net):
    _, _, clients, _ = net
    info = clients[0].info()
    assert info["payload"]["format"] == "safetensors"
    assert info["training"]["config"]["inner_steps"] == 4
    status = clients[0].status()
    assert set(status) >= {"network", "clock", "model", "miners", "windows", "emission_tao"}
    json.dumps(status)


# ---------------------------------------------------------------- config and keys


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"window_secs": 3}, "live.window_secs: unknown key"),
        ({"window_seconds": -1}, "live.window_seconds = -1"),
        ({"window_seconds": 4, "put_window_seconds": 4}, "expected < window_seconds"),
        ({"training_config": "huge"}, "live.training_config = 'huge'"),
        ({"training": {"warp": 9}}, "live.training.warp"),
        ({"validators": 0}, "live.validators"),
        ({"validator_stake": -5}, "live.validator_stake"),
        ({"rate_burst": 0}, "live.rate_burst"),
        ({"seed": True}, "live.seed"),
        # override values are checked too (0 crashed the first round; a string, the start-up)
        ({"training": {"windows_per_weights": 0}}, "windows_per_weights=0"),
        ({"training": {"topk": "many"}}, "topk='many'"),
        # a quoted TOML key may hold a line break: shown escaped, the error stays one line
        ({"win\ndow": 3}, "live.'win\\ndow': unknown key"),
        ({"network": {"net\nuid": 1}}, "live.network.'net\\nuid': unknown key"),
        ({"registration": {"b\turn": 1}}, "live.registration.'b\\turn': unknown key"),
        ({"training": {"to\npk": 1}}, "live.training.'to\\npk': not an overridable"),
    ],
)
def test_bad_live_tables_name_the_field(table, fragment):
    with pytest.raises(LiveConfigError) as err:
        live_config_from_dict(table, where="s.toml")
    assert fragment in str(err.value) and "s.toml" in str(err.value)
    assert "\n" not in str(err.value)


def test_scenario_files(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        "[live]\nwindow_seconds = 6\nvalidators = 2\n[live.training]\ninner_steps = 3\n"
    )
    config, rest = load_live_config(path)
    assert config.window_seconds == 6 and config.validators == 2 and rest == {}
    path.write_text('name = "x"\n')
    with pytest.raises(LiveConfigError, match="no \\[live\\] table"):
        load_live_config(path)
    path.write_text("[live\n")
    with pytest.raises(LiveConfigError, match="not valid TOML"):
        load_live_config(path)
    with pytest.raises(LiveConfigError, match="no such scenario"):
        load_live_config(tmp_path / "missing.toml")


def test_key_file_created_private_and_reloaded(tmp_path):
    path = tmp_path / "keys" / "miner.json"
    key, created = load_or_create_key(path)
    assert created and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, created_again = load_or_create_key(path)
    assert not created_again and again.private_bytes_raw() == key.private_bytes_raw()
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(doc | {"hotkey": "00" * 32}))
    with pytest.raises(KeyFileError, match="does not match"):
        load_or_create_key(path)
    path.write_text("not json")
    with pytest.raises(KeyFileError, match="not a readable JSON key file"):
        load_or_create_key(path)


def test_copier_strategies_are_refused_for_live_miners():
    with pytest.raises(UnsupportedStrategyError, match="copies"):
        strategy_for("copier")
    assert strategy_for("free_rider").name == "free_rider"


def test_state_dir_drops_torn_temporary_files(tmp_path):
    (tmp_path / ".state.json.abc.tmp").write_text("{")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".model-w3.safetensors.x.tmp").write_bytes(b"\0")
    StateDir(tmp_path)
    assert not list(tmp_path.rglob("*.tmp"))


def test_upload_log_drops_a_torn_record_and_keeps_appending(tmp_path):
    store = StateDir(tmp_path)
    log = store.upload_log(3)
    log.append({"uid": 5, "n": 1}, b"first")
    log.append({"uid": 6, "n": 2}, b"second")
    store.close()
    path = store.upload_log_path(3)
    intact = path.read_bytes()
    path.write_bytes(intact + intact[: len(intact) // 3])  # a crash mid-append
    assert {u: b for u, (_, b) in store.read_uploads(3).items()} == {5: b"first", 6: b"second"}
    flipped = bytearray(intact)
    flipped[-1] ^= 1  # a corrupted last record fails its checksum
    path.write_bytes(bytes(flipped))
    assert set(store.read_uploads(3)) == {5}
    path.write_bytes(intact + b"garbage")
    reopened = StateDir(tmp_path)
    reopened.upload_log(3).append({"uid": 7}, b"third")
    assert {u: b for u, (_, b) in reopened.read_uploads(3).items()} == {
        5: b"first",
        6: b"second",
        7: b"third",
    }
    reopened.prune_uploads(4)
    assert reopened.upload_windows() == []


def test_engine_state_round_trips(tmp_path):
    clock = FakeClock()
    coordinator = _coordinator(tmp_path, clock)
    clock.t = coordinator.clock.close_time(1) + 0.01
    coordinator.run_due()
    exported = coordinator.engine.export_state()
    fresh = replace(coordinator.config)
    other = Coordinator(fresh, StateDir(tmp_path / "state"), now=clock)
    assert json.dumps(other.engine.export_state(), sort_keys=True) == json.dumps(
        exported, sort_keys=True
    )


def test_a_window_that_fails_to_score_rolls_back_then_closes_without_uploads(net, monkeypatch):
    import time

    import sim.live.engine as engine_module

    clock, coordinator, clients, _ = net
    a = clients[0]
    a.window_hint = 0
    uid = a.register()["uid"]
    _at(clock, coordinator, a, coordinator.clock.put_window(0)[0] + 0.1, 1)
    a.upload(0, encode_payload(coordinator.engine.reference_payload()))
    real_round = engine_module.run_round

    def failing_round(state, external):
        if any(u.payload is not None for u in external.values()):
            raise RuntimeError("scoring bug")
        return real_round(state, external)

    monkeypatch.setattr(engine_module, "run_round", failing_round)
    before = json.dumps(coordinator.engine.export_state(), sort_keys=True)
    clock.t = coordinator.clock.close_time(0) + 0.01
    with pytest.raises(RuntimeError, match="scoring bug"):
        coordinator.run_due()
    assert json.dumps(coordinator.engine.export_state(), sort_keys=True) == before
    assert coordinator.last_closed == -1
    coordinator.start()  # the ticker retries, then scores the window without its uploads
    try:
        deadline = time.monotonic() + 20
        while coordinator.last_closed < 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        coordinator.stop()
    assert coordinator.last_closed == 0
    assert coordinator.history[-1]["statuses"][str(uid)] == "missing"
    assert "scoring bug" in coordinator.status()["ticker_error"]


def test_unsigned_endpoints_are_rate_limited_per_address(tmp_path, monkeypatch):
    import sim.live.coordinator as coordinator_module

    monkeypatch.setattr(coordinator_module, "PUBLIC_RATE", 0.001)
    monkeypatch.setattr(coordinator_module, "PUBLIC_BURST", 3)
    coordinator = _coordinator(tmp_path, FakeClock())
    http = TestClient(create_app(coordinator, run_ticker=False))
    assert [http.get(p).status_code for p in ("/v1/clock", "/v1/info", "/v1/status")] == [200] * 3
    r = http.get("/v1/clock")
    assert r.status_code == 429 and r.json()["error"] == "rate_limited" and r.headers["retry-after"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=5), st.data())
def test_any_torn_upload_log_reads_as_a_prefix(tmp_path_factory, bodies, data):
    root = tmp_path_factory.mktemp("log")
    store = StateDir(root)
    for uid, body in enumerate(bodies):
        store.upload_log(1).append({"uid": uid}, body)
    store.close()
    path = store.upload_log_path(1)
    raw = path.read_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    path.write_bytes(raw[:cut])
    got = [b for _, (_, b) in sorted(store.read_uploads(1).items())]
    assert got == bodies[: len(got)]  # whole records, in order, never a torn one


def test_serve_refuses_an_unusable_state_dir(tmp_path):
    from click.testing import CliRunner

    from sim.cli import main

    scenario = tmp_path / "s.toml"
    scenario.write_text("[live]\nwindow_seconds = 6\n")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = CliRunner().invoke(
        main,
        ["live", "serve", "--scenario", str(scenario), "--state-dir", str(blocker / "state")],
    )
    # exit 2 with one line naming the option (was a NotADirectoryError traceback)
    assert result.exit_code == 2 and "--state-dir" in result.output
    assert "Traceback" not in result.output


def test_key_file_under_a_file_is_a_key_file_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    # were FileExistsError / NotADirectoryError tracebacks out of `govsim live mine`
    for path in (blocker / "miner.json", blocker / "keys" / "miner.json"):
        with pytest.raises(KeyFileError, match="cannot create it"):
            load_or_create_key(path)
