"""Bad cluster, placement, topology, straggler and storage input: one clear line each."""

import copy
import subprocess
import sys

import pytest

import archsim
from archsim.spec.errors import SpecError

CLUSTER = {"pools": [{"name": "h100", "device": "h100-sxm5-80gb", "count": 8},
                     {"name": "a100", "device": "a100-sxm4-80gb", "count": 8}],
           "links": [{"between": ["h100", "a100"], "interconnect": "ib-hdr-200g"}]}


def scenario(cluster=None, plan=None, hw=None, wl=None):
    return {"model": "gpt3-1.7b",
            "hardware": hw or {"cluster": cluster or copy.deepcopy(CLUSTER)},
            "workload": {"kind": "training", "global_batch": 16, **(wl or {})},
            "plan": plan or {"pp": 2, "tp": 8}}


def cluster_with(edit):
    c = copy.deepcopy(CLUSTER)
    edit(c)
    return scenario(c)


def single(**hw):
    return scenario(hw={"device": "h100-sxm5-80gb", "count": 16, **hw})


CASES = [
    (scenario(plan={"pp": 2, "tp": 8, "placement": {"stages": ["h100", "a10"]}}),
     r"<scenario>: plan\.placement\.stages\[1\]: pool 'a10' does not exist "
     r"\(pools: h100, a100\)"),
    (scenario(plan={"pp": 2, "tp": 8, "placement": {"stages": {"h100": 1, "v100": 1}}}),
     r"plan\.placement\.stages\.v100: pool 'v100' does not exist \(pools: h100, a100\)"),
    (scenario(plan={"pp": 2, "tp": 8, "placement": {"stages": []}}),
     r"plan\.placement\.stages: expected at least one stage: a pool per pipeline stage, or "
     r"stages per pool \(pools: h100, a100\)"),
    (scenario(plan={"pp": 2, "tp": 8, "placement": {"stages": {}}}),
     r"plan\.placement\.stages: expected at least one stage"),
    (scenario(plan={"pp": 2, "tp": 8, "placement": {"prefill": "h100"}}),
     r"plan\.placement\.prefill: places a serving phase; a training run places its "
     r"pipeline stages \(plan\.placement\.stages\)"),
    (scenario(plan={"pp": 2, "tp": 8, "placement": {"stage": ["h100", "a100"]}}),
     r"plan\.placement\.stage: unknown key; expected one of: stages, balance"),
    (scenario(plan={"pp": 2, "tp": 8, "placement": {"stages": ["h100", "a100"],
                                                    "balance": "fast"}}),
     r"plan\.placement\.balance: 'fast' is not one of speed, even"),
    (cluster_with(lambda c: c["pools"][1].update(count=0)),
     r"^<scenario>: hardware\.cluster\.pools\.1\.count: a pool needs at least one device "
     r"\(got 0\)$"),
    (cluster_with(lambda c: c.update(links=[])),
     r"hardware\.cluster: pool 'a100' cannot be reached from pool 'h100': add a link "
     r"between pools \(links: none\)"),
    (cluster_with(lambda c: c["pools"].append({"name": "tpu", "device": "tpu-v5e",
                                               "count": 16})),
     r"pool 'tpu' cannot be reached from pool 'h100': add a link between pools "
     r"\(links: h100-a100\)"),
    (cluster_with(lambda c: c["links"][0].update(between=["h100", "b200"])),
     r"links\[0\] names pool 'b200', which does not exist \(pools: h100, a100\)"),
    (scenario(hw={"device": "tpu-v5e", "count": 64, "torus": [4, 8]}),
     r"hardware: torus \[4, 8\] holds 32 devices, but a node \(the torus2d domain\) of this "
     r"pool holds 64"),
    (scenario(hw={"device": "tpu-v5e", "count": 64, "torus": [4, 4, 4]}),
     r"torus \[4, 4, 4\] has 3 dimensions; intra_node 'tpu-v5e-ici' is a torus2d "
     r"\(2 dimensions\)"),
    (single(torus=[4, 4]),
     r"torus \[4, 4\] needs a ring, torus2d or torus3d intra_node interconnect \(intra_node "
     r"'nvlink4-nvswitch' is switch\)"),
    (single(stragglers=[{"device": 16, "speed": 0.5}]),
     r"stragglers\[0\]\.device 16 is outside the pool \(16 devices: 0\.\.15\)"),
    (single(stragglers=[{"node": 2, "speed": 0.5}]),
     r"stragglers\[0\]\.node 2 is outside the pool \(2 nodes: 0\.\.1\)"),
    (single(stragglers=[{"node": 1, "device": 2, "speed": 0.5}]),
     r"hardware\.stragglers\.0: give exactly one of device or node"),
    (single(stragglers=[{"node": 1, "speed": 1.5}]),
     r"hardware\.stragglers\.0\.speed: Input should be less than or equal to 1 \(got 1\.5\)"),
    (single(fabric={"oversubscription": 2}),
     r"fabric\.oversubscription 2 needs fabric\.nodes_per_leaf \(nodes under one leaf "
     r"switch\) or fabric\.switch_radix"),
    (single(fabric={"oversubscription": 4, "switch_radix": 8}),
     r"fabric\.switch_radix 8 with oversubscription 4 leaves 6 down ports per leaf, fewer "
     r"than a node's 8 NICs \(in a fat-tree all NICs of a node go to one leaf\)"),
    (single(network="packet"),
     r"hardware\.network: Input should be 'analytic' or 'flow' \(got 'packet'\)"),
    (single(storage="lustre"),
     r"hardware\.storage: unknown storage profile 'lustre'; closest: lustre-flash"),
    (scenario(hw={"cluster": copy.deepcopy(CLUSTER), "torus": [2, 4]}),
     r"hardware: torus: give it per pool \(hardware\.cluster\.pools\[i\]\)"),
    (scenario(hw={"device": "h100-sxm5-80gb", "count": 16},
              wl={"checkpoint": {"interval_steps": 100}}),
     r"workload\.checkpoint needs hardware\.storage"),
    (scenario(hw={"device": "h100-sxm5-80gb", "count": 16, "storage": "nfs-10gbe"},
              wl={"checkpoint": {"interval_steps": 0}}),
     r"workload\.checkpoint\.interval_steps: Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize(("spec", "message"), CASES, ids=[m[:40] for _, m in CASES])
def test_bad_input_is_one_clear_line(spec, message):
    with pytest.raises(SpecError, match=message):
        archsim.load_scenario(spec)


def test_a_bad_cluster_file_is_named_with_the_field_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: gpt3-1.7b\n"
                    "hardware:\n  cluster:\n    pools:\n"
                    "      - {name: gpu, device: h100-sxm5-80gb, count: 8}\n"
                    "      - {name: tpu, device: tpu-v5e, count: 16, torus: [4, 2]}\n"
                    "    links: [{between: [gpu, tpu], interconnect: dcn-tpu-v5e}]\n"
                    "workload: {kind: training}\n")
    with pytest.raises(SpecError, match=rf"^{path}: hardware\.cluster\.pools\.1: torus \[4, 2\]"
                                        r" holds 8 devices, but a node .* holds 16"):
        archsim.load_scenario(path)
    proc = subprocess.run([sys.executable, "-m", "archsim", "simulate", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"archsim simulate: {path}: hardware.cluster.pools.1: torus")


@pytest.mark.parametrize(("decode", "message"), [
    ("gpu", "plan.placement: prefill and decode name the same pool 'gpu'; disaggregated "
            "serving needs two pools"),
    ("{pool: cheap, tp: 0}", "plan.placement.decode.tp: expected a whole number ≥ 1; got 0"),
    ("{pool: cheap, tq: 2}", "plan.placement.decode.tq: unknown key; expected one of: pool, "
                             "tp, pp, replicas")])
def test_a_bad_serving_placement_names_its_file(tmp_path, decode, message):
    """Serving placements are checked when the scenario is read, so the message names the file
    (they had been checked at simulate time, without it)."""
    path = tmp_path / "disagg.yaml"
    path.write_text("model: llama2-7b\n"
                    "hardware:\n  cluster:\n    pools:\n"
                    "      - {name: gpu, device: h100-sxm5-80gb, count: 2}\n"
                    "      - {name: cheap, device: a100-sxm4-80gb, count: 2}\n"
                    "    links: [{between: [gpu, cheap], interconnect: ib-ndr-400g}]\n"
                    "workload: {kind: serving, arrival: {rate_per_s: 1, count: 4}}\n"
                    f"plan: {{placement: {{prefill: gpu, decode: {decode}}}}}\n")
    proc = subprocess.run([sys.executable, "-m", "archsim", "simulate", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"archsim simulate: {path}: {message}"
