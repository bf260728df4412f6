"""Simulate a validation case with a device profile: end to end and op by op (no torch).

End-to-end numbers come from :func:`archsim.simulate` on a one-device scenario (the engine the
users run). Per-op numbers come from the same cost function
(:func:`archsim.cost.compute.compute_time`) applied to the op graph's ops, named as the real
model's profiler ranges are (``L0.qkv``, ``L0.qkv.bwd`` …; summed over layers by
:mod:`archsim.validate.compare`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from archsim.api import simulate
from archsim.cost.compute import compute_time, op_overhead
from archsim.cost.insitu import inference_device
from archsim.graph.backward import backward_of, optimizer_op
from archsim.graph.inference import inference_head, inference_layer, pass_weight_elements
from archsim.graph.ops import Op
from archsim.graph.transformer import Shape, embedding_forward, head_forward, layer_forward
from archsim.spec.device import DeviceSpec
from archsim.spec.model import ModelSpec
from archsim.validate.cases import Case

_BWD_SUFFIXES = (".dgrad2", ".dgrad", ".wgrad", ".bwd")


def scenario_for(case: Case, device: dict[str, Any]) -> dict[str, Any]:
    """The archsim scenario of ``case`` on one device described by the mapping ``device``."""
    if case.mode == "training":
        workload = {"kind": "training", "seq_len": case.seq_len, "global_batch": case.batch,
                    "micro_batch": case.batch, "dtype": case.dtype, "optimizer": "adam"}
    else:
        workload = {"kind": "inference", "batch": case.batch, "prompt_len": case.seq_len,
                    "gen_len": case.gen_len, "dtype": case.dtype}
    return one_device_scenario(case.name, case.spec, workload, device)


def one_device_scenario(name: str, spec: ModelSpec, workload: dict[str, Any],
                        device: dict[str, Any]) -> dict[str, Any]:
    """A model run eagerly on one device (the mapping ``device``), as the validation harness
    runs it: fused attention, no recomputation."""
    return {"name": name,
            "model": spec.model_dump(mode="json", exclude_none=True),
            "hardware": {"device": device, "count": 1},
            "workload": workload,
            "plan": {"flash_attention": True, "recompute": "none"}}


def simulate_case(case: Case, device: dict[str, Any]) -> dict[str, float]:
    """Predicted metrics of ``case`` (the keys :class:`archsim.validate.runner.Measured` has)."""
    return simulate_case_with_error_bar(case, device)[0]


def simulate_case_with_error_bar(case: Case, device: dict[str, Any]
                                 ) -> tuple[dict[str, float], dict[str, Any] | None]:
    """Predicted metrics and the error bar archsim states for them: ``{"intervals": {metric:
    [low, high]}, "in_range": bool, "out_of_range": [...]}``, or None for a profile without
    calibrated runs (archsim/accuracy.py)."""
    result = simulate(scenario_for(case, device)).to_dict()
    return _metrics(case, result), _error_bar(result)


def _error_bar(result: dict[str, Any]) -> dict[str, Any] | None:
    u = result.get("uncertainty") or {}
    if not u.get("intervals"):
        return None
    return {"intervals": {k: list(v) for k, v in u["intervals"].items()
                          if k in ("step_time_s", "ttft_s", "tpot_s", "e2e_latency_s")},
            "in_range": bool(u.get("in_range")), "out_of_range": list(u.get("out_of_range", []))}


def _metrics(case: Case, result: dict[str, Any]) -> dict[str, float]:
    if not result["feasible"]:
        raise ValueError(f"{case.name} is infeasible on the profile: "
                         f"{'; '.join(result['infeasible_reasons'])}")
    if case.mode == "training":
        return {"step_time_s": result["step_time_s"]}
    out = {"ttft_s": result["ttft_s"], "e2e_latency_s": result["e2e_latency_s"]}
    if case.gen_len > 1:
        out["tpot_s"] = result["tpot_s"]
    return out


def forward_label(name: str) -> str:
    """The forward op (profiler range) a backward op of the graph belongs to."""
    for suffix in _BWD_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _time_by_name(ops: list[Op], device: DeviceSpec, out: dict[str, float],
                  suffix: str = "", kernel_only: bool = False) -> None:
    for op in ops:
        if op.kind != "comm":
            fixed = op_overhead(op, device) if kernel_only else 0.0
            out[forward_label(op.name) + suffix] += compute_time(op, device) - fixed


def predicted_ops(case: Case, device: DeviceSpec, *, kernel_only: bool = False
                  ) -> dict[str, dict[str, float]]:
    """Seconds per op name, per phase (``step`` for training; ``prefill``, ``decode``).

    ``kernel_only`` leaves out the fixed cost per kernel (launch and dispatch), as a GPU
    profile's kernel times do: the host's dispatch runs ahead of them, not inside them."""
    model = case.spec
    if case.mode == "training":
        shape = Shape(batch=case.batch, seq=case.seq_len, kv_seq=case.seq_len,
                      dtype=case.dtype, flash=True, causal=not model.encoder,
                      dropout=model.dropout > 0, training=True)
        fwd = embedding_forward(model, shape)
        for i in range(model.layers):
            fwd += layer_forward(model, shape, i)
        fwd += head_forward(model, shape)
        step: dict[str, float] = defaultdict(float)
        _time_by_name(fwd, device, step, kernel_only=kernel_only)
        for op in fwd:
            _time_by_name(backward_of(op), device, step, ".bwd", kernel_only=kernel_only)
        # one micro-batch, .grad set to None: autograd keeps the backward's gradients as they
        # are, no accumulation pass (archsim/plan/training.py accumulation_passes)
        params = sum(op.params for op in fwd)
        _time_by_name([optimizer_op(params, "adam", case.dtype)], device, step,
                      kernel_only=kernel_only)
        return {"step": dict(step)}
    # inference's in-situ kernel costs, at the weight bytes one pass of this model streams
    device = inference_device(device, pass_weight_bytes(model, case.dtype))
    out = {}
    for phase, q, kv in (("prefill", case.seq_len, case.seq_len),
                         ("decode", 1, case.seq_len + 1)):
        times: dict[str, float] = defaultdict(float)
        _time_by_name(inference_pass_ops(model, case.batch, q, kv, case.dtype), device, times,
                      kernel_only=kernel_only)
        out[phase] = dict(times)
    return out


def pass_weight_bytes(model: ModelSpec, dtype: str) -> float:
    """Weight bytes one forward pass of the model streams on one device
    (:func:`archsim.graph.inference.pass_weight_elements`)."""
    from archsim.spec.units import BYTES_PER_ELEMENT

    base = Shape(batch=1, seq=1, kv_seq=1, dtype=dtype, training=False, kv_cache=True)
    return pass_weight_elements(model, base) * BYTES_PER_ELEMENT[dtype]


def inference_pass_ops(model: ModelSpec, batch: int, q: int, kv: int, dtype: str
                       ) -> list[Op]:
    """The ops of one forward of ``q`` new tokens per sequence attending to ``kv`` on one
    device: the linear ops see batch·q tokens as one sequence, attention sees (batch, q, kv),
    the head the last positions (as archsim.plan.inference prices them)."""
    from dataclasses import replace

    base = Shape(batch=1, seq=1, kv_seq=1, dtype=dtype, flash=True,
                 causal=not model.encoder, training=False, kv_cache=True)
    tokens = replace(base, batch=1, seq=batch * q, kv_seq=batch * q)
    attn = replace(base, batch=batch, seq=q, kv_seq=kv)
    ops = list(embedding_forward(model, tokens))
    for i in range(model.layers):
        ops += [op for op in inference_layer(model, tokens, i) if not op.attention_core]
        ops += [op for op in inference_layer(model, attn, i) if op.attention_core]
    return ops + list(inference_head(model, replace(base, batch=batch, seq=1, kv_seq=1)))
