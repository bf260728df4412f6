"""Collective times against the alpha-beta formulas of reference/collectives.md."""

import pytest

from archsim.cost.comm import (
    CommGroup,
    bus_bandwidth,
    collective_time,
    neighbour_ring_time,
    p2p_time,
)
from archsim.spec.loader import load_spec_file

NVLINK3_PROFILE = load_spec_file("interconnects", "nvlink3-nvswitch")
HDR = load_spec_file("interconnects", "ib-hdr-200g")
NVLINK4 = load_spec_file("interconnects", "nvlink4-nvswitch")
# the alpha-beta formulas by hand: NVLink3's line rate and efficiency with a 2 µs step and
# no size sweep (the sweep is tested on the shipped profiles below)
NVLINK3 = NVLINK3_PROFILE.model_copy(update={"latency": 2e-6, "size_efficiency": None})


def group(size, per_node, nic=25e9 * 0.86, intra=NVLINK3, inter=HDR):
    return CommGroup(size=size, per_node=per_node, intra=intra, inter=inter, nic_bandwidth=nic)


def test_ring_allreduce_in_one_node():
    S, n = 1e9, 8
    bw, a = 300e9 * 0.775, 2e-6
    expected = 2 * (n - 1) * a + 2 * (n - 1) / n * S / bw
    cost = collective_time("allreduce", S, group(8, 8))
    assert cost.time_s == pytest.approx(expected)
    assert cost.algorithm == "ring"


def test_large_allreduce_reproduces_the_measured_bus_bandwidth():
    """nccl-tests #175: 8× A100 NVSwitch all-reduce busbw 232.5 GB/s at large sizes."""
    S = 8e9
    t = collective_time("allreduce", S, group(8, 8)).time_s
    assert bus_bandwidth("allreduce", S, 8, t) == pytest.approx(232.5e9, rel=0.001)


def test_allgather_and_reducescatter_move_half_the_allreduce_volume():
    S, n, bw, a = 4e8, 4, 300e9 * 0.775, 2e-6
    for kind in ("allgather", "reducescatter"):
        assert collective_time(kind, S, group(n, n)).time_s == pytest.approx(
            (n - 1) * a + (n - 1) / n * S / bw)


def test_one_rank_per_node_is_a_flat_ring_over_the_nics():
    S, n, nic, a = 1e9, 16, 25e9 * 0.86, 5e-6
    ring = 2 * (n - 1) * a + 2 * (n - 1) / n * S / nic
    tree = 2 * 4 * a + 2 * (n - 1) / n * S / nic  # double binary tree: 2·log2(16) steps
    cost = collective_time("allreduce", S, group(n, 1))
    assert cost.time_s == pytest.approx(min(ring, tree))
    assert cost.algorithm == "tree(inter)"


def test_multi_node_rings_run_at_the_slowest_hop():
    """r ranks per node: NCCL's rings go through all 32 ranks, each crossing a node boundary on
    its own NIC, so a rank moves 2(n−1)/n·S at min(NVLink 232.5, r × NIC share 8 × 21.5 = 172)
    GB/s: the NICs are the bottleneck. The ring pays 2(n−1) steps at the slower hop's 5 µs;
    NCCL's tree (double binary across the 4 nodes, a chain of 8 inside) 2·2·5 + 2·7·2 µs."""
    S, r, nodes = 2e9, 8, 4
    n, nic = r * nodes, 25e9 * 0.86
    beta = 2 * (n - 1) / n * S / (r * nic)
    ring = 2 * (n - 1) * 5e-6 + beta
    tree = 2 * 2 * 5e-6 + 2 * (r - 1) * 2e-6 + beta
    cost = collective_time("allreduce", S, group(n, r))
    assert cost.time_s == pytest.approx(min(ring, tree))
    assert cost.algorithm == "tree(multi-node)"
    # all-gather: one pass of the ring, (n−1)/n·S at the same bottleneck
    ag = collective_time("allgather", S, group(n, r))
    assert ag.time_s == pytest.approx((n - 1) * 5e-6 + (n - 1) / n * S / (r * nic))
    # the measured 2 × 8 A100 with 4 HDR NICs per node (a 12.5 GB/s share per GPU):
    # 86 GB/s bus bandwidth (nccl-tests #175; reference/collectives.md)
    four_nics = collective_time("allreduce", 8e9, group(16, 8, nic=12.5e9 * 0.86))
    assert bus_bandwidth("allreduce", 8e9, 16, four_nics.time_s) == pytest.approx(86e9, rel=0.01)


