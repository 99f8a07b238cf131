"""Exogenous events: exploits, scam subnets, quality shocks, team exits, token sales.

Events live on the model's event queue as ``(block, priority, seq, handler_name, args)``;
handlers are looked up by name in :data:`EVENT_HANDLERS` (never lambdas, so a model pickles).
Timed events come from ``SimConfig.shocks``; random ones are drawn once at the start of a run
from Poisson arrival rates (``SimConfig.events``) with the run's event generator, so the whole
event list is fixed by the seed.

Each handler only *decides* what happens (whom it hits, what an authority proposes) and hands
it to a desk of the model (``sim.desks``), which applies the rules through ``protocol.economy``
and the governance policy. Handlers see the model as an :class:`EventHost`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from protocol.economy.state import EconomyParams
from protocol.governance.voters import MATTER_KINDS, Matter
from protocol.levers import HaltChain, lever_from_dict, lever_targets
from protocol.registry import Registry
from protocol.units import BLOCKS_PER_DAY
from sim.config import (
    EventsConfig,
    ExploitShock,
    InterventionShock,
    QualityShock,
    ScamSubnetShock,
    Shock,
    SimConfig,
    TeamExitShock,
    TokenSaleShock,
)

if TYPE_CHECKING:
    from sim.agents.owners import Owner
    from sim.desks.governance import GovernanceDesk
    from sim.desks.registration import RegistrationDesk
    from sim.desks.shocks import ShockDesk

__all__ = [
    "EVENT_HANDLERS",
    "EventHost",
    "draw_random_shocks",
    "random_interventions",
    "shock_to_event",
]

Handler = Callable[..., None]
EVENT_HANDLERS: Registry[Handler] = Registry("event handler")


class EventHost(Protocol):
    """What event handlers read and call on the model."""

    config: SimConfig
    block: int
    params: EconomyParams
    owners: list[Owner]
    governance: GovernanceDesk
    shocks: ShockDesk
    registration: RegistrationDesk

    @property
    def day(self) -> float: ...

    def schedule(self, block: int, handler: str, *, priority: int = 0, **args: Any) -> None: ...

    def log_event(self, kind: str, **info: Any) -> None: ...


#: Shock kinds that raise a matter for governance: their handlers take the shock's index as
#: ``matter`` (the index in the run's shock list, fixed by the seed and never by the policy).
MATTER_SHOCKS: frozenset[str] = frozenset({"intervention", "exploit", "scam_subnet"})


def shock_to_event(shock: Shock, index: int = 0) -> tuple[int, str, dict[str, Any]]:
    """``(block, handler_name, args)`` for a configured shock, the ``index``-th of the run."""
    block = round(shock.day * BLOCKS_PER_DAY)
    args = shock.model_dump(exclude={"day", "kind"})
    if shock.kind in MATTER_SHOCKS:
        args["matter"] = index
    return block, shock.kind, args


def draw_random_shocks(
    cfg: EventsConfig, *, n_subnets: int, horizon_days: float, rng: np.random.Generator
) -> list[Shock]:
    """Poisson arrivals of exploits, scam subnets and quality jumps over the horizon.

    Parameters
    ----------
    cfg
        Rates (events/year) and sizes.
    n_subnets
        Subnets to pick targets from.
    horizon_days
        Length of the run (days).
    rng
        The run's event generator.

    Returns
    -------
    list of Shock
        Sorted by day; empty when all rates are 0.
    """
    years = horizon_days / 365.0
    out: list[Shock] = []

    def times(rate: float) -> np.ndarray:
        n = rng.poisson(rate * years) if rate > 0 else 0
        return np.sort(rng.uniform(0.0, horizon_days, n))

    for day in times(cfg.exploit_rate_per_year):
        out.append(
            ExploitShock(
                day=float(day),
                damage_tao_per_block=cfg.exploit_damage_tao_per_block,
                max_damage_tao=cfg.exploit_max_damage_tao,
            )
        )
    for day in times(cfg.scam_rate_per_year):
        out.append(ScamSubnetShock(day=float(day), netuid=int(rng.integers(n_subnets))))
    for day in times(cfg.quality_shock_rate_per_year):
        factor = float(np.exp(cfg.quality_shock_sigma * rng.standard_normal()))
        out.append(QualityShock(day=float(day), netuid=int(rng.integers(n_subnets)), factor=factor))
    # Drawn last, and only when the rate is positive, so studies without random interventions
    # keep the event lists they had.
    if cfg.intervention_rate_per_year > 0:
        out += random_interventions(
            cfg, times(cfg.intervention_rate_per_year), n_subnets=n_subnets, rng=rng
        )
    return sorted(out, key=lambda s: s.day)


def random_interventions(
    cfg: EventsConfig, days: np.ndarray, *, n_subnets: int, rng: np.random.Generator
) -> list[Shock]:
    """Contested interventions on the given days, each warranted with probability
    ``cfg.intervention_warranted_share``.

    A warranted one is a scam caught early: its subnet turns scam that day and a benevolent,
    competent person asks for ``cfg.intervention_lever`` against it at once (the ordinary scam
    detection follows ``governance.scam_detection_days`` later, if the scam still runs). An
    unwarranted one is filed by the first self-interested person of the roster (or by whoever
    the policy lets propose) against a healthy subnet, as in April 2026.

    Returns
    -------
    list of Shock
        For each day: the scam (warranted only), then the intervention.
    """
    out: list[Shock] = []
    for day in days:
        warranted = bool(rng.random() < cfg.intervention_warranted_share)
        netuid = int(rng.integers(n_subnets))
        if warranted:
            out.append(ScamSubnetShock(day=float(day), netuid=netuid))
        out.append(
            InterventionShock(
                day=float(day),
                lever={"kind": cfg.intervention_lever, "netuid": netuid},
                intent="benevolent_competent" if warranted else "self_interested",
                justified=warranted,
                duration_days=cfg.intervention_duration_days,
            )
        )
    return out


@EVENT_HANDLERS.register("quality_jump")
def on_quality_jump(model: EventHost, *, netuid: int, factor: float) -> None:
    """A subnet's utility is multiplied by ``factor`` (a milestone, or a setback)."""
    model.owners[netuid].utility *= factor
    model.log_event("quality_jump", netuid=netuid, factor=factor)


