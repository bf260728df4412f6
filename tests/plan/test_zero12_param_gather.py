"""ZeRO-1/2 with overlap_comm: the updated parameters' all-gather hides behind the next step's
forward pass only as far as that forward reaches (Megatron-LM's overlapped parameter gather),
not behind the whole step."""

import archsim
from archsim.plan.opcost import PhaseCost
from archsim.plan.training import ChunkCost, _exposed_gather


def _chunk(c: int, params: float, fwd_s: float) -> ChunkCost:
    return ChunkCost(stage=0, chunk=c, layers=(c,), fwd=PhaseCost(compute_s=fwd_s),
                     bwd=PhaseCost(), recompute_s=0.0, act_bytes=0.0, working_bytes=0.0,
                     params=params, grad_buckets=[], model_flops=0.0)


def test_each_chunk_waits_for_its_share_of_the_gather_by_hand():
    """Two chunks of equal parameters, forward 1 s each, a 6 s gather, groups of 4 micro-batches:
    chunk 0 needs 3 s of gather within its 1 s forward (2 s exposed); chunk 1 needs all 6 s by
    the end of its forward at 4 × 1 + 1 = 5 s (1 s exposed). The step waits 2 s."""
    row = [_chunk(0, 1.0, 1.0), _chunk(1, 1.0, 1.0)]
    assert _exposed_gather(row, 6.0, 1.0, 4) == 2.0
    # one chunk: the gather less its forward, nothing when the forward is longer
    assert _exposed_gather([_chunk(0, 2.0, 1.5)], 4.0, 1.0, 1) == 2.5
    assert _exposed_gather([_chunk(0, 2.0, 1.5)], 1.0, 1.0, 1) == 0.0
    # the forward slowed 1.5× while the gather runs beside it: kernels of 1.5 s with a 1 s
    # gather take min(1.5 × 1.5, 1.5 + 1 × (1 − 1/1.5)) = 1.833 s, 0.333 s more
    assert abs(_exposed_gather([_chunk(0, 2.0, 1.5)], 1.0, 1.5, 1) - 1 / 3) < 1e-12


def test_an_overlapped_gather_longer_than_the_forward_is_exposed():
    """Llama-2-7B on 64 L40S over PCIe/Ethernet-class links, ZeRO-1, one micro-batch per rank:
    the all-gather of the updated parameters takes longer than the one forward pass that can
    hide it. The forward is at most half of forward + backward compute (no recomputation), so
    at least allgather − compute / 2 of it is exposed; it had been hidden entirely."""
    sc = {"model": "llama2-7b", "hardware": {"device": "l40s", "count": 64},
          "workload": {"kind": "training", "seq_len": 4096, "global_batch": 64,
                       "micro_batch": 1, "dtype": "bf16"},
          "plan": {"tp": 1, "pp": 1, "zero": 1, "recompute": "none", "overlap_comm": True}}
    d = archsim.simulate(sc).to_dict()
    gather = d["communication"]["by_kind"]["allgather"]["time_s"]
    compute = d["time_breakdown"]["compute_s"]
    assert gather > compute / 2  # the case is the one described
    assert d["time_breakdown"]["exposed_comm_s"] >= gather - compute / 2
    # the breakdown still adds up to the step
    tb = d["time_breakdown"]
    parts = sum(tb[k] for k in ("compute_s", "recompute_s", "exposed_comm_s", "bubble_s",
                                "optimizer_s", "io_s", "overhead_s", "host_wait_s"))
    assert abs(parts - d["step_time_s"]) < 1e-6 * d["step_time_s"]
