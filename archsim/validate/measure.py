"""Timing on the local device: device selection, warm-up, medians of repeats, machine facts.

Assumptions
-----------
* Wall-clock time (``time.perf_counter``) around the call, with the device synchronised before
  and after (CUDA kernels are asynchronous; CPU kernels are not).
* The median of the repeats is reported: the machine may be shared and noisy, and a median is
  robust to the occasional slow repeat; the spread (interquartile range / median) is kept so a
  report can flag noisy cases. Before each case or group of benchmarks the harness waits
  (bounded) until other processes leave the CPU (:func:`wait_for_quiet`).
* On CPU, denormal floats are flushed to zero while measuring (``torch.set_flush_denormal``):
  x86 handles them in a slow microcode path (~100× slower), which randomly initialised
  weights can trigger in the loss gradient and trained models do not. The thread count is
  pinned (``torch.set_num_threads``) so calibration and validation use the same cores.

Needs torch: the functions import it when called.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from archsim.spec.errors import SpecError
from archsim.validate.deps import require_torch

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> str:
    """'cpu' or 'cuda' for a ``--device`` value; SpecError when CUDA is asked for but absent."""
    torch = require_torch()
    if name not in DEVICES:
        raise SpecError([f"--device {name!r}: expected one of {', '.join(DEVICES)}"])
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SpecError(["--device cuda: no CUDA device is visible to PyTorch "
                         f"(torch {torch.__version__}, built with CUDA: "
                         f"{torch.version.cuda or 'no'}); use --device cpu or auto"])
    return name


def configure(device: str, threads: int | None = None) -> int:
    """Pin the CPU thread count (default: every core) and flush denormals; returns threads.

    These are process-wide settings: a library entry point that calls this restores them on
    the way out with :func:`preserved_torch_settings`."""
    torch = require_torch()
    n = threads or os.cpu_count() or 1
    if n < 1:
        raise SpecError([f"--threads {n}: expected a positive number of CPU threads"])
    torch.set_num_threads(n)
    if device == "cpu":
        torch.set_flush_denormal(True)
    return n


@contextlib.contextmanager
def preserved_torch_settings():
    """Restore PyTorch's CPU thread count and denormal flushing on exit (usable as a
    decorator), so measuring does not change the caller's process: flushed denormals, for one,
    break code that relies on IEEE-754 subnormals."""
    torch = require_torch()
    threads, flushed = torch.get_num_threads(), denormals_flushed()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(flushed)


def denormals_flushed() -> bool:
    """Whether this process flushes float32 subnormals to zero (a fresh 1e-40 times 2 is 0)."""
    torch = require_torch()
    return (torch.tensor([1e-40], dtype=torch.float32) * 2.0).item() == 0.0


def synchronize(device: str) -> None:
    if device == "cuda":
        require_torch().cuda.synchronize()


@dataclass(frozen=True)
class Timing:
    """Repeated wall-clock measurement of one call (seconds)."""

    samples: tuple[float, ...]
    warmup: int
    contention: float = 0.0
    """CPU cores other processes kept busy, on average, while the samples were taken."""
    attempts: int = 1

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Interquartile range / median (0 for fewer than 4 samples)."""
        if len(self.samples) < 4:
            return 0.0
        q = statistics.quantiles(self.samples, n=4)
        return (q[2] - q[0]) / self.median_s if self.median_s > 0 else 0.0


CONTENDED_CORES = 0.2
"""A measurement is retried when other processes kept more than this many cores busy while it
ran (they slow every kernel, and parallel kernels wait for their slowest thread)."""
RETRY_WAIT_S = 10.0
"""Before a retry, wait at most this long for the other processes to leave the CPU."""


def busy_snapshot() -> tuple[float, float, float] | None:
    """(machine busy CPU seconds, this process's CPU seconds, wall) or None off Linux."""
    times = _cpu_times()
    if times is None:
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, idle = times
    return (total - idle) / tick, time.process_time(), time.perf_counter()


