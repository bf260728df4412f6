"""Toy devices with round numbers for heterogeneous-cluster tests (no launch overhead, so a
device with every rate doubled runs every op in exactly half the time)."""

import copy

SLOW = {"name": "slow", "kind": "gpu", "peak": {"bf16": "100 TFLOPS"},
        "vector_peak": "10 TFLOPS", "memory": {"capacity": "80 GiB", "bandwidth": "1 TB/s"},
        "tdp": "300 W", "launch_overhead": "0 us", "devices_per_node": 8,
        "efficiency": {"matmul": {"points": [[1e9, 0.5], [1e12, 0.8]]}, "memory": 0.8}}
FAST = {**copy.deepcopy(SLOW), "name": "fast", "peak": {"bf16": "200 TFLOPS"},
        "vector_peak": "20 TFLOPS",
        "memory": {"capacity": "80 GiB", "bandwidth": "2 TB/s"}}
MODEL = {"layers": 24, "hidden": 1024, "heads": 16, "vocab": 1024, "max_seq_len": 1024}


def two_pools(first=FAST, second=SLOW, count=1, **plan):
    """One device per pool, one pool link (HDR InfiniBand); pp = 2, m = 8 micro-batches."""
    pools = [{"name": "a", "device": copy.deepcopy(first), "count": count,
              "devices_per_node": count},
             {"name": "b", "device": copy.deepcopy(second), "count": count,
              "devices_per_node": count}]
    if count > 1:
        for p in pools:
            p["intra_node"] = "nvlink3-nvswitch"
    return {"model": dict(MODEL),
            "hardware": {"cluster": {"pools": pools, "links": [
                {"between": ["a", "b"], "interconnect": "ib-hdr-200g"}]}},
            "workload": {"kind": "training", "seq_len": 1024, "global_batch": 8 * count},
            "plan": {"pp": 2, **plan}}


def mixed_inference() -> dict:
    """Llama-2-13B inference, batch 16, 1024 tokens in and 128 out, stage 0 on an H100 and
    stage 1 on an A100-40GB (HDR InfiniBand between them)."""
    return {"model": "llama2-13b",
            "hardware": {"cluster": {
                "pools": [{"name": "h", "device": "h100-sxm5-80gb", "count": 1},
                          {"name": "a", "device": "a100-sxm4-40gb", "count": 1}],
                "links": [{"between": ["h", "a"], "interconnect": "ib-hdr-200g"}]}},
            "workload": {"kind": "inference", "batch": 16, "prompt_len": 1024,
                         "gen_len": 128},
            "plan": {"pp": 2, "placement": {"stages": ["h", "a"]}}}
