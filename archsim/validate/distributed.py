"""Two local processes with torch.distributed: all-reduce sweep and a data-parallel step.

* The all-reduce sweep times ``dist.all_reduce`` of fp32 buffers from a few KiB to tens of MiB
  between two processes (gloo on CPU, nccl on CUDA) and fits archsim's alpha-beta model of a
  two-rank ring all-reduce, t = 2·(n−1)·α + 2·(n−1)/n · S / B = 2α + S/B for n = 2, by least
  squares in relative error: a ``loopback`` interconnect profile (bandwidth B, latency α,
  efficiency 1 because B is achieved).
* The data-parallel step trains a validation model with DistributedDataParallel (gradients
  all-reduced in buckets, overlapped with the backward pass) and is compared with archsim's
  simulation of the same step with dp = 2 on that interconnect and the per-rank device profile.

Each rank gets half of the CPU cores (``threads``), so the per-rank device profile must be
calibrated with the same thread count (:func:`run_check` does that unless given one).
The sweep is the calibration of the link; the training step is the validation: nothing
measured in the step is fitted.

Needs torch: the functions import it when called (the worker runs in a fresh process).
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import time
from typing import Any

from archsim.validate.cases import Case

DEFAULT_SIZES = tuple(2**k for k in range(12, 27, 2))
"""All-reduce buffer sizes in bytes: 4 KiB … 64 MiB, every factor of 4."""
QUICK_SIZES = tuple(2**k for k in range(12, 23, 2))


SWEEP_SAMPLES = 21
"""Timed all-reduces per buffer size (each the slower rank's time)."""
SWEEP_QUANTILE = 0.2
"""Which of them is the link's time. On a 2-core VM (2026-12-05) up to two thirds of the
samples of a 4 KiB gloo all-reduce took 3–4 ms instead of 0.15–0.3 ms (a rank descheduled for
a timer tick, 4 ms at 250 Hz, beside gloo's own threads), and alpha-beta fits of medians of 5
samples gave 0.96–34 GB/s over 10 sweeps, of the 20th percentile of 21 2.2–3.7 GB/s
(scripts/cpu_allreduce_stalls.py → reports/validation/cpu/allreduce_stalls.md). The
alpha-beta model describes the collective, not the stalls: the 20th percentile of 21 samples
stays clear of them while fewer than 80% of the samples stall. The median is kept beside it."""


class LinkFitError(ValueError):
    """The sweep's times cannot give a link (they do not grow with the message size)."""


def sweep_point(size: int, samples: list[float]) -> dict[str, float]:
    """One sweep row: the link's time (:data:`SWEEP_QUANTILE` of the samples) and the median."""
    import numpy as np

    return {"bytes": size, "time_s": float(np.quantile(samples, SWEEP_QUANTILE)),
            "median_s": statistics.median(samples), "samples_s": list(samples)}


def fit_alpha_beta(sizes: list[float], times: list[float], ranks: int = 2
                   ) -> tuple[float, float]:
    """(α seconds, B bytes/s) of the ring all-reduce model t = 2(n−1)α + 2(n−1)/n·S/B,
    minimising Σ((model − t)/t)² with α ≥ 0 and 1/B ≥ 0 (non-negative weighted least
    squares in α and 1/B). Raises :class:`LinkFitError` when the best 1/B is 0: the times
    do not grow with the message size, so they say nothing of a bandwidth."""
    import numpy as np
    from scipy.optimize import nnls

    if len(sizes) < 2:
        raise ValueError("the alpha-beta fit needs at least two message sizes")
    a_coef = 2.0 * (ranks - 1)
    b_coef = 2.0 * (ranks - 1) / ranks
    t = np.asarray(times, dtype=float)
    design = np.column_stack([np.full_like(t, a_coef),
                              b_coef * np.asarray(sizes, dtype=float)]) / t[:, None]
    (alpha, inv_bw), _ = nnls(design, np.ones_like(t))
    if inv_bw <= 0:
        shown = ", ".join(f"{int(s)} B: {x * 1e6:.0f} us"
                          for s, x in zip(sizes, times, strict=True))
        raise LinkFitError("all-reduce times do not grow with the message size "
                           f"({shown}); cannot fit a bandwidth")
    return float(alpha), float(1.0 / inv_bw)


def loopback_interconnect(alpha: float, bandwidth: float, info: dict[str, Any]
                          ) -> dict[str, Any]:
    """The interconnect mapping of a fitted two-process link."""
    from archsim.spec.units import format_quantity

    return {"name": f"loopback-{info.get('backend', 'gloo')}", "kind": "loopback",
            "bandwidth": format_quantity(bandwidth, "bandwidth", 6),
            "latency": format_quantity(alpha, "time", 6), "efficiency": 1.0,
            "topology": "switch",
            "source": f"archsim validate: {info.get('backend')} all-reduce sweep between two "
                      f"local processes, alpha-beta fit ({info.get('taken_at', '')})"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, device: str, threads: int, sizes: list[int],
            case: Case | None, repeats: int, out_path: str) -> None:
    """One rank: the all-reduce sweep, then the DDP training step; rank 0 writes results."""
    import json

    import torch
    import torch.distributed as dist

    from archsim.validate.measure import configure, synchronize

    configure(device, threads)
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    dev = f"cuda:{rank}" if device == "cuda" else "cpu"
    results: dict[str, Any] = {"backend": backend, "allreduce": []}
    for size in sizes:
        buf = torch.ones(size // 4, dtype=torch.float32, device=dev)
        for _ in range(3):
            dist.all_reduce(buf)
        samples = []
        for _ in range(max(repeats, SWEEP_SAMPLES)):
            dist.barrier()
            synchronize(device)
            t0 = time.perf_counter()
            dist.all_reduce(buf)
            synchronize(device)
            samples.append(time.perf_counter() - t0)
        # the slower rank's time is the collective's time
        slowest = torch.tensor(samples, dtype=torch.float64, device=dev)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        results["allreduce"].append(sweep_point(size, slowest.tolist()))
    if case is not None:
        results["step"] = _ddp_step(case, dev, device, repeats)
    dist.barrier()
    if rank == 0:
        with open(out_path, "w", encoding="utf-8") as fh:
            json.dump(results, fh)
    dist.barrier()  # both ranks tear down together, after the results are on disk
    dist.destroy_process_group()


def _ddp_step(case: Case, dev: str, device: str, repeats: int) -> dict[str, float]:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from archsim.validate.measure import synchronize
    from archsim.validate.torch_model import build_model, random_targets, random_tokens

    model = build_model(case.spec, dev, case.dtype)
    ddp = DistributedDataParallel(model, device_ids=[dev] if device == "cuda" else None)
    opt = torch.optim.AdamW(ddp.parameters(), lr=1e-4, fused=True)
    tokens = random_tokens(case.spec, case.batch, case.seq_len, dev, seed=1 + dist.get_rank())
    targets = random_targets(model, case.batch, case.seq_len, dev, seed=2 + dist.get_rank())

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        ddp(tokens, targets).backward()
        opt.step()

    for _ in range(2):
        step()
    samples = []
    for _ in range(repeats):
        dist.barrier()
        synchronize(device)
        t0 = time.perf_counter()
        step()
        synchronize(device)
        samples.append(time.perf_counter() - t0)
    slowest = torch.tensor(samples, dtype=torch.float64, device=dev)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    return {"step_time_s": statistics.median(slowest.tolist()),
            "bucket_cap_mb": 25.0}


def measure(device: str, threads: int, sizes: tuple[int, ...], case: Case | None,
            repeats: int = 5, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run the two ranks as fresh Python processes (``python -m
    archsim.validate.distributed``) and return rank 0's results."""
    import json
    import subprocess

    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rank0.json")
        config = os.path.join(tmp, "config.json")
        case_fields = None if case is None else {
            "model": case.model, "mode": case.mode, "batch": case.batch,
            "seq_len": case.seq_len, "gen_len": case.gen_len, "dtype": case.dtype}
        with open(config, "w", encoding="utf-8") as fh:
            json.dump({"port": port, "device": device, "threads": threads,
                       "sizes": list(sizes), "case": case_fields, "repeats": repeats,
                       "out": out}, fh)
        procs = [subprocess.Popen([sys.executable, "-m", "archsim.validate.distributed",
                                   config, str(rank)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for rank in range(2)]
        errors = []
        deadline = time.monotonic() + timeout_s
        for proc in procs:
            try:
                _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                err = f"timed out after {timeout_s:.0f} s\n{err}"
            if proc.returncode != 0:
                errors.append(err.strip().splitlines()[-1] if err.strip() else
                              f"exit code {proc.returncode}")
        if errors or not os.path.exists(out):
            raise RuntimeError("the two-process check failed: " + "; ".join(errors))
        with open(out, encoding="utf-8") as fh:
            return json.load(fh)


def _main(argv: list[str]) -> None:
    """Entry point of one rank: ``python -m archsim.validate.distributed CONFIG RANK``."""
    import json

    with open(argv[0], encoding="utf-8") as fh:
        cfg = json.load(fh)
    case = Case(**cfg["case"]) if cfg["case"] else None
    _worker(int(argv[1]), 2, cfg["port"], cfg["device"], cfg["threads"], cfg["sizes"], case,
            cfg["repeats"], cfg["out"])
    # Leave without the interpreter's teardown: torch's static destructors can abort
    # ("terminate called without an active exception") while gloo/DDP threads wind down, seen
    # once in ~20 loaded test runs, after the results were written. The work is done here.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_check(device: str = "cpu", *, rank_profile: dict[str, Any] | None = None,
              case: Case | None = None, quick: bool = False, repeats: int = 5,
              progress=None) -> dict[str, Any]:
    """The distributed check: sweep, fit, DP step measured and simulated.

    ``rank_profile`` is the device profile of one rank (half the cores on CPU); without it a
    quick calibration with that many threads is run first.
    """
    from archsim.validate.calibrate import calibrate
    from archsim.validate.measure import machine_info, resolve_device
    from archsim.validate.predict import scenario_for

    dev = resolve_device(device)
    if dev == "cuda":
        import torch

        if torch.cuda.device_count() < 2:
            return {"skipped": f"needs two CUDA devices, found {torch.cuda.device_count()}"}
    threads = max(1, (os.cpu_count() or 2) // 2) if dev == "cpu" else 1
    if rank_profile is None:
        if progress:
            progress(0, 3, f"calibrating one rank ({threads} threads)")
        rank_profile = calibrate(dev, quick=True, threads=threads).profile
    case = case or Case("gpt-tiny", "training", 4, 128,
                        dtype="bf16" if dev == "cuda" else "fp32")
    if progress:
        progress(1, 3, "two-process all-reduce sweep and DDP step")
    sizes = QUICK_SIZES if quick else DEFAULT_SIZES
    raw = measure(dev, threads, sizes, case, repeats=repeats)
    info = machine_info(dev, threads)
    info["backend"] = raw["backend"]
    try:
        alpha, bw = fit_alpha_beta([r["bytes"] for r in raw["allreduce"]],
                                   [r["time_s"] for r in raw["allreduce"]])
    except LinkFitError as exc:
        if progress:
            progress(3, 3, "no link fitted")
        return {"info": info, "threads_per_rank": threads, "allreduce_raw": raw["allreduce"],
                "failed": f"the link could not be fitted: {exc}"}
    link = loopback_interconnect(alpha, bw, info)
    if progress:
        progress(2, 3, "simulating")
    from archsim.api import simulate
    from archsim.cost.comm import CommGroup, collective_time
    from archsim.spec.loader import load_spec_file

    spec = load_spec_file("interconnects", link)
    group = CommGroup(size=2, per_node=2, intra=spec, inter=None, nic_bandwidth=0.0)
    sweep = [{"bytes": r["bytes"], "measured_s": r["time_s"], "median_s": r["median_s"],
              "predicted_s": collective_time("allreduce", r["bytes"], group).time_s}
             for r in raw["allreduce"]]
    dp_case = Case(case.model, "training", case.batch * 2, case.seq_len, dtype=case.dtype)
    scenario = scenario_for(dp_case, rank_profile)
    scenario["hardware"] = {"device": rank_profile, "count": 2, "devices_per_node": 2,
                            "intra_node": link}
    scenario["workload"]["micro_batch"] = case.batch
    results = {}
    for overlap in (True, False):
        scenario["plan"] = {**scenario["plan"], "dp": 2, "overlap_comm": overlap}
        results[overlap] = simulate(scenario).to_dict()
    single = simulate(scenario_for(case, rank_profile)).to_dict()
    measured = raw["step"]["step_time_s"]
    predicted = results[True]["step_time_s"]
    if progress:
        progress(3, 3, "done")
    return {
        "info": info, "threads_per_rank": threads, "interconnect": link,
        "allreduce": sweep,
        "allreduce_mape": statistics.fmean(abs(s["predicted_s"] - s["measured_s"])
                                           / s["measured_s"] for s in sweep),
        "dp_step": {"case": f"{dp_case.name} (dp 2 × micro-batch {case.batch})",
                    "measured_s": measured, "predicted_s": predicted,
                    "error": (predicted - measured) / measured,
                    "predicted_no_overlap_s": results[False]["step_time_s"],
                    "predicted_single_rank_s": single["step_time_s"],
                    "predicted_exposed_comm_s":
                        results[True]["communication"]["exposed_time_s"]},
    }


if __name__ == "__main__":
    _main(sys.argv[1:])
