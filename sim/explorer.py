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
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from protocol.units import RAO_PER_TAO, U16_MAX

__all__ = [
    "PLAYGROUND_PRESETS",
    "PLAYGROUND_TEMPO",
    "graph_frames",
    "playground_preset",
    "playground_state",
    "stable_hash",
    "stake_weight_graph",
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
    n = len(stake_tao)
    block = PLAYGROUND_START_BLOCK + epoch * PLAYGROUND_TEMPO
    bonds = [dict(b) for b in bonds_u16] if bonds_u16 is not None else [{} for _ in range(n)]
    return {
        "source": "govsim explorer: Yuma playground",
        "n": n,
        "block": block,
        "tempo": PLAYGROUND_TEMPO,
        "last_update": [block - 1] * n,
        "reg": [0] * n,
        "stake": [round(float(s) * RAO_PER_TAO) for s in stake_tao],
        "hotkeys": [f"uid{u}" for u in range(n)],
        "validator_permit_prev": [],
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
    min_weight: float = 0.0,
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
    min_weight
        Drop edges whose normalised weight is at or below this share.

    Returns
    -------
    networkx.DiGraph
        Node attributes ``stake``, ``role`` (``"validator"`` for uids that set weights and hold
        stake, otherwise ``"miner"``) and ``received`` (stake-weighted share of all votes); edge
        attribute ``weight``.
    """
    stake_arr = np.asarray(stake, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n = stake_arr.shape[0]
    if w.shape != (n, n):
        raise ValueError(f"weights: expected shape ({n}, {n}), got {w.shape}")
    names = list(labels) if labels is not None else [f"uid{i}" for i in range(n)]
    row_sums = w.sum(axis=1, keepdims=True)
    shares = np.divide(w, row_sums, out=np.zeros_like(w), where=row_sums > 0)
    stake_share = stake_arr / stake_arr.sum() if stake_arr.sum() > 0 else np.zeros(n)
    received = stake_share @ shares
    graph = nx.DiGraph()
    for i in range(n):
        is_validator = bool(row_sums[i, 0] > 0 and stake_arr[i] > 0)
        graph.add_node(
            names[i],
            stake=float(stake_arr[i]),
            role="validator" if is_validator else "miner",
            received=float(received[i]),
        )
    for i, j in zip(*np.nonzero(shares > min_weight), strict=True):
        if i != j and stake_arr[i] > 0:
            graph.add_edge(names[i], names[j], weight=float(shares[i, j]))
    return graph


def graph_frames(graph: nx.DiGraph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node and edge tables with coordinates, for drawing the graph with Altair.

    Validators sit in a left column ordered by stake, miners in a right column ordered by the
    votes they receive; the layout is deterministic (no random spring layout).

    Returns
    -------
    nodes : DataFrame
        ``node, role, stake, received, x, y``.
    edges : DataFrame
        ``source, target, weight, x, y, x2, y2``.
    """
    rows = [{"node": node, **data} for node, data in graph.nodes(data=True)]
    nodes = pd.DataFrame(rows, columns=["node", "role", "stake", "received"])
    nodes["x"] = np.where(nodes["role"] == "validator", 0.0, 1.0)
    nodes["y"] = 0.0
    for role, key in (("validator", "stake"), ("miner", "received")):
        mask = nodes["role"] == role
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


def playground_params(*, kappa: float, bond_alpha: float, yuma3: bool, liquid_alpha: bool) -> Any:
    """Epoch parameters for the playground's sliders.

    Parameters
    ----------
    kappa
        Consensus majority threshold κ in [0, 1].
    bond_alpha
        Weight of the new bond value in the bond EMA (``1 - BondsMovingAverage``), in (0, 1].
    yuma3, liquid_alpha
        Bond path switches.

    Returns
    -------
    protocol.yuma.EpochParams
        With the playground's tempo.

    Raises
    ------
    ValueError
        If a value is outside the range the chain accepts.
    """
    from protocol.yuma import EpochParams

    return EpochParams(
        kappa=kappa,
        bonds_moving_average=1.0 - bond_alpha,
        yuma3=yuma3,
        liquid_alpha=liquid_alpha,
        tempo=PLAYGROUND_TEMPO,
    )


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


def numeric_columns(frame: pd.DataFrame, *, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric, non-constant-key columns of ``frame`` (what can be charted), in frame order."""
    skip = set(exclude) | set(TIME_COLUMNS) | {"seed", "replication", "attempt", "netuid", "uid"}
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
                {group: key, "kpi": kpi, "mean": ci.mean, "ci_lo": ci.low, "ci_hi": ci.high, "n": ci.n}
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


class StatusUnavailable(ValueError):
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
    StatusUnavailable
        If the URL is malformed, the server cannot be reached, answers with an HTTP error, or
        does not return a JSON object.
    """
    import httpx

    url = url.strip()
    if not url.startswith(("http://", "https://")):
        raise StatusUnavailable(f"url: expected an http:// or https:// URL, got {url!r}")
    try:
        response = httpx.get(url, timeout=timeout_s, follow_redirects=True)
    except httpx.InvalidURL as exc:
        raise StatusUnavailable(f"url: {url!r} is not a valid URL ({exc})") from exc
    except httpx.HTTPError as exc:
        raise StatusUnavailable(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise StatusUnavailable(f"{url} answered HTTP {response.status_code}; expected 200")
    try:
        payload = response.json()
    except ValueError as exc:
        raise StatusUnavailable(f"{url} did not return JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise StatusUnavailable(f"{url} returned JSON {type(payload).__name__}; expected an object")
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
        elif isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
            tables[key] = pd.DataFrame([{"key": k, **v} for k, v in value.items()])
        elif isinstance(value, Mapping) and value:
            tables[key] = pd.DataFrame({"field": list(value), "value": [str(v) for v in value.values()]})
        else:
            scalars[key] = json.dumps(value, default=str)
    return scalars, tables
