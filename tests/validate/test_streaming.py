"""The streaming benchmark (archsim/validate/overheads.py ``fit_streaming``): the in-model cost
of an op that is not a weight GEMM, by the weight bytes a layer streams. The fit gives back the
cost that made the records, and a profile holding it predicts those records through the
engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from archsim.api import simulate
from archsim.cost.compute import compute_time
from archsim.cost.insitu import inference_device
from archsim.spec.device import DeviceSpec
from archsim.validate.calibrate import with_overheads
from archsim.validate.overheads import (
    FAMILIES,
    STREAMING_LAYERS,
    TOKENS,
    WEIGHT_GEMM_LABELS,
    fit_streaming,
    framework_spec,
    scenario,
)
from archsim.validate.predict import inference_pass_ops

PROFILE = Path(__file__).resolve().parents[2] / "reports" / "validation" / "cpu" / \
    "cpu-local-example.yaml"
WIDTHS = (16, 384)
OTHER_OPS = {"gpt": 2 * 7 + 2, "llama": 2 * 8 + 2}
"""Ops of a 2-layer decode pass that are not weight GEMMs: per layer two norms, attention, the
KV write, two residual adds and the activation, and in a Llama layer the rotary embedding too;
the embedding and the final norm."""


def framework_records() -> list[dict]:
    """The example profile's framework benchmark records (1- and 3-layer times)."""
    framework = yaml.safe_load(PROFILE.read_text())["calibration"]["framework_fit"]
    return [{"model": d["model"], "phase": d["phase"], "layers": n, "time_s": t}
            for d in framework for n, t in zip((1, 3), d["measured_s"], strict=True)]


@pytest.fixture(scope="module")
def device() -> dict:
    """The example CPU profile with the block its framework benchmark's records give with
    today's op graph (the per-op costs are spread over the graph's ops), without a streaming
    curve."""
    data = yaml.safe_load(PROFILE.read_text())
    base = {k: v for k, v in data.items() if k not in ("calibration", "insitu")}
    return with_overheads(base, {"framework": framework_records(), "streaming": []}, "fp32")


def records_made_with(device: dict, cost_of_width: dict[int, float], read_scale: float = 1.0
                      ) -> list[dict]:
    """What the streaming benchmark would record if every op that is not a weight GEMM cost
    ``cost_of_width[width]`` inside the model and the weight GEMMs read their operands in
    ``read_scale`` times the profile's time: the engine's decode step (TPOT) with that cost
    as the device's ``other_op_overhead`` and that ``weight_read_scale``, and the weight GEMMs'
    op ranges at their predicted times."""
    out = []
    for width, cost in cost_of_width.items():
        with_cost = {**device, "insitu": {**device["insitu"],
                                          "other_op_overhead": f"{cost * 1e6} us",
                                          "weight_read_scale": read_scale}}
        dev = inference_device(DeviceSpec.model_validate(with_cost))
        for family in FAMILIES:
            spec = framework_spec(family, STREAMING_LAYERS, width)
            sc = scenario(family, STREAMING_LAYERS, "decode", with_cost, "fp32", width)
            ops = inference_pass_ops(spec, 1, 1, TOKENS + 1, "fp32")
            gemms = sum(compute_time(op, dev) for op in ops if op.layout is not None)
            step = simulate(sc)["tpot_s"]
            # a noisy run either side of the median run: the fit takes the median (the one
            # below is 1% of a step shorter outside its GEMMs, not equal: no tie to break)
            runs = [[step, gemms], [step * 3, gemms],
                    [step - gemms / 2 - step / 100, gemms / 2]]
            out.append({"model": family, "width": width, "layers": STREAMING_LAYERS,
                        "time_s": step, "runs": runs})
    return out


def test_a_pass_has_the_other_ops_counted_by_hand():
    for family in FAMILIES:
        ops = inference_pass_ops(framework_spec(family, 2, 384), 1, 1, TOKENS + 1, "fp32")
        others = sum(1 for op in ops if op.kind != "comm" and op.layout is None)
        assert others == OTHER_OPS[family]


def test_the_models_weight_gemm_ranges_are_the_graphs_weight_gemms():
    """The benchmark sums the op ranges it names weight GEMMs; the fit counts every other op of
    the graph: the two must split the pass the same way."""
    for family in FAMILIES:
        ops = inference_pass_ops(framework_spec(family, 2, 64), 1, 1, TOKENS + 1, "fp32")
        names = {op.name.split(".", 1)[-1] if op.name.startswith("L") else op.name
                 for op in ops if op.layout is not None}
        assert names == WEIGHT_GEMM_LABELS


def test_the_fit_gives_back_the_cost_that_made_the_records(device):
    made = {16: 20e-6, 384: 45e-6}
    points, _, detail = fit_streaming(records_made_with(device, made), device, "fp32")
    assert [round(cost, 9) for _, cost in points] == pytest.approx([20e-6, 45e-6], rel=1e-3)
    # the bytes of a width's point: the mean of its GPT and Llama passes' GEMM weight operands
    # (fp32): two layers and the logits (384 × the benchmark's 64-token vocabulary)
    gpt = 12 * 384 ** 2  # QKV 3h², projection h², MLP 4h² + 4h² (biases are no GEMM operand)
    llama = 384 * (384 + 2 * 192) + 384 ** 2 + 3 * 384 * 768  # GQA 6/3 heads, SwiGLU 768
    logits = 384 * 64
    assert points[1][0] == pytest.approx(
        4 * ((2 * gpt + logits) + (2 * llama + logits)) / 2, rel=1e-3)
    assert all(d["other_ops"] == OTHER_OPS[d["model"]] for d in detail)


