"""``archsim plan [SCENARIO] [--objective throughput|cost|latency] [--top K] [--axis NAME=V,..]
[--set KEY=VALUE ...] [--json] [--out FILE]``"""

from __future__ import annotations

import argparse
from pathlib import Path

from archsim.cli.common import check_outputs, load_cli_scenario, scenario_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan", help="search parallel plans for the best one",
        description="Search parallel plans (tp, pp, dp, cp, ep, sp, ZeRO, micro-batch, "
                    "recomputation, schedule, and the placement of pipeline stages on the "
                    "pools of a heterogeneous cluster) for the scenario's model and "
                    "hardware; print the best few and why the others lost.")
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario YAML path or registry name (default: embedded scenario)")
    p.add_argument("--objective", default="throughput",
                   choices=("throughput", "cost", "latency"),
                   help="rank by tokens/s, USD per million tokens, or step time / latency")
    p.add_argument("--top", type=int, default=5, metavar="K", help="plans to show (default 5)")
    p.add_argument("--axis", dest="axes", action="append", default=[],
                   metavar="NAME=V1,V2",
                   help="search only these values of an axis, e.g. tp=4,8 or "
                        "recompute=selective,full (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="dotted override of the scenario (repeatable)")
    p.add_argument("--json", action="store_true", help="print only the search result JSON")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="also write the search result JSON to FILE")


def parse_axes(items: list[str]) -> dict[str, list[str]]:
    from archsim.spec.errors import SpecError

    axes: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        parts = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not name.strip() or not parts:
            raise SpecError([f"--axis {item!r}: expected NAME=V1,V2,..., e.g. tp=4,8"])
        if name.strip() in axes:  # a second --axis had silently replaced the first
            raise SpecError([f"--axis {item!r}: {name.strip()} is already given "
                             f"({','.join(axes[name.strip()])}); give its values in one "
                             f"--axis, e.g. {name.strip()}="
                             f"{','.join([*axes[name.strip()], *parts])}"])
        axes[name.strip()] = parts
    return axes


def run(args: argparse.Namespace) -> int:
    import json

    from archsim.io import write_text_atomic
    from archsim.planner import SearchSpace, search_plans
    from archsim.planner.render import render_plan_search
    from archsim.planner.search import top_problems
    from archsim.spec.errors import SpecError

    bad_top = top_problems(args.top, "--top")  # before the scenario, naming the flag
    if bad_top:
        raise SpecError(bad_top)
    if args.out is not None:
        check_outputs({"--out": args.out}, {"the scenario": scenario_file(args.scenario)})
    space = SearchSpace.from_axes(parse_axes(args.axes))
    scenario = load_cli_scenario(args.scenario, args.overrides)
    found = search_plans(scenario, objective=args.objective, top=args.top, space=space)
    data = found.to_dict()
    if args.out is not None:
        write_text_atomic(args.out, json.dumps(data, indent=2, allow_nan=False) + "\n")
    if args.json:
        print(json.dumps(data, allow_nan=False))
    else:
        print(render_plan_search(found))
    return 0
