"""Cross-validated error of a calibration: every run predicted by a fit that did not see it.

Folds: leave one source out (``source``: the default — a run is predicted from the other
sources' runs, which is what a new user's run is to the shipped profile), leave one run out
(``run``), or k folds of the runs in file order (an integer). For each fold the device's
parameters are fitted on the other runs of that device (archsim/insitu/fit.py) and the fold's
runs predicted; a fold whose device has no other runs is predicted with the micro-benchmark
defaults (the fit has nothing to learn from), and says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from archsim.insitu.fit import FAMILY, apply, defaults, fit_device, uncalibrated
from archsim.insitu.predict import Loaded, Prediction, predict
from archsim.spec.insitu import AccuracySpec


@dataclass(frozen=True)
class Held:
    """A run predicted by a fit that did not see it."""

    prediction: Prediction
    fold: str
    prior_only: bool
    """No other run of the device was left to fit: predicted with the defaults."""


def folds(runs: Sequence[Loaded], method: str) -> list[tuple[str, list[Loaded]]]:
    """(fold name, its runs) for ``method``: "source", "run" or a number of folds; a fold of
    weight-0 runs only is left out (it scores nothing: those runs are predicted by the fit on
    all the others, archsim/insitu/overlay.py never_fitted)."""
    if method == "source":
        names = list(dict.fromkeys(ld.run.source for ld in runs))
        out = [(n, [ld for ld in runs if ld.run.source == n]) for n in names]
    elif method == "run":
        out = [(ld.run.id, [ld]) for ld in runs]
    else:
        k = int(method)
        out = [(f"fold {i + 1}/{k}", list(runs[i::k])) for i in range(k)]
    return [(n, f) for n, f in out if any(ld.run.weight > 0 for ld in f)]


def cross_validate(runs: Sequence[Loaded], method: str = "source",
                   progress: Callable[[str], None] | None = None, workers: int = 1,
                   start: dict[str, dict[str, float]] | None = None) -> list[Held]:
    """Held-out predictions of every run in a fold with a weighted run (a weight-0 run of
    such a fold too: its fold's fit saw neither it nor the rest of its fold; a fold of weight-0
    runs only is left to archsim/insitu/overlay.py never_fitted). Folds span devices (leaving a
    source out removes its runs of every device); each device is fitted on its own runs of
    the other folds, a ``prior_from`` sibling first (its fit, without the fold, is the
    device's prior: see archsim/insitu/fit.py). ``workers`` > 1 runs folds in parallel
    processes; ``start``: device → values each fold's search starts from (the fit on all
    runs: folds then converge in fewer steps to their own optimum)."""
    all_folds = folds(runs, method)
    if workers > 1 and len(all_folds) > 1:
        positions = {id(ld): i for i, ld in enumerate(runs)}
        jobs = [(list(runs), name, [positions[id(ld)] for ld in fold], start)
                for name, fold in all_folds]
        held: list[Held] = []
        # never more processes than folds: an idle worker is only a process to clean up
        with _fold_pool(min(workers, len(jobs))) as pool:
            for (name, _), got in zip(all_folds, pool.map(_fold_job, jobs), strict=True):
                if progress is not None:
                    progress(name)
                held.extend(got)
        return held
    held = []
    for name, fold in all_folds:
        if progress is not None:
            progress(name)
        held.extend(held_out(runs, name, fold, start))
    return held


@contextlib.contextmanager
def _fold_pool(workers: int) -> Iterator[Any]:
    """A process pool for the folds. Its workers die with this process (``_init_worker``);
    when the folds stop early (Ctrl-C, an error, SIGTERM: exit 143, nothing written) they are
    killed rather than left to finish their folds."""
    from concurrent.futures import ProcessPoolExecutor

    from archsim.sweep.executors import _mp_context

    pool = ProcessPoolExecutor(workers, mp_context=_mp_context(), initializer=_init_worker,
                               initargs=(os.getpid(),))
    previous = _stop_on_sigterm()
    try:
        yield pool
    except BaseException:
        _kill_workers(pool)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        pool.shutdown(wait=True, cancel_futures=True)


def _stop_on_sigterm() -> Any:
    """Turn SIGTERM into SystemExit(143) (128 + SIGTERM, the shell's code for it) while the
    folds run, so that the pool is shut down; returns the previous handler (None off the main
    thread, where Python cannot set one)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminated(signum: int, frame: Any) -> None:
        print("archsim: terminated (SIGTERM); nothing written", file=sys.stderr)
        raise SystemExit(128 + signal.SIGTERM)

    return signal.signal(signal.SIGTERM, terminated)


def _kill_workers(pool: Any) -> None:
    """SIGKILL ``pool``'s worker processes: a fold may run for minutes, and shutting the pool
    down waits for the running ones (``_processes`` is CPython's, present since 3.2)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):
            proc.kill()


# prctl(2): PR_SET_PDEATHSIG = 1 (linux/prctl.h)
_PR_SET_PDEATHSIG = 1


def _init_worker(parent: int) -> None:
    """A fold worker dies with the process that started it: on Linux the kernel sends it
    SIGKILL when that process ends (prctl PR_SET_PDEATHSIG); elsewhere, and as a fallback, it
    exits within a second of noticing (archsim/sweep/executors.py, as sweep workers do). Ctrl-C
    is left to the parent, which kills the workers (``_fold_pool``)."""
    from archsim.sweep.executors import _init_worker as watch_parent

    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:  # the parent ended before prctl: nobody will signal us
        os._exit(1)
    watch_parent(parent)


def _fold_job(job: tuple) -> list[Held]:
    runs, name, positions, start = job
    return held_out(runs, name, [runs[i] for i in positions], start)


def held_out(runs: Sequence[Loaded], name: str, fold: Sequence[Loaded],
             start: dict[str, dict[str, float]] | None = None) -> list[Held]:
    """Predictions of ``fold``'s runs from fits on the other runs (one fold)."""
    held: list[Held] = []
    by_device = devices_in_order(runs)
    ids = {id(ld) for ld in fold}
    fitted: dict[str, dict[str, float]] = {}
    needed = _needed(by_device, ids)
    for device, device_runs in by_device.items():
        if device not in needed:
            continue
        base = device_runs[0].device
        # a weight-0 run is scored too: the fold's fit saw neither it nor its source
        scored = [ld for ld in device_runs if id(ld) in ids]
        rest = [ld for ld in device_runs if id(ld) not in ids]
        family = family_values(base, fitted)
        kinds = {ld.run.fit_kind for ld in rest if ld.run.weight > 0}
        if kinds:
            fit = fit_device(rest, base, family=family, start=(start or {}).get(device))
            fitted[device] = fit.shared()
            insitu = fit.insitu(base.insitu or uncalibrated(base))
        else:
            insitu = uncalibrated(base)
            if family is not None:
                fitted[device] = dict(family)
                insitu = apply(insitu, {**defaults(base), **family}, (), tuple(family))
        # a run whose kind no run left in the fold informs (nor a sibling's fit) is predicted
        # from the micro-benchmark defaults of that kind's parameters: not the fit's error
        held.extend(Held(predict(ld, insitu), name,
                         family is None and ld.run.fit_kind not in kinds) for ld in scored)
    return held


def devices_in_order(runs: Sequence[Loaded]) -> dict[str, list[Loaded]]:
    """Device name → its runs, a device's ``prior_from`` sibling before it."""
    by_device: dict[str, list[Loaded]] = {}
    for ld in runs:
        by_device.setdefault(ld.device.name, []).append(ld)

    def depth(name: str) -> int:
        parent = _parent(by_device[name][0].device)
        return 1 + depth(parent) if parent in by_device and parent != name else 0

    return dict(sorted(by_device.items(), key=lambda kv: depth(kv[0])))


def _parent(device) -> str | None:
    return device.insitu.prior_from if device.insitu is not None else None


def _needed(by_device: dict[str, list[Loaded]], ids: set[int]) -> set[str]:
    """Devices with held-out runs in the fold, and the siblings they take priors from."""
    out = {d for d, rs in by_device.items() if any(id(ld) in ids for ld in rs)}
    for d in list(out):
        parent = _parent(by_device[d][0].device)
        while parent in by_device and parent not in out:
            out.add(parent)
            parent = _parent(by_device[parent][0].device)
    return out


def family_values(base, fitted: dict[str, dict[str, float]]) -> dict[str, float] | None:
    """The fitted values of ``base``'s ``prior_from`` sibling: fitted in this calibration
    when it has runs here, else as its shipped profile has them; None without a sibling."""
    parent = _parent(base)
    if parent is None:
        return None
    if parent in fitted:
        return fitted[parent]
    from archsim.spec.loader import load_spec_file

    sibling = load_spec_file("devices", parent)
    ins = sibling.insitu
    if ins is None or not ins.fitted:
        return None
    return {n: ins.value(n, sibling.efficiency.memory, sibling.launch_overhead)
            for n in FAMILY if getattr(ins, n) is not None}


def method_name(cv: str) -> str:
    """How the held-out errors were made, in words (``--cv``: source, run or a fold count)."""
    if cv == "source":
        return "leave-one-source-out"
    if cv == "run":
        return "leave-one-run-out"
    return f"{cv}-fold cross-validation"


def accuracy(held: Sequence[Held], cv: str = "source") -> dict[str, AccuracySpec]:
    """Accuracy group (training, ttft, tpot, e2e_latency, throughput) → cross-validated
    error statistics of the held-out predictions (infeasible runs left out; ``cv`` names the
    method)."""
    groups: dict[str, list[Held]] = {}
    for h in held:
        if h.prediction.error is not None:
            groups.setdefault(h.prediction.run.group, []).append(h)
    out = {}
    for group, items in sorted(groups.items()):
        errors = sorted(h.prediction.error for h in items)  # type: ignore[misc]
        out[group] = AccuracySpec(
            runs=len(errors), sources=len({h.prediction.run.source for h in items}),
            mape=_r(statistics.fmean(abs(e) for e in errors)),
            bias=_r(statistics.fmean(errors)), p10=_r(_quantile(errors, 0.1)),
            p90=_r(_quantile(errors, 0.9)), method=method_name(cv),
            from_defaults=sum(1 for h in items if h.prior_only))
    return out


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values (numpy's default method)."""
    n = len(sorted_values)
    if n == 1:
        return sorted_values[0]
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (pos - lo) * (sorted_values[hi] - sorted_values[lo])


def _r(x: float) -> float:
    """An error to 0.01 percentage points (the statistic is not better than that)."""
    return round(x, 4)
