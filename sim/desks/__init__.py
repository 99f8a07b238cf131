"""The model's desks: each concern of a step in a room of its own.

:class:`sim.model.GovSimModel` keeps the clock, the event queue and the wiring; the work is done
here. Each desk sees the model through a small ``typing.Protocol`` (its ``*Host``) naming what
it reads and calls.

.. autosummary::

   work.WorkDesk              miners work, validators weigh it, the chain pays for it
   market.MarketDesk          the TAO price, the step's net sales, governance repricing
   staking.StakingDesk        stakers rebalance, owners sell or leave, TAO goes to market
   shocks.ShockDesk           running exploits, sales spread over time, scam subnets
   registration.RegistrationDesk  miners move between subnets
   governance.GovernanceDesk  the policy, proposals, votes and executed levers
"""

from __future__ import annotations

from sim.desks.governance import Executed, GovernanceDesk, ProposalMeta
from sim.desks.market import MarketDesk
from sim.desks.registration import RegistrationDesk
from sim.desks.shocks import ShockDesk
from sim.desks.staking import StakingDesk
from sim.desks.work import WorkDesk

__all__ = [
    "Executed",
    "GovernanceDesk",
    "MarketDesk",
    "ProposalMeta",
    "RegistrationDesk",
    "ShockDesk",
    "StakingDesk",
    "WorkDesk",
]
