"""Serving result: request-level latency percentiles, throughput, SLO attainment, cost.

Metric definitions (per request r; percentiles over requests, linear interpolation):

* ``ttft`` = time its first token is sampled − arrival (queueing + prefill; in disaggregated
  serving, at the end of the prefill on the prefill pool, DistServe's definition);
  ``ttft_decode_pool_p50/p99_s`` (disaggregated only) = the end of the first decode round that
  includes it − arrival: the first token a client streaming from the decode pool receives
  (vLLM's disaggregation proxy), after the KV transfer and a decode slot.
* ``tpot`` = (finish − first token) / (gen_len − 1), the mean gap between its output tokens
  (requests of one output token have none).
* ``itl`` (inter-token latency) = each gap between two consecutive output tokens of a
  request, over every token after the first (percentiles weighted by token, the inverted CDF;
  ``itl_mean_s`` their mean): the decode rounds' spacing, the stalls of a prefill-first engine
  running a new prompt and a preempted request's wait for its recompute included — what
  TPOT, one mean per request, averages away (archsim/sim/serving/scheduler.py records them).
* ``queueing`` = start of its first prefill iteration − arrival; ``e2e`` = finish − arrival.
* ``lengths``: the mean and longest prompt and output the stream drew (a lognormal clipped
  by its ``max`` averages less than its ``mean``; ``notes`` says so).
* ``requests_per_s``, ``tokens_per_s`` (output), ``input_tokens_per_s``: measured in the
  steady state — from one p99 end-to-end latency after the first arrival (the system has
  filled) to the last arrival, leaving out the empty start and the draining tail (an
  overloaded deployment: while requests wait, from once its batch has filled until the last
  one is scheduled; archsim/metrics/serving_window.py; ``steady_state`` gives the window). A
  ``burst`` (every request at time 0) is measured over the whole run — total output tokens /
  duration, as trtllm-bench and benchmark_throughput report (``steady_state.burst``); a
  closed loop's window ends at its last send, so its draining tail is left out as
  genai-perf's measurement window leaves it out; ``steady_state.ttft_mean_s`` /
  ``tpot_mean_s`` / ``e2e_mean_s`` are the means over the requests that arrived in the
  window. A closed loop's latency statistics
  (TTFT, TPOT, end-to-end and queueing means and percentiles, SLO attainment) are its steady
  state's too (``steady_state.latencies_in_window``): its first ``concurrency`` requests,
  sent together, queue behind one another's prefills as no later request does — the warm-up
  genai-perf's stability windows leave out. A closed loop's window holds at least
  ``closed_min_sends`` sends (serving_window.py); a shorter loop is measured over the whole
  run, its latencies those after its first wave; it is never overloaded and offers no rate
  of its own (``offered_requests_per_s`` null). ITL percentiles stay over the run.
  ``duration_s`` =
  last completion − first arrival; ``completed_per_s_whole_run`` = completed / duration_s.
* ``slo_attainment``: fraction of requests with ttft ≤ slo.ttft_s and tpot ≤ slo.tpot_s (the
  objectives that are set; unfinished requests miss); ``goodput_rps`` = requests meeting the
  SLO per second in the steady state (DistServe's goodput); ``meets_slo``: attainment ≥
  slo.attainment.
* ``cost_per_million_tokens_usd`` = ``cost_per_hour_usd`` (devices × price per device-hour)
  / (3600 × steady-state output tokens/s) × 10⁶ — the one definition of serving price, used
  by ``archsim capacity`` and every report table.
* ``load_over_time``: requests waiting for their first prefill, requests in flight and the
  share of the KV cache their tokens hold, sampled over the run.
* ``ttft_s`` / ``tpot_s`` / ``e2e_latency_s``: the means (the contract's inference keys).
* ``energy_joules``: every device at TDP while its pipeline stage runs its part of an
  iteration, idle power otherwise, over the run; ``cost_usd``: devices × price × run time
  (``duration_s``: from the first arrival to the last completion, start-up and tail
  included); ``energy_per_token_j`` = energy_joules /
  output tokens of the run.
* per group: ``busy_fraction`` = time a replica has a batch in flight / run time (mean over
  its replicas); ``stage_utilization[s]`` = time stage s computes / run time (sends
  excluded); ``virtual_engines`` = batches a replica keeps in flight (its pp).

Pipeline-parallel replicas keep pp batches in flight (archsim/sim/serving/virtual.py), so a
request's TPOT is at least one traversal of every stage and send, while the replica's token
rate is set by its slowest stage.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from archsim.metrics.common import base_result, cost_usd, energy_joules, infeasible_result
from archsim.metrics.serving_window import (
    Stamps,
    cost_per_million,
    deployment_price_per_hour,
    load_series,
    steady_state,
)
from archsim.plan.kv_path import KvPath
from archsim.plan.opcost import COMM_KINDS
from archsim.plan.serving import ReplicaGroup, resolve_serving_layout
from archsim.result import Result
from archsim.sim.serving.engine import Instance, ServingRun, run_serving
from archsim.sim.serving.requests import Request, generate_requests
from archsim.sim.serving.scheduler import (
    WATERMARK_FRACTION,
    ReplicaScheduler,
    SchedulerConfig,
)
from archsim.sim.serving.virtual import VirtualEngines
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.workload import LengthDistribution, ServingWorkload

SERVING_KEYS = ("ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p90_s",
                "tpot_p99_s", "requests_per_s", "slo_attainment", "goodput_rps",
                "tokens_per_s")


def simulate_serving(sc: ScenarioSpec, trace: bool = False) -> Result:
    """Simulate ``sc`` (workload.kind serving); infeasible set-ups come back as results.

    Raises SpecError for bad input files (traces, length files) and bad placements.
    """
    wall0 = time.perf_counter()
    wl = sc.workload
    assert isinstance(wl, ServingWorkload)
    requests = generate_requests(wl)
    layout, reasons = resolve_serving_layout(sc)
    if layout is not None:
        reasons += request_reasons(requests, layout.groups, wl, sc.model.max_seq_len)
    if layout is None or reasons:
        result = infeasible_result(sc, "serving", reasons, wall0)
        result.data.update({k: None for k in SERVING_KEYS})
        return result
    run = simulate_layout(layout.groups, requests, wl, trace=trace,
                          link=layout.link if layout.disaggregated else None)
    out = serving_metrics(run, wl, layout.groups)
    result = base_result(sc, "serving")
    result["model"] = layout.groups[0].plan.model.name  # a pruned model's derived name
    result.update(out)
    result["sim"] = {"events": run.events, "wall_s": 0.0, "engine": "des"}
    if layout.disaggregated:
        assert layout.colocated is not None
        colo_requests = generate_requests(wl)
        colo_reasons = layout.colocated_reasons + request_reasons(
            colo_requests, layout.colocated, wl, sc.model.max_seq_len)
        colo = simulate_layout(layout.colocated, colo_requests, wl, trace=False)
        colocated = serving_metrics(colo, wl, layout.colocated)
        result["colocated"] = {k: colocated[k] for k in (
            *SERVING_KEYS, "ttft_mean_s", "tpot_mean_s", "queueing_p50_s", "queueing_p99_s",
            "requests", "replicas", "preemptions", "completed", "cost_usd",
            "cost_per_million_tokens_usd", "energy_joules", "meets_slo", "slo", "devices")}
        # the comparison stands beside a colocated set-up that may not hold every request
        result["colocated"]["infeasible_reasons"] = colo_reasons + [
            r for r in colocated["infeasible_reasons"] if r not in colo_reasons]
        result["colocated"]["feasible"] = not result["colocated"]["infeasible_reasons"]
        result["colocated"]["groups"] = colocated["groups"]
        result["comparison"] = _compare(out, colocated)
        result["sim"]["events"] += colo.events
    result["sim"]["wall_s"] = time.perf_counter() - wall0
    return Result(result, spans=run.spans)


def request_reasons(requests: list[Request], groups: list[ReplicaGroup], wl: ServingWorkload,
                    max_seq_len: int) -> list[str]:
    """Requests that can never be served: too long for the model, the batch or the cache."""
    reasons = []
    total = np.array([r.prompt_len + r.gen_len for r in requests])
    prompts = np.array([r.prompt_len for r in requests])
    too_long = total > max_seq_len
    if too_long.any():
        i = int(np.argmax(total))
        reasons.append(f"{int(too_long.sum())} of {len(requests)} requests are longer than the "
                       f"model's max_seq_len {max_seq_len} (longest: prompt "
                       f"{requests[i].prompt_len} + output {requests[i].gen_len} = "
                       f"{int(total[i])} tokens); cap the lengths (e.g. the distribution's max)")
    if not wl.chunked_prefill and prompts.max() > wl.max_batched_tokens:
        reasons.append(f"a prompt of {int(prompts.max())} tokens exceeds max_batched_tokens "
                       f"{wl.max_batched_tokens} without chunked prefill (vLLM rejects it); "
                       "raise max_batched_tokens or set chunked_prefill: true")
    bs = wl.block_size
    for g in groups:
        # a decoding request's cache ends at prompt + output − 1 tokens; a prefill replica
        # holds the prompt until it is sent
        longest = int(prompts.max()) if g.placement.role == "prefill" else int(total.max()) - 1
        need = -(-longest // bs)
        if 0 < g.kv_blocks < need:
            tokens = g.kv_blocks * bs
            reasons.append(
                f"pool {g.placement.pool.name}: the KV cache holds {g.kv_blocks} blocks of {bs} "
                f"tokens ({tokens} tokens per replica, {g.memory['kv_cache'] / 2**30:.2f} GiB "
                f"per device) but the largest request needs {need} blocks ({longest} tokens)")
            continue
        # a request is admitted (its whole prompt, or with chunked prefill its first chunk)
        # only with the watermark left free (vLLM's AllocStatus NEVER: total − needed <
        # watermark): one that needs more waits forever, and the queue behind it
        watermark = int(WATERMARK_FRACTION * g.kv_blocks)
        first = int(prompts.max())
        if wl.chunked_prefill:
            first = min(first, wl.max_batched_tokens)
        first_need = -(-first // bs)
        if g.kv_blocks > 0 and g.kv_blocks - first_need < watermark:
            what = (f"a first prefill chunk of {first} tokens" if first < int(prompts.max())
                    else f"a prompt of {first} tokens")
            reasons.append(
                f"pool {g.placement.pool.name}: {what} needs {first_need} of the KV cache's "
                f"{g.kv_blocks} blocks, and a request is admitted only with {watermark} blocks "
                "(1%) left free (vLLM's watermark): it can never start; give the cache more "
                "memory" + ("" if wl.chunked_prefill else " or set chunked_prefill: true"))
    return reasons


def simulate_layout(groups: list[ReplicaGroup], requests: list[Request], wl: ServingWorkload,
                    trace: bool = False, link: KvPath | None = None) -> ServingRun:
    """Run ``requests`` on the replica groups (disaggregated when ``link`` is given)."""
    instances: dict[str, list[Instance]] = {"both": [], "prefill": [], "decode": []}
    for g in groups:
        cfg = SchedulerConfig(max_num_seqs=wl.max_num_seqs,
                              max_batched_tokens=wl.max_batched_tokens,
                              block_size=wl.block_size, chunked_prefill=wl.chunked_prefill,
                              total_blocks=g.kv_blocks)
        role, pp = g.placement.role, g.placement.pp
        for _ in range(g.placement.replicas):
            n = len(instances[role])
            name = f"{g.placement.pool.name} {role if role != 'both' else 'replica'} {n}"
            busy = [0.0] * pp
            if pp == 1:
                inst = Instance(sched=ReplicaScheduler(n, cfg, role=role),
                                cost=iteration_cost_fn(g, busy), name=name, stage_busy_s=busy)
            else:  # pp virtual engines keep pp batches in flight
                inst = Instance(sched=VirtualEngines(n, cfg, pp, role=role), cost=None,
                                name=name, stage_busy_s=busy, stages=stage_times_fn(g))
            instances[role].append(inst)
    if link is None:
        return run_serving(requests, instances["both"], wl.router, trace=trace,
                           concurrency=wl.arrival.concurrency)
    prefill_group = next(g for g in groups if g.placement.role == "prefill")
    run = run_serving(requests, instances["prefill"], wl.router, decode=instances["decode"],
                      transfer=_transfer_fn(prefill_group, link), trace=trace,
                      concurrency=wl.arrival.concurrency, kv_queues=(
                          link.sender.queue_key, link.receiver.queue_key))
    assert run.transfers is not None
    run.transfers.link, run.transfers.bandwidth = link.name, link.bandwidth
    run.transfers.limited_by = link.limited_by
    return run


def iteration_cost_fn(g: ReplicaGroup, stage_busy: list[float]):
    """An iteration's seconds on a replica of ``g``, adding each stage's time to
    ``stage_busy``."""
    forward = g.plan.forward_s
    return lambda b: forward(b.tokens, b.pairs, b.n_decode, b.sum_kv, b.n_out, stage_busy)


def stage_times_fn(g: ReplicaGroup):
    """A batch → (each stage's seconds, each stage boundary's send seconds) on a replica of
    ``g``: the same cost tables as :func:`iteration_cost_fn`, split by stage."""
    plan, pp = g.plan, g.placement.pp

    def stage_times(b) -> tuple[list[float], list[float]]:
        times = [0.0] * pp
        plan.forward_s(b.tokens, b.pairs, b.n_decode, b.sum_kv, b.n_out, times)
        return times, plan.p2p_boundaries_s(b.tokens)

    return stage_times


def _transfer_fn(pre: ReplicaGroup, path: KvPath):
    """Seconds and bytes to move a prompt's KV cache between the pools: the whole model's K and
    V of the prompt, at the path's bandwidth (archsim/plan/kv_path.py)."""
    model = pre.plan.model
    per_token = 2.0 * model.layers * model.n_kv_heads * model.d_head * \
        pre.plan.precision.kv_bytes
    bandwidth, latency = path.bandwidth, path.latency

    def transfer(r: Request) -> tuple[float, float]:
        nbytes = per_token * r.target
        return latency + nbytes / bandwidth, nbytes

    return transfer


