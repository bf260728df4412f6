"""Workload specs: training, static-batch inference and request-level serving."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from archsim.spec.base import StrictModel
from archsim.spec.io import CheckpointSpec, DataSpec

ComputeDtype = Literal["fp32", "tf32", "bf16", "fp16", "fp8"]

# Longest sequence, prompt or output (tokens) accepted: 2**24 = 16.8M, above the longest
# context windows offered (10M); serving and decode work grows with tokens, so a typo such as
# gen_len: 1e12 is refused rather than simulated for days.
MAX_TOKENS = 2**24

# Most requests in one serving run: each is a Python object through the whole simulation
# (measured: 100,000 requests 21 s and 110 MB), so 1,000,000 keeps a run to minutes and about
# 1 GB; the shipped runs use 1,500-10,000.
MAX_REQUESTS = 1_000_000


class TrainingWorkload(StrictModel):
    kind: Literal["training"] = "training"
    seq_len: int = Field(default=2048, ge=1, le=MAX_TOKENS)
    global_batch: int = Field(default=512, ge=1)
    """Sequences per optimizer step."""
    micro_batch: int = Field(default=1, ge=1)
    dtype: ComputeDtype = "bf16"
    optimizer: Literal["adam", "sgd"] = "adam"
    steps: int = Field(default=1, ge=1)
    """Steps in the result's ``totals`` (time, tokens, energy, cost of that many identical
    steps, checkpoint writes not included); metrics per step are unaffected."""
    data: DataSpec | None = None
    """Input pipeline from ``hardware.storage`` (modelled whenever storage is given)."""
    checkpoint: CheckpointSpec | None = None


class InferenceWorkload(StrictModel):
    """Static-batch generation: ``batch`` sequences of ``prompt_len`` tokens, each generating
    ``gen_len`` tokens (the first one by the prefill). ``batch`` is the total over data-parallel
    replicas (like training's global_batch)."""

    kind: Literal["inference"] = "inference"
    cuda_graphs: bool = False
    """Replay each forward pass as a captured graph (vLLM, TensorRT-LLM): kernels cost the
    device's graph_launch_overhead instead of launch_overhead."""
    batch: int = Field(default=1, ge=1)
    prompt_len: int = Field(default=512, ge=1, le=MAX_TOKENS)
    gen_len: int = Field(default=128, ge=1, le=MAX_TOKENS)
    dtype: ComputeDtype = "bf16"


class LengthDistribution(StrictModel):
    """Token-length distribution of requests (samples are clipped to [1, ``max``])."""

    dist: Literal["fixed", "uniform", "lognormal", "empirical"]
    value: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    """fixed: the length."""
    low: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    high: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    """uniform: inclusive bounds."""
    mean: float | None = Field(default=None, gt=0, le=MAX_TOKENS)
    sigma: float | None = Field(default=None, gt=0)
    """lognormal: mean length and sigma of the underlying normal."""
    file: str | None = None
    """empirical: a CSV (column ``length`` or the first column), JSONL (key ``length``) or text
    file (one length per line) of observed lengths, sampled with replacement."""
    max: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    """Longest length drawn (samples above it are clipped); at most MAX_TOKENS either way."""

    @model_validator(mode="after")
    def _fields_for_dist(self) -> LengthDistribution:
        need = {"fixed": ("value",), "uniform": ("low", "high"), "lognormal": ("mean", "sigma"),
                "empirical": ("file",)}[self.dist]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"dist {self.dist} needs {' and '.join(missing)}")
        if self.dist == "uniform" and self.low > self.high:  # type: ignore[operator]
            raise ValueError(f"uniform needs low <= high (got low {self.low}, high {self.high})")
        return self

    @property
    def upper_bound(self) -> int | None:
        """The largest length this distribution can produce (None: unbounded or from a file)."""
        top = {"fixed": self.value, "uniform": self.high}.get(self.dist)
        if top is None:
            return self.max
        return min(top, self.max) if self.max is not None else top


