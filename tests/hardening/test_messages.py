"""Issue item 8: messages that did not say enough, and one mismatch that two paths answered
differently."""

from __future__ import annotations

import pytest
from hostile_cases import SCENARIO, SERVING, write_yaml

import archsim
from archsim.cli import main
from archsim.spec.errors import SpecError


def test_a_folder_given_as_a_scenario_or_sweep_says_so(tmp_path, capsys):
    assert main(["simulate", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"archsim simulate: {tmp_path}: is a folder; expected a "
                                       "scenario YAML file or a name in workloads/scenarios/\n")
    assert main(["sweep", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"archsim sweep: {tmp_path}: is a folder; expected a "
                                       "sweep YAML file or a name in workloads/sweeps/\n")


@pytest.mark.parametrize("base, overrides, message", [
    (SCENARIO, {"workload.batches": 2}, r"--set workload\.batches: unknown key; expected one "
                                        r"of: kind, seq_len, global_batch, micro_batch"),
    (SERVING, {"workload.rate": 2}, r"--set workload\.rate: unknown key; expected one of: kind, "
                                    r"cuda_graphs, arrival, prompt_len, gen_len"),
    (SERVING, {"workload.arrival.rate": 2}, r"--set workload\.arrival\.rate: unknown key; "
                                            r"expected one of: rate_per_s, count, process"),
    (SCENARIO, {"model.moe": {"experts": 8, "topk": 2}},
     r"--set model\.moe: topk: unknown key; expected one of: experts, top_k"),
    (SCENARIO, {"hardware.device.memory.size": "80 GB"},
     r"--set hardware\.device\.memory\.size: unknown key; expected one of: capacity, bandwidth"),
])
def test_unknown_keys_list_the_valid_ones(base, overrides, message):
    with pytest.raises(SpecError, match=message):
        archsim.load_scenario(base, overrides)


def test_unknown_key_in_a_cluster_pool_lists_the_pool_keys():
    cluster = {"pools": [{"name": "a", "device": "a100-sxm4-80gb", "count": 8, "size": 1}]}
    with pytest.raises(SpecError, match=r"<scenario>: hardware\.cluster\.pools\.0\.size: unknown "
                                        r"key; expected one of: name, device, count"):
        archsim.load_scenario({**SCENARIO, "hardware": {"cluster": cluster}})


def test_a_missing_or_unknown_kind_lists_the_kinds():
    no_kind = {**SCENARIO, "workload": {"global_batch": 16}}
    with pytest.raises(SpecError, match=r"^<scenario>: workload\.kind: required field is "
                                        r"missing; expected one of: training, inference, "
                                        r"serving$"):
        archsim.load_scenario(no_kind)
    with pytest.raises(SpecError, match=r"^--set workload\.kind: 'train' is not one of: "
                                        r"training, inference, serving$"):
        archsim.load_scenario(SCENARIO, {"workload.kind": "train"})


def test_trace_and_length_file_errors_name_the_scenario(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_len,gen_len\n0.0,128,16\n0.5,-3,16\n")
    wl = {**SERVING["workload"], "arrival": {"process": "trace", "trace_file": str(trace)}}
    path = write_yaml(tmp_path / "s.yaml", {**SERVING, "workload": wl})
    with pytest.raises(SpecError, match=rf"^{path}: workload\.arrival\.trace_file: {trace}: line "
                                        r"3: prompt_len '-3' must be a whole number ≥ 1$"):
        archsim.load_scenario(path)
    missing = tmp_path / "nope.txt"
    with pytest.raises(SpecError, match=rf"^--set workload\.gen_len: workload\.gen_len\.file: "
                                        rf"{missing}: no such file"):
        archsim.load_scenario(SERVING, {"workload.gen_len": {"dist": "empirical",
                                                             "file": str(missing)}})


def test_a_set_that_breaks_a_registry_model_is_blamed():
    # 12289 is not divisible by GPT-3 175B's 96 heads
    with pytest.raises(SpecError, match=r"^--set model\.hidden \(with .*workloads/models/"
                                        r"gpt3-175b\.yaml\): hidden 12289 is not divisible by "
                                        r"heads 96; give head_dim explicitly$"):
        archsim.load_scenario(None, ["model.hidden=12289"])


def test_a_stage_count_other_than_pp_is_infeasible_on_one_pool_and_on_several():
    homogeneous = archsim.simulate(None, {"plan.pp": 7}).to_dict()
    assert homogeneous["feasible"] is False
    assert homogeneous["infeasible_reasons"] == [
        "1024 devices are not divisible by tp·pp·cp = 8·7·1 = 56"]
    hetero = archsim.simulate("gpt3-18b-hetero-h100-a100", {"plan.pp": 4}).to_dict()
    assert hetero["feasible"] is False  # was exit 2
    assert hetero["infeasible_reasons"] == ["plan.placement.stages places 8 stages, but plan.pp "
                                            "is 4"]
