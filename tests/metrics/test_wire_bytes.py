"""communication: buffer bytes S (nccl-tests' size) and wire bytes (what a rank sends on a ring).

``bytes`` adds each collective's buffer size S whatever its kind, so ZeRO-1's reduce-scatter +
all-gather count 2S where ZeRO-0's all-reduce counts S. ``wire_bytes`` counts what a rank of a
ring of n sends: all-reduce 2(n−1)/n·S, all-gather / reduce-scatter / all-to-all (n−1)/n·S,
point-to-point S (Patarasuk & Yuan 2009; nccl-tests PERFORMANCE.md). By it ZeRO-1 sends what
ZeRO-0 sends and ZeRO-3 1.5× at one micro-batch (Rajbhandari et al. 2020 §7), and sequence
parallelism's collectives what the all-reduces they replace send (Korthikanti et al. 2022
§4.2.2) plus the backward's re-gathers of the GEMM inputs.

Toy dense model of tests/plan/test_grad_accumulation.py (h 64, 4 heads of 16, ffn 128,
vocab 256, swiglu, rmsnorm, no biases, untied), counted by hand:
  layer = qkv 64·3·64 12288 + proj 64·64 4096 + two norms 128 + fc1 64·2·128 16384
          + fc2 128·64 8192 = 41088;  head = norm 64 + logits 64·256 = 16448;
  embedding = 256·64 = 16384;  P = 2·41088 + 16448 + 16384 = 115008.
bf16 (e = 2 B), one device per node on a 1 GB/s NIC (every group a flat ring).
"""

import pytest

import archsim
from archsim.plan.opcost import wire_bytes

TOY = {"name": "toy-dense", "layers": 2, "hidden": 64, "heads": 4, "ffn_hidden": 128,
       "vocab": 256, "max_seq_len": 64, "mlp": "swiglu", "norm": "rmsnorm", "bias": False,
       "position": "rope", "tied_embeddings": False}
NIC = {"name": "toy-nic", "kind": "custom", "bandwidth": "1 GB/s", "latency": "0 s",
       "efficiency": 1.0}
P = 2 * 41088 + 16448 + 16384
assert P == 115008
E = 2  # bf16


def run(count=8, global_batch=8, layers=2, **plan) -> dict:
    sc = {"model": TOY | {"layers": layers},
          "hardware": {"device": "a100-sxm4-80gb", "count": count, "devices_per_node": 1,
                       "inter_node": NIC},
          "workload": {"kind": "training", "seq_len": 64, "global_batch": global_batch,
                       "micro_batch": 1, "dtype": "bf16"},
          "plan": {"tp": 1, "pp": 1, "recompute": "none", **plan}}
    return archsim.simulate(sc).to_dict()["communication"]


def test_wire_bytes_of_each_kind_by_hand():
    assert wire_bytes("allreduce", 800.0, 8) == 1400.0       # 2 · 7/8 · 800
    assert wire_bytes("allgather", 800.0, 8) == 700.0        # 7/8 · 800
    assert wire_bytes("reducescatter", 800.0, 4) == 600.0    # 3/4 · 800
    assert wire_bytes("alltoall", 800.0, 2) == 400.0         # 1/2 · 800
    assert wire_bytes("p2p", 800.0, 2) == 800.0
    assert wire_bytes("allreduce", 800.0, 1) == 0.0          # one rank sends nothing


@pytest.mark.parametrize("global_batch", [8, 32])  # m = 1 and m = 4 micro-batches
def test_zero_1_sends_what_zero_0_sends(global_batch):
    """dp 8, bf16 gradients (native: 2 B each), one reduction a step under ZeRO-0/1:
    ZeRO-0 all-reduces 2P bytes: S = 2P, wire 2 · 7/8 · 2P = 3.5 P.
    ZeRO-1 reduce-scatters 2P and all-gathers the updated 2-byte parameters, 2P:
    S = 4P (twice ZeRO-0's), wire 7/8 · 2P + 7/8 · 2P = 3.5 P (the same)."""
    z0 = run(global_batch=global_batch, zero=0)
    z1 = run(global_batch=global_batch, zero=1)
    assert z0["by_kind"]["allreduce"]["bytes"] == pytest.approx(E * P, rel=1e-12)
    assert z0["by_kind"]["allreduce"]["wire_bytes"] == pytest.approx(3.5 * P, rel=1e-12)
    assert z0["wire_bytes_per_device"] == pytest.approx(3.5 * P, rel=1e-12)
    for kind in ("reducescatter", "allgather"):
        assert z1["by_kind"][kind]["bytes"] == pytest.approx(E * P, rel=1e-12)
        assert z1["by_kind"][kind]["wire_bytes"] == pytest.approx(1.75 * P, rel=1e-12)
    assert z1["bytes_per_device"] == pytest.approx(2 * z0["bytes_per_device"], rel=1e-12)
    assert z1["wire_bytes_per_device"] == pytest.approx(3.5 * P, rel=1e-12)


