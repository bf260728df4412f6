"""Scale-up domains a link cannot build and links of another vendor's devices are refused at
load (exit 2, one line), with the limits the profiles take from their sources."""

from __future__ import annotations

import copy
import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

import archsim
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_spec_file
from archsim.spec.registry import list_names

REPO = Path(__file__).resolve().parents[2]

# Domain sizes as the sources state them (never read back from the profiles):
LIMITS = {
    # reference/hardware.csv topology_note (Google Cloud docs): "pod 4096 chips" etc.; pinned
    # against the csv itself in test_tpu_pod_limits_are_the_csv_pods
    "tpu-v4-ici": ("tpu-v4", 4096),
    "tpu-v5e-ici": ("tpu-v5e", 256),
    "tpu-v5p-ici": ("tpu-v5p", 8960),
    "tpu-v6e-ici": ("tpu-v6e", 256),
    "xgmi-mi300x": ("mi300x", 8),               # hardware.csv MI300X: "8-GPU fully connected"
    "nvlink-bridge-h100pcie": ("h100-pcie-80gb", 2),  # hardware.csv: "NVLink bridge (pairs)"
    "neuronlink-v2": ("inferentia2", 12),       # hardware.csv Inferentia2: "up to 12 chips"
    "nvlink4-nvswitch": ("h100-sxm5-80gb", 8),  # DGX/HGX H100: one 8-GPU NVSwitch node
    "nvlink5-nvswitch": ("b200", 72),           # NVIDIA GB200 NVL72: 72 GPUs, one NVLink domain
    "nvlink3-nvswitch": ("a100-sxm4-80gb", 16),  # HGX A100 16-GPU (UNVERIFIED in the profile)
    "xgmi-mi250x": ("mi250x", 4),               # a Frontier node's 4 MI250X (UNVERIFIED)
    "gaudi2-roce": ("gaudi2", 8),               # an HLS-2 node's 8 cards (UNVERIFIED)
    "gaudi3-roce": ("gaudi3", 8),               # a Gaudi 3 node's 8 cards (UNVERIFIED)
    "neuronlink-v3": ("trainium2", 16),         # a trn2.48xlarge's 16 chips (UNVERIFIED)
}
# The vendors each link is built for (device profiles' `vendor` strings); None: any.
VENDORS = {
    "nvlink3-nvswitch": ("NVIDIA",), "nvlink4-nvswitch": ("NVIDIA",),
    "nvlink5-nvswitch": ("NVIDIA",), "nvlink-bridge-h100pcie": ("NVIDIA",),
    "tpu-v4-ici": ("Google",), "tpu-v5e-ici": ("Google",), "tpu-v5p-ici": ("Google",),
    "tpu-v6e-ici": ("Google",), "dcn-tpu-v5e": ("Google",), "dcn-tpu-v5p": ("Google",),
    "xgmi-mi250x": ("AMD",), "xgmi-mi300x": ("AMD",),
    "neuronlink-v2": ("AWS",), "neuronlink-v3": ("AWS",), "efa-trn2": ("AWS",),
    "gaudi2-roce": ("Intel (Habana)",), "gaudi3-roce": ("Intel (Habana)",),
    "gaudi2-roce-scaleout": ("Intel (Habana)",), "gaudi3-roce-scaleout": ("Intel (Habana)",),
    "groq-c2c": ("Groq",),
    "ib-hdr-200g": None, "ib-ndr-400g": None, "roce-400g": None, "eth-100g": None,
    "omnipath-100g": None, "slingshot11-200g": None, "pcie4-x16": None, "pcie5-x16": None,
}
WHAT_IF_SIZE = ("(a what-if domain belongs in an interconnect profile of its own, of kind "
                "custom, without max_devices)")
WHAT_IF_VENDOR = ("(a what-if link belongs in an interconnect profile of its own, of kind "
                  "custom)")


def scenario(**hw) -> dict:
    return {"model": "gpt3-1.7b", "hardware": hw,
            "workload": {"kind": "training", "global_batch": 16}}


def node(device: str, link: str, per_node: int) -> dict:
    """One node of ``per_node`` devices joined by ``link``."""
    return scenario(device=device, count=per_node, devices_per_node=per_node, intra_node=link)


