"""The error bar of a result: the calibrated profile's cross-validated error for that kind of
run, as intervals on the result's headline numbers, and whether the run lies inside what the
profile was calibrated on.

For a kind of run (training; inference TTFT, TPOT, end-to-end latency, throughput) the device's
in-situ block (archsim/spec/insitu.py) holds the signed errors on time (predicted / measured
− 1) of runs predicted by fits that did not see them: their 10th and 90th percentiles p10, p90.
A predicted time t then spans the measured times t / (1 + p90) … t / (1 + p10) (an 80%
interval, if the calibration runs are like this one); a rate r spans r · (1 + p10) … r ·
(1 + p90); a cost or energy scales like time. Several device types in one run: the widest
interval. A device with no calibration says so: its error is unknown, not zero.

Three cases widen the band to take in the widest one any shipped profile earned on at least
MIN_RUNS_FOR_SPREAD held-out runs of that kind (the reference band, :func:`reference_band`):
a band resting on fewer runs (two runs give a "10th–90th percentile" that is just their two
errors), a band whose runs were held out from the micro-benchmark defaults rather than from a
fit (every run of the device came from one source, so leaving it out left nothing to fit:
their errors are the defaults', which the fit then removed, and a band from them can lie
wholly on one side of the fitted prediction), and a run outside the calibrated range (an
extrapolation, whose error the held-out runs did not sample). The widened error says why in
``widened``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from archsim.cost.insitu import factors, run_device
from archsim.spec.device import DeviceSpec
from archsim.spec.insitu import AccuracySpec, CalibratedRange
from archsim.spec.scenario import ScenarioSpec

MIN_RUNS_FOR_SPREAD = 5
"""Held-out runs below which a profile's own 10th–90th percentile band is not trusted alone.
With n runs the empirical p10/p90 are the extreme errors for n < 10; at 5 runs they are at
least bracketed by 3 others. A judgement, not a measurement: on the H200 GPU check
(reports/validation/h200/) a band from 2 runs was ±0.7% wide around a +12% bias while two
real single-GPU training steps were predicted +7% and +16%."""
REFERENCE = (f"the widest band of the shipped profiles calibrated on ≥ {MIN_RUNS_FOR_SPREAD} "
             "runs of this kind")
"""What a widened band was widened to (the end of its ``widened``)."""

# result key → (accuracy group, "time" or "rate")
TRAINING_KEYS = {"step_time_s": "time", "tokens_per_s": "rate", "samples_per_s": "rate",
                 "cost_usd": "time", "cost_per_million_tokens_usd": "time",
                 "energy_joules": "time"}
INFERENCE_KEYS = {"ttft_s": ("ttft", "time"), "tpot_s": ("tpot", "time"),
                  "e2e_latency_s": ("e2e_latency", "time"),
                  "tokens_per_s": ("throughput", "rate"),
                  "sequences_per_s": ("throughput", "rate"),
                  "cost_per_million_tokens_usd": ("throughput", "time"),
                  "cost_usd": ("throughput", "time"), "energy_joules": ("throughput", "time")}
BATCH_TIME_KEYS = {"e2e_latency_s": "time", "tokens_per_s": "rate", "sequences_per_s": "rate",
                   "cost_per_million_tokens_usd": "time", "cost_usd": "time",
                   "energy_joules": "time"}
"""A static batch's quantities set by its one end-to-end time (tokens/s = batch × generated
tokens / latency; cost and energy = that time × the devices' price and power)."""
SERVING_KEYS = {"ttft_p50_s": ("ttft", "time"), "ttft_p99_s": ("ttft", "time"),
                "tpot_p50_s": ("tpot", "time"), "tpot_p99_s": ("tpot", "time"),
                "e2e_p50_s": ("e2e_latency", "time"), "e2e_p99_s": ("e2e_latency", "time"),
                "tokens_per_s": ("throughput", "rate"), "requests_per_s": ("throughput", "rate"),
                "cost_per_million_tokens_usd": ("throughput", "time"),
                "cost_usd": ("throughput", "time"), "energy_joules": ("throughput", "time")}