def test_zero_3_sends_one_and_a_half_times_zero_0_per_micro_batch():
    """ZeRO-3 (archsim/plan/training.py, zero3.py): each forward and each backward task
    all-gathers the 2-byte parameters, 2 · 2P of S, and every micro-batch's gradients are
    reduce-scattered, 2P: wire per micro-batch 7/8 · (4P + 2P) = 5.25 P, against ZeRO-0's
    3.5 P a step — 1.5× at m = 1, 6× at m = 4 (the gathers and reduce-scatter repeat)."""
    z0 = run(zero=0)
    z3 = run(zero=3)
    assert z3["by_kind"]["allgather"]["bytes"] == pytest.approx(2 * E * P, rel=1e-12)
    assert z3["by_kind"]["allgather"]["wire_bytes"] == pytest.approx(3.5 * P, rel=1e-12)
    assert z3["by_kind"]["reducescatter"]["wire_bytes"] == pytest.approx(1.75 * P, rel=1e-12)
    assert z3["wire_bytes_per_device"] == pytest.approx(5.25 * P, rel=1e-12)
    assert z3["wire_bytes_per_device"] / z0["wire_bytes_per_device"] == pytest.approx(1.5)
    # S had made it 3× (6P against 2P)
    assert z3["bytes_per_device"] / z0["bytes_per_device"] == pytest.approx(3.0)
    z3_m4 = run(global_batch=32, zero=3)
    assert z3_m4["wire_bytes_per_device"] == pytest.approx(4 * 5.25 * P, rel=1e-12)


def test_sequence_parallel_layer_sends_what_the_all_reduces_do_plus_its_regathers():
    """tp 4 on 4 ranks (no dp, no pp), one micro-batch of 64 tokens: a layer's activation
    buffer is S = 2 B · 64 · 64 = 8192 B. One layer's traffic is the difference between the
    2-layer and the 1-layer model (embedding and head are the same in both).
    Without SP: 2 all-reduces forward (after proj and fc2) and 2 backward (before qkv and
    fc1): 4 · 2 · 3/4 · S = 6 S, and S counted 4 times.
    With SP: forward all-gathers (before qkv, fc1) and reduce-scatters (after proj, fc2);
    backward their conjugates (2 reduce-scatters, 2 all-gathers) and the re-gathers of the
    qkv and fc1 inputs for their weight gradients (Megatron-core keeps only the shard):
    6 all-gathers + 4 reduce-scatters, 10 · 3/4 · S = 7.5 S, S counted 10 times. Without the
    re-gathers (8 · 3/4 · S = 6 S) the same as the all-reduces."""
    s = 2 * 64 * 64

    def layer(sp: bool) -> dict:
        one, two = (run(count=4, global_batch=1, layers=n, tp=4, sp=sp) for n in (1, 2))
        return {k: {f: two["by_kind"][k][f] - one["by_kind"][k][f]
                    for f in ("bytes", "wire_bytes")} for k in two["by_kind"]}

    plain, sp = layer(False), layer(True)
    assert plain["allreduce"]["bytes"] == pytest.approx(4 * s, rel=1e-12)
    assert plain["allreduce"]["wire_bytes"] == pytest.approx(6 * s, rel=1e-12)
    assert plain["allgather"]["wire_bytes"] == plain["reducescatter"]["wire_bytes"] == 0
    assert sp["allreduce"]["wire_bytes"] == pytest.approx(0.0, abs=1e-9)
    assert sp["allgather"]["bytes"] == pytest.approx(6 * s, rel=1e-12)
    assert sp["reducescatter"]["bytes"] == pytest.approx(4 * s, rel=1e-12)
    assert sp["allgather"]["wire_bytes"] == pytest.approx(6 * 0.75 * s, rel=1e-12)
    assert sp["reducescatter"]["wire_bytes"] == pytest.approx(4 * 0.75 * s, rel=1e-12)
    regathers = 2 * 0.75 * s
    sp_wire = sp["allgather"]["wire_bytes"] + sp["reducescatter"]["wire_bytes"]
    assert sp_wire - regathers == pytest.approx(plain["allreduce"]["wire_bytes"], rel=1e-12)


def test_wire_bytes_add_up_and_the_pipeline_sends_count_once():
    """pp 2 on 2 ranks, 4 micro-batches: the busiest stage sends 4 messages (stage 0 the
    activations forward, stage 1 their gradients back), point-to-point, S = 2 B · 64 tokens ·
    64 = 8192 each, on the wire as S."""
    c = run(count=2, global_batch=4, pp=2)
    assert c["by_kind"]["p2p"]["wire_bytes"] == c["by_kind"]["p2p"]["bytes"]
    assert c["by_kind"]["p2p"]["bytes"] == pytest.approx(4 * 2 * 64 * 64, rel=1e-12)
    assert c["wire_bytes_per_device"] == pytest.approx(
        sum(v["wire_bytes"] for v in c["by_kind"].values()), rel=1e-12)


def test_inference_and_serving_report_wire_bytes():
    """tp 4 inference and serving: every tensor-parallel collective is over 4 ranks, so an
    all-reduce sends 2 · 3/4 = 1.5 × its S and an all-gather 3/4 of it."""
    base = {"model": TOY, "hardware": {"device": "a100-sxm4-80gb", "count": 4,
                                       "devices_per_node": 4, "intra_node": "nvlink3-nvswitch"},
            "plan": {"tp": 4}}
    inf = archsim.simulate(base | {"workload": {"kind": "inference", "batch": 2,
                                                "prompt_len": 32, "gen_len": 4}}).to_dict()
    srv = archsim.simulate(base | {"workload": {
        "kind": "serving", "prompt_len": 32, "gen_len": 4,
        "arrival": {"rate_per_s": 10, "count": 8, "process": "poisson"}}}).to_dict()
    for d in (inf, srv):
        kinds = d["communication"]["by_kind"]
        assert kinds["allreduce"]["bytes"] > 0
        assert kinds["allreduce"]["wire_bytes"] == pytest.approx(
            1.5 * kinds["allreduce"]["bytes"], rel=1e-12)
        assert kinds["allgather"]["wire_bytes"] == pytest.approx(
            0.75 * kinds["allgather"]["bytes"], rel=1e-12)
        assert d["communication"]["wire_bytes_per_device"] == pytest.approx(
            sum(v["wire_bytes"] for v in kinds.values()), rel=1e-12)