class ArrivalSpec(StrictModel):
    """When requests arrive.

    * ``poisson`` / ``uniform``: an open stream at ``rate_per_s`` (exponential or even gaps).
    * ``trace``: replayed from a trace file (CSV or JSONL with ``arrival_s``, ``prompt_len``,
      ``gen_len`` per request; a given ``rate_per_s`` rescales its times to that mean rate).
    * ``burst``: every request at once, at time 0 — a benchmark at an unbounded request rate
      (trtllm-bench throughput, vLLM's benchmark_throughput, benchmark_serving
      ``--request-rate inf``).
    * ``closed``: ``concurrency`` clients, each sending its next request the moment its last
      one finishes (genai-perf / AIPerf ``--concurrency``, benchmark_serving
      ``--max-concurrency``); no think time.
    """

    rate_per_s: float | None = Field(default=None, gt=0)
    count: int = Field(default=1000, ge=1, le=MAX_REQUESTS)
    process: Literal["poisson", "trace", "uniform", "burst", "closed"] = "poisson"
    trace_file: str | None = None
    concurrency: int | None = Field(default=None, ge=1, le=MAX_REQUESTS)
    """closed: requests in flight at any time (clients)."""
    seed: int = 0

    @model_validator(mode="after")
    def _fields_for_process(self) -> ArrivalSpec:
        if self.process == "trace" and not self.trace_file:
            raise ValueError("process trace needs trace_file (a CSV or JSONL file)")
        if self.process in ("burst", "closed") and self.rate_per_s is not None:
            raise ValueError(f"process {self.process} takes no rate_per_s (got "
                             f"{self.rate_per_s}): its requests arrive {self.sent}; use "
                             "process poisson or uniform for a rate")
        if self.process in ("poisson", "uniform") and self.rate_per_s is None:
            raise ValueError(f"process {self.process} needs rate_per_s (requests per second, "
                             "greater than 0)")
        if self.process != "trace" and self.trace_file:
            raise ValueError(f"trace_file is only used with process trace (got process "
                             f"{self.process})")
        if self.process == "closed" and self.concurrency is None:
            raise ValueError("process closed needs concurrency (requests in flight, at "
                             "least 1)")
        if self.process != "closed" and self.concurrency is not None:
            raise ValueError(f"concurrency is only used with process closed (got process "
                             f"{self.process})")
        return self

    @property
    def sent(self) -> str:
        """When a burst's or a closed loop's requests arrive, in words."""
        return "all at once" if self.process == "burst" else "as earlier ones finish"

    @property
    def is_open(self) -> bool:
        """Whether arrivals come at given times (poisson, uniform, trace), not set by the
        run itself (burst, closed)."""
        return self.process in ("poisson", "uniform", "trace")


class SLOSpec(StrictModel):
    """Service-level objective per request; ``attainment`` is the fraction of requests that must
    meet it for capacity planning (DistServe, Zhong et al. 2024, uses 90%)."""

    ttft_s: float | None = Field(default=None, gt=0)
    tpot_s: float | None = Field(default=None, gt=0)
    attainment: float = Field(default=0.9, gt=0, le=1)


class ServingWorkload(StrictModel):
    """Request-level serving with continuous batching (vLLM-style scheduler per replica)."""

    kind: Literal["serving"] = "serving"
    cuda_graphs: bool = False
    """As for inference: forward passes replayed as captured graphs."""
    arrival: ArrivalSpec = ArrivalSpec(rate_per_s=1.0)
    prompt_len: Annotated[int, Field(ge=1, le=MAX_TOKENS)] | LengthDistribution = 512
    gen_len: Annotated[int, Field(ge=1, le=MAX_TOKENS)] | LengthDistribution = 128
    slo: SLOSpec = SLOSpec()
    dtype: ComputeDtype = "bf16"
    replicas: int | None = Field(default=None, ge=1)
    """Model replicas (each tp·pp devices); default: all devices, count / (tp·pp)."""
    router: Literal["round_robin", "least_loaded"] = "round_robin"
    max_num_seqs: int = Field(default=256, ge=1)
    max_batched_tokens: int = Field(default=8192, ge=1)
    block_size: int = Field(default=16, ge=1)
    """Tokens per paged KV-cache block (vLLM default 16)."""
    chunked_prefill: bool = False
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    """Fraction of device memory for weights, activations and the KV cache (vLLM default 0.9)."""


Workload = Annotated[TrainingWorkload | InferenceWorkload | ServingWorkload,
                     Field(discriminator="kind")]
