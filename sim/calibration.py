"""Calibration of the market's governance-risk discount (governance.md §7.4; docs/calibration.md).

One constant is fitted, ``market.contagion_beta``: suspending (``sudo``, self-interested,
unjustified, open-ended) a subnet that holds ~7 % of TAO emission must give the observed one-day
TAO drawdown of 16-23 % (April 2026; the fit targets the midpoint, 19.5 %). Everything else in
the market keeps its a-priori value. The fitted model is then checked, without refitting,
against July 2024: an exploit steals ~32 000 TAO and a benevolent authority puts the chain in
safe mode (24 h) under ``sudo``; TAO fell about 15 %.

Both experiments switch the exogenous news off (``news_enabled = false``), so the drawdown is the
model's deterministic response: the premium jump, the stakers' exits and sales, the exiting
team's sales and the thief's sales through square-root impact.

Run ``python -m sim.calibration`` to refit and print the figures quoted in docs/calibration.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from protocol.units import BLOCKS_PER_DAY
from sim import engine
from sim.config import SimConfig

__all__ = [
    "APRIL_2026_TARGET",
    "CalibrationResult",
    "covenant_scenario",
    "fit_contagion_beta",
    "july_2024_check",
    "july_2024_scenario",
    "one_day_drawdown",
]

#: Observed one-day TAO drawdown on 10 April 2026: 16-23 % (governance.md §4.2); midpoint.
APRIL_2026_TARGET: float = 0.195
#: Observed TAO move after the July 2024 exploit and safe mode (governance.md §4.1).
JULY_2024_OBSERVED: float = -0.15
#: Target emission share of the suspended subnet (SN3 held 6.51-7.06 %).
TARGET_SHARE: float = 0.07
INTERVENTION_DAY: float = 3.0


def _base(beta: float, n_subnets: int) -> dict[str, Any]:
    return {
        "name": "calibration",
        "horizon_days": INTERVENTION_DAY + 1.5,
        "network": {"n_subnets": n_subnets, "n_uids": 32, "n_validators": 4},
        "stakers": {"n_stakers": 24},
        "market": {"contagion_beta": beta, "news_enabled": False},
    }


def _pick_subnet(config: SimConfig, target_share: float) -> tuple[int, float]:
    """The subnet whose emission share at the intervention day is closest to ``target_share``."""
    from sim.model import GovSimModel

    with engine.torch_threads(1):
        model = GovSimModel(config)
        try:
            while model.day < INTERVENTION_DAY - 1e-9:
                model.step()
            shares = model.emission_shares()
        finally:
            engine.release(model)
    netuid = int(np.argmin(np.abs(shares - target_share)))
    return netuid, float(shares[netuid])


def covenant_scenario(beta: float, *, n_subnets: int = 14, netuid: int | None = None) -> SimConfig:
    """The April 2026 calibration run: ``sudo`` suspends a ~7 %-share high-value subnet.

    Parameters
    ----------
    beta
        ``market.contagion_beta`` to use.
    n_subnets
        Network size (14 subnets make a ~7 % share typical).
    netuid
        The target; None picks the subnet whose share is closest to 7 % at the intervention.
    """
    body = _base(beta, n_subnets)
    if netuid is None:
        netuid, _ = _pick_subnet(SimConfig.model_validate(body), TARGET_SHARE)
    body["owners"] = {"assign": {netuid: "high_value"}}
    body["governance"] = {"policy": "sudo", "actors": [{"count": 1, "intent": "self_interested"}]}
    body["shocks"] = [
        {
            "kind": "intervention",
            "day": INTERVENTION_DAY,
            "lever": {"kind": "set_emission_enabled", "netuid": netuid, "enabled": False},
            "intent": "self_interested",
            "justified": False,
        }
    ]
    return SimConfig.model_validate(body)


def july_2024_scenario(beta: float, *, n_subnets: int = 14) -> SimConfig:
    """The July 2024 check: ~32 000 TAO stolen, then a justified 24 h halt under ``sudo``.

    The exploit drains 22.25 TAO a block and the authority notices after 1 000 blocks (~3.3 h);
    with one tempo to act, about 32 000 TAO are gone before safe mode, as reported; the thief
    dumps all of it.
    """
    body = _base(beta, n_subnets)
    body["governance"] = {"policy": "sudo", "detection_delay_blocks": 1_000}
    body["shocks"] = [
        {
            "kind": "exploit",
            "day": INTERVENTION_DAY,
            "damage_tao_per_block": 22.25,
            "max_damage_tao": 40_000.0,
            "sold_fraction": 1.0,
        }
    ]
    return SimConfig.model_validate(body)


def one_day_drawdown(
    config: SimConfig, *, day: float = INTERVENTION_DAY
) -> tuple[float, dict[str, Any]]:
    """TAO's fall from just before ``day`` to one day later (positive = fall), and run details."""
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


