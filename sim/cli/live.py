"""``govsim live``: run a live coordinator, or join one as a miner (docs/live.md).

Defaults never write into the working directory: keys live in the per-user config directory and
coordinator state in the per-user state directory (:mod:`sim.live.paths`), and both commands use
one default port (:data:`sim.live.paths.DEFAULT_PORT`).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from protocol.units import RAO_PER_TAO
from sim.cli._root import UserError, main
from sim.live.paths import (
    DEFAULT_HOST,
    DEFAULT_KEY_NAME,
    DEFAULT_PORT,
    config_dir,
    default_coordinator_url,
    default_key_path,
    default_state_dir,
    ensure_private_dir,
    state_root,
)

if TYPE_CHECKING:
    from sim.live.coordinator import Coordinator
    from sim.live.network import SimulatedNetwork

__all__ = ["live", "startup_lines"]

#: The logger the coordinator writes its per-window lines to (``sim.live.coordinator``'s parent).
_LOGGER = "sim.live"


@main.group()
def live() -> None:
    """Live mode: real workers join a running network as miners."""


def _attach_stderr_log() -> logging.Handler:
    """Send ``sim.live`` INFO lines (windows, registrations) to stderr with a timestamp."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log = logging.getLogger(_LOGGER)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def _when(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def startup_lines(
    coordinator: Coordinator,
    *,
    host: str,
    port: int,
    state_dir: Path,
    network: SimulatedNetwork | None = None,
    api_docs: bool = False,
) -> list[str]:
    """What ``govsim live serve`` says when it starts: fresh or resumed, where, how fast, the
    registration rule.

    Parameters
    ----------
    coordinator
        The coordinator, built (and so already fresh or resumed).
    host, port
        Where it listens.
    state_dir
        Its state directory.
    network
        The simulated network around it, if any.
    api_docs
        Whether ``/docs``, ``/redoc`` and ``/openapi.json`` are served.
    """
    config, clock = coordinator.config, coordinator.clock
    now = coordinator.now()
    current = clock.window_at(now)
    lines = []
    if coordinator.resumed:
        closed = coordinator.last_closed + 1
        credited = sum(coordinator.emission_rao.values()) / RAO_PER_TAO
        due = coordinator.due_windows()
        catch_up = (
            f"; windows {due[0]}-{due[-1]} ended while it was down and are scored now"
            if due
            else ""
        )
        lines.append(
            f"resumed {state_dir}: {closed} window(s) closed, {len(coordinator.miners)} miner(s) "
            f"registered, {credited:.6f} TAO credited; genesis {_when(clock.genesis)}, the clock "
            f"is at window {current}{catch_up}"
        )
    else:
        lines.append(
            f"fresh start in {state_dir}: window 0 begins now ({_when(clock.genesis)}); "
            "no miners registered"
        )
    rule = config.registration
    reach = " (all interfaces: reachable from other machines)" if host in ("0.0.0.0", "::") else ""
    lines.append(
        f"serving http://{host}:{port}{reach}: {config.training_config}, window "
        f"{config.window_seconds:g} s, put window {config.put_window_seconds:g} s, "
        f"{config.validators} validator(s), API docs {'on' if api_docs else 'off'}"
    )
    lines.append(
        f"registration: {config.max_miners} miner slots, at most {coordinator.address_cap} per "
        f"address; burn {coordinator.current_burn():.6f} TAO now (x{rule.burn_increase_mult:g} "
        f"per registration, halving every {rule.burn_half_life_windows:g} window(s)); a new uid "
        f"is immune for {rule.immunity_windows} window(s), then the weakest is pruned when the "
        "subnet is full"
    )
    if network is not None:
        lines.append(
            f"simulated network: {network.config.network.n_subnets} subnets, policy "
            f"{network.config.governance.policy}; the live subnet is netuid {network.netuid}, "
            f"{network.blocks_per_window} blocks per window"
        )
    return lines


