"""Parts of every result: identity fields, infeasible results, energy and cost."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from archsim.result import RESULT_VERSION, Result, empty_communication, empty_memory
from archsim.spec.device import DeviceSpec
from archsim.spec.scenario import ScenarioSpec
from archsim.textfmt import human_bytes

# Without a measured idle power in the profile, an idle device is assumed to draw this fraction
# of its TDP. UNVERIFIED assumption (nvidia-smi idle readings of A100/H100 SXM are ~15-25% of
# TDP); profiles should give idle_power.
DEFAULT_IDLE_FRACTION = 0.2


TIGHT_MEMORY_SHARE = 0.95
"""Share of a device's memory above which a plan that fits says how little it left (a
judgement: the runtime reserve is the only allowance, and the caching allocator's
fragmentation and communication buffers are not modelled)."""


def fits_tightly(peak: float, capacity: float) -> bool:
    """Whether ``peak`` fits in ``capacity`` with less than 1 − TIGHT_MEMORY_SHARE to spare."""
    return TIGHT_MEMORY_SHARE * capacity < peak <= capacity


def tight_memory_note(worst: dict[str, Any]) -> str | None:
    """A note for the busiest stage's memory (``peak_bytes``, ``capacity_bytes``, ``other``:
    the runtime reserve) where it fits with less than 1 − TIGHT_MEMORY_SHARE to spare."""
    peak, capacity = worst["peak_bytes"], worst["capacity_bytes"]
    if not fits_tightly(peak, capacity):
        return None
    return (f"memory: stage {worst['stage']} fills {100 * peak / capacity:.1f}% of its "
            f"{human_bytes(capacity)} per device; the runtime reserve "
            f"({human_bytes(worst['other'])}) is the only allowance, and the allocator's "
            "fragmentation and communication buffers, not modelled, may not fit beside it")


def base_result(sc: ScenarioSpec, mode: str) -> dict[str, Any]:
    cluster = sc.cluster
    return {
        "result_version": RESULT_VERSION,
        "name": sc.name,
        "mode": mode,
        "model": sc.model.name,
        "hardware": {"pools": [{"name": p.name, "device": p.device.name, "count": p.count,
                                "devices_per_node": p.devices_per_node,
                                "intra_node": p.intra_node.name if p.intra_node else None,
                                "inter_node": p.inter_node.name if p.inter_node else None}
                               for p in cluster.pools]},
        "feasible": True,
        "infeasible_reasons": [],
    }


def infeasible_result(sc: ScenarioSpec, mode: str, reasons: list[str], wall0: float) -> Result:
    out = base_result(sc, mode)
    device = sc.cluster.pools[0].device
    out.update({
        "feasible": False,
        "infeasible_reasons": reasons,
        "step_time_s": None, "tokens_per_s": None, "mfu": None, "hfu": None,
        "tflops_per_device": None,
        "ttft_s": None, "tpot_s": None, "e2e_latency_s": None,
        "memory": empty_memory(device.memory.capacity),
        "communication": empty_communication(),
        "energy_joules": None, "cost_usd": None,
        "sim": {"events": 0, "wall_s": time.perf_counter() - wall0, "engine": "des"},
    })
    return Result(out)


def mfu_peak(peak: float, flops: float, sparse_flops: float, device: DeviceSpec) -> float:
    """The peak MFU is measured against: ``peak`` (the dense peak of the GEMM dtype), except
    that the ``sparse_flops`` of ``flops`` that run on 2:4-sparse tensor cores count against
    the sparse peak (``peak`` × the profile's ``sparsity.peak_factor``, 2 on NVIDIA's, as
    their datasheets quote 624 sparse TFLOPS for the A100's 312 dense). The blend is the rate
    at which the model's FLOPs would run if every GEMM ran at its own peak:
    flops / ((flops − sparse)/peak + sparse/(peak × factor)). Against the dense peak alone a
    2:4 run's MFU passed 100% (Llama-2-7B prefill on an A100: 114.8%), which no run can reach
    in the 0..1 the contract defines."""
    if sparse_flops <= 0.0 or flops <= 0.0 or device.sparsity is None:
        return peak
    sparse = min(sparse_flops, flops)
    factor = device.sparsity.peak_factor
    return flops / ((flops - sparse) / peak + sparse / (peak * factor))


def mfu_basis(gemm_dtype: str, dense_peak: float, peak: float) -> str | None:
    """The peaks MFU and HFU divide by, in words, where a reader could not guess them (the
    result's ``mfu_basis``): 2:4-sparse GEMMs (MFU's ``peak`` above the ``dense_peak`` HFU
    uses, :func:`mfu_peak`) or a GEMM dtype below 16 bits (an fp8 run's MFU is of the fp8
    peak: 37% of it is 75% of the bf16 peak). None for a plain 16- or 32-bit run."""
    if abs(peak - dense_peak) > 0.005 * dense_peak:
        return (f"2:4 GEMMs at the sparse peak: MFU of {peak / 1e12:,.0f}, HFU of "
                f"{dense_peak / 1e12:,.0f} TFLOP/s")
    if gemm_dtype not in ("bf16", "fp16", "fp32", "tf32", "fp64"):
        return f"of the {gemm_dtype} peak, {dense_peak / 1e12:,.0f} TFLOP/s"
    return None


def price_sources_note(devices: Sequence[DeviceSpec]) -> str | None:
    """Where the prices of several device types compared in one answer come from: each is its
    profile's list price (``price_source``), and the providers differ (the shipped GPUs are
    Lambda Cloud's on-demand prices, Inferentia2 AWS's and the TPUs Google Cloud's, 2024
    lists, UNVERIFIED), so a cost ranking across them compares those lists, not one cloud's
    offer: AWS's 2024 on-demand H100 was about 4× Lambda's per GPU-hour (p5.48xlarge 98.32
    USD/h for 8 against 2.99, as the energy and cost audit of 2026-12-07 recalled them:
    UNVERIFIED). None for fewer than two priced device types."""
    priced = {d.name: d for d in devices if d.price_per_hour is not None}
    if len(priced) < 2:
        return None
    each = "; ".join(f"{name} {d.price_per_hour:g} USD/h ({d.price_source or 'source not given'})"
                     for name, d in priced.items())
    return (f"prices compared: {each}. Each is its profile's list price; where they come from "
            "different providers a cost ranking compares those lists, not one cloud's offer "
            "(set price_per_hour in a profile of your own for your quotes)")


def unverified_power_note(devices: Sequence[DeviceSpec]) -> str | None:
    """Energy resting on a TDP no datasheet gives (the profile lists ``tdp`` as unverified:
    Inferentia2's and Trainium2's placeholders, the TPUs' estimates scaled from v4's
    measured power, the Groq card's remembered maximum), in one line; None where every
    device's TDP is its datasheet's."""
    guessed = [f"{d.name} {d.tdp:g} W" for d in devices if "tdp" in d.unverified]
    if not guessed:
        return None
    return (f"energy rests on an UNVERIFIED TDP ({', '.join(guessed)}: no datasheet figure; "
            "see the profile's comment): read it as an order of magnitude")


UNVERIFIED_COMM_SHARE = 0.10
"""Exposed communication, as a share of a step or a generation, above which a result says that
it rests on its links' UNVERIFIED values (a judgement: below it they move the answer little)."""


def torus_pod_note(cluster: Any) -> str | None:
    """A torus pool declared as a whole domain smaller than its link's pod (a TPU v5e
    ``devices_per_node: 64``): every axis then gets its wrap-around links, which a slice of
    that size has only where the link's ``torus_wrap_multiple`` or a full pod axis gives them
    (archsim/spec/hardware.py torus_wraps). The shipped v5e cluster had declared its 8×8 slice
    so, and trained Llama-2-7B 42% faster on 64 chips than as the slice of a pod it is."""
    out = []
    for pool in cluster.pools:
        link = pool.intra_node
        if link is None or not pool.torus_dims or link.max_devices is None or \
                pool.count < pool.devices_per_node or pool.devices_per_node >= link.max_devices:
            continue
        # the same chips as a slice of the link's pod: the wraps torus_wraps gives a slice
        as_slice = pool.model_copy(update={"devices_per_node": link.max_devices}).torus_wraps
        if all(as_slice):
            continue
        shape = "×".join(str(d) for d in pool.torus_dims)
        wrapped = ", ".join(f"axis {i}" for i, w in enumerate(as_slice) if w)
        where = f"only on {wrapped}" if wrapped else "on none of its axes"
        out.append(f"pool {pool.name}: devices_per_node {pool.devices_per_node} makes its "
                   f"{shape} torus a whole {link.name} domain, with wrap-around links on "
                   f"every axis; that link's pod holds {link.max_devices}, and a slice of "
                   f"this shape has them {where}: declare "
                   f"devices_per_node: {link.max_devices} (count {pool.count}) to simulate it "
                   "as the slice it is")
    return "; ".join(out) or None


def unverified_links_note(result: dict, cluster: Any) -> str | None:
    """A training step or static batch whose exposed communication is at least
    ``UNVERIFIED_COMM_SHARE`` of its time, carried by links whose bandwidth or efficiency no
    measurement gives (or, for inference, whose latency: small all-reduces per token), in one
    line; None otherwise. A ranking against a device with measured links may turn on them:
    eight Gaudi 2 cards decode GPT-3 1.7B at tp 8 faster than eight H100s on a guessed 5 µs
    RoCE step against NVSwitch's measured one."""
    mode = result.get("mode")
    total = result.get("step_time_s") if mode == "training" else result.get("e2e_latency_s")
    exposed = (result.get("communication") or {}).get("exposed_time_s")
    if mode not in ("training", "inference") or not total or not exposed or \
            exposed < UNVERIFIED_COMM_SHARE * total:
        return None
    fields = {"bandwidth", "efficiency"} | ({"latency"} if mode == "inference" else set())
    used = {}
    for pool in cluster.pools:
        if pool.count > 1 and pool.intra_node is not None:
            used[pool.intra_node.name] = pool.intra_node
        if pool.count > pool.devices_per_node and pool.inter_node is not None:
            used[pool.inter_node.name] = pool.inter_node
    if len(cluster.pools) > 1:
        used.update({lk.interconnect.name: lk.interconnect for lk in cluster.links})
    guessed = [f"{name} ({', '.join(f for f in link.unverified if f in fields)})"
               for name, link in sorted(used.items()) if fields & set(link.unverified)]
    if not guessed:
        return None
    return (f"exposed communication is {100 * exposed / total:.0f}% of this "
            f"{'step' if mode == 'training' else 'run'} and rests on UNVERIFIED link values: "
            f"{'; '.join(guessed)} (see each interconnect profile's comments): a ranking "
            "against a device whose links were measured may turn on them")


def idle_power(device: DeviceSpec) -> float:
    return device.idle_power if device.idle_power is not None else \
        DEFAULT_IDLE_FRACTION * device.tdp


def energy_joules(device: DeviceSpec, wall_s: float, busy_s: Sequence[float],
                  devices_per_stage: int) -> float:
    """Devices draw TDP while their compute stream is busy and idle power otherwise.

    TDP while busy is an upper bound that large GEMM-bound kernels approach; memory-bound and
    communication phases draw less, so this errs high.
    """
    idle = idle_power(device)
    per_group = [b * device.tdp + max(0.0, wall_s - b) * idle for b in busy_s]
    return devices_per_stage * sum(per_group)


def cost_usd(device: DeviceSpec, devices: int, wall_s: float) -> float | None:
    if device.price_per_hour is None:
        return None
    return devices * device.price_per_hour * wall_s / 3600.0
