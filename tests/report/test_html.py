"""The written report: self-contained HTML (parsed), Markdown with PNGs beside it, contents."""

from __future__ import annotations

import re

from report_cases import TRAINING_SECTIONS
from report_checks import check_report_folder, parse_html

import archsim


def test_training_report_is_self_contained_with_every_section(training_report_dir):
    page = check_report_folder(training_report_dir, TRAINING_SECTIONS)
    # one plot each for step time, memory, timeline, roofline, scaling
    assert len(page.images) == 5
    assert page.headings[0].startswith("Training capacity plan: gpt3-1.7b on a100-sxm4-80gb")
    files = sorted(p.name for p in training_report_dir.iterdir() if p.name != ".archsim-report")
    assert files == sorted(["index.html", "report.md", "step_time.png", "memory.png",
                            "timeline.png", "roofline.png", "scaling.png"])


def test_report_numbers_follow_from_the_simulated_result(training_report_dir, small_scenario):
    md = (training_report_dir / "report.md").read_text()
    result = archsim.simulate(small_scenario).to_dict()
    # target: 1e10 tokens in 10 days = 1e10 / 864,000 s = 11,574.07 tokens/s
    assert "10 B tokens within 10.0 days = 11,574 tokens/s sustained" in md
    # time to train at the simulated plan = tokens / throughput
    days = 1e10 / result["tokens_per_s"] / 86_400
    expected = f"{days * 24:.1f} hours" if days < 1 else f"{days:,.1f} days"
    assert f"| time to train 10 B tokens | {expected} |" in md
    # cost of the run = cost per million tokens × 10,000 million tokens
    cost = result["cost_per_million_tokens_usd"] * 1e4
    assert f"| cost of the run | ${cost:,.0f} |" in md
    # the step-time table's parts add up to the step (the last row)
    shares = re.findall(r"^\| [a-z ]+ \| [^|]+ \| ([0-9.]+)% \|$",
                        md.split("## Step-time breakdown")[1].split("##")[0], flags=re.M)
    assert abs(sum(float(s) for s in shares[:-1]) - float(shares[-1])) < 0.3
    assert abs(float(shares[-1]) - 100.0) < 0.2


def test_html_escapes_text_and_has_no_scripts():
    from archsim.report.document import Report, Section
    from archsim.report.render import render_html

    sec = Section("answer", "Q & A").text("<script>alert(1)</script> & more")
    page = parse_html(render_html(Report("T <1>", "s", [sec])))
    assert page.external == []
    assert "<script>alert(1)</script> & more" in page.text
    assert page.section_ids == ["answer"]


def test_markdown_escapes_table_pipes():
    from archsim.report.document import Report, Section
    from archsim.report.render import render_markdown

    sec = Section("x", "X").table(["a", "b"], [["1|2", "3"]])
    md = render_markdown(Report("T", "s", [sec]))
    assert "| 1\\|2 | 3 |" in md


def test_same_input_gives_identical_files(small_scenario):
    from archsim.report import ReportOptions, build_report, report_files

    opts = ReportOptions(train_tokens=1e10, days=10, scaling=False)
    first = report_files(build_report(small_scenario, options=opts))
    second = report_files(build_report(small_scenario, options=opts))
    assert first.keys() == second.keys()
    assert all(first[k] == second[k] for k in first), "report output is not reproducible"
