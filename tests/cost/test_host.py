"""The host as a second queue (archsim/cost/host.py): a GPU waits for a host that issues ops
more slowly than it runs them, and for nothing else — worked out by hand on small models."""

from __future__ import annotations

import pytest
import yaml

from archsim.api import simulate
from archsim.cost.host import host_wait_s
from archsim.spec.registry import registry_path
from archsim.validate.cases import MODELS
from archsim.validate.predict import one_device_scenario

LAYER_OPS = 11
"""Kernels of a GPT decode layer in archsim's op graph: 2 norms, QKV, attention, KV write,
projection, 2 residual adds, 2 MLP GEMMs, the activation."""


def test_host_wait_is_the_host_time_beyond_the_device_time():
    assert host_wait_s(1.0e-3, 100, 20e-6) == pytest.approx(1.0e-3)  # 2 ms host vs 1 ms
    assert host_wait_s(3.0e-3, 100, 20e-6) == 0.0  # the device is slower: no wait
    assert host_wait_s(1.0e-3, 100, None) == 0.0  # no host cost: the host never paces
    assert host_wait_s(1.0e-3, 0, 20e-6) == 0.0


def h200(**insitu) -> dict:
    data = yaml.safe_load(registry_path("devices", "h200-sxm-141gb").read_text())
    data["insitu"] = {**data["insitu"], **insitu}
    return data


def gpt(layers: int):
    return MODELS["gpt-tiny"].model_copy(update={"layers": layers,
                                                 "name": f"gpt-tiny-{layers}"})


def decode(layers: int, device: dict, **workload) -> dict:
    wl = {"kind": "inference", "batch": 1, "prompt_len": 64, "gen_len": 4, "dtype": "bf16",
          **workload}
    return simulate(one_device_scenario("t", gpt(layers), wl, device)).to_dict()


def test_a_host_bound_decode_step_takes_the_hosts_issue_time():
    """At 1 ms per op the host is far slower than any kernel of a width-256 model: two more
    layers add 2 × 11 ops, i.e. 22 ms per token; prefill and decode wait, and say so."""
    slow = h200(inference_host_op_cost="1 ms")
    one, three = decode(1, slow), decode(3, slow)
    assert three["tpot_s"] - one["tpot_s"] == pytest.approx(2 * LAYER_OPS * 1e-3, rel=1e-9)
    assert three["ttft_s"] - one["ttft_s"] == pytest.approx(2 * LAYER_OPS * 1e-3, rel=1e-9)
    assert one["phases"]["decode"]["host_wait_s"] > 0
    assert any(n.startswith("host-bound") for n in one["notes"])


def test_a_fast_host_or_cuda_graphs_change_nothing():
    plain = decode(2, h200())
    fast = decode(2, h200(inference_host_op_cost="1 ns"))
    graphs = decode(2, h200(inference_host_op_cost="1 ms"), cuda_graphs=True)
    graphs_plain = decode(2, h200(), cuda_graphs=True)
    for key in ("ttft_s", "tpot_s"):
        assert fast[key] == plain[key]
        assert graphs[key] == graphs_plain[key]
    assert fast["phases"]["decode"]["host_wait_s"] == 0.0
    assert not any(n.startswith("host-bound") for n in fast["notes"])


def test_training_hosts_cost_paces_training_only():
    """``host_op_cost`` is training's: inference keeps its own (here none)."""
    train = {"kind": "training", "seq_len": 64, "global_batch": 2, "micro_batch": 1,
             "dtype": "bf16", "optimizer": "adam"}
    slow = h200(host_op_cost="1 ms")
    base = simulate(one_device_scenario("t", gpt(1), train, h200())).to_dict()
    one = simulate(one_device_scenario("t", gpt(1), train, slow)).to_dict()
    three = simulate(one_device_scenario("t", gpt(3), train, slow)).to_dict()
    tb = one["time_breakdown"]
    assert tb["host_wait_s"] > 0
    assert one["step_time_s"] == pytest.approx(base["step_time_s"] + tb["host_wait_s"])
    # two layers more: their forward and backward ops, for each of the 2 micro-batches,
    # at least 2 × 2 × 11 more ops of 1 ms
    assert three["step_time_s"] - one["step_time_s"] > 2 * 2 * LAYER_OPS * 1e-3
    assert decode(1, slow)["tpot_s"] == decode(1, h200())["tpot_s"]


def test_a_host_bound_server_serves_at_the_hosts_pace():
    """Continuous batching runs the same passes: with the host at 1 ms per op every decode
    iteration of a 2-layer model takes at least (2 × 11 + embedding + head) ms, so no
    request's time per output token can beat 2 × 11 ms."""
    wl = {"kind": "serving", "arrival": {"process": "poisson", "rate_per_s": 5, "count": 20,
                                         "seed": 1},
          "prompt_len": 64, "gen_len": 16, "dtype": "bf16"}
    fast = simulate(one_device_scenario("t", gpt(2), wl, h200())).to_dict()
    slow = simulate(one_device_scenario("t", gpt(2), wl,
                                        h200(inference_host_op_cost="1 ms"))).to_dict()
    assert fast["tpot_p50_s"] < 2 * LAYER_OPS * 1e-3
    assert slow["tpot_p50_s"] >= 2 * LAYER_OPS * 1e-3


def test_a_device_waiting_for_its_host_draws_idle_power():
    """Energy = busy × TDP + the rest × idle power (archsim/metrics/common.py): the wait for
    the host lengthens the run at idle power and adds nothing at TDP."""
    from archsim.metrics.common import idle_power
    from archsim.spec.device import DeviceSpec

    data = h200()
    spec = DeviceSpec.model_validate(data)
    fast = decode(2, data)
    slow = decode(2, h200(inference_host_op_cost="1 ms"))
    longer = slow["e2e_latency_s"] - fast["e2e_latency_s"]
    assert longer > 0.05  # 4 passes of > 22 ms
    assert slow["energy_joules"] - fast["energy_joules"] == pytest.approx(
        longer * idle_power(spec), rel=1e-6)


def test_a_host_cost_on_a_calibrated_profile_is_outside_its_calibration():
    """The corpus runs behind the shipped error bars had no host queue: a result paced by one
    says it is outside the calibration; CUDA graphs (no host queue) do not."""
    slow = h200(inference_host_op_cost="40 us")
    reasons = decode(2, slow)["uncertainty"]["out_of_range"]
    assert any("inference_host_op_cost" in r for r in reasons)
    graphs = decode(2, slow, cuda_graphs=True)["uncertainty"]["out_of_range"]
    assert not any("host_op_cost" in r for r in graphs)
    assert not any("host_op_cost" in r for r in decode(2, h200())["uncertainty"]["out_of_range"])
    zero = decode(2, h200(inference_host_op_cost="0 us"))["uncertainty"]["out_of_range"]
    assert not any("host_op_cost" in r for r in zero)
