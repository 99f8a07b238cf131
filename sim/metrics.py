"""What a run measures: a tidy time series, per-role PnL and the governance KPIs (docs/model.md).

:class:`Recorder` lives on the model; it snapshots the network at the configured interval (one row
per subnet and time) and keeps the running totals the KPIs need. :func:`compute_kpis` turns a
finished model into a flat dict of numbers:

* mean and CVaR-5 % PnL (USD) per role: miners, validators, nominators (stakers), subnet owners,
  and TAO holders (per TAO held: horizon return; CVaR of daily returns);
* subnet survival (share still emitting, mean survival days) and emission concentration;
* harmful interventions (false positives: executed, unwarranted, emission-cutting or halting)
  and missed ones (false negatives: warranted proposals that never executed, scams never
  stopped, exploits that ran out instead of being stopped);
* time to stop exploits and TAO stolen;
* decentralisation metrics (Nakamoto coefficient, Gini, HHI) from ``protocol.governance.metrics``;
* in runs with a validator cabal, its income against its fair share (:mod:`sim.cabal`).

Both read the model through :class:`RecordedModel` (what they need of it, nothing else); the
KPIs are plain data (numbers and strings), never the model itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from protocol._numba import jit
from protocol.economy.state import EconomyParams, NetworkState
from protocol.governance import metrics as governance_metrics
from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim import chain
from sim.cabal import CabalLedger
from sim.config import SimConfig
from sim.governance_kpis import governance_kpis
from sim.harm import harm_kpis

if TYPE_CHECKING:
    from sim.agents.owners import Owner
    from sim.agents.stakers import Staker
    from sim.desks.governance import GovernanceDesk
    from sim.desks.market import MarketDesk
    from sim.desks.shocks import ShockDesk
    from sim.desks.staking import StakingDesk
    from sim.desks.work import WorkDesk

__all__ = ["RecordedModel", "Recorder", "compute_kpis", "cvar", "gini", "hhi", "nakamoto"]


class RecordedModel(Protocol):
    """What the recorder and the KPIs read of a model."""

    config: SimConfig
    block: int
    epoch: int
    blocks_per_step: int
    state: NetworkState
    params: EconomyParams
    validator_uids: np.ndarray
    staker_accounts: np.ndarray
    owners: list[Owner]
    stakers: list[Staker]
    event_log: list[dict[str, Any]]
    market: MarketDesk
    staking: StakingDesk
    shocks: ShockDesk
    work: WorkDesk
    governance: GovernanceDesk
    recorder: Recorder

    @property
    def seed(self) -> int: ...

    @property
    def day(self) -> float: ...

    @property
    def finished(self) -> bool: ...


def cvar(values: np.ndarray, alpha: float = 0.05) -> float:
    """Conditional value at risk: the mean of the worst ``alpha`` share of ``values``.

    Examples
    --------
    >>> cvar(np.arange(100.0), 0.05)
    2.0
    """
    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0:
        return float("nan")
    k = max(1, math.ceil(alpha * v.size))
    return float(v[:k].mean())


def hhi(shares: np.ndarray) -> float:
    """Herfindahl-Hirschman index of non-negative amounts (normalised to shares).

    One definition for the whole project: :func:`protocol.governance.metrics.hhi`.
    """
    return float(governance_metrics.hhi(np.asarray(shares, dtype=float)))


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative amounts (:func:`protocol.governance.metrics.gini`)."""
    return float(governance_metrics.gini(np.asarray(values, dtype=float)))


def nakamoto(values: np.ndarray, threshold: float = 0.5) -> int:
    """Smallest number of parties whose share exceeds ``threshold``.

    :func:`protocol.governance.metrics.nakamoto_coefficient` on an array.
    """
    return int(governance_metrics.nakamoto_coefficient(np.asarray(values, dtype=float), threshold))


