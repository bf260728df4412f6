"""Memory of model states and activations per device.

Model states for mixed-precision training (reference/formulas.md; Rajbhandari et al. 2020):
per parameter, 16-bit weights (2 B), 16-bit gradients (2 B) and Adam's fp32 master weight,
momentum and variance (12 B). ZeRO-1 shards the optimizer states over the data-parallel group,
ZeRO-2 also the gradients, ZeRO-3 also the weights. SGD with momentum keeps 8 B of fp32 state.
Training in fp32 keeps no separate master copy (the weights are fp32): 4 + 4 + 8 B with Adam.
MoE expert parameters are sharded over the expert-data-parallel group (dp·cp/ep ranks), the
only ranks that hold the same experts. ZeRO-3 also holds the units it has gathered in full
(:func:`with_zero3_working_set`).
Activation memory per stage is read off the simulated schedule (micro-batches alive at once ×
bytes each); :func:`korthikanti_layer_bytes` is the closed formula that tests compare with.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.spec.units import BYTES_PER_ELEMENT, keeps_master_copy

# fp32 master weight + momentum + variance (Adam); fp32 master + momentum (SGD)
OPTIMIZER_BYTES_PER_PARAM = {"adam": 12.0, "sgd": 8.0}
FP32_MASTER = 4.0  # the master copy, which fp32 training does not need


@dataclass(frozen=True, slots=True)
class ModelStates:
    weights: float
    gradients: float
    optimizer_states: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer_states


def model_state_bytes(params: float, dtype: str, optimizer: str, zero: int, shard: int,
                      training: bool = True, expert_params: float = 0.0,
                      expert_shard: int = 1, grad_bytes: float | None = None) -> ModelStates:
    """Bytes of weights, gradients and optimizer states on one device holding ``params``
    (already divided by tensor/pipeline/expert parallelism), sharded over ``shard`` ranks per
    ZeRO.

    ``expert_params`` of the ``params`` are MoE expert weights: they are replicated only over
    the expert-data-parallel group, so ZeRO shards their states over ``expert_shard`` ranks
    (dp·cp/ep) instead (Megatron-LM's distributed optimizer and DeepSpeed-MoE shard expert
    states over the expert-data-parallel group). ``grad_bytes``: bytes per parameter of the
    gradient buffers (default the training dtype's; archsim/cost/gradients.py)."""
    e = BYTES_PER_ELEMENT[dtype]
    if not training:
        return ModelStates(weights=e * params, gradients=0.0, optimizer_states=0.0)
    opt = OPTIMIZER_BYTES_PER_PARAM[optimizer] - (0.0 if keeps_master_copy(dtype)
                                                  else FP32_MASTER)

    def sharded(bytes_per_param: float, from_stage: int) -> float:
        if zero < from_stage:
            return bytes_per_param * params
        return sharded_bytes(bytes_per_param, params, shard, expert_params, expert_shard)

    return ModelStates(weights=sharded(e, 3),
                       gradients=sharded(e if grad_bytes is None else grad_bytes, 2),
                       optimizer_states=sharded(opt, 1))


def sharded_bytes(bytes_per_param: float, params: float, shard: int,
                  expert_params: float = 0.0, expert_shard: int = 1) -> float:
    """One rank's share of ``bytes_per_param`` × ``params`` sharded ZeRO-style: the dense
    parameters over ``shard`` (dp·cp) ranks, the ``expert_params`` among them over
    ``expert_shard`` (the expert-data-parallel dp·cp/ep ranks)."""
    return (bytes_per_param * (params - expert_params) / shard
            + bytes_per_param * expert_params / expert_shard)


def with_fp8_weight_copy(states: ModelStates, params: float, end_params: float, zero: int,
                         shard: int, expert_params: float = 0.0,
                         expert_shard: int = 1) -> ModelStates:
    """``states`` plus Transformer Engine's 1-byte fp8 copy of the layers' weights in FP8
    training, sharded like the weights under ZeRO-3; the ``end_params`` among ``params`` (the
    embedding's and the head's) stay 16-bit and have none."""
    layers = params - end_params
    copy = (sharded_bytes(1.0, layers, shard, expert_params, expert_shard) if zero >= 3
            else layers)
    return ModelStates(states.weights + copy, states.gradients, states.optimizer_states)


def with_zero3_working_set(states: ModelStates, unit_params: float, weight_bytes: float,
                           grad_bytes: float, prefetch: int) -> ModelStates:
    """``states`` plus what ZeRO-3 / FSDP holds in full beside a rank's shards: the gathered
    parameters of the unit computing and of the ``prefetch`` units gathered ahead of it, and
    the unsharded gradients of one unit until its reduce-scatter has run.

    A unit is what one all-gather fetches (``plan.zero3_granularity``): a transformer layer,
    the embedding or the head as FSDP wraps them, or one weight tensor as DeepSpeed ZeRO-3
    fetches them; ``unit_params`` is the largest on the stage (already divided by tensor and
    expert parallelism). FSDP's flat parameter is gathered into its own buffer and freed
    after use (PyTorch FSDP ``FlatParamHandle.unshard`` / ``reshard``), and its backward
    prefetch and rate limiter keep one more gathered (Zhao et al. 2023, "PyTorch FSDP":
    backward prefetching, the rate limiter). ``grad_bytes``: per parameter of the reduced
    gradient (archsim/cost/gradients.py)."""
    held = (1 + max(0, prefetch)) * unit_params * weight_bytes
    return ModelStates(states.weights + held, states.gradients + unit_params * grad_bytes,
                       states.optimizer_states)


def korthikanti_layer_bytes(s: int, b: int, h: int, a: int, t: int = 1, sp: bool = False,
                            recompute: str = "none", flash: bool = False) -> float:
    """Activation bytes of one GPT layer per Korthikanti et al. 2022, Table 2 (formulas.md)."""
    attn = 0.0 if flash else 5.0 * a * s / h
    if recompute == "full":
        return 2.0 * s * b * h / (t if sp else 1)
    if recompute == "selective":
        attn = 0.0
    if sp:
        return s * b * h * (34.0 / t + attn / t)
    return s * b * h * (10.0 + 24.0 / t + attn / t)
