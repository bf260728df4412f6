"""``archsim calibrate``: micro-benchmark the local device and write a device profile.

The profile (a hardware_profiles/devices/ YAML that ``archsim simulate`` accepts inline, by
path, or from the registry) holds the fitted values with a comment saying how each was obtained,
the fitted curves, and under ``calibration:`` the raw measurements and when and where they were
taken. See :mod:`archsim.validate.bench` for the programs and :mod:`archsim.validate.fit` for
the fit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from archsim.io import write_text_atomic
from archsim.spec.device import DeviceSpec
from archsim.spec.units import format_quantity
from archsim.validate.fit import FitResult, fit_device
from archsim.validate.measure import preserved_torch_settings

CPU_TDP_PER_CORE_W = 10.0
"""UNVERIFIED placeholder: a server core draws roughly 5-15 W under load; used only for energy
figures of a calibrated CPU profile (the benchmarks cannot measure power)."""
QUIET_CHECK_EVERY_S = 2.0
"""On CPU, wait for other processes to leave the machine at most this often (each check
sleeps 0.2 s)."""
GPU_TDP_FALLBACK_W = 700.0
"""UNVERIFIED placeholder for a GPU whose power limit nvidia-smi cannot report (an H100/H200
SXM's 700 W)."""


@dataclass
class Calibration:
    """A finished calibration: the profile mapping, its YAML text and the fit behind it."""

    profile: dict
    text: str
    fit: FitResult
    raw: dict
    info: dict


def device_mapping(fit: FitResult, *, name: str, kind: str, capacity: float, tdp: float,
                   info: dict | None = None, raw: dict | None = None) -> dict:
    """The DeviceSpec mapping (unit strings) of a fit."""
    eff: dict = {
        "memory": round(min(1.0, fit.memory_efficiency), 4),
        "vector": fit.by_kind.get("elementwise.fwd", 0.5),
        "by_kind": dict(fit.by_kind),
        "matmul": {"points": [list(p) for p in fit.matmul_points],
                   "source": f"archsim calibrate: {fit.primary_dtype} GEMM grid, moving "
                             "median (one decade wide) of the efficiency by FLOPs"
                             + ("; by_rows: the same per operand layout and row count"
                                if fit.rows_points else "")},
        "source": "archsim calibrate micro-benchmarks (see calibration:)",
    }
    if fit.rows_points:
        eff["matmul"]["by_rows"] = [{"layout": layout, "rows": m,
                                     "points": [list(p) for p in pts]}
                                    for (layout, m), pts in sorted(fit.rows_points.items())]
    if fit.attention_points:
        eff["attention"] = {"points": [list(p) for p in fit.attention_points],
                            "source": "archsim calibrate: scaled_dot_product_attention grid"}
    if fit.causal_skip:
        eff["causal_skip"] = [list(p) for p in fit.causal_skip]
    mapping = {
        "name": name,
        "kind": kind,
        "vendor": "local",
        "verification": "MEASURED",
        "source": "archsim calibrate on " + (info or {}).get("host", "this machine"),
        "peak": {dt: format_quantity(v, "flops", 6) for dt, v in fit.peaks.items()},
        "vector_peak": format_quantity(fit.vector_peak, "flops", 6),
        "memory": {"capacity": format_quantity(capacity, "bytes", 6),
                   "bandwidth": format_quantity(fit.bandwidth, "bandwidth", 6),
                   "kind": "DRAM" if kind == "cpu" else "HBM/GDDR"},

        "tdp": f"{tdp:.0f} W",
        "launch_overhead": format_quantity(fit.launch_s, "time", 4),
        "efficiency": eff,
        "devices_per_node": 1,
        "unverified": ["tdp", "memory.capacity" if kind == "cpu" else "memory.reserved"],
    }
    if info is not None or raw is not None:
        cache = ({"bytes": format_quantity(fit.cache_bytes, "bytes", 4),
                  "bandwidth": format_quantity(fit.cache_bandwidth, "bandwidth", 6)}
                 if fit.cache_bandwidth else None)
        mapping["calibration"] = {"info": info or {}, "fit_errors": fit.errors,
                                  "sustained_copy_bandwidth": format_quantity(
                                      fit.sustained_copy_bandwidth, "bandwidth", 6),
                                  "cache_level_not_simulated": cache,
                                  "raw": raw or {}}
    return mapping


_COMMENTS = {
    "peak": "best measured FLOP/s of each dtype's GEMMs, launch overhead removed (NOT a "
            "datasheet peak: efficiencies below are relative to it)",
    "vector_peak": "the fp32 GEMM peak: elementwise kernels run on the same FMA units",
    "bandwidth": "median copy bandwidth of buffers of 64 MiB or more (beyond the caches; "
                 "see calibration: cache_level_not_simulated)",
    "capacity": "the device's memory as reported by the OS / CUDA",
    "tdp": "UNVERIFIED placeholder (benchmarks do not measure power)",
    "launch_overhead": "mean time per call of tiny ops, one of each kind of a layer",
    "memory": "1: memory.bandwidth is an achieved (fitted) bandwidth",
    "vector": "the elementwise kind's efficiency (used for kinds not in by_kind)",
    "by_kind": ("per op kind, and per kernel variant (kind.variant.phase): 1-D fit of "
                "compute_time to those kernels (fwd and bwd)"),
    "causal_skip": ("[queries, share of the causal mask's masked work the attention kernel "
                    "skipped]: the same SDPA shapes timed with and without is_causal"),
    "insitu": "in-model costs per op (on a GPU: the host's, per op it issues) and per step "
              "from the framework benchmark (archsim/validate/overheads.py); everything else "
              "as measured above",
}


def profile_text(mapping: dict) -> str:
    """YAML of a profile mapping with a comment on each fitted value; raw records one per
    line (flow style) under ``calibration.raw``."""
    body = {k: v for k, v in mapping.items() if k != "calibration"}
    text = yaml.safe_dump(body, sort_keys=False, width=100)
    lines = []
    for line in text.splitlines():
        m = re.match(r"^(\s*)([a-z_]+):", line)
        if m and m.group(2) in _COMMENTS:
            line = f"{line}  # {_COMMENTS[m.group(2)]}"
        lines.append(line)
    header = ["# Device profile written by `archsim calibrate` from micro-benchmarks on this",
              "# machine (archsim/validate/bench.py); fitted by archsim/validate/fit.py.",
              "# Every value below was measured here except those listed in `unverified`."]
    out = header + lines
    cal = mapping.get("calibration")
    if cal is not None:
        out.append("calibration:")
        rest = {k: v for k, v in cal.items() if k != "raw"}
        for line in yaml.safe_dump(rest, sort_keys=False, width=100).splitlines():
            out.append("  " + line)
        out.append("  raw:")
        for section, records in cal.get("raw", {}).items():
            out.append(f"    {section}:")
            for rec in records:
                flow = yaml.safe_dump(_rounded(rec), default_flow_style=True, width=10**6,
                                      sort_keys=False).strip()
                out.append(f"      - {flow}")
    return "\n".join(out) + "\n"


def _rounded(rec: dict) -> dict:
    return {k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in rec.items()}


BASE_FIELDS = ("vendor", "tdp", "idle_power", "sram", "sparsity", "scale_up", "scale_out",
               "devices_per_node", "price_per_hour", "price_source")
"""What a calibrated profile takes from a registry profile given as ``base``: what the
micro-benchmarks cannot measure (power, price, links, node size)."""


def with_base(mapping: dict, base: str) -> dict:
    """``mapping`` with BASE_FIELDS (and memory.reserved) from the registry profile ``base``;
    the base's UNVERIFIED marks come along for the fields taken."""
    from archsim.spec.registry import load_registry_mapping

    data, path = load_registry_mapping("devices", base)
    out = dict(mapping)
    taken = [f for f in BASE_FIELDS if f in data]
    out.update({f: data[f] for f in taken})
    if "reserved" in data.get("memory", {}):
        out["memory"] = {**out["memory"], "reserved": data["memory"]["reserved"]}
        taken.append("memory.reserved")
    unverified = [u for u in mapping.get("unverified", []) if u not in taken]
    unverified += [u for u in data.get("unverified", []) if u in taken]
    out["unverified"] = list(dict.fromkeys(unverified))
    out["source"] = (f"{mapping.get('source', '')}; {', '.join(taken)} from {base} "
                     f"({path})")
    return out


def with_overheads(mapping: dict, raw: dict, primary_dtype: str) -> dict:
    """``mapping`` with the framework benchmark's in-model costs in its in-situ block: added
    to every op on a CPU, the host's cost per op on a GPU (its kernels run asynchronously;
    archsim/validate/overheads.py); unchanged without framework records."""
    from archsim.spec.units import format_quantity
    from archsim.validate.overheads import fit_overheads, fit_streaming, insitu_block
    from archsim.validate.records import FIT_MAX_CONTENTION

    records = [r for r in raw.get("framework", [])
               if r.get("contention", 0.0) <= FIT_MAX_CONTENTION]
    if not records:
        return mapping
    device = {k: v for k, v in mapping.items() if k != "calibration"}
    ov = fit_overheads(records, device, primary_dtype,
                       asynchronous=mapping.get("kind") != "cpu")
    if ov is None:
        return mapping
    out = dict(mapping)
    block = insitu_block(ov, primary_dtype)
    fit_detail: dict = {"framework_fit": ov.detail}
    if block is not None:
        streaming = [r for r in raw.get("streaming", [])
                     if r.get("contention", 0.0) <= FIT_MAX_CONTENTION]
        if streaming and not ov.asynchronous:
            fit = fit_streaming(streaming, {**device, "insitu": block}, primary_dtype)
            block["inference_op_overhead_by_pass_bytes"] = [
                [size, format_quantity(cost, "time", 4)] for size, cost in fit.op_cost]
            if fit.read_scale:
                block["inference_weight_read_scale_by_pass_bytes"] = [
                    [size, scale] for size, scale in fit.read_scale]
            source = ("archsim calibrate streaming benchmark: decode steps of 2-layer GPT and "
                      f"Llama models of widths {sorted({r['width'] for r in streaming})}, each "
                      "op timed in place (archsim/validate/overheads.py fit_streaming)")
            block["sources"]["inference_op_overhead_by_pass_bytes"] = source
            if fit.read_scale:
                block["sources"]["inference_weight_read_scale_by_pass_bytes"] = source
            fit_detail["streaming_fit"] = fit.detail
        out["insitu"] = block
    if isinstance(out.get("calibration"), dict):
        out["calibration"] = {**out["calibration"], **fit_detail}
    return out


def build_spec(mapping: dict) -> DeviceSpec:
    return DeviceSpec.model_validate(mapping)


def refit_profile(old: dict) -> tuple[dict, FitResult]:
    """A profile written by ``archsim calibrate`` fitted again from the raw records it keeps
    (no device, no torch): after a change to the fit, the same measurements give the profile
    the current code would have written. What ``--base`` supplied is kept as written. The
    primary dtype is fp32 on a CPU, bf16 on a GPU."""
    from archsim.spec.units import parse_quantity

    raw, info = old["calibration"]["raw"], old["calibration"]["info"]
    capacity = parse_quantity(old["memory"]["capacity"], "bytes")
    tdp = parse_quantity(old["tdp"], "power")
    primary = "fp32" if old["kind"] == "cpu" else "bf16"

    def build(fit):
        return build_spec(device_mapping(fit, name=old["name"], kind=old["kind"],
                                         capacity=capacity, tdp=tdp))

    fit = fit_device(raw, primary, build)
    mapping = device_mapping(fit, name=old["name"], kind=old["kind"], capacity=capacity,
                             tdp=tdp, info=info, raw=raw)
    mapping = with_overheads(mapping, raw, primary)
    for key in (*BASE_FIELDS, "source", "unverified"):
        if key in old:  # what --base supplied is not measured: keep it as written
            mapping[key] = old[key]
    if "reserved" in old["memory"]:
        mapping["memory"] = {**mapping["memory"], "reserved": old["memory"]["reserved"]}
    build_spec(mapping)
    return mapping, fit


@preserved_torch_settings()
def calibrate(device: str = "auto", *, quick: bool = False, threads: int | None = None,
              name: str | None = None, base: str | None = None,
              progress: Callable[[int, int, str], None] | None = None) -> Calibration:
    """Run the micro-benchmarks on ``device`` and fit a profile.

    ``base`` names a registry device whose unmeasurable fields (power, price, links, node
    size) the profile takes (see BASE_FIELDS). ``progress(done, total, label)`` is called
    before each benchmark. Raises SpecError when torch is missing, the device is not available
    or ``base`` is not a registry device.
    """
    if base is not None:
        from archsim.spec.registry import registry_path

        registry_path("devices", base)  # fail before measuring
    from archsim.validate import bench
    from archsim.validate.measure import (
        configure,
        machine_info,
        memory_capacity_bytes,
        resolve_device,
        wait_for_quiet,
    )

    dev = resolve_device(device)
    n_threads = configure(dev, threads)
    grid = bench.default_grid(dev, quick=quick)
    total = bench.count_steps(grid)
    done = [0]
    last_check = [0.0]
    waited = [0.0]

    def step(label: str) -> None:
        if progress is not None:
            progress(done[0], total, label)
        done[0] += 1
        if dev == "cpu" and time.perf_counter() - last_check[0] > QUIET_CHECK_EVERY_S:
            waited[0] += wait_for_quiet(max_wait_s=30.0)
            last_check[0] = time.perf_counter()

    info = machine_info(dev, n_threads)
    info["grid"] = "quick" if quick else "full"
    raw = bench.run_all(dev, grid, step)
    info["waited_for_quiet_s"] = round(waited[0], 1)
    if progress is not None:
        progress(total, total, "fitting")
    kind = "gpu" if dev == "cuda" else "cpu"
    capacity = memory_capacity_bytes(dev)
    tdp = _tdp(dev, n_threads)
    label = name or _default_name(info)

    def build(fit: FitResult) -> DeviceSpec:
        return build_spec(device_mapping(fit, name=label, kind=kind, capacity=capacity,
                                         tdp=tdp))

    fit = fit_device(raw, grid.dtypes[0], build)
    mapping = device_mapping(fit, name=label, kind=kind, capacity=capacity, tdp=tdp,
                             info=info, raw=raw)
    mapping = with_overheads(mapping, raw, grid.dtypes[0])
    if base is not None:
        mapping = with_base(mapping, base)
    build_spec(mapping)  # the written profile must load
    return Calibration(profile=mapping, text=profile_text(mapping), fit=fit, raw=raw,
                       info=info)


def write_profile(cal: Calibration, path: Path) -> None:
    """Write the profile atomically after checking that the text loads as a DeviceSpec."""
    DeviceSpec.model_validate(yaml.safe_load(cal.text))
    write_text_atomic(Path(path), cal.text)


def _default_name(info: dict) -> str:
    host = re.sub(r"[^a-z0-9]+", "-", str(info.get("host", "local")).lower()).strip("-")
    return f"{'gpu' if info.get('device') == 'cuda' else 'cpu'}-local-{host or 'machine'}"


def _tdp(device: str, threads: int) -> float:
    if device == "cuda":
        import subprocess

        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=power.limit",
                                  "--format=csv,noheader,nounits", "-i", "0"],
                                 capture_output=True, text=True, timeout=10, check=True)
            return float(out.stdout.strip().splitlines()[0])
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            return GPU_TDP_FALLBACK_W
    return CPU_TDP_PER_CORE_W * threads