def uncertainty_block(result: dict[str, Any], sc: ScenarioSpec) -> dict[str, Any]:
    """The result's ``uncertainty`` block (see the module docstring)."""
    devices = {p.device.name: p.device for p in sc.cluster.pools}
    used = devices_used(result)
    if used and set(used) & set(devices):
        devices = {n: d for n, d in devices.items() if n in used}
    mode = result.get("mode", sc.workload.kind)
    keys = metric_keys(mode)
    calibration = sc.calibration or "shipped profiles"
    missing = [n for n, d in devices.items()
               if d.insitu is None or not d.insitu.accuracy]
    block: dict[str, Any] = {"calibration": calibration, "devices": sorted(devices),
                             "calibrated": not missing, "intervals": {}, "errors": {},
                             "out_of_range": []}
    if mode == "training":
        block["above_published"] = above_published(result, sc)
    if mode == "training":
        block["out_of_range"] += [line for d in devices.values()
                                  if (line := _borrowed_fixed_cost(d, result))]
    block["out_of_range"] += [_no_insitu(name) for name, d in sorted(devices.items())
                              if d.insitu is None]
    block["out_of_range"] += [line for _, d in sorted(devices.items())
                              if (line := far_fitted_line(d))]
    block["out_of_range"] += _not_in_overlay(sc.calibration, sorted(devices))
    if missing:
        # fitted without cross-validation (calibrate --cv none): calibrated, error unmeasured
        unscored = [n for n in missing if devices[n].insitu is not None
                    and devices[n].insitu.fitted]
        bare = [n for n in missing if n not in unscored]
        parts = ([f"no measured runs calibrate {', '.join(bare)}"] if bare else []) + (
            [f"{', '.join(unscored)} {'was' if len(unscored) == 1 else 'were'} fitted to "
             "measured runs without cross-validation (archsim calibrate --cv none)"]
            if unscored else [])
        block["note"] = ("; ".join(parts) + ": the error of this estimate is unknown ("
                         + ("archsim calibrate --runs fits a profile to yours"
                            if bare else "calibrate with --cv source, a fold count or run "
                            "to measure it") + ")")
        if len(missing) == len(devices):
            return block
    # each device's own: a metric widens only where a device behind it is extrapolated
    ranges_of = {name: out_of_range(sc, device, result) for name, device in devices.items()
                 if name not in missing and device.insitu is not None}
    ranges = [line for lines in ranges_of.values() for line in lines]
    lacking: dict[str, set[str]] = {}  # group → devices behind it with no runs of it
    for key, (group, sense) in keys.items():
        value = result.get(key)
        if not isinstance(value, (int, float)) or value <= 0:
            continue
        deps = _devices_behind(sc, group) or list(devices)
        if any(n in missing for n in deps):
            continue  # set in part by a device no run calibrates: its error is unknown
        accs = [_accuracy(devices[n].insitu.accuracy, group) for n in deps]  # type: ignore
        if any(a is None for a in accs) or not accs:
            block["errors"].setdefault(group, None)
            lacking.setdefault(group, set()).update(
                n for n, a in zip(deps, accs, strict=True) if a is None)
            continue
        lo, hi = _widest(accs)  # type: ignore[arg-type]
        worst = max(accs, key=lambda a: a.mape)  # type: ignore[union-attr]
        extrapolated = any(ranges_of.get(n) for n in deps)
        why = _widen_reason(accs, extrapolated)  # type: ignore[arg-type]
        # a band read off a proxy's runs widens as that kind of run does
        measured = {group if group in devices[n].insitu.accuracy  # type: ignore[union-attr]
                    else PROXY[group] for n in deps}
        refs = [r for g in sorted(measured) if (r := reference_band(g)) is not None]
        ref = (min(r[0] for r in refs), max(r[1] for r in refs)) if why and refs else None
        widened = not_widened = None
        if ref is not None and (ref[0] < lo or ref[1] > hi):
            lo, hi = min(lo, ref[0]), max(hi, ref[1])
            widened = f"{why}: {REFERENCE}"
        elif ref is not None:
            # the device's own band is already the widest of its kind (the H100's training
            # band is the reference band): nothing to widen it to, and its error there is
            # unmeasured — said, not labelled "widened" (it had been, on an unchanged band)
            not_widened = (f"{why}: not widened, its own band is already {REFERENCE}; the "
                           "error there is unmeasured")
        if group == "training" and (fixed := _uncalibrated_fixed_share(sc, result, deps)):
            # the fixed cost per step is a framework's (multi-node FSDP / Megatron runs); a
            # step shorter than any calibrated one may run without it (a bare loop: the H200
            # GPU check's single-GPU steps, reports/validation/h200/): up to φ/(1 − φ) slower
            # than measured
            hi = max(hi, fixed / (1.0 - fixed))
            note = (f"up to +{100 * fixed / (1.0 - fixed):.0f}% where the framework has no "
                    f"fixed cost per step ({100 * fixed:.0f}% of this step)")
            widened = f"{widened}; {note}" if widened else note
        block["intervals"][key] = (_interval(value, lo, hi, sense))
        block["errors"][group] = {"mape": worst.mape, "bias": worst.bias, "p10": lo,
                                  "p90": hi, "runs": worst.runs, "sources": worst.sources,
                                  "method": worst.method,
                                  "from_defaults": worst.from_defaults,
                                  **({"widened": widened} if widened else {}),
                                  **({"not_widened": not_widened} if not_widened else {})}
    if mode == "inference":
        _compose_end_to_end(block, result)
        _join_batch_time(block, result)
    unknown = [group for group, err in block["errors"].items() if err is None]
    for group in unknown:
        block["out_of_range"].append(f"no calibrated runs of this kind ({group}) on "
                                     f"{', '.join(sorted(lacking.get(group) or devices))}")
        del block["errors"][group]
    if unknown and not block["intervals"]:  # calibrated, but on other kinds of run only
        block["calibrated"] = False
        behind = set().union(*(lacking.get(g) or set(devices) for g in unknown))
        block["note"] = (f"no measured {'/'.join(unknown)} runs calibrate "
                         f"{', '.join(sorted(behind))}: the error of this estimate is unknown "
                         "(archsim calibrate --runs fits a profile to yours)")
    block["out_of_range"] += ranges
    block["in_range"] = not block["out_of_range"] and not missing
    return block


def above_published(result: dict[str, Any], sc: ScenarioSpec) -> list[str]:
    """A training result's MFU (HFU) above the best any published run reached on its devices
    (archsim/published/utilization.py): a claim no team has measured, whatever its band."""
    from archsim.published.utilization import caution

    mfu, hfu = result.get("mfu"), result.get("hfu")
    if not isinstance(mfu, (int, float)):
        return []
    dtype = result.get("gemm_dtype") or gemm_dtype_class(sc)
    specs = {p.device.name: p.device for p in sc.cluster.pools}
    found = (caution(name, dtype, mfu, hfu if isinstance(hfu, (int, float)) else None,
                     spec=specs[name])
             for name in sorted(specs))
    return [c for c in found if c is not None]


