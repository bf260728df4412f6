"""``archsim simulate [SCENARIO] [--set KEY=VALUE ...] [--json] [--out FILE] [--trace FILE]``"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from archsim.cli.common import check_outputs, load_cli_scenario, scenario_file
from archsim.io import write_text_atomic
from archsim.spec.errors import SpecError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate one scenario",
                       description="Simulate a scenario (a YAML path, a name in "
                                   "workloads/scenarios/, or the embedded default).")
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario YAML path or registry name (default: embedded scenario)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="dotted override, e.g. plan.tp=4 (repeatable)")
    p.add_argument("--json", action="store_true", help="print only the result JSON")
    p.add_argument("--out", type=Path, metavar="FILE", help="also write the result JSON to FILE")
    p.add_argument("--trace", type=Path, metavar="FILE",
                   help="write the timeline as Chrome trace JSON to FILE")


# A timeline is kept in memory span by span and written as JSON: measured ~2 kB of memory per
# stage micro-batch of a training step (250,000 of them: 580 MB, an 83 MB file) and ~3 kB per
# serving request; these bounds keep a trace under ~0.5 GB and a file Perfetto still opens.
MAX_TRACE_STAGE_MICROBATCHES = 250_000
MAX_TRACE_REQUESTS = 100_000


def check_trace_size(scenario: Any, path: Path) -> None:
    """SpecError if the timeline of ``scenario`` would be too large to keep and write."""
    from archsim.spec.scenario import stage_microbatches

    wl = scenario.workload
    if wl.kind == "training":
        work = stage_microbatches(scenario)[0]
        if work > MAX_TRACE_STAGE_MICROBATCHES:
            raise SpecError([f"--trace {path}: the step has {work:,} stage micro-batches; a "
                             f"timeline is written for at most {MAX_TRACE_STAGE_MICROBATCHES:,} "
                             "(lower workload.global_batch, or simulate without --trace)"])
    elif wl.kind == "serving" and wl.arrival.count > MAX_TRACE_REQUESTS \
            and wl.arrival.process != "trace":
        raise SpecError([f"--trace {path}: {wl.arrival.count:,} requests; a timeline is written "
                         f"for at most {MAX_TRACE_REQUESTS:,} (lower workload.arrival.count, or "
                         "simulate without --trace)"])


def run(args: argparse.Namespace) -> int:
    from archsim.api import simulate
    from archsim.summary import render_summary

    outputs = {flag: path for flag, path in (("--out", args.out), ("--trace", args.trace))
               if path is not None}
    check_outputs(outputs, {"the scenario": scenario_file(args.scenario)})
    scenario = load_cli_scenario(args.scenario, args.overrides)
    if args.trace is not None:
        check_trace_size(scenario, args.trace)
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
