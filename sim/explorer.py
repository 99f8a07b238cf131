"""Data preparation for the Streamlit explorer (``app.py``), free of Streamlit so it can be tested.

The explorer's pages only lay widgets and charts out; everything that shapes data lives here:
the Yuma playground's chain-format state, tidy tables for Altair charts, the stake/weight graph
(networkx) and its layout, cache keys, and checks on user input that raise ``ValueError`` with a
message naming the field, the value and what was expected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from protocol.units import RAO_PER_TAO, U16_MAX

__all__ = [
    "ADDITIVE_PREFIXES",
    "BOOKKEEPING_COLUMNS",
    "CHART_GROUPS",
    "DEFAULT_COMPARE_POLICIES",
    "EVENT_LABEL_COLUMNS",
    "FLAGSHIP_SCENARIO",
    "HEADLINE_KPIS",
    "LIVE_METRICS",
    "MAIN_PARAMETERS",
    "MAX_UPLOAD_BYTES",
    "PLAYGROUND_EMISSIONS",
    "PLAYGROUND_MAX_UIDS",
    "PLAYGROUND_MODES",
    "PLAYGROUND_PRESETS",
    "PLAYGROUND_START_BLOCK",
    "PLAYGROUND_TEMPO",
    "PLAYGROUND_U16_OUTPUTS",
    "TIME_COLUMNS",
    "NetworkSnapshot",
    "ParamSpec",
    "RunTables",
    "StackedRuns",
    "StatusUnavailableError",
    "band_frame",
    "bonds_frame",
    "chart_groups",
    "default_policies",
    "dotted",
    "event_marks",
    "fetch_status",
    "find_studies",
    "graph_frames",
    "ground_truth_available",
    "ground_truth_configs",
    "headline_kpis",
    "honest_share",
    "kpi_summary",
    "kpi_table",
    "library_scenarios",
    "live_metrics",
    "live_network",
    "live_windows",
    "load_library_scenario",
    "load_uploaded_scenario",
    "long_series",
    "mode_gaps",
    "model_snapshot",
    "nakamoto",
    "network_columns",
    "network_frame",
    "network_frame_by_run",
    "numeric_columns",
    "param_value",
    "playground_epoch",
    "playground_params",
    "playground_preset",
    "playground_state",
    "playground_wide",
    "policy_names",
    "replicate_seeds",
    "run_ground_truth",
    "run_scenario",
    "scenario_config",
    "scores_by_strategy",
    "simulation_available",
    "split_constant_kpis",
    "stable_hash",
    "stack_runs",
    "stake_weight_graph",
    "status_tables",
    "subnet_frame",
    "time_column",
    "to_parquet_bytes",
    "validate_playground",
]

#: Tempo of the playground's toy subnet; only the block arithmetic depends on it.
PLAYGROUND_TEMPO = 360
#: The playground's first epoch block (any block well past registration works).
PLAYGROUND_START_BLOCK = 10_000
#: Largest playground the editor offers: the point is to read every number.
PLAYGROUND_MAX_UIDS = 16


def stable_hash(obj: Any) -> str:
    """A short, stable hex digest of a JSON-serialisable object (a cache key).

    Parameters
    ----------
    obj
        Anything ``json.dumps`` accepts with ``default=str``; dict keys are sorted.

    Returns
    -------
    str
        The first 16 hex digits of the SHA-256 of the canonical JSON text.

    Examples
    --------
    >>> stable_hash({"b": 1, "a": 2}) == stable_hash({"a": 2, "b": 1})
    True
    """
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# Yuma playground
# --------------------------------------------------------------------------------------------------


def _toy_tables(
    stake_tao: Sequence[float], rows: Mapping[int, Sequence[float]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Playground tables from a stake list and ``{validator uid: weight row}``."""
    uids = [str(u) for u in range(len(stake_tao))]
    stake = pd.DataFrame(
        {"stake_tao": [float(s) for s in stake_tao]}, index=pd.Index(uids, name="uid")
    )
    weights = pd.DataFrame(0.0, index=pd.Index(uids, name="validator"), columns=uids)
    for uid, row in rows.items():
        weights.loc[str(uid)] = [float(w) for w in row]
    return stake, weights


