"""Registration in a live subnet: the burn, the per-address share under a flood, and pruning of
the weakest non-immune uid when the subnet is full (through the real app, fake clock)."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from protocol.live import PayloadLimits, address_cap, decode_payload
from sim.live.app import create_app
from sim.live.client import CoordinatorError, LiveClient
from sim.live.config import LiveConfigError, live_config_from_dict
from sim.live.coordinator import Coordinator
from sim.live.miner import prepare, strategy_for, train_payload
from sim.live.store import StateDir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASE = {
    "window_seconds": 10.0,
    "put_window_seconds": 2.0,
    "training_config": "cpu-tiny",
    "training": {"inner_steps": 2, "n_eval": 16, "windows_per_weights": 1},
}


class FakeClock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _coordinator(root, clock, **table):
    config = live_config_from_dict(BASE | table)
    return Coordinator(config, StateDir(root / "state"), now=clock)


class Apps:
    """One app per client address (each TestClient has a fixed peer address)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.app = create_app(coordinator, run_ticker=False)
        self.http: dict[str, TestClient] = {}

    def client(self, address: str, key: Ed25519PrivateKey | None = None) -> LiveClient:
        if address not in self.http:
            self.http[address] = TestClient(self.app, client=(address, 50_000))
        client = LiveClient(
            "http://testserver", key or Ed25519PrivateKey.generate(), http=self.http[address]
        )
        client.window_hint = self.coordinator.current_window()
        return client


def _held(coordinator: Coordinator, group: str) -> int:
    return sum(1 for m in coordinator.miners.values() if m.address == group)


def _register(client: LiveClient) -> str:
    """``"ok"`` or the refusal code."""
    try:
        client.register()
    except CoordinatorError as err:
        assert err.status == 403, err
        return err.code
    return "ok"


def test_a_flood_from_one_address_never_takes_more_than_its_share(tmp_path):
    clock = FakeClock()
    coordinator = _coordinator(tmp_path, clock, max_miners=16, registration={"immunity_windows": 2})
    apps = Apps(coordinator)
    cap = address_cap(16, coordinator.config.registration)
    assert cap == 4  # the documented default share, 0.25 of the slots
    honest = [apps.client(f"10.0.0.{i}") for i in range(1, 7)]
    assert [_register(c) for c in honest] == ["ok"] * 6
    # 63 fresh hotkeys in a row from one address (the reported attack).
    outcomes = []
    for _ in range(63):
        outcomes.append(_register(apps.client("203.0.113.7")))
        assert _held(coordinator, "203.0.113.7") <= cap
    assert outcomes.count("ok") == cap and set(outcomes[cap:]) == {"address_limit"}
    # Addresses in one IPv6 /64 are one address.
    v6 = [_register(apps.client(f"2001:db8:5:5::{i}")) for i in range(1, 10)]
    assert v6.count("ok") == cap and _held(coordinator, "2001:db8:5:5::/64") == cap
    assert len(coordinator.miners) == 14
    more = [apps.client(f"10.0.1.{i}") for i in range(1, 3)]
    assert [_register(c) for c in more] == ["ok", "ok"]  # full now
    # Every uid still immune: the subnet is full, nobody is pruned.
    assert _register(apps.client("198.51.100.1")) == "subnet_full"
    # Past the immunity, the flood may replace only the weakest non-immune uid, and only while
    # the flooding address stays within its share: it never holds more than `cap` uids.
    for window in range(3):
        clock.t = coordinator.clock.close_time(window) + 0.01
        coordinator.run_due()
    honest_before = {m.hotkey for m in coordinator.miners.values() if m.address.startswith("10.")}
    for _ in range(63):
        _register(apps.client("203.0.113.7"))
        assert _held(coordinator, "203.0.113.7") <= cap
        assert _held(coordinator, "2001:db8:5:5::/64") <= cap
    # Nothing was paid yet, so the weakest are the earliest registered (honest) uids: the flood
    # could evict none of them, since each eviction would have grown its share past the cap.
    honest_after = {m.hotkey for m in coordinator.miners.values() if m.address.startswith("10.")}
    assert honest_after == honest_before
    assert len(coordinator.miners) == 16


