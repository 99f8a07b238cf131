"""Replaying a documented event in the simulator and measuring TAO's one-day move.

Every replay runs the same small network (14 subnets x 32 uids, 24 stakers) for a little over
four days with exogenous news off, so the move is the model's deterministic response: the
governance premium, the security discount, the stakers' exits and sales, the exiting team's
and the thief's sales through price impact. The event happens on day 3; its move is measured
against a baseline run of the same configuration without the event (same seed), so drift the
network would have had anyway is not counted:

    fall = 1 - (P_event(day 4) / P_event(day 3-)) / (P_base(day 4) / P_base(day 3-))

Runs are cached on disk by the configuration and a fingerprint of the simulator's source
(``protocol/`` and ``sim/``), so a refit after an unrelated change reruns nothing and a change
to the model reruns everything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from protocol.units import BLOCKS_PER_DAY
from sim import engine
from sim.calibration.events import ExploitReplay, MarketEvent, NoReplay, SuspensionReplay
from sim.config import MarketConfig, SimConfig
from sim.config_fields import MAX_TAO

__all__ = [
    "EVENT_DAY",
    "FITTED_FIELDS",
    "HALT_DAYS",
    "Replayer",
    "RunMeasure",
    "covenant_scenario",
    "july_2024_scenario",
    "one_day_drawdown",
    "source_fingerprint",
]

#: Day of the replayed event (the network settles for three days first).
EVENT_DAY: float = 3.0
#: The simulator's safe mode (a chain halt) lasts 7 200 blocks, as announced in July 2024.
HALT_DAYS: float = 1.0
_HORIZON_DAYS = EVENT_DAY + 1.05
#: The market constants the events are fitted to (``MarketConfig`` fields).
FITTED_FIELDS: tuple[str, ...] = ("contagion_beta", "duration_exponent", "security_beta")
_CACHE_VERSION = 1  # bump when what a cached run records (RunMeasure, picks) changes


def _network_body(constants: Mapping[str, float], market: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": "calibration",
        "horizon_days": _HORIZON_DAYS,
        "network": {"n_subnets": 14, "n_uids": 32, "n_validators": 4},
        "stakers": {"n_stakers": 24},
        "market": {**market, **dict(constants), "news_enabled": False},
    }


def _market_context(event: MarketEvent) -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(event.context.tao_price_usd, float):
        out["tao_price_usd"] = event.context.tao_price_usd
    if isinstance(event.context.circulating_tao, float):
        out["circulating_tao"] = event.context.circulating_tao
    return out


def _suspension_body(body: dict[str, Any], netuid: int, spec: SuspensionReplay) -> dict[str, Any]:
    body = dict(body)
    if spec.exiting_team:
        body["owners"] = {"assign": {netuid: "high_value"}}
    body["governance"] = {"policy": "sudo", "actors": [{"count": 1, "intent": "self_interested"}]}
    body["shocks"] = [
        {
            "kind": "intervention",
            "day": EVENT_DAY,
            "lever": {"kind": "set_emission_enabled", "netuid": netuid, "enabled": False},
            "intent": "self_interested",
            "justified": spec.justified,
        }
    ]
    return body


def _exploit_body(
    body: dict[str, Any], spec: ExploitReplay, damage_tao_per_block: float, max_damage_tao: float
) -> dict[str, Any]:
    body = dict(body)
    delay = spec.detection_delay_blocks if spec.halt else round(_HORIZON_DAYS * BLOCKS_PER_DAY) + 1
    body["governance"] = {"policy": "sudo", "detection_delay_blocks": delay}
    body["shocks"] = [
        {
            "kind": "exploit",
            "day": EVENT_DAY,
            "damage_tao_per_block": damage_tao_per_block,
            "max_damage_tao": max_damage_tao,
            "sold_fraction": spec.sold_fraction,
        }
    ]
    return body


# --------------------------------------------------------------------------------------------
# running and caching
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunMeasure:
    """What one replay run leaves behind (all a fit needs).

    Attributes
    ----------
    price_before, price_after
        TAO price just before the event day and one day later (USD).
    stolen_tao
        TAO stolen by exploits over the run (TAO).
    severities
        Severity of each executed intervention, in order.
    """

    price_before: float
    price_after: float
    stolen_tao: float
    severities: tuple[float, ...]

    @property
    def ratio(self) -> float:
        """``price_after / price_before``."""
        return self.price_after / self.price_before


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A hash of the simulator's source (``protocol/``, ``sim/`` but its calibration and CLI)."""
    import protocol
    import sim

    digest = hashlib.sha256()
    for package in (protocol, sim):
        root = Path(package.__file__).resolve().parent
        for file in sorted(root.rglob("*.py")):
            rel = file.relative_to(root).as_posix()
            if package is sim and (rel.startswith(("calibration/", "cli/"))):
                continue
            digest.update(f"{package.__name__}/{rel}".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _key(kind: str, config: SimConfig) -> str:
    payload = json.dumps(
        {
            "v": _CACHE_VERSION,
            "kind": kind,
            "src": source_fingerprint(),
            "cfg": config.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _measure(config: SimConfig, *, day: float = EVENT_DAY) -> RunMeasure:
    from sim.api import run

    result = run(config)
    ts = result.timeseries.drop_duplicates("block").set_index("day")["tao_price_usd"]
    before = float(ts[ts.index <= day - 1e-9].iloc[-1])
    after = float(ts[ts.index <= day + 1.0 + 1e-9].iloc[-1])
    severities = tuple(float(e["severity"]) for e in result.events if e["kind"] == "executed")
    return RunMeasure(before, after, float(result.kpis.get("exploits.stolen_tao", 0.0)), severities)


def _pick_subnet(config: SimConfig, target_share: float) -> tuple[int, float]:
    """The subnet whose emission share on the event day is closest to ``target_share``."""
    from sim.model import GovSimModel

    with engine.torch_threads(1):
        model = GovSimModel(config)
        try:
            while model.day < EVENT_DAY - 1e-9:
                model.step()
            shares = model.emission_shares()
        finally:
            engine.release(model)
    netuid = int(np.argmin(np.abs(shares - target_share)))
    return netuid, float(shares[netuid])


class Replayer:
    """Replays events with given market constants; every run is cached.

    Parameters
    ----------
    cache_dir
        Directory for the on-disk cache (created on demand); None keeps runs in memory only.
    """

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: dict[str, Any] = {}
        self.runs = 0
        self.cached = 0

    # -------------------------------------------------------------- cache
    def _cached(self, kind: str, config: SimConfig, compute: Any) -> Any:
        key = _key(kind, config)
        if key in self._memory:
            self.cached += 1
            return self._memory[key]
        file = self.cache_dir / f"{key}.json" if self.cache_dir is not None else None
        if file is not None and file.exists():
            try:
                value = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                value = None  # a torn write: recompute
            if value is not None:
                self._memory[key] = value
                self.cached += 1
                return value
        value = compute()
        self.runs += 1
        self._memory[key] = value
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(".tmp")
            tmp.write_text(json.dumps(value), encoding="utf-8")
            tmp.replace(file)
        return value

    def measure(self, config: SimConfig) -> RunMeasure:
        """Run ``config`` (or read it from the cache) and measure the event-day move."""
        raw = self._cached("measure", config, lambda: asdict(_measure(config)))
        return RunMeasure(
            raw["price_before"], raw["price_after"], raw["stolen_tao"], tuple(raw["severities"])
        )

    def target_subnet(self, event: MarketEvent) -> tuple[int, float]:
        """The replay's target subnet for a suspension and its emission share on the day."""
        assert isinstance(event.model, SuspensionReplay)
        body = _network_body({}, _market_context(event))
        config = SimConfig.model_validate(body)
        share = event.model.target_share
        netuid, got = self._cached(
            f"pick:{share}", config, lambda: list(_pick_subnet(config, share))
        )
        return int(netuid), float(got)

    def _blocks_until_halt(self, event: MarketEvent) -> float:
        """Blocks an exploit runs before the halt, probed with a 1 TAO/block theft (no loot cap)."""
        assert isinstance(event.model, ExploitReplay)
        body = _exploit_body(_network_body({}, _market_context(event)), event.model, 1.0, MAX_TAO)
        return max(self.measure(SimConfig.model_validate(body)).stolen_tao, 1.0)

    # -------------------------------------------------------------- configurations
    def event_config(self, event: MarketEvent, constants: Mapping[str, float]) -> SimConfig:
        """The replay configuration of ``event`` with market ``constants`` (field -> value).

        Raises
        ------
        ValueError
            For an event without a replay (``model.kind = "none"``).
        """
        body = _network_body(constants, _market_context(event))
        spec = event.model
        if isinstance(spec, SuspensionReplay):
            netuid, _ = self.target_subnet(event)
            return SimConfig.model_validate(_suspension_body(body, netuid, spec))
        if isinstance(spec, ExploitReplay):
            if spec.halt:
                rate = spec.stolen_tao / self._blocks_until_halt(event)
                cap = 1.25 * spec.stolen_tao  # never reached before the halt: it must still run
            else:
                rate = spec.stolen_tao / self._tempo_blocks()
                cap = spec.stolen_tao
            return SimConfig.model_validate(_exploit_body(body, spec, rate, cap))
        raise ValueError(f"event {event.id}: no replay (model.kind = 'none')")

    @staticmethod
    def _tempo_blocks() -> int:
        return SimConfig.model_validate(_network_body({}, {})).network.tempo

    @staticmethod
    def baseline_config(config: SimConfig) -> SimConfig:
        """``config`` without its shocks: the counterfactual the event's move is measured to.

        The fitted constants go back to their defaults: with nothing happening they act on
        nothing (no intervention, no loss), and one baseline then serves every design point.
        """
        defaults = MarketConfig()
        market = config.market.model_copy(
            update={name: getattr(defaults, name) for name in FITTED_FIELDS}
        )
        return config.model_copy(update={"shocks": (), "market": market})

    # -------------------------------------------------------------- the observable
    def fall(self, event: MarketEvent, constants: Mapping[str, float]) -> float:
        """TAO's one-day fall caused by ``event`` in the model (fraction; positive = fall).

        Events without an on-chain action the model prices (``model.kind = "none"``) give 0 by
        construction: their replay is the baseline itself.
        """
        if isinstance(event.model, NoReplay):
            return 0.0
        config = self.event_config(event, constants)
        hit = self.measure(config)
        base = self.measure(self.baseline_config(config))
        return 1.0 - hit.ratio / base.ratio

    def details(self, event: MarketEvent, constants: Mapping[str, float]) -> dict[str, Any]:
        """The replay's figures for reports: fall, raw drawdown, stolen TAO, severities."""
        if isinstance(event.model, NoReplay):
            return {"fall": 0.0, "replayed": False}
        config = self.event_config(event, constants)
        hit = self.measure(config)
        base = self.measure(self.baseline_config(config))
        out: dict[str, Any] = {
            "fall": 1.0 - hit.ratio / base.ratio,
            "raw_drawdown": 1.0 - hit.ratio,
            "stolen_tao": hit.stolen_tao,
            "severities": list(hit.severities),
            "replayed": True,
        }
        if isinstance(event.model, SuspensionReplay):
            out["target_netuid"], out["target_share"] = self.target_subnet(event)
        return out


# --------------------------------------------------------------------------------------------
# the April 2026 and July 2024 replays as plain configurations (kept for tests and notebooks)
# --------------------------------------------------------------------------------------------


def covenant_scenario(beta: float, *, netuid: int | None = None) -> SimConfig:
    """The April 2026 replay: ``sudo`` suspends a ~7 %-share subnet with a high-value team.

    Parameters
    ----------
    beta
        ``market.contagion_beta`` to use (the other market constants keep their defaults).
    netuid
        The target; None picks the subnet whose share on the event day is closest to 7 %.
    """
    from sim.calibration.events import load_events

    event = load_events().get("apr_2026_covenant_exit")
    assert isinstance(event.model, SuspensionReplay)
    body = _network_body({"contagion_beta": beta}, _market_context(event))
    if netuid is None:
        netuid, _ = Replayer().target_subnet(event)
    return SimConfig.model_validate(_suspension_body(body, netuid, event.model))


def july_2024_scenario(constants: Mapping[str, float] | None = None) -> SimConfig:
    """The July 2024 replay: 32 000 TAO stolen, then a justified 24 h halt under ``sudo``."""
    from sim.calibration.events import load_events

    event = load_events().get("jul_2024_exploit_safe_mode")
    return Replayer().event_config(event, dict(constants or {}))


def one_day_drawdown(config: SimConfig, *, day: float = EVENT_DAY) -> tuple[float, dict[str, Any]]:
    """TAO's raw fall from just before ``day`` to one day later (positive = fall), and details.

    Unlike :meth:`Replayer.fall` this is not measured against a baseline run.
    """
    from sim.api import run

    result = run(config)
    ts = result.timeseries.drop_duplicates("block").set_index("day")["tao_price_usd"]
    before = float(ts[ts.index <= day - 1e-9].iloc[-1])
    after = float(ts[ts.index <= day + 1.0 + 1e-9].iloc[-1])
    executed = [e for e in result.events if e["kind"] == "executed"]
    info = {
        "price_before": before,
        "price_after": after,
        "executed": executed,
        "stolen_tao": result.kpis.get("exploits.stolen_tao", 0.0),
        "premium": result.kpis.get("tao.governance_premium_end"),
    }
    return 1.0 - after / before, info
