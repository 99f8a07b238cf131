"""The stake/weight graph of a subnet: who weights whom, with stake on the nodes (networkx).

Drawn by the Scenario page (the network at the end of a run) and the Yuma playground.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd

__all__ = ["graph_frames", "stake_weight_graph"]


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
