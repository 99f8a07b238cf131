"""The Yuma playground's data: a toy subnet in the chain's state format, stepped epoch by epoch.

Each epoch runs twice, in float64 (``protocol.yuma.replay.float_epoch_from_state``) and in the
chain-exact fixed-point mode (``protocol.yuma.replay_states``), each carrying its own bonds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from protocol.units import RAO_PER_TAO, U16_MAX

__all__ = [
    "PLAYGROUND_MAX_UIDS",
    "PLAYGROUND_PRESETS",
    "PLAYGROUND_START_BLOCK",
    "PLAYGROUND_TEMPO",
    "bonds_frame",
    "mode_gaps",
    "playground_epoch",
    "playground_params",
    "playground_preset",
    "playground_state",
    "playground_wide",
    "validate_playground",
]

#: Tempo of the playground's toy subnet; only the block arithmetic depends on it.
PLAYGROUND_TEMPO = 360
#: The playground's first epoch block (any block well past registration works).
PLAYGROUND_START_BLOCK = 10_000
#: Largest playground the editor offers: the point is to read every number.
PLAYGROUND_MAX_UIDS = 16


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
