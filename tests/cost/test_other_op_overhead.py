"""The fixed cost of ops that are not weight GEMMs (archsim/spec/insitu.py
``other_op_overhead`` and ``inference_op_overhead_by_pass_bytes``): worked out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml
from pydantic import ValidationError

from archsim.api import simulate
from archsim.cost.compute import compute_time
from archsim.cost.insitu import factors, log_interpolate, run_device
from archsim.graph.ops import Op
from archsim.plan.inference import pass_weight_bytes
from archsim.spec.device import DeviceSpec
from archsim.spec.loader import load_scenario
from archsim.spec.registry import registry_path
from archsim.validate.cases import MODELS
from archsim.validate.predict import one_device_scenario

OTHER_OPS_PER_LAYER = 7
"""Ops of a GPT decode layer that are not weight GEMMs: two norms, attention, the KV write,
two residual adds, the activation (its QKV, projection and two MLP GEMMs are)."""


def h200(**insitu) -> dict:
    data = yaml.safe_load(registry_path("devices", "h200-sxm-141gb").read_text())
    data["insitu"] = {**data["insitu"], "inference_kernel_overhead": "5 us", **insitu}
    return data


def test_log_interpolation_between_and_beyond_the_points():
    points = [(1e3, 10e-6), (1e5, 30e-6)]
    assert log_interpolate(points, 1e4) == pytest.approx(20e-6)  # halfway in log(bytes)
    assert log_interpolate(points, 1e2) == 10e-6
    assert log_interpolate(points, 1e7) == 30e-6
    assert log_interpolate([(5.0, 7e-6)], 1e9) == 7e-6


def test_only_ops_that_are_not_weight_gemms_take_it():
    plain = DeviceSpec.model_validate(h200())
    other = DeviceSpec.model_validate(h200(other_op_overhead="50 us"))
    norm = Op(name="ln", kind="norm", phase="fwd", flops=1e3, bytes=1e3, dtype="bf16")
    gemm = Op(name="fc1", kind="matmul", phase="fwd", flops=2e6, bytes=1e4, dtype="bf16",
              shape=(1, 1, 1000, 1000), layout="nt")
    kernel = factors(plain).kernel_overhead
    assert compute_time(norm, other) - compute_time(norm, plain) == pytest.approx(50e-6 - kernel)
    assert compute_time(gemm, other) == compute_time(gemm, plain)


def test_an_inference_run_reads_the_curve_at_its_pass_bytes():
    dev = DeviceSpec.model_validate(h200(inference_op_overhead_by_pass_bytes=[
        [1e6, "20 us"], [1e8, "60 us"]]))
    plan = SimpleNamespace(attention_kernel="auto")
    infer = SimpleNamespace(kind="inference", cuda_graphs=False)
    assert factors(run_device(dev, plan, infer, 1e7)).other_op_overhead == pytest.approx(40e-6)
    assert factors(run_device(dev, plan, infer, None)).other_op_overhead is None
    graphs = SimpleNamespace(kind="inference", cuda_graphs=True)
    assert factors(run_device(dev, plan, graphs, 1e7)).other_op_overhead is None
    train = SimpleNamespace(kind="training", cuda_graphs=False)
    assert factors(run_device(dev, plan, train, 1e7)).other_op_overhead is None


def test_pass_bytes_are_every_weight_gemms_operand():
    """A GPT layer's GEMMs read 12h² weights (QKV 3h², projection h², MLP 4h² + 4h²; biases
    are not GEMM operands); the logits GEMM reads h·vocab (tied to the embedding, so it holds
    no parameters of its own, but it streams them); two layers, at 2 bytes (bf16)."""
    h, vocab = 256, MODELS["gpt-tiny"].vocab
    sc = load_scenario(one_device_scenario("t", MODELS["gpt-tiny"], {
        "kind": "inference", "batch": 1, "prompt_len": 8, "gen_len": 2, "dtype": "bf16"},
        h200()))
    assert MODELS["gpt-tiny"].layers == 2
    assert pass_weight_bytes(sc, sc.hardware.device) == 2 * (2 * 12 * h * h + h * vocab)


def test_two_more_layers_cost_their_other_ops_at_the_curves_value():
    """A flat curve at 105 us against 5 us per kernel: two more GPT layers add 2 × 7 ops at
    100 us more each to every decode step and to the prefill."""
    def decode(layers: int, device: dict) -> dict:
        model = MODELS["gpt-tiny"].model_copy(update={"layers": layers,
                                                      "name": f"gpt-tiny-{layers}"})
        wl = {"kind": "inference", "batch": 1, "prompt_len": 64, "gen_len": 4, "dtype": "bf16"}
        return simulate(one_device_scenario("t", model, wl, device)).to_dict()

    curve = h200(inference_op_overhead_by_pass_bytes=[[1.0, "105 us"]])
    for key in ("tpot_s", "ttft_s"):
        plain = decode(3, h200())[key] - decode(1, h200())[key]
        slow = decode(3, curve)[key] - decode(1, curve)[key]
        assert slow - plain == pytest.approx(2 * OTHER_OPS_PER_LAYER * 100e-6, rel=1e-6)


def test_pass_bytes_must_increase():
    with pytest.raises(ValidationError, match=r"pass bytes \[2000000.0, 1000000.0\] must be "
                                              r"positive and increasing"):
        DeviceSpec.model_validate(h200(inference_op_overhead_by_pass_bytes=[
            [2e6, "20 us"], [1e6, "30 us"]]))
    with pytest.raises(ValidationError, match="has no unit"):
        DeviceSpec.model_validate(h200(inference_op_overhead_by_pass_bytes=[[1e6, 2e-5]]))
