"""Building a run: the network and the five agent families, from a config and the run's streams.

:class:`sim.model.GovSimModel` calls these in a fixed order, because the ``assign`` stream is
shared: the network (with the stakers' accounts), the miners, the validators (and the cabal's
stake), the owners, the stakers, the governance seats. Each function draws only from the
streams it is given, so the same config and seed always build the same network.

Strategy classes come from the agent families' registries (``MINER_STRATEGIES``,
``VALIDATOR_STRATEGIES``, ``OWNER_STRATEGIES``, ``STAKER_STRATEGIES``); a mix is split across
strategies by largest remainder (:func:`allocate_counts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import mesa
import numpy as np
import torch

from protocol.economy import new_network
from protocol.economy.state import MARKET_ACCOUNT, EconomyParams, NetworkState
from protocol.governance import GovernancePolicy, make_policy
from protocol.registry import Registry, RegistryError
from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim.agents.events import draw_random_shocks, shock_to_event
from sim.agents.governors import Governor, seat_roster
from sim.agents.miners import MINER_STRATEGIES
from sim.agents.owners import OWNER_STRATEGIES, Owner
from sim.agents.stakers import STAKER_STRATEGIES, Staker
from sim.agents.validators import VALIDATOR_STRATEGIES
from sim.config import GovernanceConfig, SimConfig
from sim.desks.work import MinerGrid, ValidatorGrid
from sim.seeds import RunStreams

__all__ = [
    "Network",
    "allocate_counts",
    "check_strategy_names",
    "governance_policy",
    "governors",
    "miner_grid",
    "network",
    "owners",
    "shock_events",
    "stakers",
    "validator_grid",
]


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


def check_strategy_names(config: SimConfig) -> None:
    """Refuse a strategy name in a ``mix`` or ``strategy_params`` that no registry knows.

    A misspelt ``strategy_params`` key would otherwise be ignored silently (the run would use
    the defaults), and a misspelt ``mix`` key fails deep in the model without naming its field.

    Raises
    ------
    ValueError
        Naming the field (``validators.strategy_params.honset``) and the known strategies.
    """
    sections: tuple[tuple[str, Any, Registry[Any]], ...] = (
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


# ---------------------------------------------------------------------------------- the network
@dataclass(frozen=True)
class Network:
    """The chain at the start of a run and who holds which uids and accounts.

    Attributes
    ----------
    params
        The economy's parameters.
    state
        The network state; its weight, bond and ``last_update`` tensors are private copies the
        model may update in place.
    validator_uids
        The validators' uids on every subnet ``[V]`` (1..V; uid 0 is the owner's).
    is_miner
        ``[S, U]`` True for miner uids.
    staker_accounts
        Account index of each staker ``[n_stakers]``.
    """

    params: EconomyParams
    state: NetworkState
    validator_uids: np.ndarray
    is_miner: np.ndarray
    staker_accounts: np.ndarray


def network(config: SimConfig, streams: RunStreams) -> Network:
    """The initial economy (``protocol.economy.new_network``) with the stakers' accounts added.

    Draws from the ``network`` stream (pools, prices, stake) and the ``assign`` stream (the
    stakers' wealth and delegations).

    Raises
    ------
    ValueError
        Naming ``network.economy_overrides`` when an override is not an economy parameter, or
        ``stakers.total_stake_tao`` when the stakers would need more TAO than exists.
    """
    net = config.network
    # A dated scenario takes the era and defaults of its date (protocol.economy.history);
    # an explicit coinbase_era and economy_overrides still win.
    dated: dict[str, Any] = {}
    if config.date is not None:
        from protocol.economy.history import economy_on

        dated = dict(economy_on(config.date).params)
    values: dict[str, Any] = {
        **dated,
        "era": net.coinbase_era or dated.get("era", "head"),
        "tempo": net.tempo,
        "tao_weight": net.tao_weight,
        "immunity_period": net.uid_immunity_blocks,
        "network_immunity_period": round(net.subnet_immunity_days * BLOCKS_PER_DAY),
        "burn_initial": net.registration_burn_tao * RAO_PER_TAO,
        **net.economy_overrides,
    }
    values.setdefault("delegate_take", config.validators.take)
    if net.kappa is not None:
        values["epoch_params"] = _epoch_params(net.kappa, net.economy_overrides.get("epoch_params"))
    try:
        params = EconomyParams(**values)
    except TypeError as exc:
        raise ValueError(f"network.economy_overrides: {exc}") from exc
    state = new_network(
        net.n_subnets,
        net.n_uids,
        params=params,
        rng=streams.network,
        n_validators=net.n_validators,
        n_validator_accounts=max(4, net.n_validators * 2),
        # Coldkeys behind miner uids (shared across subnets; each starts with 500 TAO).
        n_miner_accounts=max(8, min(512, net.n_subnets * (net.n_uids - net.n_validators - 1) // 4)),
        total_issuance_tao=net.total_issuance_tao,
        root_stake_tao=net.root_stake_tao,
        median_pool_tao=net.pool_tao_per_subnet,
        median_price=net.initial_alpha_price_tao,
        pool_spread=net.pool_tao_spread,
        price_spread=net.alpha_price_spread,
        flow_ema_rao_per_block=net.initial_flow_tao_per_day * RAO_PER_TAO / BLOCKS_PER_DAY,
    )
    if not config.owners.owner_cut_enabled:
        # Owners who switch their cut off from the start (sudo_set_owner_cut_enabled).
        state = state.replace(owner_cut_enabled=torch.zeros_like(state.owner_cut_enabled))
    state = _add_staker_accounts(state, config, streams.assign)
    # Private copies: the model's steps edit them in place (see sim.model.GovSimModel).
    state = state.replace(
        weights=state.weights.clone(),
        bonds=state.bonds.clone(),
        last_update=state.last_update.clone(),
    )
    S, n, V = state.n_subnets, state.n_uids, net.n_validators
    is_miner = np.zeros((S, n), dtype=bool)
    is_miner[:, 1 + V :] = True
    return Network(
        params=params,
        state=state,
        validator_uids=np.arange(1, 1 + V),
        is_miner=is_miner,
        staker_accounts=np.array(
            [state.account_index(f"staker{j}") for j in range(config.stakers.n_stakers)]
        ),
    )


def _epoch_params(kappa: float, base: Any) -> Any:
    """The epoch parameters with the configured kappa."""
    from protocol.yuma import EpochParams

    return replace(base if base is not None else EpochParams(), kappa=kappa)


def _add_staker_accounts(
    state: NetworkState, config: SimConfig, rng: np.random.Generator
) -> NetworkState:
    """Give the stakers accounts, liquid TAO and delegations carved from validators' stake.

    Stakers own ``1 − self_stake_fraction`` of the validators' initial stake as nominators
    (re-labelled shares: no TAO or alpha moves) and ``total_stake_tao · (1 − staked_fraction)``
    of free TAO taken from the market account's balance, so the ledger is unchanged.
    """
    scfg = config.stakers
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
    delegated = 1.0 - config.validators.self_stake_fraction
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


# ---------------------------------------------------------------------------------- miners
def miner_grid(
    model: mesa.Model, config: SimConfig, is_miner: np.ndarray, streams: RunStreams
) -> MinerGrid:
    """Miner cohorts on the uid grid, with skills (``skill`` stream) and, if configured,
    measured behaviour (``calibration`` stream); strategies go to uids from ``assign``."""
    cfg = config.miners
    S, n = is_miner.shape
    mean_log = math.log(max(cfg.skill_mean, 1e-9)) - 0.5 * cfg.skill_sigma**2
    mean_log_skill = np.full((S, n), mean_log)
    log_skill = mean_log + cfg.skill_sigma * streams.skill.standard_normal((S, n))
    slots = np.argwhere(is_miner)
    order = streams.assign.permutation(len(slots))
    strategy = np.full((S, n), "", dtype=object)
    cohorts = {}
    start = 0
    for name, count in allocate_counts(cfg.mix, len(slots)).items():
        mask = np.zeros((S, n), dtype=bool)
        chosen = slots[order[start : start + count]]
        mask[chosen[:, 0], chosen[:, 1]] = True
        start += count
        cls = MINER_STRATEGIES.get(name)
        cohorts[name] = cls(model, mask, dict(cfg.strategy_params.get(name, {})))
        strategy[mask] = name
    grid = MinerGrid(
        is_miner=is_miner,
        vacant=np.zeros((S, n), dtype=bool),
        log_skill=log_skill,
        mean_log_skill=mean_log_skill,
        strategy=strategy,
        cohorts=cohorts,
    )
    if cfg.calibration_file is not None:
        grid.measured_factors, grid.measured_lag_blocks = _measured_miners(
            config, strategy, streams.calibration
        )
    return grid


def _measured_miners(
    config: SimConfig, strategy: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per-uid measured quality factor and detection lag (blocks) from the calibration file."""
    from sim.calibration_gt import load_miner_calibration, measured_quality_factors

    calibration = load_miner_calibration(config.miners.calibration_file)
    honest_params = config.validators.strategy_params.get("honest", {})
    default_exponent = VALIDATOR_STRATEGIES.get("honest").defaults["weight_exponent"]
    exponent = float(honest_params.get("weight_exponent", default_exponent))
    factors = measured_quality_factors(calibration, strategy, weight_exponent=exponent, rng=rng)
    # One ground-truth round is one weight-setting round of the model.
    round_blocks = config.validators.weights_every_tempos * config.network.tempo
    lag_blocks = np.zeros(strategy.shape)
    for name, measured in calibration.strategies.items():
        lag_blocks[strategy == name] = measured.detection_rounds * round_blocks
    return factors, lag_blocks


# ---------------------------------------------------------------------------------- validators
def validator_grid(
    model: mesa.Model,
    config: SimConfig,
    net: Network,
    rng: np.random.Generator,
) -> tuple[ValidatorGrid, NetworkState]:
    """Validator cohorts on the ``[S, V]`` slots, the cabal's miners, and the state with the
    cabal's stake share applied (``validators.cabal_stake_share``). Draws from ``rng``
    (the ``assign`` stream)."""
    cfg = config.validators
    S, V = config.network.n_subnets, config.network.n_validators
    order = rng.permutation(S * V)
    cohorts = {}
    strategy = np.full((S, V), "", dtype=object)
    start = 0
    for name, count in allocate_counts(cfg.mix, S * V).items():
        flat = np.zeros(S * V, dtype=bool)
        flat[order[start : start + count]] = True
        start += count
        mask = flat.reshape(S, V)
        cls = VALIDATOR_STRATEGIES.get(name)
        cohorts[name] = cls(model, mask, dict(cfg.strategy_params.get(name, {})))
        strategy[mask] = name
    # Cabal miners: on subnets with a cabal validator, some miner uids belong to the cabal.
    n = net.is_miner.shape[1]
    cabal_miners = np.zeros((S, n), dtype=bool)
    cabal = strategy == "cabal"
    miner_uids = np.nonzero(net.is_miner[0])[0]
    k = min(cfg.cabal_miners, len(miner_uids))
    for s in np.nonzero(cabal.any(axis=1))[0]:
        cabal_miners[s, rng.choice(miner_uids, size=k, replace=False)] = True
    state = net.state
    if cfg.cabal_stake_share is not None:
        state = _set_cabal_stake(state, net.validator_uids, cabal, cfg.cabal_stake_share)
    grid = ValidatorGrid(
        uids=net.validator_uids, strategy=strategy, cohorts=cohorts, cabal_miners=cabal_miners
    )
    return grid, state


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


# ---------------------------------------------------------------------------------- holders
def owners(model: mesa.Model, config: SimConfig, rng: np.random.Generator) -> list[Owner]:
    """One owner per subnet: types from ``owners.mix`` (``owners.assign`` pins some), and the
    subnets' utilities, drawn from ``rng`` (the ``assign`` stream).

    Raises
    ------
    ValueError
        Naming ``owners.assign`` when it names a subnet that does not exist.
    """
    cfg = config.owners
    S = config.network.n_subnets
    counts = allocate_counts(cfg.mix, S)
    order = rng.permutation(S)
    sigma = cfg.subnet_quality_sigma
    utility = cfg.subnet_quality_mean * np.exp(sigma * rng.standard_normal(S) - 0.5 * sigma**2)
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
    return [OWNER_STRATEGIES.get(name)(model, s, float(utility[s])) for s, name in enumerate(types)]


def stakers(
    model: mesa.Model, config: SimConfig, accounts: np.ndarray, rng: np.random.Generator
) -> list[Staker]:
    """The stakers on their accounts, with risk aversions and cadence phases from ``rng``
    (the ``stakers`` stream)."""
    cfg = config.stakers
    sigma = cfg.risk_aversion_sigma
    aversion = cfg.risk_aversion_mean * np.exp(
        sigma * rng.standard_normal(cfg.n_stakers) - 0.5 * sigma**2
    )
    phase = rng.uniform(0.0, cfg.cadence_days, cfg.n_stakers)
    out: list[Staker] = []
    for name, count in allocate_counts(cfg.mix, cfg.n_stakers).items():
        cls = STAKER_STRATEGIES.get(name)
        for _ in range(count):
            j = len(out)
            out.append(cls(model, int(accounts[j]), float(aversion[j]), float(phase[j])))
    return out


# ---------------------------------------------------------------------------------- governance
def governance_policy(config: SimConfig) -> GovernancePolicy:
    """The configured governance policy.

    Raises
    ------
    ValueError
        Naming ``governance.policy`` when the name or its config is refused.
    """
    cfg = config.governance
    try:
        return make_policy(cfg.policy, dict(cfg.policy_config))
    except Exception as exc:  # RegistryError or PolicyConfigError: name the field
        raise ValueError(f"governance.policy: {exc}") from exc


def governors(model: mesa.Model, policy: GovernancePolicy, cfg: GovernanceConfig) -> list[Governor]:
    """The roster of persons (``governance.actors`` topped up to ``roster_size``), seated in
    the bodies ``policy`` declares (:meth:`~protocol.governance.GovernancePolicy.seat_bodies`).

    The roster and everyone's attributes are the same under every policy; only which bodies
    they sit in differs. No policy is named here: a third-party policy is seated by its own
    declaration (``sim.agents.governors.seat_roster``).
    """
    return seat_roster(model, policy, cfg)


# ---------------------------------------------------------------------------------- events
def shock_events(config: SimConfig, rng: np.random.Generator) -> list[tuple[int, str, dict]]:
    """``(block, handler, args)`` of every shock: the configured ones, then the random arrivals
    drawn from ``rng`` (the ``events`` stream)."""
    shocks = list(config.shocks)
    shocks += draw_random_shocks(
        config.events,
        n_subnets=config.network.n_subnets,
        horizon_days=config.horizon_days,
        rng=rng,
    )
    # A shock's index in this list keys the matter it raises for governance (the same list,
    # hence the same keys, under every policy).
    return [shock_to_event(shock, index) for index, shock in enumerate(shocks)]
