"""Bad input for the burst and closed arrival processes: scenario files (`archsim simulate`:
exit 2, one line naming the file and the field, no traceback) and serving rows of the runs
file (archsim/insitu/runs.py: SpecError naming the file, the row and the column); and a serving
row that loads and predicts."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest

import archsim
from archsim.insitu.predict import load_runs, predict
from archsim.insitu.runs import read_runs
from archsim.spec.errors import SpecError

SCENARIO = """model: llama2-7b
hardware: {{device: a100-sxm4-80gb, count: 1}}
workload:
  kind: serving
  arrival: {arrival}
  prompt_len: 100
  gen_len: 10
"""


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archsim", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("arrival,message", [
    ("{process: burst, rate_per_s: 5, count: 10}",
     "workload.arrival: process burst takes no rate_per_s (got 5.0): its requests arrive all "
     "at once; use process poisson or uniform for a rate"),
    ("{process: closed, rate_per_s: 2.5, concurrency: 4}",
     "workload.arrival: process closed takes no rate_per_s (got 2.5): its requests arrive as "
     "earlier ones finish; use process poisson or uniform for a rate"),
    ("{process: closed, count: 10}",
     "workload.arrival: process closed needs concurrency (requests in flight, at least 1)"),
    ("{process: poisson, rate_per_s: 5, concurrency: 4}",
     "workload.arrival: concurrency is only used with process closed (got process poisson)"),
    ("{process: burst, concurrency: 4}",
     "workload.arrival: concurrency is only used with process closed (got process burst)"),
    ("{process: closed, concurrency: 0}",
     "workload.arrival.concurrency: Input should be greater than or equal to 1 (got 0)"),
    ("{process: burst}",  # no count: the default 1000, fine; the rate is what burst refuses
     None),
], ids=["burst-rate", "closed-rate", "closed-no-concurrency", "poisson-concurrency",
        "burst-concurrency", "concurrency-0", "burst-ok"])
def test_bad_arrival_in_a_scenario_file_is_exit_2(tmp_path, arrival, message):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(arrival=arrival))
    if message is None:
        sc = archsim.load_scenario(str(path))
        assert sc.workload.arrival.process == "burst" and sc.workload.arrival.rate_per_s is None
        return
    proc = run_cli("simulate", str(path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == f"archsim simulate: {path}: {message}\n"
    assert "Traceback" not in proc.stderr
    with pytest.raises(SpecError) as err:  # the same line from the library
        archsim.load_scenario(str(path))
    assert err.value.problems == [f"{path}: {message}"]


def test_set_that_makes_an_arrival_bad_names_the_override(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(arrival="{process: burst, count: 10}"))
    proc = run_cli("simulate", str(path), "--set", "workload.arrival.rate_per_s=5")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == (f"archsim simulate: --set workload.arrival.rate_per_s (with {path}): "
                           "workload.arrival: process burst takes no rate_per_s (got 5.0): its "
                           "requests arrive all at once; use process poisson or uniform for a "
                           "rate\n")


# ------------------------------------------------------------------ runs file

HEADER = ("run,kind,metric,measured,device,devices,model,batch,prompt_len,gen_len,arrival,"
          "rate_per_s,concurrency,requests,seq_len\n")


def write(tmp_path, rows: str):
    path = tmp_path / "runs.csv"
    path.write_text(HEADER + rows)
    return path


@pytest.mark.parametrize("row,message", [
    ("r,serving,tokens_per_s,100,a100-sxm4-80gb,1,llama2-7b,8,512,64,burst,,,40,",
     "row 2, column batch: '8': a column of inference runs, but the run is serving"),
    ("r,training,step_time_s,1.5,a100-sxm4-80gb,8,gpt3-1.7b,,,,,,4,,2048",
     "row 2, column concurrency: '4': a column of serving runs, but the run is training"),
    ("r,servin,tokens_per_s,100,a100-sxm4-80gb,1,llama2-7b,,512,64,burst,,,40,",
     "row 2, column kind: 'servin': expected training, inference or serving"),
    ("r,serving,step_time_s,1,a100-sxm4-80gb,1,llama2-7b,,512,64,burst,,,40,",
     "row 2, column metric: 'step_time_s' is not a serving metric (for serving: tokens_per_s, "
     "tokens_per_s_per_device, ttft_s, tpot_s, e2e_latency_s)"),
    ("r,serving,ttft_s,0.1,a100-sxm4-80gb,1,llama2-7b,,512,64,poisson,abc,,40,",
     "row 2, column rate_per_s: 'abc': expected a number"),
    ("r,serving,ttft_s,0.1,a100-sxm4-80gb,1,llama2-7b,,512,64,poisson,-2,,40,",
     "row 2, column rate_per_s: '-2': expected a number greater than 0"),
    ("r,serving,ttft_s,0.1,a100-sxm4-80gb,1,llama2-7b,,512,64,closed,,four,40,",
     "row 2, column concurrency: 'four': expected a whole number"),
    ("r,serving,tokens_per_s,100,a100-sxm4-80gb,1,llama2-7b,,512,64,burst,,,40,2048",
     "row 2, column seq_len: '2048': a column of training runs, but the run is serving"),
], ids=["serving-batch", "training-concurrency", "kind-typo", "serving-step-time",
        "rate-not-a-number", "rate-negative", "concurrency-not-whole", "serving-seq-len"])
def test_bad_serving_cells_name_file_row_and_column(tmp_path, row, message):
    path = write(tmp_path, row + "\n")
    with pytest.raises(SpecError) as err:
        read_runs(path)
    assert err.value.problems == [f"{path}: {message}"]


def test_every_bad_cell_of_a_row_is_named(tmp_path):
    """A row with several bad cells: one problem for each, in column order."""
    path = write(tmp_path, "r,serving,ttft_s,0.1,a100-sxm4-80gb,1,llama2-7b,8,512,64,closed,"
                           "abc,,40,\n")
    with pytest.raises(SpecError) as err:
        read_runs(path)
    assert err.value.problems == [
        f"{path}: row 2, column batch: '8': a column of inference runs, but the run is serving",
        f"{path}: row 2, column rate_per_s: 'abc': expected a number"]


def test_a_closed_loop_rate_is_a_scenario_error_named_by_run(tmp_path):
    """rate_per_s with arrival closed passes the row's cell checks (a number) but not the
    scenario's: loading the run names the row and its run id, and the message is the
    scenario's."""
    path = write(tmp_path, "r7,serving,ttft_s,0.1,a100-sxm4-80gb,1,llama2-7b,,512,64,closed,"
                           "3,4,40,\n")
    (run,) = read_runs(path)
    assert run.scenario["workload"]["arrival"] == {"process": "closed", "rate_per_s": 3.0,
                                                   "concurrency": 4, "count": 40}
    with pytest.raises(SpecError) as err:
        load_runs([run])
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}: row 2")
    assert "(run r7)" in problem
    assert re.search(r"process closed takes no rate_per_s \(got 3\.0\)", problem)