_FACTIONS = frozenset({"self_interested", "captured"})


@EVENT_HANDLERS.register("intervention")
def on_intervention(
    model: EventHost,
    *,
    lever: dict[str, Any],
    intent: str,
    justified: bool,
    duration_days: float | None,
    matter: int = 0,
) -> None:
    """Someone with ``intent`` wants ``lever`` pulled: the first roster person with that intent
    initiates it, and it goes through the governance policy like any matter."""
    action = lever_from_dict(lever)
    targets = lever_targets(action)
    case = Matter(
        key=(MATTER_KINDS["intervention"], matter, 0),
        warranted=justified,
        target=targets[0] if targets else None,
        faction=intent if intent in _FACTIONS and not justified else "",
    )
    model.governance.propose(
        action,
        matter=case,
        intent=intent,
        initiator=model.governance.first_with_intent(intent),
        duration_days=duration_days,
        detected_block=model.block,
    )


@EVENT_HANDLERS.register("exploit")
def on_exploit(
    model: EventHost,
    *,
    damage_tao_per_block: float,
    max_damage_tao: float,
    sold_fraction: float,
    matter: int = 0,
) -> None:
    """A theft starts; it is noticed after ``detection_delay_blocks``."""
    eid = model.shocks.start_exploit(damage_tao_per_block, max_damage_tao, sold_fraction)
    delay = model.config.governance.detection_delay_blocks
    model.schedule(model.block + delay, "exploit_detected", priority=1, exploit_id=eid, look=0)


