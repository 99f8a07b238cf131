"""The Mesa model of a whole network over time: the clock, the event queue and the wiring.

Agents decide (``sim.agents``), ``protocol/`` applies the rules, and the work of a step is done
by desks (``sim.desks``), each in a room of its own; ``sim.build`` makes the network and the
agents. One model step is one tempo by default (``SimConfig.step``). Each step:

1. the queued events that are due run (shocks, detections, votes, reversals, miner moves);
2. governance comes to the current block; executed levers are applied and the model passes
   each to the desks that react (:meth:`GovSimModel.react`);
3. miners work and validators set weights (:class:`~sim.desks.work.WorkDesk`), then the chain
   runs the step's blocks and pays them;
4. running exploits drain and scheduled sales execute (:class:`~sim.desks.shocks.ShockDesk`);
5. once a day: owners sell or exit and stakers rebalance
   (:class:`~sim.desks.staking.StakingDesk`), under-earning miners decide to move
   (:class:`~sim.desks.registration.RegistrationDesk`), the electorate is refreshed;
6. the TAO price moves (:class:`~sim.desks.market.MarketDesk`); a row is recorded at the
   configured interval.

Randomness comes in as :class:`sim.seeds.RunStreams`, spawned once from the run's seed;
Mesa gets the seed through ``rng=`` (``sim.engine.make_model_kwargs``). Events live in a heap of
``(block, priority, seq, handler_name, args)`` with handlers looked up by name, so the model
pickles.
"""

from __future__ import annotations

import heapq
from typing import Any

import mesa
import numpy as np

from protocol.levers import HaltChain
from protocol.units import BLOCKS_PER_DAY
from sim import build, chain, engine
from sim.agents.events import EVENT_HANDLERS
from sim.config import SimConfig
from sim.desks import (
    Executed,
    GovernanceDesk,
    MarketDesk,
    RegistrationDesk,
    ShockDesk,
    StakingDesk,
    WorkDesk,
)
from sim.metrics import Recorder
from sim.seeds import RunStreams

__all__ = ["GovSimModel"]

_STEP_BLOCKS = {"block": 1, "day": BLOCKS_PER_DAY}


