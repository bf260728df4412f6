"""``archsim report INPUT --out DIR [--force] [--set KEY=VALUE ...] [targets]``"""

from __future__ import annotations

import argparse
from pathlib import Path

from archsim.cli.common import check_devices, plural, probe_folder


def _positive(text: str) -> float:
    from archsim.spec.shape import MAX_NUMBER

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    if not value <= MAX_NUMBER:  # inf too: a count of tokens or days that is a number
        raise argparse.ArgumentTypeError(f"must be at most {MAX_NUMBER:.0e}, got {text}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write a capacity-planning report (HTML + Markdown with plots)",
        description="Write DIR/index.html (self-contained) and DIR/report.md with PNG plots for "
                    "INPUT: a scenario (YAML path or name in workloads/scenarios/; simulated "
                    "first), a result JSON (archsim simulate --out) or a sweep table "
                    "(.parquet/.csv from archsim sweep).")
    p.add_argument("input", metavar="INPUT", help="scenario, result JSON or sweep table")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder (must not exist unless --force)")
    p.add_argument("--force", action="store_true", help="replace DIR if it holds a report")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="dotted override of a scenario INPUT (repeatable)")
    p.add_argument("--train-tokens", type=_positive, metavar="N",
                   help="training: tokens to train (default: 20 per parameter, Chinchilla)")
    p.add_argument("--days", type=_positive, metavar="D",
                   help="training: deadline in days for those tokens (default: 30)")
    p.add_argument("--rate", type=_positive, metavar="R",
                   help="inference/serving: requests per second to plan for (serving default: "
                        "the scenario's arrival rate)")
    p.add_argument("--devices", metavar="A,B", default="",
                   help="serving: more device types to size for the capacity answer")
    p.add_argument("--objective", metavar="max:COL|min:COL",
                   help="sweep: column to rank points by (default: the sweep's own objective, "
                        "else max:tokens_per_s)")
    p.add_argument("--no-scaling", action="store_true",
                   help="simulate only INPUT: no scaling curves, no fewest-devices or "
                        "capacity search")
    p.add_argument("--no-planner", action="store_true",
                   help="training: leave out the planner's best plan at other device counts")


def run(args: argparse.Namespace) -> int:
    import sys

    from archsim.report import ReportOptions, build_report, write_report
    from archsim.report.output import check_output_dir

    check_output_dir(args.out, args.force)  # fail before simulating anything
    # os.access says yes to root even on a read-only file system: try a file there
    probe_folder(args.out.parent, str(args.out))
    devices = tuple(d.strip() for d in args.devices.split(",") if d.strip())
    check_devices(devices)  # SpecError (exit 2) naming --devices and the closest devices
    options = ReportOptions(train_tokens=args.train_tokens, days=args.days, rate=args.rate,
                            devices=devices, objective=args.objective,
                            scaling=not args.no_scaling, planner=not args.no_planner)
    report = build_report(args.input, args.overrides, options)
    files = write_report(report, args.out, force=args.force)
    print(f"wrote {args.out / 'index.html'} and {args.out / 'report.md'} "
          f"({plural(len(files) - 2, 'plot')})", file=sys.stdout)
    return 0
