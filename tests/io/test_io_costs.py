"""Input pipeline and checkpoint cost from a storage profile, against hand arithmetic.

16 A100s (2 nodes of 8), data parallel 16, global batch 32; a model of L = 24 layers, h = 1024,
V = 1024, s = 1024: P = L(12h² + 13h) + Vh + sh + 2h parameters (reference/formulas.md eq. 2
plus the final norm). Storage: 10 GB/s read, 4 GB/s write in aggregate; a client node reads at
most 1 GB/s and writes 0.5 GB/s; 1 ms per operation.
"""

import pytest

import archsim

L, H, V, S = 24, 1024, 1024, 1024
P = L * (12 * H**2 + 13 * H) + V * H + S * H + 2 * H
FS = {"name": "fs", "kind": "parallel-fs", "read_bandwidth": "10 GB/s",
      "write_bandwidth": "4 GB/s", "client_read_bandwidth": "1 GB/s",
      "client_write_bandwidth": "0.5 GB/s", "latency": "1 ms"}


def job(storage=FS, **workload):
    return {"model": {"layers": L, "hidden": H, "heads": 16, "vocab": V, "max_seq_len": S},
            "hardware": {"device": "a100-sxm4-80gb", "count": 16, "storage": storage},
            "workload": {"kind": "training", "seq_len": S, "global_batch": 32, **workload}}


def test_sharded_token_loading_hides_behind_the_step():
    """Token ids of a 1024-word vocabulary fit uint16 (2 B, as Megatron-LM stores them); a
    sample is s + 1 tokens: 32 × 1025 × 2 B. 16 replicas on 2 nodes read their shards:
    min(10 GB/s, 2 × 1 GB/s) = 2 GB/s → 1 ms + 65,600 B / 2 GB/s, far below the step: hidden."""
    d = archsim.simulate(job()).to_dict()
    data = d["io"]["data"]
    assert data["bytes_per_step"] == 32 * 1025 * 2
    assert data["reader_nodes"] == 2
    assert data["read_s"] == pytest.approx(1e-3 + 65_600 / 2e9)
    assert data["exposed_s"] == 0.0
    assert d["time_breakdown"]["io_s"] == 0.0


def test_an_input_bound_job_runs_at_the_storage_pace():
    """64 MB samples (e.g. video): 32 × 64 MB / 2 GB/s + 1 ms = 1.025 s per step. With
    prefetch the step is that read (the compute hides under it); without, compute + read."""
    no_io = archsim.simulate(job(storage=None))["step_time_s"]
    read = 1e-3 + 32 * 64e6 / 2e9
    pre = archsim.simulate(job(data={"bytes_per_sample": "64 MB"})).to_dict()
    assert pre["step_time_s"] == pytest.approx(read)
    assert pre["time_breakdown"]["io_s"] == pytest.approx(read - no_io)
    serial = archsim.simulate(job(data={"bytes_per_sample": "64 MB", "prefetch": False}))
    assert serial["step_time_s"] == pytest.approx(no_io + read)
    assert serial["tokens_per_s"] == pytest.approx(32 * S / (no_io + read))


def test_checkpoint_size_and_write_time():
    """The state is 16-bit weights + Adam's fp32 master weights and moments: 14 B × P. Fully
    parallel save from both nodes: min(4 GB/s, 2 × 0.5 GB/s) = 1 GB/s; every 100 steps."""
    d = archsim.simulate(job(checkpoint={"interval_steps": 100})).to_dict()
    ck = d["io"]["checkpoint"]
    write = 1e-3 + 14 * P / 1e9
    assert ck["bytes"] == 14 * P
    assert ck["writer_nodes"] == 2
    assert ck["write_s"] == pytest.approx(write)
    assert ck["exposed_s"] == pytest.approx(write)
    assert ck["amortized_s_per_step"] == pytest.approx(write / 100)
    assert d["io"]["step_time_with_checkpoint_s"] == pytest.approx(d["step_time_s"]
                                                                   + write / 100)
    # only data-parallel rank 0 writes: one node, 0.5 GB/s
    d = archsim.simulate(job(checkpoint={"interval_steps": 100, "parallel": False})).to_dict()
    assert d["io"]["checkpoint"]["write_s"] == pytest.approx(1e-3 + 14 * P / 0.5e9)


