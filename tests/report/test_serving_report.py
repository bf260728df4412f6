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
  arrival: {rate_per_s: 8, count: 400, process: poisson, seed: 1}
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
    check_report_folder(out, ["answer", "inputs", "latency", "memory", "load", "timeline",
                              "scaling", "capacity", "cost-latency", "max-rate", "sources",
                              "validation"])


def test_latency_table_and_capacity_rows_come_from_the_simulations(scenario):
    from archsim.capacity import plan_capacity
    from archsim.report.fmt import human_time, money

    report = build_report(scenario, options=ReportOptions(devices=("a100-sxm4-80gb",)))
    result = archsim.simulate(scenario).to_dict()
    latency = next(b for b in _section(report, "latency").blocks if getattr(b, "rows", None))
    ttft = latency.rows[0]
    assert ttft[0] == "time to first token"
    assert ttft[1:4] == tuple(human_time(result[f"ttft_{p}_s"]) for p in ("p50", "p90", "p99"))
    assert ttft[4] == "500 ms"
    cap = plan_capacity(archsim.load_scenario(scenario), 8.0,
                        devices=["h100-sxm5-80gb", "a100-sxm4-80gb"])
    table = [b for b in _section(report, "capacity").blocks if getattr(b, "rows", None)][1]
    assert [r[0] for r in table.rows] == ["h100-sxm5-80gb", "a100-sxm4-80gb"]
    assert [r[1] for r in table.rows] == [str(row["devices"]) for row in cap["rows"]]
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "at 8 requests/s with TTFT ≤ 500 ms and TPOT ≤ 50 ms for 90.0% of requests" in answer
    best = next(row for row in cap["rows"] if row["device"] == cap["best"])
    assert f"{best['devices']} × {best['device']}" in answer
    # the answer and the capacity plan carry each deployment's own calibrated intervals
    lo, hi = best["uncertainty"]["intervals"]["cost_per_million_tokens_usd"]
    assert (f"{best['devices']} × {best['device']} at {money(lo)} to {money(hi)} per million "
            "output tokens") in answer
    bands = [b for b in _section(report, "capacity").blocks if getattr(b, "rows", None)][2]
    assert bands.header[2:4] == ("p99 TTFT, likely", "p99 TPOT, likely")
    for row, shown in zip(cap["rows"], bands.rows, strict=True):
        lo, hi = row["uncertainty"]["intervals"]["tpot_p99_s"]
        assert shown[3] == f"{human_time(lo)} to {human_time(hi)}"
        assert shown[5] == ("yes" if hi <= 0.05 else
                            f"no: TPOT p99 up to {human_time(hi)} > 50 ms")


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

    row = next(r for r in table.rows if r[0] == "TTFT p99 (s)")
    assert row[1:] == (metric_text("ttft_p99_s", result["ttft_p99_s"]),
                       metric_text("ttft_p99_s", result["colocated"]["ttft_p99_s"]))
    assert ("SLO attainment against replicas",
            "--no-scaling was given") in report.omitted
    # the title names both pools' devices; the KV-cache transfer has its own table
    assert report.title.endswith("on h100-sxm5-80gb + a100-sxm4-80gb")
    kv = next(b for b in sec.blocks if getattr(b, "rows", None)
              and b.header[0] == "KV-cache transfer, prefill → decode")
    rows = dict(kv.rows)
    assert rows["bandwidth per transfer"] == ("21.5 GB/s, set by the receiving pool old's 1 NIC "
                                              "(ib-hdr-200g)")  # HDR 25 GB/s × 0.86


def test_one_price_for_one_deployment_in_every_table(scenario):
    """The replica-scaling table and the capacity table show the same $ per M tokens for the
    same deployment, and it is the serving result's own: devices × price per hour / (3600 ×
    steady-state output tokens/s) × 10⁶."""
    from archsim.spec.loader import load_spec_file

    report = build_report(scenario)
    scaling = next(b for b in _section(report, "scaling").blocks if getattr(b, "rows", None))
    capacity = [b for b in _section(report, "capacity").blocks if getattr(b, "rows", None)][1]
    h100 = next(r for r in capacity.rows if r[0] == "h100-sxm5-80gb")
    same = next(r for r in scaling.rows if r[1] == h100[1])  # the same number of devices
    assert same[5] == h100[7]
    replicas = int(h100[1])
    d = archsim.simulate(scenario, {"hardware.count": replicas,
                                    "workload.replicas": replicas}).to_dict()
    price = load_spec_file("devices", "h100-sxm5-80gb").price_per_hour
    from archsim.report.fmt import money

    assert h100[7] == money(replicas * price / (3600 * d["tokens_per_s"]) * 1e6)


def test_capacity_names_device_types_without_a_price(scenario):
    report = build_report(scenario, options=ReportOptions(devices=("l40s",)))
    capacity = [b for b in _section(report, "capacity").blocks if getattr(b, "rows", None)][1]
    l40s = next(r for r in capacity.rows if r[0] == "l40s")
    assert l40s[6:] == ("no price", "no price")
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "(among the 1 priced of 2 device types sized; no price for l40s)" in answer


def test_load_over_time_and_highest_rate_per_replica(scenario):
    report = build_report(scenario)
    load = _section(report, "load")
    assert any(getattr(b, "name", "") == "load" for b in load.blocks)
    top = _section(report, "max-rate")
    rows = next(b for b in top.blocks if getattr(b, "rows", None)).rows
    met = [r for r in rows if r[4] == "yes"]
    text = " ".join(getattr(b, "text", "") for b in top.blocks)
    assert met and f"up to {met[-1][0].removesuffix(' req/s')} requests/s" in text
    plot = next(b for b in _section(report, "cost-latency").blocks if getattr(b, "png", None))
    assert plot.name == "cost_latency"


def test_the_as_given_deployment_answers_at_the_rate_asked(scenario):
    """--rate 2 on a scenario offered 8 requests/s: the question is asked at 2, so the
    deployment as given is simulated at 2 (it had been judged at the scenario's own rate and
    the answer contradicted the capacity sentence beside it)."""
    report = build_report(str(scenario), options=ReportOptions(rate=2.0, scaling=False,
                                                                planner=False))
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "at 2 requests/s with" in answer
    assert "(2 × h100-sxm5-80gb, 2 replicas, 2 requests/s)" in answer


def test_rates_of_a_stream_too_short_for_a_steady_state_are_called_whole_run():
    """Five requests leave no steady-state window (the result's steady_state.whole_run): the
    latency section must not call its rates steady-state ones."""
    from archsim.report.serving import _latency

    r = archsim.simulate({"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb",
                                                             "count": 1},
                          "workload": {"kind": "serving", "arrival": {"rate_per_s": 5,
                                                                      "count": 5},
                                       "prompt_len": 128, "gen_len": 16}}).to_dict()
    assert r["steady_state"]["whole_run"]
    text = " ".join(str(block) for block in _latency(r).blocks)
    assert "Over the whole run (too short for a steady state): " in text
    assert "In the steady state" not in text


def test_an_overloaded_deployments_price_says_so():
    """10.5 of 30 requests/s served is 35%, below the 95% a deployment must serve to keep up;
    29 of 30 (96.7%) is not called overloaded."""
    from archsim.report.serving import _overloaded

    assert _overloaded({"requests_per_s": 10.5, "offered_requests_per_s": 30.0}) == (
        ", serving only 10.5 of the 30 requests/s offered (35.0%): the price of an overloaded "
        "deployment, whose queue grows while the load lasts")
    assert _overloaded({"requests_per_s": 29.0, "offered_requests_per_s": 30.0}) == ""
