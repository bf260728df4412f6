"""Serving reports: latency against the SLO, replicas, the capacity answer, disaggregation."""

from __future__ import annotations

import pytest
from report_checks import check_report_folder

import archsim
from archsim.cli import main
from archsim.report import ReportOptions, build_report
from archsim.spec.errors import SpecError

SMALL_SERVING = """\
name: llama2-7b-serving
model: llama2-7b
hardware: {device: h100-sxm5-80gb, count: 2, devices_per_node: 8, intra_node: nvlink4-nvswitch}
workload:
  kind: serving
  arrival: {rate_per_s: 8, count: 120, process: poisson, seed: 1}
  prompt_len: {dist: uniform, low: 200, high: 800}
  gen_len: {dist: uniform, low: 50, high: 200}
  slo: {ttft_s: 0.5, tpot_s: 0.05}
plan: {tp: 1}
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("serving") / "serving.yaml"
    path.write_text(SMALL_SERVING)
    return path


def _section(report, sid):
    return next(s for s in report.sections if s.id == sid)


def test_serving_report_folder(scenario, tmp_path):
    out = tmp_path / "rep"
    assert main(["report", str(scenario), "--out", str(out), "--devices",
                 "a100-sxm4-80gb"]) == 0
    check_report_folder(out, ["answer", "inputs", "latency", "memory", "timeline", "scaling",
                              "capacity", "sources", "validation"])


def test_latency_table_and_capacity_rows_come_from_the_simulations(scenario):
    from archsim.capacity import plan_capacity
    from archsim.report.fmt import human_time

    report = build_report(scenario, options=ReportOptions(devices=("a100-sxm4-80gb",)))
    result = archsim.simulate(scenario).to_dict()
    latency = next(b for b in _section(report, "latency").blocks if getattr(b, "rows", None))
    ttft = latency.rows[0]
    assert ttft[0] == "time to first token"
    assert ttft[1:4] == tuple(human_time(result[f"ttft_{p}_s"]) for p in ("p50", "p90", "p99"))
    assert ttft[4] == "500 ms"
    cap = plan_capacity(archsim.load_scenario(scenario), 8.0,
                        devices=["h100-sxm5-80gb", "a100-sxm4-80gb"])
    table = [b for b in _section(report, "capacity").blocks if getattr(b, "rows", None)][-1]
    assert [r[0] for r in table.rows] == ["h100-sxm5-80gb", "a100-sxm4-80gb"]
    assert [r[1] for r in table.rows] == [str(row["devices"]) for row in cap["rows"]]
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "at 8 requests/s with TTFT ≤ 500 ms and TPOT ≤ 50 ms for 90.0% of requests" in answer
    best = next(row for row in cap["rows"] if row["device"] == cap["best"])
    assert f"{best['devices']} × {best['device']}" in answer


def test_rate_option_overrides_the_scenario_rate(scenario):
    report = build_report(scenario, options=ReportOptions(rate=3.0, scaling=False))
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "at 3 requests/s" in answer
    # --no-scaling also skips the capacity search (each probe is a serving simulation)
    assert "No capacity search" in " ".join(getattr(b, "text", "")
                                            for b in _section(report, "capacity").blocks)


def test_a_failing_capacity_search_is_reported_not_raised(scenario, monkeypatch):
    def broken(*args, **kwargs):
        raise SpecError(["<scenario>: hardware: count 12 is not a multiple of devices_per_node 8"])

    monkeypatch.setattr("archsim.capacity.plan_capacity", broken)
    report = build_report(scenario)
    text = " ".join(getattr(b, "text", "") for b in _section(report, "capacity").blocks)
    assert "The capacity search could not run: <scenario>: hardware: count 12 is not a " \
           "multiple of devices_per_node 8." in text


def test_disaggregated_against_colocated(tmp_path):
    path = tmp_path / "dis.yaml"
    path.write_text(SMALL_SERVING.replace(
        "hardware: {device: h100-sxm5-80gb, count: 2, devices_per_node: 8, intra_node: "
        "nvlink4-nvswitch}",
        "hardware:\n  cluster:\n    pools:\n"
        "      - {name: gpu, device: h100-sxm5-80gb, count: 1}\n"
        "      - {name: old, device: a100-sxm4-80gb, count: 1}\n"
        "    links:\n      - {between: [gpu, old], interconnect: ib-ndr-400g}")
        .replace("plan: {tp: 1}", "plan: {tp: 1, placement: {prefill: gpu, decode: old}}"))
    report = build_report(path, options=ReportOptions(scaling=False))
    sec = _section(report, "disaggregation")
    table = next(b for b in sec.blocks if getattr(b, "rows", None))
    assert table.header == ("metric", "disaggregated", "colocated")
    result = archsim.simulate(path).to_dict()
    from archsim.report.fmt import metric_text

    row = next(r for r in table.rows if r[0] == "ttft_p99_s")
    assert row[1:] == (metric_text("ttft_p99_s", result["ttft_p99_s"]),
                       metric_text("ttft_p99_s", result["colocated"]["ttft_p99_s"]))
    assert ("SLO attainment against replicas",
            "--no-scaling was given") in report.omitted
