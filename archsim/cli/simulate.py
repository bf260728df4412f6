"""``archsim simulate [SCENARIO] [--set KEY=VALUE ...] [--json] [--out FILE] [--trace FILE]``"""

from __future__ import annotations

import argparse
from pathlib import Path

from archsim.cli.common import check_writable
from archsim.io import write_text_atomic


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate one scenario",
                       description="Simulate a scenario (a YAML path, a name in "
                                   "workloads/scenarios/, or the embedded default).")
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario YAML path or registry name (default: embedded scenario)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="dotted override, e.g. plan.tp=4 (repeatable)")
    p.add_argument("--json", action="store_true", help="print only the result JSON")
    p.add_argument("--out", type=Path, help="also write the result JSON to FILE")
    p.add_argument("--trace", type=Path, help="write the timeline as Chrome trace JSON")


def run(args: argparse.Namespace) -> int:
    from archsim.api import simulate
    from archsim.spec.loader import load_scenario
    from archsim.summary import render_summary

    for path in (args.out, args.trace):
        if path is not None:
            check_writable(path)
    scenario = load_scenario(args.scenario, args.overrides)
    result = simulate(scenario, trace=args.trace is not None)
    text = result.to_json(indent=2)
    if args.out is not None:
        write_text_atomic(args.out, text + "\n")
    if args.trace is not None:
        from archsim.sim.trace import write_chrome_trace

        write_chrome_trace(result.spans, args.trace, process_name=scenario.name)
    if args.json:
        print(result.to_json())
    else:
        print(render_summary(result))
    return 0
