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


@pytest.mark.parametrize("args,message", [
    (["--axis", "tp"], "archsim plan: --axis 'tp': expected NAME=V1,V2,..., e.g. tp=4,8"),
    (["--axis", "zero=5"], "archsim plan: --axis zero: expected 0..3, got 5"),
    (["--top", "0"], "archsim plan: top 0: expected at least 1"),
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