def test_a_neighbour_ring_across_nodes_crosses_each_boundary_on_one_nic():
    """Ring attention's K/V exchange: n − 1 steps, each rank sending one S/n block to the next.
    With 4 of the 8 ranks in each of 2 nodes, the two boundary hops run on one 21.5 GB/s NIC
    share each, so every step takes S/n / 21.5 GB/s: 4× NCCL's all-gather, whose channels use
    all 4 NICs of a node (r × NIC). Inside one node, and with one rank per node, it is the
    ring collective."""
    S, r, nodes, nic = 268e6, 4, 2, 25e9 * 0.86
    n = r * nodes
    ring = neighbour_ring_time("allgather", S, group(n, r))
    assert ring.time_s == pytest.approx((n - 1) * 5e-6 + (n - 1) / n * S / nic)
    assert ring.algorithm == "p2p-ring(multi-node)"
    nccl = collective_time("allgather", S, group(n, r))
    assert nccl.time_s == pytest.approx((n - 1) * 5e-6 + (n - 1) / n * S / (r * nic))
    assert neighbour_ring_time("reducescatter", S, group(n, r)).time_s == ring.time_s
    for same in (group(8, 8), group(4, 1)):
        assert neighbour_ring_time("allgather", S, same) == collective_time("allgather", S, same)
    # a NIC faster than the node's ring: the scale-up hops set the pace
    fast = neighbour_ring_time("allgather", S, group(n, r, nic=400e9))
    assert fast.time_s == pytest.approx((n - 1) * 5e-6 + (n - 1) / n * S / (300e9 * 0.775))
    with pytest.raises(ValueError, match="all-gather or a reduce-scatter"):
        neighbour_ring_time("allreduce", S, group(n, r))


def test_a_fast_nic_leaves_the_node_link_the_bottleneck():
    """Two ranks per node, each with a 150 GB/s NIC share: r × NIC = 300 GB/s is above the
    ring's 232.5 GB/s inside the node, so the scale-up link sets the pace."""
    S, r, nodes = 1e9, 2, 4
    n = r * nodes
    cost = collective_time("reducescatter", S, group(n, r, nic=150e9))
    assert cost.time_s == pytest.approx((n - 1) * 5e-6 + (n - 1) / n * S / (300e9 * 0.775))


def test_nvls_in_network_reduction_on_nvlink4():
    """nccl-tests #212/#290: ~480 GB/s NVLS all-reduce busbw on 8× H100 (at 8 GB the 14 steps
    of latency cost 0.1%)."""
    S = 8e9
    cost = collective_time("allreduce", S, group(8, 8, intra=NVLINK4))
    assert cost.algorithm == "nvls"
    assert bus_bandwidth("allreduce", S, 8, cost.time_s) == pytest.approx(480e9, rel=0.002)


# nccl-tests all_reduce_perf on 8 GPUs of one node, in-place busbw (GB/s) by message size:
# reference/calibration/micro.csv rows nccl-allreduce-{a100,h100}-8gpu-* (Azure
# AI-benchmarking-guide, NCCL 2.18.5)
SWEEPS = {
    "nvlink3": (NVLINK3_PROFILE, {1024: 0.04, 1048576: 36.22, 16777216: 109.22,
                                  134217728: 174.18, 1073741824: 228.1, 8589934592: 231.58}),
    "nvlink4": (NVLINK4, {1024: 0.07, 1048576: 43.7, 16777216: 234.45, 134217728: 400.61,
                          1073741824: 466.35, 8589934592: 478.87}),
}


@pytest.mark.parametrize("name", list(SWEEPS))
def test_size_sweep_of_the_shipped_links_reproduces_nccl_tests(name):
    """The profile's latency (from the 1 KB point) and size_efficiency reproduce the measured
    bus bandwidth of an 8-GPU all-reduce: within 2% from 16 MB up; within 25% at 1 MB, where
    the NVLink4 profile averages an H100 sweep (43.7 GB/s) and an H200 one (52.96)."""
    link, sweep = SWEEPS[name]
    for size, measured in sweep.items():
        t = collective_time("allreduce", size, group(8, 8, intra=link)).time_s
        got = bus_bandwidth("allreduce", size, 8, t) / 1e9
        tol = 0.02 if size >= 16 * 2**20 else 0.25
        assert got == pytest.approx(measured, rel=tol), size


def test_mid_size_allreduce_runs_far_below_the_large_message_bandwidth():
    """16 MB on 8 A100s: 109 GB/s busbw measured, under half the 232.5 GB/s of 8 GB: a
    latency-only model (44.8 µs of steps) would give 1.75 · 16 MiB / (44.8 µs + 126 µs) =
    172 GB/s."""
    t = collective_time("allreduce", 16 * 2**20, group(8, 8, intra=NVLINK3_PROFILE)).time_s
    assert bus_bandwidth("allreduce", 16 * 2**20, 8, t) < 0.5 * 232.5e9


def _mi300x_group(n: int):
    from archsim.cost.comm import group_in_pool
    from archsim.spec.loader import load_scenario

    # the link as the micro-benchmark sees it: no in-situ model (calibration: isolated)
    sc = load_scenario({"model": "llama2-7b", "hardware": {"device": "mi300x", "count": 8},
                        "workload": {"kind": "inference", "batch": 1, "prompt_len": 8,
                                     "gen_len": 2}, "calibration": "isolated"})
    return group_in_pool(sc.cluster.pools[0], n, 1)


