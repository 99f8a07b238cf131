"""The Mesa model of a whole network over time: agents decide, ``protocol/`` applies.

One model step is one tempo by default (``SimConfig.step``). Each step:

1. run the queued events that are due (shocks, detections, reversals, votes);
2. bring governance to the current block and apply every executed lever (``apply_lever``),
   repricing governance risk (market) and updating stakers' beliefs;
3. ``p_*``: miners submit work, validators observe it and set weights (vectorised cohorts);
4. ``s_*``: the economy advances the chain by the step's blocks (coinbase, epochs, payouts);
5. exploits drain, scheduled sales execute;
6. agents with a daily cadence act (stakers rebalance, owners sell or exit, miners move);
7. the TAO market moves; a row is recorded at the configured interval.

Randomness: one seed per run; independent child streams via ``SeedSequence.spawn``; Mesa gets
the seed through ``rng=`` (``sim.engine.make_model_kwargs``). Events live in a heap of
``(block, priority, seq, handler_name, args)`` with handlers looked up by name, so the model
pickles.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import mesa
import numpy as np
import torch

from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState
from protocol.levers import HaltChain, Lever, TokenSale
from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim import engine
from sim.agents.events import EVENT_HANDLERS, draw_random_shocks, shock_to_event
from sim.agents.governors import GovernanceDesk
from sim.agents.miners import (
    MINER_STRATEGIES,
    MinerCohort,
    MinerObservation,
    MinerWork,
    apply_measured_quality,
    evolve_log_skill,
    relocation_choices,
)
from sim.agents.owners import OWNER_STRATEGIES, Owner, OwnerObservation
from sim.agents.stakers import STAKER_STRATEGIES, Staker, StakerObservation
from sim.agents.validators import (
    VALIDATOR_STRATEGIES,
    ValidatorCohort,
    ValidatorObservation,
    normalise_rows,
    observed_quality,
)
from sim.config import SimConfig
from sim.market import MarketState, initial_market, intervention_severity, market_step, premium_jump
from sim.metrics import Recorder

__all__ = ["STREAMS", "GovSimModel", "allocate_counts"]

#: Independent random streams of a run, spawned in this order from the run's SeedSequence.
STREAMS: tuple[str, ...] = (
    "network",
    "assign",
    "skill",
    "observe",
    "stakers",
    "events",
    "market",
    "governance",
    "miners",
)

_STEP_BLOCKS = {"block": 1, "day": BLOCKS_PER_DAY}


def allocate_counts(mix: dict[str, float], total: int) -> dict[str, int]:
    """Split ``total`` slots across a strategy mix by largest remainder (deterministic).

    Examples
    --------
    >>> allocate_counts({"a": 0.5, "b": 0.3, "c": 0.2}, 7)
    {'a': 4, 'b': 2, 'c': 1}
    """
    names = list(mix)
    weights = np.array([mix[n] for n in names], dtype=float)
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    for i in order[: total - int(counts.sum())]:
        counts[i] += 1
    return {n: int(c) for n, c in zip(names, counts, strict=True)}


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


@dataclass
class ProposalMeta:
    """What the model knows about a proposal beyond the policy's referendum."""

    pid: int
    lever: Lever
    intent: str
    justified: bool
    proposed_block: int
    duration_days: float | None = None
    exploit_id: int | None = None
    reversal: bool = False
    targets: tuple[int, ...] = field(default_factory=tuple)