def test_the_fit_gives_back_the_read_scale_that_made_the_records(device):
    """GEMMs whose reads took 0.4 of the profile's time: the fit finds 0.4 at width 384, and
    says nothing at width 16, where reading 16 × 48-element weights takes less than the
    GEMMs' fixed costs."""
    made = {16: 20e-6, 384: 45e-6}
    fit = fit_streaming(records_made_with(device, made, read_scale=0.4), device, "fp32")
    assert len(fit.read_scale) == 1
    assert fit.read_scale[0][0] == fit.op_cost[1][0]  # the width-384 point
    assert fit.read_scale[0][1] == pytest.approx(0.4, rel=1e-3)
    assert [d["weight_read_scale_used"] for d in fit.detail] == [False, False, True, True]
    # the ops' cost is found as before: the GEMM ranges are measured, not predicted
    assert [c for _, c in fit.op_cost] == pytest.approx([20e-6, 45e-6], rel=1e-3)


def test_the_read_scale_compares_hot_and_cold_steps_of_the_same_minutes(device):
    """Cold steps (copies of the model cycled) timed beside the hot ones: the scale is their
    ratio. Here the memory ran 1.5× slower during the streaming benchmark than during the
    GEMM benchmark the profile holds: hot reads took 1.5 · 0.4 = 0.6 of the profile's time,
    cold ones 1.5. The paired fit finds 0.6 / 1.5 = 0.4; compared with the prediction, as
    records without cold steps are, the same hot steps give 0.6."""
    made = {16: 20e-6, 384: 45e-6}
    hot = records_made_with(device, made, read_scale=0.6)
    cold = records_made_with(device, made, read_scale=1.5)
    paired = [{**h, "cold_runs": c["runs"]} for h, c in zip(hot, cold, strict=True)]
    fit = fit_streaming(paired, device, "fp32")
    assert len(fit.read_scale) == 1
    assert fit.read_scale[0][1] == pytest.approx(0.4, rel=1e-3)
    assert fit_streaming(hot, device, "fp32").read_scale[0][1] == pytest.approx(0.6, rel=1e-3)
    # the cold GEMM time is kept beside the hot one
    assert fit.detail[2]["weight_gemms_cold_s"] == pytest.approx(cold[2]["runs"][0][1])
    # the ops' cost comes from the hot steps alone
    assert [c for _, c in fit.op_cost] == pytest.approx([20e-6, 45e-6], rel=1e-3)


def test_a_width_whose_one_family_cannot_time_its_cold_reads_takes_the_others_scale(device):
    """On a loaded machine one family's cold GEMMs can come out no slower than their predicted
    fixed costs: that family tells no scale, and the width's scale is the other family's (0.4
    here), not dropped (a CI calibration under load lost the width-384 scale that way)."""
    made = {16: 20e-6, 384: 45e-6}
    hot = records_made_with(device, made, read_scale=0.4)
    cold = records_made_with(device, made, read_scale=1.0)
    paired = [{**h, "cold_runs": c["runs"]} for h, c in zip(hot, cold, strict=True)]
    gpt_384 = next(r for r in paired if (r["model"], r["width"]) == ("gpt", 384))
    gpt_384["cold_runs"] = [[step, 1e-12] for step, _ in gpt_384["cold_runs"]]
    fit = fit_streaming(paired, device, "fp32")
    used = {(d["model"], d["width"]): d["weight_read_scale_used"] for d in fit.detail}
    assert used[("gpt", 384)] is False and used[("llama", 384)] is True
    assert len(fit.read_scale) == 1
    assert fit.read_scale[0][1] == pytest.approx(0.4, rel=1e-3)


def test_a_profile_with_the_curve_predicts_the_records(device):
    """Calibrate's block from the records; the engine then predicts each record's step (one
    cost at both widths, so that the curve is flat and reading it at each family's own layer
    bytes gives that cost exactly)."""
    made = {16: 30e-6, 384: 30e-6}
    records = records_made_with(device, made)
    raw = {"framework": [], "streaming": records}
    base = {**device, "kind": "cpu"}
    mapping = with_overheads({**base, "insitu": None}, raw, "fp32")
    assert mapping.get("insitu") is None  # no framework records: nothing to build on
    raw["framework"] = framework_records()
    mapping = with_overheads({k: v for k, v in base.items() if k != "insitu"}, raw, "fp32")
    curve = mapping["insitu"]["inference_op_overhead_by_pass_bytes"]
    assert len(curve) == 2
    assert "streaming benchmark" in mapping["insitu"]["sources"][
        "inference_op_overhead_by_pass_bytes"]
    for rec in records:
        sc = scenario(rec["model"], STREAMING_LAYERS, "decode", mapping, "fp32", rec["width"])
        assert simulate(sc)["tpot_s"] == pytest.approx(rec["time_s"], rel=1e-6)
