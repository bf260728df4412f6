"""``archsim graph SCENARIO --out FILE(.graphml|.json|.dot)``"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from archsim.cli.common import check_outputs, load_cli_scenario, plural, scenario_file
from archsim.spec.errors import SpecError

if TYPE_CHECKING:
    from archsim.spec.scenario import ScenarioSpec

# Most layers whose op graph is written: the graph holds every op of every layer as a
# networkx node (measured: 1,000 layers 3.5 s, 200 MB, a 10 MB JSON; 10,000 layers 22 s,
# 1.5 GB), and the deepest real models have ~130 layers.
MAX_GRAPH_LAYERS = 2_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="write the computation graph of a scenario",
                       description="Write the op graph of one micro-batch: every layer "
                                   "after tensor/sequence/context/expert sharding, not split "
                                   "into pipeline stages (no data-parallel, pipeline-send or "
                                   "recomputation ops).")
    p.add_argument("scenario", nargs="?", default=None, help="scenario path or name")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="FILE.graphml, FILE.json or FILE.dot")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def run(args: argparse.Namespace) -> int:
    from archsim.graph.export import build_graph, write_graph
    from archsim.plan.compress import resolve_compression
    from archsim.plan.inference import Degrees, base_shape
    from archsim.plan.inference_setup import resolve_precision
    from archsim.plan.stage_costs import training_shape

    if args.out.suffix.lower() not in (".graphml", ".json", ".dot", ".gv"):
        raise SpecError([f"--out {args.out}: unknown graph format {args.out.suffix!r}; "
                         "expected .graphml, .json or .dot"])
    check_outputs({"--out": args.out}, {"the scenario": scenario_file(args.scenario)})
    sc = load_cli_scenario(args.scenario, args.overrides)
    if sc.model.layers > MAX_GRAPH_LAYERS:
        raise SpecError([f"model.layers {sc.model.layers:,}: archsim graph writes the op graph "
                         f"of at most {MAX_GRAPH_LAYERS:,} layers (each op is a node); "
                         "simulate accepts more"])
    problems = plan_problems(sc)
    if problems:
        raise SpecError([f"{sc.name}: the plan does not divide: {p} (simulate reports it "
                         "infeasible); no graph written" for p in problems])
    wl, plan = sc.workload, sc.plan
    training = wl.kind == "training"
    note = ""
    # the compression plan shapes the graph as it does the simulation: a pruned model,
    # quantized weights and GEMMs, 2:4 sparse GEMMs
    if training and sc.compression is not None and sc.compression.distill is not None:
        g = _distillation_graph(sc)
        note = " (the teacher's forward pass, then the student's training step)"
    elif training:
        comp = resolve_compression(sc) if sc.compression is not None else None
        model = comp.model if comp is not None else sc.model
        g = build_graph(model, training_shape(sc, compression=comp), optimizer=wl.optimizer)
    else:  # the prefill pass of one batch (serving: of one request of the mean length)
        precision = resolve_precision(sc, sc.cluster.pools[0].device)
        prompt = getattr(wl, "prompt_len", 512)
        if not isinstance(prompt, int):
            from archsim.sim.serving.requests import generate_requests

            lengths = [r.prompt_len for r in generate_requests(wl)]
            prompt = max(1, round(sum(lengths) / len(lengths)))
            note = f" (one request of the stream's mean prompt, {prompt} tokens)"
        shape = replace(base_shape(sc, precision, Degrees(tp=plan.tp, ep=plan.ep)),
                        batch=getattr(wl, "batch", 1), seq=prompt, kv_seq=prompt)
        g = build_graph(precision.model, shape, optimizer=None)
    write_graph(g, args.out)
    print(f"wrote {plural(g.number_of_nodes(), 'op')} and {plural(g.number_of_edges(), 'edge')} "
          f"to {args.out}{note}")
    return 0


def plan_problems(sc: ScenarioSpec) -> list[str]:
    """Why ``sc``'s plan does not split its model over the devices, in simulate's words (empty
    when it does): for training the layout and placement simulate resolves (the student's and
    the teacher's for distillation), for inference and serving the split of one replica's
    model over tp and pp, and for static inference the devices into whole replicas."""
    from archsim.metrics.distill import student_scenario, teacher_scenario
    from archsim.metrics.inference import device_split_reason, replicas_reason
    from archsim.plan.balance import resolve_pipeline
    from archsim.plan.compress import resolve_compression
    from archsim.plan.inference import Degrees, degree_reasons
    from archsim.plan.inference_setup import resolve_precision
    from archsim.plan.layout import resolve_layout

    plan = sc.plan
    if sc.workload.kind != "training":
        model = resolve_precision(sc, sc.cluster.pools[0].device).model
        problems = degree_reasons(model, Degrees(tp=plan.tp, pp=plan.pp), plan.layers_per_stage)
        if sc.workload.kind == "inference":  # serving leaves devices beyond whole replicas idle
            count = _inference_devices(sc)
            problems[:0] = [device_split_reason(count, plan.tp, plan.pp)
                            or replicas_reason(count, plan.tp, plan.pp, plan.dp)]
        return [p for p in problems if p]
    problems = []
    if sc.compression is not None and sc.compression.distill is not None:
        _, reasons = resolve_layout(teacher_scenario(sc))
        problems += [f"teacher {sc.model.name}: {r}" for r in reasons]
        sc = student_scenario(sc)
    comp = resolve_compression(sc)
    if comp.model is not sc.model:
        sc = sc.model_copy(update={"model": comp.model})
    *_, reasons = resolve_pipeline(sc, comp)
    return problems + reasons


def _inference_devices(sc: ScenarioSpec) -> int:
    """The devices static inference of ``sc`` runs on, as simulate counts them: the pools of
    ``plan.placement.stages`` on a cluster of several pools, else the first pool."""
    from archsim.spec.placement import stage_pool_names

    names = stage_pool_names(sc.plan.placement, sc.plan.pp)
    if names is None or len(sc.cluster.pools) == 1:
        return sc.cluster.pools[0].count
    return sum(sc.cluster.pool(n).count for n in dict.fromkeys(names))


def _distillation_graph(sc):
    """Knowledge distillation as simulated (archsim/metrics/distill.py): the teacher's forward
    pass (nodes ``teacher.*``) and the student's training step (``student.*``), the teacher's
    logits feeding the student's loss."""
    import networkx as nx

    from archsim.graph.export import build_graph
    from archsim.metrics.distill import student_scenario, teacher_scenario
    from archsim.plan.compress import resolve_compression
    from archsim.plan.stage_costs import training_shape

    teacher = teacher_scenario(sc)
    t_shape = replace(training_shape(teacher), training=False)
    tg = build_graph(teacher.model, t_shape, optimizer=None)
    student = student_scenario(sc)
    comp = resolve_compression(student) if student.compression is not None else None
    model = comp.model if comp is not None else student.model
    sg = build_graph(model, training_shape(student, compression=comp),
                     optimizer=sc.workload.optimizer)
    g = nx.union(tg, sg, rename=("teacher.", "student."))
    g.graph["model"] = f"{sc.model.name} -> {model.name}"
    last = [n for n in g if n.startswith("teacher.") and g.out_degree(n) == 0]
    if last and "student.loss" in g:
        g.add_edge(last[-1], "student.loss", kind="teacher logits")
    return g
