"""Set-up of an inference replica: parallel degrees and why a model does not split over them,
the layer split over pipeline stages, dtypes (workload and compression plan), comm groups."""

from __future__ import annotations

from dataclasses import dataclass

from archsim.cost.comm import CommGroup, group_in_pool
from archsim.spec.device import DeviceSpec
from archsim.spec.hardware import PoolSpec
from archsim.spec.model import ModelSpec
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import BYTES_PER_ELEMENT


@dataclass(frozen=True)
class Degrees:
    """Parallel degrees of one model replica (dp: replicas that split the batch)."""

    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.dp


def degree_reasons(model: ModelSpec, deg: Degrees, layers_per_stage: list[int] | None
                   ) -> list[str]:
    """Why the model does not split over ``deg`` (empty when it does)."""
    reasons = []
    if model.heads % deg.tp:
        reasons.append(f"heads {model.heads} are not divisible by tp {deg.tp}")
    kv = model.n_kv_heads
    if kv % deg.tp and deg.tp % kv:
        reasons.append(f"kv_heads {kv} and tp {deg.tp}: one must divide the other")
    if model.ffn % deg.tp:
        reasons.append(f"ffn_hidden {model.ffn} is not divisible by tp {deg.tp}")
    expert_ffn = model.moe.expert_ffn_hidden if model.moe is not None else None
    if expert_ffn is not None and expert_ffn % deg.tp:
        reasons.append(f"moe.expert_ffn_hidden {expert_ffn} is not divisible by tp {deg.tp}")
    if model.moe is not None:
        if model.moe.experts % deg.ep:
            reasons.append(f"experts {model.moe.experts} are not divisible by ep {deg.ep}")
        if deg.dp % deg.ep:
            reasons.append(f"ep {deg.ep} must divide dp {deg.dp} (expert-parallel ranks are "
                           "data-parallel ranks, as in training)")
    elif deg.ep > 1:
        reasons.append(f"ep {deg.ep} > 1 needs an MoE model (model has no moe block)")
    if layers_per_stage is not None:
        if len(layers_per_stage) != deg.pp:
            reasons.append(f"layers_per_stage has {len(layers_per_stage)} entries for pp "
                           f"{deg.pp}")
        elif sum(layers_per_stage) != model.layers or min(layers_per_stage) < 1:
            reasons.append(f"layers_per_stage {layers_per_stage} must be ≥ 1 each and sum to "
                           f"the model's {model.layers} layers")
    elif model.layers % deg.pp:
        reasons.append(f"layers {model.layers} are not divisible by pp {deg.pp}")
    return reasons


