"""``replay_states``: run JSON subnet states through the epoch in exact or float mode (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from protocol.yuma.epoch import yuma_epoch
from protocol.yuma.exact_epoch import dense_rows, exact_epoch
from protocol.yuma.state import StateError, SubnetState, parse_state

__all__ = [
    "INT64_MAX",
    "MAX_REPLAY_STATES",
    "MAX_REPLAY_UIDS",
    "OUTPUT_KEYS",
    "float_epoch_from_state",
    "replay_states",
    "state_tensors",
]

Mode = Literal["exact", "float"]

#: Keys of every output object (plus ``block``).
OUTPUT_KEYS: tuple[str, ...] = (
    "consensus_u16", "incentive_u16", "dividends_u16", "validator_trust_u16", "server_emission",
    "validator_emission", "emission", "bonds", "validator_permit", "active",
)  # fmt: skip

_NO_COMMIT = 2**62
#: Largest block number (and lms) the float path holds: torch's int64.
INT64_MAX = 2**63 - 1
#: Most uids a replayed state may have (the float path builds dense n x n matrices).
MAX_REPLAY_UIDS = 4096
#: Most states in one replayed list.
MAX_REPLAY_STATES = 100_000
# float → u16 storage: floor, forgiving float noise just below an integer
_U16_EPS = 1e-9


def _sparse_json(rows: Sequence[Mapping[int, int]]) -> list[dict[str, int]]:
    return [{str(j): int(v) for j, v in row.items()} for row in rows]


def state_tensors(state: SubnetState, bonds: torch.Tensor | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`~protocol.yuma.yuma_epoch` for one (unbatched) state.

    ``bonds`` overrides the state's u16 bonds with float bonds (used to chain float epochs
    without re-quantising).
    """
    n = state.n
    w_values, w_present = dense_rows(state.weights, n)
    weights = torch.from_numpy(w_values.astype(np.float64))
    present = torch.from_numpy(w_present)
    if bonds is None:
        bonds = torch.from_numpy(dense_rows(state.bonds, n)[0] / 65535.0)
    commit = None
    if state.commit_reveal is not None:
        commit = torch.tensor(
            [_NO_COMMIT if c is None else min(c, _NO_COMMIT) for c in state.commit_reveal],
            dtype=torch.int64,
        )
    return {
        "weights": weights,
        "stake": torch.tensor([float(s) for s in state.stake], dtype=torch.float64),
        "bonds": bonds,
        "params": state.params(),
        "rao_emission": float(state.rao_emission),
        "last_update": torch.tensor(state.last_update, dtype=torch.int64),
        "registration": torch.tensor(state.reg, dtype=torch.int64),
        "block": state.block,
        # [] is the chain's empty vector: an empty tensor (HEAD drops every weight row)
        "validator_permit_prev": torch.tensor(state.validator_permit_prev, dtype=torch.bool),
        "owner_uid": -1 if state.owner_uid is None else state.owner_uid,
        "commit_block": commit,
        "lms": state.lms,
        "weights_present": present,
    }


def _u16(x: torch.Tensor) -> list[int]:
    return np.clip(np.floor(x.numpy() * 65535.0 + _U16_EPS), 0, 65535).astype(int).tolist()


def float_epoch_from_state(
    state: SubnetState, bonds: torch.Tensor | None = None
) -> tuple[dict[str, Any], torch.Tensor]:
    """One float epoch on a state: the output dict and the float bonds (for chaining)."""
    result = yuma_epoch(**state_tensors(state, bonds))
    stored = np.clip(np.floor(result.bonds.numpy() * 65535.0 + _U16_EPS), 0, 65535).astype(np.int64)
    rows, cols = np.nonzero(stored)
    bond_rows: list[dict[int, int]] = [{} for _ in range(state.n)]
    for i, j, v in zip(rows.tolist(), cols.tolist(), stored[rows, cols].tolist(), strict=True):
        bond_rows[i][j] = v
    out = {
        "block": state.block,
        "consensus_u16": _u16(result.consensus),
        "incentive_u16": _u16(result.incentive),
        "dividends_u16": _u16(result.dividends),
        "validator_trust_u16": _u16(result.validator_trust),
        "server_emission": result.server_emission.tolist(),
        "validator_emission": result.validator_emission.tolist(),
        "emission": result.emission.tolist(),
        "bonds": _sparse_json(bond_rows),
        "validator_permit": result.validator_permit.tolist(),
        "active": result.active.tolist(),
    }
    return out, result.bonds


