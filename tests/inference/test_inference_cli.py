"""`archsim simulate` on inference and serving scenarios: JSON keys, summaries, bad input."""

import json

from archsim.cli import main


def test_json_and_summary_for_static_inference(capsys):
    assert main(["simulate", "llama2-7b-inference-a100", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["mode"] == "inference" and d["ttft_s"] > 0 and d["tpot_s"] > 0
    assert main(["simulate", "llama2-7b-inference-a100",
                 "--set", "workload.gen_len=8"]) == 0
    text = capsys.readouterr().out
    assert "time to first token (prefill)" in text and "decode" in text and "memory" in text
    assert "first / last decode step" in text


def test_summary_for_disaggregated_serving(capsys):
    assert main(["simulate", "llama2-7b-disagg-h100-a100",
                 "--set", "workload.arrival.count=60"]) == 0
    text = capsys.readouterr().out
    assert "TTFT p50 / p90 / p99" in text and "Colocated on the same devices" in text
    assert "KV-cache transfer ib-ndr-400g" in text


def test_bad_serving_input_exits_2_with_one_line_per_problem(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_len,gen_len\n0,12,x\n")
    rc = main(["simulate", "llama2-7b-serving-a100", "--set", "workload.arrival.process=trace",
               "--set", f"workload.arrival.trace_file={trace}"])
    err = capsys.readouterr().err
    assert rc == 2 and "line 2: gen_len 'x' is not a number" in err
    assert "Traceback" not in err
    rc = main(["simulate", "llama2-7b-serving-a100", "--set", "workload.arrival.rate_per_s=0"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "workload.arrival.rate_per_s: Input should be greater than 0 (got 0)" in err
