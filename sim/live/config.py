"""The ``[live]`` table of a scenario file: the live subnet a coordinator runs.

A scenario file is TOML. The coordinator reads its ``[live]`` table itself; the rest of the file,
if any (scenario tables, ``extends``), is the simulated network around the live subnet
(:mod:`sim.live.network`), validated by the scenario loader. Example::

    [live]
    window_seconds = 20.0          # wall-clock length of a window
    put_window_seconds = 5.0       # uploads of window w are accepted in the first 5 s of w + 1
    training_config = "cpu-tiny"   # a name in protocol.training.CONFIGS
    validators = 2                 # validators the coordinator runs (uids 0..1)
    validator_stake = 1000.0       # stake (TAO) of each of them
    emission_per_window = 1.0      # TAO emitted to the subnet per window
    seed = 0
    max_miners = 64
    max_upload_bytes = 16777216
    rate_per_second = 20.0         # per-hotkey token bucket
    rate_burst = 40

    [live.training]                # optional overrides of the TrainingConfig fields
    inner_steps = 4

    [live.registration]            # optional: the registration rule (defaults shown)
    burn = 0.1                     # TAO burned by the first registration
    min_burn = 0.0005
    max_burn = 100.0
    burn_increase_mult = 1.26      # each registration multiplies the burn by this
    burn_half_life_windows = 1.0   # ... and it halves every window nobody registers
    immunity_windows = 12          # a new uid cannot be pruned for this many windows
    max_address_share = 0.25       # one client address holds at most this share of the slots

    [live.network]                 # only with a simulated network in the file
    netuid = 0                     # the network's subnet the live subnet plays
    blocks_per_window = 360        # simulated blocks per live window (default: the training
                                   # config's blocks_per_window)

With a simulated network, the TAO paid per window comes from the network (``emission_per_window``
must then be left out).

Every error names the file, the field, the value and what was expected.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from protocol.live.registration import RegistrationRule

__all__ = ["LiveConfig", "LiveConfigError", "live_config_from_dict", "load_live_config"]


class LiveConfigError(ValueError):
    """A ``[live]`` table that cannot run; the message names file, field, value and expectation."""


@dataclass(frozen=True)
class LiveConfig:
    """One live subnet: clock, training setup, validators, emission and abuse limits.

    Attributes
    ----------
    window_seconds
        Wall-clock seconds per window.
    put_window_seconds
        Seconds at the start of window ``w + 1`` during which window ``w`` uploads are accepted.
    training_config
        Name of the base :class:`protocol.training.TrainingConfig` in ``CONFIGS``.
    training_overrides
        Field overrides applied to the base training config.
    validators
        How many validators the coordinator runs (uids ``0..validators-1``).
    validator_stake
        Stake (TAO) of each validator (``TrainingConfig.validator_stake``).
    emission_per_window
        TAO the subnet emits per window, split by the Yuma epoch.
    seed
        Root seed (data, model init, validator draws).
    max_miners
        Miner slots (subtensor's ``max_allowed_uids``); a full subnet prunes (see
        ``registration``).
    max_upload_bytes
        Largest request body accepted (checked before parsing).
    rate_per_second, rate_burst
        Per-hotkey token bucket for signed requests.
    network_netuid
        With a simulated network: the subnet the live subnet plays.
    network_blocks_per_window
        With a simulated network: simulated blocks per live window (0: the training config's
        ``blocks_per_window``).
    registration
        Burn, immunity, pruning and the per-address share
        (:class:`protocol.live.registration.RegistrationRule`).
    """

    window_seconds: float = 20.0
    put_window_seconds: float = 5.0
    training_config: str = "cpu-tiny"
    training_overrides: dict[str, Any] = field(default_factory=dict)
    validators: int = 1
    validator_stake: float = 1000.0
    emission_per_window: float = 1.0
    seed: int = 0
    max_miners: int = 64
    max_upload_bytes: int = 16 * 1024 * 1024
    rate_per_second: float = 20.0
    rate_burst: int = 40
    network_netuid: int = 0
    network_blocks_per_window: int = 0
    registration: RegistrationRule = field(default_factory=RegistrationRule)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (the ``[live]`` table this config round-trips from)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["registration"] = asdict(self.registration)
        out["training"] = dict(out.pop("training_overrides"))
        out["network"] = {
            "netuid": out.pop("network_netuid"),
            "blocks_per_window": out.pop("network_blocks_per_window"),
        }
        return out


_KEYS = {
    "window_seconds",
    "put_window_seconds",
    "training_config",
    "training",
    "validators",
    "validator_stake",
    "emission_per_window",
    "seed",
    "max_miners",
    "max_upload_bytes",
    "rate_per_second",
    "rate_burst",
    "network",
    "registration",
}
_NETWORK_KEYS = {"netuid", "blocks_per_window"}
_REGISTRATION_KEYS = {f.name for f in fields(RegistrationRule)}


#: Upper bounds of the ``[live]`` numbers: far above any real subnet, low enough that nothing
#: downstream overflows (whole rao in int64, uid-indexed arrays, seeds for SeedSequence).
MAX_TAO = 21_000_000.0  # the TAO supply
MAX_SECONDS = 86_400.0 * 365
MAX_RATE = 1_000_000.0
MAX_VALIDATORS = 256
MAX_MINERS = 4096  # subtensor's largest max_allowed_uids
MAX_SEED = 2**63 - 1
MAX_UPLOAD_BYTES = 2**31
MAX_BURST = 1_000_000
MAX_NETUID = 4095
MAX_BLOCKS_PER_WINDOW = 10_000_000
MAX_IMMUNITY_WINDOWS = 1_000_000


def _show(value: object) -> str:
    """``repr`` of a config value, bounded (a TOML integer may have thousands of digits)."""
    try:
        text = repr(value)
    except ValueError:
        return f"<an int of {value.bit_length()} bits>" if isinstance(value, int) else "<?>"
    return text if len(text) <= 60 else text[:57] + "..."


def _key(name: object) -> str:
    """A table key for an error message: as written when printable, else escaped (a quoted TOML
    key may hold a line break, which would split the one-line error)."""
    text = str(name)
    return text[:60] if text.isprintable() else _show(text)


def _number(
    where: str, name: str, value: object, *, low: float, high: float, strict: bool = True
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LiveConfigError(f"{where}: live.{name} = {_show(value)}: expected a finite number")
    if isinstance(value, int) and not -1e300 < value < 1e300:
        raise LiveConfigError(f"{where}: live.{name} = {_show(value)}: expected <= {high:g}")
    if not math.isfinite(value):
        raise LiveConfigError(f"{where}: live.{name} = {_show(value)}: expected a finite number")
    if value < low or (strict and value == low):
        bound = f"> {low}" if strict else f">= {low}"
        raise LiveConfigError(f"{where}: live.{name} = {_show(value)}: expected {bound}")
    if value > high:
        raise LiveConfigError(f"{where}: live.{name} = {_show(value)}: expected <= {high:g}")
    return float(value)


def _integer(where: str, name: str, value: object, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LiveConfigError(
            f"{where}: live.{name} = {_show(value)}: expected an integer in [{low}, {high}]"
        )
    return value


def live_config_from_dict(table: dict[str, Any], where: str = "<dict>") -> LiveConfig:
    """Validate a ``[live]`` table.

    Parameters
    ----------
    table
        The table's contents.
    where
        The file it came from, for error messages.

    Raises
    ------
    LiveConfigError
        On an unknown key or a bad value.
    """
    if not isinstance(table, dict):
        raise LiveConfigError(f"{where}: [live] must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise LiveConfigError(
            f"{where}: live.{_key(unknown[0])}: unknown key; known: {', '.join(sorted(_KEYS))}"
        )
    base = LiveConfig()
    window = _number(
        where,
        "window_seconds",
        table.get("window_seconds", base.window_seconds),
        low=0,
        high=MAX_SECONDS,
    )
    put = _number(
        where,
        "put_window_seconds",
        table.get("put_window_seconds", min(base.put_window_seconds, window / 4)),
        low=0,
        high=MAX_SECONDS,
    )
    if put >= window:
        raise LiveConfigError(
            f"{where}: live.put_window_seconds = {put}: expected < window_seconds ({window})"
        )
    network = table.get("network", {})
    if not isinstance(network, dict):
        raise LiveConfigError(f"{where}: live.network must be a table (netuid, blocks_per_window)")
    unknown = sorted(set(network) - _NETWORK_KEYS)
    if unknown:
        raise LiveConfigError(
            f"{where}: live.network.{_key(unknown[0])}: unknown key; known: {', '.join(sorted(_NETWORK_KEYS))}"
        )
    name = table.get("training_config", base.training_config)
    overrides = table.get("training", {})
    if not isinstance(overrides, dict):
        raise LiveConfigError(f"{where}: live.training must be a table of TrainingConfig overrides")
    cfg = LiveConfig(
        window_seconds=window,
        put_window_seconds=put,
        training_config=name,
        training_overrides=dict(overrides),
        validators=_integer(
            where,
            "validators",
            table.get("validators", base.validators),
            low=1,
            high=MAX_VALIDATORS,
        ),
        validator_stake=_number(
            where,
            "validator_stake",
            table.get("validator_stake", base.validator_stake),
            low=0,
            high=MAX_TAO,
        ),
        emission_per_window=_number(
            where,
            "emission_per_window",
            table.get("emission_per_window", base.emission_per_window),
            low=0,
            high=MAX_TAO,
            strict=False,
        ),
        seed=_integer(where, "seed", table.get("seed", base.seed), low=0, high=MAX_SEED),
        max_miners=_integer(
            where, "max_miners", table.get("max_miners", base.max_miners), low=1, high=MAX_MINERS
        ),
        max_upload_bytes=_integer(
            where,
            "max_upload_bytes",
            table.get("max_upload_bytes", base.max_upload_bytes),
            low=1024,
            high=MAX_UPLOAD_BYTES,
        ),
        rate_per_second=_number(
            where,
            "rate_per_second",
            table.get("rate_per_second", base.rate_per_second),
            low=0,
            high=MAX_RATE,
        ),
        rate_burst=_integer(
            where, "rate_burst", table.get("rate_burst", base.rate_burst), low=1, high=MAX_BURST
        ),
        network_netuid=_integer(
            where, "network.netuid", network.get("netuid", 0), low=0, high=MAX_NETUID
        ),
        network_blocks_per_window=_integer(
            where,
            "network.blocks_per_window",
            network.get("blocks_per_window", 1),
            low=1,
            high=MAX_BLOCKS_PER_WINDOW,
        )
        if "blocks_per_window" in network
        else 0,
        registration=_registration_rule(where, table.get("registration", {})),
    )
    check_training(cfg, where)
    return cfg


def _registration_rule(where: str, table: object) -> RegistrationRule:
    """Validate ``[live.registration]`` (every key optional)."""
    if not isinstance(table, dict):
        raise LiveConfigError(
            f"{where}: live.registration must be a table ({', '.join(sorted(_REGISTRATION_KEYS))})"
        )
    unknown = sorted(set(table) - _REGISTRATION_KEYS)
    if unknown:
        raise LiveConfigError(
            f"{where}: live.registration.{_key(unknown[0])}: unknown key; known: "
            f"{', '.join(sorted(_REGISTRATION_KEYS))}"
        )
    base = RegistrationRule()

    def number(name: str, *, low: float, strict: bool, high: float = MAX_TAO) -> float:
        value = table.get(name, getattr(base, name))
        return _number(where, f"registration.{name}", value, low=low, high=high, strict=strict)

    min_burn = number("min_burn", low=0, strict=False)
    max_burn = number("max_burn", low=0, strict=False)
    burn = number("burn", low=0, strict=False)
    if not min_burn <= burn <= max_burn:
        raise LiveConfigError(
            f"{where}: live.registration: expected min_burn <= burn <= max_burn, got "
            f"{min_burn} <= {burn} <= {max_burn}"
        )
    mult = number("burn_increase_mult", low=1, strict=False, high=1000.0)
    share = number("max_address_share", low=0, strict=True, high=1.0)
    return RegistrationRule(
        burn=burn,
        min_burn=min_burn,
        max_burn=max_burn,
        burn_increase_mult=mult,
        burn_half_life_windows=number(
            "burn_half_life_windows", low=0, strict=True, high=MAX_IMMUNITY_WINDOWS
        ),
        immunity_windows=_integer(
            where,
            "registration.immunity_windows",
            table.get("immunity_windows", base.immunity_windows),
            low=0,
            high=MAX_IMMUNITY_WINDOWS,
        ),
        max_address_share=share,
    )


def check_training(cfg: LiveConfig, where: str) -> None:
    """Refuse an unknown training config name, an override that is not a TrainingConfig field, or
    an override value the TrainingConfig refuses."""
    from protocol.training import CONFIGS, TrainingConfig

    if cfg.training_config not in CONFIGS:
        raise LiveConfigError(
            f"{where}: live.training_config = {cfg.training_config!r}: expected one of {', '.join(CONFIGS)}"
        )
    known = {f.name for f in fields(TrainingConfig)}
    for key in cfg.training_overrides:
        if key not in known or key in ("roles", "name", "n_validators", "validator_stake"):
            raise LiveConfigError(
                f"{where}: live.training.{_key(key)}: not an overridable TrainingConfig field"
            )
    from sim.live.engine import live_training_config

    # Build it once here, so a bad override value (0 windows per weights, a string for a count)
    # is refused naming the file rather than when the coordinator starts.
    try:
        live_training_config(
            cfg.training_config,
            cfg.training_overrides,
            validators=cfg.validators,
            validator_stake=cfg.validator_stake,
            max_miners=cfg.max_miners,
        )
    except (TypeError, ValueError) as exc:
        raise LiveConfigError(f"{where}: live.training: {exc}") from None


def load_live_config(path: str | Path) -> tuple[LiveConfig, dict[str, Any]]:
    """Read a scenario file's ``[live]`` table.

    Parameters
    ----------
    path
        A TOML scenario file.

    Returns
    -------
    tuple[LiveConfig, dict]
        The live config and the rest of the file (the simulated network, possibly empty).

    Raises
    ------
    LiveConfigError
        When the file is missing, not TOML, has no ``[live]`` table, or the table is invalid.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LiveConfigError(f"{p}: no such scenario file") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LiveConfigError(f"{p}: not valid TOML ({exc})") from exc
    except RecursionError:
        raise LiveConfigError(f"{p}: not valid TOML (arrays or tables nested too deeply)") from None
    except ValueError as exc:  # an integer literal of thousands of digits
        raise LiveConfigError(f"{p}: not valid TOML ({exc})") from None
    except OSError as exc:  # a directory, a name too long, no permission
        raise LiveConfigError(f"{p}: cannot read it ({exc.strerror})") from None
    if "live" not in data:
        raise LiveConfigError(f"{p}: no [live] table; live mode needs one (see docs/live.md)")
    table = data.pop("live")
    config = live_config_from_dict(table, where=str(p))
    if data:
        if isinstance(table, dict) and "emission_per_window" in table:
            raise LiveConfigError(
                f"{p}: live.emission_per_window: with a simulated network the subnet is paid what "
                "the network gives it; leave emission_per_window out"
            )
        check_network(p)
    elif isinstance(table, dict) and "network" in table:
        raise LiveConfigError(
            f"{p}: live.network: the file has no simulated network (add scenario tables or "
            '`extends = "..."`), so there is nothing to configure'
        )
    return config, data


def check_network(path: str | Path) -> None:
    """Validate the non-``[live]`` part of a scenario file (``extends`` resolved) with the
    scenario loader.

    Raises
    ------
    LiveConfigError
        With the loader's message (file, field, value, expectation).
    """
    from sim.schema import ScenarioError, load_scenario

    try:
        load_scenario(path, exclude=("live",))
    except ScenarioError as exc:
        raise LiveConfigError(str(exc)) from exc
