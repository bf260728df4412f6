"""Scenario loading: registry names, inline specs, overrides, and bad input messages."""

import textwrap

import pytest

import archsim
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_scenario, load_spec_file

BASE = {
    "model": "gpt3-1.7b",
    "hardware": {"device": "a100-sxm4-80gb", "count": 8},
    "workload": {"kind": "training", "global_batch": 16},
}


def test_default_scenario_loads():
    sc = load_scenario()
    assert sc.model.layers == 96 and sc.model.hidden == 12288
    assert sc.cluster.total_devices == 1024
    assert sc.hardware.device.peak["fp16"] == 312e12
    assert sc.hardware.inter_node.bandwidth == 25e9


def test_device_default_links_come_from_the_profile():
    sc = load_scenario({**BASE, "hardware": {"device": "a100-sxm4-80gb", "count": 16}})
    pool = sc.cluster.pools[0]
    assert pool.intra_node.name == "nvlink3-nvswitch"
    assert pool.inter_node.name == "ib-hdr-200g"
    assert pool.nodes == 2


def test_registry_scenario_by_name_and_path(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        model: llama2-7b
        hardware: {device: h100-sxm5-80gb, count: 8}
        workload: {kind: training, seq_len: 4096, global_batch: 64}
        plan: {tp: 2}
    """))
    sc = load_scenario(path)
    assert sc.model.n_kv_heads == 32 and sc.plan.tp == 2 and sc.workload.seq_len == 4096


def test_inline_model_and_device():
    device = load_spec_file("devices", "a100-sxm4-80gb").model_dump(mode="json")
    model = {"layers": 2, "hidden": 256, "heads": 4, "vocab": 1000}
    sc = load_scenario({**BASE, "model": model, "hardware": {"device": device, "count": 1}})
    assert sc.model.ffn == 1024 and sc.model.n_kv_heads == 4
    assert sc.hardware.device.memory.capacity == 80 * 2**30


def test_override_on_a_named_model():
    sc = load_scenario(BASE, ["model.layers=2", "plan.tp=4", "workload.global_batch=32"])
    assert sc.model.layers == 2 and sc.model.hidden == 2304  # the rest from the registry file
    assert sc.plan.tp == 4 and sc.workload.global_batch == 32


def test_override_mapping_form():
    sc = load_scenario(BASE, {"plan.recompute": "full"})
    assert sc.plan.recompute == "full"


def test_override_that_names_a_registry_entry():
    sc = load_scenario(BASE, ["hardware.device=h100-sxm5-80gb"])
    assert sc.hardware.device.name == "h100-sxm5-80gb"


def test_unknown_key_names_file_path_and_expected_keys(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: gpt3-1.7b\nhardware: {device: a100-sxm4-80gb, count: 8}\n"
                    "workload: {kind: training}\nplan: {tp: 2, pipeline: 4}\n")
    with pytest.raises(SpecError, match=rf"{path}: plan.pipeline: unknown key; expected one of: "
                                        r"dp, tp, pp"):
        load_scenario(path)


def test_unknown_key_in_a_registry_file_names_the_override():
    with pytest.raises(SpecError, match=r"--set model.layerz: unknown key; expected one of: "
                                        r"name, layers, hidden"):
        load_scenario(BASE, ["model.layerz=3"])


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("model: gpt3-1.7b\nhardware: {device: a100\nworkload: x\n")
    with pytest.raises(SpecError, match=rf"{path}: malformed YAML: line \d+, column \d+"):
        load_scenario(path)


def test_an_unquoted_two_four_pattern_is_the_pattern_not_base_60(tmp_path):
    """YAML 1.1 reads ``2:4`` as the base-60 integer 2·60 + 4 = 124; archsim reads it as the
    text it is, in a file and in --set, and still reads numbers."""
    path = tmp_path / "sparse.yaml"
    path.write_text("model: llama2-7b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
                    "workload: {kind: inference, batch: 1, prompt_len: 128, gen_len: 8}\n"
                    "compression: {sparsity: {pattern: 2:4}}\n")
    assert load_scenario(path).compression.sparsity.pattern == "2:4"
    sc = load_scenario(path, ["compression.sparsity.pattern=2:4", "workload.batch=0x10"])
    assert (sc.compression.sparsity.pattern, sc.workload.batch) == ("2:4", 16)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(SpecError, match="the file is empty"):
        load_scenario(path)


def test_missing_unit_in_an_inline_device():
    device = load_spec_file("devices", "a100-sxm4-80gb").model_dump(mode="json")
    device["memory"]["bandwidth"] = 2039
    with pytest.raises(SpecError, match=r"<scenario>: hardware.device.memory.bandwidth: a bare "
                                        r"number 2039 has no unit; expected a quantity in "
                                        r"bandwidth"):
        load_scenario({**BASE, "hardware": {"device": device, "count": 1}})


def test_wrong_unit_via_override():
    with pytest.raises(SpecError, match=r"hardware.device.memory.capacity: unit 'GB/s' in "
                                        r"'80 GB/s' is not a unit of bytes"):
        load_scenario(BASE, ["hardware.device.memory.capacity=80 GB/s"])


@pytest.mark.parametrize(("override", "message"), [
    ("model.layers=0", "model.layers: Input should be greater than or equal to 1 (got 0)"),
    ("hardware.count=-8", "hardware.count: Input should be greater than or equal to 1 (got -8)"),
    ("workload.global_batch=0", "workload.global_batch: Input should be greater than or "
                                "equal to 1 (got 0)"),
    ("hardware.device.memory.capacity=-1 GiB", "hardware.device.memory.capacity: '-1 GiB' must "
                                               "be greater than zero (got '-1 GiB')"),
])
def test_zero_or_negative_sizes(override, message):
    with pytest.raises(SpecError) as err:
        load_scenario(BASE, [override])
    assert err.value.problems == [f"--set {message}"]


def test_unknown_registry_name_suggests_closest():
    with pytest.raises(SpecError, match=r"hardware.device: unknown device 'h100'; closest: "
                                        r"h100-pcie-80gb, h100-sxm5-80gb"):
        load_scenario({**BASE, "hardware": {"device": "h100", "count": 8}})
    with pytest.raises(SpecError, match=r"model: unknown model 'llama2-7'; closest: llama2-7b"):
        load_scenario({**BASE, "model": "llama2-7"})


def test_unknown_scenario_name():
    with pytest.raises(SpecError, match="unknown scenario 'no-such-scenario'"):
        load_scenario("no-such-scenario")


def test_missing_scenario_file():
    with pytest.raises(SpecError, match=r"nope\.yaml: no such scenario file"):
        load_scenario("nope.yaml")


def test_missing_required_fields():
    with pytest.raises(SpecError, match="<scenario>: model: required field is missing"):
        load_scenario({"hardware": BASE["hardware"], "workload": BASE["workload"]})


def test_bad_override_syntax():
    with pytest.raises(SpecError, match="expected KEY=VALUE"):
        load_scenario(BASE, ["plan.tp"])


def test_multi_node_needs_inter_node_link():
    device = load_spec_file("devices", "a100-sxm4-80gb").model_dump(mode="json")
    device["scale_out"] = None
    with pytest.raises(SpecError, match=r"<scenario>: hardware: 16 devices span several "
                                        r"nodes of 8: inter_node interconnect is required"):
        load_scenario({**BASE, "hardware": {"device": device, "count": 16}})


def test_public_api_exports():
    assert archsim.load_scenario is load_scenario
    assert callable(archsim.simulate)


def test_overriding_the_device_brings_its_own_links():
    sc = load_scenario({**BASE, "hardware": {"device": "a100-sxm4-80gb", "count": 16}},
                       ["hardware.device=h100-sxm5-80gb"])
    pool = sc.cluster.pools[0]
    assert (pool.intra_node.name, pool.inter_node.name) == ("nvlink4-nvswitch", "ib-ndr-400g")


def test_links_given_in_the_scenario_survive_a_device_override():
    sc = load_scenario({**BASE, "hardware": {"device": "a100-sxm4-80gb", "count": 16,
                                             "inter_node": "roce-400g"}},
                       ["hardware.device=h100-sxm5-80gb"])
    assert sc.cluster.pools[0].inter_node.name == "roce-400g"


def test_cluster_is_built_once_and_copies_rebuild_it():
    sc = load_scenario(BASE)
    assert sc.cluster is sc.cluster
    smaller = sc.hardware.model_copy(update={"count": 4})
    assert smaller.to_cluster().total_devices == 4 and sc.cluster.total_devices == 8


def test_a_profile_file_of_the_wrong_kind_lists_the_expected_kinds_keys(tmp_path):
    """An interconnect YAML given where a device is expected: the unknown keys are reported
    with the device's keys (not a scenario's), nested ones with the nested spec's keys."""
    from archsim.spec.loader import load_spec_file

    path = tmp_path / "link.yaml"
    path.write_text("name: l\nkind: gpu\npeak: {bf16: 1 TFLOPS}\ntdp: 1 W\nefficiency: {}\n"
                    "memory: {capacity: 1 GiB, bandwidth: 1 TB/s, lanes: 4}\ntopology: switch\n")
    with pytest.raises(SpecError) as err:
        load_spec_file("devices", path)
    lines = str(err.value).splitlines()
    assert (f"{path}: topology: unknown key; expected one of: name, kind, vendor, peak, "
            "vector_peak, memory") in "\n".join(lines)
    assert (f"{path}: memory.lanes: unknown key; expected one of: capacity, bandwidth, kind, "
            "reserved, cache_bandwidth") in lines