def test_a_closed_loop_serving_row_loads_and_predicts(tmp_path):
    """Llama-2-7B on one A100, 512-token prompts, 64 new tokens, 4 clients, 40 requests: the
    row becomes that scenario, and its predictions are the simulated result's steady-state
    tokens/s and window mean TTFT."""
    path = write(tmp_path,
                 "tput,serving,tokens_per_s,250,a100-sxm4-80gb,1,llama2-7b,,512,64,closed,,4,"
                 "40,\n"
                 "ttft,serving,ttft_s,0.1,a100-sxm4-80gb,1,llama2-7b,,512,64,closed,,4,40,\n")
    runs = read_runs(path)
    assert [r.kind for r in runs] == ["serving", "serving"]
    assert runs[0].scenario["workload"] == {
        "kind": "serving", "prompt_len": 512, "gen_len": 64,
        "arrival": {"process": "closed", "concurrency": 4, "count": 40}}
    assert runs[0].scenario["hardware"] == {"device": "a100-sxm4-80gb", "count": 1}
    assert runs[0].group == "throughput" and runs[0].is_rate
    assert runs[1].group == "ttft" and not runs[1].is_rate
    assert runs[0].fit_kind == "inference"
    loaded = load_runs(runs)
    arr = loaded[0].scenario.workload.arrival
    assert (arr.process, arr.concurrency, arr.count, arr.rate_per_s) == ("closed", 4, 40, None)
    tput, ttft = (predict(ld) for ld in loaded)
    assert not tput.reasons and not ttft.reasons
    for p in (tput, ttft):
        assert p.predicted is not None and math.isfinite(p.predicted) and p.predicted > 0
    d = archsim.simulate(loaded[0].scenario).to_dict()
    assert tput.predicted == pytest.approx(d["tokens_per_s"], rel=1e-12)
    assert ttft.predicted == pytest.approx(d["steady_state"]["ttft_mean_s"], rel=1e-12)
    # 4 clients always in flight (Little's law): 4 × 64 tokens per mean end-to-end latency
    assert tput.predicted == pytest.approx(4 * 64 / d["steady_state"]["e2e_mean_s"], rel=0.05)


