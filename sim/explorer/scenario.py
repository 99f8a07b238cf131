"""The Scenario page's data: library scenarios and uploads, the main parameters, one run's tables.

A run is ``sim.run`` with ``keep_model=True``: its tables as the study runner stores them, plus
the network at the end (stake, on-chain weights, roles) for the stake/weight graph.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MAIN_PARAMETERS",
    "MAX_UPLOAD_BYTES",
    "NetworkSnapshot",
    "ParamSpec",
    "RunTables",
    "headline_kpis",
    "library_scenarios",
    "load_library_scenario",
    "load_uploaded_scenario",
    "model_snapshot",
    "param_value",
    "policy_names",
    "run_scenario",
    "scenario_config",
]


#: Largest upload the explorer accepts (a scenario is a few kB of TOML).
MAX_UPLOAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class ParamSpec:
    """One scenario parameter the Scenario page exposes as a widget.

    Attributes
    ----------
    path
        Dotted path into the scenario body (``"network.n_subnets"``).
    label
        Widget label, with its unit.
    lo, hi, step
        Widget range and step.
    integer
        Whole numbers (an integer number input) rather than a float.
    widget
        ``"number"`` (typed) or ``"slider"``.
    """

    path: str
    label: str
    lo: float
    hi: float
    step: float
    integer: bool = False
    widget: str = "slider"

    @property
    def key(self) -> str:
        """The widget key (``scn_param_network__n_subnets``)."""
        return "scn_param_" + self.path.replace(".", "__")

    def coerce(self, value: Any) -> int | float:
        """``value`` as the widget's number type."""
        return int(value) if self.integer else float(value)


#: The scenario's main parameters, in the order the page shows them.
MAIN_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("horizon_days", "Horizon (days)", 0.5, 3650.0, 1.0, widget="number"),
    ParamSpec("network.n_subnets", "Subnets", 1, 128, 1, integer=True, widget="number"),
    ParamSpec("network.n_uids", "UIDs per subnet", 4, 4096, 8, integer=True, widget="number"),
    ParamSpec(
        "network.n_validators", "Validators per subnet", 1, 256, 1, integer=True, widget="number"
    ),
    ParamSpec("market.contagion_beta", "Contagion β (risk discount per severity)", 0.0, 10.0, 0.1),
    ParamSpec("market.daily_volatility", "TAO daily volatility", 0.0, 0.2, 0.005),
    ParamSpec("governance.correlation", "Correlation between governance seats", 0.0, 1.0, 0.05),
    ParamSpec("stakers.risk_aversion_mean", "Staker risk aversion", 0.0, 20.0, 0.5),
)


def param_value(config: Any, path: str) -> Any:
    """Read a dotted path from a config object (``"network.n_subnets"``)."""
    node = config
    for part in path.split("."):
        node = getattr(node, part)
    return node


#: The scenario the explorer opens first when the library has it: the April 2026 dispute.
FLAGSHIP_SCENARIO = "covenant_2026"


def library_scenarios() -> dict[str, Path]:
    """The shipped scenario files by name (``scenarios.library()``), the flagship first."""
    from scenarios import library

    files = library()
    if FLAGSHIP_SCENARIO in files:
        files = {FLAGSHIP_SCENARIO: files[FLAGSHIP_SCENARIO], **files}
    return files


def load_library_scenario(name: str) -> Any:
    """Load and validate a library scenario by name.

    Raises
    ------
    ValueError
        ``sim.schema.ScenarioError`` (naming file, field and value) or an unknown name.
    """
    from sim.schema import load_scenario

    files = library_scenarios()
    if name not in files:
        raise ValueError(
            f"scenario: unknown library scenario {name!r}; known: {', '.join(files) or 'none'}"
        )
    return load_scenario(files[name])


def load_uploaded_scenario(data: bytes, filename: str) -> Any:
    """Validate an uploaded TOML scenario; ``extends`` may name a library scenario.

    The upload is written next to copies of the library files in a temporary directory, so
    ``sim.schema.load_scenario`` resolves ``extends`` exactly as it would in ``scenarios/``.

    Parameters
    ----------
    data
        The file's bytes (UTF-8 TOML).
    filename
        The uploaded file's name (used in error messages).

    Returns
    -------
    sim.schema.Scenario

    Raises
    ------
    ValueError
        For an oversized or non-UTF-8 file, invalid TOML (with line and column), or a scenario
        that does not validate (``ScenarioError`` names the field, the value and what was expected).
    """
    import shutil
    import tempfile
    import tomllib

    from sim.schema import load_scenario

    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(
            f"{filename}: {len(data)} bytes is too large for a scenario (max {MAX_UPLOAD_BYTES})"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{filename}: not UTF-8 text (byte {exc.start}); expected a TOML scenario file"
        ) from exc
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{filename}: invalid TOML: {exc}") from exc
    safe_name = Path(filename).name if filename.endswith(".toml") else "upload.toml"
    with tempfile.TemporaryDirectory(prefix="govsim-upload-") as tmp:
        for path in library_scenarios().values():
            shutil.copy(path, Path(tmp) / path.name)
        target = Path(tmp) / f"uploaded-{safe_name}"
        target.write_text(text)
        try:
            return load_scenario(target)
        except ValueError as exc:
            # Show the user's file name, not the temporary path.
            raise ValueError(
                str(exc).replace(str(target), filename).replace(target.name, filename)
            ) from None


