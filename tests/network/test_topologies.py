"""Collectives per topology against hand-computed alpha-beta times.

Round-number links (efficiency 1, α = 1 µs) keep the arithmetic readable; S = 1 GB.
"""

import pytest

import archsim
from archsim.cost.comm import collective_time, group_in_pool
from archsim.plan.balance import resolve_pipeline
from archsim.plan.training import build_training_plan
from archsim.spec.hardware import PoolSpec
from archsim.spec.loader import load_spec_file

S = 1e9
A = 1e-6


def link(topology, bandwidth, kind="custom"):
    return load_spec_file("interconnects", {"name": topology, "kind": kind,
                                            "topology": topology, "bandwidth": bandwidth,
                                            "latency": "1 us", "efficiency": 1.0})


def pool(count, per_node, intra, inter=None, **extra):
    device = load_spec_file("devices", "a100-sxm4-80gb")
    return PoolSpec(name="p", device=device, count=count, devices_per_node=per_node,
                    intra_node=intra, inter_node=inter, **extra)


TORUS = pool(16, 16, link("torus2d", "50 GB/s", "ici"), torus=(4, 4))  # 50 GB/s per link
SWITCH = pool(16, 16, link("switch", "200 GB/s"))  # the torus chip's 4 links × 50 GB/s


def test_ring_allreduce_on_a_2d_torus_vs_a_switch():
    """4×4 torus, every dimension wraps: each is a bidirectional ring at 2·50 = 100 GB/s per
    chip. Dimension-ordered all-reduce of each half of S, one half x then y, the other y then
    x, at the same time on different links: reduce-scatter along the first dimension (3 steps,
    3/4 of S/2), along the second on the S/8 shard (3 steps, 3/4 of S/8), then all-gather back:
        t = 2·(3α + 0.75·S/2/100e9) + 2·(3α + 0.75·S/8/100e9) = 12 µs + 9.375 ms.
    Switch, same 200 GB/s injection per device, one ring over 16: 30α + 2·15/16·S/200e9 =
    30 µs + 9.375 ms: both reach the bound of a chip's 200 GB/s. (One dimension at a time, as
    archsim had run it, leaves half the links idle: 18.75 ms.)"""
    torus = collective_time("allreduce", S, group_in_pool(TORUS, 16, 1))
    switch = collective_time("allreduce", S, group_in_pool(SWITCH, 16, 1))
    assert torus.time_s == pytest.approx(12 * A + 9.375e-3)
    assert torus.algorithm == "dim-ordered"
    assert switch.time_s == pytest.approx(30 * A + 9.375e-3)
    assert switch.algorithm == "ring"


def test_a_group_along_one_full_torus_dimension_is_a_bidirectional_ring():
    """tp = 4 (stride 1) covers x; dp = 4 (stride 4) covers y: both 2·3α + 2·(3/4)·S/100e9."""
    expected = 6 * A + 1.5 * S / 100e9
    for size, stride in ((4, 1), (4, 4)):
        cost = collective_time("allreduce", S, group_in_pool(TORUS, size, stride))
        assert cost.time_s == pytest.approx(expected)
        assert cost.algorithm == "ring"


def test_a_slow_dimension_goes_last_instead_of_sharing_the_buffer():
    """dp 32 at stride 8 on a 16×16 torus (b = 50 GB/s per link): 2 members along x, whose
    links 8 groups share (2b/8 = b/4), and all 16 of y (2b). Split in two rotated halves, x
    carries S/2 first: reduce-scatter ½·(S/2)/(b/4) = S/b beside y's 15/16·(S/2)/2b, then
    15/16·(S/4)/2b beside ½·(S/32)/(b/4): 1.117·S/b. In the order y then x the slow dimension
    only carries the S/16 left: 15/16·S/2b + ½·(S/16)/(b/4) = 0.594·S/b, and that is taken.
    The all-reduce is twice the reduce-scatter (the all-gather back)."""
    b = 50e9
    big = pool(256, 256, link("torus2d", "50 GB/s", "ici"), torus=(16, 16))
    rs = collective_time("reducescatter", S, group_in_pool(big, 32, 8))
    assert rs.time_s == pytest.approx(15 * A + 15 / 16 * S / (2 * b) + 0.5 * (S / 16) / (b / 4)
                                      + A)
    ar = collective_time("allreduce", S, group_in_pool(big, 32, 8))
    assert ar.time_s == pytest.approx(2 * rs.time_s)