def _exact_output(state: SubnetState) -> dict[str, Any]:
    result = exact_epoch(state)
    return {
        "block": state.block,
        "consensus_u16": result.consensus_u16,
        "incentive_u16": result.incentive_u16,
        "dividends_u16": result.dividends_u16,
        "validator_trust_u16": result.validator_trust_u16,
        "server_emission": result.server_emission,
        "validator_emission": result.validator_emission,
        "emission": result.emission,
        "bonds": _sparse_json(result.bonds),
        "validator_permit": result.validator_permit,
        "active": result.active,
    }


def _check_replayable(state: SubnetState, mode: Mode) -> None:
    """Refuse what the epoch paths cannot hold: too many uids, and block numbers above
    int64 where they become int64 arrays (per-uid blocks in both modes; every block number in
    float mode, whose tensors are int64)."""
    if state.n > MAX_REPLAY_UIDS:
        raise StateError(f"n: expected at most {MAX_REPLAY_UIDS} uids to replay, got {state.n}")
    checks: dict[str, tuple[int, ...]] = {"last_update": state.last_update, "reg": state.reg}
    if mode == "float":
        checks.update(
            block=(state.block,),
            lms=(state.lms,),
            commit_reveal=tuple(c for c in state.commit_reveal or () if c is not None),
        )
    for key, values in checks.items():
        for i, value in enumerate(values):
            if value > INT64_MAX:
                where = key if key in ("block", "lms") else f"{key}[{i}]"
                hint = "; use exact mode" if key in ("block", "lms", "commit_reveal") else ""
                raise StateError(
                    f"{where}: expected at most 2^63 - 1 in {mode} mode (the epoch "
                    f"stores it as int64), got {value}{hint}"
                )


def replay_states(
    states: Sequence[Mapping[str, Any]] | Mapping[str, Any], mode: Mode = "exact"
) -> list[dict[str, Any]]:
    """Replay one state or a list of consecutive epochs of one subnet.

    Parameters
    ----------
    states
        A JSON state object, or a list of them for consecutive epochs. In a list, a later state's
        omitted keys take the previous state's values, except ``bonds`` and
        ``validator_permit_prev``, which carry over from the previous epoch's outputs, and
        ``block``, which advances by ``tempo``.
    mode
        ``"exact"`` (chain integers) or ``"float"`` (float64 torch; float bonds are carried
        between chained epochs without u16 quantisation).

    Returns
    -------
    list[dict]
        One output object per state (keys :data:`OUTPUT_KEYS` plus ``block``).

    Raises
    ------
    StateError
        For invalid states; the message names the state index and the key.
    """
    if mode not in ("exact", "float"):
        raise StateError(f"mode: expected 'exact' or 'float', got {mode!r}")
    if isinstance(states, Mapping):
        items: Sequence[Any] = [states]
    elif isinstance(states, list | tuple):
        items = states
    else:
        raise StateError(
            f"states: expected a JSON object or a list of objects, got {type(states).__name__}"
        )
    if not items:
        raise StateError("states: expected at least one state, got an empty list")
    if len(items) > MAX_REPLAY_STATES:
        raise StateError(f"states: expected at most {MAX_REPLAY_STATES} states, got {len(items)}")
    outputs: list[dict[str, Any]] = []
    previous: SubnetState | None = None
    float_bonds: torch.Tensor | None = None
    for index, obj in enumerate(items):
        where = f"state {index}: " if len(items) > 1 else ""
        state = parse_state(obj, previous, where=where)
        try:
            _check_replayable(state, mode)
        except StateError as exc:
            raise StateError(f"{where}{exc}") from None
        if mode == "exact":
            out = _exact_output(state)
        else:
            carried = float_bonds if (previous is not None and "bonds" not in obj) else None
            out, float_bonds = float_epoch_from_state(state, carried)
        outputs.append(out)
        bonds_rows = tuple({int(j): v for j, v in row.items()} for row in out["bonds"])
        previous = state.with_(
            bonds=bonds_rows, validator_permit_prev=tuple(out["validator_permit"])
        )
    return outputs