def scenario_config(scenario: Any, policy: str | None, values: Mapping[str, Any]) -> Any:
    """The scenario's ``SimConfig`` with ``policy`` and the widget values applied.

    Only values that differ from the scenario's own are passed as overrides, so a scenario
    whose parameters were not touched is returned as loaded.

    Raises
    ------
    ValueError
        ``ScenarioError`` naming the field when the combination does not validate
        (e.g. more validators than uids).
    """
    overrides = {
        path: value for path, value in values.items() if param_value(scenario.config, path) != value
    }
    return scenario.to_config(policy=policy, overrides=overrides or None)


def policy_names() -> list[str]:
    """Every registered governance policy (``sim.schema.known_policies``)."""
    from sim.schema import known_policies

    return known_policies()


# -- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkSnapshot:
    """The network at the end of a run, for the stake/weight graph.

    Attributes
    ----------
    stake
        ``[S, n]`` stake (alpha) on each uid's hotkey.
    weights
        ``[S, n, n]`` the weights on chain (row = the uid that set them).
    roles
        ``[S][n]`` ``"validator"``, ``"miner"`` or ``"owner"``.
    strategies
        ``[S][n]`` the agent's strategy name (``""`` where none).
    """

    stake: np.ndarray
    weights: np.ndarray
    roles: list[list[str]]
    strategies: list[list[str]]


@dataclass(frozen=True)
class RunTables:
    """One run's results as tables (what the runner stores), plus the final network snapshot."""

    timeseries: pd.DataFrame
    kpis: dict[str, Any]
    events: pd.DataFrame
    snapshot: NetworkSnapshot | None = None


def model_snapshot(model: Any) -> NetworkSnapshot | None:
    """Read stake, weights and agent roles off a finished ``sim.model.GovSimModel``.

    Returns ``None`` when the model does not expose them (the graph is then not drawn).
    """
    try:
        state = model.state
        stake = np.asarray(state.hotkey_alpha.detach().cpu().numpy(), dtype=np.float64)
        weights = np.asarray(state.weights.detach().cpu().numpy(), dtype=np.float64)
        miner_strategy = np.asarray(model.miner_strategy, dtype=object)
        validator_strategy = np.asarray(model.validator_strategy, dtype=object)
        validator_uids = np.asarray(model.validator_uids)
        owner_uid = state.owner_uid.detach().cpu().numpy()
    except AttributeError:
        return None
    n_subnets, n = stake.shape
    roles: list[list[str]] = []
    strategies: list[list[str]] = []
    for s in range(n_subnets):
        role = ["miner"] * n
        strategy = [str(x) for x in miner_strategy[s]]
        for k, uid in enumerate(validator_uids):
            role[int(uid)] = "validator"
            strategy[int(uid)] = str(validator_strategy[s][k])
        owner = int(owner_uid[s])
        if 0 <= owner < n and role[owner] == "miner" and not strategy[owner]:
            role[owner] = "owner"
        roles.append(role)
        strategies.append(strategy)
    return NetworkSnapshot(stake=stake, weights=weights, roles=roles, strategies=strategies)


def _events_frame(events: pd.DataFrame) -> pd.DataFrame:
    """Events with nested cells (lists, dicts) as JSON text, so tables and Parquet accept them."""
    out = events.copy()

    def flat(value: Any) -> Any:
        return json.dumps(value, default=str) if isinstance(value, list | dict | tuple) else value

    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, list | dict | tuple)).any():
            out[column] = out[column].map(flat)
    return out


def run_scenario(config: Any, *, policy: str, seed: int) -> RunTables:
    """Run one simulation with ``sim.run`` and return its tables and final network.

    Parameters
    ----------
    config
        A validated ``sim.config.SimConfig``.
    policy
        Governance policy name.
    seed
        The run's seed (same seed, same tables).

    Returns
    -------
    RunTables
        KPIs flattened to ``a.b`` keys as the study store keeps them.

    Raises
    ------
    ValueError
        If ``sim.run`` rejects the configuration.
    """
    import sim
    from sim import engine
    from sim.runner import result_tables

    # keep_model: the stake/weight graph needs the final network; it is released right here.
    result = sim.run(config, policy=policy, seed=int(seed), keep_model=True)
    model = result.model
    try:
        snapshot = model_snapshot(model) if model is not None else None
    finally:
        if model is not None:
            engine.release(model)
    tables = result_tables(result, "trajectory")
    kpis = tables["kpis"].iloc[0].to_dict()
    return RunTables(
        timeseries=tables.get("timeseries", pd.DataFrame()),
        kpis=kpis,
        events=_events_frame(tables.get("events", pd.DataFrame())),
        snapshot=snapshot,
    )


#: KPIs shown as headline metrics on the Scenario page: key, label, format.
HEADLINE_KPIS: tuple[tuple[str, str, str], ...] = (
    ("tao.price_end_usd", "TAO price at the end (USD)", "{:,.2f}"),
    ("tao.max_drawdown", "TAO max drawdown", "{:.1%}"),
    ("fp.count", "Harmful interventions", "{:.0f}"),
    ("survival.share_emitting", "Subnets still emitting", "{:.0%}"),
)


def headline_kpis(kpis: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, formatted value)`` of the headline KPIs present in ``kpis``.

    Falls back to the first numeric KPIs when none of :data:`HEADLINE_KPIS` is present.
    """
    out = []
    for key, label, fmt in HEADLINE_KPIS:
        value = kpis.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
            out.append((label, fmt.format(value)))
    if out:
        return out
    numeric = [
        (k, v) for k, v in kpis.items() if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    return [(k, f"{v:,.4g}") for k, v in numeric[:4]]