def is_burst(wl: ServingWorkload) -> bool:
    """Every request arrives at time 0: a burst, or a closed loop with a client per request."""
    arrival = wl.arrival
    return arrival.process == "burst" or (
        arrival.process == "closed" and (arrival.concurrency or 0) >= arrival.count)


def _in_window(steady, arrival: np.ndarray, done: np.ndarray) -> np.ndarray:
    """The finished requests that arrived in the steady-state window (all finished ones for a
    whole-run window, or when none did)."""
    inside = done & (arrival >= steady.start_s) & (arrival <= steady.end_s)
    return done if steady.whole_run or not inside.any() else inside


def _closed_counted(steady, arrival: np.ndarray, done: np.ndarray, clients: int | None
                    ) -> np.ndarray:
    """The finished requests a closed loop's latency statistics are over: those sent in its
    window; without one, those after its first wave (the ``clients`` sent at time 0), when
    there are any."""
    if not steady.whole_run:
        return _in_window(steady, arrival, done)
    later = done & (np.arange(done.size) >= (clients or 0))
    return later if later.any() else done


def _window_means(inside: np.ndarray, arrival: np.ndarray, first: np.ndarray,
                  finish: np.ndarray, gen: np.ndarray) -> dict[str, float | None]:
    """Mean TTFT, TPOT and end-to-end latency of the finished requests ``inside`` (those that
    arrived in the steady-state window; all of them for a whole-run window, or after a
    closed loop's first wave): what a benchmark that measures after a warm-up reports — a
    closed loop's first ``concurrency`` requests, all sent at time 0, queue behind one another
    as later ones never do."""
    multi = inside & (gen > 1)
    return {"ttft_mean_s": _mean((first - arrival)[inside]),
            "tpot_mean_s": _mean((finish - first)[multi] / (gen[multi] - 1)),
            "e2e_mean_s": _mean((finish - arrival)[inside])}


