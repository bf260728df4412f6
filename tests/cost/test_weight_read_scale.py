"""The weight GEMMs' read-time factor of an inference pass (archsim/spec/insitu.py
``weight_read_scale`` and ``inference_weight_read_scale_by_pass_bytes``): worked out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml
from pydantic import ValidationError

from archsim.api import simulate
from archsim.cost.compute import compute_time, memory_time, op_overhead, weight_read_factor
from archsim.cost.insitu import factors, run_device
from archsim.graph.ops import Op
from archsim.spec.device import DeviceSpec
from archsim.spec.registry import registry_path
from archsim.validate.cases import MODELS
from archsim.validate.predict import one_device_scenario

GEMV = Op(name="fc1", kind="matmul", phase="fwd", flops=2 * 4096 * 4096,
          bytes=2 * 4096 * 4096 + 4 * 4096, dtype="bf16", shape=(1, 1, 4096, 4096), layout="nt")
"""A decode step's matrix-vector product (m = 1): 4096 × 4096 bf16 weights."""
NORM = Op(name="ln", kind="norm", phase="fwd", flops=1e4, bytes=1e4, dtype="bf16")


def h200(**insitu) -> dict:
    data = yaml.safe_load(registry_path("devices", "h200-sxm-141gb").read_text())
    data["insitu"] = {**data["insitu"], **insitu}
    return data


def test_the_factor_scales_the_share_that_reading_takes():
    # work 10 us of which reading the bytes takes 6 us (φ = 0.6); reads at half the time:
    # 1 − 0.6 + 0.6 × 0.5 = 0.7
    assert weight_read_factor(10e-6, 6e-6, 0.5) == pytest.approx(0.7)
    # reads longer than the work (a purely memory-bound op): φ = 1, the factor is the scale
    assert weight_read_factor(10e-6, 15e-6, 0.4) == pytest.approx(0.4)
    assert weight_read_factor(10e-6, 0.0, 0.4) == pytest.approx(1.0)  # nothing to read


def test_only_weight_gemms_take_it():
    plain = DeviceSpec.model_validate(h200())
    scaled = DeviceSpec.model_validate(h200(weight_read_scale=0.5))
    work = compute_time(GEMV, plain) - op_overhead(GEMV, plain)
    phi = min(1.0, memory_time(GEMV, plain) / work)
    assert compute_time(GEMV, scaled) - op_overhead(GEMV, scaled) == pytest.approx(
        work * (1 - phi + phi * 0.5), rel=1e-9)
    assert compute_time(NORM, scaled) == compute_time(NORM, plain)


def test_an_inference_run_reads_the_curve_at_its_pass_bytes():
    dev = DeviceSpec.model_validate(h200(inference_weight_read_scale_by_pass_bytes=[
        [1e6, 0.4], [1e8, 1.0]]))
    plan = SimpleNamespace(attention_kernel="auto")
    infer = SimpleNamespace(kind="inference", cuda_graphs=False)
    # 1e7 bytes: halfway between the points in log(bytes)
    assert factors(run_device(dev, plan, infer, 1e7)).weight_read_scale == pytest.approx(0.7)
    assert factors(run_device(dev, plan, infer, 1e9)).weight_read_scale == pytest.approx(1.0)
    assert factors(run_device(dev, plan, infer, None)).weight_read_scale == 1.0
    train = SimpleNamespace(kind="training", cuda_graphs=False)
    assert factors(run_device(dev, plan, train, 1e7)).weight_read_scale == 1.0


def test_decode_speeds_up_and_training_does_not():
    """A flat curve at 0.5 on a 2-layer GPT: a decode step is faster; a training step, whose
    GEMMs the streaming benchmark did not measure, is unchanged."""
    curve = h200(inference_weight_read_scale_by_pass_bytes=[[1.0, 0.5]])
    model = MODELS["gpt-medium"]
    infer = {"kind": "inference", "batch": 1, "prompt_len": 64, "gen_len": 4, "dtype": "bf16"}
    train = {"kind": "training", "seq_len": 128, "global_batch": 2, "micro_batch": 2,
             "dtype": "bf16"}
    plain_tpot = simulate(one_device_scenario("t", model, infer, h200()))["tpot_s"]
    assert simulate(one_device_scenario("t", model, infer, curve))["tpot_s"] < plain_tpot
    assert simulate(one_device_scenario("t", model, train, curve))["step_time_s"] == \
        simulate(one_device_scenario("t", model, train, h200()))["step_time_s"]


def test_factors_must_be_in_range():
    with pytest.raises(ValidationError, match=r"factors \[0.0, 1.0\] must be in \(0, 10\]"):
        DeviceSpec.model_validate(h200(inference_weight_read_scale_by_pass_bytes=[
            [1e6, 0.0], [1e8, 1.0]]))
    with pytest.raises(ValidationError, match=r"pass bytes \[100000000.0, 1000000.0\] must be "
                                              r"positive and increasing"):
        DeviceSpec.model_validate(h200(inference_weight_read_scale_by_pass_bytes=[
            [1e8, 0.5], [1e6, 1.0]]))
