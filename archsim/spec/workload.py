"""Workload specs: training, static-batch inference and request-level serving."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from archsim.spec.base import StrictModel

ComputeDtype = Literal["fp32", "tf32", "bf16", "fp16", "fp8"]


class TrainingWorkload(StrictModel):
    kind: Literal["training"] = "training"
    seq_len: int = Field(default=2048, ge=1)
    global_batch: int = Field(default=512, ge=1)
    """Sequences per optimizer step."""
    micro_batch: int = Field(default=1, ge=1)
    dtype: ComputeDtype = "bf16"
    optimizer: Literal["adam", "sgd"] = "adam"
    steps: int = Field(default=1, ge=1)
    """Steps reported in energy and cost totals (metrics per step are unaffected)."""


class InferenceWorkload(StrictModel):
    kind: Literal["inference"] = "inference"
    batch: int = Field(default=1, ge=1)
    prompt_len: int = Field(default=512, ge=1)
    gen_len: int = Field(default=128, ge=1)
    dtype: ComputeDtype = "bf16"


class LengthDistribution(StrictModel):
    """Token-length distribution of requests."""

    dist: Literal["fixed", "uniform", "lognormal", "empirical"]
    value: int | None = Field(default=None, ge=1)
    """fixed: the length."""
    low: int | None = Field(default=None, ge=1)
    high: int | None = Field(default=None, ge=1)
    """uniform: inclusive bounds."""
    mean: float | None = Field(default=None, gt=0)
    sigma: float | None = Field(default=None, gt=0)
    """lognormal: mean length and sigma of the underlying normal."""
    file: str | None = None
    """empirical: a CSV/JSONL/text file of observed lengths."""
    max: int | None = Field(default=None, ge=1)


class ArrivalSpec(StrictModel):
    rate_per_s: float | None = Field(default=None, gt=0)
    count: int = Field(default=1000, ge=1)
    process: Literal["poisson", "trace", "uniform"] = "poisson"
    trace_file: str | None = None
    seed: int = 0


class SLOSpec(StrictModel):
    ttft_s: float | None = Field(default=None, gt=0)
    tpot_s: float | None = Field(default=None, gt=0)


class ServingWorkload(StrictModel):
    """Request-level serving with continuous batching."""

    kind: Literal["serving"] = "serving"
    arrival: ArrivalSpec = ArrivalSpec(rate_per_s=1.0)
    prompt_len: int | LengthDistribution = 512
    gen_len: int | LengthDistribution = 128
    slo: SLOSpec = SLOSpec()
    dtype: ComputeDtype = "bf16"
    replicas: int | None = Field(default=None, ge=1)
    router: Literal["round_robin", "least_loaded"] = "round_robin"
    max_num_seqs: int = Field(default=256, ge=1)
    max_batched_tokens: int = Field(default=8192, ge=1)
    block_size: int = Field(default=16, ge=1)
    chunked_prefill: bool = False


Workload = Annotated[TrainingWorkload | InferenceWorkload | ServingWorkload,
                     Field(discriminator="kind")]