def _compose_end_to_end(block: dict[str, Any], result: dict[str, Any]) -> None:
    """A static batch's end-to-end latency is TTFT + n·TPOT (n decode steps): its interval is
    read off the TTFT and TPOT intervals, [lo_ttft + n·lo_tpot, hi_ttft + n·hi_tpot], so the
    three never contradict one another (a band of its own, or of the throughput runs standing
    in, had put one generated token's end-to-end interval below its TTFT's)."""
    iv = block["intervals"]
    e2e, ttft, tpot = (result.get(k) for k in ("e2e_latency_s", "ttft_s", "tpot_s"))
    if "ttft_s" not in iv or not all(isinstance(x, (int, float)) and x > 0
                                     for x in (e2e, ttft)):
        return
    steps = isinstance(tpot, (int, float)) and tpot > 0 and e2e > ttft
    if steps and "tpot_s" not in iv:
        return
    n = (e2e - ttft) / tpot if steps else 0.0  # one generated token: e2e is the TTFT
    lo = iv["ttft_s"][0] + (n * iv["tpot_s"][0] if steps else 0.0)
    hi = iv["ttft_s"][1] + (n * iv["tpot_s"][1] if steps else 0.0)
    iv["e2e_latency_s"] = [lo, hi]
    parts = [block["errors"].get(g) for g in (("ttft", "tpot") if steps else ("ttft",))]
    if any(p is None for p in parts):
        return
    # the parts' mean errors weighted by their shares of the predicted latency
    bias = (ttft * parts[0]["bias"] + (n * tpot * parts[1]["bias"] if steps else 0.0)) / e2e
    block["errors"]["e2e_latency"] = {
        "mape": max(p["mape"] for p in parts), "bias": bias,
        "p10": e2e / hi - 1.0, "p90": e2e / lo - 1.0,
        "runs": sum(p["runs"] for p in parts), "sources": max(p["sources"] for p in parts),
        "method": f"TTFT + {n:g} × TPOT, each at its own band's ends",
        "from_defaults": sum(p["from_defaults"] for p in parts), "composed": True}
    # a band built of widened bands is as wide as they are, and no 80% band of its own
    whys = [why for p in parts if (w := p.get("widened"))
            for why in w.removesuffix(f": {REFERENCE}").split("; ")]
    if whys:
        names = " and ".join(g for g, p in zip(("TTFT", "TPOT"), parts, strict=False)
                             if p.get("widened"))
        block["errors"]["e2e_latency"]["widened"] = (
            f"{'; '.join(dict.fromkeys(whys))}: its {names} band"
            f"{'s' if ' and ' in names else ''} widened to {REFERENCE}")


def _join_batch_time(block: dict[str, Any], result: dict[str, Any]) -> None:
    """A static batch's end-to-end latency, throughput, cost and energy are one time seen
    four ways, so they take one band: the wider of the end-to-end latency's (its own runs', or
    read off TTFT and TPOT) and the throughput runs'. Each had taken its own: on the MI300X
    a latency of 1.47–3.17 s beside a throughput of 3,281–4,230 tokens/s, which that latency
    puts at 2,581–5,560 for the same 8,192 tokens. A batch that generates one token is a
    prefill: its band is its TTFT's, which its end-to-end latency already carries."""
    iv, errors = block["intervals"], block["errors"]
    e2e = result.get("e2e_latency_s")
    if not isinstance(e2e, (int, float)) or e2e <= 0:
        return
    # each band as the measured time over the predicted one, at its two ends
    ends = []
    if "e2e_latency_s" in iv:
        ends.append((iv["e2e_latency_s"][0] / e2e, iv["e2e_latency_s"][1] / e2e))
    tput = errors.get("throughput")
    ttft = result.get("ttft_s")
    decodes = not isinstance(ttft, (int, float)) or e2e > ttft  # one token: a TTFT run
    if tput and "tokens_per_s" in iv and (decodes or not ends):
        ends.append((1.0 / (1.0 + tput["p90"]), 1.0 / (1.0 + tput["p10"])))
    if not ends:
        return
    low, high = min(a for a, _ in ends), max(b for _, b in ends)
    for key, sense in BATCH_TIME_KEYS.items():
        value = result.get(key)
        if isinstance(value, (int, float)) and value > 0:
            iv[key] = ([value * low, value * high] if sense == "time"
                       else [value / high, value / low])
    if len(ends) < 2 or ends[0] == ends[1]:
        return
    said = ("a static batch's latency, throughput and cost are one time: each takes the wider "
            "of the end-to-end latency's and the throughput runs' bands")
    for group in ("e2e_latency", "throughput"):
        err = errors.get(group)
        if err:
            err.update(p10=1.0 / high - 1.0, p90=1.0 / low - 1.0, joined=said)


