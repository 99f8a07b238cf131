"""The conformance check: every policy halts an exploit in time and refuses an unwarranted
suspension (market_only never acts, by design); the ``govsim policies check`` command."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from protocol.governance import POLICIES
from sim.cli import main
from sim.conformance import CHECK_HORIZON_DAYS, check_policy

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Tracks the warranted halt must take: each policy's documented fast path.
FAST_TRACK = {"opengov": "whitelisted", "constitutional": "emergency", "cosmos": "expedited"}


@pytest.mark.slow
@pytest.mark.parametrize("name", POLICIES.names())
def test_each_policy_acts_on_the_warranted_case_and_refuses_the_unwarranted_one(name: str) -> None:
    result = check_policy(name)
    w, u = result.warranted, result.unwarranted
    assert not u.executed, u  # (b) never executes, even projected past the horizon
    if name == "market_only":
        assert result.verdict == "never acts by design" and not w.executed and w.proposals == 0
        return
    assert result.verdict == "passes" and result.ok and result.can_act
    # (a) executed within the horizon, after it was detected, proposed and decided
    assert w.detected_block is not None and w.proposed_block is not None
    assert w.detected_block <= w.proposed_block <= w.decided_block <= w.executed_block
    assert w.days_to_act < CHECK_HORIZON_DAYS
    assert w.track == FAST_TRACK.get(name, "")
    if name == "sudo":
        assert w.blocks_to_execute == 1
    if name == "timelock":
        assert w.blocks_to_execute >= 14_400  # the 2-day minimum delay
    # (b) refused by people, not by a missing path: filed where the requester may file
    if name not in ("sudo",):
        assert u.proposals == 1 and u.state in ("Rejected", "Cancelled", "Expired", "Killed"), u


def test_a_policy_that_cannot_act_in_time_is_named() -> None:
    # a timelock whose minimum delay (2 days) exceeds a one-day horizon cannot act in it
    result = check_policy("timelock", horizon_days=1.0)
    assert result.verdict == "cannot act" and not result.ok and not result.can_act
    assert result.to_dict()["warranted"]["days_to_act"] is None


def test_the_command_prints_measured_blocks_and_json() -> None:
    runner = CliRunner()
    table = runner.invoke(main, ["policies", "check", "--policy", "sudo,market_only"])
    assert table.exit_code == 0, table.output
    sudo_row = next(line for line in table.output.splitlines() if line.startswith("sudo"))
    assert "passes" in sudo_row and sudo_row.split()[-5:-2] == ["1", "0.0001", "refused"]
    assert "never acts by design" in table.output
    as_json = runner.invoke(main, ["policies", "check", "--policy", "multisig", "--json"])
    assert as_json.exit_code == 0, as_json.output
    [row] = json.loads(as_json.output)
    assert row["verdict"] == "passes" and row["warranted"]["blocks_to_execute"] >= 1
    failing = runner.invoke(
        main, ["policies", "check", "--policy", "timelock", "--horizon-days", "1"]
    )
    assert failing.exit_code == 1 and "cannot act" in failing.output
    unknown = runner.invoke(main, ["policies", "check", "--policy", "nope"])
    assert unknown.exit_code == 2 and "nope" in unknown.output
