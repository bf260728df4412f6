"""Compression plan → what changes in the simulated run.

Quantization (Dettmers et al. 2022 LLM.int8(); Xiao et al. 2023 SmoothQuant W8A8; Frantar et
al. 2023 GPTQ / Lin et al. 2024 AWQ weight-only int4; Micikevicius et al. 2022 FP8):
* weight-only (weights narrower than the 16-bit activations): weights are stored and read at
  their width plus one ``scale_dtype`` scale per ``group_size`` weights; GEMMs run at the 16-bit
  peak and pay the dequantization (2 vector FLOPs per weight: scale and convert).
* W8A8 / FP8 (activations quantized too): GEMMs run at the device's int8 / fp8 peak, which the
  device must have (else ``fallback``, which it must have too, or infeasible); GEMM activation
  inputs are 1 byte, and weights wider than the activations are stored at their width
  (quantized offline). Inference that falls back keeps the narrow stored weights and converts
  them for each GEMM.
* FP8 training: fp8 GEMMs, 16-bit weights and gradients, fp32 master weights and Adam moments,
  plus an fp8 copy of the weights (Transformer Engine keeps one): 17 bytes per parameter.
  Training that falls back is the workload's own 16-bit training, the same run as without
  compression (a fallback of another width is a reason it cannot run).
Sparsity (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks", NVIDIA 2:4):
* 2:4 keeps half the weights plus 2 bits of position metadata each; weight GEMMs in the
  forward pass run ``sparsity.achieved_speedup`` (device profile) times faster, labelled
  UNVERIFIED where the profile's source says it is assumed from another device; needs the
  device's sparse tensor cores for the GEMM dtype.
* unstructured at ratio r: no device in hardware_profiles/ has unstructured-sparse GEMM
  kernels, so the weights are held dense with their zeros and memory, compute and GEMM traffic
  stay dense; the result says so, with the size a compressed file (values + ``index_bits``
  column indices) would have on disk.
Structured pruning removes heads, FFN width or layers: a smaller model, simulated as such, with
a warning past the deepest published pruning (``PUBLISHED_MAX_PRUNED_SHARE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archsim.spec.device import DeviceSpec
from archsim.spec.errors import plural
from archsim.spec.model import ModelSpec
from archsim.spec.plan import CompressionPlan, PruningPlan
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import BYTES_PER_ELEMENT

SIXTEEN_BIT = ("bf16", "fp16")
# 2:4 metadata: a 2-bit position per kept weight (NVIDIA Ampere sparse tensor cores)
TWO_FOUR_METADATA_BYTES = 2 / 8
# The deepest published structured pruning of an LLM that kept useful quality: Sheared-LLaMA
# (Xia et al. 2023, arXiv:2310.06694) prunes Llama-2-7B (6,738,415,616 parameters) to 1.3B
# (its Hugging Face config: 24 layers, hidden 2048, ffn 5504, vocab 32000, untied: 1,345,423,360
# parameters) and recovers with 50B tokens of continued pre-training; Minitron (Muralidharan et
# al. 2024, arXiv:2407.14679) prunes Nemotron-4 15B to 4B, about 73%. Past this share a pruned
# model is beyond published evidence.
PUBLISHED_MAX_PRUNED_SHARE = 1 - 1_345_423_360 / 6_738_415_616


@dataclass(frozen=True)
class Compression:
    """Effects of a compression plan on one scenario (identity when there is no plan)."""

    model: ModelSpec
    weight_dtype: str | None = None
    weight_bytes: float | None = None
    """Bytes per weight element that GEMMs read (stored width + scales / sparse metadata)."""
    weight_storage_bytes: float | None = None
    """Bytes per weight element held in memory."""
    matmul_dtype: str | None = None
    kv_dtype: str | None = None
    kv_bytes: float | None = None
    """Bytes per KV-cache element with its scales (None: the KV dtype's width)."""
    sparse_speedup: float = 1.0
    dequant: bool = False
    fp8_training: bool = False
    ends_unquantized: bool = False
    """The plan quantizes, and the embedding and the output layer stay in the workload's dtype
    (archsim/graph/transformer.py ``unquantized``)."""
    notes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    shape_fields: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.shape_fields) or self.fp8_training