def _pct(values: np.ndarray, p: float) -> float | None:
    return float(np.percentile(values, p)) if values.size else None


def serving_metrics(run: ServingRun, wl: ServingWorkload, groups: list[ReplicaGroup]
                    ) -> dict[str, Any]:
    reqs = run.requests
    n = len(reqs)
    arrival = np.array([r.arrival_s for r in reqs])
    first = np.array([r.first_token_s for r in reqs])
    finish = np.array([r.finish_s for r in reqs])
    start = np.array([r.first_scheduled_s for r in reqs])
    prompt = np.array([r.prompt_len for r in reqs])
    gen = np.array([r.gen_len for r in reqs])
    done = finish >= 0
    end = float(finish[done].max()) if done.any() else run.end_s
    duration = max(end - float(arrival.min()), 1e-12)

    slo = wl.slo
    ok = done.copy()
    if slo.ttft_s is not None:
        ok &= (first - arrival) <= slo.ttft_s
    if slo.tpot_s is not None:
        per = np.where(gen > 1, (finish - first) / np.maximum(gen - 1, 1), 0.0)
        ok &= per <= slo.tpot_s
    has_slo = slo.ttft_s is not None or slo.tpot_s is not None

    scheds = [i.sched for i in run.instances]
    iterations = sum(s.iterations for s in scheds)
    replicas = len(scheds)
    stamps = Stamps(arrival[done], np.where(start >= 0, start, np.inf)[done], first[done],
                    finish[done], prompt[done], gen[done], ok[done])
    closed = wl.arrival.process == "closed" and not is_burst(wl)
    clients = wl.arrival.concurrency if closed else None
    steady = steady_state(stamps, arrival, end, clients)
    # a closed loop's latencies are its steady state's: its first requests, sent together,
    # queue behind one another as no later one does (a benchmark's warm-up); without a
    # window, those after the first wave's
    counted = _closed_counted(steady, arrival, done, clients) if closed else done
    ttft = (first - arrival)[counted]
    multi = counted & (gen > 1)
    tpot = ((finish - first)[multi] / (gen[multi] - 1))
    e2e = (finish - arrival)[counted]
    queue = np.maximum(start - arrival, 0.0)[counted]  # ≥ 0 up to the clock's rounding
    # attainment over the requests sent on that basis (finished or not: an unfinished one
    # misses)
    if counted is done:
        sent = np.ones(n, dtype=bool)
    elif steady.whole_run:
        sent = np.arange(n) >= (clients or 0)
    else:
        sent = (arrival >= steady.start_s) & (arrival <= steady.end_s)
    attainment = float(ok[sent].mean()) if has_slo else None
    out: dict[str, Any] = {
        "feasible": True, "infeasible_reasons": [],
        "requests": n, "completed": int(done.sum()), "replicas": replicas,
        "devices": sum(g.devices for g in groups),
        "step_time_s": None, "mfu": None, "hfu": None, "tflops_per_device": None,
        "ttft_s": _mean(ttft), "tpot_s": _mean(tpot), "e2e_latency_s": _mean(e2e),
        "ttft_mean_s": _mean(ttft), "tpot_mean_s": _mean(tpot),
        "queueing_mean_s": _mean(queue), "duration_s": duration,
        "requests_per_s": steady.requests_per_s,
        # a closed loop offers what it is served (its clients wait for their answers)
        "offered_requests_per_s": (wl.arrival.rate_per_s if wl.arrival.rate_per_s is not None
                                   else None if not wl.arrival.is_open
                                   else (n - 1) / float(arrival.max() - arrival.min())
                                   if n > 1 and arrival.max() > arrival.min() else None),
        "tokens_per_s": steady.tokens_per_s,
        "input_tokens_per_s": steady.input_tokens_per_s,
        "steady_state": {**steady.to_dict(), "burst": is_burst(wl),
                         "latencies_in_window": closed and not steady.whole_run,
                         **_window_means(counted if closed else _in_window(steady, arrival,
                                                                           done),
                                         arrival, first, finish, gen)},
        "completed_per_s_whole_run": int(done.sum()) / duration,
        "slo": {"ttft_s": slo.ttft_s, "tpot_s": slo.tpot_s, "attainment": slo.attainment},
        "slo_attainment": attainment,
        "goodput_rps": None if attainment is None else steady.goodput_rps,
        "meets_slo": None if attainment is None else attainment >= slo.attainment,
        "preemptions": sum(s.preemptions for s in scheds),
        "iterations": iterations,
        "mean_decode_batch": (sum(s.decode_tokens for s in scheds) /
                              max(1, sum(s.clock for s in scheds))),
    }
    for name, values in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e), ("queueing", queue)):
        for p in (50, 90, 99):
            out[f"{name}_p{p}_s"] = _pct(values, p)
    if run.transfers is not None:  # disaggregated: the first token the decode pool streams
        multi_done = counted & (gen > 1)  # on the basis of the other TTFTs
        via = np.array([r.first_decode_s for r in reqs])[multi_done] - arrival[multi_done]
        for p in (50, 99):
            out[f"ttft_decode_pool_p{p}_s"] = _pct(via, p)
    gaps, weights = _itl_samples(scheds)
    out["itl_mean_s"] = (float(np.dot(gaps, weights) / weights.sum()) if weights.size
                         else None)
    for p in (50, 90, 99):
        out[f"itl_p{p}_s"] = _weighted_pct(gaps, weights, p)
    out["lengths"] = {"prompt": _length_stats(prompt), "gen": _length_stats(gen)}
    notes = [note for field, spec, drawn in (("prompt_len", wl.prompt_len, prompt),
                                             ("gen_len", wl.gen_len, gen))
             if (note := _clipped_mean_note(field, spec, drawn)) is not None]
    if notes:
        out["notes"] = notes
    if not done.all():
        out["feasible"] = False
        out["infeasible_reasons"] = [f"{n - int(done.sum())} of {n} requests never finished "
                                     "(the KV cache or the batch limits cannot admit them)"]
    # run time counts from the first arrival: a trace whose clock starts earlier idles no
    # device before it (energy, cost and utilisation would otherwise bill that offset)
    out.update(_groups_and_memory(run, groups, duration, steady.tokens_per_s))
    decode = [g for g in groups if g.placement.role in ("both", "decode")]
    capacity = sum(g.kv_blocks * wl.block_size * g.placement.replicas for g in decode)
    out["load_over_time"] = load_series(stamps, float(arrival.min()), end, capacity,
                                        decode_pool=run.transfers is not None)
    if run.transfers is not None:
        t = np.array(run.transfers.times_s)
        out["kv_transfer"] = {
            "link": run.transfers.link, "bandwidth_bytes_per_s": run.transfers.bandwidth,
            "limited_by": run.transfers.limited_by,
            "requests": int(t.size), "bytes_total": run.transfers.bytes,
            "bytes_per_request_mean": run.transfers.bytes / max(1, t.size),
            "time_mean_s": _mean(t), "time_p99_s": _pct(t, 99),
            # busy share of the side with fewer queues (every transfer holds one on each side)
            "link_utilization": run.transfers.busy_s / (duration * max(1, min(
                run.transfers.queues)))}
    return out


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _itl_samples(scheds: list) -> tuple[np.ndarray, np.ndarray]:
    """Every decode round's inter-token gaps and the tokens emitted after each, over the
    replicas (and the virtual engines of pipelined ones)."""
    engines = [e for s in scheds for e in getattr(s, "engines", [s])]
    gaps = np.array([g for e in engines for g in e.itl_gaps], dtype=float)
    weights = np.array([w for e in engines for w in e.itl_weights], dtype=float)
    return gaps, weights