def refused(spec: dict) -> str:
    with pytest.raises(SpecError) as err:
        archsim.load_scenario(spec)
    return str(err.value)


def size_message(where: str, what: str, size: int, field: str, link: str, limit: int) -> str:
    return (f"<scenario>: {where}: {what} {size:,}: {field} {link!r} joins at most {limit:,} "
            f"devices in one domain (its max_devices): expected {what} at most {limit:,} "
            + WHAT_IF_SIZE)


def vendor_message(where: str, field: str, link: str, link_vendor: str, device: str,
                   vendor: str) -> str:
    return (f"<scenario>: {where}: {field} {link!r} is a link of {link_vendor} devices, but "
            f"device {device!r} is made by {vendor}: expected a link for {vendor} devices or "
            "one without vendors " + WHAT_IF_VENDOR)


@pytest.mark.parametrize("name", sorted(VENDORS))
def test_profiles_carry_the_sourced_limits_and_vendors(name):
    link = load_spec_file("interconnects", name)
    assert link.max_devices == (LIMITS[name][1] if name in LIMITS else None)
    assert link.vendors == VENDORS[name]


def test_every_shipped_interconnect_is_listed_here():
    assert sorted(list_names("interconnects")) == sorted(VENDORS)


def test_tpu_pod_limits_are_the_csv_pods():
    rows = {r["device"]: r["topology_note"]
            for r in csv.DictReader((REPO / "reference" / "hardware.csv").open())}
    for csv_name, link in (("Google TPU v4", "tpu-v4-ici"), ("Google TPU v5e", "tpu-v5e-ici"),
                           ("Google TPU v5p", "tpu-v5p-ici"),
                           ("Google TPU v6e (Trillium)", "tpu-v6e-ici")):
        pod = int(re.search(r"pod (\d+) chips", rows[csv_name]).group(1))
        assert LIMITS[link][1] == pod, csv_name


def test_every_vendor_named_by_a_link_is_a_shipped_device_vendor():
    vendors = {load_spec_file("devices", d).vendor for d in list_names("devices")}
    named = {v for vs in VENDORS.values() if vs for v in vs}
    assert named <= vendors, named - vendors


def test_every_shipped_device_names_its_vendor():
    # devices without a vendor are not checked against links: no shipped one may be such
    missing = [d for d in list_names("devices") if not load_spec_file("devices", d).vendor]
    assert missing == []


@pytest.mark.parametrize(("link", "device", "limit"),
                         [(k, d, n) for k, (d, n) in sorted(LIMITS.items())])
def test_a_node_at_the_limit_loads(link, device, limit):
    pool = archsim.load_scenario(node(device, link, limit)).cluster.pools[0]
    assert (pool.devices_per_node, pool.intra_node.name) == (limit, link)


@pytest.mark.parametrize(("link", "device", "limit"),
                         [(k, d, n) for k, (d, n) in sorted(LIMITS.items())])
def test_a_node_above_the_limit_is_refused(link, device, limit):
    assert refused(node(device, link, limit + 1)) == size_message(
        "hardware", "devices_per_node", limit + 1, "intra_node", link, limit)


def test_the_issue_examples_are_refused():
    assert refused(node("tpu-v5p", "tpu-v5p-ici", 9000)) == (
        "<scenario>: hardware: devices_per_node 9,000: intra_node 'tpu-v5p-ici' joins at most "
        "8,960 devices in one domain (its max_devices): expected devices_per_node at most "
        "8,960 " + WHAT_IF_SIZE)
    assert refused(node("h100-sxm5-80gb", "nvlink4-nvswitch", 64)) == (
        "<scenario>: hardware: devices_per_node 64: intra_node 'nvlink4-nvswitch' joins at most "
        "8 devices in one domain (its max_devices): expected devices_per_node at most 8 "
        + WHAT_IF_SIZE)
    assert refused(node("groq-lpu", "nvlink3-nvswitch", 8)) == (
        "<scenario>: hardware: intra_node 'nvlink3-nvswitch' is a link of NVIDIA devices, but "
        "device 'groq-lpu' is made by Groq: expected a link for Groq devices or one without "
        "vendors " + WHAT_IF_VENDOR)
    assert refused(node("mi300x", "nvlink4-nvswitch", 8)) == vendor_message(
        "hardware", "intra_node", "nvlink4-nvswitch", "NVIDIA", "mi300x", "AMD")
    assert refused(node("h100-sxm5-80gb", "tpu-v5p-ici", 8)) == vendor_message(
        "hardware", "intra_node", "tpu-v5p-ici", "Google", "h100-sxm5-80gb", "NVIDIA")


