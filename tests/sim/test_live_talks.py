"""Live mode tells what it does: the coordinator's start-up facts and per-window lines, the miner's
explained per-window line, keys and state in per-user directories, one default port, and a README
tour that leaves no files in the checkout."""

from __future__ import annotations

import logging
import os
import re
import shlex
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

import sim.live
from protocol.live import PayloadLimits, decode_payload
from sim.cli import main
from sim.live.app import create_app
from sim.live.client import CoordinatorError, LiveClient
from sim.live.config import live_config_from_dict
from sim.live.coordinator import Coordinator
from sim.live.miner import prepare, strategy_for, train_payload, window_report_line
from sim.live.paths import DEFAULT_PORT, config_dir, default_key_path, state_root
from sim.live.store import StateDir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[2]
TABLE = {
    "window_seconds": 10.0,
    "put_window_seconds": 2.0,
    "training_config": "cpu-tiny",
    "validators": 2,
    "max_miners": 4,
    "training": {"inner_steps": 2, "n_eval": 16, "windows_per_weights": 2},
    "registration": {"max_address_share": 1.0},
}


class FakeClock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def user_dirs(tmp_path, monkeypatch):
    """HOME and the XDG directories in a temporary directory; the working directory is the
    checkout (where the README's commands run)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(REPO)
    return home


@pytest.fixture()
def no_server(monkeypatch):
    """``govsim live serve`` builds its coordinator and prints its facts, but serves nothing."""
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(kw))
    return served


@pytest.fixture()
def no_mining(monkeypatch):
    """``govsim live mine`` loads or creates its key, but does not contact a coordinator."""
    import sim.live.miner as miner_module

    calls = []

    def fake_run_miner(client, **kwargs):
        calls.append((client.hotkey, kwargs))
        return {"uid": 3, "emission_tao": 0.0, "burn_tao": 0.1, "net_tao": -0.1, "uploads": []}

    monkeypatch.setattr(miner_module, "run_miner", fake_run_miner)
    return calls


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- the coordinator's lines


def _mine(clock, coordinator, clients, setup, window, strategies):
    bodies = []
    for i, client in enumerate(clients):
        clock.t = coordinator.clock.window_start(window) + 0.5
        client.window_hint = window
        raw, _, _ = client.model()
        theta, _ = decode_payload(raw, PayloadLimits(max_bytes=1 << 30))
        uid = client.me()["uid"]
        body, _, _ = train_payload(
            setup, strategy_for(strategies[i]), uid, window, theta, None, np.random.default_rng(i)
        )
        bodies.append(body)
    clock.t = coordinator.clock.put_window(window)[0] + 0.5
    for client, body in zip(clients, bodies, strict=True):
        client.window_hint = window + 1
        client.upload(window, body)


def test_the_coordinator_logs_one_line_per_window(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sim.live")
    clock = FakeClock()
    coordinator = Coordinator(live_config_from_dict(TABLE), StateDir(tmp_path / "s"), now=clock)
    app = create_app(coordinator, run_ticker=False)
    clients = []
    for _ in range(3):
        client = LiveClient("http://testserver", Ed25519PrivateKey.generate())
        client.http = TestClient(app)
        client.register()
        clients.append(client)
    registered = [r.getMessage() for r in caplog.records if "registered hotkey" in r.getMessage()]
    assert len(registered) == 3 and "burned 0.100000 TAO" in registered[0]
    setup = prepare(clients[0].info(), "cpu")
    for window in range(3):
        _mine(clock, coordinator, clients[:2], setup, window, ["honest", "honest"])
        clients[2].window_hint = window + 1
        with pytest.raises(CoordinatorError):
            clients[2].upload(window, b"garbage")
        if window == 1:  # a second upload of uid 3 for the window
            with pytest.raises(CoordinatorError):
                clients[0].upload(window, b"x")
        clock.t = coordinator.clock.close_time(window) + 0.01
        coordinator.run_due()
    lines = [r.getMessage() for r in caplog.records if " closed in " in r.getMessage()]
    assert [line.split()[1] for line in lines] == ["0", "1", "2"]  # one per window, in order
    first, second, third = lines
    assert "uploads 2 accepted, 1 refused (not_safetensors 1)" in first
    # The duplicate of uid 3 in window 1 is refused too (409 already_uploaded), and named.
    assert "uploads 2 accepted, 2 refused (already_uploaded 1, not_safetensors 1)" in second
    uids = sorted(m.uid for m in coordinator.miners.values())
    assert all(f"uid {u} " in first for u in uids)  # every miner's final score
    # Weights go on chain every 2 windows (windows 0 and 2); window 1 pays on window 0's.
    assert "paid 1.000000 TAO (miners " in first and "on the weights of window 0" in first
    assert "on the weights of window 0" in second and "on the weights of window 2" in third
    assert "held-out loss" in first


def test_serve_says_fresh_then_resumed_with_its_facts(user_dirs, no_server, tmp_path):
    scenario = tmp_path / "demo.toml"
    scenario.write_text("[live]\nwindow_seconds = 6\nmax_miners = 8\n")
    runner = CliRunner()
    first = runner.invoke(main, ["live", "serve", "--scenario", str(scenario)])
    assert first.exit_code == 0, first.output
    state = state_root() / "demo"
    assert f"fresh start in {state}: window 0 begins now" in first.output
    assert "resumed" not in first.output
    assert f"serving http://127.0.0.1:{DEFAULT_PORT}" in first.output
    assert "window 6 s, put window 1.5 s" in first.output and "API docs off" in first.output
    assert "8 miner slots, at most 2 per address" in first.output
    assert no_server[-1]["port"] == DEFAULT_PORT
    second = runner.invoke(main, ["live", "serve", "--scenario", str(scenario), "--api-docs"])
    assert second.exit_code == 0, second.output
    assert f"resumed {state}: 0 window(s) closed, 0 miner(s) registered" in second.output
    assert "fresh start" not in second.output and "API docs on" in second.output
    assert "resumed at window 0" not in first.output + second.output


def test_the_miners_line_says_where_its_payment_came_from():
    row = {
        "window": 5,
        "status": "ok",
        "score": {"final": 0.0, "gradient_score": 0.0123, "ordinal": 0.0, "bma": 0.01},
        "weight": 0.25,
        "emission_tao": 0.125,
        "paid_from_window": 3,
        "paid_from_score": {"final": 0.41, "weight": 0.5},
        "windows_per_weights": 3,
    }
    line = window_report_line(row, 0.5)
    assert "window 5 closed: status ok; its score: final 0.0000" in line
    assert (
        "paid 0.125000 TAO (incentive 0.2500 of the miners' half) on the weights of window 3"
        in line
    )
    assert "set every 3 windows (your final score then 0.4100, weight 0.5000)" in line
    assert line.endswith("total then 0.500000 TAO")
    early = window_report_line(row | {"emission_tao": 0.0, "paid_from_window": None}, 0.0)
    assert "paid nothing: no validator weights on chain yet, set every 3 windows" in early


def test_me_rows_name_the_window_whose_weights_paid(tmp_path):
    clock = FakeClock()
    coordinator = Coordinator(live_config_from_dict(TABLE), StateDir(tmp_path / "s"), now=clock)
    app = create_app(coordinator, run_ticker=False)
    clients = []
    for _ in range(2):
        client = LiveClient("http://testserver", Ed25519PrivateKey.generate())
        client.http = TestClient(app)
        client.register()
        clients.append(client)
    setup = prepare(clients[0].info(), "cpu")
    for window in range(4):
        _mine(clock, coordinator, clients, setup, window, ["honest", "honest"])
        clock.t = coordinator.clock.close_time(window) + 0.01
        coordinator.run_due()
    rows = clients[0].me()["windows"]
    assert [r["paid_from_window"] for r in rows] == [0, 0, 2, 2]
    for row in rows:
        source = next(r for r in rows if r["window"] == row["paid_from_window"])
        assert row["paid_from_score"]["final"] == source["score"]["final"]


# ---------------------------------------------------------------- keys, state, port


def test_mine_keeps_its_key_in_the_user_config_dir(user_dirs, no_mining):
    runner = CliRunner()
    result = runner.invoke(main, ["live", "mine", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    key = user_dirs / ".config" / "govsim" / "keys" / "default.json"
    assert key == default_key_path() and key.exists()
    assert _mode(key) == 0o600
    assert _mode(key.parent) == 0o700 and _mode(key.parent.parent) == 0o700
    assert f"created hotkey {no_mining[0][0]} in {key}" in result.output
    again = runner.invoke(main, ["live", "mine"])
    assert f"using hotkey {no_mining[0][0]} in {key}" in again.output  # the same key
    bob = runner.invoke(main, ["live", "mine", "--name", "bob"])
    assert bob.exit_code == 0 and (key.parent / "bob.json").exists()
    assert no_mining[-1][0] != no_mining[0][0]
    for bad in (["--name", "../x"], ["--name", "a/b"], ["--name", "x", "--key", "k.json"]):
        refused = runner.invoke(main, ["live", "mine", *bad])
        assert refused.exit_code == 2 and "Traceback" not in refused.output, bad
    key.chmod(0o644)
    loose = runner.invoke(main, ["live", "mine"])
    assert "other users can read it" in loose.output


def test_xdg_config_home_is_honoured(user_dirs, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "st"))
    assert config_dir() == tmp_path / "cfg" / "govsim"
    assert state_root() == tmp_path / "st" / "govsim" / "live"
    monkeypatch.setenv(
        "XDG_CONFIG_HOME", "relative/path"
    )  # ignored, as the XDG base directory spec says
    assert config_dir() == user_dirs / ".config" / "govsim"


def test_serve_keeps_state_in_the_user_state_dir(user_dirs, no_server):
    result = CliRunner().invoke(
        main, ["live", "serve", "--scenario", "scenarios/live/cpu_tiny.toml"]
    )
    assert result.exit_code == 0, result.output
    state = user_dirs / ".local" / "state" / "govsim" / "live" / "cpu_tiny"
    assert (state / "state.json").exists() and _mode(state) == 0o700


def test_one_default_port_everywhere():
    assert sim.live.DEFAULT_PORT == DEFAULT_PORT == 8765
    assert sim.live.default_coordinator_url() == f"http://127.0.0.1:{DEFAULT_PORT}"
    serve = CliRunner().invoke(main, ["live", "serve", "--help"]).output
    mine = CliRunner().invoke(main, ["live", "mine", "--help"]).output
    assert f"default: {DEFAULT_PORT}" in serve and f"127.0.0.1:{DEFAULT_PORT}" in mine
    for doc in ("README.md", "docs/live.md"):
        text = (REPO / doc).read_text()
        ports = set(re.findall(r"127\.0\.0\.1:(\d+)", text)) | set(
            re.findall(r"--port (\d+)", text)
        )
        assert ports <= {str(DEFAULT_PORT)}, (doc, ports)


# ---------------------------------------------------------------- the README tour


def _readme_live_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    tour = text.split("## A tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in tour.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("govsim live "):
            commands.append(shlex.split(line)[1:])
    return commands


def _files(root: Path) -> set[str]:
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
    skip |= {"test-artifacts"}  # other tests' artifacts
    found = set()
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        found.update(os.path.relpath(os.path.join(directory, n), root) for n in names)
    return found


@pytest.mark.slow
def test_the_readme_live_tour_leaves_no_files_in_the_checkout(user_dirs, no_server, no_mining):
    commands = _readme_live_commands()
    assert [c[:2] for c in commands] == [["live", "serve"], ["live", "mine"], ["live", "serve"]]
    before = _files(REPO)
    runner = CliRunner()
    for args in commands:
        result = runner.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
    new = _files(REPO) - before
    for name in new:  # leave the checkout as it was, then fail
        (REPO / name).unlink(missing_ok=True)
    assert not new, f"the README's live commands wrote {sorted(new)} into the checkout"
    # What they wrote went to the user's directories, private.
    assert (user_dirs / ".config" / "govsim" / "keys").is_dir()
    written = list((user_dirs / ".local" / "state" / "govsim" / "live").iterdir())
    assert sorted(p.name for p in written) == ["covenant_live", "cpu_tiny"]


def test_gitignore_covers_live_files():
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "live-state/" in ignored and "*.key" in ignored
