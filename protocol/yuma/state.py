"""JSON subnet states for the epoch: validation, defaults and conversion (pure: dict in, dict out).

The schema (documented in docs/yuma.md) mirrors the chain's storage: u16 weights and bonds as
sparse per-uid objects, stake in rao, chain-integer hyperparameters. :func:`parse_state` turns a
JSON object into a validated :class:`SubnetState`, filling omitted keys with the chain defaults,
or, for the later states of a chained list, with the previous state's values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from protocol.units import DEFAULT_TEMPO, U16_MAX
from protocol.yuma.params import (
    ACTIVITY_CUTOFF_FACTOR_MILLI,
    ALPHA_HIGH_U16_DEFAULT,
    ALPHA_LOW_U16_DEFAULT,
    BMA_U32_DEFAULT,
    BONDS_PENALTY_U16_DEFAULT,
    KAPPA_U16_DEFAULT,
    MAX_VALIDATORS_DEFAULT,
    STEEPNESS_DEFAULT,
    EpochParams,
)

__all__ = ["STATE_KEYS", "StateError", "SubnetState", "parse_state", "state_to_json"]

U64_MAX = 2**64 - 1
RAO_EMISSION_DEFAULT = 1_000_000_000

#: Keys of a state object (see docs/yuma.md for meanings and defaults).
STATE_KEYS: tuple[str, ...] = (
    "n", "block", "tempo", "last_update", "reg", "stake", "stake_threshold",
    "validator_permit_prev", "max_validators", "owner_uid", "weights", "bonds", "kappa_u16",
    "bma_u32", "bonds_penalty_u16", "yuma3", "liquid_alpha", "liquid_alpha_version",
    "alpha_low_u16", "alpha_high_u16", "steepness", "activity_cutoff", "lms", "commit_reveal",
    "rao_emission",
)  # fmt: skip
#: Descriptive keys that are accepted and ignored.
METADATA_KEYS: frozenset[str] = frozenset({"source", "hotkeys", "name", "comment", "netuid"})


class StateError(ValueError):
    """An invalid subnet state; the message names the key, the value and what was expected."""


@dataclass(frozen=True)
class SubnetState:
    """A validated subnet state (chain integers). Sparse rows are ``{uid: u16}`` dicts."""

    n: int
    block: int
    tempo: int
    last_update: tuple[int, ...]
    reg: tuple[int, ...]
    stake: tuple[int | float, ...]
    stake_threshold: int
    validator_permit_prev: tuple[bool, ...]
    max_validators: int
    owner_uid: int | None
    weights: tuple[dict[int, int], ...]
    bonds: tuple[dict[int, int], ...]
    kappa_u16: int
    bma_u32: int
    bonds_penalty_u16: int
    yuma3: bool
    liquid_alpha: bool
    liquid_alpha_version: str
    alpha_low_u16: int
    alpha_high_u16: int
    steepness: int
    activity_cutoff: int
    lms: int
    commit_reveal: tuple[int | None, ...] | None
    rao_emission: int

    def params(self) -> EpochParams:
        """The float :class:`EpochParams` of this state."""
        return EpochParams.from_chain(
            kappa_u16=self.kappa_u16,
            bma_u32=self.bma_u32,
            bonds_penalty_u16=self.bonds_penalty_u16,
            alpha_low_u16=self.alpha_low_u16,
            alpha_high_u16=self.alpha_high_u16,
            yuma3=self.yuma3,
            liquid_alpha=self.liquid_alpha,
            liquid_alpha_version=self.liquid_alpha_version,  # type: ignore[arg-type]
            steepness=float(self.steepness),
            max_validators=self.max_validators,
            stake_threshold=float(self.stake_threshold),
            tempo=self.tempo,
            activity_cutoff=self.activity_cutoff,
        )

    def with_(self, **changes: Any) -> SubnetState:
        """A copy with ``changes`` (not re-validated: for internal chaining)."""
        return replace(self, **changes)


# ---------------------------------------------------------------- scalar validators


def _where(key: str, ctx: str) -> str:
    return f"{ctx}{key}" if ctx else key


#: Largest magnitude of a float accepted for an integer key (floats are exact up to 2^53).
_EXACT_FLOAT = 2**53


def _shown(value: Any) -> str:
    """``repr(value)``, shortened for huge integers and long texts."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int(value: Any, key: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_FLOAT:
            value = int(value)
        else:
            raise StateError(f"{key}: expected an integer in [{lo}, {hi}], got {_shown(value)}")
    if not lo <= value <= hi:
        raise StateError(f"{key}: expected an integer in [{lo}, {hi}], got {_shown(value)}")
    return value


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise StateError(f"{key}: expected true or false, got {_shown(value)}")
    return value


