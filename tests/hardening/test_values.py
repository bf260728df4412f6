"""Issue item 3: values that were accepted and should not be."""

from __future__ import annotations

import pytest
from hostile_cases import SCENARIO, SERVING, write_yaml

import archsim
from archsim.spec.errors import SpecError


@pytest.mark.parametrize("overrides, message", [
    ({"hardware.count": True}, r"--set hardware\.count: expected a number, got true$"),
    ({"workload.arrival.count": True}, r"--set workload\.arrival\.count: expected a number, "
                                       r"got true$"),
    ({"plan.layers_per_stage": [12, False]}, r"--set plan\.layers_per_stage: 1: expected a "
                                             r"number, got false$"),
    ({"workload.prompt_len": True}, r"--set workload\.prompt_len: expected a number, got true$"),
])
def test_true_or_false_is_not_a_number(overrides, message):
    base = SERVING if any(k.startswith("workload.") for k in overrides) else SCENARIO
    with pytest.raises(SpecError, match=message):
        archsim.load_scenario(base, overrides)


def test_true_or_false_still_sets_a_flag():
    sc = archsim.load_scenario(SCENARIO, {"plan.sp": True, "plan.overlap_comm": False})
    assert sc.plan.sp is True and sc.plan.overlap_comm is False


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("model: llama2-7b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
                    "workload:\n  kind: serving\n  arrival:\n    rate_per_s: 1\n    count: 8\n"
                    "    count: 3\n")
    with pytest.raises(SpecError, match=rf"^{path}: malformed YAML: line 8, column 5: found the "
                                        r"key 'count' twice \(first on line 7\); give each key "
                                        r"once$"):
        archsim.load_scenario(path)


def test_a_merge_key_may_still_be_overridden(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("defaults: &d {rate_per_s: 1, count: 8}\n"
                    "model: llama2-7b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
                    "workload: {kind: serving, arrival: {<<: *d, count: 3}}\n")
    with pytest.raises(SpecError, match=r"defaults: unknown key"):  # the merge itself is fine
        archsim.load_scenario(path)


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_infinite_rate_is_refused(tmp_path, value):
    path = write_yaml(tmp_path / "s.yaml", SERVING)
    path.write_text(path.read_text().replace("rate_per_s: 4", f"rate_per_s: {value}"))
    shown = {".inf": "inf", "-.inf": "-inf", ".nan": "nan"}[value]
    with pytest.raises(SpecError, match=rf"^{path}: workload\.arrival\.rate_per_s: {shown} is "
                                        r"not a finite number$"):
        archsim.load_scenario(path)


def test_an_absurd_peak_is_refused_instead_of_a_feasible_null_step():
    with pytest.raises(SpecError, match=r"--set hardware\.device\.peak\.bf16: '1e-300 FLOPS' is "
                                        r"below the smallest flops value archsim accepts \(1 "
                                        r"kFLOPS to 1e21 FLOPS\)"):
        archsim.load_scenario(SCENARIO, {"hardware.device.peak.bf16": "1e-300 FLOPS"})


def test_two_to_the_forty_devices_are_refused():
    with pytest.raises(SpecError, match=r"--set hardware\.count: Input should be less than or "
                                        r"equal to 1048576 \(got 1099511627776\)"):
        archsim.load_scenario(SCENARIO, {"hardware.count": 2**40})


def test_a_cluster_over_the_device_limit_is_refused():
    pool = {"device": "a100-sxm4-80gb", "count": 2**19, "devices_per_node": 8}
    cluster = {"pools": [{**pool, "name": "a"}, {**pool, "name": "b"}, {**pool, "name": "c"}],
               "links": [{"between": ["a", "b"], "interconnect": "ib-hdr-200g"},
                         {"between": ["b", "c"], "interconnect": "ib-hdr-200g"}]}
    # 3 · 2**19 = 1,572,864 devices
    with pytest.raises(SpecError, match=r"hardware\.cluster: the pools hold 1,572,864 devices; "
                                        r"archsim simulates clusters of at most 1,048,576"):
        archsim.load_scenario({**SCENARIO, "hardware": {"cluster": cluster}})


@pytest.mark.parametrize("name", ["../../../../tmp/x", "/tmp/x", "sub/dir", ".hidden", "a b"])
def test_registry_names_cannot_leave_the_registry(tmp_path, name):
    (tmp_path / "x.yaml").write_text("layers: 2\nhidden: 64\nheads: 2\nvocab: 100\n")
    with pytest.raises(SpecError, match=rf"^<scenario>: model: {name!r} is not a model name "
                                        r"\(letters, digits and \. _ \+ - only\); a file outside "
                                        r"the registry is given by a path ending in \.yaml$"):
        archsim.load_scenario({**SCENARIO, "model": name})


def test_a_path_that_looks_like_one_may_leave_the_registry(tmp_path):
    model = tmp_path / "x.yaml"
    model.write_text("layers: 2\nhidden: 64\nheads: 2\nvocab: 100\n")
    sc = archsim.load_scenario({**SCENARIO, "model": str(model)})
    assert (sc.model.name, sc.model.layers) == ("x", 2)
