"""`archsim validate --measured`: an earlier report's measurements predicted again with another
profile (no torch, no device); and the GPU-sized validation cases."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from archsim.cli import main
from archsim.spec.errors import SpecError
from archsim.validate.cases import MODELS, Case, default_cases, gpu_scale_cases
from archsim.validate.rescore import case_of, read_report, rescore
from archsim.validate.suite import load_profile

ROOT = Path(__file__).resolve().parents[2]
CPU_REPORT = ROOT / "reports/validation/cpu/validation.json"
CPU_PROFILE = ROOT / "reports/validation/cpu/cpu-local-example.yaml"


@pytest.fixture
def no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)


def test_rescoring_with_the_reports_own_profile_reproduces_its_errors(no_torch):
    """The committed CPU report was predicted with cpu-local-example.yaml: predicting its
    measurements again with that profile must give back every prediction and every error
    (cases rebuilt from their names, per-op rows matched by phase and op) — except that the op
    graph has had a rotary-embedding op since: a Llama case now predicts its ``rope`` ops as
    well (the report measured them inside ``attn`` and has no rows for them), so its step and
    latency come out longer, while every row the report had keeps its prediction — and that
    an fp32 optimizer step moves 28 bytes per parameter, not 32 (the weights are the master
    copy: archsim/graph/backward.py optimizer_op), so a training case's ``optimizer`` row and
    its step come out a little shorter — and that a step of one micro-batch makes no gradient
    accumulation pass (``.grad`` set to None: archsim/plan/training.py accumulation_passes),
    so a training step is also shorter by the report's own ``grad_accumulate`` row."""
    report = json.loads(CPU_REPORT.read_text())
    again = rescore(report, load_profile(CPU_PROFILE), str(CPU_PROFILE))
    assert len(again["cases"]) == len(report["cases"]) == 15
    rope_cases = 0
    for old, new in zip(report["cases"], again["cases"], strict=True):
        assert new["measured"] == old["measured"]
        rope = MODELS[old["model"]].position == "rope"
        rope_cases += rope
        training = old["mode"] == "training"
        # the accumulation pass the report's prediction had and a step now does not make
        acc = next((r["predicted_s"] for r in old["ops"] if r["op"] == "grad_accumulate"), 0.0)
        for metric, value in old["predicted"].items():
            if rope:
                assert new["predicted"][metric] > value - acc, old["name"]
            elif training:
                assert (value - acc) * (1 - 1e-3) < new["predicted"][metric] \
                    <= (value - acc) * (1 + 1e-9), old["name"]
            else:
                assert new["predicted"][metric] == pytest.approx(value, rel=1e-9), old["name"]
        # rows are the report's measured ops: none of them is a rope op
        old_rows = {(r["phase"], r["op"]): r for r in old["ops"]}
        assert {(r["phase"], r["op"]) for r in new["ops"]} == set(old_rows)
        for row in new["ops"]:
            if row.get("predicted_s") is not None:
                ref = old_rows[(row["phase"], row["op"])]["predicted_s"]
                if training and row["op"] == "optimizer":
                    assert row["predicted_s"] < ref, row
                    continue
                assert row["predicted_s"] == pytest.approx(ref, rel=1e-9), row
    assert rope_cases == 4  # two training and two inference cases of llama-small
    # the matmul-class rows are all rows the report had
    assert again["summary"]["matmul_op_mape"] == pytest.approx(
        report["summary"]["matmul_op_mape"], rel=1e-9)
    assert again["meta"]["rescored_from"] == "an earlier report"


def test_another_profile_changes_predictions_not_measurements(no_torch):
    from archsim.spec.registry import load_registry_mapping

    report = json.loads(CPU_REPORT.read_text())
    h200, _ = load_registry_mapping("devices", "h200-sxm-141gb")
    again = rescore(report, h200, "h200-sxm-141gb")
    assert again["meta"]["device_name"] == "h200-sxm-141gb"
    for old, new in zip(report["cases"], again["cases"], strict=True):
        assert new["measured"] == old["measured"]
        for metric, measured in new["measured"].items():
            predicted = new["predicted"][metric]
            assert new["errors"][metric] == pytest.approx((predicted - measured) / measured)
    # an H200 runs these CPU-sized fp32 models far faster than a 2-core CPU: its predicted
    # time less the fixed cost per training step it charges (the multi-node runs' 120 ms,
    # more than a tiny model's whole CPU step) is under half the CPU's measured time
    import archsim

    step_cost = archsim.load_scenario({
        "model": "gpt3-1.7b", "hardware": {"device": "h200-sxm-141gb", "count": 1},
        "workload": {"kind": "training"}}).hardware.device.insitu.value("step_overhead", 0, 0)
    assert step_cost > 0.05
    for c in again["cases"]:
        for metric, measured in c["measured"].items():
            fixed = step_cost if metric == "step_time_s" else 0.0
            assert (c["predicted"][metric] - fixed) / measured < 0.5, (c["name"], metric)


def test_case_names_parse_back_to_cases():
    assert case_of({"name": "infer gpt-small b4 p128 g32"}, "cpu", "c") == Case(
        "gpt-small", "inference", 4, 128, 32, dtype="fp32")
    assert case_of({"name": "train llama-small b16 s512"}, "cuda", "c") == Case(
        "llama-small", "training", 16, 512, dtype="bf16")
    fields = {"model": "gpt-1.3b", "mode": "training", "batch": 8, "seq_len": 2048,
              "gen_len": 0, "dtype": "bf16"}
    assert case_of({"name": "x", "case": fields}, "cpu", "c") == Case(
        "gpt-1.3b", "training", 8, 2048, dtype="bf16")


