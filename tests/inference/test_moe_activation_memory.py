"""MoE activation memory in inference and serving: a grouped GEMM holds every routed token's
expert intermediates at once; an eager per-expert loop holds one local expert's share.

The rule (archsim/plan/inference.py, StageCost.activation_bytes) is the dense one —
hidden states in and out 2·e·T·h, plus the largest of the QKV output and the SwiGLU MLP's
gate, up and product (3·e·tokens·f/tp), plus fp32 logits — with the MLP's tokens the expert
slots alive at once: T·top_k·capacity_factor (grouped), divided by the local experts (eager).
Expected values are written out from Mixtral's shapes; capacities come from the profiles.
"""

import pytest

import archsim
from archsim.spec.loader import load_spec_file

# Mixtral 8x7B: h 4096, 32 layers, 32 heads × 128 with 8 KV heads, 8 experts of SwiGLU
# f 14336, top-2, capacity factor 1, vocab 32000, untied head, no biases
H, L, F, V, EXPERTS, TOP_K = 4096, 32, 14336, 32000, 8, 2
Q_HEADS, KV_HEADS, D_HEAD = 32, 8, 128
E = 2  # bf16 bytes
SPLIT = L * (2 * H * H + 2 * H * KV_HEADS * D_HEAD  # q, o + k, v
             + EXPERTS * 3 * H * F) + 2 * V * H  # experts; embedding, head
WHOLE = L * (H * EXPERTS + 2 * H) + H  # router, two norms; final norm (every tp rank)
WEIGHTS = E * (SPLIT + WHOLE)

H200 = load_spec_file("devices", "h200-sxm-141gb")
H100 = load_spec_file("devices", "h100-sxm5-80gb")


def act_bytes(tokens: int, n_out: int, tp: int = 1, grouped: bool = True, ep: int = 1) -> int:
    """Hand rule for one prefill pass of ``tokens`` tokens (flash attention: no scores)."""
    hidden_in_out = 2 * E * tokens * H
    qkv = E * tokens * (Q_HEADS + 2 * KV_HEADS) // tp * D_HEAD
    slots = tokens * TOP_K  # capacity factor 1
    mlp = E * slots * (F // tp) * 3  # gate, up, SiLU(gate)·up
    if not grouped:
        mlp //= EXPERTS // ep
    logits = 4 * n_out * V // tp
    return hidden_in_out + max(qkv, mlp) + logits


def kv_per_token(tp: int = 1) -> int:
    return 2 * L * (KV_HEADS // tp) * D_HEAD * E


def h200(**plan):
    """8 prompts of 1024 tokens, 256 new tokens, on one H200 (T = 8192)."""
    return {"model": "mixtral-8x7b", "hardware": {"device": "h200-sxm-141gb", "count": 1},
            "workload": {"kind": "inference", "batch": 8, "prompt_len": 1024, "gen_len": 256,
                         "dtype": "bf16"},
            "plan": plan}


@pytest.fixture(scope="module")
def grouped():
    return archsim.simulate(h200()).to_dict()


@pytest.fixture(scope="module")
def eager():
    return archsim.simulate(h200(moe_grouped_gemm=False)).to_dict()


def test_hand_weights_match(grouped):
    """The capacity arithmetic below rests on this weight count (46.7B parameters)."""
    assert grouped["memory"]["breakdown"]["weights"] == WEIGHTS


def test_grouped_gemm_holds_every_routed_tokens_intermediates(grouped):
    # 2·2·8192·4096 + 2·8192·2·14336·3 + 4·8·32000 = 134,217,728 + 1,409,286,144 + 1,024,000
    expected = act_bytes(8 * 1024, n_out=8)
    assert expected == 1_544_527_872
    assert grouped["memory"]["breakdown"]["activations"] == expected


def test_eager_experts_hold_one_local_experts_share(eager):
    # the MLP term is an eighth: 176,160,768 (still above the QKV output's 100,663,296)
    expected = act_bytes(8 * 1024, n_out=8, grouped=False)
    assert expected == 311_402_496
    assert eager["memory"]["breakdown"]["activations"] == expected


def test_moe_mlp_uses_the_dense_mlps_rule():
    """Top-1 routing under a grouped GEMM holds T expert slots, as a dense MLP of the same
    ffn holds T tokens; so does an eager loop over 2 experts with top-2 routing (each expert
    sees every token)."""
    def act(overrides):
        return archsim.simulate(h200(), overrides).to_dict()["memory"]["breakdown"][
            "activations"]
    dense = act({"model.moe": None})
    assert dense == 2 * E * 8192 * H + E * 8192 * F * 3 + 4 * 8 * V
    assert act({"model.moe": {"experts": 2, "top_k": 1, "every": 1}}) == dense
    assert act({"model.moe": {"experts": 2, "top_k": 2, "every": 1},
                "plan.moe_grouped_gemm": False}) == dense


def test_max_batch_follows_the_capacity_arithmetic(grouped, eager):
    """Largest b with weights + b·(KV of 1280 tokens + one sequence's prefill activations)
    + reserve within capacity (every term is linear in b)."""
    free = H200.memory.capacity - WEIGHTS - H200.memory.reserved
    kv_seq = kv_per_token() * (1024 + 256)
    assert grouped["max_batch_that_fits"] == free // (kv_seq + act_bytes(1024, n_out=1))
    assert eager["max_batch_that_fits"] == free // (kv_seq + act_bytes(1024, n_out=1,
                                                                       grouped=False))
    # H200: 143771 MiB exposed (nvidia-smi), 1 GiB reserve
    assert grouped["max_batch_that_fits"] == 155 and eager["max_batch_that_fits"] == 272