def devices_used(result: dict[str, Any]) -> list[str]:
    """The device types a result ran on where its placement leaves some of the cluster idle
    (a pipeline's stages, a serving run's groups); [] where it does not say (every device).
    A plan of a two-pool cluster that ran on its H100s alone had been widened for the A100s'
    calibration gaps."""
    placement = result.get("placement")
    if isinstance(placement, dict) and placement.get("devices"):
        return [str(d) for d in placement["devices"]]
    groups = result.get("groups")
    if isinstance(groups, list):
        return [str(g["device"]) for g in groups if isinstance(g, dict) and g.get("device")]
    return []


def _devices_behind(sc: ScenarioSpec, group: str) -> list[str] | None:
    """The device types that set a metric of ``group`` when not all of them do: under
    disaggregated serving the prefill pool's sets TTFT and the decode pool's TPOT (None:
    every device of the run)."""
    placement = sc.plan.placement
    if not isinstance(placement, dict) or group not in ("ttft", "tpot"):
        return None
    phase = placement.get("prefill" if group == "ttft" else "decode")
    pool = phase.get("pool") if isinstance(phase, dict) else phase
    by_pool = {p.name: p.device.name for p in sc.cluster.pools}
    return [by_pool[pool]] if pool in by_pool else None


PROXY = {"tpot": "throughput", "e2e_latency": "throughput"}
"""Where a profile has no runs of a latency kind, its static-batch throughput runs (time per
generated token over whole generations, decode-dominated) stand in — labelled as such."""


def _accuracy(table: dict[str, AccuracySpec], group: str) -> AccuracySpec | None:
    got = table.get(group)
    if got is None and group in PROXY and PROXY[group] in table:
        proxy = table[PROXY[group]]
        got = proxy.model_copy(update={"method": f"{proxy.method}; {PROXY[group]} runs as "
                                                 f"{group}'s proxy"})
    return got


def metric_keys(mode: str) -> dict[str, tuple[str, str]]:
    """Result key → (accuracy group, "time" or "rate") for a result of ``mode``."""
    if mode == "training":
        return {k: ("training", s) for k, s in TRAINING_KEYS.items()}
    if mode == "serving":
        return SERVING_KEYS
    return INFERENCE_KEYS


BORROWED_SHARE = 0.1
"""Share of a step above which a borrowed fixed cost per step is named (a judgement: below it
the band of any calibrated profile is wider than what it could move)."""


def _no_insitu(device: str) -> str:
    """The line for a device whose profile has no in-situ parameters (a profile written from a
    datasheet): it runs as the isolated micro-benchmarks say, faster than any calibrated
    device runs inside a framework (the same H100 datasheet without its ``insitu`` block
    trained Llama-2-7B 1.38x faster, at 68.9% MFU)."""
    return (f"{device}: no in-situ parameters (insitu): its kernels run at isolated "
            "micro-benchmark speed with no fixed cost per kernel, step or pass, faster than a "
            "calibrated device runs inside a framework; a profile with no runs can take the "
            "transfer priors of a shipped one (insitu.defaults in "
            "hardware_profiles/devices/b200.yaml)")


def _not_in_overlay(calibration: str | None, devices: list[str]) -> list[str]:
    """Lines for the devices a calibration overlay does not hold: they keep their shipped
    calibration, whatever the result's ``calibration`` label says."""
    from archsim.spec.calibration import MODES, read_overlay

    if not calibration or calibration in MODES:
        return []
    held = read_overlay(calibration)
    return [f"{name}: not in the calibration overlay {calibration}: its shipped calibration "
            "applies" for name in devices if name not in held]


FAR_FITTED_SPREADS = 2.5
"""Prior spreads (``archsim/insitu/fit.py`` PARAMS sigma: the fit's regulariser) beyond which a
fitted value is named. A judgement: every fitted value of the A100, H100, H200 and L40S lies
within 1.8 of them; the MI300X's memory and collective efficiencies lie 4.16 and 2.55 away."""


def far_fitted(device: DeviceSpec) -> list[tuple[str, float, float, float]]:
    """The fitted parameters of ``device`` more than FAR_FITTED_SPREADS prior spreads from
    their micro-benchmark values: (name, fitted, prior, spreads)."""
    ins = device.insitu
    if ins is None or not ins.fitted:
        return []
    from archsim.insitu.fit import PARAMS, defaults

    prior = defaults(device)
    far = []
    for name in ins.fitted:
        param, value = PARAMS.get(name), getattr(ins, name, None)
        if param is None or value is None:
            continue
        if param.log:
            spreads = abs(math.log(max(value, 1e-12) / max(prior[name], 1e-12))) / param.sigma
        else:
            spreads = abs(value - prior[name]) / param.sigma
        if spreads > FAR_FITTED_SPREADS:
            far.append((name, float(value), prior[name], spreads))
    return far


def far_fitted_line(device: DeviceSpec) -> str | None:
    """A line naming the fitted parameters of ``device`` that lie far from their micro-benchmark
    values: the fit leaned on them to match runs the model does not otherwise explain, so a
    result that depends on them more than those runs did (say, an MI300X run whose time goes
    to collectives where the runs' went to decoding) is less certain than its band (outside
    the calibrated range the band takes in the result with them at their priors:
    archsim/metrics/prior_band.py)."""
    far = [f"{name} {_num(value)} against its prior {_num(prior)} ({spreads:.2f} prior "
           "spreads away)" for name, value, prior, spreads in far_fitted(device)]
    if not far:
        return None
    them = "them" if len(far) > 1 else "it"
    return (f"{device.name}: fitted {'; '.join(far)}: the fit leaned on {them} to match its "
            f"runs, so a result that depends on {them} more than those runs did is less "
            "certain than its band")


