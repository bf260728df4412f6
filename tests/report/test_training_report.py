"""Training reports from a result JSON, from an infeasible plan, and the timeline's rows."""

from __future__ import annotations

import pytest
from report_cases import SMALL_TRAINING
from report_checks import check_report_folder

import archsim
from archsim.cli import main
from archsim.report import ReportOptions, build_report
from archsim.report.plots import Bar
from archsim.report.timeline import MAX_STAGES, timeline_plot
from archsim.sim.engine import Span


def test_report_from_a_result_json(tmp_path, small_scenario):
    result = tmp_path / "result.json"
    assert main(["simulate", str(small_scenario), "--json", "--out", str(result)]) == 0
    out = tmp_path / "rep"
    assert main(["report", str(result), "--out", str(out), "--train-tokens", "1e10"]) == 0
    check_report_folder(out, ["answer", "inputs", "sources", "step-time", "memory", "capacity",
                              "validation"])
    md = (out / "report.md").read_text()
    omitted = md.split("## Not in this report")[1]
    assert "Timeline of one step: no trace: the input is a result JSON" in omitted
    assert "Roofline of the ops: needs the scenario" in omitted
    assert "Scaling curves: the input is a result JSON (no scenario to re-simulate)" in omitted
    # the model is in the registry, so the capacity answer still has the 1e10-token target
    assert "| time to train 10 B tokens |" in md


def test_infeasible_plan_reports_why(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL_TRAINING.replace("tp: 2, pp: 2", "tp: 5, pp: 2")
                   .replace("count: 16", "count: 40"))
    report = build_report(bad, options=ReportOptions(scaling=False))
    answer = report.sections[0]
    assert answer.id == "answer"
    text = " ".join(b.text for b in answer.blocks)
    assert "does not run: heads 24 are not divisible by tp 5" in text
    titles = [t for t, _ in report.omitted]
    assert "Step-time breakdown" in titles and "Roofline of the ops" in titles


