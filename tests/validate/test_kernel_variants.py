"""Kernel variants of one op kind (LayerNorm and RMSNorm, GeLU and SwiGLU) priced apart."""

from __future__ import annotations

import pytest

from archsim.cost.compute import compute_time
from archsim.graph.backward import backward_of
from archsim.graph.transformer import Shape, head_forward, layer_forward
from archsim.spec.device import EfficiencySpec
from archsim.spec.model import ModelSpec
from archsim.validate.calibrate import build_spec, device_mapping
from archsim.validate.fit import fit_device
from archsim.validate.records import vector_op

LAUNCH = 5e-6
PEAK = 5e10  # fp32 GEMM rate of the synthetic device (its vector peak too)
BANDWIDTH = 20e9


def _model(norm: str, mlp: str) -> ModelSpec:
    return ModelSpec(name="m", layers=1, hidden=64, heads=4, ffn_hidden=256, vocab=128,
                     mlp=mlp, norm=norm, max_seq_len=128)


def _op(ops, name):
    return next(op for op in ops if op.name == name)


def test_the_graph_names_the_kernel_behind_norms_and_activations():
    shape = Shape(batch=1, seq=16, kv_seq=16, dtype="fp32", training=True)
    llama = layer_forward(_model("rmsnorm", "swiglu"), shape)
    gpt = layer_forward(_model("layernorm", "gelu"), shape)
    assert _op(llama, "L0.ln_attn").variant == "rmsnorm"
    assert _op(llama, "L0.ln_mlp").variant == "rmsnorm"
    assert _op(llama, "L0.swiglu").variant == "swiglu"
    assert _op(gpt, "L0.ln_attn").variant == "layernorm"
    assert _op(gpt, "L0.gelu").variant == "gelu"
    assert _op(head_forward(_model("rmsnorm", "swiglu"), shape), "ln_final").variant == "rmsnorm"
    relu = layer_forward(_model("layernorm", "relu"), shape)
    assert _op(relu, "L0.gelu").variant == "relu"  # the graph's name for any plain activation
    # the backward op is the same kernel family's backward
    assert backward_of(_op(llama, "L0.ln_attn"))[0].variant == "rmsnorm"
    assert _op(gpt, "L0.qkv").variant is None


def test_lookup_prefers_the_variant_then_the_kind():
    eff = EfficiencySpec(matmul={"points": [[1.0, 1.0]]}, memory=1.0, vector=0.5,
                         by_kind={"norm.bwd": 0.2, "norm.rmsnorm.bwd": 0.05,
                                  "norm.layernorm": 0.3, "norm": 0.4})
    assert eff.vector_for("norm", "bwd", "rmsnorm") == 0.05
    assert eff.vector_for("norm", "bwd", "layernorm") == 0.3   # kind.variant, any phase
    assert eff.vector_for("norm", "fwd", "rmsnorm") == 0.4     # no rmsnorm fwd: the kind's
    assert eff.vector_for("norm", "bwd", "unmeasured") == 0.2  # kind.phase
    assert eff.vector_for("norm", "bwd") == 0.2
    assert eff.vector_for("softmax", "fwd", "x") == 0.5       # nothing listed: vector


def _records(kernel: str, eta: float) -> list[dict]:
    """fwd and bwd records of ``kernel`` timed as a device running it at ``eta`` of PEAK would:
    launch + max(FLOPs / (PEAK · η), bytes / BANDWIDTH), with the graph's FLOPs and bytes."""
    out = []
    for rows, cols in ((1024, 512), (4096, 1024), (4096, 4096)):
        for phase in ("fwd", "bwd"):
            rec = {"kernel": kernel, "rows": rows, "cols": cols, "dtype": "fp32",
                   "phase": phase}
            op = vector_op(rec)
            rec["time_s"] = LAUNCH + max(op.flops / (PEAK * eta), op.bytes / BANDWIDTH)
            out.append(rec)
    return out


def test_the_fit_gives_each_variant_its_own_efficiency():
    # LayerNorm at 0.1 of the vector peak, RMSNorm at 0.025 (4x slower, as eager RMSNorm's
    # backward runs several autograd ops where LayerNorm's runs one fused kernel)
    raw = {"overhead": [{"op": "add", "time_s": LAUNCH}],
           "memory": [{"kernel": "copy", "elements": 2**k, "dtype": "fp32",
                       "time_s": LAUNCH + 8 * 2**k / BANDWIDTH} for k in range(18, 27, 2)],
           "gemm": [{"m": m, "k": 1024, "n": 1024, "layout": "nt", "dtype": "fp32",
                     "time_s": LAUNCH + 2.0 * m * 1024 * 1024 / PEAK} for m in (1024, 4096)],
           "vector": _records("layer_norm", 0.1) + _records("rms_norm", 0.025)}

    def build(fit):
        return build_spec(device_mapping(fit, name="t", kind="cpu", capacity=2**34, tdp=10))

    fit = fit_device(raw, "fp32", build)
    for phase in ("fwd", "bwd"):
        assert fit.by_kind[f"norm.layernorm.{phase}"] == pytest.approx(0.1, rel=1e-3)
        assert fit.by_kind[f"norm.rmsnorm.{phase}"] == pytest.approx(0.025, rel=1e-3)
        # the kind's own efficiency, for variants no record measured, lies between the two
        assert 0.025 < fit.by_kind[f"norm.{phase}"] < 0.1
    device = build(fit)
    assert fit.errors["norm"]["max"] < 1e-3  # one η for both kernels could not do this
    rms = vector_op({"kernel": "rms_norm", "rows": 4096, "cols": 4096, "dtype": "fp32",
                     "phase": "bwd"})
    assert compute_time(rms, device) == pytest.approx(
        LAUNCH + rms.flops / (PEAK * 0.025), rel=1e-3)
