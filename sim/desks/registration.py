"""The registration desk: under-earning miners decide to move, and re-register elsewhere.

Once a day, miners whose recent income falls below ``relocation_threshold`` of the best
subnet's mean may decide to move there (``sim.agents.miners.relocation_choices``); the move
happens ``relocation_lag_days`` later (a ``miner_move`` event) or at once without a lag. A move
is a registration on the chain (``protocol.economy.register_uid``: the burn is paid, the
lowest-emission unimmune uid is pruned); the miner keeps its skill and strategy
(:meth:`sim.desks.work.WorkDesk.move_miner`) and leaves its old uid vacant. Cabal miners never
move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from protocol import economy
from protocol.economy.state import EconomyParams, NetworkState
from protocol.units import BLOCKS_PER_DAY
from sim.agents.miners import relocation_choices
from sim.config import SimConfig

if TYPE_CHECKING:
    from sim.desks.work import WorkDesk

__all__ = ["RegistrationDesk", "RegistrationHost"]


class RegistrationHost(Protocol):
    """What the registration desk reads and calls on its model."""

    config: SimConfig
    block: int
    state: NetworkState
    params: EconomyParams
    work: WorkDesk

    def schedule(self, block: int, handler: str, *, priority: int = 0, **args: Any) -> None: ...

    def log_event(self, kind: str, **info: Any) -> None: ...


class RegistrationDesk:
    """Miners' relocations between subnets.

    Parameters
    ----------
    host
        The model.
    rng
        The run's miner stream (shared with the miner cohorts' own draws).
    """

    def __init__(self, host: RegistrationHost, rng: np.random.Generator) -> None:
        self.host = host
        self.rng = rng

    def relocate(self) -> None:
        """Under-earning miners decide to move; each move happens after its lag."""
        host = self.host
        cfg = host.config.miners
        work = host.work
        grid = work.miners
        moves = relocation_choices(
            work.recent_income,
            work.subnet_income_per_miner(),
            grid.is_miner & ~grid.vacant & ~work.validators.cabal_miners,
            threshold=cfg.relocation_threshold,
            probability=cfg.relocation_probability * min(1.0, 1.0 / cfg.cadence_days),
            rng=self.rng,
        )
        lag = round(cfg.relocation_lag_days * BLOCKS_PER_DAY)
        for src, uid, dst in moves[: cfg.max_moves_per_day]:
            if lag > 0:
                host.schedule(host.block + lag, "miner_move", src=src, uid=uid, dst=dst)
            else:
                self.move_miner(src, uid, dst)

    def move_miner(self, src: int, uid: int, dst: int) -> None:
        """Re-register miner ``uid`` of subnet ``src`` on ``dst`` (burn paid, lowest uid pruned).

        Nothing happens when the uid is already vacant, the chain is halted, ``dst`` refuses
        registrations, the coldkey cannot pay the burn or no uid can be pruned.
        """
        host = self.host
        work = host.work
        state = host.state
        if work.miners.vacant[src, uid] or state.halted:
            return
        # numpy views: a scalar read each, no tensor indexing
        account = int(state.view("uid_coldkey")[src, uid])
        if account < 0 or not state.view("registration_allowed")[dst]:
            return
        if float(state.view("balances")[account]) < float(state.view("reg_burn")[dst]):
            return
        try:
            host.state, reg = economy.register_uid(
                state, host.params, account, dst, matrices_owned=True
            )
        except ValueError:
            return  # nothing prunable: the move fails this time
        new = reg.uid
        if not work.miners.is_miner[dst, new]:
            return
        work.move_miner(src, uid, dst, new)
        host.log_event("miner_move", src=src, uid=uid, dst=dst, new_uid=new)