def others_cores(a, b) -> float:
    if a is None or b is None or b[2] <= a[2]:
        return 0.0
    others = (b[0] - a[0]) - (b[1] - a[1])
    return max(0.0, others / (b[2] - a[2]))


def time_callable(fn: Callable[[], object], device: str, *, warmup: int = 2,
                  repeats: int = 5, inner: int = 1, min_total_s: float = 0.0,
                  max_repeats: int = 50, attempts: int = 3) -> Timing:
    """Time ``fn``: ``warmup`` untimed calls, then at least ``repeats`` samples (more, up to
    ``max_repeats``, until ``min_total_s`` has been spent). Each sample times ``inner`` calls
    back to back and records the time per call. When other processes were busy during the
    samples (more than CONTENDED_CORES), the samples are taken again after waiting (at most
    RETRY_WAIT_S) for the CPU to become quiet, up to ``attempts`` times; the least contended
    set is kept. (The busy-time counter ticks every 10 ms, so
    contention is only seen in measurements that long or longer.) On a GPU the samples are
    taken once: its kernels do not share the CPU's cores with other processes, and a GPU host
    has cores to spare for its one dispatching thread."""
    if device != "cpu":
        attempts = 1
    for _ in range(warmup):
        fn()
    synchronize(device)
    best: Timing | None = None
    for attempt in range(1, attempts + 1):
        samples: list[float] = []
        spent = 0.0
        before = busy_snapshot()
        while len(samples) < repeats or (spent < min_total_s and len(samples) < max_repeats):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            synchronize(device)
            dt = time.perf_counter() - t0
            spent += dt
            samples.append(dt / inner)
        others = others_cores(before, busy_snapshot())
        timing = Timing(samples=tuple(samples), warmup=warmup, contention=round(others, 3),
                        attempts=attempt)
        if best is None or timing.contention < best.contention:
            best = timing
        if others <= CONTENDED_CORES:
            break
        if attempt < attempts:
            wait_for_quiet(max_wait_s=RETRY_WAIT_S)
    assert best is not None
    return best


def machine_info(device: str, threads: int) -> dict:
    """Where and when a measurement was taken (stored beside raw measurements)."""
    torch = require_torch()
    info = {
        "taken_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "device": device,
        "threads": threads,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update({"gpu": props.name, "gpu_memory_bytes": props.total_memory,
                     "gpu_count": torch.cuda.device_count(), "cuda": str(torch.version.cuda)})
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


QUIET_BUSY_FRACTION = 0.25
"""The machine counts as quiet when other processes keep less than this fraction of its CPU
time busy (a shared machine: another user's job slows every kernel we time)."""


def _cpu_times() -> tuple[float, float] | None:
    try:
        with open("/proc/stat", encoding="utf-8") as fh:
            fields = [float(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields), idle


def busy_fraction(window_s: float = 0.2) -> float | None:
    """Fraction of the machine's CPU time spent busy over ``window_s`` (None off Linux).
    Called while this process sleeps, so it measures everybody else."""
    a = _cpu_times()
    time.sleep(window_s)
    b = _cpu_times()
    if a is None or b is None or b[0] <= a[0]:
        return None
    return 1.0 - (b[1] - a[1]) / (b[0] - a[0])


def wait_for_quiet(max_wait_s: float = 60.0, threshold: float = QUIET_BUSY_FRACTION) -> float:
    """Sleep until other processes leave the CPU (or ``max_wait_s`` passed); seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait_s:
        busy = busy_fraction()
        if busy is None or busy < threshold:
            break
    return time.perf_counter() - t0


def memory_capacity_bytes(device: str) -> float:
    """Device memory: the GPU's total memory, or the machine's RAM for CPU."""
    if device == "cuda":
        return float(require_torch().cuda.get_device_properties(0).total_memory)
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8.0 * 2**30  # UNVERIFIED fallback where sysconf cannot tell: 8 GiB
