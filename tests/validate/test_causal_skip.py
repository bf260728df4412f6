"""How much of a causal mask's masked work the attention kernel skips: measured by the
calibration, priced by the cost model (EfficiencySpec.causal_skip)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from archsim.cost.compute import attention_work, causal_work, compute_time
from archsim.graph.backward import backward_of
from archsim.graph.transformer import Shape, layer_forward
from archsim.spec.device import EfficiencySpec
from archsim.spec.loader import load_spec_file
from archsim.spec.model import ModelSpec
from archsim.validate.fit import fit_causal_skip

MODEL = ModelSpec(name="m", layers=1, hidden=512, heads=8, vocab=128, max_seq_len=4096)


def _attn(**shape):
    ops = layer_forward(MODEL, Shape(dtype="fp32", flash=True, **shape))
    return next(op for op in ops if op.name == "L0.attn")


def test_the_graph_says_how_much_work_the_mask_makes_skippable():
    prefix = _attn(batch=2, seq=512, kv_seq=512, training=True)
    assert (prefix.work_fraction, prefix.masked) == (0.5, 0.5)
    # a 256-token chunk after 768 cached tokens: its 256×256 triangle, 1/8 of 256×1024
    chunk = _attn(batch=1, seq=256, kv_seq=1024, kv_cache=True)
    assert chunk.masked == pytest.approx(0.125) and chunk.work_fraction == pytest.approx(0.875)
    decode = _attn(batch=1, seq=1, kv_seq=1024, kv_cache=True)
    assert (decode.work_fraction, decode.masked) == (1.0, 0.0)
    encoder = _attn(batch=2, seq=512, kv_seq=512, training=True, causal=False)
    assert encoder.masked == 0.0
    (bwd,) = backward_of(prefix)
    assert bwd.masked == 0.5 and bwd.work_fraction == pytest.approx(0.5 * 1.25)


def test_the_work_of_a_causal_attention_by_hand():
    """Skip 0 at 128 queries, 0.5 at 1024, log-interpolated: a whole prefix (masked 0.5)
    does all its work at 128 queries, 1 − 0.5·0.5 = 0.75 of it at 1024 and 1 − 0.5·0.25 =
    0.875 at √(128·1024) ≈ 362; its backward (FlashAttention-2: 1.25× the nominal work) the
    same shares of 1.25."""
    skip = [(128, 0.0), (1024, 0.5)]
    assert causal_work(skip, 0.5, 0.5, 128) == pytest.approx(1.0)
    assert causal_work(skip, 0.5, 0.5, 1024) == pytest.approx(0.75)
    assert causal_work(skip, 0.5, 0.5, 4096) == pytest.approx(0.75)  # the end value beyond
    assert causal_work(skip, 0.5, 0.5, round(math.sqrt(128 * 1024))) == pytest.approx(
        0.875, abs=1e-3)
    assert causal_work(skip, 0.625, 0.5, 1024) == pytest.approx(0.9375)
    # a chunk with 1/8 of its work masked: at 1024 queries it skips half of that
    assert causal_work(skip, 0.875, 0.125, 1024) == pytest.approx(1 - 0.125 * 0.5)
    assert causal_work(skip, 1.0, 0.0, 1024) == 1.0  # nothing masked, nothing to skip


@pytest.mark.parametrize("points, message", [
    ([], "causal_skip: expected at least one [queries, share] point"),
    ([(128, 1.5)], "causal_skip: point [128, 1.5]: expected queries ≥ 1 and a share in [0, 1]"),
    ([(512, 0.0), (128, 0.2)], "causal_skip: query lengths must increase"),
])
def test_bad_causal_skip_points_are_refused(points, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        EfficiencySpec(matmul={"points": [[1.0, 1.0]]}, memory=1.0, causal_skip=points)


def test_a_kernel_that_skips_nothing_costs_what_the_unmasked_one_does():
    device = load_spec_file("devices", "a100-sxm4-80gb")
    causal = _attn(batch=4, seq=2048, kv_seq=2048, training=True)
    full = replace(causal, work_fraction=1.0, masked=0.0)
    assert attention_work(causal, device) == 0.5  # no measurement: FlashAttention's skipping
    skips_nothing = device.model_copy(update={"efficiency": device.efficiency.model_copy(
        update={"causal_skip": [(1, 0.0)]})})
    assert attention_work(causal, skips_nothing) == pytest.approx(1.0)
    assert compute_time(causal, skips_nothing) == pytest.approx(compute_time(full, device))
    assert compute_time(causal, device) < 0.6 * compute_time(full, device)


def _rec(q, causal, phase, t, **extra):
    return {"batch": 1, "heads": 8, "q": q, "kv": q, "head_dim": 64, "causal": causal,
            "phase": phase, "dtype": "fp32", "time_s": t, **extra}


def test_the_skip_is_fitted_from_the_same_shapes_with_and_without_the_mask():
    """Launch 10 µs. At 256 queries causal = unmasked (skips nothing); at 1024 forward takes
    0.75 of the unmasked time (skips half the masked half) and backward 0.7 (0.6): share
    0.5 and 0.6, mean 0.55. Unpaired, decode and contended records are left out."""
    launch = 10e-6
    records = [
        _rec(256, True, "fwd", launch + 1e-3), _rec(256, False, "fwd", launch + 1e-3),
        _rec(1024, True, "fwd", launch + 3e-3), _rec(1024, False, "fwd", launch + 4e-3),
        _rec(1024, True, "bwd", launch + 7e-3), _rec(1024, False, "bwd", launch + 10e-3),
        _rec(2048, True, "fwd", 0.02),  # no unmasked twin
        {**_rec(1, False, "fwd", 1e-4), "kv": 512},  # a decode step
        _rec(512, True, "fwd", launch + 1e-3, contention=0.9),
        _rec(512, False, "fwd", launch + 2e-3),
    ]
    assert fit_causal_skip(records, launch) == [(256.0, 0.0), (1024.0, 0.55)]
    assert fit_causal_skip([_rec(256, True, "fwd", 1e-3)], launch) == []