def test_part_of_a_dimension_is_a_line_at_one_link():
    """tp = 2 covers half of x (no wrap-around link): a ring embedded in a line runs at one
    link's 50 GB/s: 2α + 2·(1/2)·S/50e9."""
    cost = collective_time("allreduce", S, group_in_pool(TORUS, 2, 1))
    assert cost.time_s == pytest.approx(2 * A + S / 50e9)


def test_a_slice_below_the_full_torus_has_no_wrap_around_links():
    """Two chips declared as a pool of their own (count 2 of a 16-chip torus) are joined by one
    link, as the same two chips inside the whole torus are: 2α + 2·(1/2)·S/50e9. (Counted as a
    wrapped ring of two they had run at 2·50 GB/s, twice as fast as inside the torus.)"""
    ici = link("torus2d", "50 GB/s", "ici")
    alone = collective_time("allreduce", S, group_in_pool(pool(2, 16, ici), 2, 1))
    inside = collective_time("allreduce", S, group_in_pool(TORUS, 2, 1))
    assert alone.time_s == pytest.approx(2 * A + S / 50e9)
    assert inside.time_s == pytest.approx(alone.time_s)
    # an 8×8 slice of a 16×16 torus is a mesh; the whole torus wraps; so does an axis as long
    # as the full torus's (a 16×4 slice's 16)
    assert pool(64, 256, ici).torus_wraps == (False, False)
    assert pool(256, 256, ici).torus_wraps == (True, True)
    assert pool(64, 256, ici, torus=(4, 16)).torus_wraps == (False, True)


def test_a_torus_declared_whole_below_its_pod_is_named():
    """The shipped v5e cluster had declared its 64-chip slice a pod of its own
    (devices_per_node 64), closing both 8-chip rings; a v5e pod holds 256 (hardware.csv) and
    an 8×8 slice of it has no wrap-around link. A result says so; not for the slice declared
    in its pod, nor for a v5p 4×4×4 pod of 64, whose cubes wrap in a slice too."""
    from archsim.metrics.common import torus_pod_note
    from archsim.spec.hardware import ClusterSpec

    def cluster(device, per_node, shape):
        return ClusterSpec.model_validate({"name": "c", "pools": [{
            "name": "tpu", "device": load_spec_file("devices", device), "count": 64,
            "devices_per_node": per_node, "torus": shape,
            "intra_node": load_spec_file("interconnects", f"{device}-ici")}]})

    assert torus_pod_note(cluster("tpu-v5e", 64, (8, 8))) == (
        "pool tpu: devices_per_node 64 makes its 8×8 torus a whole tpu-v5e-ici domain, with "
        "wrap-around links on every axis; that link's pod holds 256, and a slice of this shape "
        "has them on none of its axes: declare devices_per_node: 256 (count 64) to simulate it "
        "as the slice it is")
    assert torus_pod_note(cluster("tpu-v5e", 256, (8, 8))) is None
    assert torus_pod_note(cluster("tpu-v5p", 64, (4, 4, 4))) is None
    # the shipped cluster is now the slice: its TPU rings are lines
    sc = archsim.load_scenario("llama2-7b-hetero-tpu-v5e-h100")
    assert sc.cluster.pools[0].torus_wraps == (False, False)