class GovSimModel(mesa.Model):
    """A Bittensor-style network with miners, validators, stakers, owners and governance.

    Parameters
    ----------
    config
        The run's configuration.
    seed
        Root seed; defaults to ``config.seed``.

    Notes
    -----
    The model owns its state's ``[S, n, n]`` weight and bond tensors (and ``last_update``):
    steps update them in place (validators' weight rows, epoch bonds, registrations) instead of
    copying 2 × 67 MB per step at 128 × 256. ``model.state`` is therefore a live view: clone
    those tensors (or the state's fields) to keep a snapshot across steps.
    """

    def __init__(self, config: SimConfig, *, seed: int | None = None) -> None:
        check_strategy_names(config)
        seed = config.seed if seed is None else int(seed)
        super().__init__(**engine.make_model_kwargs(seed))
        self.config = config
        self.seed = seed
        children = np.random.SeedSequence(seed).spawn(len(STREAMS))
        self.rngs: dict[str, np.random.Generator] = {
            name: np.random.default_rng(child)
            for name, child in zip(STREAMS, children, strict=True)
        }
        net = config.network
        self.blocks_per_step = _STEP_BLOCKS.get(config.step, net.tempo)
        self.horizon_blocks = round(config.horizon_days * BLOCKS_PER_DAY)
        self.block = 0
        self.epoch = 0
        self.steps_done = 0
        self._queue: list[tuple[int, int, int, str, dict[str, Any]]] = []
        self._seq = 0
        self.event_log: list[dict[str, Any]] = []
        self.exploits: list[Exploit] = []
        self.sales: list[Sale] = []
        self.scam_subnets: dict[int, int] = {}
        self._tao_sold_this_step = 0.0
        self._next_daily_block = 0

        self._build_economy()
        self._build_miners()
        self._build_validators()
        self._build_owners()
        self._build_stakers()
        self.market: MarketState = initial_market(config.market)
        self.desk = GovernanceDesk(self, self.rngs["governance"])
        self.recorder = Recorder(self)
        self._schedule_shocks()
        self.recorder.record(force=True)

    # ------------------------------------------------------------------ time
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

    # ------------------------------------------------------------------ construction
    def _build_economy(self) -> None:
        from protocol.economy import new_network

        cfg = self.config
        net = cfg.network
        # A dated scenario takes the era and defaults of its date (protocol.economy.history);
        # an explicit coinbase_era and economy_overrides still win.
        dated: dict[str, Any] = {}
        if cfg.date is not None:
            from protocol.economy.history import economy_on

            dated = dict(economy_on(cfg.date).params)
        params = {
            **dated,
            "era": net.coinbase_era or dated.get("era", "head"),
            "tempo": net.tempo,
            "tao_weight": net.tao_weight,
            "immunity_period": net.uid_immunity_blocks,
            "network_immunity_period": round(net.subnet_immunity_days * BLOCKS_PER_DAY),
            "burn_initial": net.registration_burn_tao * RAO_PER_TAO,
            **net.economy_overrides,
        }
        params.setdefault("delegate_take", cfg.validators.take)
        if net.kappa is not None:
            params["epoch_params"] = _epoch_params(
                net.kappa, net.economy_overrides.get("epoch_params")
            )
        try:
            self.params = EconomyParams(**params)
        except TypeError as exc:
            raise ValueError(f"network.economy_overrides: {exc}") from exc
        n_val_accounts = max(4, net.n_validators * 2)
        state = new_network(
            net.n_subnets,
            net.n_uids,
            params=self.params,
            rng=self.rngs["network"],
            n_validators=net.n_validators,
            n_validator_accounts=n_val_accounts,
            # Coldkeys behind miner uids (shared across subnets; each starts with 500 TAO).
            n_miner_accounts=max(
                8, min(512, net.n_subnets * (net.n_uids - net.n_validators - 1) // 4)
            ),
            total_issuance_tao=net.total_issuance_tao,
            root_stake_tao=net.root_stake_tao,
            median_pool_tao=net.pool_tao_per_subnet,
            median_price=net.initial_alpha_price_tao,
            pool_spread=net.pool_tao_spread,
            price_spread=net.alpha_price_spread,
            flow_ema_rao_per_block=net.initial_flow_tao_per_day * RAO_PER_TAO / BLOCKS_PER_DAY,
        )
        if not cfg.owners.owner_cut_enabled:
            # Owners who switch their cut off from the start (sudo_set_owner_cut_enabled).
            state = state.replace(owner_cut_enabled=torch.zeros_like(state.owner_cut_enabled))
        self.state: NetworkState = _add_staker_accounts(state, self.config, self.rngs["assign"])
        S, n = self.state.n_subnets, self.state.n_uids
        V = net.n_validators
        self.validator_uids = np.arange(1, 1 + V)
        self.is_miner = np.zeros((S, n), dtype=bool)
        self.is_miner[:, 1 + V :] = True
        self.staker_accounts = np.array(
            [self.state.account_index(f"staker{j}") for j in range(cfg.stakers.n_stakers)]
        )

    def _build_miners(self) -> None:
        cfg = self.config.miners
        rng = self.rngs["assign"]
        S, n = self.is_miner.shape
        mean_log = math.log(max(cfg.skill_mean, 1e-9)) - 0.5 * cfg.skill_sigma**2
        self.mean_log_skill = np.full((S, n), mean_log)
        self.log_skill = mean_log + cfg.skill_sigma * self.rngs["skill"].standard_normal((S, n))
        self.vacant = np.zeros((S, n), dtype=bool)
        slots = np.argwhere(self.is_miner)
        order = rng.permutation(len(slots))
        counts = allocate_counts(cfg.mix, len(slots))
        self.miner_strategy = np.full((S, n), "", dtype=object)
        start = 0
        self.miner_cohorts: dict[str, MinerCohort] = {}
        for name, count in counts.items():
            mask = np.zeros((S, n), dtype=bool)
            chosen = slots[order[start : start + count]]
            mask[chosen[:, 0], chosen[:, 1]] = True
            start += count
            cls = MINER_STRATEGIES.get(name)
            self.miner_cohorts[name] = cls(self, mask, dict(cfg.strategy_params.get(name, {})))
            self.miner_strategy[mask] = name
        self.uid_income_tao = np.zeros((S, n))
        self.uid_cost_tao = np.zeros((S, n))
        self.recent_income = np.zeros((S, n))  # TAO/day, EMA over ~1 day
        self._build_measured_miners()

    def _build_measured_miners(self) -> None:
        """Per-uid measured quality and detection lag from ``miners.calibration_file``, if set."""
        self.measured_factors: np.ndarray | None = None
        path = self.config.miners.calibration_file
        if path is None:
            return
        from sim.calibration_gt import load_miner_calibration, measured_quality_factors

        calibration = load_miner_calibration(path)
        honest_params = self.config.validators.strategy_params.get("honest", {})
        default_exponent = VALIDATOR_STRATEGIES.get("honest").defaults["weight_exponent"]
        exponent = float(honest_params.get("weight_exponent", default_exponent))
        # A stream of its own (spawned after STREAMS), so the other streams draw as without it.
        child = np.random.SeedSequence(self.seed).spawn(len(STREAMS) + 1)[-1]
        self.measured_factors = measured_quality_factors(
            calibration,
            self.miner_strategy,
            weight_exponent=exponent,
            rng=np.random.default_rng(child),
        )
        # One ground-truth round is one weight-setting round of the model.
        round_blocks = self.config.validators.weights_every_tempos * self.config.network.tempo
        self.measured_lag_blocks = np.zeros(self.miner_strategy.shape)
        for name, measured in calibration.strategies.items():
            lag = measured.detection_rounds * round_blocks
            self.measured_lag_blocks[self.miner_strategy == name] = lag

    def _build_validators(self) -> None:
        cfg = self.config.validators
        rng = self.rngs["assign"]
        S, V = self.config.network.n_subnets, self.config.network.n_validators
        counts = allocate_counts(cfg.mix, S * V)
        order = rng.permutation(S * V)
        self.validator_cohorts: dict[str, ValidatorCohort] = {}
        start = 0
        self.validator_strategy = np.full((S, V), "", dtype=object)
        for name, count in counts.items():
            flat = np.zeros(S * V, dtype=bool)
            flat[order[start : start + count]] = True
            start += count
            mask = flat.reshape(S, V)
            cls = VALIDATOR_STRATEGIES.get(name)
            self.validator_cohorts[name] = cls(self, mask, dict(cfg.strategy_params.get(name, {})))
            self.validator_strategy[mask] = name
        # Cabal miners: on subnets with a cabal validator, some miner uids belong to the cabal.
        n = self.is_miner.shape[1]
        self.cabal_miners = np.zeros((S, n), dtype=bool)
        cabal = self.validator_strategy == "cabal"
        miner_uids = np.nonzero(self.is_miner[0])[0]
        k = min(cfg.cabal_miners, len(miner_uids))
        for s in np.nonzero(cabal.any(axis=1))[0]:
            self.cabal_miners[s, rng.choice(miner_uids, size=k, replace=False)] = True
        if cfg.cabal_stake_share is not None:
            self.state = _set_cabal_stake(
                self.state, self.validator_uids, cabal, cfg.cabal_stake_share
            )
        lag = (1 + self.config.network.reveal_tempos) if self.config.network.commit_reveal else 1
        self.reveal_lag_steps = max(
            1, math.ceil(lag * self.config.network.tempo / self.blocks_per_step)
        )
        self.weight_history: list[np.ndarray] = []
        # Private copies: the steps below edit them in place (see the class notes).
        self.state = self.state.replace(
            weights=self.state.weights.clone(),
            bonds=self.state.bonds.clone(),
            last_update=self.state.last_update.clone(),
        )
        self._next_weights_block = 0
        self._weights_changed = False
        self.weights = np.zeros((S, V, n))

    def _build_owners(self) -> None:
        cfg = self.config.owners
        rng = self.rngs["assign"]
        S = self.config.network.n_subnets
        counts = allocate_counts(cfg.mix, S)
        order = rng.permutation(S)
        utility = cfg.subnet_quality_mean * np.exp(
            cfg.subnet_quality_sigma * rng.standard_normal(S) - 0.5 * cfg.subnet_quality_sigma**2
        )
        types = [""] * S
        start = 0
        for name, count in counts.items():
            for s in order[start : start + count]:
                types[int(s)] = name
            start += count
        for s, name in cfg.assign.items():
            if not 0 <= int(s) < S:
                raise ValueError(f"owners.assign: subnet {s} does not exist (0..{S - 1})")
            types[int(s)] = name
        self.owners: list[Owner] = [
            OWNER_STRATEGIES.get(name)(self, s, float(utility[s])) for s, name in enumerate(types)
        ]
        self.targeted_since_owner_acted = np.zeros(S, dtype=bool)

    def _build_stakers(self) -> None:
        cfg = self.config.stakers
        rng = self.rngs["stakers"]
        counts = allocate_counts(cfg.mix, cfg.n_stakers)
        aversion = cfg.risk_aversion_mean * np.exp(
            cfg.risk_aversion_sigma * rng.standard_normal(cfg.n_stakers)
            - 0.5 * cfg.risk_aversion_sigma**2
        )
        phase = rng.uniform(0.0, cfg.cadence_days, cfg.n_stakers)
        self.stakers: list[Staker] = []
        j = 0
        for name, count in counts.items():
            cls = STAKER_STRATEGIES.get(name)
            for _ in range(count):
                self.stakers.append(
                    cls(self, int(self.staker_accounts[j]), float(aversion[j]), float(phase[j]))
                )
                j += 1
        self.flagged = np.zeros(self.config.network.n_subnets, dtype=bool)

    def _schedule_shocks(self) -> None:
        shocks = list(self.config.shocks)
        shocks += draw_random_shocks(
            self.config.events,
            n_subnets=self.config.network.n_subnets,
            horizon_days=self.config.horizon_days,
            rng=self.rngs["events"],
        )
        for shock in shocks:
            block, name, args = shock_to_event(shock)
            self.schedule(block, name, **args)

    # ------------------------------------------------------------------ governance glue
    def propose(
        self,
        lever: Lever,
        *,
        intent: str,
        justified: bool,
        duration_days: float | None,
        exploit_id: int | None = None,
        reversal: bool = False,
    ) -> int | None:
        """An authority with ``intent`` submits ``lever``; returns the referendum id (or None)."""
        return self.desk.propose(
            lever,
            intent=intent,
            justified=justified,
            duration_days=duration_days,
            exploit_id=exploit_id,
            reversal=reversal,
        )

    def apply_executed(self, lever: Lever, meta: ProposalMeta | None, executed_block: int) -> None:
        """Apply an executed lever to the economy and let the market and agents react."""
        from protocol.economy import apply_lever

        shares = self.emission_shares()
        self.state, result = apply_lever(self.state, lever, self.params)
        self.params = result.params
        justified = bool(meta.justified) if meta else False
        delay = executed_block - meta.proposed_block if meta else 0
        reversal = bool(meta.reversal) if meta else False
        targets = _lever_targets(lever)
        severity = 0.0
        if not reversal:
            severity = intervention_severity(
                lever,
                emission_shares=shares,
                justified=justified,
                delay_blocks=delay,
                cfg=self.config.market,
                duration_days=meta.duration_days if meta else None,
            )
        if severity > 0:
            self.market = premium_jump(self.market, severity, self.config.market)
            for staker in self.stakers:
                staker.observe_intervention(severity)
        for s in targets:
            if 0 <= s < len(self.owners) and not reversal and severity > 0:
                self.targeted_since_owner_acted[s] = True
        if isinstance(lever, TokenSale) and result.tao_raised > 0:
            self._tao_sold_this_step += result.tao_raised / RAO_PER_TAO
        if isinstance(lever, HaltChain):
            for ex in self.exploits:
                if ex.stopped_block is None:
                    ex.stopped_block = executed_block
                    ex.stopped_by = "halt"
        hit_share = float(sum(shares[s] for s in targets if 0 <= s < len(shares)))
        self.log_event(
            "executed",
            lever=lever.kind,
            lever_detail=lever.to_dict(),
            intent=meta.intent if meta else "",
            justified=justified,
            reversal=reversal,
            targets=list(targets),
            emission_share_hit=hit_share,
            severity=severity,
            proposed_block=meta.proposed_block if meta else executed_block,
            executed_block=executed_block,
            applied=result.applied,
            detail=result.detail,
        )
        if meta and meta.duration_days and not reversal:
            from protocol.governance import inverse_lever

            inverse = inverse_lever(lever)
            if inverse is not None:
                when = executed_block + round(meta.duration_days * BLOCKS_PER_DAY)
                self.schedule(
                    max(when, self.block), "reverse", lever=inverse.to_dict(), intent=meta.intent
                )

    # ------------------------------------------------------------------ exogenous mechanics
    def start_exploit(
        self, damage_tao_per_block: float, max_damage_tao: float, sold_fraction: float
    ) -> int:
        """Start a theft now; returns its id."""
        eid = len(self.exploits)
        self.exploits.append(
            Exploit(eid, self.block, damage_tao_per_block, max_damage_tao, sold_fraction)
        )
        self.log_event("exploit_start", exploit_id=eid, damage_tao_per_block=damage_tao_per_block)
        return eid

    def exploit_active(self, eid: int) -> bool:
        """Whether exploit ``eid`` is still draining."""
        ex = self.exploits[eid]
        return ex.stopped_block is None and ex.stolen_tao < ex.max_damage_tao

    def add_sale(
        self, amount_tao: float, *, netuid: int | None, over_days: float, seller: str
    ) -> None:
        """Schedule a sale of ``amount_tao`` spread evenly over ``over_days``."""
        end = self.block + max(1, round(over_days * BLOCKS_PER_DAY))
        self.sales.append(Sale(amount_tao, netuid, self.block, end, seller))

    def mark_scam(self, netuid: int) -> None:
        """Subnet ``netuid`` turns scam: its utility collapses and its owner extracts."""
        owner = self.owners[netuid]
        owner.utility *= 0.05
        self.scam_subnets[netuid] = self.block
        self.log_event("scam_subnet", netuid=netuid)

    # ------------------------------------------------------------------ observations
    def emission_shares(self) -> np.ndarray:
        """TAO emission share per subnet now ``[S]``."""
        from protocol.economy.coinbase import subnet_shares

        return subnet_shares(self.state, self.params, self.state.block + 1).numpy().astype(float)

    def alpha_prices(self) -> np.ndarray:
        """Spot alpha price per subnet (TAO per alpha) ``[S]``."""
        return self.state.spot_price.numpy().astype(float)

    def uid_owned_alpha(self) -> np.ndarray:
        """Alpha each uid's own coldkey holds on it (rao) ``[S, n]``."""
        st = self.state
        value = torch.where(
            st.total_shares > 0, st.hotkey_alpha / st.total_shares.clamp(min=1e-300), 0.0
        )
        return (st.owner_shares * value).numpy()

    def account_alpha(self) -> np.ndarray:
        """Alpha per account and subnet (rao) ``[A, S]`` (own uids plus nominations)."""
        st = self.state
        value = torch.where(
            st.total_shares > 0, st.hotkey_alpha / st.total_shares.clamp(min=1e-300), 0.0
        )
        owned = torch.zeros(st.n_accounts, st.n_subnets, dtype=torch.float64)
        ck = st.uid_coldkey.clamp(min=0)
        own = torch.where(st.uid_coldkey >= 0, st.owner_shares * value, 0.0)
        owned.index_put_(
            (ck.flatten(), torch.arange(st.n_subnets).repeat_interleave(st.n_uids)),
            own.flatten(),
            accumulate=True,
        )
        uid = st.nom_uid.clamp(min=0)
        per_share = value.T.gather(0, uid)  # [A, S]
        nominated = torch.where(st.nom_uid >= 0, st.nom_shares * per_share, 0.0)
        out = owned + nominated
        out[MARKET_ACCOUNT] += st.market_alpha
        return out.numpy()

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """Advance the model by one step (one tempo by default)."""
        if self.finished:
            self.running = False
            return
        n_blocks = min(self.blocks_per_step, self.horizon_blocks - self.block)
        self._tao_sold_this_step = 0.0
        self._run_due_events()
        self.desk.advance()
        self.p_miners_and_validators(n_blocks)
        self.s_economy(n_blocks)
        self.s_exploits_and_sales(n_blocks)
        self.block += n_blocks
        self.epoch = self.block // self.config.network.tempo
        self.steps_done += 1
        if self.block >= self._next_daily_block:
            self.p_daily_agents()
            self.desk.refresh_electorate()
            self._next_daily_block += BLOCKS_PER_DAY
        self.s_market(n_blocks / BLOCKS_PER_DAY)
        self.recorder.record()
        if self.finished:
            self.running = False

    def p_miners_and_validators(self, n_blocks: int) -> None:
        """Miners work, validators observe and set weights (decide only)."""
        mcfg = self.config.miners
        dt = n_blocks / BLOCKS_PER_DAY
        self.log_skill = evolve_log_skill(
            self.log_skill,
            self.mean_log_skill,
            dt_days=dt,
            volatility_per_day=mcfg.skill_volatility_per_day,
            reversion_per_day=mcfg.skill_mean_reversion_per_day,
            rng=self.rngs["skill"],
        )
        skill = np.where(self.vacant | ~self.is_miner, 0.0, np.exp(self.log_skill))
        obs = MinerObservation(
            skill=skill,
            is_miner=self.is_miner & ~self.vacant,
            income_tao_per_day=self.recent_income,
            subnet_income_per_miner=self._subnet_income_per_miner(),
        )
        work = MinerWork.empty(skill.shape)
        for cohort in self.miner_cohorts.values():
            cohort.act(obs, work, self.rngs["miners"])
        if self.measured_factors is not None:
            apply_measured_quality(
                work, skill, self.measured_factors, self.measured_lag_blocks, self.block
            )
        work.apparent[self.vacant] = 0.0
        work.contribution[self.vacant] = 0.0
        work.cost_per_day[self.vacant] = 0.0
        self.work = work
        self.uid_cost_tao += work.cost_per_day * dt
        if self.block < self._next_weights_block and self.weight_history:
            # Validators set weights at their own cadence; the chain keeps the last ones.
            self._weights_changed = False
            self.weight_history.append(self.weights)
            if len(self.weight_history) > self.reveal_lag_steps + 1:
                self.weight_history.pop(0)
            return
        tempo = self.config.network.tempo
        self._next_weights_block = self.block + self.config.validators.weights_every_tempos * tempo
        self._weights_changed = True
        observed = observed_quality(
            work.apparent,
            work.duplicate,
            obs.is_miner,
            n_validators=self.config.network.n_validators,
            noise=self.config.validators.observation_noise,
            detection=mcfg.copier_detection,
            rng=self.rngs["observe"],
        )
        revealed = self._revealed_consensus()
        vobs = ValidatorObservation(observed, revealed, self.cabal_miners)
        weights = np.zeros_like(observed)
        for cohort in self.validator_cohorts.values():
            cohort.act(vobs, weights)
        self.weights = weights
        self.weight_history.append(weights)
        if len(self.weight_history) > self.reveal_lag_steps + 1:
            self.weight_history.pop(0)

    def _revealed_consensus(self) -> np.ndarray:
        """Stake-weighted mean of the weights the chain has revealed, ``[S, n]``."""
        S, _, n = self.weights.shape
        if len(self.weight_history) < self.reveal_lag_steps:
            return np.zeros((S, n))
        past = self.weight_history[-self.reveal_lag_steps]
        stake = self.state.hotkey_alpha[:, self.validator_uids].numpy()
        setters = past.sum(axis=2) > 0
        w = np.where(setters, stake, 0.0)
        mean = np.einsum("sv,svn->sn", w, past)
        return normalise_rows(mean)

    def s_economy(self, n_blocks: int) -> None:
        """Apply: set the validators' weights and run the chain for ``n_blocks`` blocks."""
        from protocol.economy import with_validator_weights

        if self._weights_changed:
            # Only the validators' rows: the model owns the tensors, so no [S, n, n] copy.
            self.state = with_validator_weights(
                self.state, torch.from_numpy(self.weights), self.validator_uids, in_place=True
            )
        before_alpha = self.uid_owned_alpha()
        before_balance = self.state.balances.numpy().copy()
        self.state, results = _advance_chain(self.state, self.params, n_blocks)
        self.last_results = results
        gained = np.maximum(self.uid_owned_alpha() - before_alpha, 0.0) / RAO_PER_TAO
        prices = self.alpha_prices()
        income = gained * prices[:, None]  # TAO
        self.uid_income_tao += income
        dt = n_blocks / BLOCKS_PER_DAY
        decay = 0.5 ** (dt / 1.0)
        self.recent_income = decay * self.recent_income + (1 - decay) * income / max(dt, 1e-12)
        self.recorder.add_balance_income(self.state.balances.numpy() - before_balance)
        self.recorder.add_step_income(income, gained)

    def s_exploits_and_sales(self, n_blocks: int) -> None:
        """Exploits drain victims' TAO to the market; scheduled sales execute."""
        end = self.block + n_blocks
        for ex in self.exploits:
            if ex.stopped_block is not None or ex.stolen_tao >= ex.max_damage_tao:
                continue
            running = n_blocks if not self.state.halted else 0
            amount = min(ex.damage_tao_per_block * running, ex.max_damage_tao - ex.stolen_tao)
            if amount <= 0:
                continue
            taken = self._steal(amount)
            ex.stolen_tao += taken
            self._tao_sold_this_step += ex.sold_fraction * taken
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
                self._tao_sold_this_step += amount
                sale.sold_tao += amount
            elif not self.state.halted:
                from protocol.economy import apply_lever

                self.state, result = apply_lever(
                    self.state, TokenSale(amount_tao=amount, netuid=sale.netuid), self.params
                )
                sale.sold_tao += amount
                self._tao_sold_this_step += result.tao_raised / RAO_PER_TAO

    def _steal(self, amount_tao: float) -> float:
        """Move up to ``amount_tao`` from wallets' free balances to the market account.

        Every account but the market's is a potential victim (the 2024 theft drained users'
        coldkeys), in proportion to its free TAO.
        """
        balances = self.state.balances.clone()
        victims = torch.arange(1, self.state.n_accounts)
        held = balances[victims]
        total = float(held.sum())
        amount = min(amount_tao * RAO_PER_TAO, total)
        if amount <= 0:
            return 0.0
        take = held * (amount / total)
        balances[victims] -= take
        balances[MARKET_ACCOUNT] += float(take.sum())
        self.state = self.state.replace(balances=balances)
        return amount / RAO_PER_TAO

    def p_daily_agents(self) -> None:
        """Agents with a daily cadence decide; their trades are applied through the economy."""
        self._update_flags()
        if not self.state.halted:
            self._owners_act()
            self._stakers_act()
            self._miners_relocate()
        for staker in self.stakers:
            staker.decay(1.0)

    def _update_flags(self) -> None:
        flagged = np.zeros(self.config.network.n_subnets, dtype=bool)
        for meta in self.desk.open_proposals():
            # A public, pending move against a subnet's emission is a hazard stakers can see.
            if not meta.reversal and meta.lever.targets_emission:
                for s in meta.targets:
                    flagged[s] = True
        st = self.state
        off = ~(
            st.emission_enabled & st.registration_allowed & st.subtoken_enabled & st.active
        ).numpy()
        self.flagged = flagged | off

    def _owners_act(self) -> None:
        from protocol.economy import unstake

        owned = self.uid_owned_alpha()
        for owner in self.owners:
            s = owner.netuid
            uid = int(self.state.owner_uid[s])
            held = float(owned[s, uid])
            action = owner.act(
                OwnerObservation(bool(self.targeted_since_owner_acted[s]), held / RAO_PER_TAO)
            )
            self.targeted_since_owner_acted[s] = False
            if action.exit:
                self.log_event("owner_exit", netuid=s, owner_type=owner.name)
                ocfg = self.config.owners
                if ocfg.exit_treasury_tao > 0:
                    # The team's off-chain treasury goes to market over the exit schedule.
                    self.add_sale(
                        ocfg.exit_treasury_tao,
                        netuid=None,
                        over_days=ocfg.exit_sell_days,
                        seller=f"team{s}",
                    )
            amount = min(action.sell_alpha * RAO_PER_TAO, held)
            account = int(self.state.owner_account[s])
            if amount > RAO_PER_TAO * 1e-3 and bool(self.state.subtoken_enabled[s]):
                before = float(self.state.balances[account])
                self.state = unstake(self.state, account, s, uid, amount, params=self.params)
                got = float(self.state.balances[account]) - before
                self._sell_tao(
                    account,
                    got * self.config.owners.extractive_sell_fraction
                    if owner.name == "extractive" or owner.exited
                    else 0.0,
                )

    def _sell_tao(self, account: int, amount_rao: float) -> None:
        """``account`` sells TAO to the outside world (moves to the market account)."""
        if amount_rao <= 0:
            return
        balances = self.state.balances.clone()
        amount_rao = min(amount_rao, float(balances[account]))
        balances[account] -= amount_rao
        balances[MARKET_ACCOUNT] += amount_rao
        self.state = self.state.replace(balances=balances)
        self._tao_sold_this_step += amount_rao / RAO_PER_TAO
        self.recorder.add_cash_out(account, amount_rao / RAO_PER_TAO * self.market.price_usd)

    def _stakers_act(self) -> None:
        from protocol.economy import stake, unstake

        cfg = self.config.stakers
        prices = self.alpha_prices()
        alpha = self.account_alpha()
        yields = self.recorder.nominator_yields()
        utility = np.array([o.utility for o in self.owners]) * self._subnet_work_factor()
        st = self.state
        tradable = (st.active & st.subtoken_enabled).numpy() & (prices > 0)
        min_trade = cfg.min_trade_tao
        # Limit orders at the price each staker decided on (the round's observed prices):
        # without them every staker acts on the same day-old yields at once and the round
        # moves a thin pool many times over, a two-day price oscillation (docs/economy.md).
        tolerance = cfg.limit_tolerance
        for staker in self.stakers:
            if self.day + 1e-9 < staker.next_action_day:
                continue
            staker.next_action_day += cfg.cadence_days
            a = staker.account
            holdings = alpha[a] / RAO_PER_TAO * prices
            obs = StakerObservation(
                yields=yields,
                utility=utility,
                flagged=self.flagged,
                tradable=tradable,
                holdings_tao=holdings,
                liquid_tao=float(self.state.balances[a]) / RAO_PER_TAO,
            )
            delta, sell = staker.act(obs)
            wealth = obs.liquid_tao + float(holdings.sum())
            threshold = max(min_trade, cfg.min_trade_fraction * wealth)
            delta = _limit_trades(delta, self.flagged, cfg.max_trades_per_rebalance, threshold)
            # Sales first (free TAO), then purchases.
            for s in np.nonzero(delta < 0)[0]:
                uid = int(self.state.nom_uid[a, s])
                if uid < 0 or prices[s] <= 0:
                    continue
                amount = min(-delta[s] / prices[s], alpha[a, s] / RAO_PER_TAO) * RAO_PER_TAO
                if tolerance is not None and not self.flagged[s]:
                    amount = min(
                        amount, self._limit_room(int(s), prices[s] * (1 - tolerance), buy=False)
                    )
                if amount > 0:
                    self.state = unstake(self.state, a, int(s), uid, amount, params=self.params)
            if sell > 0:
                self._sell_tao(a, sell * RAO_PER_TAO)
            for s in np.nonzero(delta > 0)[0]:
                budget = float(self.state.balances[a])
                amount = min(delta[s] * RAO_PER_TAO, budget, 0.5 * float(self.state.pool_tao[s]))
                if tolerance is not None:
                    amount = min(
                        amount, self._limit_room(int(s), prices[s] * (1 + tolerance), buy=True)
                    )
                if amount <= min_trade * RAO_PER_TAO:
                    continue
                uid = int(self.state.nom_uid[a, s])
                if uid < 0:
                    uid = self._pick_validator(int(s))
                self.state = stake(self.state, a, int(s), uid, amount, params=self.params)

    def _limit_room(self, netuid: int, limit_price: float, *, buy: bool) -> float:
        """Rao a limit order on ``netuid`` can fill: TAO to buy up to ``limit_price`` (``buy``),
        or alpha to sell down to it; 0 once the price is past the limit."""
        from protocol.economy.amm import max_alpha_in_at_price, max_tao_in_at_price

        st = self.state
        pool = (st.pool_tao[netuid], st.pool_alpha[netuid], st.pool_weight_alpha[netuid])
        limit = torch.tensor(float(limit_price), dtype=torch.float64)
        room = max_tao_in_at_price if buy else max_alpha_in_at_price
        return float(room(*pool, limit))

    def _pick_validator(self, netuid: int) -> int:
        """A nominator's choice of hotkey on a subnet: the validator with the most stake."""
        stake = self.state.hotkey_alpha[netuid, self.validator_uids].numpy()
        return int(self.validator_uids[int(np.argmax(stake))])

    def _miners_relocate(self) -> None:
        """Under-earning miners decide to move; the move happens after ``relocation_lag_days``."""
        cfg = self.config.miners
        moves = relocation_choices(
            self.recent_income,
            self._subnet_income_per_miner(),
            self.is_miner & ~self.vacant & ~self.cabal_miners,
            threshold=cfg.relocation_threshold,
            probability=cfg.relocation_probability * min(1.0, 1.0 / cfg.cadence_days),
            rng=self.rngs["miners"],
        )
        lag = round(cfg.relocation_lag_days * BLOCKS_PER_DAY)
        for src, uid, dst in moves[: cfg.max_moves_per_day]:
            if lag > 0:
                self.schedule(self.block + lag, "miner_move", src=src, uid=uid, dst=dst)
            else:
                self.move_miner(src, uid, dst)

    def move_miner(self, src: int, uid: int, dst: int) -> None:
        """Re-register miner ``uid`` of subnet ``src`` on ``dst`` (burn paid, lowest uid pruned)."""
        from protocol.economy import register_uid

        if self.vacant[src, uid] or self.state.halted:
            return
        account = int(self.state.uid_coldkey[src, uid])
        if account < 0 or not bool(self.state.registration_allowed[dst]):
            return
        if float(self.state.balances[account]) < float(self.state.reg_burn[dst]):
            return
        try:
            self.state, reg = register_uid(
                self.state, self.params, account, dst, matrices_owned=True
            )
        except ValueError:
            return  # nothing prunable: the move fails this time
        new = reg.uid
        if not self.is_miner[dst, new]:
            return
        self.log_skill[dst, new] = self.log_skill[src, uid]
        self.vacant[dst, new] = False
        self.vacant[src, uid] = True
        self._move_strategy(src, uid, dst, new)
        self.recent_income[dst, new] = 0.0
        self.log_event("miner_move", src=src, uid=uid, dst=dst, new_uid=new)

    def _move_strategy(self, src: int, uid: int, dst: int, new: int) -> None:
        name = self.miner_strategy[src, uid]
        old = self.miner_strategy[dst, new]
        if old:
            self.miner_cohorts[old].mask[dst, new] = False
        self.miner_cohorts[name].mask[dst, new] = True
        self.miner_strategy[dst, new] = name
        if self.measured_factors is not None:  # the measured behaviour travels with the miner
            self.measured_factors[dst, new] = self.measured_factors[src, uid]
            self.measured_lag_blocks[dst, new] = self.measured_lag_blocks[src, uid]

    def _subnet_income_per_miner(self) -> np.ndarray:
        active = self.is_miner & ~self.vacant
        total = np.where(active, self.recent_income, 0.0).sum(axis=1)
        return total / np.maximum(active.sum(axis=1), 1)

    def _subnet_work_factor(self) -> np.ndarray:
        """Mean real work of a subnet's miners relative to the configured mean skill ``[S]``."""
        work = getattr(self, "work", None)
        if work is None:
            return np.ones(self.is_miner.shape[0])
        active = self.is_miner & ~self.vacant
        mean = np.where(active, work.contribution, 0.0).sum(axis=1) / np.maximum(
            active.sum(axis=1), 1
        )
        return np.maximum(mean / max(self.config.miners.skill_mean, 1e-9), 1e-3)

    def s_market(self, dt_days: float) -> None:
        """Move the TAO price with this step's net sales and exogenous news."""
        shock = float(self.rngs["market"].standard_normal())
        self.market = market_step(
            self.market,
            self.config.market,
            dt_days=dt_days,
            net_tao_sold=self._tao_sold_this_step,
            shock=shock,
        )

    # ------------------------------------------------------------------ running
    def run(self) -> None:
        """Step until the horizon."""
        while not self.finished:
            self.step()


def _limit_trades(delta: np.ndarray, urgent: np.ndarray, k: int, min_trade: float) -> np.ndarray:
    """Keep the ``k`` largest trades (plus every sale from an ``urgent`` subnet); zero the rest."""
    size = np.abs(delta)
    keep = np.zeros(delta.shape, dtype=bool)
    keep[np.argsort(-size, kind="stable")[:k]] = True
    keep &= size > min_trade
    keep |= urgent & (delta < 0)  # leaving a threatened subnet is never too small to do
    return np.where(keep, delta, 0.0)


def _lever_targets(lever: Lever) -> tuple[int, ...]:
    netuid = getattr(lever, "netuid", None)
    if netuid is not None:
        return (int(netuid),)
    effects = getattr(lever, "effects", ())
    out: list[int] = []
    for effect in effects:
        out.extend(_lever_targets(effect))
    return tuple(out)


def _epoch_params(kappa: float, base: Any) -> Any:
    """The epoch parameters with the configured kappa."""
    from dataclasses import replace

    from protocol.yuma import EpochParams

    params = base if base is not None else EpochParams()
    return replace(params, kappa=kappa)


def check_strategy_names(config: SimConfig) -> None:
    """Refuse a strategy name in a ``mix`` or ``strategy_params`` that no registry knows.

    A misspelt ``strategy_params`` key would otherwise be ignored silently (the run would use
    the defaults), and a misspelt ``mix`` key fails deep in the model without naming its field.

    Raises
    ------
    ValueError
        Naming the field (``validators.strategy_params.honset``) and the known strategies.
    """
    from protocol.registry import RegistryError

    sections = (
        ("miners", config.miners, MINER_STRATEGIES),
        ("validators", config.validators, VALIDATOR_STRATEGIES),
        ("stakers", config.stakers, STAKER_STRATEGIES),
        ("owners", config.owners, OWNER_STRATEGIES),
    )
    for section, cfg, registry in sections:
        for field_name in ("mix", "strategy_params"):
            for name in getattr(cfg, field_name, None) or {}:
                try:
                    registry.get(name)
                except RegistryError as exc:
                    raise ValueError(f"{section}.{field_name}.{name}: {exc}") from None


def _set_cabal_stake(
    state: NetworkState, validator_uids: np.ndarray, cabal: np.ndarray, share: float
) -> NetworkState:
    """Move alpha between validator hotkeys so the cabal holds ``share`` of validator stake.

    Scenario setup for stake-concentration experiments: per subnet with a cabal, the validators'
    total alpha is kept and re-split; shares scale with the alpha, so every holder keeps its
    fraction of its hotkey and the ledger is unchanged.
    """
    hotkey = state.hotkey_alpha.clone()
    owner = state.owner_shares.clone()
    total = state.total_shares.clone()
    nom = state.nom_shares.clone()
    uids = torch.as_tensor(validator_uids)
    for s in np.nonzero(cabal.any(axis=1))[0]:
        alpha = hotkey[s, uids]
        whole = float(alpha.sum())
        in_cabal = torch.as_tensor(cabal[s])
        c, o = float(alpha[in_cabal].sum()), float(alpha[~in_cabal].sum())
        if c <= 0 or o <= 0:
            continue
        scale = torch.where(in_cabal, share * whole / c, (1 - share) * whole / o)
        for v, uid in enumerate(validator_uids):
            f = float(scale[v])
            hotkey[s, uid] *= f
            owner[s, uid] *= f
            total[s, uid] *= f
            holders = state.nom_uid[:, s] == int(uid)
            nom[holders, s] *= f
    return state.replace(
        hotkey_alpha=hotkey, owner_shares=owner, total_shares=total, nom_shares=nom
    )


def _add_staker_accounts(
    state: NetworkState, config: SimConfig, rng: np.random.Generator
) -> NetworkState:
    """Give the stakers accounts, liquid TAO and delegations carved from validators' stake.

    Stakers own ``1 − self_stake_fraction`` of the validators' initial stake as nominators
    (re-labelled shares: no TAO or alpha moves) and ``total_stake_tao · (1 − staked_fraction)``
    of free TAO taken from the market account's balance, so the ledger is unchanged.
    """
    scfg = config.stakers
    vcfg = config.validators
    n_st = scfg.n_stakers
    S = state.n_subnets
    V = config.network.n_validators
    wealth = rng.pareto(scfg.wealth_pareto_shape, n_st) + 1.0
    wealth = wealth / wealth.sum()
    liquid = torch.as_tensor(
        wealth * scfg.total_stake_tao * (1 - scfg.staked_fraction) * RAO_PER_TAO
    )
    if float(liquid.sum()) > float(state.balances[MARKET_ACCOUNT]):
        raise ValueError(
            "stakers.total_stake_tao: more free TAO than the network has outside pools and stake"
        )
    balances = torch.cat([state.balances, liquid])
    balances[MARKET_ACCOUNT] -= float(liquid.sum())
    # Each staker delegates, on every subnet, to one validator drawn in proportion to stake.
    val_uids = np.arange(1, 1 + V)
    stake = state.hotkey_alpha[:, val_uids].numpy()
    probs = stake / np.maximum(stake.sum(axis=1, keepdims=True), 1e-300)
    cum = np.cumsum(probs, axis=1)
    draws = rng.random((n_st, S))
    choice = np.minimum((draws[:, :, None] > cum[None, :, :]).sum(axis=2), V - 1)  # [n_st, S]
    chosen_uid = val_uids[choice]
    nom_uid = torch.cat([state.nom_uid, torch.as_tensor(chosen_uid, dtype=torch.int64)])
    owner_shares = state.owner_shares.clone()
    nom_shares_new = np.zeros((n_st, S))
    delegated = 1.0 - vcfg.self_stake_fraction
    for s in range(S):
        for v in np.unique(choice[:, s]):
            uid = int(val_uids[v])
            holders = np.nonzero(choice[:, s] == v)[0]
            pool = float(owner_shares[s, uid]) * delegated
            nom_shares_new[holders, s] = pool * wealth[holders] / wealth[holders].sum()
            owner_shares[s, uid] -= pool
    nom_shares = torch.cat([state.nom_shares, torch.as_tensor(nom_shares_new)])
    root_stake = torch.cat([state.root_stake, torch.zeros(n_st, dtype=torch.float64)])
    names = state.account_names + tuple(f"staker{j}" for j in range(n_st))
    return state.replace(
        balances=balances,
        nom_uid=nom_uid,
        nom_shares=nom_shares,
        owner_shares=owner_shares,
        root_stake=root_stake,
        account_names=names,
    )


def _advance_chain(
    state: NetworkState, params: EconomyParams, n_blocks: int
) -> tuple[NetworkState, list[Any]]:
    """Run the chain for ``n_blocks`` blocks: whole tempos at once, the rest block by block.

    Returns the new state and the economy's step results in order. The state's bonds must be
    the model's own (see :class:`GovSimModel`): the epochs write their bond rows in place.
    """
    from protocol.economy import block_step, tempo_step

    results: list[Any] = []
    left = n_blocks
    while left >= params.tempo:
        state, result = tempo_step(state, params, bonds_owned=True)
        results.append(result)
        left -= params.tempo
    for _ in range(left):
        state, result = block_step(state, params, bonds_owned=True)
        results.append(result)
    return state, results
