"""Issue item 2: tiny inputs that asked for huge work are refused before the work, with the
limit and how to raise it; the work of what is accepted grows with events, not numbers."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hostile_cases import (
    SCENARIO,
    SERVING,
    allocates_at_most,
    run_cli,
    sweep_mapping,
    write_yaml,
)

import archsim
from archsim.cli import main
from archsim.sim.serving.requests import sample_lengths
from archsim.spec import yamlio
from archsim.spec.errors import SpecError
from archsim.spec.workload import LengthDistribution
from archsim.sweep import load_sweep
from archsim.sweep.space import enumerate_points


def test_a_trillion_sequence_batch_is_refused_with_the_numbers():
    # dp = 8 devices / (tp 1 · pp 1) = 8; 10**12 / (1 · 8) = 125,000,000,000 micro-batches
    with pytest.raises(SpecError, match=r"workload\.global_batch: 1,000,000,000,000 sequences "
                                        r"in micro-batches of 1 over dp 8 make "
                                        r"125,000,000,000 micro-batches per pipeline, "
                                        r"125,000,000,000 stage micro-batches with pp 1; archsim "
                                        r"simulates at most 2,000,000 per step: raise "
                                        r"workload\.micro_batch \(or dp\) or lower "
                                        r"workload\.global_batch"):
        archsim.load_scenario(SCENARIO, {"workload.global_batch": 10**12})


def test_the_step_work_limit_counts_pipeline_and_virtual_stages():
    # 64 sequences / (micro-batch 1 · dp 1) = 64 micro-batches; × pp 8 × 2 chunks = 1024
    sc = archsim.load_scenario(SCENARIO, {"plan.pp": 8, "plan.schedule": "interleaved",
                                          "plan.virtual_stages": 2, "workload.global_batch": 64})
    assert sc.plan.pp == 8  # well inside the limit
    # 2,000,000 / (8 · 2) = 125,000 micro-batches is the most; one more sequence is refused
    archsim.load_scenario(SCENARIO, {"plan.pp": 8, "plan.schedule": "interleaved",
                                     "plan.virtual_stages": 2, "workload.global_batch": 125_000})
    with pytest.raises(SpecError, match=r"2,000,016 stage micro-batches with pp 8 × "
                                        r"virtual_stages 2"):
        archsim.load_scenario(SCENARIO, {"plan.pp": 8, "plan.schedule": "interleaved",
                                         "plan.virtual_stages": 2,
                                         "workload.global_batch": 125_001})


@pytest.mark.parametrize("setting, message", [
    # the default scenario: 1024 A100s, tp 8 · pp 8, so dp = 1024 / 64 = 16; 10**12 sequences
    # / (micro-batch 1 · dp 16) = 62,500,000,000 micro-batches per pipeline, × pp 8 stages =
    # 500,000,000,000 stage micro-batches
    ("workload.global_batch=1000000000000",
     "--set workload.global_batch (with <default scenario>): workload.global_batch: "
     "1,000,000,000,000 sequences in micro-batches of 1 over dp 16 make 62,500,000,000 "
     "micro-batches per pipeline, 500,000,000,000 stage micro-batches with pp 8; archsim "
     "simulates at most 2,000,000 per step: raise workload.micro_batch (or dp) or lower "
     "workload.global_batch"),
    ("model.layers=1000000000",
     "--set model.layers: Input should be less than or equal to 100000 (got 1000000000)"),
])
def test_huge_training_inputs_exit_2_in_little_memory(setting, message):
    # the process's address space is capped at 1 GiB: building the step (it had taken 10-15 GB
    # and over a minute) would fail there instead of refusing with exit 2
    proc = run_cli("simulate", "--set", setting, limit_bytes=2**30)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"archsim simulate: {message}\n"


def test_a_billion_requests_are_refused():
    with pytest.raises(SpecError, match=r"--set workload\.arrival\.count: Input should be less "
                                        r"than or equal to 1000000 \(got 1000000000\)"):
        archsim.load_scenario(SERVING, {"workload.arrival.count": 10**9})


@pytest.mark.parametrize("axis, message", [
    ({"range": [1, 1_000_000_000_000_000_000], "step": 1}, r"gives 1e\+18 values; an axis "
                                                            r"holds at most 1,000,000"),
    ({"range": [1, 64], "num": 10**12}, r"gives 1,000,000,000,000 values; an axis holds at "
                                        r"most 1,000,000"),
    # ln(1e18) / ln(1.0000001) = 41.4465 / 0.99999995e-7 = 414,465,337.2 → 414,465,338 values
    ({"range": [1, 1.0e+18], "factor": 1.0000001}, r"gives 414,465,3\d\d values"),
])
def test_range_axes_are_counted_before_they_are_built(tmp_path, axis, message):
    path = write_yaml(tmp_path / "s.yaml", sweep_mapping(axes={"workload.global_batch": axis}))
    with allocates_at_most(64 * 2**20), pytest.raises(
            SpecError, match=rf"^{path}: axes\.workload\.global_batch: range .* {message}"):
        load_sweep(path)  # a million of its values built would take ~36 MB, all of them TBs


def test_grid_beyond_max_points_names_the_limit_and_how_to_raise_it(tmp_path, capsys):
    axes = {"workload.global_batch": {"range": [1, 2000], "step": 1},
            "workload.seq_len": {"range": [1, 1000], "step": 1}}
    path = write_yaml(tmp_path / "s.yaml", sweep_mapping(axes=axes))
    out = tmp_path / "r.csv"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"archsim sweep: {path}: axes: the grid has 2,000,000 points, more than the limit of "
        "1,000,000; raise it with --max-points N (or max_points: N in the sweep file), or use "
        "mode random or lhs with n\n")
    assert not out.exists()
    # the limit is the user's to set, from the file or the command line
    small = write_yaml(tmp_path / "m.yaml", sweep_mapping(max_points=3,
                                                          axes={"plan.tp": [1, 2, 4, 8]}))
    assert main(["sweep", str(small), "--out", str(out)]) == 2
    assert "the grid has 4 points, more than the limit of 3" in capsys.readouterr().err
    sweep = load_sweep(small)
    sweep.spec = sweep.spec.model_copy(update={"max_points": 4})
    assert len(enumerate_points(sweep).points) == 4


def test_random_n_beyond_max_points(tmp_path):
    path = write_yaml(tmp_path / "s.yaml", sweep_mapping(
        mode="random", n=10**12, axes={"model.dropout": {"range": [0.0, 0.2]}}))
    with pytest.raises(SpecError, match=r"n: 1,000,000,000,000 points are more than the limit "
                                        r"of 1,000,000; raise it with --max-points N"):
        enumerate_points(load_sweep(path))


def test_an_exponent_tower_costs_nothing(tmp_path):
    path = write_yaml(tmp_path / "s.yaml", sweep_mapping(
        derived={"plan.pp": "((10**1024)**1024)**1024"}))
    with allocates_at_most(64 * 2**20), pytest.raises(SpecError) as err:
        enumerate_points(load_sweep(path))  # 10**(1024**3) alone would be ~425 MB of digits
    assert err.value.problems == [
        f"{path}: derived.plan.pp: cannot evaluate '((10**1024)**1024)**1024': 10 ** 1024 is "
        "larger than 2**1024 (all 2 points of the sweep fail here; nothing was run)"]


def _alias_bomb(levels: int = 10) -> str:
    """Nine copies per level: 9**10 = 3.5 billion values from a kilobyte of YAML."""
    lines = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_a_sweep_axis_is_refused(tmp_path):
    base = yaml.safe_dump({"name": "bomb", "base": SCENARIO}, sort_keys=False)
    path = tmp_path / "bomb.yaml"
    path.write_text(base + _alias_bomb() + "axes:\n  plan.placement: [*a9, *a8]\n")
    assert path.stat().st_size < 2000
    with allocates_at_most(64 * 2**20), pytest.raises(
            SpecError, match=r"holds more than 200,000 values \(YAML aliases expanded\), the "
                             r"most archsim reads"):
        load_sweep(path)  # 3.5 billion values expanded: hundreds of GB


def test_an_alias_bomb_as_the_distillation_student_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO, sort_keys=False) + _alias_bomb()
                    + "compression: {distill: {student: *a9}}\n")
    with pytest.raises(SpecError, match=rf"^{path}: .*holds more than 200,000 values"):
        archsim.load_scenario(path)


def test_a_long_list_is_refused_while_it_streams(tmp_path):
    """A million numbers (6.9 MB) used to be built (~500 MB) before anything looked at them."""
    path = tmp_path / "l.yaml"
    path.write_text("plan: {layers_per_stage: [" + ", ".join(["1"] * 1_000_000) + "]}\n")
    # the 6.9 MB of text is read; the million ints and their nodes (~500 MB) are not built
    with allocates_at_most(100 * 2**20), pytest.raises(
            SpecError, match=rf"^{path}: line 1, column \d+: holds more than 200,000 values, "
                             r"the most archsim reads$"):
        yamlio.read_yaml(path)


def test_yaml_is_read_with_the_c_parser_where_it_is_built():
    if getattr(yaml, "__with_libyaml__", False):
        assert issubclass(yamlio._Loader, yaml.CSafeLoader)
    assert issubclass(yamlio._Loader, yaml.SafeLoader) or issubclass(yamlio._Loader,
                                                                       yaml.CSafeLoader)


@pytest.mark.parametrize("mean, message", [
    (1e300, r"mean: the number 1e\+300 is larger than 1e\+18, the most archsim accepts"),
    (1e17, r"mean: Input should be less than or equal to 16777216 \(got 1e\+17\)"),
])
def test_lognormal_mean_beyond_the_longest_length_is_refused(mean, message):
    """mean 1e300 made e^690 draws that wrapped around int64 into 1-token prompts."""
    with pytest.raises(SpecError, match=rf"--set workload\.prompt_len: {message}"):
        archsim.load_scenario(SERVING, {"workload.prompt_len": {"dist": "lognormal",
                                                                "mean": mean, "sigma": 1}})


def test_lognormal_tail_is_clipped_to_the_longest_length():
    # mean 2**24, sigma 1: mu = ln(2**24) - 1/2 = 16.14; of 10,000 draws some pass
    # e^(16.14 + 2) = 7.5e7 > 2**24 = 1.7e7 (z > 2 has probability 2.3%)
    spec = LengthDistribution(dist="lognormal", mean=2**24, sigma=1)
    drawn = sample_lengths(spec, 10_000, np.random.default_rng(0), "workload.prompt_len")
    assert drawn.min() >= 1 and drawn.max() == 2**24
    assert drawn.dtype == np.int64


def test_serving_replicas_beyond_the_limit_are_refused():
    # llama2-7b on tp 1: one replica per device; 2**20 devices = 1,048,576 replicas
    with pytest.raises(SpecError, match=r"1,048,576 replicas \(hardware 1,048,576 devices / "
                                        r"tp·pp 1\): a serving run simulates at most 16,384; "
                                        r"give workload\.replicas"):
        archsim.load_scenario(SERVING, {"hardware.count": 2**20})
    sc = archsim.load_scenario(SERVING, {"hardware.count": 2**20, "workload.replicas": 4})
    assert sc.workload.replicas == 4


def test_plan_top_and_plan_space_are_bounded(capsys):
    assert main(["plan", "--top", "1000000000"]) == 2
    assert capsys.readouterr().err == ("archsim plan: --top 1000000000: expected at most 100 "
                                       "(each plan shown is simulated)\n")
    # 2999 micro-batches × the default space of GPT-3 175B on 1024 GPUs: tp 7 (1..64 dividing
    # 96 heads and 1024), pp 7, cp 4, sp 2, zero 4, recompute 3, schedules 1 + 7 = 8 →
    # 7·7·4·2·4·2999·3·8 = 112,858,368 plans
    values = ",".join(str(i) for i in range(1, 3000))
    with allocates_at_most(64 * 2**20):  # 112,858,368 plans enumerated: tens of GB
        assert main(["plan", "--axis", f"micro_batch={values}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archsim plan: --axis: the plan space has 112,858,368 plans (tp 7, "
                          "pp 7, cp 4, sp 2, zero 4, micro_batch 2999, recompute 3, schedule 2, "
                          "virtual_stages 7 values), more than the 2,000,000 a search "
                          "enumerates; give fewer --axis values")


def test_sweep_workers_are_bounded(tmp_path, capsys):
    from archsim.sweep.executors import default_workers

    path = write_yaml(tmp_path / "s.yaml", sweep_mapping())
    most = max(64, 4 * default_workers())
    assert main(["sweep", str(path), "--out", str(tmp_path / "r.csv"), "--workers",
                 str(most + 1)]) == 2
    assert capsys.readouterr().err == (
        f"archsim sweep: --workers {most + 1}: at most {most} local worker processes on this "
        "machine (4 per CPU, at least 64); each is a Python process of about 100 MB\n")


def test_graph_and_trace_outputs_are_bounded(tmp_path, capsys):
    scenario = write_yaml(tmp_path / "s.yaml", SCENARIO)
    assert main(["graph", str(scenario), "--set", "model.layers=100000", "--out",
                 str(tmp_path / "g.json")]) == 2
    assert capsys.readouterr().err == (
        "archsim graph: model.layers 100,000: archsim graph writes the op graph of at most "
        "2,000 layers (each op is a node); simulate accepts more\n")
    # 2,000,008 sequences / (micro-batch 1 · dp 8) = 250,001 micro-batches × pp 1: one too many
    trace = tmp_path / "t.json"
    assert main(["simulate", str(scenario), "--set", "workload.global_batch=2000008",
                 "--trace", str(trace)]) == 2
    assert capsys.readouterr().err == (
        f"archsim simulate: --trace {trace}: the step has 250,001 stage micro-batches; a "
        "timeline is written for at most 250,000 (lower workload.global_batch, or simulate "
        "without --trace)\n")
    assert not trace.exists()


def test_capacity_and_report_options_are_bounded(capsys):
    assert main(["capacity", "llama2-7b-capacity", "--rate", "30", "--max-replicas",
                 "1000000000"]) == 2
    assert capsys.readouterr().err == ("archsim capacity: --max-replicas 1000000000: at most "
                                       "16,384, the most replicas a serving run simulates\n")
    with pytest.raises(SystemExit) as exit_info:  # argparse: exit 2 with the usage line
        main(["report", "gpt3-175b-1024xa100", "--out", "rep", "--train-tokens", "inf"])
    assert exit_info.value.code == 2
    assert "argument --train-tokens: must be at most 1e+18, got inf" in capsys.readouterr().err