def _borrowed_fixed_cost(device: DeviceSpec, result: dict[str, Any]) -> str | None:
    """A line naming the fixed cost per step of a device with no training band (a transfer
    prior in its defaults, or a sibling's: no training run of it fitted one) where it is a
    large share of the step; a device with a training band widens it instead."""
    ins = device.insitu
    step = result.get("step_time_s")
    if ins is None or "step_overhead" in (ins.fitted or []) or "training" in ins.accuracy or \
            not isinstance(step, (int, float)) or step <= 0:
        return None
    fixed = factors(device).step_overhead
    if fixed <= BORROWED_SHARE * step:
        return None
    return (f"{device.name}: its fixed cost per step ({_duration(fixed)}, fitted to no "
            f"training run of this device) is {100 * fixed / step:.0f}% of this step")


def _uncalibrated_fixed_share(sc: ScenarioSpec, result: dict[str, Any],
                              names: list[str]) -> float:
    """The share of a training step that is the in-situ fixed cost per step, where the step
    is shorter than the shortest training step its profile was calibrated on (0 otherwise):
    there the fixed cost, fitted to frameworks' runs, may not exist at all."""
    step, fixed = result.get("step_time_s"), result.get("time_breakdown", {}).get("overhead_s")
    if not isinstance(step, (int, float)) or not isinstance(fixed, (int, float)) or \
            not 0 < fixed < step:
        return 0.0
    for p in sc.cluster.pools:
        ins = p.device.insitu
        if p.device.name not in names or ins is None or ins.calibrated_range is None:
            continue
        own = ins.calibrated_range.by_kind.get("training")
        if own is not None and own.step_time_s and step < own.step_time_s[0]:
            return fixed / step
    return 0.0


def _widen_reason(accs: list[AccuracySpec], extrapolated: bool) -> str:
    reasons = []
    thin = min(a.runs for a in accs)
    if thin < MIN_RUNS_FOR_SPREAD:
        reasons.append(f"{thin} held-out run{'s' if thin != 1 else ''} cannot fix an 80% band")
    if any(a.from_defaults for a in accs):
        reasons.append("its held-out runs were predicted from the micro-benchmark defaults, "
                       "their fold leaving no run of their kind to fit, so they measure the "
                       "defaults' error, not the fit's")
    if extrapolated:
        reasons.append("outside the calibrated range")
    return "; ".join(reasons)


def reference_band(group: str) -> tuple[float, float] | None:
    """(lowest p10, highest p90) of ``group`` over the registry's device profiles whose band
    rests on at least MIN_RUNS_FOR_SPREAD held-out runs, each predicted by a fit (throughput
    runs standing in for the latency kinds as in :data:`PROXY`); None when no profile has
    that many. A band held out from the defaults (``from_defaults``) is left out: it is the
    error of an uncalibrated profile, not of a fitted one on a new source."""
    from archsim.spec.registry import data_roots

    return _reference_band(group, tuple(str(r) for r in data_roots()))


@lru_cache(maxsize=32)
def _reference_band(group: str, roots: tuple[str, ...]) -> tuple[float, float] | None:
    from archsim.spec.registry import list_names, load_registry_mapping

    lows, highs = [], []
    for name in list_names("devices"):
        try:
            table = load_registry_mapping("devices", name)[0].get("insitu", {}) or {}
            accuracy = {k: AccuracySpec.model_validate(v)
                        for k, v in (table.get("accuracy") or {}).items()}
        except (ValueError, TypeError, AttributeError):  # a broken profile has no say here
            continue
        acc = _accuracy(accuracy, group)
        if acc is not None and acc.runs >= MIN_RUNS_FOR_SPREAD and not acc.from_defaults:
            lows.append(acc.p10)
            highs.append(acc.p90)
    return (min(lows), max(highs)) if lows else None


def _widest(accs: list[AccuracySpec]) -> tuple[float, float]:
    return min(a.p10 for a in accs), max(a.p90 for a in accs)


def _interval(value: float, p10: float, p90: float, sense: str) -> list[float]:
    """[low, high] of the measured value given the predicted ``value``."""
    if sense == "time":
        return sorted([value / (1.0 + p90), value / (1.0 + p10)])
    return sorted([value * (1.0 + p10), value * (1.0 + p90)])


