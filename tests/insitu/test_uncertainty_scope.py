"""What a result's error bar is held against: a serving run's prompts and batch, a compression
plan's fallback, and the bands an end-to-end band is built from.

Expectations come from hardware_profiles/devices/a100-sxm4-80gb.yaml: ``insitu.accuracy``
training {runs 14, sources 2, mape 0.0538, p10 −0.0565, p90 0.0712}, ttft {runs 8, p10 −0.2198,
p90 0.0433}; ``insitu.calibrated_range`` batch [1, 1024], prompt_len [128, 2048], weights
[bf16].
"""

from __future__ import annotations

import pytest

import archsim
from archsim.accuracy import out_of_range, uncertainty_block, uncertainty_lines
from archsim.spec.insitu import AccuracySpec
from archsim.spec.loader import load_spec_file

A100 = {"device": "a100-sxm4-80gb", "count": 1}
PROMPTS = "a100-sxm4-80gb: prompt_len 3800 outside the calibrated 128–2048"


def serving(**workload) -> dict:
    return {"model": "llama2-7b", "hardware": A100,
            "workload": {"kind": "serving", "gen_len": 64, "dtype": "bf16",
                         "arrival": {"process": "poisson", "rate_per_s": 0.5, "count": 40,
                                     "seed": 1}, **workload}}


def ranges(sc: dict) -> list[str]:
    spec = archsim.load_scenario(sc)
    return out_of_range(spec, spec.cluster.pools[0].device)


def test_a_serving_prompt_longer_than_any_calibrated_one_is_out_of_range():
    """Serving had never been held against the prompt span: a 3800-token prompt on the A100
    was in range as a serving run and out of it as a static batch."""
    static = {"model": "llama2-7b", "hardware": A100,
              "workload": {"kind": "inference", "batch": 1, "prompt_len": 3800, "gen_len": 64}}
    assert PROMPTS in ranges(static)
    assert PROMPTS in ranges(serving(prompt_len=3800, max_num_seqs=2048))
    assert not [r for r in ranges(serving(prompt_len=512)) if "prompt_len" in r or "batch" in r]


def test_a_serving_run_is_judged_on_every_prompt_it_serves(tmp_path):
    """A trace of prompts 64, 512 and 4096 tokens: two of the three lie outside 128–2048."""
    trace = tmp_path / "trace.csv"
    trace.write_text("arrival_s,prompt_len,gen_len\n0.0,64,8\n1.0,512,8\n2.0,4096,8\n")
    sc = serving()
    sc["workload"]["arrival"] = {"process": "trace", "trace_file": str(trace)}
    assert ("a100-sxm4-80gb: prompt_len 64–4096 outside the calibrated 128–2048 (2 of 3 "
            "prompts)") in ranges(sc)


def test_a_serving_batch_is_its_max_num_seqs_up_to_the_requests_served():
    """The most sequences a replica batches: max_num_seqs 2048 with 40 requests is 40 (in
    1–1024); with 1500 requests it is 1500."""
    assert not [r for r in ranges(serving(max_num_seqs=2048)) if "batch" in r]
    many = serving(max_num_seqs=2048)
    many["workload"]["arrival"]["count"] = 1500
    assert "a100-sxm4-80gb: max batch 1500 outside the calibrated 1–1024" in ranges(many)


def test_a_serving_result_outside_the_range_widens_its_bands():
    d = archsim.simulate(serving(prompt_len=3800, max_num_seqs=2048)).to_dict()
    u = d["uncertainty"]
    assert PROMPTS in u["out_of_range"] and not u["in_range"]
    ttft = u["errors"]["ttft"]
    assert ttft["p10"] <= -0.2198 and ttft["p90"] >= 0.0433
    assert ttft["widened"].startswith("outside the calibrated range: ")
    lines = uncertainty_lines(d)
    assert any(line.startswith("  TTFT: in-range MAPE 11.1% over 8 held-out runs")
               for line in lines)
    assert any(line.startswith("  end-to-end p99: ") and "likely (widened band)" in line
               for line in lines)


FP8_FALLBACK = {"model": "gpt3-1.7b", "hardware": {"device": "a100-sxm4-80gb", "count": 8},
                "workload": {"kind": "training", "seq_len": 2048, "global_batch": 256,
                             "micro_batch": 4, "dtype": "bf16"},
                "compression": {"weight_dtype": "fp8", "activation_dtype": "fp8",
                                "fallback": "bf16"},
                "plan": {"tp": 1, "pp": 1, "zero": 1}}


