"""FLOPs, bytes, parameters and saved activations of the op graph against hand formulas."""

import csv
from dataclasses import replace
from pathlib import Path

import pytest

import archsim
from archsim.graph.backward import backward_ops
from archsim.graph.export import build_graph
from archsim.graph.transformer import Shape, embedding_forward, head_forward, layer_forward
from archsim.spec.model import ModelSpec

REFERENCE = Path(__file__).parents[2] / "reference"
GPT = ModelSpec(name="toy-gpt", layers=4, hidden=1024, heads=16, vocab=32000, dropout=0.1,
                max_seq_len=2048)


def ops_by_name(ops):
    return {op.name.split(".", 1)[1] if op.name.startswith("L") else op.name: op for op in ops}


def test_matmul_flops_and_bytes_of_one_layer():
    b, s, h = 2, 512, 1024
    ops = ops_by_name(layer_forward(GPT, Shape(batch=b, seq=s, kv_seq=s, dtype="bf16",
                                                flash=False, dropout=True)))
    T = b * s
    assert ops["qkv"].flops == 2 * T * h * 3 * h
    assert ops["proj"].flops == 2 * T * h * h
    assert ops["fc1"].flops == 2 * T * h * 4 * h
    assert ops["fc2"].flops == 2 * T * 4 * h * h
    # attention scores: 2·b·s²·h each for QKᵀ and ·V (Korthikanti et al. 2022, §4)
    assert ops["qk"].flops == 2 * b * s * s * h
    assert ops["av"].flops == 2 * b * s * s * h
    # a GEMM reads both operands and writes its output, 2 bytes each in bf16
    assert ops["qkv"].bytes == 2 * (T * h + h * 3 * h + T * 3 * h)
    assert ops["qkv"].params == h * 3 * h + 3 * h  # weight + bias


def test_causal_training_softmax_reads_only_the_lower_triangle():
    """Megatron-LM's scaled_upper_triang_masked_softmax: row i reads its first i+1 scores and
    writes the whole row; the backward reads those of dy and y and writes all of dx."""
    b, s, a = 1, 4, 16  # toy GPT: 16 heads
    scores = b * a * s * s  # 256 elements, 2 bytes each in bf16
    read = (1 + 2 + 3 + 4) / 16  # lower triangle with the diagonal: 10 of 16 per head
    train = Shape(batch=b, seq=s, kv_seq=s, flash=False, dtype="bf16")
    sm = ops_by_name(layer_forward(GPT, train))["softmax"]
    assert sm.bytes == 2 * scores * (read + 1)  # 832 bytes: reads 10/16, writes all
    bwd = ops_by_name(backward_ops(layer_forward(GPT, train)))["softmax.bwd"]
    assert bwd.bytes == 2 * scores * (2 * read + 1)  # 1152 bytes
    # an encoder (no mask) and inference's softmax read every score
    encoder = replace(train, causal=False)
    assert ops_by_name(layer_forward(GPT, encoder))["softmax"].bytes == 2 * scores * 2
    serve = replace(train, training=False)
    assert ops_by_name(layer_forward(GPT, serve))["softmax"].bytes == 2 * scores * 2


def test_layer_forward_flops_match_24bsh2_plus_4bs2h():
    b, s, h = 4, 2048, 1024
    ops = layer_forward(GPT, Shape(batch=b, seq=s, kv_seq=s, flash=True))
    matmul = sum(op.flops for op in ops if op.is_matmul)
    assert matmul == pytest.approx(24 * b * s * h * h + 4 * b * s * s * h, rel=1e-12)


def test_tensor_parallel_shards_flops_and_adds_two_allreduces():
    b, s, h, t = 1, 2048, 1024, 4
    ops = layer_forward(GPT, Shape(batch=b, seq=s, kv_seq=s, tp=t))
    matmul = sum(op.flops for op in ops if op.is_matmul)
    assert matmul == pytest.approx((24 * b * s * h * h + 4 * b * s * s * h) / t)
    comms = [op.comm for op in ops if op.kind == "comm"]
    assert [c.kind for c in comms] == ["allreduce", "allreduce"]
    assert all(c.bytes == 2 * b * s * h and c.group == "tp" for c in comms)
    bwd_comms = [op.comm.kind for op in backward_ops(ops) if op.kind == "comm"]
    assert bwd_comms == ["allreduce", "allreduce"]


