"""Inference reports: sections, the deployments-for-a-rate arithmetic, compression comparison."""

from __future__ import annotations

import pytest
from report_checks import check_report_folder

import archsim
from archsim.cli import main
from archsim.report import ReportOptions, build_report
from archsim.report.compression import compression_section, is_better
from archsim.report.inference import replicas_for

SMALL_INFERENCE = """\
name: llama2-7b-1xh100
model: llama2-7b
hardware: {device: h100-sxm5-80gb, count: 1}
workload: {kind: inference, batch: 8, prompt_len: 512, gen_len: 64, dtype: bf16}
"""


def test_deployments_for_a_rate_by_hand():
    # 16 requests finish every 6.4 s → 2.5 requests/s per deployment
    r = {"batch": 16, "e2e_latency_s": 6.4}
    assert replicas_for(5.0, r) == (2.5, 2)
    assert replicas_for(5.1, r) == (2.5, 3)  # 5.1 / 2.5 = 2.04 → 3 deployments
    assert replicas_for(0.1, r) == (2.5, 1)
    assert replicas_for(1.0, {"batch": 16, "e2e_latency_s": None}) is None


@pytest.mark.parametrize("metric,ratio,better", [
    ("tpot_s", 0.4, True), ("tokens_per_s", 1.7, True), ("memory.peak_bytes_per_device", 1.2,
                                                         False),
    ("cost_per_million_tokens_usd", 0.6, True), ("mfu", 0.9, False), ("ttft_s", 1.0, True)])
def test_which_ratios_are_improvements(metric, ratio, better):
    assert is_better(metric, ratio) is better


def test_inference_report_folder(tmp_path):
    scenario = tmp_path / "inf.yaml"
    scenario.write_text(SMALL_INFERENCE)
    out = tmp_path / "rep"
    assert main(["report", str(scenario), "--out", str(out), "--rate", "10"]) == 0
    check_report_folder(out, ["answer", "inputs", "latency", "memory", "timeline", "roofline",
                              "scaling", "capacity", "sources", "validation"])
    md = (out / "report.md").read_text()
    result = archsim.simulate(scenario).to_dict()
    per, n = replicas_for(10.0, result)
    assert per == pytest.approx(8 / result["e2e_latency_s"])
    assert f"To serve 10 requests/s of this shape: {n} deployments = {n} devices" in md
    assert "(prefill, compute-bound)" in md and "(decode, memory-bound)" in md


def test_compression_comparison_section(tmp_path):
    scenario = tmp_path / "int4.yaml"
    scenario.write_text(SMALL_INFERENCE + "compression: {weight_dtype: int4, fallback: bf16,\n"
                        "  accuracy_note: 'AWQ int4: +0.1 perplexity on WikiText-2 (user "
                        "measured)'}\n")
    report = build_report(scenario, options=ReportOptions(scaling=False))
    sec = next(s for s in report.sections if s.id == "compression")
    table = next(b for b in sec.blocks if getattr(b, "header", None))
    block = archsim.simulate(scenario).to_dict()["compression"]
    rows = {r[0]: r for r in table.rows}
    ratio = block["compressed"]["tpot_s"] / block["baseline"]["tpot_s"]
    assert rows["time per output token"][3] == f"{ratio:.3f}×"
    assert ratio < 1  # int4 weights: decode reads fewer bytes per step
    notes = next(b for b in sec.blocks if getattr(b, "items", None)).items
    assert any(n.startswith("accuracy: AWQ int4: +0.1 perplexity") for n in notes)
    assert {getattr(b, "name", "") for b in sec.blocks} >= {"compression", "compression_memory"}


def test_no_compression_block_no_section():
    assert compression_section({"mode": "inference"}) is None


def test_an_encoder_report_has_no_generation(tmp_path):
    """BERT-style encoder: one forward pass per batch — latency per batch and sequences/s, no
    first token, no decode, no KV cache in the memory bars."""
    report = build_report("bert-large-2of4-a100", options=ReportOptions(scaling=False))
    answer = " ".join(b.text for b in _section_of(report, "answer").blocks)
    assert "per batch (one forward pass" in answer and "sequences/s" in answer
    for word in ("first token", "decode", "generated"):
        assert word not in answer
    latency = next(b for b in _section_of(report, "latency").blocks if getattr(b, "rows", None))
    assert [r[0] for r in latency.rows] == ["forward"]
    memory = next(b for b in _section_of(report, "memory").blocks if getattr(b, "rows", None))
    assert "kv cache" not in [r[0] for r in memory.rows]


def _section_of(report, sid):
    return next(s for s in report.sections if s.id == sid)


def test_a_baseline_that_cannot_run_is_explained_not_compared():
    """W8A8 on the int8-only FPGA: the bf16 baseline has no dtype to run in."""
    report = build_report("gpt3-1.7b-w8a8-alveo-u280", options=ReportOptions(scaling=False))
    sec = _section_of(report, "compression")
    text = " ".join(getattr(b, "text", "") for b in sec.blocks)
    assert "The baseline does not run: device alveo-u280 has no fp16 support" in text
    table = next(b for b in sec.blocks if getattr(b, "rows", None))
    rows = {r[0]: r for r in table.rows}
    assert rows["time per output token"][1] == "-" and rows["time per output token"][3] == "-"
    assert any(getattr(b, "name", "") == "compression_memory" for b in sec.blocks)


def test_an_infeasible_deployment_has_no_capacity_plan(tmp_path):
    """Llama-2 70B in bf16 on one 80 GB A100: its weights alone are about 69 B parameters × 2
    bytes ≈ 128 GiB > 80 GiB, so it does not run: no tokens/s, $ or energy, and no number of
    deployments for --rate."""
    sc = tmp_path / "infeasible.yaml"
    sc.write_text("model: llama2-70b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
                  "workload: {kind: inference, batch: 8, prompt_len: 512, gen_len: 128, "
                  "dtype: bf16}\n")
    report = build_report(sc, options=ReportOptions(rate=2.0, scaling=False))
    sec = next(s for s in report.sections if s.id == "capacity")
    table = next(b for b in sec.blocks if getattr(b, "rows", None))
    assert table.header == ("per deployment", "1 device")
    assert dict(table.rows) == {"generated tokens per second": "does not run",
                                "cost per million generated tokens": "-",
                                "energy per million generated tokens": "-",
                                "requests per second per deployment": "-"}
    text = " ".join(getattr(b, "text", "") for b in sec.blocks)
    assert text.strip().startswith("The deployment does not run (stage 0 needs ")
    assert "deployments =" not in text and "$" not in text


def test_a_device_without_a_price_says_its_cost_is_not_known(tmp_path):
    """The L40S profile has no price: the answer says so ("cost no price" had been printed)."""
    sc = tmp_path / "l40s.yaml"
    sc.write_text("model: llama2-7b\nhardware: {device: l40s, count: 1}\n"
                  "workload: {kind: inference, batch: 1, prompt_len: 128, gen_len: 8}\n")
    report = build_report(sc, options=ReportOptions(scaling=False))
    answer = " ".join(b.text for b in _section_of(report, "answer").blocks)
    assert ("The cost of a million generated tokens is not known: the device profile has no "
            "price") in answer
    assert "cost no price" not in answer
    # the assumptions say what the price and the energy rest on
    assumptions = " ".join(" ".join(getattr(b, "items", ()) or [getattr(b, "text", "")])
                           for b in _section_of(report, "inputs").blocks)
    assert "UNVERIFIED where no source was checked" in assumptions
    assert "an upper bound (TDP while busy)" in assumptions