def _weighted_pct(values: np.ndarray, weights: np.ndarray, p: float) -> float | None:
    """The smallest value below or at which ``p``% of the weight lies (inverted CDF)."""
    if not weights.size:
        return None
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    i = int(np.searchsorted(cum, p / 100.0 * cum[-1] - 1e-9 * cum[-1]))
    return float(values[order][min(i, len(order) - 1)])


# A drawn mean this far below the distribution's stated mean is worth a note (sampling noise of
# a 1500-request lognormal stream with sigma 0.8 is about 2%).
CLIPPED_MEAN_GAP = 0.05


def _length_stats(lengths: np.ndarray) -> dict[str, float]:
    """Mean and longest of the requests' drawn lengths (what the stream really asked for)."""
    return {"mean": float(lengths.mean()), "max": int(lengths.max())}


def _clipped_mean_note(field: str, spec, drawn: np.ndarray) -> str | None:
    """A lognormal whose ``max`` clips it has a lower mean than its ``mean`` says; the note
    gives the mean the requests had and how many sit at the cap."""
    if not isinstance(spec, LengthDistribution) or spec.dist != "lognormal" or spec.max is None:
        return None
    mean = float(drawn.mean())
    if mean >= spec.mean * (1 - CLIPPED_MEAN_GAP):
        return None
    at_cap = float((drawn >= spec.max).mean())
    return (f"workload.{field}: lognormal of mean {spec.mean:g} clipped at max {spec.max}: the "
            f"requests average {mean:.0f} tokens ({100 * at_cap:.1f}% of them at {spec.max})")


