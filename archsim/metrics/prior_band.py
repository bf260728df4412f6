"""An extrapolation's error bar, widened to take in its far-fitted parameters at their priors.

A fit that moves a parameter many prior spreads from its micro-benchmark value
(:func:`archsim.accuracy.far_fitted`) leans on it to explain its runs. Inside those runs the
cross-validated band measures the result; outside them (a run out of the device's calibrated
range) the micro-benchmark value is as credible as the fitted one, and nothing measured says
which. The MI300X's memory_efficiency, fitted to six vLLM FP8 tp 8 runs at 0.52 (its stream
prior 0.925), puts its HBM at 2.75 TB/s, below an MI250X's 3.03 TB/s: a bf16 batch-1 decode of
Llama-2-7B came out slower than on the MI250X (TPOT 7.91 against 7.62 ms), with a band of
7.48–9.41 ms that never reached below it, where the same device at its prior decodes in 5.7 ms.

Such a result is simulated again with those parameters at their priors, and every interval is
widened to take in that run's value (its fast or slow side, whichever it falls on). The block
records it as ``at_priors``: {parameters: {device: {name: [fitted, prior]}}, values, method}.
A result inside the calibrated range, or whose devices have no far-fitted parameter, is left
as it is.
"""

from __future__ import annotations

from typing import Any

from archsim.spec.scenario import ScenarioSpec


def far_parameters(sc: ScenarioSpec, result: dict[str, Any]) -> dict[str, dict[str, tuple]]:
    """Device → {parameter: (fitted, prior)} of the far-fitted parameters of each device the
    result lies outside the calibrated range of."""
    from archsim.accuracy import far_fitted, out_of_range

    out: dict[str, dict[str, tuple]] = {}
    for pool in sc.cluster.pools:
        device = pool.device
        if device.name in out or device.insitu is None:
            continue
        far = far_fitted(device)
        if far and out_of_range(sc, device, result):
            out[device.name] = {name: (value, prior) for name, value, prior, _ in far}
    return out


def at_priors(sc: ScenarioSpec, far: dict[str, dict[str, tuple]]) -> ScenarioSpec:
    """``sc`` with each named device's far-fitted parameters at their prior values."""
    from archsim.spec.loader import load_scenario

    raw = sc.model_dump(mode="json")
    raw["calibration"] = None  # its overlay is already in the devices; re-read, it would undo this
    hardware = raw["hardware"]
    devices = [hardware.get("device")] + [p.get("device") for p in
                                          ((hardware.get("cluster") or {}).get("pools") or [])]
    for device in devices:
        if isinstance(device, dict) and device.get("name") in far and device.get("insitu"):
            for name, (_, prior) in far[device["name"]].items():
                device["insitu"][name] = prior
    return load_scenario(raw)


def apply_prior_check(block: dict[str, Any], result: dict[str, Any],
                      sc: ScenarioSpec) -> None:
    """Widen ``block``'s intervals to the result simulated with its far-fitted parameters at
    their priors (module docstring); nothing where that does not apply."""
    from archsim.metrics import simulate_workload

    iv = block.get("intervals") or {}
    if not iv or block.get("in_range"):
        return
    far = far_parameters(sc, result)
    if not far:
        return
    other = simulate_workload(at_priors(sc, far)).data
    if not other.get("feasible"):
        return
    values = {}
    for key, (lo, hi) in list(iv.items()):
        value = other.get(key)
        if isinstance(value, (int, float)) and value > 0:
            values[key] = value
            iv[key] = [min(lo, value), max(hi, value)]
    names = "; ".join(f"{dev}: " + ", ".join(f"{n} {fitted:.3g} → {prior:.3g}"
                                             for n, (fitted, prior) in params.items())
                      for dev, params in sorted(far.items()))
    block["at_priors"] = {
        "parameters": {dev: {n: [f, p] for n, (f, p) in params.items()}
                       for dev, params in far.items()},
        "values": values,
        "method": f"the same run with its far-fitted parameters at their priors ({names}): "
                  "outside the calibrated range nothing measured says which is right"}
