"""Results per workload kind; :func:`simulate_workload` picks the one a scenario asks for."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archsim.result import Result
    from archsim.spec.scenario import ScenarioSpec


def simulate_workload(sc: ScenarioSpec, trace: bool = False, engine: str = "des") -> Result:
    """The result of ``sc``'s workload (training, inference or serving), without the
    compression and distillation comparisons that :func:`archsim.simulate` adds. ``engine``
    "fast": a training step on a contention-free network runs the sweep's fast scheduler
    (archsim/sweep/fastpath.py, pinned to the DES in its tests)."""
    kind = sc.workload.kind
    if kind == "training":
        if engine == "fast" and not trace:
            from archsim.sweep.fastpath import simulate_training_fast

            return simulate_training_fast(sc)
        from archsim.metrics.training import simulate_training

        return simulate_training(sc, trace=trace)
    if kind == "inference":
        from archsim.metrics.inference import simulate_inference

        return simulate_inference(sc, trace=trace)
    from archsim.metrics.serving import simulate_serving

    return simulate_serving(sc, trace=trace)