def test_every_registration_burns_and_the_burn_rises_then_decays(tmp_path):
    clock = FakeClock()
    coordinator = _coordinator(tmp_path, clock, max_miners=8)
    apps = Apps(coordinator)
    clients = [apps.client(f"10.0.0.{i}") for i in range(1, 5)]
    burns = [c.register()["burn_tao"] for c in clients]
    assert burns == pytest.approx([0.1, 0.126, 0.15876, 0.2000376])
    status = apps.client("10.0.0.9").status()["registration"]
    assert status["burned_tao"] == pytest.approx(sum(burns))
    assert status["burn_tao"] == pytest.approx(0.1 * 1.26**4)
    again = clients[0].register()  # idempotent: its own burn, nothing burned anew
    assert not again["new"] and again["burn_tao"] == pytest.approx(0.1)
    assert coordinator.burned_rao == round(sum(burns) * 1e9)
    clock.t += 2 * coordinator.config.window_seconds  # two half-lives later
    assert coordinator.current_burn() == pytest.approx(0.1 * 1.26**4 / 4)
    fifth = apps.client("10.0.0.5").register()
    assert fifth["new"] and fifth["burn_tao"] == pytest.approx(0.1 * 1.26**4 / 4)


def test_registering_again_is_free_and_keeps_the_uid(tmp_path):
    coordinator = _coordinator(tmp_path, FakeClock(), max_miners=8)
    apps = Apps(coordinator)
    client = apps.client("10.0.0.1")
    first = client.register()
    second = client.register()
    assert first["new"] and not second["new"] and second["uid"] == first["uid"]
    assert coordinator.burned_rao == round(first["burn_tao"] * 1e9)


def _upload(clock, coordinator, client, setup, window, rng_seed):
    clock.t = coordinator.clock.window_start(window) + 0.5
    client.window_hint = window
    raw, model_window, _ = client.model()
    assert model_window == window
    theta, _ = decode_payload(raw, PayloadLimits(max_bytes=1 << 30))
    uid = client.me()["uid"]
    body, _, _ = train_payload(
        setup, strategy_for("honest"), uid, window, theta, None, np.random.default_rng(rng_seed)
    )
    clock.t = coordinator.clock.put_window(window)[0] + 0.3
    client.window_hint = window + 1
    assert client.upload(window, body)["accepted"]


def test_a_full_subnet_prunes_the_weakest_non_immune_uid_and_forgets_it(tmp_path):
    clock = FakeClock()
    coordinator = _coordinator(tmp_path, clock, max_miners=3, registration={"immunity_windows": 2})
    apps = Apps(coordinator)
    a, b, idle = (apps.client(f"10.0.0.{i}") for i in (1, 2, 3))
    uids = {name: c.register()["uid"] for name, c in (("a", a), ("b", b), ("idle", idle))}
    setup = prepare(a.info(), "cpu")
    for window in range(3):  # a and b mine; idle never uploads
        for i, client in enumerate((a, b)):
            _upload(clock, coordinator, client, setup, window, [i, window])
        clock.t = coordinator.clock.close_time(window) + 0.01
        assert coordinator.run_due() == [window]
    last = coordinator.history[-1]["emission_tao"]
    assert last.get(a.hotkey, 0) > 0 and last.get(b.hotkey, 0) > 0 and idle.hotkey not in last
    # idle uploads once for window 3 (accepted, pending), then a newcomer takes its uid.
    _upload(clock, coordinator, idle, setup, 3, [9, 3])
    newcomer = apps.client("10.0.0.4")
    newcomer.window_hint = 4
    answer = newcomer.register()
    assert answer["uid"] == uids["idle"] and answer["new"]
    assert coordinator.pruned[-1]["hotkey"] == idle.hotkey
    assert uids["idle"] in coordinator.pending_resets
    idle.window_hint = 4
    with pytest.raises(CoordinatorError) as err:
        idle.me()
    assert err.value.code == "not_registered" and "given to a new registration" in err.value.detail
    # The pruned hotkey's pending upload is gone, also after a restart (it stays in the log).
    assert uids["idle"] not in coordinator.accepted.get(3, {})
    restarted = _coordinator(tmp_path, clock, max_miners=3, registration={"immunity_windows": 2})
    assert uids["idle"] not in restarted.accepted.get(3, {})
    assert uids["idle"] in restarted.pending_resets
    assert {m.hotkey for m in restarted.miners.values()} == {a.hotkey, b.hotkey, newcomer.hotkey}
    # At the next close the validators forget the uid (engine.reset_uid, tested below).
    reset = []
    real_reset = restarted.engine.reset_uid
    restarted.engine.reset_uid = lambda uid: reset.append(uid) or real_reset(uid)
    clock.t = restarted.clock.close_time(3) + 0.01
    assert restarted.run_due() == [3]
    assert reset == [uids["idle"]] and not restarted.pending_resets
    entry = restarted.history[-1]
    assert entry["statuses"][str(uids["idle"])] == "missing"  # not the pruned hotkey's upload
    assert newcomer.hotkey not in entry["emission_tao"]
    # The newcomer's report starts at its own registration, not at its uid's previous owner.
    apps2 = Apps(restarted)
    again = apps2.client("10.0.0.4", newcomer.key)
    again.window_hint = 4
    report = again.me()
    assert all(row["window"] >= 4 for row in report["windows"])
    assert report["burn_tao"] > 0 and report["net_tao"] == pytest.approx(-report["burn_tao"])