@EVENT_HANDLERS.register("exploit_detected")
def on_exploit_detected(model: EventHost, *, exploit_id: int, look: int = 0) -> None:
    """Persons judge a running exploit and may propose a chain halt (a warranted, urgent
    matter); while it runs and no halt is pending, they look again every
    ``exploit_look_days`` (fresh evidence, fresh signals)."""
    if not model.shocks.exploit_active(exploit_id):
        return
    desk = model.governance
    matter = Matter(key=(MATTER_KINDS["exploit"], exploit_id, look), warranted=True, urgent=True)
    if desk.answering_exploit(exploit_id):
        desk.rally(exploit_id, matter)
    else:
        desk.propose(
            HaltChain(duration_blocks=model.params.safe_mode_enter_blocks),
            matter=matter,
            intent="benevolent_competent",
            initiator=None,
            duration_days=None,
            exploit_id=exploit_id,
            detected_block=model.block,
        )
    every = round(model.config.governance.exploit_look_days * BLOCKS_PER_DAY)
    model.schedule(
        model.block + every, "exploit_detected", priority=1, exploit_id=exploit_id, look=look + 1
    )


@EVENT_HANDLERS.register("team_exit")
def on_team_exit(
    model: EventHost, *, netuid: int, sell_tao: float, sell_days: float, quality_factor: float
) -> None:
    """A team leaves: its subnet's utility drops and it sells TAO over ``sell_days``."""
    owner = model.owners[netuid]
    if not owner.exited:
        owner.leave(model.day)
        owner.utility = owner.utility / model.config.owners.exit_quality_factor * quality_factor
    model.shocks.add_sale(sell_tao, netuid=None, over_days=sell_days, seller=f"team{netuid}")
    model.log_event("team_exit", netuid=netuid, sell_tao=sell_tao)


@EVENT_HANDLERS.register("token_sale")
def on_token_sale(
    model: EventHost, *, amount_tao: float, netuid: int | None, over_days: float
) -> None:
    """Somebody sells TAO (or a subnet's alpha) over ``over_days``."""
    model.shocks.add_sale(amount_tao, netuid=netuid, over_days=over_days, seller="authority")
    model.log_event("token_sale", netuid=netuid, amount_tao=amount_tao)


@EVENT_HANDLERS.register("scam_subnet")
def on_scam_subnet(model: EventHost, *, netuid: int, matter: int = 0) -> None:
    """A subnet turns scam; it is noticed after ``scam_detection_days``."""
    model.shocks.mark_scam(netuid)
    delay = round(model.config.governance.scam_detection_days * BLOCKS_PER_DAY)
    model.schedule(model.block + delay, "scam_detected", priority=1, netuid=netuid, matter=matter)


@EVENT_HANDLERS.register("scam_detected")
def on_scam_detected(model: EventHost, *, netuid: int, matter: int = 0) -> None:
    """Persons judge the scam and may propose the response lever against it (warranted)."""
    kind = model.config.governance.response_lever
    lever = lever_from_dict({"kind": kind, "netuid": netuid})
    model.governance.propose(
        lever,
        matter=Matter(key=(MATTER_KINDS["scam"], matter, 0), warranted=True, target=netuid),
        intent="benevolent_competent",
        initiator=None,
        duration_days=None,
        detected_block=model.block,
    )


@EVENT_HANDLERS.register("reverse")
def on_reverse(
    model: EventHost,
    *,
    lever: dict[str, Any],
    intent: str,
    initiator: str | None = None,
    parent: tuple[int, int, int] = (0, 0, 0),
) -> None:
    """Whoever pulled a time-limited lever proposes to undo it when its time is up."""
    action = lever_from_dict(lever)
    targets = lever_targets(action)
    model.governance.propose(
        action,
        matter=Matter(
            key=(MATTER_KINDS["reversal"], parent[0], parent[1]),
            warranted=True,
            target=targets[0] if targets else None,
            hurts_target=False,
        ),
        intent=intent,
        initiator=initiator,
        duration_days=None,
        reversal=True,
    )


@EVENT_HANDLERS.register("miner_move")
def on_miner_move(model: EventHost, *, src: int, uid: int, dst: int) -> None:
    """A miner who decided to leave ``src`` registers on ``dst`` (after its lag)."""
    model.registration.move_miner(src, uid, dst)


#: Shock kinds that have a handler of the same name.
SHOCK_KINDS: tuple[type, ...] = (
    QualityShock,
    InterventionShock,
    ExploitShock,
    TeamExitShock,
    TokenSaleShock,
    ScamSubnetShock,
)