class Recorder:
    """Collects the time series and running totals of one run.

    Parameters
    ----------
    model
        The model being recorded.
    """

    def __init__(self, model: RecordedModel) -> None:
        self.model = model
        cfg = model.config
        every = cfg.output.record_every_blocks
        if every is None:
            every = cfg.network.tempo if cfg.horizon_days < 10 else BLOCKS_PER_DAY
        self.every = max(int(every), 1)
        self._next = 0
        self.rows: list[dict[str, Any]] = []
        S, n = model.state.n_subnets, model.state.n_uids
        self._income_since = np.zeros((S, n))
        self._balance_since = np.zeros(model.state.n_accounts)
        self.cash_out_usd = np.zeros(model.state.n_accounts)
        self.daily_prices: list[float] = [model.market.price_usd]
        self._last_price_day = 0
        self.start_wealth_usd = self.account_wealth_usd()
        self.start_price = model.market.price_usd
        self._yield_income = np.zeros(S)  # nominator-side alpha income, TAO, since last yield read
        self._yield_days = 0.0
        self.yields = np.zeros(S)
        self.end_of_emission = np.full(S, np.nan)
        #: The all-NaN ``end_of_emission`` of steps when every subnet emits.
        self._all_emitting = self.end_of_emission
        self.cabal = CabalLedger.for_model(model)

    # -------------------------------------------------------------- accumulation
    def add_step_income(
        self,
        income_tao: np.ndarray,
        income_alpha: np.ndarray,
        results: Sequence[Any] = (),
        prices: np.ndarray | None = None,
    ) -> None:
        """Add one step's income per uid (TAO at spot, and alpha) and the step's economy
        ``results`` (the epochs the cabal ledger books); ``prices``: the alpha prices now
        ``[S]``, when the caller has them (else read off the state)."""
        self._income_since += income_tao
        m = self.model
        V = len(m.validator_uids)
        self._yield_income += income_alpha[:, 1 : 1 + V].sum(axis=1)
        self._yield_days += m.blocks_per_step / BLOCKS_PER_DAY
        if self.cabal is not None:
            # this step's epochs, at this step's prices, stake and weights
            self.cabal.add(results, prices)

    def add_balance_income(self, delta_rao: np.ndarray) -> None:
        """Add TAO paid to balances during the chain step (root dividends), per account (rao)."""
        self._balance_since[: delta_rao.size] += delta_rao

    def add_cash_out(self, account: int, usd: float) -> None:
        """Record USD an account received for TAO it sold to the outside world."""
        self.cash_out_usd[account] += usd

    def nominator_yields(self, cap: float = 2.0) -> np.ndarray:
        """Annualised alpha yield of validator-side stake per subnet (1/year, capped at ``cap``).

        Measured in alpha (dividends per alpha staked), so a price move does not masquerade as
        yield; price risk enters the stakers' decisions through their hazard beliefs.
        """
        m = self.model
        if self._yield_days > 0:
            V = len(m.validator_uids)
            staked = m.state.hotkey_alpha[:, 1 : 1 + V].sum(1).numpy() / RAO_PER_TAO
            per_day = self._yield_income / self._yield_days
            fresh = np.divide(per_day * 365.0, staked, out=np.zeros_like(per_day), where=staked > 0)
            self.yields = np.minimum(fresh, cap)
            self._yield_income[:] = 0.0
            self._yield_days = 0.0
        return self.yields

    # -------------------------------------------------------------- valuation
    def account_wealth_tao(self) -> np.ndarray:
        """TAO value of every account: free balance + root stake + alpha at spot ``[A]``."""
        st = self.model.state
        alpha = chain.account_alpha(st) / RAO_PER_TAO
        return (
            st.balances.numpy() + st.root_stake.numpy()
        ) / RAO_PER_TAO + alpha @ chain.alpha_prices(st)

    def account_wealth_usd(self) -> np.ndarray:
        """USD value of every account at the current TAO price ``[A]``."""
        return self.account_wealth_tao() * self.model.market.price_usd

    # -------------------------------------------------------------- rows
    def record(self, *, force: bool = False) -> None:
        """Append one row per subnet if the interval has passed (or ``force``)."""
        m = self.model
        day = int(m.block // BLOCKS_PER_DAY)
        if day > self._last_price_day:
            self.daily_prices.append(m.market.price_usd)
            self._last_price_day = day
        shares = chain.emission_shares(m.state, m.params)
        # a subnet that stops emitting records the day (kept until it emits again)
        ended = np.empty(shares.shape[0])
        if _end_of_emission(shares, self.end_of_emission, float(m.day), ended):
            # every subnet emits: NaN everywhere, as ``ended`` (the same all-NaN array while
            # every subnet keeps emitting; nothing writes into it)
            if self.end_of_emission is not self._all_emitting:
                self._all_emitting = np.full(shares.shape, np.nan)
                self.end_of_emission = self._all_emitting
        else:
            self.end_of_emission = ended
        if not force and m.block < self._next and not m.finished:
            return
        emitting = shares > 0
        self._next = m.block + self.every
        st = m.state
        prices = chain.alpha_prices(st)
        V = len(m.validator_uids)
        inc = self._income_since
        stake_alpha = st.hotkey_alpha.sum(1).numpy() / RAO_PER_TAO
        network = {
            "block": m.block,
            "epoch": m.epoch,
            "day": round(m.day, 6),
            "tao_price_usd": m.market.price_usd,
            "governance_premium": m.market.premium,
            "halted": bool(st.halted),
            "staker_belief": float(np.mean([s.belief for s in m.stakers])) if m.stakers else 0.0,
            "emission_hhi": hhi(shares[emitting]) if emitting.any() else float("nan"),
            "gov_events": sum(1 for e in m.event_log if e["kind"] == "executed"),
            "nominator_wealth_tao": float(self.account_wealth_tao()[m.staker_accounts].sum()),
        }
        if m.config.output.per_subnet:
            # Whole-array reads once, as Python numbers (the same values float() and bool()
            # give per element; per-element tensor or array indexing costs ~µs each).
            price_usd = m.market.price_usd
            prices_tao = prices.tolist()
            shares_list = shares.tolist()
            pool_tao = (st.pool_tao.numpy() / RAO_PER_TAO).tolist()
            stake_list = stake_alpha.tolist()
            stake_tao = (stake_alpha * prices).tolist()
            # each row's sum over its own contiguous slice, as one sum per subnet would
            income_miners = inc[:, 1 + V :].sum(axis=1).tolist()
            income_validators = inc[:, 1 : 1 + V].sum(axis=1).tolist()
            income_owner = inc[:, 0].tolist()
            flagged = m.staking.flagged.astype(bool).tolist()
            emission_enabled = st.emission_enabled.numpy().astype(bool).tolist()
            for s in range(st.n_subnets):
                self.rows.append(
                    {
                        **network,
                        "netuid": s,
                        "alpha_price_tao": prices_tao[s],
                        "alpha_price_usd": prices_tao[s] * price_usd,
                        "emission_share": shares_list[s],
                        "pool_tao": pool_tao[s],
                        "stake_alpha": stake_list[s],
                        "stake_tao": stake_tao[s],
                        "income_miners_tao": income_miners[s],
                        "income_validators_tao": income_validators[s],
                        "income_owner_tao": income_owner[s],
                        "utility": float(m.owners[s].utility),
                        "flagged": flagged[s],
                        "emission_enabled": emission_enabled[s],
                    }
                )
        else:
            row = dict(network)
            row.update(
                netuid=-1,
                income_miners_tao=float(inc[:, 1 + V :].sum()),
                income_validators_tao=float(inc[:, 1 : 1 + V].sum()),
                income_owner_tao=float(inc[:, 0].sum()),
            )
            self.rows.append(row)
        self._income_since = np.zeros_like(self._income_since)

    def timeseries(self) -> pd.DataFrame:
        """The recorded rows as a DataFrame (one row per subnet and time)."""
        return pd.DataFrame(self.rows)


@jit
def _end_of_emission(
    shares: np.ndarray, previous: np.ndarray, day: float, out: np.ndarray
) -> bool:  # pragma: no cover - compiled by numba
    """``out`` = NaN where a subnet emits (``shares > 0``), else ``previous`` or, where that
    is NaN (emitting until now), ``day``: the two selects of the recorder in one pass.
    Returns whether every subnet emits."""
    every = True
    for i in range(shares.shape[0]):
        if shares[i] > 0:
            out[i] = np.nan
        else:
            every = False
            before = previous[i]
            out[i] = day if before != before else before
    return every


def _role_accounts(model: RecordedModel) -> dict[str, np.ndarray]:
    names = model.state.account_names
    groups: dict[str, list[int]] = {"miners": [], "validators": [], "nominators": [], "owners": []}
    prefix = {
        "miner": "miners",
        "validator": "validators",
        "staker": "nominators",
        "owner": "owners",
    }
    for i, name in enumerate(names):
        for p, role in prefix.items():
            if name.startswith(p) and name[len(p) :].isdigit():
                groups[role].append(i)
    return {k: np.array(v, dtype=int) for k, v in groups.items()}


def compute_kpis(model: RecordedModel) -> dict[str, Any]:
    """The KPIs of a finished run as a flat, JSON-friendly dict.

    Parameters
    ----------
    model
        A model that has run (to its horizon or not).

    Returns
    -------
    dict
        Keys ``pnl.<role>.mean`` / ``pnl.<role>.cvar_5`` (USD), ``survival.*``, ``fp.*``,
        ``fn.*``, ``exploits.*``, ``decentralisation.*``, ``tao.*``.
    """
    rec = model.recorder
    out: dict[str, Any] = {
        "policy": model.config.governance.policy,
        "seed": model.seed,
        "days": round(model.day, 6),
    }
    end_wealth = rec.account_wealth_usd()
    start = rec.start_wealth_usd
    n0 = start.size
    pnl = end_wealth[:n0] - start + rec.cash_out_usd[:n0]
    roles = _role_accounts(model)
    # Miners' running costs (TAO valued at the average price), charged to their current coldkeys.
    cost_tao = np.zeros(model.state.n_accounts)
    ck = model.state.uid_coldkey.numpy()
    np.add.at(cost_tao, ck[ck >= 0], model.work.uid_cost_tao[ck >= 0])
    mean_price = float(np.mean(rec.daily_prices))
    pnl = pnl - cost_tao[:n0] * mean_price
    for role, idx in roles.items():
        idx = idx[idx < n0]
        values = pnl[idx] if idx.size else np.array([np.nan])
        out[f"pnl.{role}.mean"] = float(np.nanmean(values))
        out[f"pnl.{role}.cvar_5"] = cvar(values[~np.isnan(values)]) if idx.size else float("nan")
        out[f"pnl.{role}.n"] = int(idx.size)
    prices = np.asarray(rec.daily_prices)
    returns = prices[1:] / prices[:-1] - 1.0 if prices.size > 1 else np.array([0.0])
    out["pnl.tao_holders.mean"] = float(model.market.price_usd / rec.start_price - 1.0)
    out["pnl.tao_holders.cvar_5"] = cvar(returns)
    out["tao.price_start_usd"] = rec.start_price
    out["tao.price_end_usd"] = model.market.price_usd
    out["tao.max_drawdown"] = float(1.0 - np.min(prices / np.maximum.accumulate(prices)))
    out["tao.worst_day"] = float(np.min(returns)) if returns.size else 0.0
    out["tao.governance_premium_end"] = model.market.premium

    # Subnet survival and concentration.
    shares = chain.emission_shares(model.state, model.params)
    S = shares.size
    out["survival.share_emitting"] = float((shares > 0).mean())
    days_alive = np.where(np.isnan(rec.end_of_emission), model.day, rec.end_of_emission)
    out["survival.mean_days"] = float(days_alive.mean())
    out["survival.min_days"] = float(days_alive.min())
    out["emission.hhi"] = hhi(shares) if shares.sum() > 0 else float("nan")
    out["emission.nakamoto_50"] = nakamoto(shares, 0.5) if shares.sum() > 0 else 0

    # Interventions.
    executed = [e for e in model.event_log if e["kind"] == "executed" and not e["reversal"]]
    harmful = [
        e
        for e in executed
        if not e["justified"] and (e["emission_share_hit"] > 0 or e["lever"] == "halt_chain")
    ]
    out["fp.count"] = len(harmful)
    out["fp.emission_share_hit"] = float(sum(e["emission_share_hit"] for e in harmful))
    out["interventions.executed"] = len(executed)
    desk = model.governance
    justified_pids = {
        pid for pid, meta in desk.meta.items() if meta.justified and not meta.reversal
    }
    missed_props = sum(
        1
        for pid in justified_pids
        if desk.gs.ref(pid).state.value in ("Rejected", "Expired", "Cancelled", "Killed")
    )
    shocks = model.shocks
    scams_unstopped = 0
    for netuid in shocks.scam_subnets:
        if bool(model.state.emission_enabled[netuid]) and bool(
            model.state.registration_allowed[netuid]
        ):
            scams_unstopped += 1
    exploits_unstopped = sum(1 for ex in shocks.exploits if ex.stopped_by != "halt")
    out["fn.count"] = missed_props + scams_unstopped + exploits_unstopped
    out["fn.missed_proposals"] = missed_props
    out["fn.scams_unstopped"] = scams_unstopped
    out["fn.exploits_unstopped"] = exploits_unstopped

    # Exploits.
    times = [
        ((ex.stopped_block if ex.stopped_block is not None else model.block) - ex.start_block)
        / BLOCKS_PER_DAY
        for ex in shocks.exploits
    ]
    out["exploits.count"] = len(shocks.exploits)
    out["exploits.mean_days_to_stop"] = float(np.mean(times)) if times else float("nan")
    out["exploits.max_days_to_stop"] = float(np.max(times)) if times else float("nan")
    out["exploits.stolen_tao"] = float(sum(ex.stolen_tao for ex in shocks.exploits))

    # Decentralisation of decision power (docs/governance.md, "Metrics") and of stake.
    out.update(_decentralisation(model, shares))
    stake_values = rec.account_wealth_tao()[
        np.concatenate([roles["validators"], roles["nominators"]])
    ]
    out["decentralisation.stake_nc_33"] = nakamoto(stake_values, 1 / 3)
    out["decentralisation.stake_nc_50"] = nakamoto(stake_values, 0.5)
    out["decentralisation.stake_gini"] = gini(stake_values)
    out["decentralisation.stake_hhi"] = hhi(stake_values)
    out["subnets"] = S
    if rec.cabal is not None:
        out.update(rec.cabal.kpis())
    out.update(harm_kpis(model))  # the harm vector and harm.total (sim.harm)
    out.update(governance_kpis(model))  # measured outcomes, reaction, capture cost
    return out


def _decentralisation(model: RecordedModel, shares: np.ndarray) -> dict[str, Any]:
    """The decentralisation metrics of the policy's final state (``decentralisation_report``)."""
    from protocol.governance.metrics import decentralisation_report

    desk = model.governance
    exit_blocks = round(model.config.stakers.cadence_days * BLOCKS_PER_DAY)
    report = decentralisation_report(
        desk.policy,
        desk.gs,
        _probe_lever(),
        exit_blocks=exit_blocks,
        parties=desk.parties(),
        emission=[float(x) for x in shares if x > 0],
    )
    enforced = desk.policy.enforced_delay(_probe_lever())
    nan = float("nan")
    power = report.voting_power
    return {
        "decentralisation.key_control_nc": report.key_control_nc
        if report.key_control_nc is not None
        else nan,
        "decentralisation.min_pass_coalition": report.min_pass.size if report.min_pass else nan,
        "decentralisation.min_block_coalition": report.min_block.size if report.min_block else nan,
        "decentralisation.exit_window_days": (
            report.exit_window / BLOCKS_PER_DAY if report.exit_window is not None else nan
        ),
        "decentralisation.enforced_delay_days": (
            float(enforced) / BLOCKS_PER_DAY if enforced is not None else float("inf")
        ),
        "decentralisation.decision_nc_50": power.nc_half,
        "decentralisation.decision_gini": power.gini,
        "decentralisation.decision_hhi": power.hhi,
    }


def _probe_lever() -> Any:
    from protocol.levers import SetEmissionEnabled

    return SetEmissionEnabled(netuid=0, enabled=False)