def test_sequence_parallel_uses_allgather_and_reducescatter():
    ops = layer_forward(GPT, Shape(batch=1, seq=2048, kv_seq=2048, tp=4, sp=True))
    kinds = [op.comm.kind for op in ops if op.kind == "comm"]
    assert kinds == ["allgather", "reducescatter", "allgather", "reducescatter"]
    # backward: each forward collective's conjugate, and before the data gradient of FC1 and
    # QKV the re-gather of their sequence-parallel input for the weight gradient (Megatron-core
    # saves only the rank's shard), hidden behind that data-gradient GEMM
    bwd = [(op.name, op.comm.kind) for op in backward_ops(ops) if op.kind == "comm"]
    assert bwd == [("L0.rs_mlp.bwd", "allgather"), ("L0.fc1.regather", "allgather"),
                   ("L0.ag_mlp.bwd", "reducescatter"), ("L0.rs_attn.bwd", "allgather"),
                   ("L0.qkv.regather", "allgather"), ("L0.ag_attn.bwd", "reducescatter")]
    names = [op.name for op in backward_ops(ops)]
    for gemm in ("L0.fc1", "L0.qkv"):
        regather = next(op for op in backward_ops(ops) if op.name == gemm + ".regather")
        assert names[names.index(gemm + ".regather") + 1] == gemm + ".dgrad"
        assert regather.comm.overlappable
        assert regather.comm.bytes == 2 * 2048 * GPT.hidden  # the whole sequence, fp16