def test_fp8_training_that_falls_back_is_judged_as_bf16():
    """The A100 has no fp8: with fallback bf16 the step stores and computes bf16 (16-bit
    training after all), so no 'weights in fp8' flag and the in-range band. The training error
    e = predicted / measured − 1 lies in p10 … p90 for 80% of the runs, so the measured step
    of a prediction t is t / (1 + e): the interval is t / (1 + p90) … t / (1 + p10)
    (t / 1.0712 … t / 0.9435 with the profile's p10 −0.0565, p90 0.0712, read below)."""
    d = archsim.simulate(FP8_FALLBACK).to_dict()
    u = d["uncertainty"]
    assert u["out_of_range"] == [] and u["in_range"]
    assert "widened" not in u["errors"]["training"]
    t = d["step_time_s"]
    acc = load_spec_file("devices", "a100-sxm4-80gb").insitu.accuracy["training"]
    assert u["intervals"]["step_time_s"] == pytest.approx([t / (1 + acc.p90), t / (1 + acc.p10)])
    assert ("  training: MAPE 5.4% over 14 held-out runs from 2 sources (leave-one-source-out); "
            "for 80% of them the predicted time was -6% … +7% off the measured one") \
        in uncertainty_lines(d)


def test_fp8_inference_that_falls_back_keeps_its_fp8_weights():
    """Inference under the same plan keeps its fp8 weights in memory and converts them for
    each bf16 GEMM (archsim/plan/compress.py): its weights are fp8, which the A100 runs never
    had."""
    sc = {"model": "llama2-7b", "hardware": A100,
          "workload": {"kind": "inference", "batch": 16, "prompt_len": 512, "gen_len": 64},
          "compression": FP8_FALLBACK["compression"]}
    assert ranges(sc) == ["a100-sxm4-80gb: weights in fp8; calibrated on bf16 only"]


def _inference(table: dict[str, AccuracySpec]):
    sc = archsim.load_scenario({"model": "llama2-7b", "hardware": A100,
                                "workload": {"kind": "inference", "batch": 1,
                                             "prompt_len": 512, "gen_len": 256}})
    device = sc.hardware.device
    device = device.model_copy(update={"insitu": device.insitu.model_copy(update={
        "accuracy": table, "calibrated_range": None})})
    return sc.model_copy(update={"hardware": sc.hardware.model_copy(update={"device": device})})


def test_an_end_to_end_band_built_of_widened_bands_says_so(monkeypatch):
    """TTFT from 4 runs, TPOT read off 6 throughput runs held out from the defaults: both
    widened to the reference band −20% … +15%. Their sum, TTFT + 255·TPOT, had claimed
    'MAPE 23.0% over 10 held-out runs … 80% of them within' as if it were measured."""
    import archsim.accuracy as accuracy

    monkeypatch.setattr(accuracy, "reference_band", lambda group: (-0.2, 0.15))
    table = {"ttft": AccuracySpec(runs=4, sources=1, mape=0.23, bias=-0.2, p10=-0.31, p90=-0.1),
             "throughput": AccuracySpec(runs=6, sources=1, mape=0.178, bias=-0.17, p10=-0.31,
                                        p90=-0.09, from_defaults=6)}
    ttft, tpot = 0.3, 0.01
    d = {"mode": "inference", "ttft_s": ttft, "tpot_s": tpot, "e2e_latency_s": ttft + 255 * tpot}
    u = uncertainty_block(d, _inference(table))
    e2e = u["errors"]["e2e_latency"]
    assert e2e["from_defaults"] == 6 and e2e["runs"] == 10
    assert e2e["widened"] == (
        "4 held-out runs cannot fix an 80% band; its held-out runs were predicted from the "
        "micro-benchmark defaults, their fold leaving no run of their kind to fit, so they "
        "measure the defaults' error, not the fit's: its TTFT and TPOT bands widened to the "
        "widest band of the shipped profiles calibrated on ≥ 5 runs of this kind")
    # each part at −31% … +15%: TTFT + 255·TPOT over 1.15 … over 0.69
    lo, hi = u["intervals"]["e2e_latency_s"]
    assert (lo, hi) == pytest.approx((2.85 / 1.15, 2.85 / 0.69))
    line = next(x for x in uncertainty_lines({**d, "uncertainty": u})
                if x.startswith("  end-to-end latency: "))
    assert "80% of them" not in line
    assert "predicted times taken as -31% … +15% off the measured ones, the wider reference band" \
        in line
    assert "  latency: 2.85 s, likely (widened band) 2.48–4.13 s" in \
        uncertainty_lines({**d, "uncertainty": u})


def test_a_device_calibrated_on_another_kind_of_run_says_the_error_is_unknown():
    """The MI300X's profile is calibrated on fp8 vLLM inference runs only
    (hardware_profiles/devices/mi300x.yaml ``insitu.accuracy``: e2e_latency). A training run
    on it has no band: it had said ``calibrated: true`` with no interval and no word that the
    error is unknown."""
    r = archsim.simulate({"model": "gpt3-1.7b", "hardware": {"device": "mi300x", "count": 8},
                          "workload": {"kind": "training", "seq_len": 2048,
                                       "global_batch": 64, "micro_batch": 2}}).to_dict()
    u = r["uncertainty"]
    assert (u["calibrated"], u["intervals"], u["errors"], u["in_range"]) == (False, {}, {}, False)
    assert u["note"] == ("no measured training runs calibrate mi300x: the error of this estimate "
                         "is unknown (archsim calibrate --runs fits a profile to yours)")
    assert "no calibrated runs of this kind (training) on mi300x" in u["out_of_range"]