def _sn15_tables(n_validators: int = 4, n_miners: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The largest validators of the real SN15 state and the miners they weight most."""
    from scenarios import DATA_DIR

    state = json.loads((DATA_DIR / "sn15_block4769998.json").read_text())
    n = int(state["n"])
    stake = np.asarray(state["stake"], dtype=np.float64) / RAO_PER_TAO
    w = np.zeros((n, n))
    for i, row in enumerate(state["weights"]):
        for j, v in row.items():
            w[i, int(j)] = v
    row_sums = w.sum(axis=1, keepdims=True)
    w = np.divide(w, row_sums, out=np.zeros_like(w), where=row_sums > 0)
    setters = np.flatnonzero(row_sums[:, 0] > 0)
    validators = setters[np.argsort(-stake[setters], kind="stable")][:n_validators]
    received = stake[validators] @ w[validators]
    received[validators] = -1.0  # a validator is not also listed as a miner
    miners = np.argsort(-received, kind="stable")[:n_miners]
    keep = np.concatenate([validators, miners])
    sub_stake = np.where(np.isin(keep, validators), stake[keep], 0.0)
    sub_w = w[np.ix_(keep, keep)]
    rows = {k: np.round(sub_w[k], 4).tolist() for k in range(len(validators))}
    return _toy_tables(np.round(sub_stake, 1).tolist(), rows)


#: Playground presets: name → description shown in the selector.
PLAYGROUND_PRESETS: dict[str, str] = {
    "dissent": "3 validators, 3 miners; the smallest validator dissents (clipping)",
    "cabal": "a 40 % stake cabal weights its own miner (κ keeps it out)",
    "sn15": "real mainnet SN15 (block 4769998): top 4 validators, their top 4 miners",
}


def playground_preset(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The playground's starting tables for a preset.

    Parameters
    ----------
    name
        A key of :data:`PLAYGROUND_PRESETS`.

    Returns
    -------
    stake : DataFrame
        Index ``uid`` (strings ``"0"``, ``"1"``...); column ``stake_tao``.
    weights : DataFrame
        Square, index and columns the uids; row ``i`` holds the weights validator ``i`` sets.

    Raises
    ------
    ValueError
        If ``name`` is not a preset.
    """
    if name == "dissent":
        return _toy_tables(
            [600.0, 300.0, 100.0, 0.0, 0.0, 0.0],
            {0: [0, 0, 0, 0.5, 0.4, 0.1], 1: [0, 0, 0, 0.6, 0.3, 0.1], 2: [0, 0, 0, 0.1, 0.1, 0.8]},
        )
    if name == "cabal":
        return _toy_tables(
            [350.0, 250.0, 400.0, 0.0, 0.0, 0.0],
            {0: [0, 0, 0, 0.6, 0.4, 0.0], 1: [0, 0, 0, 0.5, 0.5, 0.0], 2: [0, 0, 0, 0.0, 0.0, 1.0]},
        )
    if name == "sn15":
        return _sn15_tables()
    raise ValueError(
        f"preset: unknown playground preset {name!r}; known: {', '.join(PLAYGROUND_PRESETS)}"
    )


def validate_playground(
    stake: pd.DataFrame, weights: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Check the edited playground tables and return them as float64 arrays.

    Parameters
    ----------
    stake
        One row per uid with a ``stake_tao`` column.
    weights
        A square table, one row and one column per uid.

    Returns
    -------
    stake_tao : ndarray, shape (n,)
    weights : ndarray, shape (n, n)

    Raises
    ------
    ValueError
        With a message naming the field and the offending value.
    """
    if "stake_tao" not in stake.columns:
        raise ValueError("stake: expected a 'stake_tao' column")
    n = len(stake)
    if not 2 <= n <= PLAYGROUND_MAX_UIDS:
        raise ValueError(f"stake: expected 2 to {PLAYGROUND_MAX_UIDS} uids, got {n}")
    if weights.shape != (n, n):
        raise ValueError(
            f"weights: expected a {n}×{n} table (one row and column per uid), got {weights.shape[0]}×{weights.shape[1]}"
        )
    stake_tao = pd.to_numeric(stake["stake_tao"], errors="coerce").to_numpy(dtype=np.float64)
    w = weights.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(stake_tao) | (stake_tao < 0))
    if bad.size:
        raise ValueError(
            f"stake[uid {bad[0]}]: expected a finite number ≥ 0 TAO, got {stake['stake_tao'].iloc[bad[0]]!r}"
        )
    if stake_tao.sum() <= 0:
        raise ValueError("stake: at least one uid needs stake > 0 TAO to validate")
    bad_w = np.argwhere(~np.isfinite(w) | (w < 0))
    if bad_w.size:
        i, j = bad_w[0]
        raise ValueError(
            f"weights[{i}, {j}]: expected a finite number ≥ 0, got {weights.iloc[i, j]!r}"
        )
    if not (w[stake_tao > 0] > 0).any():
        raise ValueError("weights: no staked validator sets any weight > 0")
    return stake_tao, w


def _u16_row(row: np.ndarray, *, upscale: bool) -> dict[str, int]:
    """A sparse u16 row ``{"j": value}``: max-upscaled (as ``set_weights`` stores) or absolute."""
    top = row.max(initial=0.0)
    if top <= 0:
        return {}
    scaled = row / top if upscale else np.clip(row, 0.0, 1.0)
    values = np.rint(scaled * U16_MAX).astype(np.int64)
    return {str(j): int(v) for j, v in enumerate(values) if v > 0}


def playground_state(
    stake_tao: np.ndarray,
    weights: np.ndarray,
    *,
    epoch: int = 0,
    bonds_u16: Sequence[Mapping[str, int]] | None = None,
    rao_emission: int = RAO_PER_TAO,
    max_validators: int = 64,
) -> dict[str, Any]:
    """The playground as a chain-format state (the JSON schema of ``docs/yuma.md``).

    Every uid registered at block 0 and set weights on the block before the epoch, so all are
    active; weights are stored max-upscaled to u16 as ``set_weights`` does.

    Parameters
    ----------
    stake_tao
        Stake per uid in TAO.
    weights
        ``weights[i, j]``: weight validator ``i`` sets on uid ``j`` (any non-negative scale).
    epoch
        Epoch counter; the state's block is ``PLAYGROUND_START_BLOCK + epoch * tempo``.
    bonds_u16
        Bonds from the previous epoch as sparse u16 rows (``{}`` for none).
    rao_emission
        Alpha (rao) distributed by this epoch.
    max_validators
        ``MaxAllowedValidators`` (the permit count).

    Returns
    -------
    dict
        Keys ``n, block, tempo, last_update, reg, stake, hotkeys, validator_permit_prev,
        max_validators, owner_uid, weights, bonds, rao_emission``.
    """
    import torch

    from protocol.yuma.float_epoch import topk_nonzero

    n = len(stake_tao)
    block = PLAYGROUND_START_BLOCK + epoch * PLAYGROUND_TEMPO
    bonds = [dict(b) for b in bonds_u16] if bonds_u16 is not None else [{} for _ in range(n)]
    # A running subnet: the permits its previous epoch gave this stake (the chain's empty
    # vector would drop every weight row in this epoch, see docs/yuma.md).
    permits = topk_nonzero(torch.tensor(np.asarray(stake_tao, dtype=np.float64)), max_validators)
    return {
        "source": "govsim explorer: Yuma playground",
        "n": n,
        "block": block,
        "tempo": PLAYGROUND_TEMPO,
        "last_update": [block - 1] * n,
        "reg": [0] * n,
        "stake": [round(float(s) * RAO_PER_TAO) for s in stake_tao],
        "hotkeys": [f"uid{u}" for u in range(n)],
        "validator_permit_prev": [bool(p) for p in permits.tolist()],
        "max_validators": max_validators,
        "owner_uid": None,
        "weights": [
            _u16_row(np.asarray(weights[i], dtype=np.float64), upscale=True) for i in range(n)
        ],
        "bonds": bonds,
        "rao_emission": int(rao_emission),
    }


# --------------------------------------------------------------------------------------------------
# Stake / weight graph
# --------------------------------------------------------------------------------------------------


def stake_weight_graph(
    stake: Sequence[float] | np.ndarray,
    weights: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    roles: Sequence[str] | None = None,
    min_weight: float = 0.0,
    max_miners: int | None = None,
) -> nx.DiGraph:
    """A directed graph of who weights whom: validators → miners, with stake on the nodes.

    Parameters
    ----------
    stake
        Stake per uid (any unit).
    weights
        ``weights[i, j] ≥ 0``, the weight uid ``i`` sets on uid ``j``; rows are normalised so an
        edge's ``weight`` is the share of ``i``'s vote.
    labels
        Node names (default ``"uid<i>"``).
    roles
        Role per uid; by default ``"validator"`` for uids that set weights and hold stake,
        ``"miner"`` otherwise. Only validators' weights become edges.
    min_weight
        Drop edges whose normalised weight is at or below this share.
    max_miners
        Keep only the validators and this many non-validators, those receiving the most
        stake-weighted votes (large subnets stay readable).

    Returns
    -------
    networkx.DiGraph
        Node attributes ``stake``, ``role`` and ``received`` (the uid's share of all
        stake-weighted votes); edge attribute ``weight``.
    """
    stake_arr = np.asarray(stake, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n = stake_arr.shape[0]
    if w.shape != (n, n):
        raise ValueError(f"weights: expected shape ({n}, {n}), got {w.shape}")
    names = list(labels) if labels is not None else [f"uid{i}" for i in range(n)]
    row_sums = w.sum(axis=1, keepdims=True)
    if roles is None:
        roles = [
            "validator" if row_sums[i, 0] > 0 and stake_arr[i] > 0 else "miner" for i in range(n)
        ]
    is_validator = np.array([r == "validator" for r in roles])
    shares = np.divide(w, row_sums, out=np.zeros_like(w), where=row_sums > 0)
    shares[~is_validator] = 0.0
    voting = np.where(is_validator, stake_arr, 0.0)
    stake_share = voting / voting.sum() if voting.sum() > 0 else np.zeros(n)
    received = stake_share @ shares
    keep = np.ones(n, dtype=bool)
    if max_miners is not None:
        others = np.flatnonzero(~is_validator)
        ranked = others[np.argsort(-received[others], kind="stable")]
        keep[ranked[max_miners:]] = False
    graph = nx.DiGraph()
    for i in np.flatnonzero(keep):
        graph.add_node(
            names[i], stake=float(stake_arr[i]), role=str(roles[i]), received=float(received[i])
        )
    for i, j in zip(*np.nonzero(shares > min_weight), strict=True):
        if i != j and keep[i] and keep[j] and stake_arr[i] > 0:
            graph.add_edge(names[i], names[j], weight=float(shares[i, j]))
    return graph


def graph_frames(graph: nx.DiGraph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node and edge tables with coordinates, for drawing the graph with Altair.

    Validators sit in a left column ordered by stake, everyone else in a right column ordered by
    the votes they receive; the layout is deterministic (no random spring layout).

    Returns
    -------
    nodes : DataFrame
        ``node, role, stake, received, x, y``.
    edges : DataFrame
        ``source, target, weight, x, y, x2, y2``.
    """
    rows = [{"node": node, **data} for node, data in graph.nodes(data=True)]
    nodes = pd.DataFrame(rows, columns=["node", "role", "stake", "received"])
    is_validator = nodes["role"] == "validator"
    nodes["x"] = np.where(is_validator, 0.0, 1.0)
    nodes["y"] = 0.0
    for mask, key in ((is_validator, "stake"), (~is_validator, "received")):
        order = nodes.loc[mask, key].rank(method="first", ascending=False).to_numpy()
        count = int(mask.sum())
        nodes.loc[mask, "y"] = 1.0 - (order - 0.5) / max(count, 1)
    position = nodes.set_index("node")[["x", "y"]]
    edge_rows = [
        {
            "source": u,
            "target": v,
            "weight": data["weight"],
            "x": position.at[u, "x"],
            "y": position.at[u, "y"],
            "x2": position.at[v, "x"],
            "y2": position.at[v, "y"],
        }
        for u, v, data in graph.edges(data=True)
    ]
    edges = pd.DataFrame(edge_rows, columns=["source", "target", "weight", "x", "y", "x2", "y2"])
    return nodes, edges


def playground_params(
    *, kappa: float, bond_alpha: float, yuma3: bool, liquid_alpha: bool
) -> dict[str, Any]:
    """The playground sliders as the state's chain-integer hyperparameters.

    Parameters
    ----------
    kappa
        Consensus majority threshold κ in [0, 1] (stored as u16).
    bond_alpha
        Weight of the new bond value in the bond EMA, ``1 - BondsMovingAverage``, in [0, 1].
    yuma3, liquid_alpha
        Bond path switches.

    Returns
    -------
    dict
        ``kappa_u16, bma_u32, yuma3, liquid_alpha`` for :func:`playground_state`.

    Raises
    ------
    ValueError
        If a value is outside the range the chain accepts (checked by ``EpochParams``).
    """
    from protocol.yuma import EpochParams

    EpochParams(
        kappa=kappa, bonds_moving_average=1.0 - bond_alpha, yuma3=yuma3, liquid_alpha=liquid_alpha
    )
    return {
        "kappa_u16": round(kappa * U16_MAX),
        "bma_u32": round((1.0 - bond_alpha) * 1_000_000),
        "yuma3": bool(yuma3),
        "liquid_alpha": bool(liquid_alpha),
    }


#: Playground outputs stored as u16 proportions by the chain, shown as fractions.
PLAYGROUND_U16_OUTPUTS: tuple[str, ...] = ("consensus", "incentive", "dividends", "validator_trust")
#: Playground emission outputs (rao), shown in alpha.
PLAYGROUND_EMISSIONS: tuple[str, ...] = ("server_emission", "validator_emission", "emission")
PLAYGROUND_MODES: tuple[str, ...] = ("float", "exact")


def playground_epoch(
    stake_tao: np.ndarray,
    weights: np.ndarray,
    carry: Mapping[str, Any],
    *,
    epoch: int,
    params: Mapping[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run one playground epoch in float and in exact mode, carrying bonds and permits.

    The exact epoch carries the chain's u16 bonds; the float epoch carries its float64 bonds
    unquantised (as ``replay_states`` does inside a chained list), so the two can drift apart.

    Parameters
    ----------
    stake_tao, weights
        From :func:`validate_playground`.
    carry
        The previous call's second return value (``{}`` for the first epoch).
    epoch
        Epoch counter (sets the block).
    params
        From :func:`playground_params`.

    Returns
    -------
    rows : DataFrame
        One row per (mode, uid): ``epoch, mode, uid, stake_tao``, the u16 outputs as fractions,
        emissions in alpha, ``validator_permit``, ``active``.
    carry : dict
        Bonds and permits for the next epoch, per mode.

    Raises
    ------
    ValueError
        ``protocol.yuma.StateError`` if the epoch rejects the state.
    """
    import torch

    from protocol.yuma import replay_states
    from protocol.yuma.replay import float_epoch_from_state
    from protocol.yuma.state import parse_state

    n = len(stake_tao)
    if carry.get("n") != n:  # a resized playground starts without bonds
        carry = {}
    rows = []
    new_carry: dict[str, Any] = {"n": n}
    for mode in PLAYGROUND_MODES:
        previous = carry.get(mode, {})
        state = playground_state(
            stake_tao, weights, epoch=epoch, bonds_u16=previous.get("bonds_u16")
        )
        state.update(params)
        state["validator_permit_prev"] = previous.get("permits", state["validator_permit_prev"])
        if mode == "exact":
            out = replay_states(state, mode="exact")[0]
            new_carry[mode] = {"bonds_u16": out["bonds"], "permits": out["validator_permit"]}
        else:
            float_bonds = previous.get("bonds_float")
            bonds = (
                torch.tensor(float_bonds, dtype=torch.float64) if float_bonds is not None else None
            )
            out, result_bonds = float_epoch_from_state(parse_state(state), bonds)
            new_carry[mode] = {
                "bonds_u16": out["bonds"],
                "bonds_float": result_bonds.numpy().tolist(),
                "permits": out["validator_permit"],
            }
        frame = pd.DataFrame(
            {
                "epoch": epoch,
                "mode": mode,
                "uid": np.arange(n),
                "stake_tao": stake_tao,
                **{
                    k: np.asarray(out[f"{k}_u16"], dtype=np.float64) / U16_MAX
                    for k in PLAYGROUND_U16_OUTPUTS
                },
                **{
                    k: np.asarray(out[k], dtype=np.float64) / RAO_PER_TAO
                    for k in PLAYGROUND_EMISSIONS
                },
                "validator_permit": out["validator_permit"],
                "active": out["active"],
            }
        )
        rows.append(frame)
    return pd.concat(rows, ignore_index=True), new_carry


def mode_gaps(rows: pd.DataFrame) -> pd.Series:
    """Largest |float − exact| of each u16 output over uids (rows of one epoch, both modes)."""
    wide = rows.pivot(index="uid", columns="mode", values=list(PLAYGROUND_U16_OUTPUTS))
    return pd.Series(
        {
            k: float((wide[k]["float"] - wide[k]["exact"]).abs().max())
            for k in PLAYGROUND_U16_OUTPUTS
        }
    )


def playground_wide(rows: pd.DataFrame) -> pd.DataFrame:
    """One epoch's outputs side by side: ``<output> (float)`` and ``<output> (exact)`` per uid."""
    values = [*PLAYGROUND_U16_OUTPUTS, "emission"]
    wide = rows.pivot(index="uid", columns="mode", values=values)
    wide.columns = [f"{value} ({mode})" for value, mode in wide.columns]
    stake = rows[rows["mode"] == "exact"].set_index("uid")[["stake_tao", "validator_permit"]]
    return stake.join(wide[[f"{v} ({m})" for v in values for m in PLAYGROUND_MODES]])


def bonds_frame(bond_rows: Sequence[Mapping[str, int]]) -> pd.DataFrame:
    """Sparse u16 bond rows as a long ``validator, miner, bond`` table (bond in [0, 1])."""
    records = [
        {"validator": i, "miner": int(j), "bond": v / U16_MAX}
        for i, row in enumerate(bond_rows)
        for j, v in row.items()
        if v > 0
    ]
    return pd.DataFrame(records, columns=["validator", "miner", "bond"])


# --------------------------------------------------------------------------------------------------
# Run results: tidy tables for charts, bands across seeds, KPI summaries
# --------------------------------------------------------------------------------------------------

#: Candidate time columns of a run's time series, most readable first.
TIME_COLUMNS: tuple[str, ...] = ("day", "days", "time_days", "block", "epoch", "step")


def time_column(frame: pd.DataFrame) -> str:
    """The column that holds time in a run's time series (``day`` preferred).

    Raises
    ------
    ValueError
        If none of :data:`TIME_COLUMNS` is present.
    """
    for name in TIME_COLUMNS:
        if name in frame.columns:
            return name
    raise ValueError(f"time series: no time column; expected one of {', '.join(TIME_COLUMNS)}")


#: Identifier columns of runs and stores: numeric, but nothing to chart or average.
BOOKKEEPING_COLUMNS: frozenset[str] = frozenset(
    {"seed", "replication", "attempt", "netuid", "uid", "scenario_id", "point", "run_id"}
)


def numeric_columns(frame: pd.DataFrame, *, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric, non-constant-key columns of ``frame`` (what can be charted), in frame order."""
    skip = set(exclude) | set(TIME_COLUMNS) | BOOKKEEPING_COLUMNS
    return [
        c
        for c in frame.columns
        if c not in skip
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


def band_frame(
    frame: pd.DataFrame,
    value: str,
    *,
    group: str = "policy",
    time: str | None = None,
    level: float = 0.9,
) -> pd.DataFrame:
    """Mean and a central quantile band of ``value`` across replicates, per group and time.

    Parameters
    ----------
    frame
        Long table with columns ``group``, ``time`` and ``value`` (one row per replicate and time).
    value
        Column to summarise.
    group
        Column that separates the series (the policy).
    time
        Time column; detected with :func:`time_column` when ``None``.
    level
        Coverage of the band, e.g. 0.9 for the 5 %–95 % quantiles across replicates.

    Returns
    -------
    DataFrame
        ``group, time, mean, lo, hi, n``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected a coverage in (0, 1), got {level}")
    time = time or time_column(frame)
    tail = (1.0 - level) / 2.0
    grouped = frame.groupby([group, time], sort=True)[value]
    out = pd.DataFrame(
        {
            "mean": grouped.mean(),
            "lo": grouped.quantile(tail),
            "hi": grouped.quantile(1.0 - tail),
            "n": grouped.count(),
        }
    ).reset_index()
    return out


def kpi_summary(kpis: pd.DataFrame, *, group: str = "policy", level: float = 0.95) -> pd.DataFrame:
    """Per-group mean and confidence interval of every numeric KPI (``sim.stats.mean_ci``, t).

    Parameters
    ----------
    kpis
        One row per run: a ``group`` column and numeric KPI columns.
    group
        Column to group by.
    level
        Confidence level of the interval on the mean.

    Returns
    -------
    DataFrame
        One row per (``group``, ``kpi``) in first-seen order: ``mean, ci_lo, ci_hi, n``
        (``nan`` bounds with fewer than two finite values).
    """
    from sim.stats import mean_ci

    columns = numeric_columns(kpis, exclude=(group,))
    rows = []
    for key, part in kpis.groupby(group, sort=False):
        for kpi in columns:
            ci = mean_ci(part[kpi].to_numpy(dtype=np.float64), level=level)
            rows.append(
                {
                    group: key,
                    "kpi": kpi,
                    "mean": ci.mean,
                    "ci_lo": ci.low,
                    "ci_hi": ci.high,
                    "n": ci.n,
                }
            )
    return pd.DataFrame(rows, columns=[group, "kpi", "mean", "ci_lo", "ci_hi", "n"])


def kpi_table(summary: pd.DataFrame, *, group: str = "policy") -> pd.DataFrame:
    """The KPI summary as a wide table for reading: one row per KPI, ``mean [lo, hi]`` per group."""

    def cell(row: pd.Series) -> str:
        if np.isfinite(row["ci_lo"]):
            return f"{row['mean']:.4g} [{row['ci_lo']:.4g}, {row['ci_hi']:.4g}]"
        return f"{row['mean']:.4g}"

    text = summary.assign(cell=summary.apply(cell, axis=1))
    return text.pivot(index="kpi", columns=group, values="cell").reindex(summary["kpi"].unique())


def find_studies(roots: Sequence[str | Path]) -> list[Path]:
    """Study directories (holding ``sweep.json`` and ``manifest.parquet``) in or under ``roots``.

    Looks at each root and its direct sub-directories; missing roots are skipped.
    """
    found: list[Path] = []
    for root in roots:
        base = Path(root)
        if not base.is_dir():
            continue
        for candidate in [base, *sorted(p for p in base.iterdir() if p.is_dir())]:
            if (candidate / "sweep.json").is_file() and (candidate / "manifest.parquet").is_file():
                found.append(candidate)
    return found


# --------------------------------------------------------------------------------------------------
# Live coordinator status
# --------------------------------------------------------------------------------------------------


class StatusUnavailableError(ValueError):
    """A live coordinator's status could not be read; the message says why, for the page."""


def fetch_status(url: str, *, timeout_s: float = 3.0) -> dict[str, Any]:
    """GET a live coordinator's JSON status endpoint.

    Parameters
    ----------
    url
        ``http://`` or ``https://`` URL of the status endpoint.
    timeout_s
        Connect and read timeout (seconds).

    Returns
    -------
    dict
        The decoded JSON object.

    Raises
    ------
    StatusUnavailableError
        If the URL is malformed, the server cannot be reached, answers with an HTTP error, or
        does not return a JSON object.
    """
    import httpx

    url = url.strip()
    if not url.startswith(("http://", "https://")):
        raise StatusUnavailableError(f"url: expected an http:// or https:// URL, got {url!r}")
    try:
        response = httpx.get(url, timeout=timeout_s, follow_redirects=True)
    except httpx.InvalidURL as exc:
        raise StatusUnavailableError(f"url: {url!r} is not a valid URL ({exc})") from exc
    except httpx.HTTPError as exc:
        raise StatusUnavailableError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise StatusUnavailableError(f"{url} answered HTTP {response.status_code}; expected 200")
    try:
        payload = response.json()
    except ValueError as exc:
        raise StatusUnavailableError(f"{url} did not return JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise StatusUnavailableError(
            f"{url} returned JSON {type(payload).__name__}; expected an object"
        )
    return payload


def status_tables(status: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Split a status object into scalar fields and tables (lists of records, or dicts of dicts).

    Returns
    -------
    scalars : dict
        Top-level fields holding numbers, strings, booleans or ``None``.
    tables : dict of DataFrame
        Top-level fields holding a list of objects (one row each) or a mapping of objects
        (one row per key, the key in column ``key``).
    """
    scalars: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    for key, value in status.items():
        if value is None or isinstance(value, str | int | float | bool):
            scalars[key] = value
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            tables[key] = pd.DataFrame(value)
        elif (
            isinstance(value, Mapping)
            and value
            and all(isinstance(v, Mapping) for v in value.values())
        ):
            tables[key] = pd.DataFrame([{"key": k, **v} for k, v in value.items()])
        elif isinstance(value, Mapping) and value:
            tables[key] = pd.DataFrame(
                {"field": list(value), "value": [str(v) for v in value.values()]}
            )
        else:
            scalars[key] = json.dumps(value, default=str)
    return scalars, tables


# --------------------------------------------------------------------------------------------------
# Scenarios: library, uploads, the main parameters as widgets
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# Running scenarios and shaping their results
# --------------------------------------------------------------------------------------------------


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


def simulation_available() -> bool:
    """Whether this build has the agent model's entry point ``sim.run``."""
    import sim

    try:
        return callable(sim.run)
    except (AttributeError, ImportError):
        return False


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


def replicate_seeds(seed: int, n: int) -> list[int]:
    """``n`` run seeds from one root seed, shared by every policy (common random numbers).

    Uses the study runner's derivation (``sim.sampling.run_seed``, design point 0), so a
    comparison in the explorer uses the same seeds as ``govsim compare`` with that entropy.
    """
    from sim.sampling import run_seed

    if n < 1:
        raise ValueError(f"seeds: expected at least 1, got {n}")
    return [int(run_seed(int(seed), 0, r)) for r in range(n)]


#: Chart panels of the Scenario page: title → substrings that put a column in it.
CHART_GROUPS: dict[str, tuple[str, ...]] = {
    "Prices": ("price",),
    "Emission shares": ("emission_share", "share"),
    "Income per role": ("income", "pnl", "earn", "dividend", "reward"),
    "Decentralisation": ("nakamoto", "gini", "hhi", "_nc", "nc_"),
}


def chart_groups(columns: Sequence[str]) -> dict[str, list[str]]:
    """Assign numeric time-series columns to the page's chart panels (first match wins).

    Returns
    -------
    dict
        Panel title → columns, only panels with at least one column; leftover columns go to
        ``"Other"``.
    """
    groups: dict[str, list[str]] = {title: [] for title in CHART_GROUPS}
    groups["Other"] = []
    for column in columns:
        lowered = column.lower()
        title = next(
            (t for t, needles in CHART_GROUPS.items() if any(n in lowered for n in needles)),
            "Other",
        )
        groups[title].append(column)
    return {title: cols for title, cols in groups.items() if cols}


def network_columns(timeseries: pd.DataFrame) -> list[str]:
    """Columns of a per-subnet time series that hold one network-wide value per time.

    The model repeats network quantities (TAO price, premium, HHI...) on every subnet's row; a
    column is network-wide when it has a single value at every recorded time.
    """
    if "netuid" not in timeseries.columns:
        return list(timeseries.columns)
    time = time_column(timeseries)
    candidates = [c for c in timeseries.columns if c not in {"netuid", time}]
    if not candidates:
        return []
    unique = timeseries.groupby(time)[candidates].nunique(dropna=False).max()
    return [c for c in candidates if unique[c] <= 1]


def nakamoto(shares: np.ndarray, threshold: float = 0.5) -> int:
    """Nakamoto coefficient: the fewest entities whose shares add up to more than ``threshold``.

    Examples
    --------
    >>> nakamoto(np.array([0.4, 0.3, 0.2, 0.1]))
    2
    """
    ordered = np.sort(np.asarray(shares, dtype=np.float64))[::-1]
    total = ordered.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(ordered) / total, threshold, side="right") + 1)


#: Per-subnet columns that add up across subnets (their sum is a network total).
ADDITIVE_PREFIXES: tuple[str, ...] = ("income_", "stake_", "pool_")


def network_frame(timeseries: pd.DataFrame) -> pd.DataFrame:
    """One row per recorded time with network-wide columns.

    Network-wide columns (see :func:`network_columns`) are kept; additive per-subnet columns
    (``income_*``, ``stake_*``, ``pool_*``) are summed over subnets; from ``emission_share``
    the Nakamoto coefficient of emission (``emission_nakamoto_50``) is derived.
    """
    if "netuid" not in timeseries.columns:
        return timeseries.reset_index(drop=True)
    time = time_column(timeseries)
    grouped = timeseries.groupby(time, sort=True)
    keep = [c for c in network_columns(timeseries) if c != time]
    out = grouped[keep].first() if keep else pd.DataFrame(index=grouped.size().index)
    additive = [
        c
        for c in timeseries.columns
        if c.startswith(ADDITIVE_PREFIXES)
        and c not in keep
        and pd.api.types.is_numeric_dtype(timeseries[c])
    ]
    if additive:
        out = out.join(grouped[additive].sum())
    if "emission_share" in timeseries.columns:
        out["emission_nakamoto_50"] = grouped["emission_share"].apply(
            lambda x: nakamoto(x.to_numpy())
        )
    return out.reset_index()


def subnet_frame(timeseries: pd.DataFrame) -> pd.DataFrame:
    """Per-subnet columns only (``time, netuid, ...``), ``netuid`` as ``"SN<i>"`` for colours."""
    if "netuid" not in timeseries.columns:
        return pd.DataFrame()
    time = time_column(timeseries)
    network = set(network_columns(timeseries))
    columns = [c for c in timeseries.columns if c not in network and c not in {time, "netuid"}]
    out = timeseries[[time, "netuid", *columns]].dropna(subset=["netuid"]).copy()
    out["netuid"] = "SN" + out["netuid"].astype(int).astype(str)
    return out


def long_series(
    frame: pd.DataFrame, columns: Sequence[str], *, time: str | None = None
) -> pd.DataFrame:
    """A tidy ``time, series, value`` table of ``columns`` for a multi-line chart."""
    time = time or time_column(frame)
    return frame[[time, *columns]].melt(id_vars=[time], var_name="series", value_name="value")


#: Event fields that make up a timeline label, in order.
EVENT_LABEL_COLUMNS: tuple[str, ...] = ("kind", "lever", "netuid", "intent", "detail")


def event_marks(events: pd.DataFrame, *, time: str) -> pd.DataFrame:
    """Governance events as ``time, label`` rows for rules on a timeline.

    Event times are converted to the chart's time unit: ``day`` from ``block`` (7 200 blocks a
    day) and back. Rows without a time are dropped.
    """
    from protocol.units import BLOCKS_PER_DAY

    if events.empty:
        return pd.DataFrame(columns=[time, "label"])
    if time in events.columns:
        when = pd.to_numeric(events[time], errors="coerce")
    elif time in {"day", "days", "time_days"} and "block" in events.columns:
        when = pd.to_numeric(events["block"], errors="coerce") / BLOCKS_PER_DAY
    elif time == "block":
        day_col = next((c for c in ("day", "days", "time_days") if c in events.columns), None)
        when = pd.to_numeric(events[day_col], errors="coerce") * BLOCKS_PER_DAY if day_col else None
    else:
        when = None
    if when is None:
        return pd.DataFrame(columns=[time, "label"])
    label_parts = [c for c in EVENT_LABEL_COLUMNS if c in events.columns]

    def text(value: Any) -> str:
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)

    def label(row: pd.Series) -> str:
        parts = [
            text(v) for v in row if v is not None and not (isinstance(v, float) and np.isnan(v))
        ]
        return " ".join(parts) or "event"

    labels = (
        events[label_parts].apply(label, axis=1)
        if label_parts
        else pd.Series("event", index=events.index)
    )
    out = pd.DataFrame({time: when, "label": labels}).dropna(subset=[time])
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class StackedRuns:
    """Several runs' tables stacked, each row tagged with ``policy``, ``replication``, ``seed``."""

    timeseries: pd.DataFrame
    kpis: pd.DataFrame
    events: pd.DataFrame


def stack_runs(runs: Sequence[tuple[str, int, int, RunTables]]) -> StackedRuns:
    """Stack ``(policy, replication, seed, tables)`` runs into long tables for comparison.

    Raises
    ------
    ValueError
        If ``runs`` is empty.
    """
    if not runs:
        raise ValueError("runs: nothing to stack; expected at least one run")

    def tagged(frame: pd.DataFrame, policy: str, replication: int, seed: int) -> pd.DataFrame:
        return frame.assign(policy=policy, replication=replication, seed=seed)

    series = [tagged(t.timeseries, p, r, s) for p, r, s, t in runs]
    events = [tagged(t.events, p, r, s) for p, r, s, t in runs if not t.events.empty]
    kpis = pd.DataFrame(
        [{"policy": p, "replication": r, "seed": s, **t.kpis} for p, r, s, t in runs]
    )
    return StackedRuns(
        timeseries=pd.concat(series, ignore_index=True),
        kpis=kpis,
        events=pd.concat(events, ignore_index=True) if events else pd.DataFrame(),
    )


def network_frame_by_run(
    timeseries: pd.DataFrame, keys: Sequence[str] = ("policy", "replication", "seed")
) -> pd.DataFrame:
    """:func:`network_frame` of each run in a stacked time series, keeping the run's ``keys``."""
    keys = [c for c in keys if c in timeseries.columns]
    if not keys:
        return network_frame(timeseries)
    parts = [
        network_frame(part.drop(columns=keys)).assign(**dict(zip(keys, key, strict=True)))
        for key, part in timeseries.groupby(keys, sort=False)
    ]
    return pd.concat(parts, ignore_index=True)


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Parquet file bytes (for a download button); object cells become strings."""
    import io

    buffer = io.BytesIO()
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object:
            safe[column] = safe[column].map(
                lambda v: v if v is None or isinstance(v, str) else str(v)
            )
    safe.to_parquet(buffer, index=False)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------
# Ground truth (protocol.training)
# --------------------------------------------------------------------------------------------------


def ground_truth_available() -> bool:
    """Whether this build has the ground-truth training round (``protocol.training.run_round``)."""
    try:
        import protocol.training as training
    except ImportError:
        return False
    return hasattr(training, "run_round")


def ground_truth_configs() -> list[str]:
    """Named training configurations that run on a CPU in seconds (``cpu-*``), smallest first."""
    from protocol.training import CONFIGS

    return [name for name in CONFIGS if name.startswith("cpu")]


def run_ground_truth(
    config_name: str, *, seed: int, windows: int, device: str = "cpu"
) -> pd.DataFrame:
    """Run ``windows`` windows of a named training configuration; one row per (window, uid).

    Parameters
    ----------
    config_name
        A key of ``protocol.training.CONFIGS`` (``"cpu-tiny"`` takes seconds on a CPU).
    seed
        The run's one seed.
    windows
        Number of windows (rounds) to run, ≥ 1.
    device
        Torch device.

    Returns
    -------
    DataFrame
        ``RoundMetrics.to_rows()`` of every window: ``window, uid, role, status, final_score,
        weight, incentive, ...`` plus round-level fields (``held_out_loss``...).

    Raises
    ------
    ValueError
        For an unknown configuration or ``windows < 1``.
    """
    from protocol.training import get_config, init_run, run_round

    if windows < 1:
        raise ValueError(f"windows: expected at least 1, got {windows}")
    try:
        config = get_config(config_name)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    state = init_run(config, seed=int(seed), device=device)
    rows: list[dict[str, Any]] = []
    for _ in range(windows):
        rows.extend(run_round(state).to_rows())
    return pd.DataFrame(rows)


def scores_by_strategy(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean outcome per miner strategy over all windows, best (highest mean weight) first.

    Returns
    -------
    DataFrame
        ``strategy, miners, mean_weight, mean_final_score, mean_incentive, weight_share``;
        ``weight_share`` is the strategy's share of all weight given to miners.
    """
    per_strategy = rows.groupby("role", sort=False).agg(
        miners=("uid", "nunique"),
        mean_weight=("weight", "mean"),
        mean_final_score=("final_score", "mean"),
        mean_incentive=("incentive", "mean"),
        total_weight=("weight", "sum"),
    )
    total = per_strategy["total_weight"].sum()
    per_strategy["weight_share"] = per_strategy["total_weight"] / total if total > 0 else 0.0
    out = (
        per_strategy.drop(columns=["total_weight"])
        .reset_index()
        .rename(columns={"role": "strategy"})
    )
    return out.sort_values(
        ["mean_weight", "strategy"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def honest_share(rows: pd.DataFrame) -> float:
    """Share of all miner weight, over all windows, that went to honest miners."""
    total = float(rows["weight"].sum())
    if total <= 0:
        return 0.0
    return float(rows.loc[rows["role"] == "honest", "weight"].sum()) / total


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


#: Policies the Compare page starts with when the scenario names none: the status quo, the
#: proposed on-chain governance and a timelocked multisig.
DEFAULT_COMPARE_POLICIES: tuple[str, ...] = ("sudo", "v2_two_stage", "timelock")


def default_policies(available: Sequence[str], preferred: Sequence[str] = ()) -> list[str]:
    """The Compare page's initial policy choice: ``preferred`` if given, else the defaults."""
    chosen = [p for p in preferred if p in available]
    if chosen:
        return chosen
    chosen = [p for p in DEFAULT_COMPARE_POLICIES if p in available]
    return chosen or list(available[:3])


def split_constant_kpis(
    kpis: pd.DataFrame, *, group: str = "policy"
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Separate KPIs that are the same in every run (counts, settings) from those that vary.

    Returns
    -------
    varying : DataFrame
        ``kpis`` without the constant numeric columns.
    constant : dict
        The constant KPIs and their value.
    """
    constant: dict[str, Any] = {}
    for column in numeric_columns(kpis, exclude=(group,)):
        values = kpis[column].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == values.size and finite.size and np.all(finite == finite[0]):
            constant[column] = kpis[column].iloc[0]
    return kpis.drop(columns=list(constant)), constant


#: Headline numbers of a live coordinator's ``/v1/status``: label → dotted path.
LIVE_METRICS: dict[str, str] = {
    "Window now": "clock.window",
    "Last closed window": "last_closed_window",
    "Global step": "model.global_step",
    "Training config": "network.training_config",
}


def dotted(data: Mapping[str, Any], path: str) -> Any:
    """``data["a"]["b"]`` for ``path="a.b"``; ``None`` where a key is missing."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def live_metrics(status: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(label, value)`` headline numbers of a coordinator status, plus the miner count."""
    out = [(label, dotted(status, path)) for label, path in LIVE_METRICS.items()]
    out = [(label, value) for label, value in out if value is not None]
    if isinstance(status.get("miners"), list):
        out.append(("Miners", len(status["miners"])))
    return out


@dataclass(frozen=True)
class LiveNetworkView:
    """The simulated network around a live subnet, shaped for the page.

    Attributes
    ----------
    metrics
        ``(label, value)`` headline numbers (scenario, policy, live netuid, simulated day, alpha
        price, SubnetEmissionEnabled).
    payments
        One row per recent window: ``window, day, emission_tao, alpha_price, emission_share,
        emission_enabled``.
    events
        The network's recent events (governance executions, shocks), one row each.
    """

    metrics: list[tuple[str, Any]]
    payments: pd.DataFrame
    events: pd.DataFrame


def live_network(status: Mapping[str, Any]) -> LiveNetworkView | None:
    """The ``simulated_network`` part of a coordinator status, or None when it has none."""
    net = status.get("simulated_network")
    if not isinstance(net, Mapping):
        return None
    last = net.get("last_window") if isinstance(net.get("last_window"), Mapping) else {}
    metrics = [
        ("Scenario", net.get("scenario")),
        ("Policy", net.get("policy")),
        ("Live netuid", net.get("netuid")),
        ("Simulated day", None if "day" not in last else round(float(last["day"]), 2)),
        ("Alpha price (TAO)", None if "alpha_price" not in last else f"{last['alpha_price']:.5f}"),
        ("Emission enabled", last.get("emission_enabled")),
    ]
    columns = ["window", "day", "emission_tao", "alpha_price", "emission_share", "emission_enabled"]
    rows = [
        {c: w["network"].get(c) for c in columns}
        for w in status.get("windows") or []
        if isinstance(w, Mapping) and isinstance(w.get("network"), Mapping)
    ]
    events = [e for e in net.get("events") or [] if isinstance(e, Mapping)]
    return LiveNetworkView(
        metrics=[(label, value) for label, value in metrics if value is not None],
        payments=pd.DataFrame(rows, columns=columns),
        events=pd.DataFrame(
            [{k: v if isinstance(v, str | int | float | bool) else str(v) for k, v in e.items()}
             for e in events]
        ),
    )


def live_windows(status: Mapping[str, Any]) -> pd.DataFrame:
    """The recent scored windows as a table of their scalar fields (one row per window)."""
    windows = status.get("windows")
    if not isinstance(windows, list) or not windows:
        return pd.DataFrame()
    rows = [
        {k: v for k, v in w.items() if v is None or isinstance(v, str | int | float | bool)}
        for w in windows
        if isinstance(w, Mapping)
    ]
    return pd.DataFrame(rows)
