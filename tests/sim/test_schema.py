"""Scenario schema: units, extends, sweeps, overrides, identity."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.units import BLOCKS_PER_DAY, RAO_PER_TAO
from sim.config import SimConfig
from sim.schema import Scenario, ScenarioError, load_scenario, parse_quantity

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_quantities_convert_into_the_field_unit(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "s.toml",
        """
horizon_days = "2 weeks"
[network]
tempo = "72 minutes"
registration_burn_tao = "500000000 rao"
[governance]
detection_delay_blocks = { value = 1.5, unit = "hours" }
[[shocks]]
kind = "token_sale"
day = "7200 blocks"
amount_tao = "37000 TAO"
""",
    )
    cfg = load_scenario(path).config
    assert cfg.horizon_days == 14.0
    assert cfg.network.tempo == 360
    assert cfg.network.registration_burn_tao == 0.5
    assert cfg.governance.detection_delay_blocks == 450
    assert cfg.shocks[0].day == 1.0
    assert cfg.shocks[0].amount_tao == 37_000.0


@settings(max_examples=30, deadline=None)
@given(days=st.integers(min_value=0, max_value=10_000))
def test_days_to_blocks_is_exact(days: int) -> None:
    scenario = Scenario.from_dict({"governance": {"detection_delay_blocks": f"{days} days"}})
    assert scenario.config.governance.detection_delay_blocks == days * BLOCKS_PER_DAY


@settings(max_examples=30, deadline=None)
@given(tao=st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
def test_tao_and_rao_agree(tao: float) -> None:
    rao = round(tao * RAO_PER_TAO)
    a = Scenario.from_dict({"network": {"registration_burn_tao": f"{rao} rao"}}).config
    assert a.network.registration_burn_tao == pytest.approx(rao / RAO_PER_TAO, rel=1e-12)


def test_parse_quantity_forms() -> None:
    assert parse_quantity("30 days") == (30.0, "days")
    assert parse_quantity("1_000 TAO") == (1000.0, "tao")
    assert parse_quantity({"value": 2, "unit": "h"}) == (2.0, "h")
    assert parse_quantity("sudo") is None
    assert parse_quantity(3) is None
    with pytest.raises(ValueError, match="unknown unit"):
        parse_quantity("3 parsecs")


def test_extends_merges_tables_and_replaces_arrays(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "base.toml",
        """
policies = ["sudo", "multisig"]
seeds = 5
horizon_days = 20
[network]
n_subnets = 4
n_uids = 32
[[shocks]]
kind = "quality_jump"
day = 2
netuid = 1
[[shocks]]
kind = "quality_jump"
day = 3
netuid = 2
""",
    )
    child = _write(
        tmp_path,
        "child.toml",
        """
extends = "base.toml"
name = "child"
[network]
n_uids = 16
[[shocks]]
kind = "scam_subnet"
day = 4
netuid = 3
""",
    )
    scenario = load_scenario(child)
    cfg = scenario.config
    assert cfg.name == "child"
    assert (cfg.network.n_subnets, cfg.network.n_uids) == (4, 16)  # table merged
    assert [s.kind for s in cfg.shocks] == ["scam_subnet"]  # array replaced
    assert scenario.policies == ("sudo", "multisig") and scenario.seeds == 5  # inherited
    assert cfg.horizon_days == 20


def test_error_in_child_names_child_file(tmp_path: Path) -> None:
    _write(tmp_path, "base.toml", "[network]\nn_subnets = 4\n")
    child = _write(tmp_path, "child.toml", 'extends = "base.toml"\n[network]\nkappa = 7\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(child)
    assert info.value.file.endswith("child.toml")
    assert info.value.path == "network.kappa" and info.value.value == 7


def test_grid_sweep_points_and_configs(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "g.toml",
        """
[sweep]
design = "grid"
[sweep.axes]
"network.kappa" = [0.5, 0.6]
"governance.detection_delay_blocks" = ["1 hour", "1 day"]
""",
    )
    scenario = load_scenario(path)
    pairs = scenario.point_configs()
    assert len(pairs) == 4
    assert [c.governance.detection_delay_blocks for _, c in pairs] == [300, 7200, 300, 7200]
    assert [c.network.kappa for _, c in pairs] == [0.5, 0.5, 0.6, 0.6]


def test_lhs_sweep_is_seeded_and_in_bounds(tmp_path: Path) -> None:
    text = """
[sweep]
design = "lhs"
n = 6
seed = 11
[sweep.bounds]
"market.contagion_beta" = [1.0, 5.0]
"governance.detection_delay_blocks" = ["1 hour", "2 days"]
"""
    a = load_scenario(_write(tmp_path, "a.toml", text)).points()
    b = load_scenario(_write(tmp_path, "b.toml", text)).points()
    assert a == b and len(a) == 6
    betas = sorted(p["market.contagion_beta"] for p in a)
    assert all(1.0 <= x <= 5.0 for x in betas)
    # Latin hypercube: one point in each sixth of the range.
    assert [int((x - 1.0) / (4.0 / 6)) for x in betas] == list(range(6))
    assert all(isinstance(p["governance.detection_delay_blocks"], int) for p in a)
    assert all(300 <= p["governance.detection_delay_blocks"] <= 14_400 for p in a)


def test_list_sweep_sets_tables_and_array_items() -> None:
    scenario = load_scenario(REPO / "scenarios" / "covenant_2026.toml")
    configs = [c for _, c in scenario.point_configs()]
    assert [c.shocks[1].lever["kind"] for c in configs] == [
        "set_registration_allowed",
        "set_subtoken_enabled",
        "any_change",
        "any_change",
    ]
    assert [e["netuid"] for e in configs[2].shocks[1].lever["effects"]] == [0, 1, 2]
    assert configs[3].owners.exit_treasury_tao == 12_333.0
    assert configs[0].owners.exit_treasury_tao == 37_000.0


def test_to_config_policy_and_overrides() -> None:
    scenario = load_scenario(REPO / "scenarios" / "baseline.toml")
    cfg = scenario.to_config("multisig", {"horizon_days": "36 hours"})
    assert cfg.governance.policy == "multisig" and cfg.horizon_days == 1.5
    assert isinstance(cfg, SimConfig)
    assert scenario.config.horizon_days == 60  # the scenario itself is unchanged
    with pytest.raises(ScenarioError, match=r"network\.n_subnet"):
        scenario.to_config(overrides={"network.n_subnet": 3})


def test_all_policies_expand_to_the_registry() -> None:
    from protocol.governance import POLICIES

    scenario = load_scenario(REPO / "scenarios" / "baseline.toml")
    assert scenario.policy_names() == POLICIES.names()


def test_dict_round_trip_and_stable_hash() -> None:
    scenario = load_scenario(REPO / "scenarios" / "exploit_2024.toml")
    again = Scenario.from_dict(scenario.to_dict())
    assert again.config == scenario.config
    assert again.sweep == scenario.sweep
    assert again.hash == scenario.hash
    other = Scenario.from_dict({**scenario.to_dict(), "horizon_days": 31})
    assert other.hash != scenario.hash


def test_scenario_is_immutable() -> None:
    scenario = load_scenario(REPO / "scenarios" / "baseline.toml")
    with pytest.raises(AttributeError):
        scenario.seeds = 3  # type: ignore[misc]