def test_a_step_shorter_than_any_calibrated_one_may_run_without_the_fixed_cost():
    """The H100's fixed cost per step (insitu.step_overhead) was fitted to multi-GPU framework
    runs whose shortest step is 617 ms (hardware_profiles/devices/h100-sxm5-80gb.yaml
    ``calibrated_range.by_kind.training.step_time_s``). A single-GPU step shorter than that may
    be a bare loop without it: measured = t − F, an error of up to F / (t − F) = φ / (1 − φ),
    so the band's upper end is at least that and the step's interval reaches down to t·(1 − φ).
    The H200 GPU check measured +50…+61% on such steps (reports/validation/h200/)."""
    r = archsim.simulate({"model": "gpt3-1.7b",
                          "hardware": {"device": "h100-sxm5-80gb", "count": 1},
                          "workload": {"kind": "training", "seq_len": 2048, "global_batch": 1,
                                       "micro_batch": 1},
                          "plan": {"zero": 0, "recompute": "selective"}}).to_dict()
    step, fixed = r["step_time_s"], r["time_breakdown"]["overhead_s"]
    phi = fixed / step
    assert step < 0.617 and phi > 0.5
    err = r["uncertainty"]["errors"]["training"]
    assert err["p90"] == pytest.approx(phi / (1 - phi), rel=1e-9)
    assert r["uncertainty"]["intervals"]["step_time_s"][0] == pytest.approx(step - fixed,
                                                                            rel=1e-9)
    assert err["widened"].endswith(f"up to +{100 * phi / (1 - phi):.0f}% where the framework "
                                   f"has no fixed cost per step ({100 * phi:.0f}% of this step)")
    # a step within the calibrated span keeps its band
    long = archsim.simulate({"model": "llama2-7b",
                             "hardware": {"device": "h100-sxm5-80gb", "count": 8},
                             "workload": {"kind": "training", "seq_len": 4096,
                                          "global_batch": 64, "micro_batch": 1},
                             "plan": {"zero": 1, "recompute": "selective"}}).to_dict()
    assert long["step_time_s"] > 0.617
    assert "fixed cost" not in long["uncertainty"]["errors"]["training"].get("widened", "")


def test_a_borrowed_fixed_cost_per_step_is_named_where_it_weighs():
    """The B200 has no training run: its 121 ms per step is the H100's fit, a transfer prior
    (hardware_profiles/devices/b200.yaml insitu.defaults). Where it is over a tenth of the step
    the result names it with its share; it had said only that the error was unknown."""
    r = archsim.simulate({"model": "gpt3-1.7b", "hardware": {"device": "b200", "count": 8},
                          "workload": {"kind": "training", "seq_len": 2048, "global_batch": 64,
                                       "micro_batch": 1}}).to_dict()
    share = 0.121 / r["step_time_s"]
    assert share > 0.1
    assert (f"b200: its fixed cost per step (121 ms, fitted to no training run of this device) "
            f"is {100 * share:.0f}% of this step") in r["uncertainty"]["out_of_range"]


def test_an_extrapolation_on_the_widest_band_says_it_is_not_widened():
    """GPT-3 175B on 4,096 H100s lies outside the H100's calibrated 8–512 devices. Its band
    is widened to the reference band, the widest any shipped profile earned on training runs:
    the H100's own (its profile), so the band cannot grow. It had been labelled "widened"
    unchanged; it now says it is not widened and that the error there is unmeasured."""
    import yaml

    from archsim.accuracy import likely
    from archsim.spec.registry import data_roots

    profile = next(path for r in data_roots()
                   if (path := r / "hardware_profiles/devices/h100-sxm5-80gb.yaml").exists())
    own = yaml.safe_load(profile.read_text())["insitu"]["accuracy"]["training"]
    d = archsim.simulate("gpt3-175b-1024xa100", [
        "hardware.device=h100-sxm5-80gb", "hardware.inter_node=ib-ndr-400g",
        "hardware.intra_node=nvlink4-nvswitch", "hardware.count=4096", "plan.tp=4",
        "plan.pp=8", "plan.zero=1", "workload.global_batch=4096"]).to_dict()
    u = d["uncertainty"]
    err = u["errors"]["training"]
    assert "widened" not in err
    assert (err["p10"], err["p90"]) == (own["p10"], own["p90"])
    assert err["not_widened"].startswith("outside the calibrated range: not widened, its own "
                                         "band is already the widest band")
    assert likely(u, "step_time_s", "training") == \
        "likely (80% in range; outside it, unmeasured)"
    assert any("devices 4096 outside the calibrated 8–512" in x for x in u["out_of_range"])