def test_whole_cubes_of_an_optically_switched_torus_wrap():
    """TPU v4/v5p style (``torus_wrap_multiple`` 4): a 4×4×4 slice of a 4096-chip torus has its
    wrap-around links, a 2×2×2 or 2×2×4 slice none. All 64 of a 4×4×4: three dimensions at
    2·50 GB/s, the buffer in three rotated parts: each step's slowest part is a reduce-scatter
    of (3/4) of the part left, so t = 2·Σ_j (3α + 0.75·(S/3)/4^j/100e9), j = 0, 1, 2."""
    ici = load_spec_file("interconnects", {"name": "ocs", "kind": "ici", "topology": "torus3d",
                                           "torus_wrap_multiple": 4, "bandwidth": "50 GB/s",
                                           "latency": "1 us", "efficiency": 1.0})
    assert pool(64, 4096, ici).torus_wraps == (True, True, True)
    assert pool(8, 4096, ici).torus_wraps == (False, False, False)
    assert pool(16, 4096, ici).torus_wraps == (False, False, False)
    cube = collective_time("allreduce", S, group_in_pool(pool(64, 4096, ici), 64, 1))
    expected = 2 * sum(3 * A + 0.75 * (S / 3) / 4 ** j / 100e9 for j in range(3))
    assert cube.time_s == pytest.approx(expected)


def test_interleaved_groups_share_a_dimensions_links():
    """dp = 8 with stride 2 (tp = 2): 2 members along x spaced 2 apart — the two dp groups
    interleaved in x share its links (2·50/2 = 50 GB/s) — and all 4 of y at 100 GB/s. One half
    of S goes x then y, the other y then x, at the same time; each step takes its slower part:
        step 1: x on S/2, α + 0.5·(S/2)/50e9, beside y on S/2, 3α + 0.75·(S/2)/100e9
        step 2: y on S/4, 3α + 0.75·(S/4)/100e9, beside x on S/8, α + 0.5·(S/8)/50e9
        t = 2·(α + 0.5·(S/2)/50e9) + 2·(3α + 0.75·(S/4)/100e9)  (with the all-gather back)."""
    cost = collective_time("allreduce", S, group_in_pool(TORUS, 8, 2))
    assert cost.time_s == pytest.approx(2 * (A + 0.5 * (S / 2) / 50e9)
                                        + 2 * (3 * A + 0.75 * (S / 4) / 100e9))


def test_torus_alltoall_is_bound_by_each_dimensions_bisection():
    """All 16: per dimension (e = 4) max((e−1)/e, e/4) = 1 → S/100e9 + 3α, twice."""
    cost = collective_time("alltoall", S, group_in_pool(TORUS, 16, 1))
    assert cost.time_s == pytest.approx(2 * (3 * A + S / 100e9))


def test_physical_ring_topology():
    """12 devices on a ring, 100 GB/s per device over its two links: the whole ring is a
    bidirectional ring at 100 GB/s (as a switch would give); 4 of them a line at 50 GB/s."""
    ring = pool(12, 12, link("ring", "100 GB/s"))
    full = collective_time("allreduce", S, group_in_pool(ring, 12, 1))
    assert full.time_s == pytest.approx(22 * A + 2 * 11 / 12 * S / 100e9)
    part = collective_time("allreduce", S, group_in_pool(ring, 4, 1))
    assert part.time_s == pytest.approx(6 * A + 1.5 * S / 50e9)


def test_full_mesh_subgroups_use_only_their_direct_links():
    """8 devices joined pairwise, 70 GB/s per device = 10 GB/s to each peer. tp = 2 reaches
    one peer: direct reduce-scatter + all-gather, 2α + 2·(1/2)·S/10e9. All 8: 2α + 2·(7/8)·
    S/70e9."""
    mesh = pool(8, 8, link("mesh", "70 GB/s"))
    pair = collective_time("allreduce", S, group_in_pool(mesh, 2, 1))
    assert pair.time_s == pytest.approx(2 * A + S / 10e9)
    assert pair.algorithm == "direct"
    node = collective_time("allreduce", S, group_in_pool(mesh, 8, 1))
    assert node.time_s == pytest.approx(2 * A + 2 * 7 / 8 * S / 70e9)


