"""``archsim graph SCENARIO --out FILE(.graphml|.json|.dot)``"""

from __future__ import annotations

import argparse
from pathlib import Path

from archsim.cli.common import check_writable
from archsim.spec.errors import SpecError

# Most layers whose op graph is written: the graph holds every op of every layer as a
# networkx node (measured: 1,000 layers 3.5 s, 200 MB, a 10 MB JSON; 10,000 layers 22 s,
# 1.5 GB), and the deepest real models have ~130 layers.
MAX_GRAPH_LAYERS = 2_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="write the computation graph of a scenario",
                       description="Write the op graph of one micro-batch on one "
                                   "representative rank (after tensor/sequence sharding).")
    p.add_argument("scenario", nargs="?", default=None, help="scenario path or name")
    p.add_argument("--out", type=Path, required=True, help="FILE.graphml, FILE.json or FILE.dot")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from archsim.graph.export import build_graph, write_graph
    from archsim.plan.compress import resolve_compression
    from archsim.plan.inference import Degrees, base_shape
    from archsim.plan.inference_setup import resolve_precision
    from archsim.plan.stage_costs import training_shape
    from archsim.spec.loader import load_scenario

    if args.out.suffix.lower() not in (".graphml", ".json", ".dot", ".gv"):
        raise SpecError([f"--out {args.out}: unknown graph format {args.out.suffix!r}; "
                         "expected .graphml, .json or .dot"])
    check_writable(args.out)
    sc = load_scenario(args.scenario, args.overrides)
    if sc.model.layers > MAX_GRAPH_LAYERS:
        raise SpecError([f"model.layers {sc.model.layers:,}: archsim graph writes the op graph "
                         f"of at most {MAX_GRAPH_LAYERS:,} layers (each op is a node); "
                         "simulate accepts more"])
    wl, plan = sc.workload, sc.plan
    training = wl.kind == "training"
    # the compression plan shapes the graph as it does the simulation: a pruned model,
    # quantized weights and GEMMs, 2:4 sparse GEMMs
    if training:
        comp = resolve_compression(sc) if sc.compression is not None else None
        model = comp.model if comp is not None else sc.model
        shape = training_shape(sc, compression=comp)
    else:  # the prefill pass of one batch (serving: of one request)
        precision = resolve_precision(sc, sc.cluster.pools[0].device)
        model = precision.model
        prompt = getattr(wl, "prompt_len", 512)
        prompt = prompt if isinstance(prompt, int) else 512
        shape = replace(base_shape(sc, precision, Degrees(tp=plan.tp, ep=plan.ep)),
                        batch=getattr(wl, "batch", 1), seq=prompt, kv_seq=prompt)
    g = build_graph(model, shape, optimizer=wl.optimizer if training else None)
    write_graph(g, args.out)
    print(f"wrote {g.number_of_nodes()} ops and {g.number_of_edges()} edges to {args.out}")
    return 0
