"""Levers are plain data: they round-trip through dicts and bad tables are refused by name."""

from __future__ import annotations

import pytest

from protocol import levers


@pytest.mark.parametrize(
    "lever",
    [
        levers.SetRegistrationAllowed(netuid=3),
        levers.SetSubtokenEnabled(netuid=1, enabled=True),
        levers.SetEmissionEnabled(netuid=7),
        levers.DissolveSubnet(netuid=2),
        levers.SetHyperparameter(name="kappa", value=0.6, netuid=4),
        levers.TransferOwnership(netuid=5, new_owner="foundation"),
        levers.HaltChain(duration_blocks=3_600),
        levers.ResumeChain(),
        levers.TokenSale(amount_tao=37_000.0, netuid=3),
        levers.AnyChange(description="migration", effects=(levers.DissolveSubnet(netuid=3),)),
    ],
)
def test_round_trip(lever: levers.Lever) -> None:
    data = lever.to_dict()
    assert "targets_emission" not in data
    assert data["kind"] == lever.kind
    assert levers.lever_from_dict(data) == lever


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"netuid": 1}, "'kind'"),
        ({"kind": "nuke"}, "lever.kind"),
        ({"kind": "dissolve_subnet", "netuid": 1, "color": "red"}, "lever.color"),
        ({"kind": "dissolve_subnet"}, "dissolve_subnet"),
    ],
)
def test_bad_tables_name_the_field(data: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        levers.lever_from_dict(data)