def test_a_mesh_pair_has_one_link_whatever_node_size_the_pool_declares():
    """The link's wiring, not the declared node, says how many peers share its bandwidth: a
    pair of devices of an 8-way mesh (70 GB/s over 7 peers) reaches its peer at 10 GB/s in a
    pool of 2 as in a pool of 8 (the pair alone had taken all 70 GB/s)."""
    wired = load_spec_file("interconnects", {"name": "mesh7", "kind": "custom",
                                             "topology": "mesh", "mesh_peers": 7,
                                             "bandwidth": "70 GB/s", "latency": "1 us",
                                             "efficiency": 1.0})
    for count in (2, 8):
        pair = collective_time("allreduce", S, group_in_pool(pool(count, count, wired), 2, 1))
        assert pair.time_s == pytest.approx(2 * A + S / 10e9)
    with pytest.raises(ValueError, match=r"devices_per_node 16: intra_node 'mesh7' joins each "
                                         r"device directly to 7 peers, so a node holds at "
                                         r"most 8 devices"):
        pool(16, 16, wired)


IB = link("fattree", "25 GB/s", "infiniband")


def nic_group(fabric, size=8, per_node=8, count=64):
    p = pool(count, per_node, link("switch", "300 GB/s", "nvlink"), IB, fabric=fabric)
    return group_in_pool(p, size, per_node)  # one rank per node


def test_fat_tree_oversubscription_tapers_what_crosses_the_spine():
    """8 nodes, 2 per leaf, spine oversubscribed 4:1. A ring in leaf order crosses the spine
    from 1 node in 2 (f = 4 leaves / 8 nodes): a device gets min(1, 1/(4·0.5)) = 1/2 of its
    25 GB/s NIC. An all-to-all sends 6 of its 7 peers' shares across: f = 6/7 → 7/24."""
    flat = nic_group({})
    tapered = nic_group({"oversubscription": 4, "nodes_per_leaf": 2})
    ring = collective_time("allreduce", S, tapered).time_s
    # tree and ring share the β term; the tree's 2·log2(8) = 6 steps beat the ring's 14
    assert ring == pytest.approx(6 * A + 2 * 7 / 8 * S / 12.5e9)
    assert collective_time("allreduce", S, flat).time_s == pytest.approx(
        6 * A + 2 * 7 / 8 * S / 25e9)
    a2a = collective_time("alltoall", S, tapered).time_s
    assert a2a == pytest.approx(7 * A + 7 / 8 * S / (25e9 * 7 / 24))


def test_rail_optimized_leaves_hold_more_nodes_than_fat_tree_leaves():
    """64-port leaf switches, 3:1 oversubscribed → 48 down ports. A fat-tree leaf takes whole
    nodes (8 NICs each): 6 nodes; a rail switch takes one NIC of 48 nodes. An all-to-all over
    16 nodes: fat-tree f = (16 − 6)/15 → taper 1/(3·2/3) = 1/2; rail: all 16 on one rail, 1."""
    fat = nic_group({"topology": "fattree", "oversubscription": 3, "switch_radix": 64},
                    size=16, count=128)
    rail = nic_group({"topology": "rail", "oversubscription": 3, "switch_radix": 64},
                     size=16, count=128)
    assert fat.spine.alltoall == pytest.approx(0.5)
    assert rail.spine.alltoall == pytest.approx(1.0)
    t_fat = collective_time("alltoall", S, fat).time_s
    t_rail = collective_time("alltoall", S, rail).time_s
    assert t_fat - 15 * A == pytest.approx(2 * (t_rail - 15 * A))


def test_pcie_nodes_share_the_device_link_with_the_nic_under_the_flow_model():
    """L40S servers: no NVLink; GPUDirect traffic to the NIC crosses the GPU's own PCIe link,
    so an inter-node gradient reduction also occupies the scale-up (PCIe) port."""
    sc = archsim.load_scenario({
        "model": {"layers": 2, "hidden": 256, "heads": 8, "vocab": 1000},
        "hardware": {"device": "l40s", "count": 16, "network": "flow"},
        "workload": {"kind": "training", "seq_len": 128, "global_batch": 16},
        "plan": {"tp": 8}})
    layout, placement, _, reasons = resolve_pipeline(sc)
    assert not reasons
    plan = build_training_plan(sc, layout, None, placement)
    bucket = plan.flows.buckets[0][0][0]
    inter = [ph for ph in bucket.phases if "s0.inter.tx" in ph.resources]
    assert inter and all("s0.intra.tx" in ph.resources for ph in inter)


