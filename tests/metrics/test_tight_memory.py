"""A plan that fits with under 5% of the device's memory to spare says so (archsim/metrics/
common.py ``tight_memory_note``): the 1 GiB runtime reserve is the only allowance, and the
allocator's fragmentation and communication buffers are not modelled."""

from __future__ import annotations

import archsim

GIB = 2 ** 30
# Llama-2-7B in bf16: 2 (K, V) · 32 layers · 32 KV heads · 128 · 2 B per cached token
KV_PER_TOKEN = 2 * 32 * 32 * 128 * 2
CONTEXT = 1024 + 256  # llama2-7b-inference-a100: 1024-token prompts, 256 new tokens


def run(batch: int) -> dict:
    return archsim.simulate("llama2-7b-inference-a100",
                            [f"workload.batch={batch}"]).to_dict()


def test_a_nearly_full_device_says_how_little_is_left():
    """Each sequence adds 1280 · 524,288 B = 0.625 GiB of KV cache: at batch 94 the 80 GiB
    A100 is above 95% full (94 · 0.625 = 58.75 GiB of KV beside 12.6 GiB of weights); at
    batch 64 (40 GiB of KV) it is not."""
    full, roomy = run(94), run(64)
    assert full["feasible"] and roomy["feasible"]
    for r, batch in ((full, 94), (roomy, 64)):
        assert r["memory"]["breakdown"]["kv_cache"] == batch * CONTEXT * KV_PER_TOKEN
    peak, capacity = full["memory"]["peak_bytes_per_device"], full["memory"]["capacity_bytes"]
    assert capacity == 80 * GIB and peak > 0.95 * capacity
    assert (f"memory: stage 0 fills {100 * peak / capacity:.1f}% of its 80.00 GiB per device; "
            "the runtime reserve (1.00 GiB) is the only allowance, and the allocator's "
            "fragmentation and communication buffers, not modelled, may not fit beside it"
            ) in full["notes"]
    assert roomy["memory"]["peak_bytes_per_device"] < 0.95 * capacity
    assert not any(n.startswith("memory:") for n in roomy["notes"])
