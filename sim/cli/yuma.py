"""``govsim yuma``: replay subnet states through the Yuma Consensus epoch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sim.cli._root import UserError, main

TABLE_ROWS = 15
RAO_PER_TAO = 1e9
#: Largest state file read (bytes).
MAX_STATE_FILE_BYTES = 64 * 1024 * 1024


@main.group("yuma")
def yuma() -> None:
    """The Yuma Consensus epoch (chain-exact and float modes)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _decode(text: str, where: str) -> Any:
    """``json.loads`` with every failure as one clear line (never a traceback).

    Refuses NaN/Infinity, integers too long for Python's conversion limit and nesting too deep
    for the decoder.
    """
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{where}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        ) from None
    except RecursionError:
        raise UserError(f"{where}: invalid state (JSON nested too deeply)") from None
    except ValueError as exc:  # a 5 000-digit integer, NaN, Infinity
        raise UserError(f"{where}: invalid state ({str(exc)[:120]})") from None


def _load(path: Path) -> tuple[list[Any], bool]:
    """Read FILE: a JSON object or list, or JSONL of independent states.

    Returns the items and whether they are independent (JSONL) rather than chained epochs.
    """
    try:
        size = path.stat().st_size
        if size > MAX_STATE_FILE_BYTES:
            raise UserError(
                f"{path}: {size} bytes; expected a state file of at most "
                f"{MAX_STATE_FILE_BYTES} bytes"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    if path.suffix == ".jsonl":
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((number, json.loads(line, parse_constant=_reject_constant)))
            except json.JSONDecodeError as exc:
                raise UserError(f"{path} line {number}: invalid JSON ({exc.msg})") from None
            except RecursionError:
                raise UserError(
                    f"{path} line {number}: invalid state (JSON nested too deeply)"
                ) from None
            except ValueError as exc:
                raise UserError(f"{path} line {number}: invalid state ({str(exc)[:120]})") from None
        if not items:
            raise UserError(f"{path}: no states (the file is empty)")
        return items, True
    data = _decode(text, str(path))
    if not isinstance(data, dict | list):
        raise UserError(
            f"{path}: expected a state object or a list of states, got {type(data).__name__}"
        )
    return [data], False


def _fmt_share(u16: int) -> str:
    return f"{u16 / 65535:.4f}"


def _table(out: dict[str, Any], state: dict[str, Any], title: str) -> str:
    """A per-uid table of the top rows by emission plus a summary."""
    emission = out["emission"]
    n = len(emission)
    stake = state.get("stake") or [0] * n
    total_stake = sum(stake) or 1
    total = sum(emission) or 1
    order = sorted(range(n), key=lambda uid: (-emission[uid], uid))[:TABLE_ROWS]
    header = (
        f"{'uid':>5} {'stake %':>8} {'permit':>6} {'active':>6} {'consensus':>9} {'incentive':>9} "
        f"{'dividends':>9} {'vtrust':>7} {'server α':>12} {'validator α':>12} {'emission %':>10}"
    )
    lines = [title, header, "-" * len(header)]
    for uid in order:
        lines.append(
            f"{uid:>5} {100 * stake[uid] / total_stake:>8.3f} {'yes' if out['validator_permit'][uid] else '':>6} "
            f"{'yes' if out['active'][uid] else 'no':>6} {_fmt_share(out['consensus_u16'][uid]):>9} "
            f"{_fmt_share(out['incentive_u16'][uid]):>9} {_fmt_share(out['dividends_u16'][uid]):>9} "
            f"{_fmt_share(out['validator_trust_u16'][uid]):>7} "
            f"{out['server_emission'][uid] / RAO_PER_TAO:>12.6f} "
            f"{out['validator_emission'][uid] / RAO_PER_TAO:>12.6f} "
            f"{100 * emission[uid] / total:>10.3f}"
        )
    server_total = sum(out["server_emission"])
    validator_total = sum(out["validator_emission"])
    split = server_total + validator_total or 1
    miners_paid = sum(1 for v in out["server_emission"] if v > 0)
    validators_paid = sum(1 for v in out["validator_emission"] if v > 0)
    top5 = sum(sorted(out["server_emission"], reverse=True)[:5]) / (server_total or 1)
    lines += [
        "-" * len(header),
        f"uids {n} | permits {sum(out['validator_permit'])} | active {sum(out['active'])} | "
        f"miners paid {miners_paid} | validators paid {validators_paid}",
        f"emission {sum(emission) / RAO_PER_TAO:.6f} α: servers {100 * server_total / split:.2f} % / "
        f"validators {100 * validator_total / split:.2f} % | top-5 miners take {100 * top5:.1f} % of "
        f"incentive | showing top {len(order)} uids by emission (α = emission / 1e9)",
    ]
    return "\n".join(lines)


@yuma.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--exact/--float", "exact", default=True, show_default=True,
              help="Chain-exact fixed point (default) or float64 torch.")  # fmt: skip
@click.option("--table", is_flag=True, help="Print a readable per-uid table instead of JSON.")
def replay(file: Path, exact: bool, table: bool) -> None:
    """Replay subnet state(s) in FILE through the epoch and print the outputs.

    FILE holds one state object, a list of states for consecutive epochs of one subnet (bonds
    and permits carry over), or (FILE.jsonl) independent states, one per line, printing one
    output line each. The schema is in docs/yuma.md.
    """
    from protocol.yuma import StateError, replay_states
    from protocol.yuma.state import parse_state, state_to_json

    mode = "exact" if exact else "float"
    items, independent = _load(file)
    if independent:
        for number, obj in items:
            try:
                (out,) = replay_states(obj, mode) if isinstance(obj, dict) else _bad_line(obj)
            except StateError as exc:
                raise UserError(f"{file} line {number}: {exc}") from None
            if table:
                click.echo(_table(out, obj, f"{file} line {number} ({mode})"))
            else:
                click.echo(json.dumps(out, separators=(",", ":")))
        return
    data = items[0]
    try:
        outputs = replay_states(data, mode)
    except StateError as exc:
        raise UserError(f"{file}: {exc}") from None
    if not table:
        click.echo(json.dumps(outputs[0] if isinstance(data, dict) else outputs))
        return
    states = [data] if isinstance(data, dict) else data
    previous = None
    for index, (obj, out) in enumerate(zip(states, outputs, strict=True)):
        resolved = parse_state(obj, previous)
        title = f"{file.name} | epoch {index} | block {out['block']} | mode {mode} | " + (
            "yuma3" if resolved.yuma3 else "classic bonds"
        )
        click.echo(_table(out, state_to_json(resolved), title))
        if index < len(states) - 1:
            click.echo()
        previous = resolved


def _bad_line(obj: Any) -> list[dict[str, Any]]:
    from protocol.yuma import StateError

    raise StateError(f"state: expected a JSON object, got {type(obj).__name__}")