def test_the_chosen_algorithms_are_in_the_result():
    d = archsim.simulate({
        "model": {"layers": 2, "hidden": 512, "heads": 8, "vocab": 1000},
        "hardware": {"device": "tpu-v5e", "count": 16, "torus": [4, 4]},
        "workload": {"kind": "training", "seq_len": 128, "global_batch": 16},
        "plan": {"tp": 4}}).to_dict()
    algos = d["communication"]["algorithms"]
    assert algos["tp.allreduce"] == "ring" and algos["dp.allreduce"] == "ring"
    d = archsim.simulate({
        "model": {"layers": 2, "hidden": 512, "heads": 8, "vocab": 1000},
        "hardware": {"device": "tpu-v5e", "count": 16, "torus": [4, 4]},
        "workload": {"kind": "training", "seq_len": 128, "global_batch": 16}}).to_dict()
    assert d["communication"]["algorithms"]["dp.allreduce"] == "dim-ordered"


@pytest.mark.parametrize(("points", "message"), [
    ([[1e6, 0.0], [1e9, 1.0]], "point 0: fraction must be in (0, 1] (got 0.0)"),
    ([[0, 0.5], [1e9, 1.0]], "point 0: bytes must be > 0 (got 0.0)"),
    ([[1e9, 1.0], [1e6, 0.5]],
     "point 1: bytes must increase from point to point (got 1000000.0 after 1000000000.0)"),
])
def test_a_bad_size_sweep_is_an_input_error(points, message):
    """A link's size_efficiency had reached the cost model unchecked: a 0 fraction divided by
    zero (exit 1), a negative one ran at negative bandwidth."""
    import archsim
    from archsim.spec.errors import SpecError

    link = {"name": "x", "kind": "nvlink", "bandwidth": "450 GB/s", "latency": "2 us",
            "efficiency": 0.8, "size_efficiency": points}
    with pytest.raises(SpecError) as exc:
        archsim.load_scenario({"model": "llama2-7b", "workload": {"kind": "inference"},
                               "hardware": {"device": "h100-sxm5-80gb", "count": 8,
                                            "intra_node": link}})
    assert f"hardware.intra_node.size_efficiency: {message}" in str(exc.value)


def test_an_unmeasured_scale_up_link_takes_nvlink4s_size_sweep():
    """A scale-up link with no size sweep of its own borrows NVLink 4's nccl-tests sweep (as it
    borrows its large-message efficiency), marked UNVERIFIED: without it a 1 MiB all-reduce
    ran its bytes at the large-message rate. The sweep's fraction at 1 MiB, 0.516, stretches
    only the bandwidth term (the mesh's two latency steps stay): the time grows, by less than
    1/0.516; at 8 GiB the fraction is 1, the same time as before."""
    nvlink4 = load_spec_file("interconnects", "nvlink4-nvswitch").size_efficiency
    borrowed = ["gaudi2-roce", "gaudi3-roce", "xgmi-mi250x", "xgmi-mi300x", "neuronlink-v2",
                "neuronlink-v3", "tpu-v4-ici", "tpu-v5e-ici", "tpu-v5p-ici", "tpu-v6e-ici",
                "groq-c2c"]
    for name in borrowed:
        link = load_spec_file("interconnects", name)
        assert link.size_efficiency == nvlink4 and "size_efficiency" in link.unverified, name
    gaudi3 = load_spec_file("devices", "gaudi3")
    ici = load_spec_file("interconnects", "gaudi3-roce")
    flat = ici.model_copy(update={"size_efficiency": None})

    def allreduce(link, size):
        node = PoolSpec(name="p", device=gaudi3, count=8, devices_per_node=8, intra_node=link)
        return collective_time("allreduce", size, group_in_pool(node, 8, 1)).time_s

    assert allreduce(flat, 2**20) < allreduce(ici, 2**20) < allreduce(flat, 2**20) / 0.516
    assert allreduce(ici, 8 * 2**30) == pytest.approx(allreduce(flat, 8 * 2**30))