def test_a_slice_is_judged_by_the_domain_it_declares():
    # 64 chips of a declared 9000-chip "pod": the pod cannot exist, whatever the slice
    spec = scenario(device="tpu-v5p", count=64, devices_per_node=9000)
    assert refused(spec) == size_message("hardware", "devices_per_node", 9000, "intra_node",
                                         "tpu-v5p-ici", 8960)
    # the same slice of a real pod, and two whole pods over the DCN, load
    pool = archsim.load_scenario(scenario(device="tpu-v5p", count=64,
                                          devices_per_node=8960)).cluster.pools[0]
    assert (pool.count, pool.devices_per_node) == (64, 8960)
    pool = archsim.load_scenario(scenario(device="tpu-v5p", count=2 * 8960)).cluster.pools[0]
    assert (pool.nodes, pool.inter_node.name) == (2, "dcn-tpu-v5p")
    # 4 H100s declared in a 16-GPU NVLink 4 node: no such node
    assert refused(scenario(device="h100-sxm5-80gb", count=4, devices_per_node=16,
                            intra_node="nvlink4-nvswitch")) == size_message(
        "hardware", "devices_per_node", 16, "intra_node", "nvlink4-nvswitch", 8)


@pytest.mark.parametrize(("device", "field", "link", "link_vendor", "vendor"), [
    ("h100-sxm5-80gb", "inter_node", "dcn-tpu-v5p", "Google", "NVIDIA"),
    ("tpu-v5e", "intra_node", "xgmi-mi300x", "AMD", "Google"),
    ("alveo-u280", "intra_node", "xgmi-mi300x", "AMD", "AMD (Xilinx)"),
    ("a100-sxm4-80gb", "intra_node", "gaudi2-roce", "Intel (Habana)", "NVIDIA"),
    ("trainium2", "inter_node", "groq-c2c", "Groq", "AWS"),
    ("gaudi3", "intra_node", "neuronlink-v3", "AWS", "Intel (Habana)"),
    ("cpu-generic", "intra_node", "nvlink-bridge-h100pcie", "NVIDIA", "generic"),
])
def test_a_link_of_another_vendor_is_refused(device, field, link, link_vendor, vendor):
    spec = scenario(device=device, count=16, devices_per_node=2, intra_node="pcie5-x16",
                    inter_node="eth-100g")
    spec["hardware"][field] = link
    assert refused(spec) == vendor_message("hardware", field, link, link_vendor, device, vendor)


@pytest.mark.parametrize(("device", "intra", "inter"), [
    ("gaudi2", "gaudi2-roce", "gaudi2-roce-scaleout"),
    ("trainium2", "neuronlink-v3", "efa-trn2"),
    ("groq-lpu", "groq-c2c", "groq-c2c"),
    ("mi250x", "xgmi-mi250x", "slingshot11-200g"),
    ("tpu-v5e", "tpu-v5e-ici", "dcn-tpu-v5e"),
    ("l40s", "pcie4-x16", "roce-400g"),
])
def test_links_of_the_devices_vendor_or_of_any_load(device, intra, inter):
    per_node = load_spec_file("devices", device).devices_per_node
    pool = archsim.load_scenario(scenario(device=device, count=2 * per_node,
                                          intra_node=intra, inter_node=inter)).cluster.pools[0]
    assert (pool.intra_node.name, pool.inter_node.name) == (intra, inter)


def test_a_pool_of_a_cluster_names_its_path():
    spec = {"model": "gpt3-1.7b", "workload": {"kind": "training", "global_batch": 16},
            "hardware": {"cluster": {
                "pools": [{"name": "gpu", "device": "h100-sxm5-80gb", "count": 8},
                          {"name": "lpu", "device": "groq-lpu", "count": 8,
                           "intra_node": "nvlink3-nvswitch"}],
                "links": [{"between": ["gpu", "lpu"], "interconnect": "eth-100g"}]}}}
    assert refused(spec) == vendor_message("hardware.cluster.pools.1", "intra_node",
                                           "nvlink3-nvswitch", "NVIDIA", "groq-lpu", "Groq")
    spec["hardware"]["cluster"]["pools"][1] = {"name": "lpu", "device": "tpu-v4",
                                               "count": 4, "devices_per_node": 4100}
    assert refused(spec) == size_message("hardware.cluster.pools.1", "devices_per_node", 4100,
                                         "intra_node", "tpu-v4-ici", 4096)


