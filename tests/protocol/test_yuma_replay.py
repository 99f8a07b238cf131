"""JSON replay, the real SN15 state over chained epochs, state validation, mechanisms and the
``govsim yuma replay`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from protocol.registry import RegistryError
from protocol.yuma import CONSENSUS, EpochParams, StateError, replay_states, yuma_epoch
from protocol.yuma.stake_capped import cap_shares
from sim.cli import main

SN15 = Path(__file__).resolve().parents[2] / "scenarios" / "data" / "sn15_block4769998.json"
EPOCHS = 12


@pytest.fixture(scope="module")
def sn15() -> dict[str, Any]:
    return json.loads(SN15.read_text())


@pytest.fixture(scope="module")
def sn15_chain(sn15: dict[str, Any]) -> list[dict[str, Any]]:
    """SN15 over chained epochs: validators keep refreshing their weights every tempo."""
    n, block, tempo = sn15["n"], sn15["block"], sn15["tempo"]
    later = [
        {"block": block + k * tempo, "last_update": [block + k * tempo - 1] * n}
        for k in range(1, EPOCHS)
    ]
    return [sn15, *later]


@pytest.fixture(scope="module")
def sn15_runs(sn15_chain: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {mode: replay_states(sn15_chain, mode) for mode in ("exact", "float")}


def test_sn15_chained_epochs_agree(sn15_runs: dict[str, list[dict[str, Any]]]) -> None:
    exact, flt = sn15_runs["exact"], sn15_runs["float"]
    assert len(exact) == len(flt) == EPOCHS
    for e, f in zip(exact, flt, strict=True):
        assert e["validator_permit"] == f["validator_permit"]
        for key in ("dividends_u16", "incentive_u16", "consensus_u16"):
            assert np.abs(np.array(e[key]) - np.array(f[key])).max() <= 7, key  # ≤ 1e-4
        np.testing.assert_allclose(e["emission"], f["emission"], atol=1e-4 * 1e9)
        assert 1e9 - 256 * 3 <= sum(e["emission"]) <= 1e9


def test_sn15_bonds_build_up(sn15_runs: dict[str, list[dict[str, Any]]]) -> None:
    """SN15 starts without bonds and without permits: as at subtensor HEAD the empty permit
    vector drops every weight row in the first epoch (no consensus, no bonds); from the
    second epoch the permits it produced let the validators' weights count, dividends appear
    and bonds grow over the epochs."""
    for mode in ("exact", "float"):
        runs = sn15_runs[mode]
        total = [sum(sum(row.values()) for row in out["bonds"]) for out in runs]
        assert total[0] == 0 and sum(runs[0]["consensus_u16"]) == 0, mode
        assert sum(runs[0]["incentive_u16"]) == 0, mode
        assert 0 < total[1] < total[-1], mode
    assert sum(sn15_runs["exact"][-1]["dividends_u16"]) > 65000


def test_float_mode_batched_sn15_matches_replay(sn15: dict[str, Any]) -> None:
    """The replay's float mode is yuma_epoch on the state's tensors."""
    from protocol.yuma.replay import state_tensors
    from protocol.yuma.state import parse_state

    kwargs = state_tensors(parse_state(sn15))
    result = yuma_epoch(**kwargs)
    out = replay_states(sn15, "float")[0]
    np.testing.assert_allclose(result.emission.numpy(), out["emission"])
    assert result.to_numpy()["bonds"].shape == (256, 256)


# ---------------------------------------------------------------- state validation


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"stake": "many"}, "stake"),
        ({"stake": [1, 2]}, "stake"),
        ({"stake": [1, -5, 0]}, "stake[1]"),
        ({"kappa_u16": 70000}, "kappa_u16"),
        ({"bma_u32": 2_000_000}, "bma_u32"),
        ({"yuma3": "yes"}, "yuma3"),
        ({"weights": [{"1": 65536}, {}, {}]}, "weights[0]['1']"),
        ({"weights": [{"9": 5}, {}, {}]}, "weights[0] key"),
        ({"owner_uid": 3}, "owner_uid"),
        ({"validator_permit_prev": [True, 1, False]}, "validator_permit_prev[1]"),
        ({"alpha_low_u16": 60000, "alpha_high_u16": 50000}, "alpha_low_u16"),
        ({"kapa_u16": 1}, "kapa_u16"),
        ({"ka\npa": 1}, "'ka\\npa': unknown key"),  # a line break is shown escaped
        ({"commit_reveal": [1, None]}, "commit_reveal"),
    ],
)
def test_bad_state_names_the_key(patch: dict[str, Any], key: str) -> None:
    state = {"n": 3, "stake": [1, 2, 0], **patch}
    with pytest.raises(StateError) as info:
        replay_states(state)
    assert str(info.value).startswith(key), str(info.value)
    assert "\n" not in str(info.value)  # one line on the command line


def test_missing_stake_and_empty_list() -> None:
    with pytest.raises(StateError, match=r"^stake: required"):
        replay_states({"n": 3})
    with pytest.raises(StateError, match="empty list"):
        replay_states([])
    with pytest.raises(StateError, match=r"^state 1: tempo"):
        replay_states([{"stake": [1, 0]}, {"tempo": -1}])


def test_defaults_and_chaining() -> None:
    """Omitted keys take chain defaults; a chained state inherits and advances by tempo.

    The omitted permit vector is the chain's empty one: the first epoch keeps no weights
    (emission by stake), the next ones use the permits the first produced."""
    out = replay_states([{"stake": [10, 0], "weights": [{"1": 1}, {}]}, {}, {}])
    assert [o["block"] for o in out] == [1, 361, 721]
    assert out[0]["emission"] == [1_000_000_000, 0]
    assert out[0]["bonds"] == [{}, {}] and out[0]["validator_permit"] == [True, False]
    assert out[1]["emission"] == [500_000_000, 500_000_000]
    assert out[1]["bonds"][0] == {"1": 6553}  # first weights: 0.1 of a full bond
    assert out[2]["bonds"][0] == {"1": 12451}  # carried over: 0.1 + 0.9 * 0.1 = 0.19


# ---------------------------------------------------------------- mechanisms


def test_mechanism_registry() -> None:
    for name in ("yuma", "yuma_classic", "yuma3", "yuma3_liquid", "yuma_liquid_v1"):
        assert name in CONSENSUS
    with pytest.raises(RegistryError, match="unknown consensus mechanism"):
        yuma_epoch(torch.zeros(2, 2), torch.ones(2), torch.zeros(2, 2), mechanism="nope")


def test_stake_capped_variant_limits_a_whale() -> None:
    """The one-file variant: a 90 % whale alone sets consensus under Yuma, not when capped."""
    n = 6
    weights = torch.zeros(n, n, dtype=torch.float64)
    weights[0, 4] = 1.0  # whale
    weights[1:4, 5] = 1.0  # three small validators
    stake = torch.tensor([90.0, 4.0, 3.0, 3.0, 0.0, 0.0], dtype=torch.float64)
    bonds = torch.zeros(n, n, dtype=torch.float64)
    plain = yuma_epoch(weights, stake, bonds)
    capped = yuma_epoch(
        weights, stake, bonds, params=EpochParams(stake_cap=0.3), mechanism="stake_capped"
    )
    assert plain.incentive[4] == pytest.approx(1.0)
    assert capped.incentive[5] == pytest.approx(1.0)
    assert "stake_capped" in CONSENSUS and capped.mechanism == "stake_capped"


def test_cap_shares_water_filling() -> None:
    shares = cap_shares(torch.tensor([[90.0, 4.0, 3.0, 3.0, 0.0]], dtype=torch.float64), 0.3)
    assert shares.sum().item() == pytest.approx(1.0)
    assert shares.max().item() == pytest.approx(0.3)
    assert shares[0, 4] == 0.0


def test_classic_and_yuma3_mechanisms_differ() -> None:
    weights = torch.tensor([[0, 0, 1.0], [0, 0, 1.0], [0, 0, 0]], dtype=torch.float64)
    stake = torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64)
    bonds = torch.zeros(3, 3, dtype=torch.float64)
    classic = yuma_epoch(weights, stake, bonds, mechanism="yuma_classic")
    yuma3 = yuma_epoch(weights, stake, bonds, mechanism="yuma3")
    assert classic.bonds[0, 2] == pytest.approx(1.0)  # max-upscaled
    assert yuma3.bonds[0, 2] == pytest.approx(0.1)  # absolute EMA step
    torch.testing.assert_close(classic.dividends, yuma3.dividends)


# ---------------------------------------------------------------- the CLI


def test_cli_replay_json_and_table(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["yuma", "replay", str(SN15), "--table"])
    assert result.exit_code == 0, result.output
    assert "permits 64" in result.output and "emission 1.000000" in result.output
    result = runner.invoke(main, ["yuma", "replay", str(SN15), "--float"])
    assert result.exit_code == 0
    assert set(json.loads(result.output)) >= {"consensus_u16", "bonds", "emission", "active"}


def test_cli_jsonl_one_line_per_state(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"stake": [1, 0], "weights": [{"1": 5}, {}]}\n\n{"stake": [0, 3]}\n')
    result = CliRunner().invoke(main, ["yuma", "replay", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1])["emission"] == [0, 1_000_000_000]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", '{"stake": [1, 0], "tempo": "fast"}', "tempo: expected an integer"),
        ("broken.json", '{"stake": [1, ', "invalid JSON at line 1"),
        ("scalar.json", "42", "expected a state object or a list"),
        ("lines.jsonl", '{"stake": [1]}\n[1, 2]\n', "line 2: state: expected a JSON object"),
        (
            "lines2.jsonl",
            '{"stake": [1]}\n{"stake": [1], "n": 0}\n',
            "line 2: n: expected an integer",
        ),
        (
            "chain.json",
            '[{"stake": [1, 0]}, {"weights": [{"7": 1}, {}]}]',
            "state 1: weights[0] key",
        ),
    ],
)
def test_cli_bad_input_exit_code_2(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = CliRunner().invoke(main, ["yuma", "replay", str(path)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_scheduling_variants() -> None:
    from protocol.yuma.params import blocks_until_next_epoch

    assert [blocks_until_next_epoch(u, 10, 5, scheduling="legacy") for u in (1, 2, 3)] == [3, 2, 1]
    assert blocks_until_next_epoch(1, 360, 1000, last_epoch_block=900) == 260
    head, legacy = EpochParams(), EpochParams(scheduling="legacy")
    assert (head.cutoff_blocks, head.epoch_period) == (5000, 360)
    assert (legacy.cutoff_blocks, legacy.epoch_period) == (5000, 361)
    assert EpochParams(tempo=1).cutoff_blocks == 13
    assert EpochParams.from_chain(kappa_u16=65535).kappa == 1.0


# ---------------------------------------------------------------- pruning


def test_neuron_to_prune_rules() -> None:
    from protocol.yuma.pruning import immortal_owner_uids, neuron_to_prune

    emission = torch.tensor([[5.0, 1.0, 1.0, 3.0, 0.0]])
    reg = torch.tensor([[0, 7, 3, 0, 95]])
    # uid 4 (emission 0) is immune (registered 5 blocks ago); ties on 1.0 go to the older uid 2
    assert neuron_to_prune(emission, reg, 100, 10, min_non_immune=1).tolist() == [2]
    # too few non-immune uids: the best immune uid goes instead
    assert neuron_to_prune(emission, reg, 100, 10, min_non_immune=4).tolist() == [4]
    # no immune uid and too few non-immune: nothing can be pruned
    assert neuron_to_prune(emission[:, :4], reg[:, :4], 100, 10, min_non_immune=4).tolist() == [-1]
    # equal emission and registration: the lower uid
    assert neuron_to_prune(
        torch.ones(1, 3), torch.zeros(1, 3, dtype=torch.int64), 50, 10, min_non_immune=0
    ).tolist() == [0]
    # the owner hotkey is protected; with limit 2 the earliest other owner-coldkey hotkey too
    owner_ck = torch.tensor([[False, True, True, False, False]])
    protected = immortal_owner_uids(torch.tensor([3]), owner_ck, reg, limit=2)
    assert protected.tolist() == [[False, False, True, True, False]]
    assert neuron_to_prune(
        emission, reg, 100, 10, protected=protected, min_non_immune=1
    ).tolist() == [1]
    # batched: each subnet on its own
    both = neuron_to_prune(
        torch.cat([emission, emission]), torch.cat([reg, reg]), 100, 10, min_non_immune=1,
        protected=torch.cat([protected, torch.zeros_like(protected)]),
    )  # fmt: skip
    assert both.tolist() == [1, 2]
