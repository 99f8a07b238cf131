"""The simulator's configuration: frozen pydantic v2 models with units in every field's type.

:class:`SimConfig` is the single input of a run (``sim.run``). Scenario files (TOML, read by
``sim.schema``) are validated into it once, at the boundary; code can also build it directly or
from a dict (``SimConfig.model_validate({...})``). Every section has defaults that make a small,
fast run (8 subnets x 64 uids, 90 days), the explorer's default.

Units are part of each field's type (``Blocks``, ``Days``, ``Tao`` from
:mod:`sim.config_fields`, carrying a :class:`protocol.units.Unit` marker): a plain number is in
that unit and a quantity (``"2 hours"``, ``{value = 37000, unit = "TAO"}``) is converted into
it. Field names and descriptions repeat the unit for readers. Fractions are in [0, 1]. Chain
time: 12 s blocks, 7 200 blocks a day, tempo 360 blocks by default.

Every field is strict: integers take integers only, booleans take booleans only, numbers must
be finite, and counts have upper bounds (docs/studies.md, "Bad input").

Stability contract: after the first release of this file fields are only added (with defaults),
never renamed or removed, so scenario files keep validating.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sim.config_fields import (
    MAX_SEED,
    Blocks,
    Bool,
    Days,
    FieldError,
    Float,
    Fraction,
    Int,
    NonNegFloat,
    Str,
    Tao,
    check_economy_overrides,
    check_lever,
    check_policy_config,
    check_strategy_params,
)

__all__ = [
    "DEFAULT_HARM_WEIGHTS",
    "HARM_COMPONENTS",
    "ActorConfig",
    "EventsConfig",
    "ExploitShock",
    "GovernanceConfig",
    "InterventionShock",
    "MarketConfig",
    "MinersConfig",
    "NetworkConfig",
    "OutputConfig",
    "OwnersConfig",
    "QualityShock",
    "ScamSubnetShock",
    "Shock",
    "SimConfig",
    "StakersConfig",
    "TeamExitShock",
    "TokenSaleShock",
    "ValidatorsConfig",
    "VerdictConfig",
]

#: Strategy name -> weight (a mix).
Mix = dict[Str, Float]
#: Strategy name -> {parameter: value} (checked by ``sim.config_fields.check_strategy_params``).
StrategyParams = dict[Str, dict[Str, Float]]
#: Largest calibration file read (bytes).
MAX_CALIBRATION_BYTES = 4 * 1024 * 1024
#: Most entries in a free-form table (a mix, strategy parameters, an owner assignment).
MAX_TABLE_ENTRIES = 256


class _Section(BaseModel):
    """Base of every config section: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _check_mix(mix: dict[str, float], what: str) -> dict[str, float]:
    """Validate a strategy mix: non-negative weights with a positive total (normalised later)."""
    if not mix:
        raise ValueError(f"{what}: the mix is empty; give at least one strategy with a weight > 0")
    if len(mix) > MAX_TABLE_ENTRIES:
        raise ValueError(f"{what}: {len(mix)} strategies; expected at most {MAX_TABLE_ENTRIES}")
    for name, weight in mix.items():
        if weight < 0:
            raise ValueError(f"{what}.{name}: weight must be >= 0, got {weight}")
    total = sum(mix.values())
    if not 0 < total < float("inf"):
        raise ValueError(f"{what}: weights sum to {total}; expected a positive, finite total")
    return mix


def _check_table_size(table: dict[Any, Any], what: str) -> None:
    if len(table) > MAX_TABLE_ENTRIES:
        raise ValueError(f"{what}: {len(table)} entries; expected at most {MAX_TABLE_ENTRIES}")


# --------------------------------------------------------------------------------------------
# network
# --------------------------------------------------------------------------------------------