class GovSimModel(mesa.Model):
    """A Bittensor-style network with miners, validators, stakers, owners and governance.

    Parameters
    ----------
    config
        The run's configuration.
    streams
        The run's random generators, spawned from ``config.seed`` (``sim.run`` spawns them);
        None spawns them here.
    governance_config
        The config the governance desk is built from (``config`` when None). Runs that share a
        prefix (``sim.fork``) build the model from a guarded view of ``config`` and give the
        first run's own config here: the desk reads its run's governance settings, nothing
        else may read the fields in which the runs differ.

    Raises
    ------
    ValueError
        Naming the field, when a strategy name is unknown or the network cannot be built; or
        when ``streams`` were spawned from another seed than ``config.seed``.

    Notes
    -----
    The model owns its state's ``[S, n, n]`` weight and bond tensors (and ``last_update``):
    steps update them in place (validators' weight rows, epoch bonds, registrations) instead of
    copying 2 × 67 MB per step at 128 × 256. ``model.state`` is therefore a live view: clone
    those tensors (or the state's fields) to keep a snapshot across steps.
    """

    def __init__(
        self,
        config: SimConfig,
        *,
        streams: RunStreams | None = None,
        governance_config: SimConfig | None = None,
    ) -> None:
        build.check_strategy_names(config)
        if streams is None:
            streams = RunStreams.from_seed(config.seed)
        elif streams.seed != config.seed:
            raise ValueError(
                f"streams: spawned from seed {streams.seed}, but config.seed is {config.seed}"
            )
        super().__init__(**engine.make_model_kwargs(streams.seed))
        self.config = config
        self.streams = streams
        # The clock and the event queue.
        self.blocks_per_step = _STEP_BLOCKS.get(config.step, config.network.tempo)
        self.horizon_blocks = round(config.horizon_days * BLOCKS_PER_DAY)
        self.block = 0
        self.epoch = 0
        self.steps_done = 0
        self._next_daily_block = 0
        self._queue: list[tuple[int, int, int, str, dict[str, Any]]] = []
        self._seq = 0
        self.event_log: list[dict[str, Any]] = []
        self.last_results: list[Any] = []  # the economy's results of the latest chain run

        # The network and the agents (sim.build; this order is the assign stream's).
        net = build.network(config, streams)
        self.params = net.params
        self.validator_uids = net.validator_uids
        self.staker_accounts = net.staker_accounts
        miners = build.miner_grid(self, config, net.is_miner, streams)
        validators, self.state = build.validator_grid(self, config, net, streams.assign)
        self.owners = build.owners(self, config, streams.assign)
        self.stakers = build.stakers(self, config, net.staker_accounts, streams.stakers)

        # The desks.
        self.work = WorkDesk(
            self,
            miners,
            validators,
            blocks_per_step=self.blocks_per_step,
            skill_rng=streams.skill,
            observe_rng=streams.observe,
            miners_rng=streams.miners,
        )
        self.market = MarketDesk(config.market, streams.market)
        self.staking = StakingDesk(self)
        self.shocks = ShockDesk(self)
        self.registration = RegistrationDesk(self, streams.miners)
        desk_config = config if governance_config is None else governance_config
        self.config = desk_config  # the desk reads its settings from the host's config too
        policy = build.governance_policy(desk_config)
        seats = build.governors(self, policy, desk_config.governance)
        self.governance = GovernanceDesk(self, policy, seats, streams.governance)
        self.config = config
        self.recorder = Recorder(self)
        for block, handler, args in build.shock_events(config, streams.events):
            self.schedule(block, handler, **args)
        self.recorder.record(force=True)

    # ------------------------------------------------------------------ time
    @property
    def seed(self) -> int:
        """The run's root seed."""
        return self.streams.seed

    @property
    def day(self) -> float:
        """Simulated days since the start."""
        return self.block / BLOCKS_PER_DAY

    @property
    def finished(self) -> bool:
        """True once the horizon is reached."""
        return self.block >= self.horizon_blocks

    def schedule(self, block: int, handler: str, *, priority: int = 0, **args: Any) -> None:
        """Queue ``handler`` (a name in ``EVENT_HANDLERS``) to run at ``block``.

        Raises
        ------
        ValueError
            If ``block`` is in the past or the handler is unknown.
        """
        if block < self.block:
            raise ValueError(f"schedule: block {block} is in the past (now {self.block})")
        EVENT_HANDLERS.get(handler)  # fail early on a typo
        heapq.heappush(self._queue, (int(block), int(priority), self._seq, handler, args))
        self._seq += 1

    def _run_due_events(self) -> None:
        while self._queue and self._queue[0][0] <= self.block:
            _, _, _, name, args = heapq.heappop(self._queue)
            EVENT_HANDLERS.get(name)(self, **args)

    def log_event(self, kind: str, **info: Any) -> None:
        """Append an entry to the run's event list (block and day added)."""
        self.event_log.append(
            {"block": self.block, "day": round(self.day, 4), "kind": kind, **info}
        )

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """Advance the model by one step (one tempo by default)."""
        if self.finished:
            self.running = False
            return
        n_blocks = min(self.blocks_per_step, self.horizon_blocks - self.block)
        self.market.open_step()
        self._run_due_events()
        self.governance.advance()
        self.work.act(n_blocks)
        self.last_results = self.work.settle(n_blocks)
        self.shocks.step(n_blocks)
        self.block += n_blocks
        self.epoch = self.block // self.config.network.tempo
        self.steps_done += 1
        if self.block >= self._next_daily_block:
            self._daily()
            self._next_daily_block += BLOCKS_PER_DAY
        stolen, scam = self.shocks.security_losses(n_blocks)
        self.market.step(n_blocks / BLOCKS_PER_DAY, stolen_tao_total=stolen, scam_tao=scam)
        self.recorder.record()
        if self.finished:
            self.running = False

    def _daily(self) -> None:
        """Agents with a daily cadence decide; their trades go through the economy."""
        self.staking.update_flags(self.governance.open_proposals())
        if not self.state.halted:
            self.staking.owners_act()
            self.staking.stakers_act(
                self.recorder.nominator_yields(), self.work.subnet_work_factor()
            )
            self.registration.relocate()
        self.staking.decay_beliefs(1.0)
        self.governance.refresh_electorate()

    def react(self, executed: Executed) -> None:
        """Let the market, holders and running thefts react to a lever that took effect."""
        if executed.severity > 0:
            self.market.reprice(executed.severity)
            self.staking.observe_intervention(executed.severity, executed.targets)
        if executed.tao_raised > 0:
            self.market.add_sold(executed.tao_raised)
        if isinstance(executed.lever, HaltChain):
            self.shocks.halt(executed.block)

    def run(self) -> None:
        """Step until the horizon."""
        while not self.finished:
            self.step()

    # ------------------------------------------------------------------ reads for tools
    def emission_shares(self) -> np.ndarray:
        """TAO emission share per subnet now ``[S]``."""
        return chain.emission_shares(self.state, self.params)

    def alpha_prices(self) -> np.ndarray:
        """Spot alpha price per subnet (TAO per alpha) ``[S]``."""
        return chain.alpha_prices(self.state)

    @property
    def miner_strategy(self) -> np.ndarray:
        """Strategy name of every miner uid ``[S, U]`` ("" for other uids)."""
        return self.work.miners.strategy

    @property
    def validator_strategy(self) -> np.ndarray:
        """Strategy name of every validator slot ``[S, V]``."""
        return self.work.validators.strategy

    @property
    def uid_income_tao(self) -> np.ndarray:
        """TAO each uid has earned so far ``[S, U]`` (alpha valued at spot when paid)."""
        return self.work.uid_income_tao
