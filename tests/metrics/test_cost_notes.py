"""What a cost figure rests on: the list prices of several device types compared in one
answer, and the devices a serving placement leaves out (counted as released)."""

import archsim
from archsim.metrics.common import price_sources_note
from archsim.spec.loader import load_spec_file
from archsim.summary import render_summary


def test_a_cluster_of_two_priced_device_types_names_both_prices():
    """The H100's price is Lambda Cloud's list, Inferentia2's AWS's (their profiles): a cost
    adding the two compares lists of two providers, and the result says so."""
    result = archsim.simulate("llama2-7b-disagg-h100-inf2")
    notes = result.to_dict()["notes"]
    [note] = [n for n in notes if n.startswith("prices compared: ")]
    assert note.startswith(
        "prices compared: h100-sxm5-80gb 2.99 USD/h (UNVERIFIED: Lambda Cloud on-demand 8x "
        "H100 SXM5 80GB, per GPU-hour, 2024 list); inferentia2 1.08 USD/h (UNVERIFIED: AWS "
        "inf2.48xlarge on-demand us-east-1 12.98 USD/h / 12 chips, 2024 list). Each is its "
        "profile's list price")
    # 2 of the 8 H100s serve: 6 are left out, and cost nothing here
    assert ("the cluster's 6 devices the placement leaves out count as released: no cost, no "
            "energy (held idle, they would be paid)") in render_summary(result)


def test_one_device_type_needs_no_price_note():
    assert price_sources_note([load_spec_file("devices", "a100-sxm4-80gb")]) is None
    assert price_sources_note([load_spec_file("devices", "a100-sxm4-80gb"),
                               load_spec_file("devices", "mi300x")]) is None  # no MI300X price
    d = archsim.simulate("llama2-7b-serving-a100").to_dict()
    assert not any(n.startswith("prices compared") for n in d.get("notes") or [])


def test_energy_on_a_guessed_tdp_says_so():
    """Inferentia2's 175 W is a placeholder (its profile lists tdp as unverified: AWS publishes
    no per-chip power); the A100's 400 W is its datasheet's."""
    from archsim.metrics.common import unverified_power_note

    note = unverified_power_note([load_spec_file("devices", "h100-sxm5-80gb"),
                                  load_spec_file("devices", "inferentia2")])
    assert note == ("energy rests on an UNVERIFIED TDP (inferentia2 175 W: no datasheet figure; "
                    "see the profile's comment): read it as an order of magnitude")
    assert note in archsim.simulate("llama2-7b-disagg-h100-inf2").to_dict()["notes"]
    assert unverified_power_note([load_spec_file("devices", "a100-sxm4-80gb")]) is None


def _tp8_decode(device):
    return archsim.simulate({"model": "gpt3-1.7b", "hardware": {"device": device, "count": 8},
                             "workload": {"kind": "inference", "batch": 1, "prompt_len": 128,
                                          "gen_len": 128},
                             "plan": {"tp": 8}}).to_dict()


def test_communication_on_unverified_links_says_so_where_it_weighs():
    """tp 8 decode of GPT-3 1.7B: a fifth of a Gaudi 2 run is all-reduces over its RoCE mesh,
    whose bandwidth, efficiency and per-step latency no measurement gives; NVLink4 on the
    H100 was measured (its profile lists nothing unverified), so it has no such note."""
    gaudi = _tp8_decode("gaudi2")
    comm = gaudi["communication"]["exposed_time_s"] / gaudi["e2e_latency_s"]
    assert comm >= 0.10
    assert (f"exposed communication is {100 * comm:.0f}% of this run and rests on UNVERIFIED "
            "link values: gaudi2-roce (bandwidth, efficiency, latency)") in " ".join(
        gaudi["notes"])
    assert not any("UNVERIFIED link" in n for n in _tp8_decode("h100-sxm5-80gb")["notes"])


def test_a_training_step_is_not_flagged_for_an_unverified_latency_alone():
    """InfiniBand's per-step latency is unverified, but a training step's large collectives
    turn on bandwidth and efficiency (measured with nccl-tests): no note."""
    d = archsim.simulate("gpt3-175b-1024xa100").to_dict()
    assert d["communication"]["exposed_time_s"] >= 0.10 * d["step_time_s"]  # it weighs
    assert not any("UNVERIFIED link" in n for n in d.get("notes", []))
