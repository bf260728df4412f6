"""Request streams: arrival processes, length distributions, trace and length files, bad input."""

import math

import numpy as np
import pytest

import archsim
from archsim.sim.serving.requests import generate_requests, read_trace, sample_lengths
from archsim.spec.errors import SpecError
from archsim.spec.workload import LengthDistribution, ServingWorkload


def workload(**kw) -> ServingWorkload:
    return ServingWorkload.model_validate({"kind": "serving", **kw})


def test_poisson_arrivals_have_the_requested_mean_rate():
    reqs = generate_requests(workload(arrival={"rate_per_s": 4.0, "count": 4000, "seed": 1}))
    gaps = np.diff([0.0] + [r.arrival_s for r in reqs])
    # exponential gaps: mean 1/rate = 0.25 s, standard error 0.25/sqrt(4000) = 0.004
    assert gaps.mean() == pytest.approx(0.25, abs=4 * 0.25 / math.sqrt(4000))
    # and coefficient of variation 1 (Poisson), unlike evenly spaced arrivals
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.06)


def test_uniform_arrivals_are_evenly_spaced_and_seeded_runs_repeat():
    reqs = generate_requests(workload(arrival={"rate_per_s": 2.0, "count": 5,
                                               "process": "uniform"}))
    assert [r.arrival_s for r in reqs] == [0.0, 0.5, 1.0, 1.5, 2.0]
    a = generate_requests(workload(arrival={"rate_per_s": 3.0, "count": 50, "seed": 7},
                                   prompt_len={"dist": "uniform", "low": 10, "high": 20}))
    b = generate_requests(workload(arrival={"rate_per_s": 3.0, "count": 50, "seed": 7},
                                   prompt_len={"dist": "uniform", "low": 10, "high": 20}))
    assert [(r.arrival_s, r.prompt_len) for r in a] == [(r.arrival_s, r.prompt_len) for r in b]


def test_length_distributions():
    rng = np.random.default_rng(0)
    fixed = sample_lengths(LengthDistribution(dist="fixed", value=300), 10, rng, "f")
    assert set(fixed.tolist()) == {300}
    uni = sample_lengths(LengthDistribution(dist="uniform", low=5, high=8), 2000, rng, "f")
    assert set(uni.tolist()) == {5, 6, 7, 8}  # inclusive bounds
    logn = sample_lengths(LengthDistribution(dist="lognormal", mean=500, sigma=0.5), 20000,
                          rng, "f")
    # mu = ln(500) - sigma²/2 makes the mean 500; the median is exp(mu) = 500·e^(-0.125)
    assert logn.mean() == pytest.approx(500, rel=0.02)
    assert np.median(logn) == pytest.approx(500 * math.exp(-0.125), rel=0.03)
    capped = sample_lengths(LengthDistribution(dist="lognormal", mean=500, sigma=1.5, max=800),
                            5000, rng, "f")
    assert capped.max() == 800 and capped.min() >= 1


def test_empirical_lengths_come_from_the_file(tmp_path):
    f = tmp_path / "lengths.csv"
    f.write_text("length,source\n10,a\n20,b\n30,c\n")
    out = sample_lengths(LengthDistribution(dist="empirical", file=str(f)), 3000,
                         np.random.default_rng(0), "workload.prompt_len")
    assert set(out.tolist()) == {10, 20, 30}
    assert out.mean() == pytest.approx(20, abs=0.8)
    txt = tmp_path / "lengths.txt"
    txt.write_text("7\n\n9\n")
    out = sample_lengths(LengthDistribution(dist="empirical", file=str(txt)), 100,
                         np.random.default_rng(0), "workload.gen_len")
    assert set(out.tolist()) == {7, 9}


def test_trace_csv_and_jsonl_are_read_sorted(tmp_path):
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("arrival_s,prompt_len,gen_len\n0.5,100,10\n0.0,200,20\n")
    assert read_trace(str(csv_file)) == [(0.0, 200, 20), (0.5, 100, 10)]
    jl = tmp_path / "t.jsonl"
    jl.write_text('{"timestamp": 1.0, "input_len": 5, "output_len": 6}\n\n'
                  '{"arrival_s": 2, "prompt_len": 7, "gen_len": 8}\n')
    assert read_trace(str(jl)) == [(1.0, 5, 6), (2.0, 7, 8)]


def test_trace_rate_rescales_arrival_times(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("arrival_s,prompt_len,gen_len\n" +
                 "".join(f"{t},10,5\n" for t in (0, 1, 2, 3, 4)))  # 1 request/s
    reqs = generate_requests(workload(arrival={"process": "trace", "trace_file": str(f),
                                               "rate_per_s": 4.0}))
    assert [r.arrival_s for r in reqs] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    assert [r.prompt_len for r in reqs] == [10] * 5


# ---------------------------------------------------------------- bad input


def serving_scenario(**workload_kw):
    return {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1},
            "workload": {"kind": "serving", **workload_kw}}