def out_of_range(sc: ScenarioSpec, spec: DeviceSpec,
                 result: dict[str, Any] | None = None) -> list[str]:
    """Ways ``sc`` lies outside the runs the profile ``spec`` was calibrated on (with its
    ``result``, a training step shorter than any calibrated one too)."""
    ins, device = spec.insitu, spec.name
    rng: CalibratedRange | None = ins.calibrated_range if ins is not None else None
    if rng is None:
        return []
    out = []
    kind = sc.workload.kind
    calibrated_kind = "inference" if kind == "serving" else kind
    if rng.kinds and calibrated_kind not in rng.kinds:
        out.append(f"{device}: calibrated on {'/'.join(rng.kinds)} runs only, not {kind}")
    dtype = gemm_dtype_class(sc, spec)
    if rng.dtypes and dtype not in rng.dtypes:
        out.append(f"{device}: GEMMs in {dtype}; calibrated on {', '.join(rng.dtypes)}")
    for what, value, seen in (("attention", attention_mask(sc), rng.attention),
                              ("weights", sparsity_pattern(sc), rng.sparsity),
                              ("weights in", weight_dtype(sc, spec), rng.weights),
                              ("layers", layer_kind(sc), rng.layers)):
        if seen and value not in seen:  # an overlay from before these were recorded: []
            out.append(f"{device}: {what} {value}; calibrated on {', '.join(seen)} only")
    if calibrated_kind == "inference" and rng.launch and \
            (launch := kernel_launch(sc)) not in rng.launch:
        out.append(f"{device}: kernels {launch} (workload.cuda_graphs); calibrated on "
                   f"{', '.join(rng.launch)} runs only (their fitted cost per kernel is not "
                   "this launch path's)")
    count = sum(p.count for p in sc.cluster.pools if p.device.name == device)
    own = rng.by_kind.get(calibrated_kind)  # type: ignore[call-overload]
    spans = own if own is not None else rng
    tp, pp = engine_shape(sc, device)
    # an inference run's devices are one engine's (tp·pp), whatever the replicas around it
    devices = ("devices per replica", tp * pp) \
        if own is not None and calibrated_kind == "inference" else ("devices", count)
    checks = [(*devices, spans.devices), ("tp", tp, spans.tp), ("pp", pp, spans.pp)]
    if kind == "training":
        checks += [("cp", sc.plan.cp, rng.cp),
                   ("seq_len", sc.workload.seq_len, rng.seq_len)]  # type: ignore[union-attr]
        if rng.zero and sc.plan.zero not in rng.zero:
            out.append(f"{device}: ZeRO stage {sc.plan.zero}; calibrated on stages "
                       f"{', '.join(map(str, rng.zero))}")
    prompts: list[int] = []
    if calibrated_kind == "inference":
        batch, prompts = batch_and_prompts(sc)
        checks.append(("max batch" if kind == "serving" else "batch", batch, rng.batch))
    for name, value, span in checks:
        if span is not None and not span[0] <= value <= span[1]:
            of = f" of its {calibrated_kind} runs" if own is not None and name in \
                ("devices", "devices per replica", "tp", "pp") else ""
            out.append(f"{device}: {name} {value} outside the calibrated "
                       f"{span[0]}–{span[1]}{of}")
    context = decode_context(sc) if calibrated_kind == "inference" else None
    if context is not None:
        # a decode's batch and KV cache against the runs that decoded (the batch span above
        # holds TTFT runs' batches of one, which decode nothing; ``batch`` is the one above)
        if rng.decode_batch is not None and \
                not rng.decode_batch[0] <= batch <= rng.decode_batch[1]:
            out.append(f"{device}: decode batch {batch:,} outside the calibrated "
                       f"{rng.decode_batch[0]:,}–{rng.decode_batch[1]:,} of its runs that "
                       "decode")
        if rng.context is not None and context > rng.context[1]:
            out.append(f"{device}: context {context:,} tokens (prompt + generated) beyond the "
                       f"longest its calibrated runs decoded ({rng.context[1]:,})")
    span = rng.prompt_len
    if span is not None and (outside := sum(not span[0] <= n <= span[1] for n in prompts)):
        lo, hi = min(prompts), max(prompts)
        out.append(f"{device}: prompt_len {lo} outside the calibrated {span[0]}–{span[1]}"
                   if lo == hi else f"{device}: prompt_len {lo}–{hi} outside the calibrated "
                   f"{span[0]}–{span[1]} ({outside:,} of {len(prompts):,} prompts)")
    step = (result or {}).get("step_time_s") if kind == "training" else None
    shortest = own.step_time_s if own is not None and own.step_time_s else None
    if isinstance(step, (int, float)) and shortest is not None and 0 < step < shortest[0]:
        fixed = factors(spec).step_overhead
        share = (f"; its fitted fixed cost per step (insitu.step_overhead "
                 f"{_duration(fixed)}) is {100 * fixed / step:.0f}% of it" if fixed > 0 else "")
        out.append(f"{device}: step {_duration(step)} shorter than the shortest calibrated "
                   f"training step ({_duration(shortest[0])}){share}")
    if factors(run_device(spec, sc.plan, sc.workload)).host_op_cost:  # 0, None: never paces
        host = "host_op_cost" if kind == "training" else "inference_host_op_cost"
        out.append(f"{device}: paced by its host's cost per op (insitu.{host}), which the "
                   "calibrated runs did not have")
    return out


def engine_shape(sc: ScenarioSpec, device: str) -> tuple[int, int]:
    """The tp and pp the engines on ``device`` run: a disaggregated serving phase's own
    (``plan.placement.prefill/decode: {pool, tp, pp}``) where that phase's pool holds the
    device, else ``plan.tp`` and ``plan.pp`` (the larger engine where both phases do)."""
    from archsim.spec.placement import phase_entry

    placement = sc.plan.placement
    if sc.workload.kind != "serving" or not isinstance(placement, dict):
        return sc.plan.tp, sc.plan.pp
    pools = {p.name: p.device.name for p in sc.cluster.pools}
    shapes = []
    for phase in ("prefill", "decode"):
        entry = phase_entry(placement.get(phase))
        if isinstance(entry, dict) and pools.get(entry.get("pool")) == device:
            shapes.append((entry.get("tp", sc.plan.tp), entry.get("pp", sc.plan.pp)))
    return max(shapes, key=lambda s: s[0] * s[1]) if shapes else (sc.plan.tp, sc.plan.pp)