def test_pool_links_between_vendors_are_not_checked():
    # the TPU hosts' DCN joins a TPU pool to an H100 pool (shipped cluster tpu-v5e-h100)
    sc = archsim.load_scenario("llama2-7b-hetero-tpu-v5e-h100")
    assert sc.cluster.links[0].interconnect.name == "dcn-tpu-v5e"


CUSTOM = {"name": "what-if-fabric", "kind": "custom", "topology": "switch",
          "bandwidth": "450 GB/s", "latency": "2 us", "efficiency": 0.8}


def test_a_custom_link_without_limits_takes_any_device_and_size():
    pool = archsim.load_scenario(node("groq-lpu", copy.deepcopy(CUSTOM), 64)).cluster.pools[0]
    assert (pool.devices_per_node, pool.intra_node.max_devices, pool.intra_node.vendors) == \
        (64, None, None)


def test_an_inline_device_without_a_vendor_is_not_checked():
    device = copy.deepcopy(load_spec_file("devices", "h100-sxm5-80gb").model_dump(
        mode="json", exclude={"vendor"}))
    pool = archsim.load_scenario(node(device, "tpu-v5e-ici", 4)).cluster.pools[0]
    assert (pool.device.vendor, pool.intra_node.name) == ("", "tpu-v5e-ici")


def test_a_scale_out_link_with_max_devices_bounds_the_pool():
    fabric = {**CUSTOM, "name": "small-fabric", "topology": "fattree", "max_devices": 16}
    ok = scenario(device="h100-sxm5-80gb", count=16, inter_node=copy.deepcopy(fabric))
    assert archsim.load_scenario(ok).cluster.pools[0].count == 16
    over = scenario(device="h100-sxm5-80gb", count=24, inter_node=copy.deepcopy(fabric))
    assert refused(over) == size_message("hardware", "count", 24, "inter_node",
                                         "small-fabric", 16)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("max_devices", 0, "max_devices: Input should be greater than or equal to 1 (got 0)"),
    ("vendors", [], "vendors: expected at least one vendor (a device profile's vendor, e.g. "
                    "NVIDIA); leave vendors out for a link of any vendor (got [])"),
    ("vendors", [" "], "vendors: expected at least one vendor (a device profile's vendor, "
                       "e.g. NVIDIA); leave vendors out for a link of any vendor (got [' '])"),
])
def test_limits_themselves_are_checked(key, value, message):
    link = {**CUSTOM, key: value}
    assert refused(node("h100-sxm5-80gb", link, 8)) == \
        f"<scenario>: hardware.intra_node.{message}"


def test_cli_refuses_with_one_line_and_writes_nothing(tmp_path):
    path = tmp_path / "groq-on-nvlink.yaml"
    path.write_text("model: gpt3-1.7b\n"
                    "hardware: {device: groq-lpu, count: 8, devices_per_node: 8, "
                    "intra_node: nvlink3-nvswitch}\n"
                    "workload: {kind: training, global_batch: 16}\n")
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "archsim", "simulate", str(path),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"archsim simulate: {path}: hardware: intra_node 'nvlink3-nvswitch' is a link of "
        "NVIDIA devices, but device 'groq-lpu' is made by Groq: expected a link for Groq "
        f"devices or one without vendors {WHAT_IF_VENDOR}\n")
    assert not out.exists()


def test_cli_refuses_an_oversized_pod():
    proc = subprocess.run([sys.executable, "-m", "archsim", "simulate", "--set",
                           "hardware={device: tpu-v5p, count: 9000, devices_per_node: 9000}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr == ("archsim simulate: --set hardware: devices_per_node 9,000: "
                           "intra_node 'tpu-v5p-ici' joins at most 8,960 devices in one domain "
                           "(its max_devices): expected devices_per_node at most 8,960 "
                           f"{WHAT_IF_SIZE}\n")
