"""Collective times against the alpha-beta formulas of reference/collectives.md."""

import pytest

from archsim.cost.comm import CommGroup, bus_bandwidth, collective_time, p2p_time
from archsim.spec.loader import load_spec_file

NVLINK3 = load_spec_file("interconnects", "nvlink3-nvswitch")
HDR = load_spec_file("interconnects", "ib-hdr-200g")
NVLINK4 = load_spec_file("interconnects", "nvlink4-nvswitch")


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


def test_hierarchical_allreduce_across_nodes():
    """Reduce-scatter in the node, all-reduce of the 1/r shard across nodes, all-gather."""
    S, r, nodes = 2e9, 8, 4
    bw_in, a_in = 300e9 * 0.775, 2e-6
    nic, a_out = 25e9 * 0.86, 5e-6
    intra = (r - 1) * a_in + (r - 1) / r * S / bw_in
    shard = S / r
    inter = min(2 * (nodes - 1) * a_out, 2 * 2 * a_out) + 2 * (nodes - 1) / nodes * shard / nic
    cost = collective_time("allreduce", S, group(r * nodes, r))
    assert cost.time_s == pytest.approx(2 * intra + inter)
    assert cost.algorithm == "hierarchical"


def test_nvls_in_network_reduction_on_nvlink4():
    """nccl-tests #212/#290: ~480 GB/s NVLS all-reduce busbw on 8× H100."""
    S = 8e9
    cost = collective_time("allreduce", S, group(8, 8, intra=NVLINK4))
    assert cost.algorithm == "nvls"
    assert bus_bandwidth("allreduce", S, 8, cost.time_s) == pytest.approx(480e9, rel=0.001)


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
