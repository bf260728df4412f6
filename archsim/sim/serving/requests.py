"""The request stream of a serving run: arrival times and prompt / output lengths.

Arrivals are Poisson (exponential gaps) or evenly spaced at ``rate_per_s``, all at time 0
(``burst``), released by the run as earlier requests finish (``closed``: every request is
generated here at time 0 and archsim/sim/serving/engine.py sets its arrival), or replayed from a
trace file: CSV with a header, or JSON Lines, one request per row with ``arrival_s``,
``prompt_len`` and ``gen_len`` (aliases: ``timestamp``/``arrival_time``,
``input_len``/``prompt_tokens``, ``output_len``/``output_tokens``). Lengths are fixed numbers
or drawn from a distribution (fixed, uniform, lognormal, or empirical from a file of observed
lengths). The files are read by archsim/spec/datafiles.py. Everything is drawn from one seeded
generator, so a run repeats; a drawn length is clipped to [1, ``max``] and never exceeds
``MAX_TOKENS`` (a lognormal's far tail would otherwise overflow the integer it is stored in).

Raises SpecError naming the field, the file and the line for missing, empty or malformed files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from archsim.spec.datafiles import read_lengths, read_trace, resolve_data_file
from archsim.spec.workload import MAX_TOKENS, LengthDistribution, ServingWorkload

__all__ = ["Request", "generate_requests", "read_lengths", "read_trace", "resolve_data_file",
           "sample_lengths"]


@dataclass(slots=True, eq=False)
class Request:
    """One request and its progress through a serving run (mutated by the scheduler)."""

    rid: int
    arrival_s: float
    prompt_len: int
    gen_len: int
    # --- scheduler state
    target: int = 0
    """Tokens to (re)compute in prefill: the prompt, or prompt + output after a preemption."""
    done: int = 0
    """Tokens of ``target`` prefilled so far (chunked prefill)."""
    blocks: int = 0
    """KV-cache blocks held while prefilling / waiting for decode."""
    generated: int = 0
    join: int = 0
    """Replica decode round at which the request joined decoding, its cache length then, and
    tokens generated then (all later values follow from the round counter)."""
    ctx0: int = 0
    gen0: int = 0
    tag: int = 0
    """Bumped when preempted, so stale completion entries are ignored."""
    # --- measurements
    first_scheduled_s: float = -1.0
    first_token_s: float = -1.0
    last_token_s: float = -1.0
    """When its latest output token was emitted (the gap to its next one is an inter-token
    latency)."""
    first_decode_s: float = -1.0
    """When its second token was emitted (by a decode round, or by the recompute of a request
    preempted before one): in disaggregated serving, the first token a client streaming from
    the decode pool receives (vLLM's disaggregation proxy), after the KV transfer."""
    finish_s: float = -1.0
    preemptions: int = 0
    replica: int = -1
    engine: int = 0
    """Virtual engine of its replica that runs it (pipeline-parallel replicas; else 0)."""


def sample_lengths(spec: int | LengthDistribution, n: int, rng: np.random.Generator,
                   field: str) -> np.ndarray:
    """``n`` lengths from ``spec`` (clipped to [1, spec.max])."""
    if isinstance(spec, int):
        return np.full(n, spec, dtype=np.int64)
    top = min(spec.max, MAX_TOKENS) if spec.max is not None else MAX_TOKENS
    if spec.dist == "fixed":
        out = np.full(n, spec.value, dtype=np.int64)
    elif spec.dist == "uniform":
        out = rng.integers(spec.low, spec.high + 1, size=n)  # type: ignore[operator]
    elif spec.dist == "lognormal":
        assert spec.mean is not None and spec.sigma is not None
        mu = math.log(spec.mean) - spec.sigma ** 2 / 2  # so that E[length] = mean
        with np.errstate(over="ignore"):  # an infinite draw is clipped to ``top`` below
            drawn = rng.lognormal(mu, spec.sigma, size=n)
        out = np.rint(np.clip(drawn, 1, top)).astype(np.int64)
    else:
        assert spec.file is not None
        out = rng.choice(read_lengths(spec.file, f"{field}.file"), size=n)
    return np.clip(out, 1, top)


def generate_requests(wl: ServingWorkload) -> list[Request]:
    """The workload's requests in arrival order (seeded: the same every run)."""
    arr = wl.arrival
    rng = np.random.default_rng(arr.seed)
    if arr.process == "trace":
        assert arr.trace_file is not None
        rows = read_trace(arr.trace_file)
        if "count" in arr.model_fields_set:
            rows = rows[: arr.count]
        times = np.array([r[0] for r in rows])
        if arr.rate_per_s is not None and len(rows) > 1 and times[-1] > times[0]:
            mean_rate = (len(rows) - 1) / (times[-1] - times[0])
            times = times[0] + (times - times[0]) * mean_rate / arr.rate_per_s
        return [Request(rid=i, arrival_s=float(t), prompt_len=p, gen_len=g)
                for i, (t, (_, p, g)) in enumerate(zip(times, rows, strict=True))]
    n = arr.count
    if arr.process in ("burst", "closed"):
        times = np.zeros(n)
    elif arr.process == "poisson":
        assert arr.rate_per_s is not None
        times = np.cumsum(rng.exponential(1.0 / arr.rate_per_s, size=n))
    else:
        assert arr.rate_per_s is not None
        times = np.arange(n) / arr.rate_per_s
    prompts = sample_lengths(wl.prompt_len, n, rng, "workload.prompt_len")
    gens = sample_lengths(wl.gen_len, n, rng, "workload.gen_len")
    return [Request(rid=i, arrival_s=float(times[i]), prompt_len=int(prompts[i]),
                    gen_len=int(gens[i])) for i in range(n)]
