"""The simulated network around a live subnet: the agent model advancing with the live clock.

A live scenario file may hold, besides its ``[live]`` table, a whole simulated network (the
scenario schema of ``sim.schema``: subnets, miners, validators, stakers, owners, a governance
policy and shocks). The coordinator then plays one of its subnets, ``[live.network] netuid``,
with real miners: every live window advances the simulated chain by ``blocks_per_window`` blocks,
and the TAO the live subnet's miners and validators receive that window is what the simulated
economy gives that subnet, valued at its alpha price. A governance shock in the scenario (the
authority suspending the subnet's emission, dissolving it, a safe-mode halt) therefore reaches
the live miners' earnings as it happens.

What the live subnet is paid per window::

    (alpha_out - owner_cut - root_alpha)[netuid] per block  x  blocks_per_window  x  alpha price

(the miner and validator pots of the coinbase; ``SubnetEmissionEnabled = false`` stops the
pool-side injection, not ``alpha_out``, so its harm arrives through the price, as on chain).

The model steps whole model steps (one tempo by default), so it runs up to one step ahead of
the live clock; the per-block rate of its last step is used. After the scenario's horizon the
network stays as it was (the last rate and price keep paying) and ``status()["finished"]`` is
true. The model is deterministic in its seed, so a restarted coordinator rebuilds it by
replaying the windows it had closed (:meth:`SimulatedNetwork.replay`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO

if TYPE_CHECKING:
    from sim.config import SimConfig
    from sim.live.config import LiveConfig

__all__ = ["NetworkWindow", "SimulatedNetwork", "network_for"]

EVENTS_SHOWN = 20
EVENTS_HIDDEN = frozenset({"miner_move"})  # one per relocating miner: drowns the rest in status


@dataclass(frozen=True)
class NetworkWindow:
    """What one live window was worth in the simulated network.

    Attributes
    ----------
    window
        The live window.
    block
        Simulated chain block at the end of the window (the model may be up to a step ahead).
    day
        Simulated day of ``block``.
    emission_tao
        TAO the live subnet's miners and validators receive for the window.
    alpha_per_block
        Participant alpha (miners + validators) per block at ``netuid`` (alpha, not rao).
    alpha_price
        Spot price of the subnet's alpha (TAO per alpha).
    emission_share
        The subnet's share of the TAO block emission (pool side).
    emission_enabled, active
        The subnet's ``SubnetEmissionEnabled`` flag and whether it still exists.
    tao_price_usd
        The simulated TAO market price.
    """

    window: int
    block: int
    day: float
    emission_tao: float
    alpha_per_block: float
    alpha_price: float
    emission_share: float
    emission_enabled: bool
    active: bool
    tao_price_usd: float


class SimulatedNetwork:
    """The agent model of a scenario, advanced window by window with a live subnet.

    Parameters
    ----------
    config
        The scenario's :class:`sim.config.SimConfig`.
    netuid
        The subnet the live coordinator plays.
    blocks_per_window
        Simulated chain blocks per live window.

    Raises
    ------
    ValueError
        If ``netuid`` is not a subnet of the scenario or ``blocks_per_window`` < 1.
    """

    def __init__(self, config: SimConfig, *, netuid: int, blocks_per_window: int) -> None:
        from sim.model import GovSimModel

        n_subnets = config.network.n_subnets
        if not 0 <= netuid < n_subnets:
            raise ValueError(
                f"live.network.netuid = {netuid}: expected a subnet of the scenario (0..{n_subnets - 1})"
            )
        if blocks_per_window < 1:
            raise ValueError(
                f"live.network.blocks_per_window = {blocks_per_window}: expected an integer >= 1"
            )
        self.config = config
        self.netuid = netuid
        self.blocks_per_window = blocks_per_window
        self.model = GovSimModel(config)
        self.windows_done = 0
        self.last: NetworkWindow | None = None
        self._alpha_per_block = self._coinbase_rate()
        self._status = self._status_now()

    # ------------------------------------------------------------------ time
    def advance(self, window: int) -> NetworkWindow:
        """Simulate live window ``window`` (the next one) and return what it paid.

        Asking again for the window just simulated returns the same result (a coordinator that
        retries a window whose scoring failed).

        Raises
        ------
        ValueError
            If ``window`` is neither the next window nor the last one simulated.
        """
        if self.last is not None and window == self.last.window:
            return self.last
        if window != self.windows_done:
            raise ValueError(
                f"simulated network: window {window} is not the next one ({self.windows_done})"
            )
        model = self.model
        target = (window + 1) * self.blocks_per_window
        while model.block < target and not model.finished:
            model.step()
            self._alpha_per_block = self._coinbase_rate()
        state = model.state
        netuid = self.netuid
        price = float(model.alpha_prices()[netuid])
        active = bool(state.active[netuid])
        alpha = self._alpha_per_block if active else 0.0
        result = NetworkWindow(
            window=window,
            block=min(target, model.block) if model.finished else target,
            day=min(target, model.block) / BLOCKS_PER_DAY,
            emission_tao=alpha * self.blocks_per_window * price,
            alpha_per_block=alpha,
            alpha_price=price,
            emission_share=float(model.emission_shares()[netuid]),
            emission_enabled=bool(state.emission_enabled[netuid]),
            active=active,
            tao_price_usd=float(model.market.price_usd),
        )
        self.windows_done = window + 1
        self.last = result
        self._status = self._status_now()
        return result

    def replay(self, windows: int) -> None:
        """Re-simulate the first ``windows`` windows (a restarted coordinator's catch-up)."""
        for window in range(self.windows_done, windows):
            self.advance(window)

    def _coinbase_rate(self) -> float:
        """Participant alpha per block at ``netuid`` over the model's last step (alpha units)."""
        results = getattr(self.model, "last_results", None)
        if not results:
            return self._first_block_rate()
        paid = blocks = 0.0
        for result in results:
            cb = result.coinbase
            paid += float(cb.alpha_out[self.netuid] - cb.owner_cut[self.netuid])
            paid -= float(cb.root_alpha[self.netuid])
            if hasattr(result, "first_block"):  # a TempoResult
                blocks += result.last_block - result.first_block + 1
            else:  # a BlockResult
                blocks += 1
        return max(paid, 0.0) / max(blocks, 1.0) / RAO_PER_TAO

    def _first_block_rate(self) -> float:
        """The rate before the model has stepped: one coinbase of the current state, thrown away."""
        from protocol.economy.coinbase import run_coinbase

        _, cb = run_coinbase(self.model.state, self.model.params)
        netuid = self.netuid
        paid = float(cb.alpha_out[netuid] - cb.owner_cut[netuid] - cb.root_alpha[netuid])
        return max(paid, 0.0) / RAO_PER_TAO

    # ------------------------------------------------------------------ views
    def status(self) -> dict[str, Any]:
        """The explorer's view: the live subnet in the network, and the network's recent events.

        Computed when a window is simulated, so reading it never sees the model mid-step.
        """
        return self._status

    def _status_now(self) -> dict[str, Any]:
        model = self.model
        return {
            "scenario": getattr(self.config, "name", None),
            "policy": self.config.governance.policy,
            "netuid": self.netuid,
            "n_subnets": self.config.network.n_subnets,
            "blocks_per_window": self.blocks_per_window,
            "model_block": int(model.block),
            "finished": bool(model.finished),
            "last_window": None if self.last is None else asdict(self.last),
            "emission_shares": [round(float(x), 6) for x in np.asarray(model.emission_shares())],
            "events": [_jsonable(e) for e in model.event_log if e.get("kind") not in EVENTS_HIDDEN][
                -EVENTS_SHOWN:
            ],
        }


def network_for(path: str | Path, live: LiveConfig) -> SimulatedNetwork | None:
    """The simulated network of a live scenario file, or None if the file has only ``[live]``.

    Parameters
    ----------
    path
        The scenario file (already checked by :func:`sim.live.config.load_live_config`).
    live
        Its ``[live]`` table (``network_netuid``, ``network_blocks_per_window``).

    Raises
    ------
    ValueError
        Naming the file and the field, on a scenario or ``[live.network]`` value that cannot run.
    """
    import tomllib

    from sim.live.engine import live_training_config
    from sim.schema import ScenarioError, load_scenario

    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    if not set(raw) - {"live"}:
        return None
    try:
        config = load_scenario(path, exclude=("live",)).to_config()
    except ScenarioError as exc:
        raise ValueError(str(exc)) from exc
    blocks = (
        live.network_blocks_per_window
        or live_training_config(
            live.training_config,
            live.training_overrides,
            validators=live.validators,
            validator_stake=live.validator_stake,
            max_miners=live.max_miners,
        ).blocks_per_window
    )
    try:
        return SimulatedNetwork(config, netuid=live.network_netuid, blocks_per_window=blocks)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _jsonable(value: Any) -> Any:
    """Event entries hold numpy scalars and dataclasses (levers): make them JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "__dataclass_fields__"):
        return {"kind": type(value).__name__, **_jsonable(asdict(value))}
    return str(value)
