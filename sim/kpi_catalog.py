"""What every KPI of a run is: a readable name, a unit, a group and which way is better.

The model emits about a hundred KPIs (``sim.metrics.compute_kpis``, with the harm vector of
:mod:`sim.harm`, the measured governance outcomes of :mod:`sim.governance_kpis` and the cabal
ledger of :mod:`sim.cabal`). Reports, the terminal tables and ``--csv`` read them through this
catalogue, so a reader sees "TAO stolen by exploits (TAO, lower is better)" rather than
``exploits.stolen_tao``. Every KPI a run emits has an entry (a test runs a small scenario with
every kind of shock and checks), so a new KPI cannot reach a report unnamed.

Values are stored as the model computes them; a KPI whose unit is ``%`` is a fraction in the
store and is shown multiplied by :attr:`KpiInfo.scale` (100).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CATALOG",
    "GROUPS",
    "GROUP_TITLES",
    "Direction",
    "KpiInfo",
    "describe_kpi",
    "group_kpis",
    "kpi_info",
    "uncatalogued",
]

Direction = Literal["lower", "higher", "neither"]

#: The groups, in the order reports show them.
GROUPS: tuple[str, ...] = ("harm", "speed", "governance", "decentralisation", "economy", "other")
#: Each group's heading.
GROUP_TITLES: dict[str, str] = {
    "harm": "Harm",
    "speed": "Reaction speed",
    "governance": "Governance outcomes",
    "decentralisation": "Decentralisation and capture",
    "economy": "Economy and participants",
    "other": "Other",
}


@dataclass(frozen=True)
class KpiInfo:
    """One KPI as a reader sees it.

    Attributes
    ----------
    key
        The KPI's column name (``exploits.stolen_tao``).
    name
        A readable name ("TAO stolen by exploits").
    unit
        ``TAO``, ``USD``, ``%``, ``days``, ``count``, ``seats``, ``index`` (a 0-1 concentration
        or inequality index), ``USD/TAO``, ``USD/day``, or ``""`` (a model constant).
    group
        One of :data:`GROUPS`.
    direction
        ``"lower"`` or ``"higher"`` is better, or ``"neither"`` (a count or setting that is
        not good or bad in itself).
    scale
        Factor from the stored value to the shown one (100 for ``%``).
    """

    key: str
    name: str
    unit: str
    group: str
    direction: Direction = "neither"
    scale: float = 1.0

    @property
    def label(self) -> str:
        """``name (unit)``, or the name alone without a unit."""
        return f"{self.name} ({self.unit})" if self.unit else self.name

    @property
    def better(self) -> str:
        """``"lower is better"``, ``"higher is better"`` or ``""``."""
        return f"{self.direction} is better" if self.direction != "neither" else ""


def _k(key: str, name: str, unit: str, group: str, direction: Direction = "neither") -> KpiInfo:
    return KpiInfo(key, name, unit, group, direction, 100.0 if unit == "%" else 1.0)


_ROLES: dict[str, str] = {
    "miners": "Miners",
    "validators": "Validators",
    "nominators": "Nominators",
    "owners": "Subnet owners",
}

_ENTRIES: list[KpiInfo] = [
    # -- harm: the harm vector (sim.harm) and what it is made of ----------------------------
    _k("harm.total", "Harm, weighted total", "USD", "harm", "lower"),
    _k("harm.holders_usd", "TAO holders' loss", "USD", "harm", "lower"),
    _k("harm.holders_return", "TAO holders' loss, share of value", "%", "harm", "lower"),
    _k("harm.lost_tao", "Lost to exploits and scams", "TAO", "harm", "lower"),
    _k("harm.lost_exploit_tao", "Lost to exploits", "TAO", "harm", "lower"),
    _k("harm.lost_scam_tao", "Lost to scam subnets", "TAO", "harm", "lower"),
    _k("harm.lost_usd", "Lost to exploits and scams", "USD", "harm", "lower"),
    _k("harm.targeted_tao", "Targeted subnets' participants' loss", "TAO", "harm", "lower"),
    _k("harm.targeted_usd", "Targeted subnets' participants' loss", "USD", "harm", "lower"),
    _k("harm.targeted_miners_tao", "Targeted subnets' miners' loss", "TAO", "harm", "lower"),
    _k(
        "harm.targeted_validators_tao", "Targeted subnets' validators' loss", "TAO", "harm", "lower"
    ),
    _k("harm.targeted_owner_tao", "Targeted subnets' owners' loss", "TAO", "harm", "lower"),
    _k("harm.targeted_stake_tao", "Targeted subnets' stakers' loss", "TAO", "harm", "lower"),
    _k("harm.targeted_subnets", "Subnets hit by an intervention", "count", "harm", "lower"),
    _k("harm.emission_removed_tao", "Emission wrongly removed", "TAO", "harm", "lower"),
    _k("harm.emission_removed_usd", "Emission wrongly removed", "USD", "harm", "lower"),
    _k("harm.halted_days", "Chain halted", "days", "harm", "lower"),
    _k("harm.halted_usd", "Chain halted", "USD", "harm", "lower"),
    _k("exploits.stolen_tao", "TAO stolen by exploits", "TAO", "harm", "lower"),
    _k("fp.emission_share_hit", "Emission share cut by harmful actions", "%", "harm", "lower"),
    _k("tao.max_drawdown", "TAO price: largest fall from a peak", "%", "harm", "lower"),
    # -- speed: measured reaction, and the delay a policy enforces -----------------------------
    _k("reaction.days_to_act_mean", "Detection to action, mean", "days", "speed", "lower"),
    _k("reaction.days_to_act_max", "Detection to action, slowest", "days", "speed", "lower"),
    _k("reaction.cases", "Warranted cases to act on", "count", "speed"),
    _k("reaction.censored", "Warranted cases never acted on", "count", "speed", "lower"),
    _k("exploits.mean_days_to_stop", "Exploit start to stop, mean", "days", "speed", "lower"),
    _k("exploits.max_days_to_stop", "Exploit start to stop, slowest", "days", "speed", "lower"),
    _k(
        "decentralisation.enforced_delay_days",
        "Delay the policy enforces on a lever",
        "days",
        "speed",
    ),
    # -- governance outcomes -------------------------------------------------------------------
    _k("governance.proposals", "Proposals", "count", "governance"),
    _k("governance.harmful_proposals", "Harmful proposals", "count", "governance"),
    _k("governance.harmful_executed", "Harmful proposals executed", "count", "governance", "lower"),
    _k(
        "governance.p_harmful_executed",
        "Harmful proposals executed, share",
        "%",
        "governance",
        "lower",
    ),
    _k("governance.warranted_proposals", "Warranted proposals", "count", "governance"),
    _k(
        "governance.warranted_executed",
        "Warranted proposals executed",
        "count",
        "governance",
        "higher",
    ),
    _k(
        "governance.p_warranted_executed",
        "Warranted proposals executed, share",
        "%",
        "governance",
        "higher",
    ),
    _k("governance.cases_harmful", "Harmful cases (not warranted)", "count", "governance"),
    _k("governance.false_alarms", "False alarms raised", "count", "governance"),
    _k("governance.missed_votes", "Votes not cast", "count", "governance"),
    _k("governance.bribes_paid_tao", "Bribes paid", "TAO", "governance"),
    _k("interventions.executed", "Governance actions executed", "count", "governance"),
    _k("fp.count", "Harmful actions executed (false positives)", "count", "governance", "lower"),
    _k("fn.count", "Missed actions (false negatives)", "count", "governance", "lower"),
    _k("fn.missed_proposals", "Warranted proposals that failed", "count", "governance", "lower"),
    _k("fn.scams_unstopped", "Scam subnets never stopped", "count", "governance", "lower"),
    _k("fn.exploits_unstopped", "Exploits never stopped by a halt", "count", "governance", "lower"),
    # -- decentralisation and the cost of capture -------------------------------------------
    _k(
        "governance.capture_cost_tao",
        "Cost to pass a harmful lever",
        "TAO",
        "decentralisation",
        "higher",
    ),
    _k(
        "governance.capture_cost_seats",
        "Seats to pass a harmful lever",
        "seats",
        "decentralisation",
        "higher",
    ),
    _k(
        "governance.veto_cost_tao",
        "Cost to block a warranted lever",
        "TAO",
        "decentralisation",
        "higher",
    ),
    _k(
        "governance.veto_cost_seats",
        "Seats to block a warranted lever",
        "seats",
        "decentralisation",
        "higher",
    ),
    _k(
        "decentralisation.key_control_nc",
        "Keys that control a lever",
        "count",
        "decentralisation",
        "higher",
    ),
    _k(
        "decentralisation.min_pass_coalition",
        "Smallest coalition that passes a lever",
        "seats",
        "decentralisation",
        "higher",
    ),
    _k(
        "decentralisation.min_block_coalition",
        "Smallest coalition that blocks a lever",
        "seats",
        "decentralisation",
    ),
    _k(
        "decentralisation.exit_window_days",
        "Exit window before a lever applies",
        "days",
        "decentralisation",
        "higher",
    ),
    _k(
        "decentralisation.decision_nc_50",
        "Decision power: parties for > 50 %",
        "count",
        "decentralisation",
        "higher",
    ),
    _k(
        "decentralisation.decision_gini",
        "Decision power: Gini",
        "index",
        "decentralisation",
        "lower",
    ),
    _k(
        "decentralisation.decision_hhi", "Decision power: HHI", "index", "decentralisation", "lower"
    ),
    _k(
        "decentralisation.stake_nc_33",
        "Stake: holders for > 1/3",
        "count",
        "decentralisation",
        "higher",
    ),
    _k(
        "decentralisation.stake_nc_50",
        "Stake: holders for > 1/2",
        "count",
        "decentralisation",
        "higher",
    ),
    _k("decentralisation.stake_gini", "Stake: Gini", "index", "decentralisation", "lower"),
    _k("decentralisation.stake_hhi", "Stake: HHI", "index", "decentralisation", "lower"),
    _k("emission.hhi", "Emission across subnets: HHI", "index", "decentralisation", "lower"),
    _k(
        "emission.nakamoto_50",
        "Subnets holding > 50 % of emission",
        "count",
        "decentralisation",
        "higher",
    ),
    _k("cabal.subnets", "Subnets with a validator cabal", "count", "decentralisation"),
    _k("cabal.gain", "Cabal's pay over fair pay", "%", "decentralisation", "lower"),
    _k("cabal.excess_tao", "Cabal's pay over fair pay", "TAO", "decentralisation", "lower"),
    _k("cabal.miner_income_share", "Cabal miners' share of pay", "%", "decentralisation", "lower"),
    _k("cabal.miner_fair_share", "Cabal miners' fair share of pay", "%", "decentralisation"),
    _k(
        "cabal.validator_income_share",
        "Cabal validators' share of pay",
        "%",
        "decentralisation",
        "lower",
    ),
    _k(
        "cabal.validator_fair_share", "Cabal validators' fair share of pay", "%", "decentralisation"
    ),
    # -- economy and participants --------------------------------------------------------------
    _k("pnl.tao_holders.mean", "TAO holders' return", "%", "economy", "higher"),
    _k("pnl.tao_holders.cvar_5", "TAO daily return, worst 5 % (CVaR)", "%", "economy", "higher"),
    _k("tao.price_start_usd", "TAO price at the start", "USD", "economy"),
    _k("tao.price_end_usd", "TAO price at the end", "USD", "economy", "higher"),
    _k("tao.worst_day", "TAO's worst daily return", "%", "economy", "higher"),
    _k("tao.governance_premium_end", "Governance-risk premium at the end", "%", "economy", "lower"),
    _k("survival.share_emitting", "Subnets still emitting", "%", "economy", "higher"),
    _k("survival.mean_days", "Subnets' days emitting, mean", "days", "economy", "higher"),
    _k("survival.min_days", "Subnets' days emitting, fewest", "days", "economy", "higher"),
    # -- other: the run's shape and the prices the harm vector is valued at -----------------------
    _k("days", "Horizon", "days", "other"),
    _k("subnets", "Subnets", "count", "other"),
    _k("exploits.count", "Exploits", "count", "other"),
    _k("harm.tao_usd", "TAO price harm is valued at", "USD/TAO", "other"),
    _k("harm.halt_day_usd", "Value of a halted day", "USD/day", "other"),
]
for _role, _title in _ROLES.items():
    _ENTRIES += [
        _k(f"pnl.{_role}.mean", f"{_title}' PnL, mean", "USD", "economy", "higher"),
        _k(f"pnl.{_role}.cvar_5", f"{_title}' PnL, worst 5 % (CVaR)", "USD", "economy", "higher"),
        _k(f"pnl.{_role}.n", f"{_title}", "count", "economy"),
    ]

#: Every catalogued KPI by key.
CATALOG: dict[str, KpiInfo] = {entry.key: entry for entry in _ENTRIES}

#: Families named by a pattern: the outer Monte Carlo's market constants (``market.<name>``).
_PATTERNS: tuple[tuple[re.Pattern[str], str, str, str], ...] = (
    (re.compile(r"^market\.(?P<rest>.+)$"), "Market constant {rest}", "", "other"),
)


def kpi_info(key: str) -> KpiInfo | None:
    """The catalogue's entry for ``key``, or None when the KPI is not catalogued."""
    if key in CATALOG:
        return CATALOG[key]
    for pattern, name, unit, group in _PATTERNS:
        match = pattern.match(key)
        if match:
            return _k(key, name.format(**match.groupdict()), unit, group)
    return None


def describe_kpi(key: str) -> KpiInfo:
    """The entry for ``key``; an uncatalogued KPI is shown under its own key in "other"."""
    return kpi_info(key) or KpiInfo(key, key, "", "other")


def uncatalogued(keys: Iterable[str]) -> list[str]:
    """The keys that have no catalogue entry (a test keeps this empty for a real run)."""
    return [k for k in keys if kpi_info(k) is None]


def group_kpis(keys: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``keys`` by group, groups in :data:`GROUPS` order, KPIs in catalogue order within one
    (uncatalogued KPIs last in "other", in the order given); empty groups left out."""
    order = {key: i for i, key in enumerate(CATALOG)}
    out = []
    for group in GROUPS:
        members = [k for k in keys if describe_kpi(k).group == group]
        members.sort(key=lambda k: (order.get(k, len(order)), keys.index(k)))
        if members:
            out.append((group, members))
    return out