def test_bad_case_entries_are_named():
    with pytest.raises(SpecError, match=r"cases\[3\]\.name: 'train gpt' is not a validation "
                                        r"case name"):
        case_of({"name": "train gpt"}, "cpu", "cases[3]")
    with pytest.raises(SpecError, match=r"cases\[0\]\.case\.model: 'gpt-9t' is not a "
                                        r"validation model"):
        case_of({"name": "train gpt-9t b1 s8"}, "cpu", "cases[0]")


def test_bad_reports_exit_2_with_file_and_field(tmp_path, capsys):
    bad = tmp_path / "v.json"
    bad.write_text(json.dumps({"cases": [{"name": "train gpt-tiny b8 s128", "mode": "training",
                                          "measured": {}}]}))
    out = tmp_path / "out"
    assert main(["validate", "--measured", str(bad), "--profile", str(CPU_PROFILE),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--measured {bad}: cases[0].ops: missing" in err and "Traceback" not in err
    assert not out.exists()
    bad.write_text("{not json")
    assert main(["validate", "--measured", str(bad), "--profile", str(CPU_PROFILE)]) == 2
    assert f"--measured {bad}: not a validation.json report" in capsys.readouterr().err
    assert main(["validate", "--measured", str(CPU_REPORT)]) == 2
    assert "--measured needs --profile" in capsys.readouterr().err
    with pytest.raises(SpecError, match="no such file"):
        read_report(tmp_path / "missing.json")


def test_cli_rescore_writes_the_report(tmp_path, capsys, no_torch):
    out = tmp_path / "again"
    assert main(["validate", "--measured", str(CPU_REPORT), "--profile", "h200-sxm-141gb",
                 "--out", str(out), "--no-plot"]) == 0
    data = json.loads((out / "validation.json").read_text())
    assert data["meta"]["profile"] == "h200-sxm-141gb"
    assert (out / "validation.md").is_file()
    assert "end-to-end MAPE" in capsys.readouterr().out


def test_gpu_sized_cases_are_the_published_shapes():
    """GPT-3 XL: 12·L·h² + (V + 2048)·h = 12·24·2048² + (50304 + 2048)·2048 = 1.315e9
    (Brown et al. 2020 list 1.3B). Llama 3.2 1B: per layer 2·2048² (q, o) + 2·2048·512
    (k, v: 8 KV heads × 64 = 512 wide) + 3·2048·8192 (SwiGLU) = 60.8e6, ×16
    = 973e6, + 128256·2048 tied embedding = 1.236e9 (model card: 1.23B)."""
    gpt, llama = MODELS["gpt-1.3b"], MODELS["llama-1b"]
    assert (gpt.layers, gpt.hidden, gpt.heads, gpt.vocab) == (24, 2048, 16, 50304)
    assert (llama.layers, llama.hidden, llama.heads, llama.kv_heads, llama.ffn_hidden,
            llama.vocab, llama.tied_embeddings) == (16, 2048, 32, 8, 8192, 128256, True)
    per_layer = 2 * 2048**2 + 2 * 2048 * 512 + 3 * 2048 * 8192
    assert 16 * per_layer + 128256 * 2048 == pytest.approx(1.236e9, rel=1e-3)
    gpu = gpu_scale_cases()
    assert set(gpu) <= set(default_cases("cuda"))
    assert not set(gpu) & set(default_cases("cpu"))
    # learned positions: prompt + generated tokens stay within the model's 2048 positions
    for case in gpu:
        assert case.seq_len + case.gen_len <= case.spec.max_seq_len, case.name


def test_each_case_carries_the_error_bar_the_profile_states(no_torch):
    """A calibrated profile (the shipped H200) states an interval for every metric; the
    summary counts the measurements that fell inside. A profile without calibrated runs (the
    CPU one) states none."""
    from archsim.spec.registry import load_registry_mapping

    report = json.loads(CPU_REPORT.read_text())
    h200, _ = load_registry_mapping("devices", "h200-sxm-141gb")
    again = rescore(report, h200, "h200-sxm-141gb")
    inside = total = 0
    for case in again["cases"]:
        bar = case["error_bar"]
        assert set(bar["intervals"]) == set(case["measured"]), case["name"]
        for metric, (lo, hi) in bar["intervals"].items():
            assert 0 < lo < hi, (case["name"], metric)
            total += 1
            inside += lo <= case["measured"][metric] <= hi
        # fp32 CPU-sized models on an H200 profile calibrated on fp8 runs: an extrapolation
        assert not bar["in_range"] and bar["out_of_range"]
    assert again["summary"]["inside_error_bar"] == {"metrics": total, "inside": inside}
    plain = rescore(report, load_profile(CPU_PROFILE), str(CPU_PROFILE))
    assert all("error_bar" not in c for c in plain["cases"])
    assert plain["summary"]["inside_error_bar"] == {"metrics": 0, "inside": 0}


def test_the_markdown_shows_each_interval_and_the_count_inside(tmp_path, no_torch):
    from archsim.spec.registry import load_registry_mapping
    from archsim.validate.compare import markdown

    report = json.loads(CPU_REPORT.read_text())
    h200, _ = load_registry_mapping("devices", "h200-sxm-141gb")
    again = rescore(report, h200, "h200-sxm-141gb", source="v.json")
    text = markdown(again)
    s = again["summary"]["inside_error_bar"]
    assert (f"| measured inside the stated error bar | {s['inside']} of {s['metrics']} "
            "metrics |") in text
    first = again["cases"][0]
    lo, hi = first["error_bar"]["intervals"]["step_time_s"]
    verdict = "inside" if lo <= first["measured"]["step_time_s"] <= hi else "OUTSIDE"
    assert f"{lo * 1e3:.3f}–{hi * 1e3:.3f} {verdict} (extrapolated)" in text
    assert "Predictions made again from v.json's measurements" in text