def test_context_parallel_attention_does_1_over_cp_of_the_causal_work():
    """cp=2: each rank has s/2 queries against all s keys, nominal FLOPs 4·b·s/2·s·h, and
    (load-balanced chunks) executes half of them, as the cp=1 causal kernel does: per rank
    1/cp of the cp=1 work. Bidirectional attention executes the whole block."""
    b, s, h, cp = 1, 4096, 1024, 2
    one = ops_by_name(layer_forward(GPT, Shape(batch=b, seq=s, kv_seq=s)))["attn"]
    two = ops_by_name(layer_forward(GPT, Shape(batch=b, seq=s // cp, kv_seq=s, cp=cp)))["attn"]
    assert one.flops == 4 * b * s * s * h and one.work_fraction == 0.5
    assert two.flops == 4 * b * (s // cp) * s * h and two.work_fraction == 0.5
    assert two.flops * two.work_fraction == one.flops * one.work_fraction / cp
    bert = ops_by_name(layer_forward(GPT, Shape(batch=b, seq=s // cp, kv_seq=s, cp=cp,
                                                causal=False)))["attn"]
    assert bert.work_fraction == 1.0
    decode = ops_by_name(layer_forward(GPT, Shape(batch=b, seq=1, kv_seq=s, training=False,
                                                  kv_cache=True)))["attn"]
    assert decode.work_fraction == 1.0


def test_chunked_prefill_skips_only_the_masked_triangle_of_its_chunk():
    """A 512-token prompt chunk after 1536 cached tokens attends to kv = 2048 keys. The mask
    hides the 512×512 upper triangle: 512²/2 = 131,072 of 512·2048 = 1,048,576 pairs, 1/8, so
    the kernel computes 7/8 of the block (a whole 2048-token prefill: 1/2)."""
    shape = Shape(batch=1, seq=512, kv_seq=2048, training=False, kv_cache=True)
    chunk = ops_by_name(layer_forward(GPT, shape))["attn"]
    assert chunk.work_fraction == pytest.approx(1 - 131_072 / 1_048_576)
    whole = ops_by_name(layer_forward(GPT, Shape(batch=1, seq=2048, kv_seq=2048,
                                                 training=False, kv_cache=True)))["attn"]
    assert whole.work_fraction == 0.5


PARALLEL = GPT.model_copy(update={"parallel_attention": True})


def test_parallel_block_needs_one_allreduce_per_layer_and_keeps_flops_and_params():
    # GPT-J / PaLM / Falcon block: y = x + attn(ln1(x)) + mlp(ln2(x)); the two row-parallel
    # outputs are summed locally, so one all-reduce of b·s·h bf16 elements instead of two
    b, s, h, t = 1, 2048, 1024, 4
    seq = layer_forward(GPT, Shape(batch=b, seq=s, kv_seq=s, tp=t))
    par = layer_forward(PARALLEL, Shape(batch=b, seq=s, kv_seq=s, tp=t))
    comms = [op.comm for op in par if op.kind == "comm"]
    assert [(c.kind, c.bytes) for c in comms] == [("allreduce", 2 * b * s * h)]
    assert [op.comm.kind for op in backward_ops(par) if op.kind == "comm"] == ["allreduce"]
    assert sum(op.flops for op in par if op.is_matmul) == sum(
        op.flops for op in seq if op.is_matmul)
    # the same weights and biases (qkv, proj, fc1, fc2 biases; two layernorms)
    assert sum(op.params for op in par) == sum(op.params for op in seq)
    # one residual add of x + attn + mlp: reads three b·s·h tensors, writes one (2 bytes each)
    adds = [op for op in par if "bda" in op.name]
    assert len(adds) == 1 and adds[0].bytes == 2 * b * s * h * 4


def test_parallel_block_with_sequence_parallelism_gathers_once():
    ops = layer_forward(PARALLEL, Shape(batch=1, seq=2048, kv_seq=2048, tp=4, sp=True))
    assert [op.comm.kind for op in ops if op.kind == "comm"] == ["allgather", "reducescatter"]


def test_parallel_block_does_not_apply_to_moe_layers():
    moe = ModelSpec.model_validate({**PARALLEL.model_dump(), "moe": {"experts": 8, "top_k": 2}})
    ops = layer_forward(moe, Shape(batch=1, seq=256, kv_seq=256, tp=2))
    assert [op.comm.kind for op in ops if op.kind == "comm"] == ["allreduce", "allreduce"]


def test_backward_of_a_matmul_is_two_matmuls_of_the_same_flops():
    ops = layer_forward(GPT, Shape(batch=1, seq=256, kv_seq=256))
    fwd = sum(op.flops for op in ops if op.is_matmul)
    bwd = sum(op.flops for op in backward_ops(ops) if op.is_matmul)
    assert bwd == pytest.approx(2 * fwd)


def test_gqa_and_swiglu_shapes():
    llama = archsim.load_scenario({"model": "llama2-70b", "hardware": {
        "device": "h100-sxm5-80gb", "count": 8}, "workload": {"kind": "training"}}).model
    h, d, g, a, f = 8192, 128, 8, 64, 28672
    ops = ops_by_name(layer_forward(llama, Shape(batch=1, seq=16, kv_seq=16)))
    assert ops["qkv"].shape == (1, 16, h, (a + 2 * g) * d)
    assert ops["fc1"].shape == (1, 16, h, 2 * f)  # gate and up projections
    assert ops["fc2"].shape == (1, 16, f, h)
    params = sum(op.params for op in layer_forward(llama, Shape(batch=1, seq=16, kv_seq=16)))
    # Llama-2-70B layer: q,o h², k,v h·g·d, 3 MLP matrices h·f, two RMSNorm weights
    assert params == h * h * 2 + 2 * h * g * d + 3 * h * f + 2 * h


LLAMA_SMALL = ModelSpec(name="toy-llama", layers=2, hidden=512, heads=8, kv_heads=2,
                        ffn_hidden=1408, vocab=8192, mlp="swiglu", norm="rmsnorm",
                        position="rope", bias=False, max_seq_len=2048)


def test_rope_rotates_this_ranks_queries_and_keys_once():
    """One rotary-embedding op after the QKV GEMM: 2·128 tokens × (8 query + 2 key heads) × 64
    elements, each read and written once in bf16, plus the cos and sin tables of the 128
    positions; 3 FLOPs an element; nothing kept for backward."""
    s = Shape(batch=2, seq=128, kv_seq=128, dtype="bf16")
    names = [op.name for op in layer_forward(LLAMA_SMALL, s)]
    assert names[names.index("L0.qkv") + 1] == "L0.rope"
    rope = ops_by_name(layer_forward(LLAMA_SMALL, s))["rope"]
    elements = 256 * (8 + 2) * 64
    assert (rope.kind, rope.variant, rope.phase) == ("elementwise", "rope", "fwd")
    assert rope.flops == 3 * elements
    assert rope.bytes == 2 * 2 * elements + 2 * 2 * 128 * 64
    assert rope.saved_bytes == 0 and rope.params == 0
    # its backward rotates the gradient back: the same traffic, no more
    (bwd,) = [op for op in backward_ops([rope])]
    assert bwd.bytes == rope.bytes and bwd.variant == "rope"
    # tp = 4: 2 query heads per rank, and the 2 key heads replicated (one per rank)
    rope_tp = ops_by_name(layer_forward(LLAMA_SMALL, Shape(batch=2, seq=128, kv_seq=128,
                                                           tp=4)))["rope"]
    assert rope_tp.flops == 3 * 256 * (2 + 1) * 64
    # learned positions: no rotary op
    assert not [op for op in layer_forward(GPT, Shape(batch=1, seq=8, kv_seq=8))
                if op.variant == "rope"]


def test_decode_rotates_the_new_token_before_writing_the_cache():
    from archsim.graph.inference import inference_layer

    s = Shape(batch=4, seq=1, kv_seq=300, dtype="bf16")
    ops = inference_layer(LLAMA_SMALL, s)
    names = [op.name for op in ops]
    assert names[:5] == ["L0.ln_attn", "L0.qkv", "L0.rope", "L0.kv_write", "L0.attn"]
    assert ops[2].flops == 3 * 4 * (8 + 2) * 64  # one new token per sequence


def test_moe_layer_routes_topk_tokens_to_local_experts():
    mixtral = archsim.load_scenario({"model": "mixtral-8x7b", "hardware": {
        "device": "h100-sxm5-80gb", "count": 8}, "workload": {"kind": "training"}}).model
    tokens, h, f, ep = 4096, 4096, 14336, 4
    ops = layer_forward(mixtral, Shape(batch=1, seq=tokens, kv_seq=tokens, ep=ep))
    expert_flops = sum(op.flops for op in ops if ".e" in op.name and op.is_matmul)
    # each token is processed by top_k=2 experts: 3 matrices of 2·h·f FLOPs per token copy
    assert expert_flops == pytest.approx(tokens * 2 * 3 * 2 * h * f)
    a2a = [op.comm for op in ops if op.kind == "comm" and op.comm.kind == "alltoall"]
    assert len(a2a) == 2 and a2a[0].bytes == 2 * tokens * 2 * h


def _mixtral():
    return archsim.load_scenario({"model": "mixtral-8x7b", "hardware": {
        "device": "h100-sxm5-80gb", "count": 8}, "workload": {"kind": "training"}}).model


def test_few_tokens_reach_an_expected_share_of_the_experts_and_do_all_their_flops():
    """Decode, 4 tokens, 8 experts, top-2, one rank: the FLOPs are those of 4·2 token copies
    through an expert (3 matrices of 2·h·f each), however few experts they reach; the expert
    weights read are those of the expected E·(1 − (1 − k/E)^n) = 8·(1 − 0.75⁴) = 5.469
    experts (not rounded)."""
    h, f = 4096, 14336
    ops = layer_forward(_mixtral(), Shape(batch=4, seq=1, kv_seq=512, training=False,
                                          kv_cache=True))
    experts = [op for op in ops if op.name.startswith("L0.e") and op.is_matmul]
    assert sum(op.flops for op in experts) == pytest.approx(4 * 2 * 3 * 2 * h * f, rel=1e-12)
    # bf16: the expected experts' weights (fc1 h·2f + fc2 f·h each) and, for the 8 token
    # copies, fc1's input h and output 2f and fc2's input f and output h
    expected = 8 * (1 - 0.75 ** 4)
    moved = expected * 3 * h * f * 2 + 2 * 8 * (h + 2 * f) + 2 * 8 * (f + h)
    assert sum(op.bytes for op in experts) == pytest.approx(moved, rel=1e-9)
    # six experts listed (the sixth for the 0.469), each with its whole 3·h·f parameters
    assert sum(op.params for op in experts) == 6 * 3 * h * f


def test_capacity_padding_executes_but_is_not_model_work():
    """capacity_factor 2 doubles the expert GEMMs' slots: their FLOPs (and time) double, the
    model's FLOPs (MFU) do not."""
    h, f = 4096, 14336
    padded = _mixtral().model_copy(update={"moe": _mixtral().moe.model_copy(
        update={"capacity_factor": 2.0})})
    ops = layer_forward(padded, Shape(batch=1, seq=4096, kv_seq=4096, ep=4))
    experts = [op for op in ops if op.name.startswith("L0.e") and op.is_matmul]
    assert sum(op.flops for op in experts) == pytest.approx(2 * 4096 * 2 * 3 * 2 * h * f)
    assert sum(op.flops * op.model_share for op in experts) == pytest.approx(
        4096 * 2 * 3 * 2 * h * f)


def test_sequence_parallel_moe_dispatches_its_own_tokens():
    """tp 2 with sp (Megatron-core's all-to-all dispatcher): a rank routes its s/2 tokens, so
    the all-to-all moves s/2 · k copies of h; the expert's tensor-parallel ranks all-gather the
    s · k copies they received between them (and reduce-scatter the outputs)."""
    s, h, k = 4096, 4096, 2
    ops = layer_forward(_mixtral(), Shape(batch=1, seq=s, kv_seq=s, tp=2, sp=True, ep=4))
    comms = {op.name.split(".", 1)[1]: op.comm for op in ops if op.kind == "comm"}
    assert comms["a2a_dispatch"].bytes == comms["a2a_combine"].bytes == 2 * (s // 2) * k * h
    assert comms["ag_experts"].kind == "allgather" and comms["ag_experts"].bytes == 2 * s * k * h
    assert comms["rs_experts"].kind == "reducescatter"
    assert "ag_mlp" not in comms and "rs_mlp" not in comms


def _korthikanti(s, b, h, a, t=1, sp=False, mode="none"):
    """Korthikanti et al. 2022, Table 2 (reference/formulas.md), bytes per layer."""
    if mode == "full":
        return 2 * s * b * h
    attn = 0 if mode == "selective" else 5 * a * s / h
    if sp:
        return s * b * h * (34 / t + attn / t)
    return s * b * h * (10 + 24 / t + attn / t)


@pytest.mark.parametrize(("t", "sp", "mode"), [
    (1, False, "none"), (4, False, "none"), (8, True, "none"),
    (4, False, "selective"), (8, True, "selective")])
def test_activation_memory_per_layer_matches_korthikanti(t, sp, mode):
    from archsim.plan.stage_costs import saved_activation_bytes

    s, b, h, a = 2048, 2, 12288, 96
    model = ModelSpec(layers=1, hidden=h, heads=a, vocab=51200, dropout=0.1)
    ops = layer_forward(model, Shape(batch=b, seq=s, kv_seq=s, tp=t, sp=sp, flash=False,
                                     dropout=True, dtype="fp16"))
    # the op graph's saved bytes follow §4.1 term by term: Table 2 exactly
    assert saved_activation_bytes(ops, mode) == pytest.approx(
        _korthikanti(s, b, h, a, t, sp, mode), rel=1e-12)


def test_flash_attention_drops_the_s_squared_term():
    s, b, h, a = 2048, 1, 4096, 32
    model = ModelSpec(layers=1, hidden=h, heads=a, vocab=1000, dropout=0.1)
    ops = layer_forward(model, Shape(batch=b, seq=s, kv_seq=s, flash=True, dropout=True))
    assert sum(op.saved_bytes for op in ops) == pytest.approx(34 * s * b * h, rel=1e-12)


def test_megatron_whole_step_flops_match_eq3_within_1_percent():
    """formulas.md eq. 3: 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h)) with full recompute; the
    csv's flops_per_step column is that formula for each row."""
    with open(REFERENCE / "megatron_weak_scaling.csv") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows[:4]:
        B, s, n_layers, h, V = (int(row[k]) for k in ("global_batch", "seq_len", "layers", "hidden",
                                               "vocab"))
        model = ModelSpec(layers=n_layers, hidden=h, heads=int(row["heads"]), vocab=V)
        shape = Shape(batch=1, seq=s, kv_seq=s, flash=False)
        per_seq = 4 * sum(op.flops for op in layer_forward(model, shape) if op.is_matmul) * n_layers
        per_seq += 3 * sum(op.flops for op in head_forward(model, shape) if op.is_matmul)
        assert per_seq * B == pytest.approx(float(row["flops_per_step"]), rel=0.01)
        assert per_seq * B == pytest.approx(96 * B * s * n_layers * h * h
                                            * (1 + s / (6 * h) + V / (16 * n_layers * h)),
                                            rel=1e-9)


def test_embedding_params_include_learned_positions():
    ops = embedding_forward(GPT, Shape(batch=1, seq=8, kv_seq=8, tp=2))
    assert ops[0].params == 32000 * 1024 / 2 + 2048 * 1024


def test_graph_export_has_forward_backward_and_optimizer():
    g = build_graph(GPT, Shape(batch=1, seq=64, kv_seq=64), layers=range(2))
    phases = {a["phase"] for _, a in g.nodes(data=True)}
    assert phases == {"fwd", "bwd", "opt"}
    assert g.has_edge("L0.qkv", "L0.qkv.dgrad")  # saved activations
    import networkx as nx

    assert nx.is_directed_acyclic_graph(g)
    total_params = sum(a["params"] for _, a in g.nodes(data=True))
    expected = 2 * (12 * 1024 * 1024 + 13 * 1024) + (32000 + 2048) * 1024 + 2 * 1024
    assert total_params == expected  # SC21 eq. 2 terms + the final layer norm


def _collectives(ops):
    return [(op.name, op.comm.kind, op.comm.bytes) for op in ops if op.kind == "comm"]


def test_tensor_parallel_embedding_and_head_run_megatrons_f_and_g_once_each():
    """Megatron-LM: the vocab-parallel embedding's output all-reduce (g) is the identity in
    backward, the vocab-parallel logits' input (f) is the identity in forward and all-reduces
    its gradient in backward; the cross-entropy's three fp32 reductions have no backward."""
    b, s, h = 2, 64, 1024
    shape = Shape(batch=b, seq=s, kv_seq=s, tp=2, dtype="bf16")
    embed, head = embedding_forward(GPT, shape), head_forward(GPT, shape)
    assert _collectives(embed) == [("ar_embed", "allreduce", 2 * b * s * h)]
    assert _collectives(backward_ops(embed)) == []
    assert _collectives(head) == [("ar_loss", "allreduce", 3 * 4 * b * s)]
    assert _collectives(backward_ops(head)) == [("logits.dgrad_comm", "allreduce", 2 * b * s * h)]
    # the gradient is all-reduced after the logits' data-gradient GEMM
    names = [op.name for op in backward_ops(head)]
    assert names.index("logits.dgrad_comm") == names.index("logits.dgrad") + 1


def test_sequence_parallel_embedding_and_head_keep_their_conjugates():
    b, s, h = 2, 64, 1024
    shape = Shape(batch=b, seq=s, kv_seq=s, tp=2, sp=True, dtype="bf16")
    embed, head = embedding_forward(GPT, shape), head_forward(GPT, shape)
    assert _collectives(backward_ops(embed)) == [("ar_embed.bwd", "allgather", 2 * b * s * h)]
    # the vocab-parallel logits GEMM re-gathers its sequence-parallel input for its weight
    # gradient, as every column-parallel GEMM under SP does
    assert _collectives(backward_ops(head)) == [("logits.regather", "allgather", 2 * b * s * h),
                                                ("ag_head.bwd", "reducescatter", 2 * b * s * h)]


def test_layer_collectives_are_two_forward_and_two_backward_all_reduces():
    """A tensor-parallel layer without SP: g after attention and MLP forward, f before both in
    backward — four all-reduces of b·s·h elements per micro-batch (Shoeybi et al. 2019, Fig. 4)."""
    b, s, h = 2, 64, 1024
    fwd = layer_forward(GPT, Shape(batch=b, seq=s, kv_seq=s, tp=2, dtype="bf16"))
    both = _collectives(fwd) + _collectives(backward_ops(fwd))
    assert [(kind, nbytes) for _, kind, nbytes in both] == [("allreduce", 2 * b * s * h)] * 4


def test_quantization_keeps_the_output_layer_in_16_bits():
    """FP8 training (Transformer Engine, torchao float8) runs the layers' GEMMs in fp8 and the
    output layer in bf16: a GPT (h 1024, vocab 32000) at 2 × 512 tokens, tp 1. The logits GEMM
    is 2·1024·1024·32000 FLOPs at bf16, reading the bf16 input (2 B × 1024 × 1024), the bf16
    weights (2 B × 1024 × 32000) and writing bf16 logits (2 B × 1024 × 32000); the layers' qkv
    GEMM reads its input and weights at 1 byte (fp8)."""
    tokens, h, v = 1024, GPT.hidden, GPT.vocab
    fp8 = Shape(batch=2, seq=512, kv_seq=512, dtype="bf16", matmul_dtype="fp8",
                weight_dtype="fp8", weight_bytes=1.0)
    logits = ops_by_name(head_forward(GPT, fp8))["logits"]
    assert (logits.dtype, logits.flops) == ("bf16", 2.0 * tokens * h * v)
    assert logits.bytes == 2.0 * (tokens * h + h * v + tokens * v)
    qkv = ops_by_name(layer_forward(GPT, fp8))["qkv"]
    assert qkv.dtype == "fp8"
    assert qkv.bytes == 1.0 * tokens * h + 1.0 * h * 3 * h + 2.0 * tokens * 3 * h
    # inference engines leave it unquantized too (ModelOpt's "*lm_head*" off), weight-only
    # schemes included: no dequantization, 2-byte weights
    infer = replace(fp8, training=False, kv_cache=True)
    assert ops_by_name(head_forward(GPT, infer))["logits"].dtype == "bf16"
    int4 = Shape(batch=1, seq=1, kv_seq=8, dtype="bf16", weight_dtype="int4",
                 weight_bytes=0.5 + 2 / 128, dequant=True, training=False, kv_cache=True)
    head = ops_by_name(head_forward(GPT, int4))["logits"]
    assert (head.vector_flops, head.bytes) == (0.0, 2.0 * (h + h * v + v))
    assert ops_by_name(layer_forward(GPT, int4))["qkv"].vector_flops == 2.0 * h * 3 * h
    # a plan that only sparsifies (2:4: 0.5 × (2 B + 2 bits) per weight, 1.71× faster) leaves
    # the head dense (SparseGPT and Wanda prune the decoder layers' linears only)
    sparse = Shape(batch=1, seq=1, kv_seq=8, dtype="bf16", weight_bytes=1.125,
                   sparse_speedup=1.71, training=False, kv_cache=True)
    head = ops_by_name(head_forward(GPT, sparse))["logits"]
    assert head.bytes == 2.0 * h + 2.0 * h * v + 2.0 * v
    assert head.work_fraction == 1.0
    assert ops_by_name(layer_forward(GPT, sparse))["qkv"].work_fraction == \
        pytest.approx(1 / 1.71)
    # a device without 16-bit GEMMs (an int8-only FPGA) quantizes the head with the rest
    w8a8 = Shape(batch=1, seq=1, kv_seq=8, dtype="bf16", weight_dtype="int8",
                 weight_bytes=1.0, matmul_dtype="int8", training=False, kv_cache=True,
                 quantize_head=True)
    head = ops_by_name(head_forward(GPT, w8a8))["logits"]
    assert (head.dtype, head.bytes) == ("int8", 1.0 * h + 1.0 * h * v + 2.0 * v)


def test_ring_attention_backward_moves_twice_the_forward_bytes():
    """cp = 2: the forward gathers the other rank's K/V; the rank kept only its own, so the
    backward receives them again and sends their gradients back to their owner (Transformer
    Engine's AttnFuncWithCPAndKVP2P.backward: K/V and dK/dV in one buffer), 2× the bytes.
    Both are hidden behind the attention kernels (overlappable)."""
    ops = layer_forward(GPT, Shape(batch=1, seq=2048, kv_seq=4096, cp=2))
    fwd = [op.comm for op in ops if op.kind == "comm" and op.comm.group == "cp"]
    bwd = [(op.name, op.comm) for op in backward_ops(ops)
           if op.kind == "comm" and op.comm.group == "cp"]
    assert [c.kind for c in fwd] == ["allgather"]
    assert [(n, c.kind) for n, c in bwd] == [("L0.cp_kv.bwd_kv", "allgather"),
                                             ("L0.cp_kv.bwd", "reducescatter")]
    assert sum(c.bytes for _, c in bwd) == 2 * fwd[0].bytes
    assert all(c.overlappable for _, c in bwd)
    # a ring of sends between neighbours, not an NCCL collective (costed with one NIC per
    # node-boundary hop: archsim/cost/comm.py neighbour_ring_time)
    assert fwd[0].neighbours_only and all(c.neighbours_only for _, c in bwd)
    # both precede the attention backward, the kernel that hides them (they had followed it
    # and been hidden behind a small elementwise op)
    names = [op.name for op in backward_ops(ops)]
    after = names[names.index("L0.cp_kv.bwd") + 1]
    assert next(op for op in ops if op.name + ".bwd" == after).attention_core


@pytest.mark.parametrize(("t", "sp"), [(4, False), (8, True)])
def test_selective_recompute_brings_back_one_layers_attention_tensors(t, sp):
    """Under selective recomputation the layer whose backward runs holds again what it
    dropped: Korthikanti et al. 2022 Table 2's no-recompute minus selective rows,
    5·a·s²·b/t bytes (softmax output, dropout mask and output). It had counted none."""
    from archsim.plan.opcost import PhaseCost
    from archsim.plan.stage_costs import LayerCost, saved_activation_bytes

    s, b, h, a = 2048, 2, 12288, 96
    model = ModelSpec(layers=1, hidden=h, heads=a, vocab=51200, dropout=0.1)
    ops = layer_forward(model, Shape(batch=b, seq=s, kv_seq=s, tp=t, sp=sp, flash=False,
                                     dropout=True, dtype="fp16"))
    lc = LayerCost(fwd=PhaseCost(), bwd=PhaseCost(), recompute=PhaseCost(), params=0.0,
                   saved=saved_activation_bytes(ops, "selective"),
                   all_saved=saved_activation_bytes(ops, "none"), model_flops=0.0)
    assert lc.working_for("selective") == pytest.approx(5 * a * s * s * b / t, rel=1e-12)
    assert lc.working_for("full") == lc.all_saved and lc.working_for("none") == 0.0
