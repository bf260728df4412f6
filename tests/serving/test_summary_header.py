"""The summary's first line names the devices a run uses and the serving rate's meaning."""

import archsim
from archsim.summary import render_summary


def test_a_placement_that_uses_part_of_a_pool_says_how_much():
    """llama2-7b-disagg-h100-inf2 prefills on 2 replicas × tp 1 of the cluster's 8 H100s and
    decodes on 3 × tp 4 = all 12 Inferentia2 chips."""
    text = render_summary(archsim.simulate("llama2-7b-disagg-h100-inf2"))
    assert text.splitlines()[0] == ("llama2-7b-disagg-h100-inf2 — serving of llama2-7b on "
                                    "2 of 8× h100-sxm5-80gb, 12× inferentia2")
    assert "requests/s completed (steady state)" in text


def test_a_run_on_its_whole_pool_names_the_count_alone():
    text = render_summary(archsim.simulate("llama2-7b-serving-a100"))
    assert text.splitlines()[0] == ("llama2-7b-serving-a100 — serving of llama2-7b on "
                                    "4× a100-sxm4-80gb")


def test_a_pool_the_placement_leaves_out_is_named_unused():
    import copy

    from archsim.spec.registry import load_registry_mapping

    cluster = copy.deepcopy(load_registry_mapping("clusters", "h100-prefill-inf2-decode")[0])
    cluster["pools"].append({"name": "spare", "device": "a100-sxm4-80gb", "count": 4,
                             "devices_per_node": 4})
    cluster["links"] += [{"between": ["gpu", "spare"], "interconnect": "eth-100g"},
                         {"between": ["inf2", "spare"], "interconnect": "eth-100g"}]
    sc = copy.deepcopy(load_registry_mapping("scenarios", "llama2-7b-disagg-h100-inf2")[0])
    sc["hardware"] = {"cluster": cluster}
    sc["workload"]["arrival"]["count"] = 40
    text = render_summary(archsim.simulate(sc))
    assert text.splitlines()[0].endswith(
        "on 2 of 8× h100-sxm5-80gb, 12× inferentia2, 4× a100-sxm4-80gb (unused)")
