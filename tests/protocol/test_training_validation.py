"""Malformed uploads are rejected with a reason naming the problem, and scored as invalid."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.training import (
    CONFIGS,
    MINER_STRATEGIES,
    CompressedGradient,
    MinerStrategy,
    compress_pseudo_gradient,
    init_run,
    miner_train_window,
    run_round,
    validate_gradient,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


SHAPES = {"w": (128, 128), "b": (64,)}


def _valid() -> CompressedGradient:
    gen = torch.Generator().manual_seed(0)
    delta = {n: torch.randn(s, generator=gen) for n, s in SHAPES.items()}
    return compress_pseudo_gradient(delta, None, topk=64).gradient


def _with(grad: CompressedGradient, name: str, **changes) -> CompressedGradient:
    tensors = dict(grad.tensors)
    tensors[name] = dataclasses.replace(tensors[name], **changes)
    return CompressedGradient(tensors)


def test_valid_upload_passes_both_forms() -> None:
    grad = _valid()
    assert validate_gradient(grad, SHAPES).ok
    result = validate_gradient(grad.to_dict(), SHAPES)
    assert result.ok and result.gradient is not None


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda g: _with(g, "w", shape=(64, 256)), "shape"),
        (lambda g: _with(g, "b", idx=torch.full_like(g.tensors["b"].idx, 64)), "out of range"),
        (
            lambda g: _with(
                g, "w", idx=g.tensors["w"].idx[:, :32], codes=g.tensors["w"].codes[:, :32]
            ),
            "wrong k",
        ),
        (lambda g: _with(g, "w", shift=torch.tensor(float("nan"))), "non-finite"),
        (lambda g: _with(g, "w", lut=torch.tensor([0.0, float("inf"), 1.0, 2.0])), "non-finite"),
        (lambda g: _with(g, "w", scale=torch.tensor(0.0)), "scale"),
        (lambda g: _with(g, "w", scale=torch.tensor(1e5)), "scale"),
        (lambda g: _with(g, "w", codes=torch.full_like(g.tensors["w"].codes, 7)), "code"),
        (lambda g: _with(g, "w", idx=torch.zeros_like(g.tensors["w"].idx)), "duplicate"),
        (lambda g: CompressedGradient({"w": g.tensors["w"]}), "missing"),
    ],
)
def test_malformed_uploads_rejected(mutate, needle: str) -> None:
    result = validate_gradient(mutate(_valid()), SHAPES)
    assert not result.ok
    assert needle in result.reason


def test_malformed_dict_payloads_rejected() -> None:
    payload = _valid().to_dict()
    bad_dtype = {**payload, "w.qparams": payload["w.qparams"].double()}
    assert "w.qparams" in validate_gradient(bad_dtype, SHAPES).reason
    no_format = {k: v for k, v in payload.items() if k != "__format__"}
    assert "__format__" in validate_gradient(no_format, SHAPES).reason
    extra = {**payload, "x.shape": torch.tensor([3])}
    assert not validate_gradient(extra, SHAPES).ok
    assert not validate_gradient({"w": "pickle"}, SHAPES).ok
    assert not validate_gradient(b"\x80\x04pickle", SHAPES).ok
    assert "exceeds" in validate_gradient(payload, SHAPES, max_bytes=100).reason
    assert validate_gradient(payload, SHAPES, max_bytes=10**6).ok


class _NaNMiner(MinerStrategy):
    """Trains honestly but uploads a message whose quantizer shift is NaN."""

    def build_delta(self, ctx):
        from protocol.training.compression import compress_pseudo_gradient as compress

        grad = compress(ctx.delta, None, topk=ctx.config.topk).gradient
        name = next(iter(grad.tensors))
        return _with(grad, name, shift=torch.tensor(float("nan")))


def test_invalid_upload_scored_as_invalid() -> None:
    MINER_STRATEGIES.add("test_nan", _NaNMiner("test_nan"), replace=True)
    roles = ("honest",) * 5 + ("test_nan",)
    config = dataclasses.replace(CONFIGS["cpu-tiny"], roles=roles, uids_per_window=6)
    state = init_run(config, seed=1)
    nan_uid = config.first_miner_uid + 5
    for _ in range(3):
        metrics = run_round(state)
        record = next(r for r in metrics.uids if r.uid == nan_uid)
        assert record.status == "invalid" and not record.gathered and record.evaluated
        assert record.final_score == 0.0 and record.weight == 0.0
        assert np.isfinite(metrics.held_out_loss)
    assert record.ordinal < 0  # −99 in every match


def test_external_uploads_go_through_the_same_checks() -> None:
    from protocol.training import ExternalUpload, worker_task
    from protocol.training.validator import debug_slices

    roles = ("honest",) * 3 + ("live", "live", "live")
    config = dataclasses.replace(CONFIGS["cpu-tiny"], roles=roles, uids_per_window=6)
    state = init_run(config, seed=3)
    good, bad, absent = (config.first_miner_uid + i for i in (3, 4, 5))
    task = worker_task(state, good)
    assert task.sequence_ids.shape == (config.inner_steps, config.batch_size)
    batches = state.sequences[torch.as_tensor(task.sequence_ids)]
    delta = miner_train_window(state.model, task.theta, batches, lr=task.hparams["inner_lr"])
    payload = compress_pseudo_gradient(delta, None, topk=config.topk).gradient.to_dict()
    start, _ = task.put_window
    external = {
        good: ExternalUpload(payload, start + 5.0, debug_slices(task.theta)),
        bad: ExternalUpload({**payload, "table.weight.qparams": torch.zeros(3)}, start + 5.0),
        absent: ExternalUpload(None, 0.0),
    }
    metrics = run_round(state, external=external)
    status = {r.uid: r.status for r in metrics.uids}
    assert status[good] == "ok" and status[bad] == "invalid" and status[absent] == "missing"
    assert next(r for r in metrics.uids if r.uid == good).gathered
    assert next(r for r in metrics.uids if r.uid == bad).weight == 0.0


# ---------------------------------------------------------------- batched == per-parameter checks
def _reference_from_dict(payload: dict[str, torch.Tensor]) -> CompressedGradient:
    """The per-parameter decode that ``from_dict`` replaced (one unpack per parameter)."""
    from protocol.training.compression import (
        CompressedTensor,
        unpack_codes_2bit,
        unpack_indices_12bit,
    )

    bins = int(payload["__format__"][2])
    tensors = {}
    for name in sorted({k.rsplit(".", 1)[0] for k in payload if k != "__format__"}):
        idx = unpack_indices_12bit(payload[f"{name}.idx"])
        if payload[f"{name}.codes"].numel() * 4 < idx.numel():
            raise ValueError(f"key '{name}.codes': too few packed codes for {idx.numel()} values")
        codes = unpack_codes_2bit(payload[f"{name}.codes"], idx.numel()).reshape(idx.shape)
        q = payload[f"{name}.qparams"]
        assert q.numel() == 2 + bins
        shape = tuple(int(s) for s in payload[f"{name}.shape"].tolist())
        tensors[name] = CompressedTensor(shape, idx, codes, q[0], q[1], q[2:])
    return CompressedGradient(tensors)


def _reference_reason(grad: CompressedGradient, shapes=SHAPES) -> str:
    """The first failing per-parameter check, as the loop before batching reported it."""
    from protocol.training.validation import _check_tensor

    if set(grad.tensors) != set(shapes):
        return "parameters"
    for name, shape in shapes.items():
        reason = _check_tensor(name, grad.tensors[name], shape, chunk=64, topk=64, bins=4)
        if reason:
            return reason
    return ""


def _corpus() -> list[CompressedGradient]:
    """The malformed uploads above plus the rejections they leave out, and the valid one."""
    g = _valid()
    w, b = g.tensors["w"], g.tensors["b"]
    one_dup = b.idx.clone()
    one_dup[0, 1] = one_dup[0, 0]
    w_high = w.idx.clone()
    w_high[-1, -1] = 4096
    b_edge = b.idx.clone()
    b_edge[0, 0] = 63  # the largest legal index of a 64-entry chunk (may duplicate: both fail)
    return [
        g,
        *(mutate(g) for mutate, _ in MALFORMED),
        _with(g, "b", idx=one_dup),
        _with(g, "w", idx=w_high),
        _with(g, "b", idx=b.idx - 1),
        _with(g, "w", codes=w.codes[:, :32]),
        _with(g, "w", lut=torch.zeros(5)),
        _with(g, "b", codes=torch.full_like(b.codes, 4)),
        _with(g, "b", scale=torch.tensor(-1.0)),
        _with(g, "b", shift=torch.tensor(float("-inf"))),
        _with(g, "b", idx=b_edge),
        _with(g, "w", scale=torch.tensor(0.0), lut=torch.tensor([0.0, float("nan"), 1.0, 2.0])),
    ]


MALFORMED = [
    (lambda g: _with(g, "w", shape=(64, 256)), "shape"),
    (lambda g: _with(g, "b", idx=torch.full_like(g.tensors["b"].idx, 64)), "out of range"),
    (
        lambda g: _with(g, "w", idx=g.tensors["w"].idx[:, :32], codes=g.tensors["w"].codes[:, :32]),
        "wrong k",
    ),
    (lambda g: _with(g, "w", shift=torch.tensor(float("nan"))), "non-finite"),
    (lambda g: _with(g, "w", lut=torch.tensor([0.0, float("inf"), 1.0, 2.0])), "non-finite"),
    (lambda g: _with(g, "w", scale=torch.tensor(0.0)), "scale"),
    (lambda g: _with(g, "w", scale=torch.tensor(1e5)), "scale"),
    (lambda g: _with(g, "w", codes=torch.full_like(g.tensors["w"].codes, 7)), "code"),
    (lambda g: _with(g, "w", idx=torch.zeros_like(g.tensors["w"].idx)), "duplicate"),
    (lambda g: CompressedGradient({"w": g.tensors["w"]}), "missing"),
]


@pytest.mark.parametrize("case", range(len(MALFORMED) + 11))
def test_batched_checks_match_per_parameter_checks(case: int) -> None:
    grad = _corpus()[case]
    expected = _reference_reason(grad)
    result = validate_gradient(grad, SHAPES)
    assert result.ok == (expected == "")
    if expected and expected != "parameters":
        assert result.reason == expected
    if grad.tensors.keys() == SHAPES.keys():
        # The same upload through the wire format (12-bit indices, 2-bit codes) and back.
        try:
            payload = grad.to_dict()
        except ValueError:
            return  # not representable on the wire (e.g. indices >= 4096 or codes >= 4)
        try:
            slow = _reference_from_dict(payload)
        except ValueError as exc:
            with pytest.raises(ValueError) as fast_error:
                CompressedGradient.from_dict(payload)
            assert str(fast_error.value) == str(exc)
            assert validate_gradient(payload, SHAPES).reason == str(exc)
            return
        fast = CompressedGradient.from_dict(payload)
        for name in SHAPES:
            assert torch.equal(fast.tensors[name].idx, slow.tensors[name].idx)
            assert torch.equal(fast.tensors[name].codes, slow.tensors[name].codes)
        dict_result = validate_gradient(payload, SHAPES)
        assert (dict_result.ok, dict_result.reason) == (
            _reference_reason(slow) == "",
            _reference_reason(slow),
        )


@settings(max_examples=40, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4))
def test_bit_flipped_wire_payloads_judged_as_per_parameter(flips) -> None:
    """Random byte corruption of the packed indices/codes: batched and per-parameter agree."""
    payload = {k: v.clone() for k, v in _valid().to_dict().items()}
    keys = ["w.idx", "b.idx", "w.codes", "b.codes", "b.qparams"]
    for position, xor in flips:
        key = keys[position % len(keys)]
        flat = payload[key].view(torch.uint8).reshape(-1)
        flat[(position // len(keys)) % flat.numel()] ^= xor
    result = validate_gradient(payload, SHAPES)
    try:
        expected = _reference_reason(_reference_from_dict(payload))
    except ValueError as exc:
        expected = str(exc)
    assert (result.ok, result.reason) == (expected == "", expected)