@pytest.mark.parametrize("arrival,how", [
    ("{process: burst, count: 10}", "arrive all at once"),
    ("{process: closed, concurrency: 2, count: 10}", "arrive as earlier ones finish"),
])
def test_capacity_needs_an_open_stream(tmp_path, arrival, how):
    """`archsim capacity` varies the request rate: a burst or a closed loop has none to vary,
    so the search is refused with the file and the field (it had run the burst at every
    probed rate)."""
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(arrival=arrival) + "  slo: {ttft_s: 1.0}\n")
    proc = run_cli("capacity", str(path), "--rate", "5")
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    process = arrival.split(",")[0].removeprefix("{process: ")
    assert proc.stderr == (
        f"archsim capacity: {path}: workload.arrival.process '{process}': capacity planning "
        f"sizes for an open stream of requests at a rate, and these {how}; expected process "
        "poisson, uniform or trace\n")


def test_a_burst_report_says_its_rates_are_over_the_whole_run(tmp_path):
    """`archsim report` on a burst builds (no capacity search, no rate to search from) and
    says where its rates were measured."""
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(arrival="{process: burst, count: 40}")
                    + "  slo: {ttft_s: 1.0}\n")
    proc = run_cli("report", str(path), "--out", str(tmp_path / "rep"))
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "Over the whole run (every request arrived at once)" in text
    assert "too short for a steady state" not in text


def test_a_set_cell_may_not_replace_the_columns_under_its_key(tmp_path):
    """`set` with a parent key (hardware={...}, workload.arrival={...}) had replaced the row's
    own columns: an A100 row ran on an H100 and was filed under the A100."""
    path = tmp_path / "runs.csv"
    path.write_text(
        "run,kind,metric,measured,device,devices,model,prompt_len,gen_len,arrival,requests,set\n"
        "r,serving,tokens_per_s,100,a100-sxm4-80gb,1,llama2-7b,128,16,burst,50,"
        "\"hardware={device: h100-sxm5-80gb, count: 1}\"\n"
        "q,serving,tokens_per_s,100,a100-sxm4-80gb,1,llama2-7b,128,16,burst,50,"
        "\"workload.arrival={process: closed, concurrency: 3, count: 9}\"\n"
        "p,serving,tokens_per_s,100,a100-sxm4-80gb,1,llama2-7b,128,16,,50,"
        "workload.arrival.seed=3\n")
    with pytest.raises(SpecError) as row:
        read_runs(path)
    assert row.value.problems == [
        f"{path}: row 2, column set: 'hardware={{device: h100-sxm5-80gb, count: 1}}': hardware "
        "holds the device, devices columns, set in this row; set its other fields one by one "
        "(hardware.FIELD=VALUE)",
        f"{path}: row 3, column set: 'workload.arrival={{process: closed, concurrency: 3, "
        "count: 9}': workload.arrival holds the arrival, requests columns, set in this row; set "
        "its other fields one by one (workload.arrival.FIELD=VALUE)",
    ]


def test_concurrency_without_a_closed_arrival_names_the_columns(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("run,kind,metric,measured,device,devices,model,concurrency\n"
                    "r,serving,tokens_per_s,100,a100-sxm4-80gb,1,llama2-7b,4\n")
    with pytest.raises(SpecError) as err:
        read_runs(path)
    assert err.value.problems == [
        f"{path}: row 2, column concurrency: '4': clients of a closed loop, but the arrival "
        "column is empty; expected arrival closed"]


def test_a_report_at_a_rate_needs_an_open_stream(tmp_path):
    """`archsim report --rate` on a burst had said `--set workload.arrival.rate_per_s ...`,
    an option the user never typed."""
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(arrival="{process: burst, count: 40}"))
    proc = run_cli("report", str(path), "--rate", "5", "--out", str(tmp_path / "rep"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == (
        f"archsim report: --rate 5: {path}: workload.arrival.process 'burst' sends no stream "
        "at a rate (a burst's requests arrive at once, a closed loop's as earlier ones "
        "finish); drop --rate, or use process poisson, uniform or trace\n")
    assert not (tmp_path / "rep").exists()
