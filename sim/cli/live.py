"""``govsim live``: run a live coordinator, or join one as a miner (docs/live.md)."""

from __future__ import annotations

from pathlib import Path

import click

from sim.cli._root import UserError, main

__all__ = ["live"]


@main.group()
def live() -> None:
    """Live mode: real workers join a running network as miners."""


@live.command("serve")
@click.option(
    "--scenario",
    "scenario",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML scenario file with a [live] table.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="TCP port."
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Checkpoint directory (default: live-state/<scenario name>); resumed if it exists.",
)
@click.option(
    "--window-seconds",
    type=float,
    default=None,
    help="Override [live] window_seconds (the put window shrinks to a quarter if needed).",
)
def serve(
    scenario: Path, host: str, port: int, state_dir: Path | None, window_seconds: float | None
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
        if not window_seconds > 0:
            raise UserError(f"--window-seconds: expected > 0, got {window_seconds}")
        put = (
            config.put_window_seconds
            if config.put_window_seconds < window_seconds
            else window_seconds / 4
        )
        config = replace(config, window_seconds=window_seconds, put_window_seconds=put)
    directory = state_dir or Path("live-state") / scenario.stem
    try:
        coordinator = Coordinator(config, StateDir(directory), network=network)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    except OSError as exc:  # an uncreatable or unwritable --state-dir
        raise UserError(f"--state-dir {directory}: cannot use it ({exc.strerror})") from None
    click.echo(
        f"govsim live coordinator on http://{host}:{port} ({config.training_config}, window "
        f"{config.window_seconds:g} s, put window {config.put_window_seconds:g} s, "
        f"{config.validators} validator(s)); state in {directory}; "
        f"resumed at window {coordinator.last_closed + 1}",
        err=True,
    )
    if network is not None:
        click.echo(
            f"simulated network: {network.config.network.n_subnets} subnets, policy "
            f"{network.config.governance.policy}; the live subnet is netuid {network.netuid}, "
            f"{network.blocks_per_window} blocks per window",
            err=True,
        )
    uvicorn.run(
        create_app(coordinator), host=host, port=port, log_level="warning", access_log=False
    )


@live.command("mine")
@click.option(
    "--coordinator", "url", required=True, help="Coordinator URL, e.g. http://127.0.0.1:8765."
)
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Hotkey file (created with a fresh ed25519 key on first use).",
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
    url: str, key_path: Path, device: str, strategy: str, windows: int | None, seed: int | None
) -> None:
    """Join a coordinator as a miner; print scores and earnings each window."""
    import httpx

    from protocol.registry import RegistryError
    from sim.live.client import CoordinatorError, LiveClient
    from sim.live.keys import KeyFileError, load_or_create_key
    from sim.live.miner import UnsupportedStrategyError, run_miner

    try:
        key, created = load_or_create_key(key_path)
    except KeyFileError as exc:
        raise UserError(str(exc)) from exc
    client = LiveClient(url, key)
    if created:
        click.echo(f"created hotkey {client.hotkey} in {key_path}", err=True)
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
    click.echo(f"done: uid {report['uid']} earned {report['emission_tao']:.6f} TAO in total")