def _groups_and_memory(run: ServingRun, groups: list[ReplicaGroup], run_s: float,
                       steady_tokens_per_s: float) -> dict[str, Any]:
    """Per-group summary, the busiest device's memory and communication, energy and cost over
    ``run_s`` seconds of run (cost per million output tokens: the deployment's price per hour
    over the steady-state output rate)."""
    by_group: list[list] = []
    k = 0
    for g in groups:
        by_group.append(run.instances[k:k + g.placement.replicas])
        k += g.placement.replicas
    summary, energy, cost = [], 0.0, 0.0
    priced = True
    for g, insts in zip(groups, by_group, strict=True):
        pl, device = g.placement, g.plan.device
        busy = [i.sched.busy_s for i in insts]
        # each stage's tp devices draw TDP while that stage runs (the others wait for it)
        energy += energy_joules(device, run_s, [t for i in insts for t in i.stage_busy_s],
                                devices_per_stage=pl.tp)
        c = cost_usd(device, g.devices, run_s)
        priced = priced and c is not None
        cost += c or 0.0
        summary.append({"pool": pl.pool.name, "device": device.name, "role": pl.role,
                        "replicas": pl.replicas, "tp": pl.tp, "pp": pl.pp,
                        "kv_blocks_per_replica": g.kv_blocks,
                        "kv_tokens_per_replica": g.kv_blocks * run_block_size(insts),
                        # a share of the run: float sums of busy spans may pass 1 by ~1e-16
                        "busy_fraction": min(1.0, sum(busy) / (run_s * len(busy)))
                        if busy and run_s else 0.0,
                        "virtual_engines": pl.pp,
                        "stage_utilization": [
                            min(1.0, sum(i.stage_busy_s[s] for i in insts)
                                / (run_s * len(insts)))
                            if insts and run_s else 0.0 for s in range(pl.pp)],
                        "memory": g.memory})
    worst = max(range(len(groups)), key=lambda i: groups[i].memory["peak"] /
                groups[i].memory["capacity"])
    g = groups[worst]
    mem = g.memory
    memory = {"peak_bytes_per_device": mem["peak"], "capacity_bytes": mem["capacity"],
              "breakdown": {"weights": mem["weights"], "gradients": 0.0,
                            "optimizer_states": 0.0, "activations": mem["activations"],
                            "kv_cache": mem["kv_cache"], "other": mem["other"]}}
    comm = _communication(g, by_group[worst])
    tokens = sum(r.gen_len for r in run.requests if r.finish_s >= 0)
    total_cost = cost if priced else None
    per_hour = deployment_price_per_hour(groups)
    return {"groups": summary, "memory": memory, "communication": comm,
            "energy_joules": energy, "energy_per_token_j": energy / max(tokens, 1),
            "cost_usd": total_cost, "cost_per_hour_usd": per_hour,
            "cost_per_million_tokens_usd": cost_per_million(per_hour, steady_tokens_per_s),
            "kv_cache": {"block_size": run_block_size(by_group[0]),
                         "blocks_per_replica": groups[0].kv_blocks,
                         "bytes_per_token_per_device": max(groups[0].plan.kv_bytes_per_token)}}