def prune_model(model: ModelSpec, pruning: PruningPlan) -> ModelSpec:
    """The model left after removing the given fractions of heads, FFN width and layers.

    Grouped-query attention loses query heads evenly from every key/value group (the count
    stays a multiple of kv_heads, every group keeps at least one); multi-head attention, whose
    groups are one query head each, loses whole heads with their keys and values. head_dim and
    hidden size are kept.
    """
    update: dict = {}
    if pruning.heads:
        kv = model.n_kv_heads
        if kv == model.heads:  # MHA: a head and its K/V go together
            kept = max(1, round(model.heads * (1 - pruning.heads)))
            update.update(heads=kept, head_dim=model.d_head, kv_heads=kept)
        else:
            per_group = max(1, round(model.heads * (1 - pruning.heads) / kv))
            update.update(heads=per_group * kv, head_dim=model.d_head, kv_heads=kv)
    if pruning.ffn:
        update["ffn_hidden"] = max(1, round(model.ffn * (1 - pruning.ffn)))
        if model.moe is not None and model.moe.expert_ffn_hidden:
            moe = model.moe.model_copy(update={"expert_ffn_hidden": max(
                1, round(model.moe.expert_ffn_hidden * (1 - pruning.ffn)))})
            update["moe"] = moe
    if pruning.layers:
        update["layers"] = max(1, round(model.layers * (1 - pruning.layers)))
    if not update:
        return model
    update["name"] = f"{model.name}-pruned"
    return ModelSpec.model_validate({**model.model_dump(), **update})


