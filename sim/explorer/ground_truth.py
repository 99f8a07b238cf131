"""The Ground truth & live page's data: a CPU training round by strategy, a coordinator's status.

The ground-truth round is ``protocol.training`` (``init_run`` / ``run_round``); the live status is
the JSON a ``govsim live serve`` coordinator answers at ``/v1/status`` (see docs/live.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sim.live import default_coordinator_url

__all__ = [
    "LiveNetworkView",
    "StatusUnavailableError",
    "fetch_status",
    "ground_truth_configs",
    "honest_share",
    "live_metrics",
    "live_network",
    "live_windows",
    "run_ground_truth",
    "scores_by_strategy",
    "status_tables",
]


# -- ground truth (protocol.training) ---------------------------------------------------------


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


# -- a live coordinator's status ------------------------------------------------------------

#: Where ``govsim live serve`` answers with its defaults (``sim.live.DEFAULT_PORT``).
DEFAULT_STATUS_URL: str = f"{default_coordinator_url()}/v1/status"


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
    import http.client
    import urllib.error
    import urllib.request

    url = url.strip()
    if not url.startswith(("http://", "https://")):
        raise StatusUnavailableError(f"url: expected an http:// or https:// URL, got {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # follows redirects
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise StatusUnavailableError(f"{url} answered HTTP {exc.code}; expected 200") from exc
    except (http.client.InvalidURL, ValueError) as exc:
        raise StatusUnavailableError(f"url: {url!r} is not a valid URL ({exc})") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StatusUnavailableError(f"cannot reach {url}: {type(exc).__name__}: {reason}") from exc
    try:
        payload = json.loads(body)
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


#: Headline numbers of a live coordinator's ``/v1/status``: label → dotted path.
_LIVE_METRICS: dict[str, str] = {
    "Window now": "clock.window",
    "Last closed window": "last_closed_window",
    "Global step": "model.global_step",
    "Training config": "network.training_config",
}


def _dotted(data: Mapping[str, Any], path: str) -> Any:
    """``data["a"]["b"]`` for ``path="a.b"``; ``None`` where a key is missing."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def live_metrics(status: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(label, value)`` headline numbers of a coordinator status, plus the miner count."""
    out = [(label, _dotted(status, path)) for label, path in _LIVE_METRICS.items()]
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
            [
                {k: v if isinstance(v, str | int | float | bool) else str(v) for k, v in e.items()}
                for e in events
            ]
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