def _list(value: Any, key: str, n: int, *, allow_empty: bool = False) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise StateError(f"{key}: expected a list of {n} values, got {type(value).__name__}")
    value = list(value)
    if len(value) != n and not (allow_empty and not value):
        raise StateError(f"{key}: expected a list of {n} values (one per uid), got {len(value)}")
    return value


def _stake_value(value: Any, key: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StateError(f"{key}: expected a non-negative number of rao, got {_shown(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or value.is_integer()):
        if not math.isfinite(value):
            raise StateError(f"{key}: expected a finite non-negative number of rao, got {value!r}")
        value = int(value)
    if value < 0 or value > U64_MAX:
        raise StateError(f"{key}: expected a number of rao in [0, 2^64-1], got {_shown(value)}")
    return value


def _sparse_rows(value: Any, key: str, n: int) -> tuple[dict[int, int], ...]:
    """Per-uid sparse rows: a list of n objects, or an object {"uid": {...}} of rows."""
    if isinstance(value, Mapping):
        rows: list[Any] = [{} for _ in range(n)]
        for uid_text, row in value.items():
            uid = _uid_key(uid_text, f"{key} row key", n)
            rows[uid] = row
    else:
        rows = _list(value, key, n, allow_empty=True) or [{} for _ in range(n)]
    parsed: list[dict[int, int]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise StateError(
                f'{key}[{i}]: expected an object {{"target uid": u16}}, got {type(row).__name__}'
            )
        entries = {
            _uid_key(j, f"{key}[{i}] key", n): _int(v, f"{key}[{i}][{j!r}]", 0, U16_MAX)
            for j, v in row.items()
        }
        parsed.append(dict(sorted(entries.items())))
    return tuple(parsed)


def _uid_key(text: Any, key: str, n: int) -> int:
    try:
        uid = int(text)
    except (TypeError, ValueError):
        raise StateError(f"{key}: expected a uid in [0, {n - 1}], got {_shown(text)}") from None
    if not 0 <= uid < n or str(uid) != str(text).strip():
        raise StateError(f"{key}: expected a uid in [0, {n - 1}], got {_shown(text)}")
    return uid


# ---------------------------------------------------------------- the state


def parse_state(obj: Any, previous: SubnetState | None = None, *, where: str = "") -> SubnetState:
    """Validate a JSON state object and fill defaults.

    Parameters
    ----------
    obj
        The decoded JSON object.
    previous
        The previous state of a chained list (already carrying the previous epoch's output bonds
        and permits): omitted keys take its values, and ``block`` defaults to its block plus
        the epoch period.
    where
        Prefix for error messages (e.g. ``"state 3: "``).

    Raises
    ------
    StateError
        Naming the key, the value and the expected type or range.
    """
    try:
        return _parse(obj, previous)
    except StateError as exc:
        raise StateError(f"{where}{exc}") from None


def _parse(obj: Any, previous: SubnetState | None) -> SubnetState:
    if not isinstance(obj, Mapping):
        raise StateError(f"state: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(STATE_KEYS) - METADATA_KEYS)
    if unknown:
        key = str(unknown[0])
        # a key with a line break or control character is shown escaped: one error line
        shown = key[:60] if key.isprintable() else _shown(key)
        raise StateError(f"{shown}: unknown key (known keys: {', '.join(STATE_KEYS)})")
    prev = asdict(previous) if previous is not None else {}

    def get(key: str) -> Any:
        return obj[key] if key in obj else prev.get(key)

    # n: explicit, inherited, or the stake list's length
    if get("stake") is None:
        raise StateError("stake: required (a list of n rao amounts)")
    raw_stake = obj.get("stake", prev.get("stake"))
    if get("n") is None and not isinstance(raw_stake, list | tuple):
        raise StateError(f"stake: expected a list of rao amounts, got {_shown(raw_stake)}")
    n = _int(get("n") if get("n") is not None else len(raw_stake), "n", 1, U16_MAX)
    stake = tuple(
        _stake_value(v, f"stake[{i}]") for i, v in enumerate(_list(raw_stake, "stake", n))
    )

    tempo = _int(get("tempo") if get("tempo") is not None else DEFAULT_TEMPO, "tempo", 0, U16_MAX)
    reg = tuple(
        _int(v, f"reg[{i}]", 0, U64_MAX)
        for i, v in enumerate(_list(get("reg") if get("reg") is not None else [0] * n, "reg", n))
    )
    if "block" in obj:
        block = _int(obj["block"], "block", 0, U64_MAX)
    elif previous is not None:
        block = _int(previous.block + tempo, "block (previous block + tempo)", 0, U64_MAX)
    elif get("last_update") is not None:
        block = max(_list(get("last_update"), "last_update", n), default=0) + 1
    else:
        block = max(reg, default=0) + 1
    last_update = tuple(
        _int(v, f"last_update[{i}]", 0, U64_MAX)
        for i, v in enumerate(
            _list(
                get("last_update") if get("last_update") is not None else [block] * n,
                "last_update",
                n,
            )
        )
    )
    vp_raw = get("validator_permit_prev")
    vp = tuple(
        _bool(v, f"validator_permit_prev[{i}]")
        for i, v in enumerate(
            _list(
                vp_raw if vp_raw is not None else [], "validator_permit_prev", n, allow_empty=True
            )
        )
    )
    owner_raw = get("owner_uid")
    owner = None if owner_raw is None else _int(owner_raw, "owner_uid", 0, n - 1)
    weights = _sparse_rows(get("weights") if get("weights") is not None else [], "weights", n)
    bonds = _sparse_rows(get("bonds") if get("bonds") is not None else [], "bonds", n)

    def scalar_int(key: str, default: int, lo: int, hi: int) -> int:
        value = get(key)
        return _int(default if value is None else value, key, lo, hi)

    def scalar_bool(key: str, default: bool) -> bool:
        value = get(key)
        return _bool(default if value is None else value, key)

    alpha_low = scalar_int("alpha_low_u16", ALPHA_LOW_U16_DEFAULT, 0, U16_MAX)
    alpha_high = scalar_int("alpha_high_u16", ALPHA_HIGH_U16_DEFAULT, 0, U16_MAX)
    if alpha_low > alpha_high:
        raise StateError(
            f"alpha_low_u16: expected at most alpha_high_u16 ({alpha_high}), got {alpha_low}"
        )
    version = get("liquid_alpha_version")
    if version is None:
        version = "v2"
    if not isinstance(version, str) or version not in ("v1", "v2"):
        raise StateError(f"liquid_alpha_version: expected 'v1' or 'v2', got {_shown(version)}")
    cutoff_default = max(1, ACTIVITY_CUTOFF_FACTOR_MILLI * tempo // 1000)
    commit_raw = obj["commit_reveal"] if "commit_reveal" in obj else prev.get("commit_reveal")
    commit: tuple[int | None, ...] | None
    if commit_raw is None or commit_raw is False:
        commit = None
    else:
        commit = tuple(
            None if v is None else _int(v, f"commit_reveal[{i}]", 0, U64_MAX)
            for i, v in enumerate(_list(commit_raw, "commit_reveal", n))
        )
    return SubnetState(
        n=n,
        block=block,
        tempo=tempo,
        last_update=last_update,
        reg=reg,
        stake=stake,
        stake_threshold=scalar_int("stake_threshold", 0, 0, U64_MAX),
        validator_permit_prev=vp,
        max_validators=scalar_int("max_validators", MAX_VALIDATORS_DEFAULT, 0, U16_MAX),
        owner_uid=owner,
        weights=weights,
        bonds=bonds,
        kappa_u16=scalar_int("kappa_u16", KAPPA_U16_DEFAULT, 0, U16_MAX),
        bma_u32=scalar_int("bma_u32", BMA_U32_DEFAULT, 0, 1_000_000),
        bonds_penalty_u16=scalar_int("bonds_penalty_u16", BONDS_PENALTY_U16_DEFAULT, 0, U16_MAX),
        yuma3=scalar_bool("yuma3", True),
        liquid_alpha=scalar_bool("liquid_alpha", False),
        liquid_alpha_version=version,
        alpha_low_u16=alpha_low,
        alpha_high_u16=alpha_high,
        steepness=scalar_int("steepness", STEEPNESS_DEFAULT, -32768, 32767),
        activity_cutoff=scalar_int("activity_cutoff", cutoff_default, 0, U64_MAX),
        lms=scalar_int("lms", 0, 0, U64_MAX),
        commit_reveal=commit,
        rao_emission=scalar_int("rao_emission", RAO_EMISSION_DEFAULT, 0, U64_MAX),
    )


def state_to_json(state: SubnetState) -> dict[str, Any]:
    """The JSON form of a state (inverse of :func:`parse_state`; sparse rows keyed by strings)."""
    out = asdict(state)
    out["weights"] = [{str(j): v for j, v in row.items()} for row in state.weights]
    out["bonds"] = [{str(j): v for j, v in row.items()} for row in state.bonds]
    for key in ("last_update", "reg", "stake", "validator_permit_prev"):
        out[key] = list(out[key])
    out["commit_reveal"] = None if state.commit_reveal is None else list(state.commit_reveal)
    return out