def test_grouped_activations_do_not_shrink_with_expert_parallelism():
    """With ep 2 each rank still receives T·top_k routed copies (its own T tokens' worth);
    only the eager loop's per-expert share (now over 4 local experts) changes."""
    sc = h200()
    sc["hardware"]["count"] = 2
    sc["workload"]["batch"] = 16  # 8 sequences per data-parallel replica
    got = {g: archsim.simulate(sc, {"plan": {"ep": 2, "moe_grouped_gemm": g}}
                               ).to_dict()["memory"]["breakdown"]["activations"]
           for g in (True, False)}
    assert got[True] == act_bytes(8 * 1024, n_out=8, ep=2)
    assert got[False] == act_bytes(8 * 1024, n_out=8, grouped=False, ep=2)


def test_mixtral_batch_120_on_two_h100_does_not_fit():
    """TP 2, 120 × 2048-token prompts (T = 245,760): activations 25.17 GB push the peak to
    93.08 GB, over the 85.52 GB (81559 MiB, nvidia-smi) an H100 exposes."""
    d = archsim.simulate({"model": "mixtral-8x7b",
                          "hardware": {"device": "h100-sxm5-80gb", "count": 2},
                          "workload": {"kind": "inference", "batch": 120, "prompt_len": 2048,
                                       "gen_len": 512, "dtype": "bf16"},
                          "plan": {"tp": 2}}).to_dict()
    act = act_bytes(120 * 2048, n_out=120, tp=2)
    assert act == 25_173_504_000
    assert d["memory"]["breakdown"]["activations"] == act
    kv = kv_per_token(tp=2) * 120 * (2048 + 512)
    weights = E * (SPLIT // 2 + WHOLE)
    peak = weights + kv + act + H100.memory.reserved
    assert peak > H100.memory.capacity
    assert d["memory"]["peak_bytes_per_device"] == pytest.approx(peak, rel=1e-12)
    assert not d["feasible"]
    [reason] = d["infeasible_reasons"]
    assert "GiB per device" in reason and f"activations {act / 2**30:.2f} GiB" in reason
    free = H100.memory.capacity - weights - H100.memory.reserved
    assert d["max_batch_that_fits"] == free // (kv_per_token(tp=2) * 2560
                                                + act_bytes(2048, n_out=1, tp=2)) == 99


def test_serving_kv_pool_leaves_room_for_the_grouped_activations():
    """The KV pool is what 0.9 × capacity leaves after weights, one 8192-token pass's
    activations (256 sequences sampled) and the reserve, in 16-token blocks."""
    sc = {"model": "mixtral-8x7b", "hardware": {"device": "h200-sxm-141gb", "count": 1},
          "workload": {"kind": "serving", "arrival": {"process": "poisson", "rate_per_s": 5,
                                                      "count": 8, "seed": 1},
                       "prompt_len": 256, "gen_len": 16, "max_batched_tokens": 8192,
                       "max_num_seqs": 256, "block_size": 16}}
    d = archsim.simulate(sc).to_dict()
    act = act_bytes(8192, n_out=256)
    mem = d["memory"]["breakdown"]
    assert mem["activations"] == act
    block = kv_per_token() * 16
    free = 0.9 * H200.memory.capacity - WEIGHTS - act - H200.memory.reserved
    assert mem["kv_cache"] == (free // block) * block