def test_xgmi_mesh_reproduces_the_measured_rccl_bus_bandwidth():
    """ml-engineering all_reduce_bench.py on 8× MI300X at 4 GiB (reference/calibration/
    micro.csv): 312.9 GB/s busbw over all 8 GPUs (the profile's efficiency is set from it) and
    47.7 GB/s between 2 GPUs (not used to set anything: one 64 GB/s link at the same
    efficiency gives 64 · 312.9 / 448 = 44.7 GB/s, 6% under)."""
    S = 4 * 2**30
    t8 = collective_time("allreduce", S, _mi300x_group(8)).time_s
    assert bus_bandwidth("allreduce", S, 8, t8) == pytest.approx(312.9e9, rel=0.01)
    t2 = collective_time("allreduce", S, _mi300x_group(2)).time_s
    assert bus_bandwidth("allreduce", S, 2, t2) == pytest.approx(47.7e9, rel=0.10)


def test_alltoall_across_nodes_is_bound_by_the_nic_share():
    S, n, r = 1e9, 16, 8
    nic = 25e9 * 0.86
    t = collective_time("alltoall", S, group(n, r)).time_s
    assert t == pytest.approx((n - 1) * 5e-6 + (n - r) / n * S / nic)


def test_trivial_groups_cost_nothing():
    assert collective_time("allreduce", 1e9, group(1, 1)).time_s == 0.0
    assert collective_time("allreduce", 0, group(8, 8)).time_s == 0.0


def test_p2p():
    assert p2p_time(50e6, HDR, 21.5e9) == pytest.approx(5e-6 + 50e6 / 21.5e9)


def test_unknown_collective():
    with pytest.raises(ValueError, match="unknown collective 'broadcast'"):
        collective_time("broadcast", 1e6, group(8, 8))


H200_NVLS_BUSBW = {4: 363.3e9, 5: 414.2e9, 6: 435.6e9, 7: 460.0e9, 8: 473.1e9}
"""nccl-tests all-reduce bus bandwidth at 8 GiB on n of an 8 × H200 node, NCCL's own choice
(ring at 4, NVLS from 5): reference/calibration/micro.csv mleng-h200-allreduce-<n>gpu-nvls."""


@pytest.mark.parametrize("n", sorted(H200_NVLS_BUSBW))
def test_nvls_algorithm_bandwidth_does_not_grow_with_the_group(n):
    """The switch reduces, so each rank sends and receives S once: a constant algorithm
    bandwidth, bus bandwidth 2(n−1)/n of it. A constant bus bandwidth had put 5 GPUs at 477
    GB/s, 15% above the measured 414."""
    import archsim
    from archsim.cost.comm import group_in_pool

    sc = archsim.load_scenario({"model": "llama2-7b", "workload": {"kind": "inference"},
                                "hardware": {"device": "h200-sxm-141gb", "count": 8}})
    S = 8 * 2**30
    cost = collective_time("allreduce", S, group_in_pool(sc.cluster.pools[0], n, 1))
    assert cost.algorithm == ("ring" if n == 4 else "nvls")
    assert bus_bandwidth("allreduce", S, n, cost.time_s) == pytest.approx(H200_NVLS_BUSBW[n],
                                                                          rel=0.06)


def test_a_group_straddling_a_node_boundary_crosses_it():
    """tp 12 on 8-GPU nodes: the groups are ranks 0–11 (8 + 4 in two nodes) and 12–23 (4 + 8):
    they cross a node boundary, and their rings run at the 4-rank side's 4 NIC shares, not at
    NVLink speed. tp 3 puts one rank of ranks 6–8 alone in a node: one NIC share."""
    import archsim
    from archsim.cost.comm import group_in_pool

    sc = archsim.load_scenario({"model": "llama2-7b", "workload": {"kind": "inference"},
                                "hardware": {"device": "a100-sxm4-80gb", "count": 48}})
    pool = sc.cluster.pools[0]
    assert (group_in_pool(pool, 12, 1).per_node, group_in_pool(pool, 12, 1).nodes) == (4, 2)
    assert (group_in_pool(pool, 3, 1).per_node, group_in_pool(pool, 3, 1).nodes) == (1, 2)
    assert group_in_pool(pool, 8, 1).nodes == 1 and group_in_pool(pool, 4, 1).nodes == 1
    S = 1e9
    twelve = collective_time("allreduce", S, group_in_pool(pool, 12, 1))
    nic = pool.nic_bandwidth_per_device
    assert twelve.time_s >= 2 * 11 / 12 * S / (4 * nic)


def test_two_nodes_take_nccls_tree_for_small_all_reduces():
    """NCCL's tree runs from two nodes up: across 2 × 8 GPUs a 1 KB all-reduce pays one hop
    each way between the nodes (2 · log2(2) · 5 µs) and a chain of 7 NVLink hops each way
    (2 · 7 · 2 µs) = 38 µs, not the ring's 2 · 15 steps at the slower hop's 5 µs = 150 µs (a
    tensor-parallel decode over two nodes had paid the ring on each of its all-reduces)."""
    S, r = 1e3, 8
    cost = collective_time("allreduce", S, group(2 * r, r))
    tree = 2 * 1 * 5e-6 + 2 * (r - 1) * 2e-6
    assert cost.algorithm == "tree(multi-node)"
    assert cost.time_s == pytest.approx(tree, rel=0.01)
