"""The shock desk: what exogenous events leave running: thefts, sales spread over time, scams.

Event handlers (``sim.agents.events``) decide that something happens; this desk keeps it going
step after step and applies it through the economy:

* an **exploit** drains TAO from every wallet's free balance (in proportion to it; the 2024
  theft drained users' coldkeys) to the market account until a chain halt stops it or its loot
  cap is reached; the thief dumps a fraction on the market;
* a **sale** sells TAO (price impact on the market) or a subnet's alpha (a ``TokenSale`` swap)
  evenly over its window;
* a **scam subnet**'s utility collapses; governance may later suspend it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from protocol import economy
from protocol.economy.emission import block_emission
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState
from protocol.levers import TokenSale
from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim import chain
from sim.market import scam_emission_tao

if TYPE_CHECKING:
    from sim.agents.owners import Owner
    from sim.desks.market import MarketDesk

__all__ = ["Exploit", "Sale", "ShockDesk", "ShockHost"]

#: Utility left to a subnet that turns scam (fraction of before).
SCAM_UTILITY_FACTOR = 0.05


class ShockHost(Protocol):
    """What the shock desk reads and calls on its model."""

    state: NetworkState
    params: EconomyParams
    block: int
    owners: list[Owner]
    market: MarketDesk

    def log_event(self, kind: str, **info: Any) -> None: ...


@dataclass
class Exploit:
    """A running theft (TAO drained per block until a halt or until the loot runs out)."""

    eid: int
    start_block: int
    damage_tao_per_block: float
    max_damage_tao: float
    sold_fraction: float
    stolen_tao: float = 0.0
    stopped_block: int | None = None
    stopped_by: str = ""


@dataclass
class Sale:
    """A sale spread over time: TAO on the market (netuid None) or a subnet's alpha."""

    amount_tao: float
    netuid: int | None
    start_block: int
    end_block: int
    seller: str
    sold_tao: float = 0.0


class ShockDesk:
    """Running exploits, scheduled sales and scam subnets of one run.

    Parameters
    ----------
    host
        The model (economy state, clock, owners, market, event log).
    """

    def __init__(self, host: ShockHost) -> None:
        self.host = host
        self.exploits: list[Exploit] = []
        self.sales: list[Sale] = []
        self.scam_subnets: dict[int, int] = {}  # netuid -> block it turned scam

    # ------------------------------------------------------------------ starting things
    def start_exploit(
        self, damage_tao_per_block: float, max_damage_tao: float, sold_fraction: float
    ) -> int:
        """Start a theft now; returns its id."""
        eid = len(self.exploits)
        self.exploits.append(
            Exploit(eid, self.host.block, damage_tao_per_block, max_damage_tao, sold_fraction)
        )
        self.host.log_event(
            "exploit_start", exploit_id=eid, damage_tao_per_block=damage_tao_per_block
        )
        return eid

    def exploit_active(self, eid: int) -> bool:
        """Whether exploit ``eid`` is still draining."""
        ex = self.exploits[eid]
        return ex.stopped_block is None and ex.stolen_tao < ex.max_damage_tao

    def add_sale(
        self, amount_tao: float, *, netuid: int | None, over_days: float, seller: str
    ) -> None:
        """Schedule a sale of ``amount_tao`` spread evenly over ``over_days``."""
        block = self.host.block
        end = block + max(1, round(over_days * BLOCKS_PER_DAY))
        self.sales.append(Sale(amount_tao, netuid, block, end, seller))

    def mark_scam(self, netuid: int) -> None:
        """Subnet ``netuid`` turns scam: its utility collapses and its owner extracts."""
        self.host.owners[netuid].utility *= SCAM_UTILITY_FACTOR
        self.scam_subnets[netuid] = self.host.block
        self.host.log_event("scam_subnet", netuid=netuid)

    def halt(self, block: int) -> None:
        """A chain halt executed at ``block``: every running exploit stops there."""
        for ex in self.exploits:
            if ex.stopped_block is None:
                ex.stopped_block = block
                ex.stopped_by = "halt"

    # ------------------------------------------------------------------ the step
    def step(self, n_blocks: int) -> None:
        """Exploits drain victims' TAO to the market; scheduled sales execute."""
        host = self.host
        end = host.block + n_blocks
        for ex in self.exploits:
            if ex.stopped_block is not None or ex.stolen_tao >= ex.max_damage_tao:
                continue
            running = n_blocks if not host.state.halted else 0
            amount = min(ex.damage_tao_per_block * running, ex.max_damage_tao - ex.stolen_tao)
            if amount <= 0:
                continue
            taken = self._steal(amount)
            ex.stolen_tao += taken
            host.market.add_sold(ex.sold_fraction * taken)
            if ex.stolen_tao >= ex.max_damage_tao - 1e-9:
                ex.stopped_block = end
                ex.stopped_by = "exhausted"
        for sale in self.sales:
            if sale.sold_tao >= sale.amount_tao:
                continue
            span = sale.end_block - sale.start_block
            due_fraction = min(1.0, (end - sale.start_block) / span)
            amount = sale.amount_tao * due_fraction - sale.sold_tao
            if amount <= 0:
                continue
            if sale.netuid is None:
                host.market.add_sold(amount)
                sale.sold_tao += amount
            elif not host.state.halted:
                host.state, result = economy.apply_lever(
                    host.state, TokenSale(amount_tao=amount, netuid=sale.netuid), host.params
                )
                sale.sold_tao += amount
                host.market.add_sold(result.tao_raised / RAO_PER_TAO)

    def security_losses(self, n_blocks: int) -> tuple[float, float]:
        """What the security channel prices this step (docs/calibration.md).

        Returns
        -------
        tuple of float
            All TAO stolen by exploits so far (cumulative), and the TAO emitted over the step's
            ``n_blocks`` blocks to scam subnets still emitting (neither suspended nor closed).
        """
        stolen = sum(ex.stolen_tao for ex in self.exploits)
        state = self.host.state
        if not self.scam_subnets or state.halted:
            return stolen, 0.0
        live = np.zeros(state.n_subnets, dtype=bool)
        for netuid in self.scam_subnets:
            live[netuid] = bool(state.emission_enabled[netuid]) and bool(
                state.registration_allowed[netuid]
            )
        tao_per_block = block_emission(state.total_issuance) / RAO_PER_TAO
        shares = chain.emission_shares(state, self.host.params)
        return stolen, scam_emission_tao(shares, live, tao_per_block, n_blocks)

    def _steal(self, amount_tao: float) -> float:
        """Move up to ``amount_tao`` from wallets' free balances to the market account.

        Every account but the market's is a potential victim, in proportion to its free TAO.
        """
        state = self.host.state
        balances = state.balances.clone()
        victims = torch.arange(1, state.n_accounts)
        held = balances[victims]
        total = float(held.sum())
        amount = min(amount_tao * RAO_PER_TAO, total)
        if amount <= 0:
            return 0.0
        take = held * (amount / total)
        balances[victims] -= take
        balances[MARKET_ACCOUNT] += float(take.sum())
        self.host.state = state.replace(balances=balances)
        return amount / RAO_PER_TAO
