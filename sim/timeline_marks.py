"""What the report's timelines mark: the scenario's timed shocks and the governance actions
that executed, and nothing else.

A study's event log holds every proposal, approval, miner move and side effect (over a hundred
events in a ``covenant_2026`` run); drawn as rules they hide the one day that matters. The
report marks two things only:

- **shocks**: the scenario's ``[[shocks]]`` at their day (the same under every policy), e.g.
  ``intervention set_registration_allowed SN0``;
- **governance actions**: the ``executed`` events (reversals included) per policy, at the
  median day over the seeds where the action executed, labelled with how many seeds executed
  it (``sudo: halt_chain (8/8 seeds)``).

:func:`report_marks` shapes them from the stored tables (pure); :func:`draw_marks` draws them
on a matplotlib axis as labelled vertical rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MARK_COLUMNS", "draw_marks", "executed_marks", "report_marks", "shock_marks"]

#: The columns of a marks table.
MARK_COLUMNS: tuple[str, ...] = ("day", "label", "category", "policy")


def _subnet(netuid: Any) -> str | None:
    if netuid is None or (isinstance(netuid, float) and np.isnan(netuid)):
        return None
    return f"SN{int(netuid)}"


def shock_marks(configs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The timed shocks of the study's scenarios (one mark per distinct day and label).

    Parameters
    ----------
    configs
        The scenarios' configs as dicts (``SimConfig.model_dump()`` or the store's JSON).
    """
    rows = []
    for config in configs:
        for shock in config.get("shocks") or ():
            lever = shock.get("lever") if isinstance(shock.get("lever"), Mapping) else {}
            target = _subnet(shock.get("netuid", lever.get("netuid")))
            words = [shock["kind"], lever.get("kind"), target]
            rows.append(
                {
                    "day": float(shock["day"]),
                    "label": " ".join(str(w) for w in words if w),
                    "category": "shock",
                    "policy": None,
                }
            )
    frame = pd.DataFrame(rows, columns=list(MARK_COLUMNS))
    return frame.drop_duplicates(subset=["day", "label"]).reset_index(drop=True)


def _lever_label(row: Mapping[str, Any]) -> str:
    detail: dict[str, Any] = {}
    raw = row.get("lever_detail")
    if isinstance(raw, str) and raw:
        try:
            detail = json.loads(raw)
        except ValueError:
            detail = {}
    lever = row.get("lever")
    name = lever if isinstance(lever, str) and lever else str(detail.get("kind") or "action")
    target = _subnet(detail.get("netuid", row.get("netuid")))
    words = [name, target, "(reversal)" if row.get("reversal") is True else None]
    return " ".join(w for w in words if w)


def executed_marks(events: pd.DataFrame) -> pd.DataFrame:
    """The governance actions that executed, per policy and action, at their median day over
    the runs that executed them, labelled ``policy: action (k/n seeds)``.

    Parameters
    ----------
    events
        The study's event log (``store.table("events")``): ``policy``, ``run_id``, ``day``,
        ``kind``, ``lever`` [, ``lever_detail``, ``netuid``, ``reversal``].
    """
    needed = {"kind", "day", "policy"}
    if events.empty or not needed <= set(events.columns):
        return pd.DataFrame(columns=list(MARK_COLUMNS))
    runs_by_policy = (
        events.groupby("policy", sort=False)["run_id"].nunique()
        if "run_id" in events.columns
        else None
    )
    executed = events[events["kind"] == "executed"]
    if executed.empty:
        return pd.DataFrame(columns=list(MARK_COLUMNS))
    executed = executed.assign(action=[_lever_label(r) for r in executed.to_dict("records")])
    rows = []
    for (policy, action), group in executed.groupby(["policy", "action"], sort=False):
        runs = group["run_id"].nunique() if "run_id" in group.columns else len(group)
        total = int(runs_by_policy[policy]) if runs_by_policy is not None else runs
        rows.append(
            {
                "day": float(np.median(pd.to_numeric(group["day"], errors="coerce"))),
                "label": f"{policy}: {action} ({runs}/{total} seeds)",
                "category": "governance",
                "policy": str(policy),
            }
        )
    return pd.DataFrame(rows, columns=list(MARK_COLUMNS))


def report_marks(
    events: pd.DataFrame,
    configs: Sequence[Mapping[str, Any]],
    policies: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Shocks and executed governance actions, by day (``day, label, category, policy``).

    Parameters
    ----------
    events
        The study's event log.
    configs
        The study's scenario configs (their ``shocks``).
    policies
        Keep only these policies' actions (default: every policy's).
    """
    actions = executed_marks(events)
    if policies is not None:
        actions = actions[actions["policy"].isin(list(policies))]
    parts = [p for p in (shock_marks(configs), actions) if not p.empty]
    if not parts:
        return pd.DataFrame(columns=list(MARK_COLUMNS))
    marks = pd.concat(parts, ignore_index=True).dropna(subset=["day"])
    return marks.sort_values("day", kind="stable").reset_index(drop=True)


def draw_marks(
    ax: Any, marks: pd.DataFrame, *, time: str = "day", colors: Mapping[str, Any] | None = None
) -> None:
    """Draw ``marks`` on ``ax`` as numbered vertical rules, with a key below the axis.

    Shocks are dark dashed rules; governance actions dotted rules in their policy's colour
    (``colors``, else red). Each rule carries a number at the top; the key under the plot
    says what each number is (labels along the rules would overprint when marks are close).
    ``time`` is the axis' unit: ``day`` (or ``days``/``time_days``) or ``block`` (7 200 blocks
    a day).
    """
    from protocol.units import BLOCKS_PER_DAY

    if marks.empty:
        return
    factor = float(BLOCKS_PER_DAY) if time == "block" else 1.0
    unit = "block" if time == "block" else "day"
    seen: dict[float, int] = {}
    key = []
    for number, row in enumerate(marks.itertuples(index=False), start=1):
        x = float(row.day) * factor
        shock = row.category == "shock"
        color = "#333333" if shock else (colors or {}).get(row.policy, "#c0392b")
        ax.axvline(x, color=color, lw=1.0, ls="--" if shock else ":", alpha=0.8, zorder=1)
        # Numbers at the same time stack downwards instead of overprinting.
        slot = seen.get(round(x, 6), 0)
        seen[round(x, 6)] = slot + 1
        ax.text(
            x,
            0.99 - 0.07 * slot,
            f"{number}",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=6.5,
            color=color,
            clip_on=True,
            bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 0.6},
        )
        kind = "shock" if shock else "executed"
        key.append(f"{number}: {unit} {x:.4g}, {kind}: {row.label}")
    columns = 2 if len(key) > 4 else 1
    rows = -(-len(key) // columns)
    text = "\n".join(
        "    ".join(
            key[r + c * rows].ljust(60) for c in range(columns) if r + c * rows < len(key)
        ).rstrip()
        for r in range(rows)
    )
    ax.text(
        0.0,
        -0.2,
        text,
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=6,
        family="monospace",
        color="#333333",
    )
