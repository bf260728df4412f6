"""The public Python API: load a scenario, simulate it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archsim.metrics import simulate_workload
from archsim.plan.compress import has_effect
from archsim.result import METRIC_KEYS, Result
from archsim.spec.loader import load_scenario
from archsim.spec.scenario import ScenarioSpec


def simulate(scenario: ScenarioSpec | str | Path | Mapping[str, Any] | None = None,
             overrides: Mapping[str, Any] | list[str] | None = None,
             trace: bool = False, engine: str = "des", slow_end: bool = True) -> Result:
    """Simulate a scenario (a spec, a YAML path or name, a mapping, or None for the default).

    ``engine`` "fast" (sweeps): training steps on a contention-free network run the fast
    scheduler; everything else — distillation, the compression baseline, the error bar, the
    result's keys — is assembled as with the DES. ``slow_end``: a serving result's error bar
    simulates the stream again on a device at its band's slow end
    (archsim/metrics/serving_band.py), and an extrapolation's takes in the run with its
    far-fitted parameters at their priors (archsim/metrics/prior_band.py); False: neither, as
    capacity's search probes take them. Raises SpecError on bad input; an infeasible plan is a
    Result with ``feasible: False``.
    """
    sc = scenario if isinstance(scenario, ScenarioSpec) and not overrides else \
        load_scenario(scenario if not isinstance(scenario, ScenarioSpec)
                      else scenario.model_dump(mode="json"), overrides)
    if sc.compression is not None and sc.compression.distill is not None:
        from archsim.metrics.distill import simulate_distillation

        return _with_uncertainty(simulate_distillation(sc, trace), sc, slow_end)
    result = simulate_workload(sc, trace, engine)
    if has_effect(sc.compression):
        from archsim.metrics.compression import compression_block
        from archsim.plan.compress import resolve_compression, without_compression

        baseline = simulate_workload(without_compression(sc), False, engine)
        block = compression_block(baseline, result, resolve_compression(sc),
                                  sc.compression.accuracy_note)
        result.data["compression"] = block
        if block["warnings"]:
            result.data.setdefault("warnings", []).extend(block["warnings"])
    return _with_uncertainty(result, sc, slow_end)


def _with_uncertainty(result: Result, sc: ScenarioSpec, slow_end: bool = True) -> Result:
    """The calibrated error bar of a feasible result (archsim/accuracy.py), and every metric
    key of the contract (null where the mode has none)."""
    if result.data.get("feasible"):
        from archsim.accuracy import uncertainty_block
        from archsim.metrics.common import (
            price_sources_note,
            torus_pod_note,
            unverified_links_note,
            unverified_power_note,
        )

        block = result.data["uncertainty"] = uncertainty_block(result.data, sc)
        if slow_end and result.data.get("mode") == "serving":
            from archsim.metrics.serving_band import apply_slow_end, slowdown
            from archsim.metrics.serving_band import slow_end as simulate_slow_end

            if (k := slowdown(block)) is not None and \
                    (slow := simulate_slow_end(sc, k)) is not None:
                apply_slow_end(block, result.data, slow)
        if slow_end:
            from archsim.metrics.prior_band import apply_prior_check

            apply_prior_check(block, result.data, sc)
        devices = list({p.device.name: p.device for p in sc.cluster.pools}.values())
        # a cluster of several priced device types: its cost adds their list prices; energy
        # on a device whose TDP no datasheet gives
        for note in (price_sources_note(devices), unverified_power_note(devices),
                     unverified_links_note(result.data, sc.cluster),
                     torus_pod_note(sc.cluster)):
            if note:
                result.data.setdefault("notes", []).append(note)
    for key in METRIC_KEYS:
        result.data.setdefault(key, None)
    return result