def run_block_size(insts: list[Instance]) -> int:
    return insts[0].sched.cfg.block_size if insts else 0


def _communication(g: ReplicaGroup, insts: list[Instance]) -> dict[str, Any]:
    """Tensor-parallel and pipeline traffic of one device of the first stage of the busiest
    replica, exactly: every iteration's token count and sampled positions are recorded and
    priced with the cached stage costs (layers and embedding by tokens; the final norm and
    the logits' all-gather by positions, when that stage holds the head). Exposed: the
    collectives inside the stage's pass; a pipelined replica's sends to the next stage run on
    their own link while the stage takes the next batch, so they are not exposed (they do
    lengthen each request's pass, hence its TPOT)."""
    # bytes: buffer size S of each collective; wire_bytes: what this device sends of it
    # (archsim/plan/opcost.py wire_bytes)
    by_kind = {k: {"time_s": 0.0, "bytes": 0.0, "wire_bytes": 0.0} for k in COMM_KINDS}
    algorithms: dict[str, str] = {}
    if not insts:
        return {"total_time_s": 0.0, "exposed_time_s": 0.0, "bytes_per_device": 0.0,
                "wire_bytes_per_device": 0.0, "by_kind": by_kind, "algorithms": algorithms}
    busiest = max(insts, key=lambda i: i.sched.busy_s).sched
    st = g.plan.stages[0]
    priced = [(st.linear(tokens), count) for tokens, count in busiest.token_counts.items()]
    if st.last:
        priced += [(st.head(n_out), count) for n_out, count in busiest.out_counts.items()]
    for cost, count in priced:
        for kind, (t, b, wire) in cost.comm_by_kind.items():
            by_kind[kind]["time_s"] += t * count
            by_kind[kind]["bytes"] += b * count
            by_kind[kind]["wire_bytes"] += wire * count
        algorithms.update(cost.algorithms)
    if g.plan.degrees.pp > 1:  # one hand-over to the next stage per iteration
        for tokens, count in busiest.token_counts.items():
            by_kind["p2p"]["time_s"] += g.plan.p2p_s(tokens) * count
            by_kind["p2p"]["bytes"] += g.plan.p2p_bytes(tokens) * count
            by_kind["p2p"]["wire_bytes"] += g.plan.p2p_bytes(tokens) * count
    total = sum(v["time_s"] for v in by_kind.values())
    exposed = total - by_kind["p2p"]["time_s"] if g.plan.degrees.pp > 1 else total
    return {"total_time_s": total, "exposed_time_s": exposed,
            "bytes_per_device": sum(v["bytes"] for v in by_kind.values()),
            "wire_bytes_per_device": sum(v["wire_bytes"] for v in by_kind.values()),
            "by_kind": by_kind, "algorithms": algorithms}


def _compare(dis: dict[str, Any], colo: dict[str, Any]) -> dict[str, Any]:
    def ratio(a, b):
        return None if a is None or b in (None, 0) else a / b

    return {"goodput_ratio": ratio(dis["goodput_rps"], colo["goodput_rps"]),
            "ttft_p99_ratio": ratio(dis["ttft_p99_s"], colo["ttft_p99_s"]),
            "tpot_p99_ratio": ratio(dis["tpot_p99_s"], colo["tpot_p99_s"]),
            "ttft_decode_pool_p99_ratio": ratio(dis.get("ttft_decode_pool_p99_s"),
                                                colo["ttft_p99_s"]),
            "slo_attainment": {"disaggregated": dis["slo_attainment"],
                               "colocated": colo["slo_attainment"]},
            "note": "same devices, same requests; ratios are disaggregated / colocated; "
                    "ttft ends with the prefill pool's first token (DistServe), "
                    "ttft_decode_pool with the first token the decode pool streams, after the "
                    "KV transfer (a client behind vLLM's disaggregation proxy)"}
