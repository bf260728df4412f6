"""The KV cache's path between a prefill and a decode pool: per-pair lanes of the pool route,
both ends' NICs, and the queues replicas behind one NIC share (archsim/plan/kv_path.py)."""

from __future__ import annotations

import pytest

import archsim
from archsim.plan.kv_path import KvPath, KvSide
from archsim.spec.hardware import PoolLinkSpec, PoolSpec
from archsim.spec.loader import load_spec_file

NDR = load_spec_file("interconnects", "ib-ndr-400g")
ETH = load_spec_file("interconnects", "eth-100g")
SCALE_UP = {"h100-sxm5-80gb": load_spec_file("interconnects", "nvlink4-nvswitch"),
            "inferentia2": load_spec_file("interconnects", "neuronlink-v2")}


def pool(name: str, device: str, count: int, per_node: int, nics: int | None = None,
         inter=NDR) -> PoolSpec:
    return PoolSpec(name=name, device=load_spec_file("devices", device), count=count,
                    devices_per_node=per_node, intra_node=SCALE_UP[device], inter_node=inter,
                    nics_per_node=nics)


def test_queue_keys_follow_the_nic_behind_each_replicas_first_device():
    dgx = KvSide(pool("gpu", "h100-sxm5-80gb", 16, 8), 2)  # one NIC per GPU
    assert [dgx.queue_key(j) for j in range(8)] == [0, 2, 4, 6, 8, 10, 12, 14]
    assert dgx.nics == 2
    inf2 = KvSide(pool("inf2", "inferentia2", 24, 12, nics=1, inter=ETH), 4)  # 1 NIC a node
    assert [inf2.queue_key(j) for j in range(6)] == [0, 0, 0, 1, 1, 1]
    assert inf2.nics == 1 and inf2.nic_bandwidth == pytest.approx(ETH.achieved_bandwidth)
    bare = KvSide(pool("x", "inferentia2", 12, 12, inter=None), 4)  # no NICs: per replica
    assert [bare.queue_key(j) for j in range(3)] == [0, 1, 2]
    assert bare.nics == 0 and bare.nic_bandwidth is None


def test_bandwidth_is_the_slowest_of_the_lanes_and_both_ends_nics():
    h100 = pool("gpu", "h100-sxm5-80gb", 8, 8)
    inf2 = pool("inf2", "inferentia2", 12, 12, nics=1, inter=ETH)
    link = PoolLinkSpec(between=("gpu", "inf2"), interconnect=ETH)
    # 4 lanes of 100 GbE (a tp-4 prefill replica to a tp-4 decode replica) would be 40 GB/s;
    # the inf2 instance's one NIC carries 10
    path = KvPath((link,), KvSide(h100, 4), KvSide(inf2, 4))
    assert path.lanes == 4
    assert path.bandwidth == pytest.approx(ETH.achieved_bandwidth) == pytest.approx(10e9)
    assert path.limited_by == "the receiving pool inf2's 1 NIC (eth-100g)"
    assert path.latency == ETH.latency


def test_eight_prefill_replicas_queue_for_the_inf2_instances_one_nic():
    """8 H100 prefill replicas, 40 requests/s of 1024-token prompts into one inf2.48xlarge:
    each cache is 2·32·32·128·2·1024 = 536.9 MB, 21.5 GB/s offered to a 10 GB/s NIC. The
    transfers had each had a private 10 GB/s lane (53.7 ms, no queueing, 25% utilisation);
    they now queue for the NIC, which is busy nearly all the time, and wait far longer than
    one transfer takes."""
    d = archsim.simulate("llama2-7b-disagg-h100-inf2", {
        "plan.placement.prefill.replicas": 8, "workload.arrival.rate_per_s": 40,
        "workload.arrival.count": 400}).to_dict()
    kv = d["kv_transfer"]
    one = ETH.latency + 2 * 32 * 32 * 128 * 2 * 1024 / 10e9
    assert kv["bandwidth_bytes_per_s"] == pytest.approx(10e9)
    assert kv["time_p99_s"] > 20 * one
    assert 0.9 < kv["link_utilization"] <= 1.0 + 1e-9
