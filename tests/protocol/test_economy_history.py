"""The chain by date (``protocol.economy.history``): eras, defaults and levers per date."""

from __future__ import annotations

from dataclasses import fields
from datetime import date

import pytest

from protocol.economy import SHARE_ERAS, EconomyParams
from protocol.economy.history import (
    CHANGES,
    HEAD_DATE,
    LEVER_ARRIVALS,
    SUPPORTED_FROM,
    DateNotModelledError,
    LeverNotLiveError,
    check_lever,
    economy_on,
    lever_arrival,
)
from protocol.levers import AnyChange, SetEmissionEnabled, SetHyperparameter, SetRegistrationAllowed


def test_changes_are_dated_in_order_and_set_real_parameters() -> None:
    days = [c.day for c in CHANGES]
    assert days == sorted(days)
    names = {f.name for f in fields(EconomyParams)}
    for change in CHANGES:
        assert set(change.params) <= names, change.what
        assert "PR #" in change.source or "commit" in change.source, change.what


@pytest.mark.parametrize(
    ("day", "era", "net_flow", "recycle", "new_subnet_emission"),
    [
        (date(2025, 12, 12), "tao_flow", False, True, True),
        (date(2026, 4, 10), "tao_flow", False, True, True),
        (date(2026, 5, 27), "tao_flow", True, True, True),
        (date(2026, 6, 1), "tao_flow", True, False, True),
        (date(2026, 6, 22), "price_root_prop", True, False, True),
        (date(2026, 6, 23), "price_root_prop", True, False, False),
        (date(2026, 6, 30), "head", True, False, False),
        (date(2027, 1, 1), "head", True, False, False),
    ],
)
def test_economy_on_a_date(day, era, net_flow, recycle, new_subnet_emission) -> None:
    dated = economy_on(day)
    assert dated.era == era
    assert dated.params["net_tao_flow_enabled"] is net_flow
    assert dated.params["recycle_chain_bought_alpha"] is recycle
    assert dated.params["new_subnet_emission_enabled"] is new_subnet_emission
    SHARE_ERAS.get(dated.era)
    EconomyParams(**dated.params)  # every dated set of defaults is a valid parameter set


def test_head_date_gives_the_defaults_of_head() -> None:
    dated = economy_on(HEAD_DATE)
    defaults = EconomyParams()
    for name, value in dated.params.items():
        assert getattr(defaults, name) == value, name


def test_dates_before_the_modelled_range_are_refused() -> None:
    with pytest.raises(DateNotModelledError, match="2025-12-12"):
        economy_on(date(2025, 12, 11))
    economy_on(SUPPORTED_FROM)


def test_emission_switch_is_refused_before_it_arrived_naming_the_date() -> None:
    arrival = lever_arrival("set_emission_enabled")
    assert arrival is not None and arrival.added == date(2026, 5, 12)
    lever = SetEmissionEnabled(netuid=0, enabled=False)
    with pytest.raises(LeverNotLiveError, match="2026-05-12") as info:
        check_lever(lever, date(2026, 4, 10))
    assert "set_emission_enabled" in str(info.value)
    assert info.value.arrival.live == date(2026, 5, 27)
    check_lever(lever, date(2026, 5, 27))
    check_lever(lever.to_dict(), date(2026, 6, 30))


def test_levers_of_april_2026_are_live_and_batches_are_checked_inside() -> None:
    day = date(2026, 4, 10)
    check_lever(SetRegistrationAllowed(netuid=3, allowed=False), day)
    check_lever({"kind": "set_subtoken_enabled", "netuid": 3, "enabled": False}, day)
    check_lever({"kind": "token_sale", "amount_tao": 5.0}, day)
    batch = AnyChange("batch", (SetRegistrationAllowed(0), SetEmissionEnabled(1)))
    with pytest.raises(LeverNotLiveError, match="set_emission_enabled"):
        check_lever(batch, day)
    with pytest.raises(LeverNotLiveError, match="set_emission_enabled"):
        check_lever(batch.to_dict(), day)


def test_hyperparameters_that_arrived_later_are_refused() -> None:
    day = date(2026, 4, 10)
    for name in ("subnet_emission_enabled", "owner_cut_enabled", "net_tao_flow_enabled"):
        with pytest.raises(LeverNotLiveError, match=name):
            check_lever(SetHyperparameter(name, False, 0), day)
    check_lever(SetHyperparameter("tempo", 99, 0), day)
    assert all(a.added <= a.live for a in LEVER_ARRIVALS.values())


def test_the_docs_table_lists_every_change() -> None:
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "economy.md").read_text()
    table = docs.split("## The chain by date", 1)[1].split("\n## ", 1)[0]
    for change in CHANGES:
        rows = " ".join(line for line in table.splitlines()
                        if line.startswith(f"| {change.day} "))  # fmt: skip
        assert rows, change.day
        for ref in re.findall(r"#\d+|main [0-9a-f]{8}", change.source):
            assert ref.split()[-1] in rows, (change.day, ref)
