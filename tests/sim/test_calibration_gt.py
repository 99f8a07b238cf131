"""Ground-truth calibration -> agent model: the loader, the wiring, and the CLI round trip."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from protocol.training.calibration import FORMAT_VERSION, nan_to_none
from sim.agents.miners import MinerWork, apply_measured_quality
from sim.api import load_config
from sim.calibration_gt import (
    CalibrationFileError,
    calibration_from_dict,
    load_miner_calibration,
    measured_quality_factors,
)
from sim.model import GovSimModel

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "scenarios" / "data" / "calibration_cpu_tiny.json"


def shipped() -> dict[str, Any]:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: Any, name: str = "cal.json", **dump: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, **dump), encoding="utf-8")
    return path


# ---------------------------------------------------------------- loader


def test_shipped_file_is_nan_free_and_maps_roles_onto_strategies() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-finite {c} in shipped file"))
    data = shipped()
    assert data["format_version"] == FORMAT_VERSION
    cal = load_miner_calibration(SHIPPED)
    assert cal.config == "cpu-tiny" and cal.rounds == 12
    assert set(cal.strategies) == {"honest", "lazy", "copier"}  # no sybil role in cpu-tiny
    assert cal.strategies["lazy"].role == "free_rider"
    assert cal.strategies["honest"].relative_weight == pytest.approx(1.0)
    roles = data["roles"]
    honest_per_uid = roles["honest"]["final_weight_share"] / roles["honest"]["n_uids"]
    copier = roles["copier"]
    assert cal.strategies["copier"].relative_weight == pytest.approx(
        copier["final_weight_share"] / copier["n_uids"] / honest_per_uid
    )
    assert cal.strategies["copier"].detection_rounds == copier["rounds_to_zero_weight"]["mean"]


def test_format_version_1_with_nan_reads_like_version_2(tmp_path: Path) -> None:
    data = shipped()
    old = copy.deepcopy(data)
    del old["format_version"], old["format"]
    old["roles"]["free_rider"]["rounds_to_zero_weight"]["mean"] = math.nan
    new = copy.deepcopy(data)
    new["roles"]["free_rider"]["rounds_to_zero_weight"]["mean"] = None
    v1 = load_miner_calibration(write(tmp_path, old, "v1.json", allow_nan=True))
    v2 = load_miner_calibration(write(tmp_path, new, "v2.json"))
    assert v1.format_version == 1 and v2.format_version == 2
    assert v1.strategies == v2.strategies


def _broken(mutate: Any) -> dict[str, Any]:
    data = shipped()
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda d: d.update(schema="something/9"), "schema"),
        (lambda d: d.update(format_version=3), "format_version"),
        (lambda d: d.update(rounds=0), "rounds"),
        (lambda d: d.pop("roles"), "roles"),
        (lambda d: d["roles"].pop("honest"), "roles.honest"),
        (
            lambda d: d["roles"]["honest"].update(final_weight_share=0.0),
            "roles.honest.final_weight_share",
        ),
        (
            lambda d: d["roles"]["copier"].update(final_weight_share="high"),
            "roles.copier.final_weight_share",
        ),
        (
            lambda d: d["roles"]["free_rider"].update(final_weight_share=1.5),
            "roles.free_rider.final_weight_share",
        ),
        (
            lambda d: d["roles"]["copier"]["gradient_score"].update(std=-1.0),
            "roles.copier.gradient_score.std",
        ),
        (lambda d: d["roles"]["copier"].pop("gradient_score"), "roles.copier.gradient_score"),
        (
            lambda d: d["roles"]["copier"]["rounds_to_zero_weight"].update(never=5),
            "roles.copier.rounds_to_zero_weight.never",
        ),
        (lambda d: d["roles"]["copier"].update(n_uids=0), "roles.copier.n_uids"),
    ],
)
def test_loader_refuses_bad_files_naming_file_and_key(
    tmp_path: Path, mutate: Any, key: str
) -> None:
    path = write(tmp_path, _broken(mutate))
    with pytest.raises(CalibrationFileError) as info:
        load_miner_calibration(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}:"), message


def test_loader_refuses_missing_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(CalibrationFileError, match="cannot read"):
        load_miner_calibration(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CalibrationFileError, match=f"{bad}: not valid JSON"):
        load_miner_calibration(bad)
    with pytest.raises(CalibrationFileError, match="<top level>"):
        calibration_from_dict([1, 2])


def test_nan_to_none_replaces_only_non_finite_floats() -> None:
    data = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf, "d": 2}], "e": "x", "f": None}
    assert nan_to_none(data) == {
        "a": None,
        "b": [1.0, None, {"c": None, "d": 2}],
        "e": "x",
        "f": None,
    }


# ---------------------------------------------------------------- pure wiring


def test_measured_quality_applies_only_after_the_lag() -> None:
    skill = np.array([[1.0, 2.0, 3.0]])
    work = MinerWork(
        contribution=skill.copy(),
        apparent=np.array([[1.0, 2.0, 9.0]]),
        duplicate=np.array([[False, False, True]]),
        cost_per_day=np.zeros((1, 3)),
    )
    factors = np.array([[np.nan, 0.5, 0.0]])
    lag = np.array([[0.0, 0.0, 720.0]])
    apply_measured_quality(work, skill, factors, lag, block=360)
    np.testing.assert_allclose(work.apparent, [[1.0, 1.0, 9.0]])  # copier still before its lag
    assert work.duplicate.tolist() == [[False, False, True]]
    apply_measured_quality(work, skill, factors, lag, block=720)
    np.testing.assert_allclose(work.apparent, [[1.0, 1.0, 0.0]])
    assert not work.duplicate.any()
    np.testing.assert_allclose(work.contribution, skill)  # real work is untouched


def test_quality_factors_undo_the_weight_exponent_and_are_seeded() -> None:
    data = shipped()
    data["roles"]["free_rider"].update(final_weight_share=0.25 * 0.4 / 6)
    data["roles"]["free_rider"]["gradient_score"].update(std=0.0)
    cal = calibration_from_dict(data)
    strategy = np.array([["honest", "lazy", "sybil", ""]], dtype=object)
    a = measured_quality_factors(cal, strategy, weight_exponent=2.0, rng=np.random.default_rng(3))
    b = measured_quality_factors(cal, strategy, weight_exponent=2.0, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a[0, 1] == pytest.approx(0.5)  # sqrt(0.25): the validator squares it back
    assert np.isnan(a[0, 2]) and np.isnan(a[0, 3])  # sybil not measured; not a miner


# ---------------------------------------------------------------- the model


def _income_ratios(calibration_file: str | None, seed: int = 5) -> dict[str, float]:
    config = load_config(
        {
            "horizon_days": 3,
            "network": {"n_subnets": 2, "n_uids": 32, "n_validators": 4},
            "stakers": {"n_stakers": 4},
            "validators": {"mix": {"honest": 1.0}},
            "miners": {
                "mix": {"honest": 0.6, "lazy": 0.2, "copier": 0.2},
                "calibration_file": calibration_file,
            },
        },
        seed=seed,
    )
    model = GovSimModel(config)
    model.run()
    income = model.uid_income_tao
    per_uid = {
        k: float(income[model.miner_strategy == k].mean()) for k in ("honest", "lazy", "copier")
    }
    return {k: v / per_uid["honest"] for k, v in per_uid.items()}


def test_calibrated_run_moves_lazy_and_copier_income_to_the_measured_weights(
    tmp_path: Path,
) -> None:
    plain = _income_ratios(None)
    measured = _income_ratios(str(SHIPPED))
    # Model mechanics: a lazy uid still earns (effort 0.3, scored ~effort^2 with noise); an
    # undetected copier earns like the peer it copies.
    assert plain["lazy"] > 0.05 and plain["copier"] > 0.5, plain
    # Measured: a free-rider and (after 2 rounds) a copier get zero weight.
    assert measured["lazy"] < 0.01 and measured["copier"] < 0.05
    # A file measuring lazy at 0.25 of honest raises lazy income towards that share.
    data = shipped()
    data["roles"]["free_rider"].update(final_weight_share=0.25 * 0.4 / 6)
    data["roles"]["free_rider"]["gradient_score"].update(std=0.0)
    quarter = _income_ratios(str(write(tmp_path, data)))
    assert 0.15 < quarter["lazy"] < 0.5 and quarter["lazy"] > measured["lazy"], quarter


def test_calibrated_run_is_deterministic() -> None:
    assert _income_ratios(str(SHIPPED), seed=9) == _income_ratios(str(SHIPPED), seed=9)


# ---------------------------------------------------------------- CLI round trip


def test_ground_truth_calibrate_round_trips_into_the_loader(tmp_path: Path) -> None:
    from sim.cli._root import main

    out = tmp_path / "cal.json"
    result = CliRunner().invoke(
        main,
        [
            "ground-truth",
            "--config",
            "cpu-tiny",
            "--rounds",
            "3",
            "--out",
            str(tmp_path / "gt"),
            "--calibrate",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-finite {c} written"))
    cal = load_miner_calibration(out)
    assert cal.format_version == FORMAT_VERSION and cal.rounds == 3
    assert {"honest", "lazy", "copier"} <= set(cal.strategies)


def test_config_refuses_a_bad_calibration_file_at_the_boundary(tmp_path: Path) -> None:
    path = write(tmp_path, _broken(lambda d: d["roles"]["copier"].update(n_uids=0)))
    with pytest.raises(ValueError, match=r"miners\.calibration_file.*roles\.copier\.n_uids"):
        load_config({"miners": {"calibration_file": str(path)}})
    assert load_config({}).miners.calibration_file is None  # default: model mechanics