def resolve_compression(sc: ScenarioSpec, device: DeviceSpec | None = None, *,
                        inference: bool | None = None) -> Compression:
    """What ``sc.compression`` changes, with notes and reasons it cannot run on the device.

    ``inference`` applies inference's rules (True) or training's (False) instead of the ones
    of the scenario's workload kind: a distillation teacher's forward pass is quantized as an
    inference model is, inside a training job (archsim/metrics/distill.py).
    """
    plan = sc.compression
    if plan is None:
        return Compression(model=sc.model)
    device = device if device is not None else sc.cluster.pools[0].device
    training = sc.workload.kind == "training" if inference is None else not inference
    base = sc.workload.dtype
    notes: list[str] = []
    reasons: list[str] = []
    warnings: list[str] = []
    shape: dict = {}
    model = prune_model(sc.model, plan.pruning) if plan.pruning else sc.model
    if model is not sc.model:
        notes.append(f"structured pruning: {sc.model.name} → {plural(model.layers, 'layer')}, "
                     f"{plural(model.heads, 'head')}, ffn {model.ffn}")
        removed = 1 - _param_estimate(model) / _param_estimate(sc.model)
        if removed > PUBLISHED_MAX_PRUNED_SHARE:
            warnings.append(f"structured pruning removes {removed:.1%} of {sc.model.name}'s "
                            f"parameters, beyond the {PUBLISHED_MAX_PRUNED_SHARE:.1%} of the "
                            "deepest published pruning known to keep useful quality "
                            "(Sheared-LLaMA-1.3B from Llama-2-7B, after 50B tokens of "
                            "continued pre-training); archsim simulates its speed, not its "
                            "quality")

    w = plan.weight_dtype or base
    a = plan.activation_dtype or base
    wb, ab, eb = BYTES_PER_ELEMENT[w], BYTES_PER_ELEMENT[a], BYTES_PER_ELEMENT[base]
    matmul = base
    fp8_training = dequant = False
    if ab < eb:  # activations quantized: GEMMs at the int8 / fp8 peak
        matmul = a
        if a == "int4" and not training:
            # round-to-nearest W4A4 loses most of an LLM's accuracy; rotations that spread the
            # activation outliers recover it (Ashkboos et al. 2024, QuaRot, arXiv:2404.00456)
            notes.append("4-bit activations: the model's accuracy depends on how the "
                         "activation outliers are handled (rotations such as QuaRot's); archsim "
                         "simulates speed and memory, not model quality")
        if wb > ab:
            # Activations narrower than the weights: the weights are narrowed too. Inference
            # stores them so (W8A8 / FP8 as TensorRT-LLM SmoothQuant and FP8, vLLM's W8A8
            # checkpoints and llama.cpp's Q8_0 ship them: quantized once, offline, then held
            # and read at 1 byte); quantizing 16-bit weights on the fly would hold and read 2
            # bytes each and still pay the conversion, which no such engine does. Training
            # keeps its 16-bit weights and casts them each step (Transformer Engine's fp8 copy,
            # counted by FP8 training below).
            if training:
                notes.append(f"weights cast to {a} each step for {a} GEMMs")
            else:
                scheme = "W8A8" if a == "int8" else a.upper()
                given = f"weight_dtype {plan.weight_dtype}" if plan.weight_dtype else \
                    "no weight_dtype"
                notes.append(f"weights stored in {a} too ({scheme}; activation_dtype {a} with "
                             f"{given}: the linear layers' weights quantized once, "
                             f"offline, and held at {ab:g} byte each, as TensorRT-LLM, vLLM "
                             "and llama.cpp load them)")
            w, wb = a, ab
        dequant = wb < ab  # e.g. W4A8
    elif wb < eb:
        dequant = True  # weight-only quantization: 16-bit GEMMs, dequantized weights
    if training:
        if (w, a) == ("fp8", "fp8"):
            fp8_training = True
            notes.append("FP8 training: fp8 GEMMs, 16-bit weights and gradients, fp32 master "
                         "weights and moments, plus an fp8 copy of the layers' weights (the "
                         "embedding and the output layer stay 16-bit)")
        elif wb < eb or ab < eb:
            reasons.append(f"compression {w} weights / {a} activations is an inference "
                           "technique; training supports 16-bit or fp8/fp8 (FP8 training)")
        if plan.kv_cache_dtype:
            notes.append("kv_cache_dtype has no effect on training")
    if not _supports(device, matmul):
        if plan.fallback and training:
            # the workload's own mixed-precision training after all: weights stored, read and
            # multiplied in its dtype, no fp8 GEMMs and no fp8 weight copy, the same run as
            # without compression (archsim.accuracy.weight_dtype reads it so too). Keeping the
            # fp8 weight width had read 1-byte weights in bf16 GEMMs, a step faster than bf16.
            notes = [n for n in notes
                     if not n.startswith(("FP8 training:", "weights cast to"))]
            fp8_training = dequant = False
            if BYTES_PER_ELEMENT[plan.fallback] != eb:
                reasons.append(f"compression.fallback {plan.fallback}: training without "
                               f"{matmul} falls back to the workload's {base} training; set "
                               f"compression.fallback: {base}")
            notes.append(f"{device.name} has no {matmul} tensor cores: computing in {base} "
                         f"(compression.fallback: {plan.fallback}), the same training run as "
                         "without compression")
            w, wb, matmul = base, eb, base
        elif plan.fallback and not _supports(device, plan.fallback):
            # a fallback the device lacks as well: nothing to compute in (it had run at the
            # 16-bit peak with 1-byte GEMM inputs and no conversion, saying "computing in fp8")
            lacks = (f"no {matmul} support, the dtype the plan falls back from"
                     if plan.fallback == matmul else
                     f"no {matmul} support and no {plan.fallback} support either")
            reasons.append(f"compression.fallback {plan.fallback}: device {device.name} has "
                           f"{lacks} (its dtypes: {', '.join(device.peak)}); set "
                           f"compression.fallback: {base}")
        elif plan.fallback:
            notes.append(f"{device.name} has no {matmul} tensor cores: computing in "
                         f"{plan.fallback} (compression.fallback)")
            matmul = plan.fallback
            # inference keeps its narrower stored weights and converts them for each GEMM
            dequant = wb < BYTES_PER_ELEMENT[matmul]
        else:
            reasons.append(f"device {device.name} has no {matmul} support (its dtypes: "
                           f"{', '.join(device.peak)}); set compression.fallback (e.g. "
                           f"{base}) to run in another dtype")
    # group-wise scales belong to weight-only schemes (GPTQ/AWQ); W8A8 and FP8 use per-channel
    # or per-tensor scales, whose bytes are negligible
    scales = BYTES_PER_ELEMENT[plan.scale_dtype] / plan.group_size if dequant else 0.0
    read_bytes = storage = wb + scales
    if scales and storage >= eb:
        warnings.append(f"{w} weights with a {plan.scale_dtype} scale per {plan.group_size} "
                        f"take {storage:.4g} B each, no fewer than {base}'s {eb:g} B: "
                        "compression.group_size is too small to compress")

    speedup = 1.0
    if plan.sparsity is not None:
        sp = plan.sparsity
        if sp.pattern == "2:4":
            caps = device.sparsity
            if caps is None or caps.pattern != "2:4" or matmul not in caps.dtypes:
                have = (f"2:4 for {', '.join(caps.dtypes)}" if caps is not None
                        else "no structured sparsity")
                reasons.append(f"device {device.name} has {have}; a 2:4 plan needs sparse "
                               f"tensor cores for {matmul}")
            else:
                speedup = caps.achieved_speedup
                notes.append(f"2:4 sparsity: forward weight GEMMs {speedup:g}× faster "
                             f"({device.name} profile: achieved_speedup"
                             f"{_borrowed(caps.source, device.name)})")
            read_bytes = storage = 0.5 * (wb + TWO_FOUR_METADATA_BYTES) + scales
        else:
            # Held dense, zeros and all: the GEMMs (cuBLAS, TensorRT-LLM, vLLM) multiply dense
            # weights, and a compressed copy in memory would need a kernel that reads it
            # (Flash-LLM's load-as-sparse, Xia et al. 2023) or a dense copy made before each
            # GEMM, neither modelled. Memory had counted the compressed size while the GEMMs
            # read dense weights that were never held.
            sparse = (1 - sp.ratio) * (wb + sp.index_bits / 8)
            smaller = (f"a compressed file ({sparse + scales:.3g} B per weight) is smaller on "
                       "disk, not in device memory" if sparse < wb else
                       f"a compressed format ({sparse:.3g} B per weight) would not be smaller")
            notes.append(f"unstructured sparsity {sp.ratio:g}: weights held dense with their "
                         f"zeros; memory, compute and GEMM traffic as dense ({device.name} "
                         f"has no unstructured-sparse kernels; {smaller})")

    kv = plan.kv_cache_dtype
    if plan.distill is not None:
        student = ModelSpec.model_validate(plan.distill.student)
        if _param_estimate(student) > _param_estimate(sc.model):
            warnings.append(f"the student {student.name} is larger than its teacher "
                            f"{sc.model.name}")
    if w != base or wb < eb:
        shape["weight_dtype"] = w
    if read_bytes != eb:
        shape["weight_bytes"] = read_bytes
    if matmul != base:
        shape["matmul_dtype"] = matmul
    if speedup != 1.0:
        shape["sparse_speedup"] = speedup
    if dequant:
        shape["dequant"] = True
    kv_bytes = None
    if kv and not training:
        shape["kv_dtype"] = kv
        if kv == "int4":
            # A 4-bit KV cache is quantized per head and token, asymmetric: an fp16 scale and
            # zero point for each head_dim elements (LMDeploy's kv int4; QServe's KV4 is per
            # head too); int8/fp8 caches take one per-tensor scale (TensorRT-LLM, vLLM)
            kv_bytes = BYTES_PER_ELEMENT["int4"] + 2 * 2.0 / model.d_head
            shape["kv_element_bytes"] = kv_bytes
            notes.append(f"int4 KV cache: {kv_bytes:.4g} B per element, an fp16 scale and "
                         f"zero point per head and token ({model.d_head} elements) beside "
                         "the 4-bit values")
    ends_unquantized = False
    quantizes = "weight_dtype" in shape or "matmul_dtype" in shape
    if quantizes:
        ends_unquantized = _supports(device, base)
        if not ends_unquantized:
            # no 16-bit GEMMs to leave the output layer in (an int8-only FPGA): quantized too
            shape["quantize_head"] = True
            notes.append(f"the embedding and the output layer are quantized too ({device.name} "
                         f"has no {base} GEMMs)")
        else:
            notes.append(f"the embedding and the output layer stay {base} (ModelOpt, AWQ, GPTQ "
                         "and Transformer Engine leave them unquantized)")
    elif storage != eb or read_bytes != eb or speedup != 1.0:
        # sparsity alone: pruning methods leave the embedding table and the output layer
        # dense (Frantar & Alistarh 2023, SparseGPT, and Sun et al. 2023, Wanda: "all linear
        # layers except the first embedding layer and the final classification head")
        ends_unquantized = True
        notes.append("the embedding and the output layer stay dense (SparseGPT and Wanda prune "
                     "only the decoder layers' linears)")
    return Compression(model=model, weight_dtype=w, weight_bytes=read_bytes,
                       weight_storage_bytes=storage, matmul_dtype=matmul, kv_dtype=kv,
                       kv_bytes=kv_bytes,
                       sparse_speedup=speedup, dequant=dequant, fp8_training=fp8_training,
                       ends_unquantized=ends_unquantized,
                       notes=tuple(notes), reasons=tuple(reasons), warnings=tuple(warnings),
                       shape_fields=shape)