def test_engine_reset_forgets_a_uids_record(tmp_path):
    coordinator = _coordinator(tmp_path, FakeClock(), max_miners=3)
    engine = coordinator.engine
    uid = engine.first_miner_uid
    state = engine.state
    for validator in state.validators:
        validator.skill.rate({uid: 1.0, uid + 1: 0.0})
        validator.final[uid] = 0.5
        validator.weights[uid] = 0.7
        validator.naughty_until[uid] = 99
    state.chain_weights[:, uid] = 0.7
    state.incentive[uid] = 0.7
    state.last_upload[uid] = 5
    engine.reset_uid(uid)
    assert state.last_upload[uid] == -1  # a slot nobody used yet, as init_run leaves it
    for validator in state.validators:
        assert uid not in validator.skill.ratings and uid + 1 in validator.skill.ratings
        assert validator.final[uid] == 0 and validator.weights[uid] == 0
        assert uid not in validator.naughty_until
    assert not state.chain_weights[:, uid].any() and state.incentive[uid] == 0
    with pytest.raises(ValueError, match="not a miner uid"):
        engine.reset_uid(0)


@pytest.mark.parametrize(
    ("registration", "fragment"),
    [
        ({"max_address_share": 0}, "live.registration.max_address_share = 0"),
        ({"max_address_share": 1.5}, "expected <= 1"),
        ({"burn": 200.0}, "min_burn <= burn <= max_burn"),
        ({"burn_increase_mult": 0.5}, "burn_increase_mult"),
        ({"immunity_windows": -1}, "immunity_windows"),
        ({"immunity_windows": True}, "immunity_windows"),
        ({"burn_half_life_windows": 0}, "burn_half_life_windows"),
        ({"burn": float("nan")}, "finite"),
        ({"lock": 1}, "live.registration.lock: unknown key"),
        (5, "live.registration must be a table"),
    ],
)
def test_bad_registration_tables_name_the_field(registration, fragment):
    with pytest.raises(LiveConfigError) as err:
        live_config_from_dict(BASE | {"registration": registration}, where="s.toml")
    assert fragment in str(err.value) and "s.toml" in str(err.value)


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"max_miners": 10**12}, "live.max_miners"),
        ({"seed": 2**64}, "live.seed"),
        ({"emission_per_window": 1e30}, "live.emission_per_window"),
        ({"window_seconds": 10**5000}, "live.window_seconds"),
        ({"validators": 10**4}, "live.validators"),
    ],
)
def test_live_numbers_have_upper_bounds(table, fragment):
    with pytest.raises(LiveConfigError) as err:
        live_config_from_dict(BASE | table, where="s.toml")
    assert fragment in str(err.value) and len(str(err.value)) < 300