@pytest.mark.parametrize("rate", [0, -2.5])
def test_rate_must_be_positive(rate):
    with pytest.raises(SpecError, match=r"workload\.arrival\.rate_per_s: Input should be "
                                        r"greater than 0 \(got " + str(rate)):
        archsim.load_scenario(serving_scenario(arrival={"rate_per_s": rate}))


def test_trace_process_needs_a_file_and_rate_processes_a_rate():
    with pytest.raises(SpecError, match=r"workload\.arrival: process trace needs trace_file"):
        archsim.load_scenario(serving_scenario(arrival={"process": "trace"}))
    with pytest.raises(SpecError, match=r"workload\.arrival: process poisson needs rate_per_s"):
        archsim.load_scenario(serving_scenario(arrival={"count": 10}))


def test_distribution_fields_are_checked():
    with pytest.raises(SpecError, match=r"workload\.prompt_len: dist lognormal needs mean and "
                                        r"sigma"):
        archsim.load_scenario(serving_scenario(prompt_len={"dist": "lognormal"}))
    with pytest.raises(SpecError, match=r"uniform needs low <= high \(got low 9, high 3\)"):
        archsim.load_scenario(serving_scenario(gen_len={"dist": "uniform", "low": 9,
                                                        "high": 3}))


def _trace(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    return serving_scenario(arrival={"process": "trace", "trace_file": str(f)})


def test_empty_trace_file_is_a_clear_error(tmp_path):
    for name, text in (("empty.csv", ""), ("header.csv", "arrival_s,prompt_len,gen_len\n"),
                       ("empty.jsonl", "\n\n")):
        with pytest.raises(SpecError, match=r"workload\.arrival\.trace_file: .*: the trace "
                                            r"file is empty"):
            archsim.simulate(_trace(tmp_path, name, text))


def test_malformed_trace_lines_are_named(tmp_path):
    sc = _trace(tmp_path, "bad.csv", "arrival_s,prompt_len,gen_len\n0,10,5\n0.1,ten,5\n")
    with pytest.raises(SpecError, match=r"bad\.csv: line 3: prompt_len 'ten' is not a number"):
        archsim.simulate(sc)
    sc = _trace(tmp_path, "neg.csv", "arrival_s,prompt_len,gen_len\n-1,10,5\n")
    with pytest.raises(SpecError, match=r"neg\.csv: line 2: arrival_s '-1' must be a time"):
        archsim.simulate(sc)
    sc = _trace(tmp_path, "frac.csv", "arrival_s,prompt_len,gen_len\n0,10,2.5\n")
    with pytest.raises(SpecError, match=r"frac\.csv: line 2: gen_len '2\.5' must be a whole "
                                        r"number ≥ 1"):
        archsim.simulate(sc)
    sc = _trace(tmp_path, "cols.csv", "arrival_s,prompt_len\n0,10\n")
    with pytest.raises(SpecError, match=r"cols\.csv: line 1: missing column\(s\) gen_len"):
        archsim.simulate(sc)
    sc = _trace(tmp_path, "bad.jsonl", '{"arrival_s": 0, "prompt_len": 1, "gen_len": 1}\n'
                                       '{"arrival_s": 1, "prompt_len": \n')
    with pytest.raises(SpecError, match=r"bad\.jsonl: line 2: not valid JSON"):
        archsim.simulate(sc)
    sc = _trace(tmp_path, "keys.jsonl", '{"arrival_s": 0, "prompt_len": 3}\n')
    with pytest.raises(SpecError, match=r"keys\.jsonl: line 1: missing gen_len"):
        archsim.simulate(sc)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(SpecError, match=r"workload\.arrival\.trace_file: nope\.csv: no such "
                                        r"file"):
        archsim.simulate(serving_scenario(arrival={"process": "trace",
                                                   "trace_file": "nope.csv"}))
    with pytest.raises(SpecError, match=r"workload\.gen_len\.file: gone\.txt: no such file"):
        archsim.simulate(serving_scenario(arrival={"rate_per_s": 1, "count": 2},
                                          gen_len={"dist": "empirical", "file": "gone.txt"}))
    bad = tmp_path / "l.txt"
    bad.write_text("12\nabc\n")
    with pytest.raises(SpecError, match=r"workload\.gen_len\.file: .*l\.txt: line 2: length "
                                        r"'abc' is not a number"):
        archsim.simulate(serving_scenario(arrival={"rate_per_s": 1, "count": 2},
                                          gen_len={"dist": "empirical", "file": str(bad)}))
