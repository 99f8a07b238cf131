"""``govsim policies check``: the conformance check of every (or one) governance policy.

On a small network with benevolent, competent persons, each policy must (a) execute a
warranted chain halt against a running exploit within the horizon and (b) refuse an
unwarranted suspension of a healthy subnet (``sim.conformance``). The table prints the
measured blocks from detection and proposal to decision and execution, and the verdict:
``passes``, ``cannot act``, ``never acts by design`` (``market_only``) or ``acts on harm``.
Exit code 1 when a policy fails (``cannot act`` or ``acts on harm``).
"""

from __future__ import annotations

import json
import math

import click

from sim.cli._root import UserError, main

__all__ = ["check", "policies_group"]


def policies_group() -> click.Group:
    """The ``policies`` command group: the one registered on ``govsim`` already, else a new one."""
    existing = main.commands.get("policies")
    if isinstance(existing, click.Group):
        return existing

    @main.group("policies")
    def policies() -> None:
        """Governance policies: list them, check that each can act and refuses harm."""

    return policies


def _blocks(value: int | None) -> str:
    return "-" if value is None else str(value)


def _days(value: float) -> str:
    return "never" if not math.isfinite(value) else f"{value:.4f}"


@policies_group().command("check")
@click.option(
    "--policy",
    "policy_names",
    multiple=True,
    help="Policy to check (repeatable, or comma-separated); default: every registered one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--seed", type=click.IntRange(0), default=0, show_default=True, help="The runs' seed."
)
@click.option(
    "--horizon-days",
    type=click.FloatRange(1.0, 365.0),
    default=None,
    help="Days the warranted halt has to execute (default 10).",
)
def check(
    policy_names: tuple[str, ...], as_json: bool, seed: int, horizon_days: float | None
) -> None:
    """Check that each policy halts an exploit in time and refuses an unwarranted suspension."""
    from protocol.governance import POLICIES
    from sim.conformance import CHECK_HORIZON_DAYS, check_policy

    names = [n.strip() for item in policy_names for n in item.split(",") if n.strip()]
    if not names:
        names = list(POLICIES.names())
    horizon = horizon_days if horizon_days is not None else CHECK_HORIZON_DAYS
    results = []
    for name in names:
        try:
            results.append(check_policy(name, seed=seed, horizon_days=horizon))
        except ValueError as exc:
            raise UserError(f"--policy: {exc}") from None
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        header = (
            f"{'policy':<16}{'verdict':<22}{'track':<12}{'detected':>9}{'proposed':>9}"
            f"{'decided':>9}{'executed':>9}{'blocks':>8}{'days':>8}  unwarranted"
        )
        click.echo(header)
        for r in results:
            w, u = r.warranted, r.unwarranted
            refused = "executed!" if u.executed else f"refused ({u.state})"
            click.echo(
                f"{r.policy:<16}{r.verdict:<22}{w.track or 'default':<12}"
                f"{_blocks(w.detected_block):>9}{_blocks(w.proposed_block):>9}"
                f"{_blocks(w.decided_block):>9}{_blocks(w.executed_block):>9}"
                f"{_blocks(w.blocks_to_execute):>8}{_days(w.days_to_act):>8}  {refused}"
            )
        click.echo(
            f"blocks: proposal to execution; days: detection to execution "
            f"(7 200 blocks a day); horizon {horizon:g} days"
        )
    if not all(r.ok for r in results):
        raise SystemExit(1)