def batch_and_prompts(sc: ScenarioSpec) -> tuple[int, list[int]]:
    """An inference or serving run's batch and prompt lengths, to hold against the static-batch
    runs' spans. Serving: the most sequences a replica's scheduler can batch (``max_num_seqs``,
    and no more than the requests served, or than a closed loop's clients) and the prompts of
    the seeded request stream it serves (archsim/sim/serving/requests.py)."""
    wl = sc.workload
    if wl.kind != "serving":
        return wl.batch, [wl.prompt_len]  # type: ignore[union-attr]
    from archsim.sim.serving.requests import generate_requests

    prompts = [r.prompt_len for r in generate_requests(wl)]
    clients = wl.arrival.concurrency or len(prompts)
    return min(wl.max_num_seqs, len(prompts), clients), prompts


def decode_context(sc: ScenarioSpec) -> int | None:
    """The longest prompt + generated tokens of a sequence an inference or serving run decodes
    (one that generates more than one token), or None where none decodes (a TTFT run)."""
    wl = sc.workload
    if wl.kind == "inference":
        return wl.prompt_len + wl.gen_len if wl.gen_len > 1 else None  # type: ignore[union-attr]
    if wl.kind != "serving":
        return None
    from archsim.sim.serving.requests import generate_requests

    return max((r.prompt_len + r.gen_len for r in generate_requests(wl) if r.gen_len > 1),
               default=None)


