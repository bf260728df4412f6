"""``archsim calibrate [--device cpu|cuda|auto] --out FILE.yaml`` (micro-benchmarks with torch)
and ``archsim calibrate --runs RUNS.csv --out OVERLAY.yaml`` (fit to measured runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from archsim.cli.calibrate_runs import add_arguments, run_calibration
from archsim.cli.common import check_writable, plural
from archsim.cli.progress import ProgressBar
from archsim.spec.errors import SpecError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="micro-benchmark the local device into a profile, "
                                         "or fit in-situ parameters to measured runs",
                       description="Without --runs: run micro-benchmarks (GEMM grid, memory "
                                   "bandwidth, elementwise/softmax/norm kernels, attention, "
                                   "per-op overhead) on the local device with PyTorch, fit "
                                   "archsim's efficiency curves and write a device profile YAML "
                                   "that `archsim simulate` accepts (needs torch). With --runs: "
                                   "fit each device's in-situ parameters to measured end-to-end "
                                   "runs, cross-validate them and write a calibration overlay "
                                   "that every command takes with --set calibration=FILE.")
    p.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"))
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="profile to write (FILE.yaml)")
    p.add_argument("--name", help="profile name (default: <cpu|gpu>-local-<host>)")
    p.add_argument("--base", metavar="DEVICE",
                   help="registry device to take power, price, links and node size from "
                        "(e.g. h200-sxm-141gb); everything else is measured")
    p.add_argument("--quick", action="store_true",
                   help="smaller grid (CI; 25-45 s on an idle 2-core CPU, minutes while other "
                        "processes keep it busy: it waits for a quiet CPU)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if args.runs is not None:
        return run_calibration(args)
    from archsim.validate.deps import require_torch

    require_torch()
    if args.out.suffix.lower() not in (".yaml", ".yml"):
        raise SpecError([f"--out {args.out}: expected a .yaml file for the device profile"])
    if args.threads is not None and args.threads < 1:
        raise SpecError([f"--threads {args.threads}: expected a positive number of threads"])
    check_writable(args.out)
    from archsim.validate.calibrate import calibrate, write_profile

    cal = calibrate(args.device, quick=args.quick, threads=args.threads, name=args.name,
                    base=args.base, progress=ProgressBar("calibrate"))
    write_profile(cal, args.out)
    fit = cal.fit
    print(f"wrote {args.out} ({cal.profile['name']}, {cal.info['device']}, "
          f"{plural(cal.info['threads'], 'thread')})")
    for dtype, peak in fit.peaks.items():
        print(f"  peak {dtype:5s} {peak / 1e12:8.3f} TFLOP/s (best measured GEMM)")
    cache = (f", cache {fit.cache_bandwidth / 1e9:.1f} GB/s up to {fit.cache_bytes / 2**20:.1f}"
             " MiB" if fit.cache_bandwidth else "")
    print(f"  memory {fit.bandwidth / 1e9:.1f} GB/s{cache}; launch overhead "
          f"{fit.launch_s * 1e6:.2f} us")
    for section, err in fit.errors.items():
        print(f"  fit {section:11s} MAPE {err['mape'] * 100:6.1f}% over "
              f"{plural(err['records'], 'record')}")
    return 0
