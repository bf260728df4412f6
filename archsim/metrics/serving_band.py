"""A serving result at the slow end of its error bar: the same request stream served by a
device k× slower than predicted, simulated again rather than scaled.

Under load a serving deployment's tail latencies and served rate are not proportional to its
step time: a device 10% slower than predicted can queue, miss its SLO or fall behind. Dividing
a p99 by (1 + p10), as a static batch's interval does, had given one A100 deployment a "likely"
TPOT p99 of at most 45.6 ms where the simulator itself gives 62.5 ms for a device 1.15× slower,
and an open-loop run that keeps up a served rate above the rate its requests arrive at.

The slow end is simulated exactly by rescaling time: a device k× slower serving requests that
arrive at rate R is the same simulation with every duration divided by k, that is the device as
predicted serving the same requests arriving k× faster (each Poisson gap is an exponential
draw × 1/R, so the seeded stream is the same stream, k× denser; uniform gaps and trace times
rescale alike; a burst or a closed loop has no time in its arrivals), with the SLO's times
divided by k. Its times then come back × k, its rates ÷ k, its costs and energy × k
(devices × price × a wall time k× longer). The SLO attainment and whether it keeps up
(archsim/capacity/window.py) do not depend on the time unit: they are the slow device's.

k is the slow end of the band of the result's TPOT (or, where a profile has no TPOT runs, of
the throughput runs standing in for them): decode steps are most of a serving deployment's
busy time. The fast end is not simulated: its times stay the linear t / (1 + p90), which a
faster device's queue can only beat, and a run that keeps up serves what arrives whatever the
device's speed, so its rates and costs at the fast end are the predicted ones.
"""

from __future__ import annotations

from typing import Any

from archsim.spec.scenario import ScenarioSpec

TIME_KEYS = ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "e2e_p50_s", "e2e_p99_s",
             "ttft_s", "tpot_s", "e2e_latency_s")
RATE_KEYS = ("tokens_per_s", "requests_per_s")
COST_KEYS = ("cost_per_million_tokens_usd", "cost_usd", "energy_joules")


def slowdown(block: dict[str, Any]) -> float | None:
    """k = 1 / (1 + p10) of the result's TPOT band (or its throughput band's), above 1; None
    where neither is known or the band never puts the device slower than predicted."""
    for group in ("tpot", "throughput"):
        err = (block.get("errors") or {}).get(group)
        if err:
            k = 1.0 / (1.0 + err["p10"])
            return k if k > 1.0 else None
    return None


def rescaled(sc: ScenarioSpec, k: float) -> ScenarioSpec:
    """``sc`` served by its devices as predicted, with what a device k× slower would see
    compressed k× in time: requests arriving k× faster, the SLO's times ÷ k."""
    wl = sc.workload
    arrival = wl.arrival
    if arrival.process in ("poisson", "uniform"):
        arrival = arrival.model_copy(update={"rate_per_s": arrival.rate_per_s * k})
    elif arrival.process == "trace":
        from archsim.sim.serving.requests import generate_requests

        times = [r.arrival_s for r in generate_requests(wl)]
        if len(times) > 1 and times[-1] > times[0]:
            mean_rate = (len(times) - 1) / (times[-1] - times[0])
            arrival = arrival.model_copy(update={"rate_per_s": mean_rate * k})
    slo = wl.slo.model_copy(update={
        key: getattr(wl.slo, key) / k for key in ("ttft_s", "tpot_s")
        if getattr(wl.slo, key) is not None})
    return sc.model_copy(update={"workload": wl.model_copy(
        update={"arrival": arrival, "slo": slo})})


def slow_end(sc: ScenarioSpec, k: float) -> dict[str, Any] | None:
    """The serving metrics of ``sc`` on a device k× slower than predicted (module docstring):
    {slowdown, values (the result's keys in real time), slo_attainment, meets_slo, keeps_up,
    why (empty when it keeps up), count_needed (where the stream is too short to show that it
    keeps up there)}; None where the rescaled run is infeasible."""
    from archsim.capacity.window import keeping_up
    from archsim.metrics import simulate_workload

    d = simulate_workload(rescaled(sc, k)).data
    if not d.get("feasible"):
        return None
    values: dict[str, float] = {}
    for keys, factor in ((TIME_KEYS, k), (RATE_KEYS, 1.0 / k), (COST_KEYS, k)):
        for key in keys:
            if isinstance(d.get(key), (int, float)):
                values[key] = d[key] * factor
    up = keeping_up(d)
    return {"slowdown": k, "values": values, "slo_attainment": d.get("slo_attainment"),
            "meets_slo": d.get("meets_slo"), "keeps_up": up["keeps_up"], "why": up["why"],
            "count_needed": up["count_needed"]}


def keeps_up_as_predicted(result: dict[str, Any]) -> bool:
    """Whether an open-loop result keeps up at the predicted speed (its served rate is then
    the arrivals', whatever the device's speed)."""
    from archsim.capacity.window import keeping_up

    arrival = (result.get("workload") or {}).get("arrival") or {}
    if arrival.get("process") in ("burst", "closed"):
        return False
    return bool(keeping_up(result)["keeps_up"])


def apply_slow_end(block: dict[str, Any], result: dict[str, Any],
                   slow: dict[str, Any]) -> None:
    """Widen ``block``'s serving intervals to take in the slow end's simulated values (times
    and costs up to them; rates down to them), keep a run that keeps up at its served rate
    and cost on the fast side, and record the slow end as ``block["slow_end"]``."""
    iv = block["intervals"]
    kept = keeps_up_as_predicted(result)
    for key, value in slow["values"].items():
        predicted = result.get(key)
        if key not in iv or not isinstance(predicted, (int, float)):
            continue
        lo, hi = iv[key]
        if key in RATE_KEYS:
            iv[key] = [min(value, predicted), predicted if kept else max(hi, predicted)]
        elif key in COST_KEYS:
            iv[key] = [predicted if kept else min(lo, predicted), max(value, predicted)]
        else:
            iv[key] = [min(lo, predicted), max(hi, value)]
    block["slow_end"] = {
        "slowdown": slow["slowdown"], "slo_attainment": slow["slo_attainment"],
        "meets_slo": slow["meets_slo"], "keeps_up": slow["keeps_up"],
        "why": slow["why"],
        "method": "the same request stream simulated on a device "
                  f"{slow['slowdown']:.3g}× slower than predicted (the TPOT band's slow end; "
                  "archsim/metrics/serving_band.py)"}
