"""Run a validation case for real on the local device and time it.

Training: one step = zero the gradient buffers, forward with the loss, backward (gradients
accumulate into the buffers), one fused AdamW step (``torch.optim.AdamW(fused=True)``: one
kernel per step over all parameters). Inference: a
prefill of the prompt that samples the first token, then ``gen_len − 1`` decode steps, each
feeding the last token back through the KV cache (greedy sampling).

Each case is timed without the profiler (warm-up, then the median of repeats of wall-clock
time), then run ``PROFILE_RUNS`` more times under torch.profiler for its per-op times (the
median per op; :mod:`archsim.validate.op_profile`).

Needs torch: the functions import it when called.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from archsim.validate.cases import Case
from archsim.validate.measure import (
    CONTENDED_CORES,
    Timing,
    busy_snapshot,
    others_cores,
    synchronize,
    time_callable,
)

ATTEMPTS = 3
"""Timed repeats of an inference case are taken again (at most this often) when other
processes were busy meanwhile (see archsim.validate.measure.time_callable)."""
PROFILE_RUNS = 3
"""Profiled runs per phase; each op's time is the median over them."""


@dataclass
class Measured:
    """What a real run of a case took (seconds)."""

    case: Case
    metrics: dict[str, float]
    """training: step_time_s; inference: ttft_s, tpot_s, e2e_latency_s."""
    spread: dict[str, float]
    """Interquartile range / median of each metric's repeats."""
    ops: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per-op profiler times: phase ("step", "prefill", "decode") → op name → seconds."""
    params: int = 0
    repeats: int = 0
    contention: float = 0.0
    """CPU cores other processes kept busy while the timed repeats ran."""


def run_case(case: Case, device: str, *, repeats: int = 5, warmup: int = 2,
             profile_ops: bool = True) -> Measured:
    """Build the case's model, run it on ``device`` and time it."""
    if case.mode == "training":
        return _run_training(case, device, repeats, warmup, profile_ops)
    return _run_inference(case, device, repeats, warmup, profile_ops)


def _run_training(case: Case, device: str, repeats: int, warmup: int,
                  profile_ops: bool) -> Measured:
    import torch

    from archsim.validate.torch_model import (
        build_model,
        count_parameters,
        random_targets,
        random_tokens,
    )

    model = build_model(case.spec, device, case.dtype)
    model.train()
    fused = device in ("cpu", "cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
    tokens = random_tokens(case.spec, case.batch, case.seq_len, device)
    targets = random_targets(model, case.batch, case.seq_len, device)

    def step() -> None:
        # gradients set to None (PyTorch's default): the backward's gradients become .grad
        # without an accumulation pass, as archsim's native mode assumes at one micro-batch
        opt.zero_grad(set_to_none=True)
        loss = model(tokens, targets)
        loss.backward()
        opt.step()

    timing = time_callable(step, device, warmup=warmup, repeats=repeats)
    ops = {"step": _profiled(step, model, device)} if profile_ops else {}
    return Measured(case=case, metrics={"step_time_s": timing.median_s},
                    spread={"step_time_s": timing.spread}, ops=ops,
                    params=count_parameters(model), repeats=len(timing.samples),
                    contention=timing.contention)


def _run_inference(case: Case, device: str, repeats: int, warmup: int,
                   profile_ops: bool) -> Measured:
    import torch

    from archsim.validate.torch_model import build_model, count_parameters, random_tokens

    model = build_model(case.spec, device, case.dtype)
    model.eval()
    prompt = random_tokens(case.spec, case.batch, case.seq_len, device)
    cache = model.new_cache(case.batch, case.seq_len + case.gen_len)

    def generate() -> tuple[float, list[float]]:
        cache.length = 0
        synchronize(device)
        t0 = time.perf_counter()
        token = model.next_token(prompt, cache)
        synchronize(device)
        ttft = time.perf_counter() - t0
        steps = []
        for _ in range(case.gen_len - 1):
            t0 = time.perf_counter()
            token = model.next_token(token, cache)
            synchronize(device)
            steps.append(time.perf_counter() - t0)
        return ttft, steps

    with torch.inference_mode():
        for _ in range(warmup):
            generate()
        best: tuple[float, list, list, list] | None = None
        for _ in range(ATTEMPTS if device == "cpu" else 1):  # see time_callable
            before = busy_snapshot()
            ttfts, tpots, e2es = [], [], []
            for _ in range(repeats):
                ttft, steps = generate()
                ttfts.append(ttft)
                tpots.append(statistics.fmean(steps) if steps else 0.0)
                e2es.append(ttft + sum(steps))
            others = others_cores(before, busy_snapshot())
            if best is None or others < best[0]:
                best = (others, ttfts, tpots, e2es)
            if others <= CONTENDED_CORES:
                break
        contention, ttfts, tpots, e2es = best
        ops: dict[str, dict[str, float]] = {}
        if profile_ops:
            def prefill() -> None:
                cache.length = 0
                model.next_token(prompt, cache)

            last = prompt[:, -1:]

            def decode() -> None:
                cache.length = case.seq_len
                model.next_token(last, cache)

            ops["prefill"] = _profiled(prefill, model, device)
            ops["decode"] = _profiled(decode, model, device)
    metrics = {"ttft_s": statistics.median(ttfts), "e2e_latency_s": statistics.median(e2es)}
    spread = {"ttft_s": _spread(ttfts), "e2e_latency_s": _spread(e2es)}
    if case.gen_len > 1:
        metrics["tpot_s"] = statistics.median(tpots)
        spread["tpot_s"] = _spread(tpots)
    return Measured(case=case, metrics=metrics, spread=spread, ops=ops,
                    params=count_parameters(model), repeats=repeats,
                    contention=round(contention, 3))


def _profiled(fn, model, device: str) -> dict[str, float]:
    """Median per op over PROFILE_RUNS profiled runs (an op missing from a run counts 0)."""
    from archsim.validate.op_profile import profile_call

    runs = [profile_call(fn, model, device, warmup=1 if i == 0 else 0)
            for i in range(PROFILE_RUNS)]
    names = set().union(*runs)
    return {n: statistics.median(r.get(n, 0.0) for r in runs) for n in names}


def _spread(values: list[float]) -> float:
    return Timing(samples=tuple(values), warmup=0).spread