@live.command("serve")
@click.option(
    "--scenario",
    "scenario",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML scenario file with a [live] table.",
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Checkpoint directory, resumed if it holds a state (default: "
    "$XDG_STATE_HOME/govsim/live/<scenario name>, i.e. ~/.local/state/govsim/live/...).",
)
@click.option(
    "--window-seconds",
    type=float,
    default=None,
    help="Override [live] window_seconds (the put window shrinks to a quarter if needed).",
)
@click.option(
    "--api-docs",
    is_flag=True,
    default=False,
    help="Also serve the generated API docs (/docs, /redoc, /openapi.json); off by default.",
)
def serve(
    scenario: Path,
    host: str,
    port: int,
    state_dir: Path | None,
    window_seconds: float | None,
    api_docs: bool,
) -> None:
    """Start a coordinator: chain side and validators of one live subnet, on a real clock."""
    from dataclasses import replace

    import uvicorn

    from sim.live.app import create_app
    from sim.live.config import LiveConfigError, load_live_config
    from sim.live.coordinator import Coordinator
    from sim.live.network import network_for
    from sim.live.store import StateDir

    try:
        config, _network = load_live_config(scenario)
        network = network_for(scenario, config)
    except (LiveConfigError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    if window_seconds is not None:
        if not 0 < window_seconds < float("inf"):
            raise UserError(f"--window-seconds: expected a finite number > 0, got {window_seconds}")
        put = (
            config.put_window_seconds
            if config.put_window_seconds < window_seconds
            else window_seconds / 4
        )
        config = replace(config, window_seconds=window_seconds, put_window_seconds=put)
    directory = state_dir or default_state_dir(scenario.stem)
    try:
        if state_dir is None:
            ensure_private_dir(directory, state_root())
        coordinator = Coordinator(config, StateDir(directory), network=network)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    except OSError as exc:  # an uncreatable or unwritable --state-dir
        raise UserError(f"--state-dir {directory}: cannot use it ({exc.strerror})") from None
    handler = _attach_stderr_log()
    log = logging.getLogger(_LOGGER)
    try:
        for line in startup_lines(
            coordinator,
            host=host,
            port=port,
            state_dir=directory,
            network=network,
            api_docs=api_docs,
        ):
            log.info("%s", line)
        older = Path("live-state") / scenario.stem
        if state_dir is None and (older / "state.json").exists():
            log.info(
                "note: an older state directory exists at %s; pass --state-dir %s to resume it",
                older,
                older,
            )
        uvicorn.run(
            create_app(coordinator, api_docs=api_docs),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        logging.getLogger(_LOGGER).removeHandler(handler)


@live.command("mine")
@click.option(
    "--coordinator",
    "url",
    default=default_coordinator_url(),
    show_default=True,
    help="Coordinator URL.",
)
@click.option(
    "--name",
    "key_name",
    default=None,
    help=f"Hotkey name: the key file is <config dir>/keys/NAME.json, created on first use "
    f"(default name: {DEFAULT_KEY_NAME!r}; config dir: $XDG_CONFIG_HOME/govsim or ~/.config/govsim).",
)
@click.option(
    "--key",
    "key_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Hotkey file path instead of --name (created with a fresh ed25519 key, mode 0600, on "
    "first use).",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option(
    "--strategy",
    default="honest",
    show_default=True,
    help="Miner strategy (protocol.training MINER_STRATEGIES, except copiers and stale).",
)
@click.option(
    "--windows",
    type=click.IntRange(1),
    default=None,
    help="Stop after N windows (default: run forever).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of the miner's own draws (default: from the hotkey).",
)
def mine(
    url: str,
    key_name: str | None,
    key_path: Path | None,
    device: str,
    strategy: str,
    windows: int | None,
    seed: int | None,
) -> None:
    """Join a coordinator as a miner; print scores and earnings each window."""
    import httpx

    from protocol.registry import RegistryError
    from sim.live.client import CoordinatorError, LiveClient
    from sim.live.keys import KeyFileError, load_or_create_key, loose_permissions
    from sim.live.miner import UnsupportedStrategyError, run_miner

    if key_name is not None and key_path is not None:
        raise UserError("--name and --key: give one of them (a key name or a key file path)")
    try:
        if key_path is None:
            key_path = default_key_path(key_name or DEFAULT_KEY_NAME)
            key, created = load_or_create_key(key_path, private_root=config_dir())
        else:
            key, created = load_or_create_key(key_path)
    except (KeyFileError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    client = LiveClient(url, key)
    verb = "created" if created else "using"
    click.echo(f"{verb} hotkey {client.hotkey} in {key_path}", err=True)
    warning = loose_permissions(key_path)
    if warning:
        click.echo(warning, err=True)
    try:
        report = run_miner(
            client,
            device=device,
            strategy_name=strategy,
            windows=windows,
            seed=seed,
            log=lambda line: click.echo(line),
        )
    except (UnsupportedStrategyError, RegistryError, ValueError) as exc:
        raise UserError(f"--strategy/--device: {exc}") from exc
    except httpx.TransportError as exc:
        raise UserError(f"--coordinator {url}: cannot reach it ({exc})") from exc
    except CoordinatorError as exc:
        raise UserError(f"coordinator refused: {exc}") from exc
    finally:
        client.close()
    click.echo(
        f"done: uid {report['uid']} earned {report['emission_tao']:.6f} TAO in total "
        f"({report.get('burn_tao', 0.0):.6f} TAO burned to register, net "
        f"{report.get('net_tao', report['emission_tao']):.6f} TAO; simulated TAO)"
    )