def test_async_checkpoint_exposes_the_snapshot_and_any_write_past_the_interval():
    """Each device copies its 1/16 slice to host memory at 25.6 GB/s, then the write runs
    behind training. Every 1000 steps the 4.3 s write fits; every step it does not, and the
    rest of the write is exposed."""
    snapshot = 14 * P / 16 / 25.6e9
    write = 1e-3 + 14 * P / 1e9
    d = archsim.simulate(job(checkpoint={"interval_steps": 1000, "mode": "async"})).to_dict()
    assert write < 1000 * d["step_time_s"]
    assert d["io"]["checkpoint"]["exposed_s"] == pytest.approx(snapshot)
    d = archsim.simulate(job(checkpoint={"interval_steps": 1, "mode": "async"})).to_dict()
    step = d["step_time_s"]
    assert write > step
    assert d["io"]["checkpoint"]["exposed_s"] == pytest.approx(snapshot + write - step)


def test_node_local_storage_scales_with_the_nodes():
    local = {"name": "nvme", "kind": "local-nvme", "scope": "per-node",
             "read_bandwidth": "3 GB/s", "write_bandwidth": "2 GB/s"}
    d = archsim.simulate(job(storage=local, checkpoint={"interval_steps": 10})).to_dict()
    assert d["io"]["data"]["bandwidth"] == pytest.approx(2 * 3e9)
    assert d["io"]["checkpoint"]["write_s"] == pytest.approx(14 * P / (2 * 2e9))


def test_registry_storage_and_no_storage():
    d = archsim.simulate(job(storage="lustre-flash")).to_dict()
    assert d["io"]["storage"] == "lustre-flash"
    assert archsim.simulate(job(storage=None)).to_dict()["io"] is None


def test_moe_checkpoint_holds_every_expert_once_whatever_the_zero_stage():
    """An MoE checkpoint saves each expert once, whichever rank holds it. Toy MoE (as in
    tests/plan/test_moe_gradients.py): 2 layers of dense part 17,024 + 8 experts × 24,576,
    head 16,448, embedding 16,384 → P = 2·(17,024 + 196,608) + 16,448 + 16,384 = 460,096
    parameters; bf16 weights + Adam states: 14 B each. 8 ranks, ep 4, ZeRO 0/1/3: all give
    14 · P bytes, each rank writing 1/8 of it."""
    toy_moe = {"name": "toy-moe", "layers": 2, "hidden": 64, "heads": 4, "ffn_hidden": 128,
               "vocab": 256, "max_seq_len": 64, "mlp": "swiglu", "norm": "rmsnorm",
               "bias": False, "position": "rope", "tied_embeddings": False,
               "moe": {"experts": 8, "top_k": 2}}
    p = 2 * (17_024 + 8 * 24_576) + 16_448 + 16_384
    for zero in (0, 1, 3):
        d = archsim.simulate({
            "model": toy_moe,
            "hardware": {"device": "a100-sxm4-80gb", "count": 8, "storage": FS},
            "workload": {"kind": "training", "seq_len": 64, "global_batch": 8,
                         "micro_batch": 1, "checkpoint": {"interval_steps": 100}},
            "plan": {"tp": 1, "pp": 1, "ep": 4, "zero": zero}}).to_dict()
        assert d["io"]["checkpoint"]["bytes"] == pytest.approx(14 * p), zero


def test_totals_and_long_run_costs_include_the_checkpoint_pauses():
    """1,000 steps with a synchronous checkpoint every 100: each write, 1 ms + 14·P / 1 GB/s,
    pauses the job with all 16 A100s held ($1.79/h each, the profile's price) and idle (60 W,
    its idle_power). Totals: time 1000·(step + write/100); energy adds 16 × 60 W × that pause;
    cost is paid over the whole time. They had covered the steps alone."""
    d = archsim.simulate(job(checkpoint={"interval_steps": 100}, steps=1000)).to_dict()
    step, wait = d["step_time_s"], (1e-3 + 14 * P / 1e9) / 100
    tokens = 32 * S
    t = d["totals"]
    assert t["checkpoint_s"] == pytest.approx(1000 * wait)
    assert t["time_s"] == pytest.approx(1000 * (step + wait))
    assert t["energy_joules"] == pytest.approx(1000 * (d["energy_joules"] + 16 * 60 * wait))
    assert t["cost_usd"] == pytest.approx(16 * 1.79 * 1000 * (step + wait) / 3600)
    io = d["io"]
    assert io["cost_per_million_tokens_with_checkpoint_usd"] == pytest.approx(
        16 * 1.79 * (step + wait) / 3600 / tokens * 1e6)
    assert io["energy_per_token_with_checkpoint_j"] == pytest.approx(
        (d["energy_joules"] + 16 * 60 * wait) / tokens)
    # the headline per-step figures stay per step
    assert d["cost_per_million_tokens_usd"] == pytest.approx(16 * 1.79 * step / 3600 / tokens
                                                             * 1e6)
