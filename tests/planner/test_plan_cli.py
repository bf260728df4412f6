"""``archsim plan`` as CONTRACT.md describes it: a table of the best plans, why the others
lost, --json / --out for machines, exit 2 with one line per problem on bad input."""

import json
import subprocess
import sys

import pytest

from archsim.cli import main

AXES = ["--axis", "tp=4,8", "--axis", "pp=8,16", "--axis", "cp=1", "--axis", "micro_batch=1",
        "--axis", "zero=1", "--axis", "recompute=selective,full", "--axis", "schedule=1f1b"]


def test_json_and_out_agree(tmp_path, capsys):
    out = tmp_path / "plans.json"
    assert main(["plan", *AXES, "--top", "2", "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["objective"] == "throughput" and len(printed["top"]) == 2
    assert printed["counts"]["plans"] == 2 * 2 * 2 * 2  # tp × pp × recompute × sp
    first, second = printed["top"]
    assert first["rank"] == 1 and first["step_time_s"] <= second["step_time_s"]
    for key in ("plan", "label", "step_time_s", "tokens_per_s", "mfu",
                "memory_per_device_bytes", "cost_per_million_tokens_usd"):
        assert first[key] is not None
    assert first["plan"]["tp"] in (4, 8) and first["plan"]["dp"] * first["plan"]["tp"] * \
        first["plan"]["pp"] == 1024
    reasons = {loss["reason"] for loss in printed["why_others_lost"]}
    assert reasons and reasons <= {"memory", "bubbles", "communication", "recomputation",
                                   "compute", "optimizer", "divisibility", "infeasible"}
    assert printed["given_plan"]["plan"]["tp"] == 8


def test_text_report(capsys):
    assert main(["plan", *AXES, "--objective", "latency", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "objective latency" in text and "Top 3" in text
    assert "Scenario's own plan (tp 8 · pp 8 · dp 16" in text
    assert "Why the others lost" in text


def test_a_plan_that_does_not_divide_is_an_example_not_the_best(capsys):
    """tp 3 divides neither 1024 GPUs nor 96 heads: it has no step time to rank it by."""
    axes = ["--axis" if a == "--axis" else ("tp=3,8" if a == "tp=4,8" else a) for a in AXES]
    assert main(["plan", *axes, "--top", "1"]) == 0
    divide = next(ln for ln in capsys.readouterr().out.splitlines()
                  if "does not divide evenly" in ln)
    assert " — e.g. tp 3 " in divide and "best:" not in divide


@pytest.mark.parametrize("args,message", [
    (["--axis", "tp"], "archsim plan: --axis 'tp': expected NAME=V1,V2,..., e.g. tp=4,8"),
    (["--axis", "zero=5"], "archsim plan: --axis zero: expected 0..3, got 5"),
    (["--top", "0"], "archsim plan: --top 0: expected at least 1"),
    (["--axis", "tp=4", "--axis", "tp=8"],  # the second had silently replaced the first
     "archsim plan: --axis 'tp=8': tp is already given (4); give its values in one --axis, "
     "e.g. tp=4,8"),
])
def test_bad_input_exit_2(args, message, capsys):
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert message in err


def test_bad_objective_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "archsim", "plan", "--objective", "speed"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "invalid choice: 'speed'" in proc.stderr and "Traceback" not in proc.stderr


def test_placements_in_the_json(tmp_path, capsys):
    scenario = tmp_path / "mixed.yaml"
    scenario.write_text(
        "model: {layers: 8, hidden: 1024, heads: 8, vocab: 8192, max_seq_len: 1024}\n"
        "hardware:\n  cluster:\n    pools:\n"
        "      - {name: fast, device: h100-sxm5-80gb, count: 8, devices_per_node: 4}\n"
        "      - {name: slow, device: a100-sxm4-80gb, count: 8, devices_per_node: 4}\n"
        "    links: [{between: [fast, slow], interconnect: ib-hdr-200g}]\n"
        "workload: {kind: training, seq_len: 1024, global_batch: 32}\n"
        "plan: {tp: 2, pp: 4}\n")
    assert main(["plan", str(scenario), "--axis", "tp=2", "--axis", "cp=1", "--axis",
                 "micro_batch=1", "--axis", "zero=1", "--axis", "recompute=none",
                 "--axis", "schedule=1f1b", "--axis", "sp=false", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # tp 2: stages of 2, 4 or 8 devices; pools fast, slow, fast→slow, slow→fast (3 × 4 = 12)
    assert out["counts"]["plans"] == 12
    placements = [tuple(row["plan"]["placement"]) for row in out["top"]]
    assert all(set(p) <= {"fast", "slow"} for p in placements)
    assert out["given_plan"]["plan"]["placement"] == ["fast", "fast", "slow", "slow"]


def _err(p10, p90):
    return {"mape": 0.05, "bias": 0.0, "p10": p10, "p90": p90, "runs": 10, "sources": 2,
            "method": "leave-one-source-out", "from_defaults": 0}


def test_the_ranking_is_judged_by_the_ranked_metrics_own_band():
    """Latency-ranked inference plans 16.7% apart: TTFT's band spans 26%, the end-to-end
    latency's (the ranked number's) −3 … +6%, 9.3% of the value: the gap is outside it, so the
    ranking stands; a 5% gap is inside."""
    from types import SimpleNamespace as NS

    from archsim.planner.render import credibility_lines

    u = {"errors": {"ttft": _err(-0.22, 0.04), "e2e_latency": _err(-0.03, 0.06)},
         "intervals": {"e2e_latency_s": [10.0 / 1.06, 10.0 / 0.97]}, "out_of_range": []}
    best = NS(result={"e2e_latency_s": 10.0, "uncertainty": u, "mfu": None,
                      "hardware": {"pools": []}})
    far, near = NS(result={"e2e_latency_s": 11.67}), NS(result={"e2e_latency_s": 10.5})
    lines = credibility_lines(NS(best=best, top=[best, far], objective="latency"), False)
    assert not any("not certain" in line for line in lines)
    lines = credibility_lines(NS(best=best, top=[best, near], objective="latency"), False)
    assert "  the second plan is 5.0% behind, inside the error bar's 9% spread: the ranking " \
           "of the top plans is not certain" in lines


def test_under_the_cost_objective_a_faster_plan_loses_on_price(capsys):
    """32 H100 + 32 A100 (gpt3-18b-hetero-h100-a100), ranked by price: a plan no slower than
    the best but on more devices is said to cost more per token, with its devices and price —
    not blamed on a part of its (shorter) step."""
    axes = ["--axis", "tp=1,2", "--axis", "cp=1", "--axis", "zero=1", "--axis",
            "recompute=none", "--axis", "schedule=1f1b"]
    assert main(["plan", "gpt3-18b-hetero-h100-a100", "--objective", "cost", "--top", "1",
                 *axes, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    best = printed["top"][0]
    losses = {loss["reason"]: loss for loss in printed["why_others_lost"]}
    cost = losses["cost"]
    assert cost["count"] > 0 and cost["best_step_time_s"] <= best["step_time_s"]
    assert "per million tokens vs $" in cost["detail"] and "devices vs" in cost["detail"]
    for reason in ("bubbles", "communication", "recomputation", "compute", "optimizer"):
        if reason in losses:
            assert losses[reason]["best_step_time_s"] > best["step_time_s"], reason


def test_a_plan_that_leaves_pools_out_says_its_price_counts_only_what_it_uses(capsys):
    """32 H100 + 32 A100, ranked by price: the cheapest plan keeps to one pool (the 32 H100s;
    a placement may leave pools out) and is priced on those 32 — as if the other pool were
    released, which the output must say, beside the comparison with the scenario's own plan
    on all 64."""
    axes = ["--axis", "tp=1", "--axis", "cp=1", "--axis", "zero=1", "--axis",
            "recompute=none", "--axis", "schedule=1f1b"]
    assert main(["plan", "gpt3-18b-hetero-h100-a100", "--objective", "cost", "--top", "1",
                 *axes]) == 0
    text = capsys.readouterr().out
    assert "stages h100×1" in text  # the best plan runs on the H100 pool alone
    assert ("note: the best plan runs on 32 of the cluster's 64 devices: its cost and energy "
            "count those 32 only, as if the pools it leaves out were released (kept idle, "
            "they would still be paid for)") in text
    assert "less per token (on 32 of the 64 devices: the others taken as released, not " \
        "idle)" in text


def test_mixed_device_memory_says_of_which_device():
    """On a cluster of several device types the memory column is the stage that fills its
    device most: 5.81 GiB on a 16 GiB TPU is fuller than 28.5 GiB on an 80 GiB H100, and the
    column says so ("of 16.00 GiB"); one device type keeps the plain figure."""
    from archsim.planner.render import _metrics_row
    from archsim.planner.result import PlanRow

    gib = 2**30
    base = {"step_time_s": 1.0, "tokens_per_s": 1000.0, "mfu": 0.4,
            "cost_per_million_tokens_usd": None,
            "memory": {"peak_bytes_per_device": 5.81 * gib, "capacity_bytes": 16 * gib}}
    mixed = {**base, "hardware": {"pools": [{"device": "tpu-v5e"}, {"device": "h100"}]}}
    one = {**base, "hardware": {"pools": [{"device": "tpu-v5e"}]}}
    assert _metrics_row(PlanRow(None, "x", mixed), True)[3] == "5.81 GiB of 16.00 GiB"
    assert _metrics_row(PlanRow(None, "x", one), True)[3] == "5.81 GiB"


def test_a_plan_that_fills_over_95_percent_of_memory_is_marked_in_the_table():
    """The planner's table marks a plan whose peak is above TIGHT_MEMORY_SHARE (0.95) of its
    device's memory: 77.41 GiB of 80 is 96.8% (the 4th plan of gpt3-175b-1024xa100 on
    2026-12-07), 76 GiB is exactly 95% and is not marked. Its own result says so only when it
    is simulated alone."""
    from archsim.planner.render import _metrics_row
    from archsim.planner.result import PlanRow

    def row(peak_gib: float) -> list[str]:
        result = {"feasible": True, "step_time_s": 21.3, "tokens_per_s": 147412.0, "mfu": 0.497,
                  "cost_per_million_tokens_usd": 3.454,
                  "memory": {"peak_bytes_per_device": peak_gib * 2**30,
                             "capacity_bytes": 80 * 2**30}}
        return _metrics_row(PlanRow(None, "plan", result), training=True)

    assert row(77.41)[3] == "77.41 GiB !"
    assert row(76.0)[3] == "76.00 GiB"