@dataclass(frozen=True)
class CalibrationResult:
    """The fit and the out-of-sample check."""

    beta: float
    netuid: int
    share: float
    april_drawdown: float
    july_drawdown: float
    july_stolen_tao: float
    iterations: int


def fit_contagion_beta(
    target: float = APRIL_2026_TARGET,
    *,
    lo: float = 0.0,
    hi: float = 20.0,
    tol: float = 0.002,
    n_subnets: int = 14,
    max_iter: int = 14,
) -> CalibrationResult:
    """Bisect ``contagion_beta`` so the April 2026 run falls by ``target`` in one day.

    The drawdown rises monotonically with beta (a larger discount, more staker exits), so
    bisection on ``[lo, hi]`` converges; the target subnet is fixed once, before the search.

    Returns
    -------
    CalibrationResult
        Including the July 2024 check run with the fitted beta.
    """
    netuid, share = _pick_subnet(SimConfig.model_validate(_base(0.0, n_subnets)), TARGET_SHARE)
    it = 0
    dd = float("nan")
    while it < max_iter:
        it += 1
        mid = 0.5 * (lo + hi)
        dd, _ = one_day_drawdown(covenant_scenario(mid, n_subnets=n_subnets, netuid=netuid))
        if abs(dd - target) < tol:
            lo = hi = mid
            break
        if dd < target:
            lo = mid
        else:
            hi = mid
    beta = 0.5 * (lo + hi)
    april, _ = one_day_drawdown(covenant_scenario(beta, n_subnets=n_subnets, netuid=netuid))
    july, info = july_2024_check(beta, n_subnets=n_subnets)
    return CalibrationResult(beta, netuid, share, april, july, float(info["stolen_tao"]), it)


def july_2024_check(beta: float, *, n_subnets: int = 14) -> tuple[float, dict[str, Any]]:
    """One-day TAO drawdown of the July 2024 scenario with ``beta`` (no refitting)."""
    return one_day_drawdown(july_2024_scenario(beta, n_subnets=n_subnets))


def _main() -> None:  # pragma: no cover - a script
    res = fit_contagion_beta()
    print(f"target subnet {res.netuid}: emission share {res.share:.4f}")
    print(f"fitted contagion_beta = {res.beta:.3f} after {res.iterations} bisection steps")
    print(f"April 2026 one-day drawdown (fit): {res.april_drawdown:.3%} (observed 16-23 %)")
    print(
        f"July 2024 one-day drawdown (check): {res.july_drawdown:.3%} with "
        f"{res.july_stolen_tao:,.0f} TAO stolen (observed about {-JULY_2024_OBSERVED:.0%})"
    )
    print(
        f"beta={res.beta:.4f} april={res.april_drawdown:.4f} july={res.july_drawdown:.4f} "
        f"share={res.share:.4f} blocks_per_day={BLOCKS_PER_DAY} ok={math.isfinite(res.beta)}"
    )


if __name__ == "__main__":  # pragma: no cover
    _main()