def _duration(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds >= 1 else f"{1e3 * seconds:.3g} ms"


def attention_mask(sc: ScenarioSpec) -> str:
    """bidirectional (an encoder, e.g. BERT) or causal (a decoder)."""
    return "bidirectional" if sc.model.encoder else "causal"


def weight_dtype(sc: ScenarioSpec, device: DeviceSpec | None = None) -> str:
    """The dtype the weights are stored in on ``device`` (default: the scenario's first): the
    compression plan's, else the workload's (fp16 counted as bf16, as :func:`gemm_dtype_class`
    does). Training whose fp8 / int8 GEMMs fall back (``fallback``) is 16-bit training after
    all (archsim/plan/compress.py); inference keeps its narrower stored weights."""
    comp = sc.compression
    dtype = (comp.weight_dtype if comp is not None and comp.weight_dtype else None) or \
        sc.workload.dtype
    if sc.workload.kind == "training" and _falls_back(sc, device):
        dtype = sc.workload.dtype
    return "bf16" if dtype == "fp16" else dtype


def _falls_back(sc: ScenarioSpec, device: DeviceSpec | None) -> bool:
    """The compression plan's fp8 / int8 GEMMs run in its ``fallback`` on ``device``."""
    comp = sc.compression
    if comp is None or comp.activation_dtype not in ("fp8", "int8") or comp.fallback is None:
        return False
    device = device if device is not None else sc.cluster.pools[0].device
    return comp.activation_dtype not in device.peak


def layer_kind(sc: ScenarioSpec) -> str:
    """moe (mixture-of-experts layers) or dense."""
    return "moe" if sc.model.moe is not None else "dense"


def kernel_launch(sc: ScenarioSpec) -> str:
    """How an inference run launches its kernels: ``graphs`` (a captured CUDA/HIP graph
    replayed, ``workload.cuda_graphs``) or ``streamed`` (each kernel queued in its stream)."""
    return "graphs" if getattr(sc.workload, "cuda_graphs", False) else "streamed"


def sparsity_pattern(sc: ScenarioSpec) -> str:
    """The weight sparsity of the scenario's compression plan: 2:4, unstructured or dense."""
    sp = sc.compression.sparsity if sc.compression is not None else None
    return sp.pattern if sp is not None else "dense"


def gemm_dtype_class(sc: ScenarioSpec, device: DeviceSpec | None = None) -> str:
    """The GEMMs' dtype class on ``device`` (default: the scenario's first): fp8 / int8 under
    such a compression plan where the device has that dtype, its ``fallback`` where it does
    not, else the workload's (fp16 counted as bf16: the same tensor-core rate on every
    calibrated device)."""
    comp = sc.compression
    dtype = sc.workload.dtype
    if comp is not None and comp.activation_dtype in ("fp8", "int8"):
        dtype = comp.fallback if _falls_back(sc, device) else comp.activation_dtype
    return "bf16" if dtype == "fp16" else dtype  # type: ignore[return-value]


LABELS = {"step_time_s": ("step time", "s"), "tokens_per_s": ("throughput", "tokens/s"),
          "ttft_s": ("TTFT", "s"), "tpot_s": ("TPOT", "s"), "e2e_latency_s": ("latency", "s"),
          "ttft_p99_s": ("TTFT p99", "s"), "tpot_p99_s": ("TPOT p99", "s"),
          "e2e_p50_s": ("end-to-end p50", "s"), "e2e_p99_s": ("end-to-end p99", "s"),
          "cost_per_million_tokens_usd": ("$ per M tokens", "USD"),
          "ttft_p50_s": ("TTFT p50", "s"), "tpot_p50_s": ("TPOT p50", "s"),
          "requests_per_s": ("requests completed", "req/s"), "cost_usd": ("cost", "USD"),
          "energy_joules": ("energy", "J")}
GROUPS = {"training": "training", "ttft": "TTFT", "tpot": "TPOT",
          "e2e_latency": "end-to-end latency", "throughput": "inference throughput"}


def band_clause(err: dict[str, Any]) -> str:
    """What a group's band says: the signed error of the prediction, (predicted − measured) /
    measured, for 80% of held-out runs, or the wider reference band it was widened to."""
    band = f"{100 * err['p10']:+.0f}% … {100 * err['p90']:+.0f}%"
    if err.get("composed") and not err.get("widened"):
        return (f"{band} off the measured time at the ends of the TTFT and TPOT bands it is "
                "read off (no band of its own)")
    if err.get("widened"):
        return (f"predicted times taken as {band} off the measured ones, the wider reference "
                f"band ({err['widened']})" + _joined(err))
    if err.get("joined"):
        return f"predicted times taken as {band} off the measured ones ({err['joined']})"
    if err.get("not_widened"):
        return (f"for 80% of them the predicted time was {band} off the measured one "
                f"({err['not_widened']})")
    return f"for 80% of them the predicted time was {band} off the measured one"


def _joined(err: dict[str, Any]) -> str:
    return f"; {err['joined']}" if err.get("joined") else ""


def mape_clause(err: dict[str, Any]) -> str:
    """'MAPE 5.4%', or 'in-range MAPE 5.4%' where the run lies outside that range."""
    outside = "outside the calibrated range" in (err.get("widened") or
                                                   err.get("not_widened") or "")
    return f"{'in-range ' if outside else ''}MAPE {100 * err['mape']:.1f}%"


def _band_says(block: dict[str, Any], key: str, mode: str, flag: str) -> bool:
    group = metric_keys(mode).get(key, ("", ""))[0]
    return bool((block["errors"].get(group) or {}).get(flag))


def is_widened(block: dict[str, Any], key: str, mode: str) -> bool:
    """Whether the interval of result ``key`` rests on a widened band (not an 80% one)."""
    return _band_says(block, key, mode, "widened")


def is_composed(block: dict[str, Any], key: str, mode: str) -> bool:
    """Whether the interval of result ``key`` is read off other bands' ends (a static batch's
    end-to-end latency: TTFT + n × TPOT), not a band of held-out runs of its own."""
    return _band_says(block, key, mode, "composed")


def likely(block: dict[str, Any], key: str, mode: str) -> str:
    """'likely (80%)', 'likely (widened band)' where the key's band was widened, 'likely
    (wider of the latency and throughput bands)' where a static batch's joined them, 'likely
    (from the TTFT and TPOT bands)' where it is read off theirs, and 'likely (80% in range;
    outside it, unmeasured)' where a run outside the calibrated range keeps its band, already
    the widest (``not_widened``)."""
    if is_widened(block, key, mode):
        return "likely (widened band)"
    if _band_says(block, key, mode, "joined"):
        return "likely (wider of the latency and throughput bands)"
    if is_composed(block, key, mode):
        return "likely (from the TTFT and TPOT bands)"
    if _band_says(block, key, mode, "not_widened"):
        return "likely (80% in range; outside it, unmeasured)"
    return "likely (80%)"


def uncertainty_lines(d: dict[str, Any]) -> list[str]:
    """The error bar as summary lines (what ``archsim simulate`` prints)."""
    block = d.get("uncertainty")
    if not block:
        return []
    out = ["Error bar (cross-validated on measured runs: archsim/accuracy.py; an error is "
           "(predicted − measured) / measured time, so for a rate such as throughput −20% "
           "means predicted 25% fast)"]
    if block.get("note"):
        out.append(f"  {block['note']}")
    for group, err in block["errors"].items():
        if err.get("composed"):
            out.append(f"  {GROUPS.get(group, group)}: {err['method']}; " + band_clause(err))
            continue
        out.append(f"  {GROUPS.get(group, group)}: {mape_clause(err)} over {err['runs']} "
                   f"held-out runs from {_sources(err['sources'])} ({err['method']}); "
                   + band_clause(err))
    mode = d.get("mode", "")
    for key, (lo, hi) in block["intervals"].items():
        if key in LABELS:
            name, unit = LABELS[key]
            scale = 1.0
            if key == "energy_joules":  # in the summary's units (kWh, or Wh below one)
                scale, unit = (3.6e6, "kWh") if d[key] >= 3.6e6 else (3.6e3, "Wh")
            out.append(f"  {name}: {_num(d[key] / scale)} {unit}, {likely(block, key, mode)} "
                       f"{_num(lo / scale)}–{_num(hi / scale)} {unit}")
    if prior := block.get("at_priors"):
        out.append(f"  at the priors: {prior['method']}; the intervals above reach its values")
    if slow := block.get("slow_end"):
        verdict = ("meets the SLO" if slow["meets_slo"] else "misses the SLO"
                   if slow["meets_slo"] is not None else "has no SLO")
        pace = "keeps up" if slow["keeps_up"] else f"does not show that it keeps up ({slow['why']})"
        attained = (f" (attainment {100 * slow['slo_attainment']:.1f}%)"
                    if slow["slo_attainment"] is not None else "")
        out.append(f"  slow end: {slow['method']}: it {verdict}{attained} and {pace}; the "
                   "intervals above reach its values")
    for reason in block["out_of_range"]:
        out.append(f"  outside the calibration: {reason}")
    for claim in block.get("above_published", []):
        out.append(f"  CAUTION: {claim}")
    return out


def _sources(n: int) -> str:
    return f"{n} source" if n == 1 else f"{n} sources"


def _num(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"
    return f"{x:.3g}"