class NetworkConfig(_Section):
    """Shape of the simulated chain and the economy parameters the simulator sets itself."""

    n_subnets: Int = Field(
        8, ge=1, le=128, description="Number of non-root subnets (count, <= 128)."
    )
    n_uids: Int = Field(
        64, ge=4, le=4096, description="UIDs per subnet (count; mainnet max_allowed_uids 256)."
    )
    n_validators: Int = Field(
        8,
        ge=1,
        le=256,
        description="Validator UIDs per subnet (count; must be < n_uids; mainnet max 64 permits).",
    )
    tempo: Blocks = Field(
        360,
        ge=1,
        le=65_535,
        description="Blocks between epochs of a subnet (blocks; the chain "
        "stores it as a u16, so at most 65 535).",
    )
    coinbase_era: Literal["head", "tao_flow", "price_ema"] | None = Field(
        None,
        description="Which subnet-share rule the economy uses (docs/economy.md, Eras); None = "
        "the era live on the scenario's `date`, or head without a date.",
    )
    block_emission_tao: Tao = Field(
        0.5, gt=0, description="TAO minted per block at the start (TAO/block; 0.5 after Dec 2025)."
    )
    total_issuance_tao: Tao = Field(
        10_800_000.0, ge=0, description="TAO issued before the run starts (TAO; drives halving)."
    )
    root_stake_tao: Tao = Field(
        3_000_000.0, ge=0, description="TAO staked on the root subnet (TAO)."
    )
    tao_weight: Fraction = Field(0.18, description="TaoWeight of root stake (fraction).")
    pool_tao_per_subnet: Float = Field(
        20_000.0,
        gt=0,
        description="Mean initial TAO reserve of a subnet pool (TAO); spread by `pool_tao_spread`.",
    )
    pool_tao_spread: NonNegFloat = Field(
        1.0, description="Lognormal sigma of initial pool sizes across subnets (dimensionless)."
    )
    initial_alpha_price_tao: Tao = Field(
        0.02, gt=0, description="Mean initial alpha price (TAO per alpha)."
    )
    alpha_price_spread: NonNegFloat = Field(
        0.8,
        description="Lognormal sigma of initial alpha prices across subnets (dimensionless); "
        "emission shares follow prices, so this sets how unequal they start.",
    )
    initial_flow_tao_per_day: NonNegFloat = Field(
        3_600.0,
        description="Net TAO staked into subnets per day before the run (TAO/day): seeds the "
        "TAO-flow EMAs (tao_flow era), split over subnets as their moving prices, so shares "
        "do not start cold; 3 600 = the daily emission after the Dec 2025 halving.",
    )
    kappa: Fraction | None = Field(
        None,
        description="Yuma consensus majority threshold (fraction); None = the epoch's default "
        "(32 767/65 535).",
    )
    commit_reveal: Bool = Field(
        True, description="Whether weights are committed and revealed later (docs/yuma.md)."
    )
    reveal_tempos: Int = Field(
        1,
        ge=1,
        le=10_000,
        description="Tempos between commit and reveal when commit_reveal is on (tempos).",
    )
    uid_immunity_blocks: Blocks = Field(
        5_000, ge=0, description="Blocks a new UID is immune from pruning (blocks)."
    )
    subnet_immunity_days: Days = Field(
        120.0, ge=0, description="Days a new subnet is immune from deregistration (days)."
    )
    registration_burn_tao: Tao = Field(
        0.1, ge=0, description="TAO burned to register a miner UID (TAO)."
    )
    economy_overrides: dict[Str, Any] = Field(
        default_factory=dict,
        description="Extra EconomyParams fields passed through to protocol.economy (each "
        "checked against the field's type in protocol.economy.EconomyParams).",
    )

    @field_validator("economy_overrides")
    @classmethod
    def _economy_overrides(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_economy_overrides(v)

    @model_validator(mode="after")
    def _validators_fit(self) -> NetworkConfig:
        # A subnet's uids are its owner's, the validators' and at least one miner's
        # (protocol.economy.make_network refuses fewer).
        if self.n_validators + 2 > self.n_uids:
            raise ValueError(
                f"network.n_validators: {self.n_validators} must be <= n_uids - 2 "
                f"({self.n_uids - 2}): one uid is the owner's and at least one a miner's"
            )
        return self


# --------------------------------------------------------------------------------------------
# agents
# --------------------------------------------------------------------------------------------


class MinersConfig(_Section):
    """Miner population: strategy mix and the quality/cost processes (per uid)."""

    mix: Mix = Field(
        default_factory=lambda: {"honest": 0.85, "lazy": 0.08, "copier": 0.04, "sybil": 0.03},
        description="Strategy name -> share of miner uids (weights, normalised). "
        "Names from sim.agents.miners.MINER_STRATEGIES.",
    )
    skill_mean: NonNegFloat = Field(1.0, description="Mean miner skill (quality units).")
    skill_sigma: NonNegFloat = Field(
        0.35, description="Lognormal sigma of miner skill across uids (dimensionless)."
    )
    skill_volatility_per_day: NonNegFloat = Field(
        0.10,
        description="Daily volatility of each miner's log-skill (1/sqrt(day)); makes stale "
        "weights wrong, so commit-reveal delay matters.",
    )
    skill_mean_reversion_per_day: NonNegFloat = Field(
        0.05, description="Mean-reversion speed of log-skill (1/day)."
    )
    lazy_effort: Fraction = Field(0.3, description="Effort of a lazy miner (fraction of skill).")
    copier_detection: Fraction = Field(
        0.5,
        description="Probability an honest validator spots a copied submission (fraction).",
    )
    sybil_uids: Int = Field(
        4, ge=1, le=4_096, description="UIDs one sybil budget is spread over (count, <= 4 096)."
    )
    compute_cost_tao_per_day: NonNegFloat = Field(
        0.02, description="Running cost of one honest miner uid (TAO/day); lazy pay `lazy_effort`x."
    )
    cadence_days: Days = Field(
        1.0, gt=0, description="How often miners reconsider their subnet (days)."
    )
    relocation_lag_days: Days = Field(
        1.0, ge=0, description="Lag between deciding to move and re-registering elsewhere (days)."
    )
    relocation_threshold: NonNegFloat = Field(
        0.5,
        description="A miner moves when its income is below this fraction of the best subnet's "
        "(fraction of income).",
    )
    relocation_probability: Fraction = Field(
        0.2, description="Chance per decision that an under-earning miner actually moves."
    )
    max_moves_per_day: Int = Field(
        4,
        ge=0,
        le=1_000_000,
        description="Most miner re-registrations network-wide per day (count, <= 1 000 000).",
    )
    strategy_params: StrategyParams = Field(
        default_factory=dict,
        description="Per-strategy overrides: strategy name -> {parameter: value}.",
    )
    calibration_file: Str | None = Field(
        None,
        description="Measured miner behaviour: a `govsim ground-truth --calibrate` JSON file "
        "(path). When set, each calibrated strategy's uids score their measured weight relative "
        "to honest after the measured detection lag (sim.calibration_gt). None: model mechanics.",
    )

    @field_validator("mix")
    @classmethod
    def _mix(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_mix(v, "miners.mix")

    @field_validator("strategy_params")
    @classmethod
    def _strategy_params(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        _check_table_size(v, "miners.strategy_params")
        return check_strategy_params("miners", v)

    @field_validator("calibration_file")
    @classmethod
    def _calibration_file(cls, v: str | None) -> str | None:
        # Read it once here so a bad file fails at the boundary, naming the file and key.
        if v is not None:
            _check_calibration_file(v)
        return v


def _check_calibration_file(path: str) -> None:
    """Read a calibration file once, turning every failure into one clear ValueError."""
    from sim.calibration_gt import load_miner_calibration

    if "\0" in path or len(path) > 4096:
        raise ValueError(f"miners.calibration_file: {path[:80]!r} is not a usable file name")
    try:
        size = Path(path).stat().st_size
    except (OSError, ValueError) as exc:
        raise ValueError(f"miners.calibration_file: cannot read {path!r} ({exc})") from None
    if size > MAX_CALIBRATION_BYTES:
        raise ValueError(
            f"miners.calibration_file: {path!r} has {size} bytes; expected at most "
            f"{MAX_CALIBRATION_BYTES}"
        )
    try:
        load_miner_calibration(path)
    except RecursionError:
        raise ValueError(f"miners.calibration_file: {path!r} is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"miners.calibration_file: {exc}") from None


class ValidatorsConfig(_Section):
    """Validator population: strategy mix, stake, take and observation noise."""

    mix: Mix = Field(
        default_factory=lambda: {
            "honest": 0.85,
            "weight_copier": 0.05,
            "cabal": 0.05,
            "inactive": 0.05,
        },
        description="Strategy name -> share of validator uids (weights, normalised). "
        "Names from sim.agents.validators.VALIDATOR_STRATEGIES.",
    )
    observation_noise: NonNegFloat = Field(
        0.15, description="Std of multiplicative noise on observed miner quality (dimensionless)."
    )
    stake_pareto_shape: Float = Field(
        1.2, gt=0, description="Pareto shape of validator stake across validators (dimensionless)."
    )
    self_stake_fraction: Fraction = Field(
        0.3, description="Fraction of a validator's stake that is its own (fraction)."
    )
    take: Fraction = Field(0.18, description="Delegate take (fraction of dividends).")
    weights_every_tempos: Int = Field(
        1,
        ge=1,
        le=10_000,
        description="Validators set weights every this many tempos (tempos); the chain keeps "
        "the last weights in between.",
    )
    cabal_miners: Int = Field(
        4, ge=0, le=4_096, description="Miner uids per subnet controlled by the cabal (count)."
    )
    cabal_weight_boost: NonNegFloat = Field(
        10.0,
        description="Factor a cabal validator multiplies its own miners' weights by (1 = honest).",
    )
    cabal_stake_share: Fraction | None = Field(
        None,
        description="If set, the cabal validators of a subnet start with this share of its "
        "validators' stake (stake moved between validator hotkeys; fraction).",
    )
    strategy_params: StrategyParams = Field(
        default_factory=dict,
        description="Per-strategy overrides: strategy name -> {parameter: value}.",
    )

    @field_validator("mix")
    @classmethod
    def _mix(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_mix(v, "validators.mix")

    @field_validator("strategy_params")
    @classmethod
    def _strategy_params(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        _check_table_size(v, "validators.strategy_params")
        return check_strategy_params("validators", v)


class StakersConfig(_Section):
    """Stakers / nominators: allocate TAO across subnets by yield and perceived risk."""

    n_stakers: Int = Field(
        64, ge=1, le=100_000, description="Number of staker agents (count, <= 100 000)."
    )
    total_stake_tao: Tao = Field(
        400_000.0, gt=0, description="TAO held by all stakers together at the start (TAO)."
    )
    wealth_pareto_shape: Float = Field(
        1.5, gt=0, description="Pareto shape of staker wealth (dimensionless)."
    )
    staked_fraction: Fraction = Field(
        0.8, description="Fraction of staker TAO staked into subnets at the start (fraction)."
    )
    cadence_days: Days = Field(1.0, gt=0, description="How often a staker rebalances (days).")
    yield_sensitivity: NonNegFloat = Field(
        20.0, description="Softmax inverse temperature on annualised yield (1/yield)."
    )
    risk_aversion_mean: NonNegFloat = Field(
        4.0, description="Mean weight on perceived governance hazard (1/hazard-per-year)."
    )
    risk_aversion_sigma: NonNegFloat = Field(
        0.5, description="Lognormal sigma of risk aversion across stakers (dimensionless)."
    )
    rebalance_fraction: Fraction = Field(
        0.2, description="Fraction of the gap to the target allocation closed per rebalance."
    )
    exit_hazard_per_year: NonNegFloat = Field(
        0.5,
        description="Perceived governance hazard above which a staker leaves subnets entirely "
        "(events per year).",
    )
    target_subnet_hazard_per_year: NonNegFloat = Field(
        6.0,
        description="Extra hazard a staker attaches to a subnet that was just targeted or is "
        "under a pending intervention (events per year).",
    )
    sell_fraction: Fraction = Field(
        0.3, description="Fraction of TAO freed by unstaking that is sold on the market."
    )
    belief_prior_per_year: NonNegFloat = Field(
        0.2, description="Prior governance-risk belief: discretionary interventions per year."
    )
    belief_learning_rate: NonNegFloat = Field(
        1.0, description="Belief increase per observed harmful intervention (events/year each)."
    )
    belief_half_life_days: Days = Field(
        60.0, gt=0, description="Half-life of the belief's decay back to the prior (days)."
    )
    severity_reference: Float = Field(
        0.07,
        gt=0,
        description="Intervention severity that counts as one full event in the belief update "
        "(dimensionless; 0.07 = an open-ended suspension of a 7 %-share subnet).",
    )
    mix: Mix = Field(
        default_factory=lambda: {"yield_risk": 1.0},
        description="Strategy name -> share of stakers (weights, normalised). "
        "Names from sim.agents.stakers.STAKER_STRATEGIES.",
    )
    min_trade_tao: Tao = Field(
        1.0, ge=0, description="Smallest stake/unstake a staker bothers to send (TAO)."
    )
    min_trade_fraction: Fraction = Field(
        0.01,
        description="Smallest trade as a fraction of the staker's wealth (fraction); trades "
        "below max(min_trade_tao, this x wealth) are skipped.",
    )
    max_trades_per_rebalance: Int = Field(
        3,
        ge=1,
        le=128,
        description="Largest number of subnets a staker trades in one rebalance, biggest gaps "
        "first; exits from threatened subnets always go through (count).",
    )
    limit_tolerance: NonNegFloat | None = Field(
        0.05,
        description="Slippage tolerance of a staker's rebalancing orders (fraction): stake and "
        "unstake are limit orders at the price the staker decided on, plus or minus this, "
        "filled in part (subtensor add_stake_limit / remove_stake_limit, allow_partial); exits "
        "from a threatened subnet are market orders. None = market orders.",
    )

    @field_validator("mix")
    @classmethod
    def _mix(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_mix(v, "stakers.mix")


class OwnersConfig(_Section):
    """Subnet owners: type mix, owner cut and exit behaviour."""

    mix: Mix = Field(
        default_factory=lambda: {"honest": 0.85, "extractive": 0.1, "high_value": 0.05},
        description="Owner type -> share of subnets (weights, normalised). "
        "Names from sim.agents.owners.OWNER_STRATEGIES.",
    )
    assign: dict[int, str] = Field(
        default_factory=dict,
        description="Explicit owner type per subnet index (overrides the mix for those subnets).",
    )
    owner_cut_enabled: Bool = Field(True, description="Whether owners take the 18 % cut.")
    subnet_quality_mean: NonNegFloat = Field(
        1.0, description="Mean subnet utility multiplier (quality units)."
    )
    subnet_quality_sigma: NonNegFloat = Field(
        0.5, description="Lognormal sigma of subnet utility across subnets (dimensionless)."
    )
    extractive_sell_fraction: Fraction = Field(
        0.9, description="Fraction of its owner cut an extractive owner sells each day."
    )
    honest_sell_fraction: Fraction = Field(
        0.1, description="Fraction of its owner cut an honest owner sells each day."
    )
    exit_on_intervention: Bool = Field(
        True, description="Whether a high-value builder exits when its subnet is targeted."
    )
    exit_sell_days: Days = Field(
        7.0, gt=0, description="Days over which an exiting team sells its holdings (days)."
    )
    exit_treasury_tao: Tao = Field(
        37_000.0, ge=0, description="Treasury TAO an exiting team sells (TAO; Covenant ~37 000)."
    )
    exit_quality_factor: Fraction = Field(
        0.1, description="Subnet utility after the team exits (fraction of before)."
    )
    strategy_params: StrategyParams = Field(
        default_factory=dict,
        description="Per-type overrides: owner type -> {parameter: value}.",
    )

    @field_validator("mix")
    @classmethod
    def _mix(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_mix(v, "owners.mix")

    @field_validator("strategy_params")
    @classmethod
    def _strategy_params(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        _check_table_size(v, "owners.strategy_params")
        return check_strategy_params("owners", v)

    @field_validator("assign")
    @classmethod
    def _assign(cls, v: dict[int, str]) -> dict[int, str]:
        _check_table_size(v, "owners.assign")
        return v


# --------------------------------------------------------------------------------------------
# market
# --------------------------------------------------------------------------------------------


class MarketConfig(_Section):
    """TAO market and the governance-risk discount (calibration constants: docs/calibration.md)."""

    tao_price_usd: Float = Field(336.0, gt=0, description="TAO price at the start (USD).")
    circulating_tao: Tao = Field(
        9_600_000.0,
        gt=0,
        description="Circulating TAO at the start (TAO); the security discount prices TAO lost "
        "as a fraction of it.",
    )
    daily_volatility: NonNegFloat = Field(
        0.04, description="Std of the daily log-return from exogenous news (1/sqrt(day))."
    )
    drift_per_year: Float = Field(0.0, description="Exogenous log drift of the TAO price (1/year).")
    news_enabled: Bool = Field(
        True,
        description="Whether exogenous news moves the price (off for calibration: the response "
        "to governance and flows alone; impact still scales with daily_volatility).",
    )
    daily_volume_usd: Float = Field(
        150_000_000.0, gt=0, description="Typical daily traded volume of TAO (USD)."
    )
    impact_coefficient: NonNegFloat = Field(
        1.0,
        description="Square-root-law impact Y: dlogP = -Y*sigma_daily*sqrt(Q/V) for a sale of "
        "Q USD against daily volume V (dimensionless).",
    )
    impact_decay_half_life_days: Days = Field(
        3.0, gt=0, description="Half-life of the transient part of price impact (days)."
    )
    permanent_impact_fraction: Fraction = Field(
        0.5, description="Fraction of price impact that is permanent (fraction)."
    )
    contagion_beta: NonNegFloat = Field(
        2.91,
        description="Governance-risk discount per unit of intervention severity: the premium "
        "jumps by beta*severity and the TAO price is scaled by exp(-premium). The posterior "
        "median of the 2026-12-06 joint fit to the documented events; the current fit's 90 % "
        "range is 1.7-4.0, median 2.77 (docs/calibration.md).",
    )
    premium_half_life_days: Days = Field(
        45.0, gt=0, description="Half-life of the governance-risk premium (days)."
    )
    premium_floor_fraction: Fraction = Field(
        0.4,
        description="Fraction of each premium jump that never decays (permanent repricing).",
    )
    expected_suspension_days: Days = Field(
        30.0,
        gt=0,
        description="How long the market expects an open-ended suspension to last (days); "
        "severity of a subnet lever = emission share x this / 365.",
    )
    justified_discount: Fraction = Field(
        0.5,
        description="Severity multiplier for an intervention the market sees as justified "
        "(fraction; 1 = judged like a harmful one).",
    )
    duration_exponent: Float = Field(
        1.18,
        ge=0,
        le=5,
        description="Severity scales with (known duration / expected_suspension_days) to this "
        "power (dimensionless; 0.5 = square root of time, 1 = linear). The posterior median of "
        "the 2026-12-06 joint fit; the current fit's 90 % range is 0.78-1.48, its upper end "
        "set by the prior (docs/calibration.md).",
    )
    delay_relief_days: Days = Field(
        7.0,
        gt=0,
        description="An enforced delay d before execution scales severity by 1/(1 + d/this) "
        "(days): a public process scares less than a surprise.",
    )
    severity_scale: Float = Field(
        1.0,
        gt=0,
        description="Normaliser so that a 7 %-share suspension of 30 days has severity ~ "
        "share*30/365 / scale (dimensionless).",
    )
    security_beta: Float = Field(
        12.4,
        ge=0,
        le=1_000,
        description="Security-risk discount per unit of TAO lost to unstopped exploits and "
        "scams: the security premium jumps by security_beta * lost / circulating_tao (TAO "
        "stolen, or emitted to a scam subnet still emitting) and decays like the governance "
        "premium (dimensionless). The posterior median of the 2026-12-06 joint fit with "
        "contagion_beta and duration_exponent; the current fit's 90 % range is 1.4-25 "
        "(docs/calibration.md).",
    )


# --------------------------------------------------------------------------------------------
# governance
# --------------------------------------------------------------------------------------------

Intent = Literal["benevolent_competent", "benevolent_erring", "self_interested", "captured"]


class ActorConfig(_Section):
    """One group of persons on the governance roster (docs/model.md, "The voter model").

    The roster is the same under every policy: each policy seats its bodies from it in order
    (the first person is the first seat of every main body, and Root). Every attribute left
    unset takes the ``[governance]`` default named in its description.
    """

    count: Int = Field(1, ge=1, le=1_000, description="Persons in this group (count, <= 1 000).")
    intent: Intent = Field("benevolent_competent", description="Intent model of these persons.")
    weight: NonNegFloat = Field(
        1.0, description="Stake each person holds in stake-weighted votes (TAO)."
    )
    label: Str = Field(
        "",
        description="Name of these persons ('const'; a group of several gets 'label0', "
        "'label1', ...; '' = 'actor<i>' by roster position).",
    )
    body: Str = Field(
        "",
        description="Body these persons are tied to ('' = any body the policy seats from the "
        "roster; a name, e.g. 'guardians', = only that body).",
    )
    accuracy: Float | None = Field(
        None,
        ge=0.5,
        le=1.0,
        description="Probability a person's private signal on a matter is right, in [0.5, 1] "
        "(None = governance.signal_accuracy; benevolent_erring: at most "
        "1 - governance.erring_error_probability).",
    )
    exposure: dict[int, Float] = Field(
        default_factory=dict,
        description="Subnet -> signed stake exposure in [-1, 1]: > 0 holds the subnet's alpha "
        "(votes against hitting it), < 0 is its rival (votes for); read by self_interested "
        "persons.",
    )
    bribe_price_tao: Tao | None = Field(
        None, ge=0, description="TAO that flips one of its nays into an aye (None = not for sale)."
    )
    turnout: Fraction = Field(
        1.0, description="Probability a person votes on a matter at all (fraction)."
    )
    leader: Str = Field(
        "",
        description="Label or name of the person these follow ('' = the roster's first person).",
    )
    correlation: Fraction | None = Field(
        None,
        description="Probability a person copies its leader's ballot on a matter (None = "
        "governance.correlation).",
    )
    reaction_blocks: Blocks | None = Field(
        None,
        description="Mean time a person takes to act once a poll opens, exponentially "
        "distributed (blocks; None = governance.reaction_blocks).",
    )

    @field_validator("exposure")
    @classmethod
    def _exposure(cls, v: dict[int, float]) -> dict[int, float]:
        _check_table_size(v, "exposure")
        for netuid, value in v.items():
            if not -1.0 <= value <= 1.0:
                raise ValueError(f"exposure.{netuid}: expected a value in [-1, 1], got {value}")
            if netuid < 0:
                raise ValueError(f"exposure.{netuid}: expected a subnet index >= 0")
        return v


class GovernanceConfig(_Section):
    """Which governance policy runs and who sits in it."""

    policy: Str = Field(
        "sudo", description="Policy preset name (protocol.governance registry, e.g. 'sudo')."
    )
    policy_config: dict[Str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for protocol.governance.make_policy, checked against the "
        "policy's configuration dataclass (its fields' types and units).",
    )
    actors: tuple[ActorConfig, ...] = Field(
        default_factory=tuple,
        max_length=64,
        description="The roster of persons, in order, with intents (the first is the first "
        "seat of every main body, and Root); topped up to roster_size with default persons.",
    )
    correlation: Fraction = Field(
        0.0,
        description="Probability a roster person copies its leader's ballot on a matter "
        "(0 independent, 1 = one key); per group: actors.correlation.",
    )
    roster_size: Int = Field(
        3,
        ge=1,
        le=1_000,
        description="Persons on the roster at least (count): the configured actors, then "
        "default persons; 3 seats every built-in body without top-ups.",
    )
    signal_accuracy: Float = Field(
        0.9,
        ge=0.5,
        le=1.0,
        description="Default probability a person's private signal on a matter is right, in "
        "[0.5, 1].",
    )
    holder_accuracy: Float | None = Field(
        None,
        ge=0.5,
        le=1.0,
        description="Signal accuracy of stake holders (None = signal_accuracy).",
    )
    reaction_blocks: Blocks = Field(
        300,
        ge=0,
        description="Mean time a roster person takes to act once a poll opens, exponentially "
        "distributed (blocks; 1 hour).",
    )
    holder_reaction_blocks: Blocks = Field(
        1_200,
        ge=0,
        description="Mean time a stake holder takes to vote once a poll opens, exponentially "
        "distributed (blocks; 4 hours).",
    )
    holder_bribe_price_tao: Tao | None = Field(
        None, ge=0, description="TAO that flips a stake holder's nay (None = not for sale)."
    )
    bribe_budget_tao: Tao = Field(
        0.0,
        ge=0,
        description="TAO a self-interested or captured proposer's faction may spend on bribes "
        "over the run (TAO).",
    )
    seat_price_tao: Tao = Field(
        10_000.0,
        ge=0,
        description="Price of a seat with no bribe price in the capture-cost KPIs (TAO).",
    )
    exploit_look_days: Days = Field(
        1.0,
        gt=0,
        description="Days between looks at a running exploit: while it runs and no halt is "
        "pending, persons judge it afresh and may propose again (days).",
    )
    error_rate_per_year: NonNegFloat = Field(
        0.5,
        description="False alarms each benevolent_erring person raises against a healthy "
        "subnet (events/year per person).",
    )
    detection_delay_blocks: Blocks = Field(
        300, ge=0, description="Blocks until a competent authority notices an exploit (blocks)."
    )
    scam_detection_days: Days = Field(
        7.0, ge=0, description="Days until a competent authority notices a scam subnet (days)."
    )
    response_lever: Str = Field(
        "set_emission_enabled",
        description="Lever kind used against scam subnets (protocol.levers kind).",
    )
    vote_delay_blocks: Blocks = Field(
        0,
        ge=0,
        description="Fixed part of a roster person's reaction time, added to its exponential "
        "part (blocks).",
    )
    holder_vote_delay_blocks: Blocks = Field(
        0,
        ge=0,
        description="Fixed part of a stake holder's reaction time, added to its exponential "
        "part (blocks; was a fixed 3 600 that equalled V1's whole motion).",
    )
    holder_turnout: Fraction = Field(
        0.6,
        description="Probability a stake holder votes on an open stake-weighted referendum "
        "(fraction; on a running exploit it gets another chance at each look).",
    )
    seated_holder_turnout: Fraction = Field(
        0.9,
        description="Probability a stake holder who holds a seat (V1's Senate, V2's "
        "collectives, a jury) votes on a referendum of its body (fraction).",
    )
    erring_error_probability: Fraction = Field(
        0.1,
        description="Chance a benevolent_erring person's signal is wrong: its accuracy is at "
        "most 1 minus this (fraction).",
    )

    @field_validator("response_lever")
    @classmethod
    def _response_lever(cls, v: str) -> str:
        check_lever({"kind": v, "netuid": 0}, "response_lever")
        return v

    @model_validator(mode="after")
    def _policy_known(self) -> GovernanceConfig:
        checked = check_policy_config(self.policy, self.policy_config)
        if checked != self.policy_config:  # quantities converted into the policy's units
            object.__setattr__(self, "policy_config", checked)
        return self

    @model_validator(mode="after")
    def _roster_consistent(self) -> GovernanceConfig:
        names = [name for name, _ in self.roster()]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(
                    f"actors: two persons are called {name!r}; give the groups distinct labels"
                )
            seen.add(name)
        for i, group in enumerate(self.actors):
            if group.leader and self.resolve_person(group.leader) is None:
                raise ValueError(
                    f"actors.{i}.leader: {group.leader!r} names no person of the "
                    f"roster ({', '.join(names)})"
                )
        return self

    def roster(self) -> tuple[tuple[str, ActorConfig | None], ...]:
        """The roster of persons in order: ``(name, its actor group)``; default persons that
        top it up to ``roster_size`` have no group.

        A group of one with a label is called by its label, a larger group ``label0``,
        ``label1``...; unlabelled persons are ``actor<i>`` by roster position.
        """
        out: list[tuple[str, ActorConfig | None]] = []
        for group in self.actors:
            for j in range(group.count):
                if group.label and group.count == 1:
                    name = group.label
                elif group.label:
                    name = f"{group.label}{j}"
                else:
                    name = f"actor{len(out)}"
                out.append((name, group))
        while len(out) < self.roster_size:
            out.append((f"actor{len(out)}", None))
        return tuple(out)

    def resolve_person(self, who: str) -> str | None:
        """The roster name ``who`` refers to: a name, else the first person with that label."""
        roster = self.roster()
        if any(name == who for name, _ in roster):
            return who
        return next((name for name, g in roster if g is not None and g.label == who), None)


# --------------------------------------------------------------------------------------------
# shocks (timed exogenous events) and stochastic event rates
# --------------------------------------------------------------------------------------------


class _Shock(_Section):
    day: Days = Field(ge=0, description="When the event happens (days from the start).")


class QualityShock(_Shock):
    """A subnet's utility jumps (e.g. the Covenant-72B milestone lifts one subnet)."""

    kind: Literal["quality_jump"] = "quality_jump"
    netuid: Int = Field(ge=0, description="Subnet hit (index among simulated subnets).")
    factor: Float = Field(2.0, gt=0, description="Multiplier on the subnet's utility (factor).")


class InterventionShock(_Shock):
    """An authority with an intent tries to pull a lever (it goes through the policy)."""

    kind: Literal["intervention"] = "intervention"
    lever: dict[Str, Any] = Field(
        description="The lever as a table, e.g. {kind='set_emission_enabled', netuid=0} "
        "(protocol.levers.lever_from_dict), checked against the lever's dataclass."
    )
    intent: Intent = Field(
        "self_interested", description="Intent of the proposer (decides how seats vote)."
    )
    justified: Bool = Field(
        False, description="Ground truth: whether the action is warranted (for FP/FN metrics)."
    )
    duration_days: Days | None = Field(
        None, gt=0, description="Days until the authority reverses it (None = never)."
    )

    @field_validator("lever", mode="before")
    @classmethod
    def _lever(cls, v: Any) -> dict[str, Any]:
        return check_lever(v, "lever")


class ExploitShock(_Shock):
    """A theft drains TAO each block until stopped by a chain halt (or it runs out)."""

    kind: Literal["exploit"] = "exploit"
    damage_tao_per_block: Float = Field(
        20.0, gt=0, description="TAO stolen per block while the exploit runs (TAO/block)."
    )
    max_damage_tao: Tao = Field(
        32_000.0, gt=0, description="TAO available to the attacker in total (TAO)."
    )
    sold_fraction: Fraction = Field(
        1.0, description="Fraction of stolen TAO dumped on the market (fraction)."
    )


class TeamExitShock(_Shock):
    """A high-value team leaves: stops work and sells on a schedule."""

    kind: Literal["team_exit"] = "team_exit"
    netuid: Int = Field(ge=0, description="The team's subnet (index).")
    sell_tao: Tao = Field(37_000.0, ge=0, description="TAO the team sells in total (TAO).")
    sell_days: Days = Field(7.0, gt=0, description="Days over which it sells (days).")
    quality_factor: Fraction = Field(
        0.1, description="Subnet utility after the exit (fraction of before)."
    )


class TokenSaleShock(_Shock):
    """Somebody (often the authority) sells TAO, or a subnet's alpha, over some days."""

    kind: Literal["token_sale"] = "token_sale"
    amount_tao: Tao = Field(gt=0, description="TAO value sold in total (TAO).")
    netuid: Int | None = Field(
        None, ge=0, description="Subnet whose alpha is sold; None = TAO on the market."
    )
    over_days: Days = Field(1.0, gt=0, description="Days over which it is sold (days).")


class ScamSubnetShock(_Shock):
    """A subnet turns into a scam: utility collapses and the owner extracts."""

    kind: Literal["scam_subnet"] = "scam_subnet"
    netuid: Int = Field(ge=0, description="Subnet that turns scam (index).")


Shock = Annotated[
    QualityShock
    | InterventionShock
    | ExploitShock
    | TeamExitShock
    | TokenSaleShock
    | ScamSubnetShock,
    Field(discriminator="kind"),
]


class EventsConfig(_Section):
    """Stochastic exogenous events (Poisson arrivals), on top of the timed shocks."""

    exploit_rate_per_year: NonNegFloat = Field(
        0.0, description="Arrival rate of exploits (events/year)."
    )
    exploit_damage_tao_per_block: Float = Field(
        20.0, gt=0, description="Damage of a random exploit while it runs (TAO/block)."
    )
    exploit_max_damage_tao: Tao = Field(
        32_000.0, gt=0, description="Cap on a random exploit's total damage (TAO)."
    )
    scam_rate_per_year: NonNegFloat = Field(
        0.0, description="Arrival rate of scam subnets (events/year)."
    )
    quality_shock_rate_per_year: NonNegFloat = Field(
        0.0, description="Arrival rate of subnet quality jumps (events/year)."
    )
    quality_shock_sigma: NonNegFloat = Field(
        0.5, description="Lognormal sigma of a random quality jump's factor (dimensionless)."
    )
    intervention_rate_per_year: NonNegFloat = Field(
        0.0,
        description="Arrival rate of contested interventions: someone asks governance to pull "
        "intervention_lever against a random subnet (events/year).",
    )
    intervention_warranted_share: Fraction = Field(
        0.5,
        description="Share of random interventions that are warranted (fraction): a warranted "
        "one is reported by a benevolent person against a subnet that has just turned scam; "
        "an unwarranted one is filed by the first self-interested person against a healthy "
        "subnet.",
    )
    intervention_lever: Str = Field(
        "set_emission_enabled",
        description="Lever kind a random intervention asks for against its subnet "
        "(protocol.levers kind taking a netuid).",
    )
    intervention_duration_days: Days | None = Field(
        None,
        gt=0,
        description="Days until a random intervention's proposer reverses it (days; None = never).",
    )

    @field_validator("intervention_lever")
    @classmethod
    def _intervention_lever(cls, v: str) -> str:
        check_lever({"kind": v, "netuid": 0}, "intervention_lever")
        return v


class OutputConfig(_Section):
    """What the run records."""

    record_every_blocks: Blocks | None = Field(
        None,
        ge=1,
        description="Rows every this many blocks (blocks); None = one row per day (7 200 blocks), "
        "or per tempo for runs shorter than 10 days.",
    )
    per_subnet: Bool = Field(True, description="Whether to record one row per subnet and time.")


# --------------------------------------------------------------------------------------------
# the verdict: how the harm vector is aggregated
# --------------------------------------------------------------------------------------------

#: The parts of a run's harm (``sim.harm``; docs/studies.md, "The harm vector"), each valued in
#: USD before it is weighted: TAO holders' loss, TAO lost to unstopped exploits and scams, the
#: loss of the participants of subnets an intervention hit, emission wrongly removed from
#: healthy subnets, and the days the chain was halted.
HARM_COMPONENTS: tuple[str, ...] = ("holders", "lost", "targeted", "emission_removed", "halted")
#: Default weight of each part in ``harm.total`` (dimensionless multipliers of its USD value).
#: ``emission_removed`` is 0: the targeted participants' loss already holds that income, so
#: counting both would count the same TAO twice (docs/studies.md gives the reasons).
DEFAULT_HARM_WEIGHTS: dict[str, float] = {
    "holders": 1.0,
    "lost": 1.0,
    "targeted": 1.0,
    "emission_removed": 0.0,
    "halted": 1.0,
}


class VerdictConfig(_Section):
    """How the harm vector becomes one number, ``harm.total`` (USD; larger = worse)."""

    weights: dict[Str, NonNegFloat] = Field(
        default_factory=dict,
        description="Weight of each harm component in harm.total, a multiplier of its USD value "
        f"(dimensionless, >= 0); components: {', '.join(HARM_COMPONENTS)}. Components left out "
        "keep their default weight (docs/studies.md).",
    )
    halt_day_usd: NonNegFloat | None = Field(
        None,
        description="USD value of one day of chain halt (USD/day); None = the network's daily "
        "TAO emission at the starting TAO price: the day of work the network pays for.",
    )

    @field_validator("weights")
    @classmethod
    def _known_components(cls, weights: dict[str, float]) -> dict[str, float]:
        for name in weights:
            if name not in HARM_COMPONENTS:
                raise FieldError(
                    f"weights.{name}", name, f"a harm component: {', '.join(HARM_COMPONENTS)}"
                )
        return weights

    def resolved_weights(self) -> dict[str, float]:
        """Every component's weight: the defaults, overridden by :attr:`weights`."""
        return {**DEFAULT_HARM_WEIGHTS, **self.weights}


# --------------------------------------------------------------------------------------------
# the whole configuration
# --------------------------------------------------------------------------------------------


class SimConfig(_Section):
    """Everything a simulation run needs (the seed can be overridden by ``sim.run``)."""

    name: Str = Field("default", description="Scenario name (free text, used in outputs).")
    description: Str = Field("", description="What the scenario is about (free text).")
    seed: Int = Field(
        0, ge=0, le=MAX_SEED, description="Root seed of the run (an integer in [0, 2^63 - 1])."
    )
    horizon_days: Days = Field(90.0, gt=0, le=3650, description="Simulated time (days).")
    step: Literal["tempo", "block", "day"] = Field(
        "tempo",
        description="Model step granularity: one tempo (default), one block (slow; small runs), "
        "or one day.",
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    miners: MinersConfig = Field(default_factory=MinersConfig)
    validators: ValidatorsConfig = Field(default_factory=ValidatorsConfig)
    stakers: StakersConfig = Field(default_factory=StakersConfig)
    owners: OwnersConfig = Field(default_factory=OwnersConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    shocks: tuple[Shock, ...] = Field(
        default_factory=tuple,
        max_length=10_000,
        description="Timed exogenous events, in any order (at most 10 000).",
    )
    output: OutputConfig = Field(default_factory=OutputConfig)
    verdict: VerdictConfig = Field(default_factory=VerdictConfig)
    date: datetime.date | None = Field(
        None,
        description="Chain date the run replays (YYYY-MM-DD): the economy uses the era, defaults "
        "and levers live then (protocol.economy.history, docs/economy.md); None = HEAD.",
    )

    @model_validator(mode="after")
    def _levers_live_on_date(self) -> SimConfig:
        # The dated facts live in protocol.economy.history; this only asks it.
        if self.date is None:
            return self
        from protocol.economy.history import DateNotModelledError, check_lever, economy_on

        try:
            economy_on(self.date)
        except DateNotModelledError as exc:
            raise ValueError(f"date: {exc}") from None
        uses: list[tuple[str, dict[str, Any]]] = [
            (f"shocks[{i}].lever", shock.lever)
            for i, shock in enumerate(self.shocks)
            if isinstance(shock, InterventionShock)
        ]
        uses.append(("governance.response_lever", {"kind": self.governance.response_lever}))
        if not self.owners.owner_cut_enabled:
            uses.append(
                ("owners.owner_cut_enabled",
                 {"kind": "set_hyperparameter", "name": "owner_cut_enabled"})
            )  # fmt: skip
        for where, lever in uses:
            try:
                check_lever(lever, self.date)
            except ValueError as exc:
                raise ValueError(
                    f"{where}: not live on {self.date}; expected a lever live on {self.date} "
                    f"({exc})"
                ) from None
        return self

    @model_validator(mode="after")
    def _shocks_fit(self) -> SimConfig:
        last = self.network.n_subnets - 1
        for i, shock in enumerate(self.shocks):
            netuid, where = getattr(shock, "netuid", None), f"shocks[{i}].netuid"
            if netuid is None and isinstance(shock, InterventionShock):
                netuid, where = shock.lever.get("netuid"), f"shocks[{i}].lever.netuid"
            if netuid is not None and netuid > last:
                raise ValueError(f"{where}: {netuid} is not a subnet; expected 0..{last}")
            if shock.day > self.horizon_days:
                raise ValueError(
                    f"shocks[{i}].day: {shock.day} is after horizon_days ({self.horizon_days})"
                )
        for netuid in self.owners.assign:
            if not 0 <= netuid <= last:
                raise ValueError(
                    f"owners.assign.{netuid}: {netuid} is not a subnet; expected 0..{last}"
                )
        return self

    def with_policy(self, policy: str) -> SimConfig:
        """A copy running governance ``policy``, its ``policy_config`` dropped.

        Only the policy name is checked (the rest was validated when this config was built).

        Raises
        ------
        ValueError
            ``"governance.policy: ..."`` when no policy of that name is registered.
        """
        if not isinstance(policy, str) or not policy:
            raise ValueError(f"governance.policy: expected a policy name, got {policy!r}")
        try:
            check_policy_config(policy, {})
        except ValueError as exc:
            raise ValueError(f"governance.{exc}") from None
        governance = self.governance.model_copy(update={"policy": policy, "policy_config": {}})
        return self.model_copy(update={"governance": governance})

    def with_updates(self, **changes: Any) -> SimConfig:
        """Return a validated copy with top-level fields or ``section__field`` paths replaced.

        Parameters
        ----------
        **changes
            ``horizon_days=30`` or ``network__n_subnets=4`` (double underscore = nesting).

        Returns
        -------
        SimConfig
            A new, validated configuration.
        """
        data = self.model_dump(mode="python")
        for key, value in changes.items():
            node = data
            parts = key.split("__")
            for part in parts[:-1]:
                if not isinstance(node.get(part), dict):
                    raise ValueError(f"{key}: {part!r} is not a config section")
                node = node[part]
            node[parts[-1]] = value
        return SimConfig.model_validate(data)