def test_memory_infeasible_plan_shows_memory_against_capacity(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(SMALL_TRAINING.replace("gpt3-1.7b", "gpt3-18.4b")
                   .replace("tp: 2, pp: 2", "tp: 1, pp: 1").replace("count: 16", "count: 8"))
    result = archsim.simulate(big).to_dict()
    assert not result["feasible"]  # 18.4B params × 16 B of Adam states alone exceed 80 GiB
    report = build_report(big, options=ReportOptions(scaling=False))
    memory = next(s for s in report.sections if s.id == "memory")
    text = " ".join(getattr(b, "text", "") for b in memory.blocks)
    assert "over capacity: the plan does not fit" in text
    assert any(getattr(b, "name", "") == "memory" for b in memory.blocks)


def test_timeline_keeps_stage_rows_and_merges_links():
    spans = [Span(f"stage {s}", "F0", s, s + 1.0, "forward") for s in range(3)]
    spans += [Span(f"stage {s} dp-comm", "ar", 5.0, 6.0, "dp-comm") for s in range(3)]
    spans += [Span("link 0->1", "act", 1.0, 1.1, "p2p"), Span("link 1->2", "act", 2.0, 2.1,
                                                              "p2p")]
    png, note = timeline_plot(spans, "t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert note == "Pipeline sends on all links are merged into the last row."


def test_timeline_of_many_stages_draws_an_even_subset(monkeypatch):
    drawn = {}

    def capture(rows, bars, categories, title, origin):
        drawn["rows"], drawn["bars"] = list(rows), list(bars)
        return b"png"

    monkeypatch.setattr("archsim.report.timeline.gantt_plot", capture)
    spans = [Span(f"stage {s}", "F0", 0.0, 1.0, "forward") for s in range(40)]
    _, note = timeline_plot(spans, "t")
    assert note.startswith(f"{MAX_STAGES} of the 40 pipeline stages are drawn")
    assert len(drawn["rows"]) == MAX_STAGES
    assert drawn["rows"][0] == "stage 0" and drawn["rows"][-1] == "stage 39"
    assert all(isinstance(b, Bar) for b in drawn["bars"]) and len(drawn["bars"]) == MAX_STAGES


@pytest.mark.parametrize("seconds,unit", [(26.2, "s"), (0.0042, "ms"), (3e-5, "µs")])
def test_time_units_of_plot_axes(seconds, unit):
    from archsim.report.plots import time_unit

    assert time_unit(seconds)[1] == unit


HETERO = """\
name: hetero
model: gpt3-1.7b
hardware:
  cluster:
    pools:
      - {name: new, device: h100-sxm5-80gb, count: 8, devices_per_node: 8,
         intra_node: nvlink4-nvswitch}
      - {name: old, device: a100-sxm4-80gb, count: 8, devices_per_node: 8,
         intra_node: nvlink3-nvswitch}
    links:
      - {between: [new, old], interconnect: ib-hdr-200g}
workload: {kind: training, seq_len: 2048, global_batch: 32, micro_batch: 1, dtype: bf16}
plan: {tp: 8, pp: 2, placement: {stages: [new, old]}}
"""


def test_heterogeneous_pipeline_report_names_both_pools(tmp_path):
    path = tmp_path / "hetero.yaml"
    path.write_text(HETERO)
    report = build_report(path, options=ReportOptions(train_tokens=1e9, days=1))
    assert report.title.endswith("gpt3-1.7b on h100-sxm5-80gb + a100-sxm4-80gb")
    answer = " ".join(b.text for b in report.sections[0].blocks)
    assert "8 × h100-sxm5-80gb + 8 × a100-sxm4-80gb" in answer
    ids = report.section_ids()
    assert "validation" in ids and "validation-a100-sxm4-80gb" in ids
    sources = next(s for s in report.sections if s.id == "sources")
    table = next(b for b in sources.blocks if getattr(b, "rows", None))
    assert {r[0] for r in table.rows} >= {"h100-sxm5-80gb", "a100-sxm4-80gb", "ib-hdr-200g"}
    assert ("Scaling curves", "the hardware is a cluster of pools; scaling varies one "
                              "homogeneous pool") in report.omitted


def _md_table(md: str, first_header: str) -> list[list[str]]:
    """Rows of the Markdown table whose header starts with ``first_header``."""
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first_header} |"))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split("|")])
    return rows


def test_scaling_runs_every_data_parallel_degree_in_between(training_report_dir):
    """tp 2 × pp 2 = 4 devices per replica, 8 per node, 64 / 2 = 32 micro-batches of a
    sequence pair: dp must divide 32 and fill whole nodes — 1 (4 devices, within one node), 2,
    4, 8, 16, 32 — and every one of them is in the table, with no gaps."""
    md = (training_report_dir / "report.md").read_text()
    rows = _md_table(md, "devices | dp")
    assert [(r[0], r[1]) for r in rows] == [("4", "1"), ("8", "2"), ("16", "4"), ("32", "8"),
                                            ("64", "16"), ("128", "32")]
    assert "## Time to train and cost against the number of devices" in md


def test_planner_best_plan_beside_the_scenario_plan(training_report_dir):
    """The planner's table has the scenario's own count (16) and its plan is at least as fast
    as the scenario's plan there (the scenario's plan is in the searched space or beaten)."""
    md = (training_report_dir / "report.md").read_text()
    planned = {r[0]: r for r in _md_table(md, "devices | planner's best plan")}
    assert "16" in planned and len(planned) <= 8
    speed = planned["16"][5]
    assert speed.endswith("×") and float(speed[:-1]) >= 1.0
    assert planned["16"][1].startswith("tp ")


def test_planner_counts_keep_the_ones_asked_for_and_stay_bounded():
    from archsim.report.training_planner import planner_counts

    counts = [2 ** k for k in range(12)]  # 1 … 2048
    chosen = planner_counts(counts, keep=[48, 64, 512], limit=5)
    assert len(chosen) == 5 and {64, 512} <= set(chosen) and 48 not in chosen
    assert chosen[0] == 1 and chosen[-1] == 2048  # the ends of the range
    assert planner_counts([1, 2, 4], keep=[2], limit=8) == [1, 2, 4]


def test_scan_subsets_long_ranges_and_keeps_the_scenario(monkeypatch):
    from archsim.report import scaling

    monkeypatch.setattr(scaling, "valid_dps", lambda sc: list(range(1, 101)))
    dps = scaling.scan_dps(None, 37, limit=10)
    assert len(dps) <= 10 and {1, 37, 100} <= set(dps) and dps == sorted(dps)
    assert scaling.scan_dps(None, 37, limit=200) == list(range(1, 101))


def test_no_planner_option_leaves_it_out(small_scenario):
    report = build_report(small_scenario, options=ReportOptions(train_tokens=1e10, days=10,
                                                                planner=False))
    assert ("The planner's best plan at other device counts", "--no-planner was given") \
        in report.omitted


def test_a_distillation_report_names_the_teacher():
    report = build_report("distill-llama2-70b-to-7b", options=ReportOptions(scaling=False))
    assert report.title.startswith("Distillation training plan: llama2-7b from teacher "
                                   "llama2-70b on h100-sxm5-80gb")
    step = next(s for s in report.sections if s.id == "step-time")
    rows = next(b for b in step.blocks if getattr(b, "rows", None)).rows
    assert rows[0][0] == "teacher forward (distillation)"
    assert rows[-1][0] == "step" and rows[-1][2] == "100.0%"


def test_the_planners_answer_stands_where_the_given_plan_does_not_run(tmp_path):
    """micro-batch 64 without recomputation does not fit; the planner's plan at the scenario's
    own 16 devices does. Its sentence had been left out of the answer whenever the plan as
    given did not run, so the answer only offered more devices of the failing plan."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL_TRAINING.replace("micro_batch: 2", "micro_batch: 64")
                   .replace("recompute: selective", "recompute: none"))
    assert not archsim.simulate(bad).to_dict()["feasible"]
    report = build_report(bad, options=ReportOptions(train_tokens=1e10, days=10))
    answer = " ".join(getattr(b, "text", "") for b in
                      next(s for s in report.sections if s.id == "answer").blocks)
    assert "does not run" in answer and "With the planner's best plan" in answer
    # and the plan that does not run gets no price or energy (it had printed both)
    table = next(b for b in next(s for s in report.sections if s.id == "capacity").blocks
                 if getattr(b, "rows", None))
    rows = {row[0]: row[1] for row in table.rows}
    assert rows["cost per million tokens"] == rows["energy per million tokens"] == "-"


def test_the_fewest_devices_carry_the_step_time_band(training_report_dir):
    """The answer and the capacity plan say what the step-time band's upper end gives for the
    fewest devices that meet the target (archsim/report/training_answer.py)."""
    md = (training_report_dir / "report.md").read_text()
    answer = md.split("## Inputs")[0]
    assert "at the upper end of its step-time band it takes" in answer
    assert "| time to train at the upper end of the step-time band |" in md
    assert "| fewest devices that meet the target there |" in md