def _borrowed(source: str, device: str) -> str:
    """``, UNVERIFIED for <device>: <source>`` when the profile's sparsity source says its
    speedup was measured on another device and assumed here (or says UNVERIFIED), else ''."""
    text = source.lower()
    if "unverified" in text or "assumed" in text:
        return f", UNVERIFIED for {device}: {source}"
    return ""


def _supports(device: DeviceSpec, dtype: str) -> bool:
    if device.supports(dtype):
        return True
    aliases = {"bf16": "fp16", "fp16": "bf16", "fp32": "tf32", "tf32": "fp32"}
    return dtype in aliases and device.supports(aliases[dtype])


def _param_estimate(model: ModelSpec) -> float:
    """Parameters of a model (layers, embeddings), for comparing student and teacher."""
    h, f = model.hidden, model.ffn
    attn = h * (model.q_width + 2 * model.kv_width) + model.q_width * h
    mats = 3 if model.mlp == "swiglu" else 2
    mlp = mats * h * f * (model.moe.experts if model.moe else 1)
    emb = model.vocab * h * (1 if model.tied_embeddings else 2)
    return model.layers * (attn + mlp) + emb


def without_compression(sc: ScenarioSpec) -> ScenarioSpec:
    return sc.model_copy(update={"compression": None})


def has_effect(plan: CompressionPlan | None) -> bool:
    return plan is not None and any(
        getattr(plan, k) is not None for k in ("weight_dtype", "activation_dtype",
                                               "kv_cache_dtype", "sparsity", "pruning",
                                               "distill"))