def split_layers(model: ModelSpec, pp: int, layers_per_stage: list[int] | None
                 ) -> list[tuple[int, ...]]:
    counts = layers_per_stage or [model.layers // pp] * pp
    out, nxt = [], 0
    for n in counts:
        out.append(tuple(range(nxt, nxt + n)))
        nxt += n
    return out


@dataclass(frozen=True)
class Precision:
    """Dtypes and per-element bytes of one run (from the workload and the compression plan)."""

    model: ModelSpec
    shape_fields: dict
    weight_bytes: float
    """Bytes per stored weight element (quantization scales / sparse metadata included)."""
    kv_bytes: float
    notes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    base_bytes: float | None = None
    """Bytes per element of the weights quantization leaves in the workload's dtype (the
    embedding and the output layer: archsim/graph/transformer.py ``unquantized``); None: as
    ``weight_bytes``."""

    @property
    def end_bytes(self) -> float:
        """Bytes per stored element of the embedding and output-layer weights."""
        return self.base_bytes if self.base_bytes is not None else self.weight_bytes


def resolve_precision(sc: ScenarioSpec, device: DeviceSpec) -> Precision:
    """Weights / KV-cache dtypes and the compression plan's effect on the op graph."""
    dtype = sc.workload.dtype
    e = BYTES_PER_ELEMENT[dtype]
    notes = run_notes(sc, device)
    if sc.compression is None:
        return Precision(model=sc.model, shape_fields={}, weight_bytes=e, kv_bytes=e,
                         notes=notes)
    from archsim.plan.compress import resolve_compression

    comp = resolve_compression(sc, device)
    fields = dict(comp.shape_fields)
    storage = comp.weight_storage_bytes if comp.weight_storage_bytes is not None else e
    kv = comp.kv_bytes if comp.kv_bytes is not None else \
        BYTES_PER_ELEMENT[comp.kv_dtype] if comp.kv_dtype else e
    return Precision(model=comp.model, shape_fields=fields, weight_bytes=storage, kv_bytes=kv,
                     notes=tuple(comp.notes) + notes, reasons=comp.reasons,
                     base_bytes=e if comp.ends_unquantized else None)


def run_notes(sc: ScenarioSpec, device: DeviceSpec) -> tuple[str, ...]:
    """What an inference or serving run does differently from what the scenario says: a
    training-time MoE capacity factor it does not apply, a 16-bit format the device computes
    in its other 16-bit format."""
    notes = []
    moe = sc.model.moe
    if moe is not None and moe.capacity_factor != 1.0:
        notes.append(f"model.moe.capacity_factor {moe.capacity_factor:g} is a training "
                     "setting: inference engines (vLLM fused_moe, SGLang, TensorRT-LLM) route "
                     "every token to its top_k experts without a capacity, so none is applied")
    if sc.workload.dtype == "bf16" and not device.supports("bf16") and device.supports("fp16"):
        notes.append(f"{device.name} has no bf16: computing in fp16 at its fp16 peak")
    note = fp8_rate_note(sc, device)
    if note:
        notes.append(note)
    return tuple(notes)


def fp8_rate_note(sc: ScenarioSpec, device: DeviceSpec) -> str | None:
    """fp8 GEMMs on a device whose fp8 peak is its bf16 peak (Gaudi 3, Inferentia2, TPU v5p in
    hardware.csv): fp8 halves the bytes the GEMMs move, not their compute time."""
    comp = sc.compression
    fp8 = sc.workload.dtype == "fp8" or (comp is not None and comp.activation_dtype == "fp8")
    peak = device.peak
    if not fp8 or "fp8" not in peak or peak.get("fp8") != peak.get("bf16"):
        return None
    return (f"{device.name}'s fp8 peak equals its bf16 peak (hardware.csv): fp8 halves the bytes "
            "its GEMMs move, not their compute time")


def dtype_reasons(device: DeviceSpec, dtype: str, sc: ScenarioSpec | None = None
                  ) -> list[str]:
    """Why ``device`` cannot compute in ``dtype``. With a scenario whose compression plan moves
    the GEMMs to another dtype (W8A8, FP8), that plan's own check applies instead
    (archsim.plan.compress), so an int8-only device can run a W8A8 model."""
    if sc is not None and sc.compression is not None:
        from archsim.plan.compress import resolve_compression

        matmul = resolve_compression(sc, device).matmul_dtype
        if matmul and matmul != dtype:
            return []
    if device.supports(dtype) or (dtype == "bf16" and device.supports("fp16")) or \
            (dtype == "fp32" and device.supports("tf32")):
        return []
    return [f"device {device.name} has no {dtype} support (its dtypes: "
            f"{', '.join(device.peak)})"]


def comm_groups(pool: PoolSpec, deg: Degrees) -> dict[str, CommGroup]:
    """Tensor-parallel ranks innermost, expert-parallel ranks stride tp (Megatron order)."""
    one = CommGroup(size=1, per_node=1, intra=None, inter=None, nic_bandwidth=0.0)
    return {"tp": group_in_pool(pool, deg.tp, 1), "ep": group_in_pool(pool, deg.ep, deg.tp),
            "cp": one, "dp": group_in_pool(pool, deg.dp, deg.tp)}
