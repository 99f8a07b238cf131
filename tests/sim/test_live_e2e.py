"""Live mode end to end on loopback: a coordinator and three miner processes (CPU, tiny model,
short windows), attacks against the running coordinator, a miner killed mid-upload and a
coordinator killed mid-window and restarted from its checkpoint while the miners keep mining
(they reconnect). Tests run in file order against one network.

Every subprocess is started in its own session and killed (SIGKILL to its group) by the fixture.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.live import PayloadLimits, decode_payload, encode_payload
from protocol.training.compression import compress_pseudo_gradient
from protocol.training.models import make_model
from sim.live.client import CoordinatorError, LiveClient
from sim.live.keys import KeyFileError, load_or_create_key
from sim.live.miner import training_config_from_info

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("one_torch_thread")]

WINDOW_S = 4.0
PUT_S = 1.5
MINER_WINDOWS = 7  # payments start after a new miner's rating moves (window 3-4 on cpu-tiny): leave room under load
STRATEGIES = ("honest", "honest", "poisoner")
SCENARIO = f"""
[live]
window_seconds = {WINDOW_S}
put_window_seconds = {PUT_S}
training_config = "cpu-tiny"
validators = 2
validator_stake = 1000.0
max_upload_bytes = 65536
seed = 3

[live.training]
n_eval = 64
windows_per_weights = 1  # weights on chain every window, so short runs show rewards
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveNet:
    """The running processes and where they log."""

    root: Path
    url: str
    port: int
    coordinator_args: list[str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    coordinator: subprocess.Popen | None = None
    miners: list[subprocess.Popen] = field(default_factory=list)

    def spawn(self, args: list[str], log: str) -> subprocess.Popen:
        env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        with open(self.root / log, "ab") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sim", *args],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=Path(__file__).resolve().parents[2],
            )
        self.procs.append(proc)
        return proc

    def start_coordinator(self) -> None:
        self.coordinator = self.spawn(self.coordinator_args, "coordinator.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.coordinator.poll() is None, (self.root / "coordinator.log").read_text()
            try:
                if httpx.get(f"{self.url}/v1/clock", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("coordinator did not come up in 60 s")

    def kill(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def live_net(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    (root / "scenario.toml").write_text(SCENARIO)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        "live",
        "serve",
        "--scenario",
        str(root / "scenario.toml"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state-dir",
        str(root / "state"),
    ]
    net = LiveNet(root, url, port, args)
    try:
        net.start_coordinator()
        for i, strategy in enumerate(STRATEGIES):
            net.miners.append(
                net.spawn(
                    [
                        "live",
                        "mine",
                        "--coordinator",
                        url,
                        "--key",
                        str(root / f"miner{i}.json"),
                        "--device",
                        "cpu",
                        "--strategy",
                        strategy,
                        "--windows",
                        str(MINER_WINDOWS),
                    ],
                    f"miner{i}.log",
                )
            )
        yield net
    finally:
        for proc in net.procs:
            net.kill(proc)


def _attacker(net: LiveNet, key: Ed25519PrivateKey | None = None) -> LiveClient:
    client = LiveClient(net.url, key or Ed25519PrivateKey.generate(), timeout=20)
    client.server_clock()
    return client


def _valid_body(client: LiveClient, scale: float = 1e-3) -> bytes:
    """A well-formed upload: a compressed random pseudo-gradient for the coordinator's model."""
    config = training_config_from_info(client.info()["training"]["config"])
    gen = torch.Generator().manual_seed(1)
    delta = {
        n: torch.randn(p.shape, generator=gen) * scale
        for n, p in make_model(config).named_parameters()
    }
    result = compress_pseudo_gradient(
        delta,
        None,
        chunk=config.chunk,
        topk=config.topk,
        ef_beta=config.ef_beta,
        bins=config.quant_bins,
        value_range=config.quant_range,
    )
    return encode_payload(result.gradient.to_dict(2))


def _refused(call, status: int, code: str) -> CoordinatorError:
    with pytest.raises(CoordinatorError) as err:
        call()
    assert (err.value.status, err.value.code) == (status, code), str(err.value)
    assert err.value.detail  # a clear line, not an empty body
    return err.value


def _still_serving(net: LiveNet) -> None:
    r = httpx.get(f"{net.url}/v1/clock", timeout=10)
    assert r.status_code == 200 and net.coordinator.poll() is None


def test_attacks_are_refused_with_clear_4xx_and_the_coordinator_keeps_serving(live_net):
    a = _attacker(live_net)
    a.register()
    other = LiveClient(live_net.url, Ed25519PrivateKey.generate())
    forged = other.signed("GET", "/v1/me", window=a.window_hint)
    forged.headers["x-govsim-hotkey"] = a.hotkey
    _refused(lambda: a.send(forged), 401, "bad_signature")
    _still_serving(live_net)

    request = a.signed("GET", "/v1/me")
    a.send(request)
    _refused(lambda: a.send(request), 409, "replayed_nonce")
    _still_serving(live_net)

    def window() -> int:
        # Asked afresh for each upload: on a loaded machine the steps below can outlast a
        # window, and an upload for a window long gone is refused for its timing, before parsing.
        return a.server_clock()["window"]

    _refused(lambda: a.upload(window(), b"\0" * 70_000), 413, "payload_too_large")
    _still_serving(live_net)
    _refused(lambda: a.upload(window(), b"not a safetensors file at all"), 415, "not_safetensors")
    _refused(lambda: a.upload(window(), encode_payload({"x": torch.zeros(3)})), 422, "wrong_layout")
    _still_serving(live_net)

    body = _valid_body(a)
    tensors, _ = decode_payload(body, PayloadLimits(max_bytes=1 << 20))
    qkey = next(k for k in tensors if k.endswith(".qparams"))
    tensors[qkey][0] = float("nan")
    _refused(lambda: a.upload(window(), encode_payload(tensors)), 422, "non_finite")
    err = _refused(lambda: a.upload(window(), pickle.dumps(dict(tensors))), 415, "not_safetensors")
    assert "pickle" in err.detail
    _still_serving(live_net)
    # The well-formed body is accepted only inside its put window.
    _refused(lambda: a.upload(window(), body), 425, "too_early")
    _still_serving(live_net)


def _sleep_until(client: LiveClient, t: float) -> None:
    time.sleep(max(0.0, t - client.server_now()))


def _wait_closed(client: LiveClient, window: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while client.server_clock()["last_closed_window"] < window:
        assert time.monotonic() < deadline, f"window {window} did not close in {timeout} s"
        time.sleep(0.2)


def test_a_miner_killed_mid_upload_loses_nothing(live_net):
    a = _attacker(live_net)
    uid = a.register()["uid"]
    clock = a.server_clock()
    window = clock["window"]
    body = _valid_body(a)
    request = a.signed("PUT", f"/v1/gradient/{window}", window=window, body=body)
    head = (
        f"PUT /v1/gradient/{window} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
    )
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k.startswith("x-govsim"))
    partial = live_net.root / "partial.bin"
    partial.write_bytes(head.encode() + b"\r\n" + body[: len(body) // 2])
    script = (
        "import os, signal, socket, time\n"
        f"s = socket.create_connection(('127.0.0.1', {live_net.port}))\n"
        f"s.sendall(open({str(partial)!r}, 'rb').read())\n"
        "time.sleep(0.3)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    live_net.procs.append(child)
    assert child.wait(timeout=30) == -signal.SIGKILL
    _still_serving(live_net)
    # The same key in a fresh client (the restarted miner) uploads the same body in the put window:
    # accepted, so the torn upload left nothing behind (no duplicate, no nonce trouble).
    again = _attacker(live_net, a.key)
    _sleep_until(again, clock["genesis"] + (window + 1) * clock["window_seconds"] + 0.05)
    receipt = again.upload(window, body)
    assert receipt["accepted"] and receipt["uid"] == uid
    _wait_closed(again, window, 3 * WINDOW_S)
    rows = {r["window"]: r for r in again.me()["windows"]}
    assert rows[window]["status"] == "ok"


def _wait_miners_registered(net: LiveNet, timeout: float) -> None:
    """Until every miner process has registered (its first contact must not meet a restart)."""
    deadline = time.monotonic() + timeout
    while True:
        keys = [net.root / f"miner{i}.json" for i in range(len(STRATEGIES))]
        registered = {
            m["hotkey"] for m in httpx.get(f"{net.url}/v1/status", timeout=10).json()["miners"]
        }
        try:
            if all(k.exists() for k in keys) and all(
                LiveClient(net.url, _key(k)).hotkey in registered for k in keys
            ):
                return
        except KeyFileError:  # a miner is writing its key file right now
            pass
        assert time.monotonic() < deadline, "miners did not register in time"
        time.sleep(0.2)


def test_coordinator_killed_mid_window_restarts_losing_nothing(live_net):
    _wait_miners_registered(live_net, 90)
    a = _attacker(live_net)
    a.register()
    body = _valid_body(a)
    clock = a.server_clock()
    window = clock["window"]
    _sleep_until(a, clock["genesis"] + (window + 1) * clock["window_seconds"] + 0.05)
    assert a.upload(window, body)["accepted"]
    before = a.status()
    pending = before["pending_uploads"].get(str(window), 0)
    assert pending >= 1  # ours, and the miners' that landed already
    # SIGKILL inside the put window, while the miners are mining: no clean shutdown.
    live_net.kill(live_net.coordinator)
    live_net.start_coordinator()
    after = a.status()
    closed_before = {w["window"]: w for w in before["windows"]}
    for w in after["windows"]:
        if w["window"] in closed_before:
            assert w == closed_before[w["window"]]
    for hotkey, tao in before["emission_tao"].items():
        assert after["emission_tao"][hotkey] >= tao
    _wait_closed(a, window, 6 * WINDOW_S)  # generous: a restart on a loaded machine is slow
    a.window_hint = a.server_clock()["window"]
    rows = {r["window"]: r for r in a.me()["windows"]}
    assert rows[window]["status"] == "ok"  # the upload accepted before the crash was scored
    scored = {w["window"]: w for w in a.status()["windows"]}[window]
    assert len(scored["uploads"]) >= pending  # and so was every other accepted upload
    # Replaying it after the restart is refused.
    _refused(lambda: a.upload(window, body), 410, "too_late")


def test_honest_miners_out_earn_the_poisoner(live_net):
    outputs = []
    for i, proc in enumerate(live_net.miners):
        proc.wait(timeout=90)
        text = (live_net.root / f"miner{i}.log").read_text()
        assert proc.returncode == 0, text
        assert "registered hotkey" in text and "done: uid" in text
        outputs.append(text)
    status = httpx.get(f"{live_net.url}/v1/status", timeout=10).json()
    hotkeys = [
        LiveClient(live_net.url, _key(live_net.root / f"miner{i}.json")).hotkey for i in range(3)
    ]
    uids = {m["hotkey"]: m["uid"] for m in status["miners"]}
    common = [
        w
        for w in status["windows"]
        if all(w["statuses"].get(str(uids[h])) == "ok" for h in hotkeys)
    ]
    assert len(common) >= 2, [w["statuses"] for w in status["windows"]]
    earned = [sum(w["emission_tao"].get(h, 0.0) for w in common) for h in hotkeys]
    honest, poisoner = earned[:2], earned[2]
    assert min(honest) > poisoner, (earned, outputs)
    assert status["miners"] and all("emission_tao" in m for m in status["miners"])
    # Every miner printed its scores and earnings per window.
    for text in outputs:
        assert "closed: status ok" in text and "TAO" in text


def _key(path: Path) -> Ed25519PrivateKey:
    return load_or_create_key(path)[0]


def test_the_coordinator_log_tells_fresh_resumed_and_every_window(live_net):
    text = (live_net.root / "coordinator.log").read_text()
    assert text.count("fresh start in") == 1 and "resumed at window 0" not in text
    fresh, restarted = text.split("fresh start in", 1)[1].split(" resumed /", 1)
    assert f"serving http://127.0.0.1:{live_net.port}" in fresh and "window 4 s" in fresh
    assert "window(s) closed" in restarted.splitlines()[0]  # the restart said what it resumed
    windows = [line for line in text.splitlines() if " closed in " in line]
    numbers = [int(line.split(" closed in ")[0].rsplit(" ", 1)[1]) for line in windows]
    assert numbers == sorted(set(numbers)) and len(numbers) >= MINER_WINDOWS
    assert all("uploads " in line and "final scores" in line for line in windows)
    assert any("paid " in line and " TAO (miners " in line for line in windows)
    assert "registered hotkey" in text
