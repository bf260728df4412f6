"""The computation graph of a scenario as a networkx DiGraph, and its export formats.

Nodes are ops of one representative rank for one micro-batch: embedding, every layer's
forward ops, head and loss, then the backward ops in reverse, then the optimizer step.
Edges follow data flow: each op feeds the next; a layer's input also feeds its residual add;
each backward op depends on its forward op (the saved activations).
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx

from archsim.graph.backward import backward_of, optimizer_op
from archsim.graph.inference import inference_head, inference_layer
from archsim.graph.ops import Op
from archsim.graph.transformer import Shape, embedding_forward, head_forward, layer_forward
from archsim.spec.model import ModelSpec


def _attrs(op: Op) -> dict:
    attrs = {"kind": op.kind, "phase": op.phase, "flops": float(op.flops),
             "bytes": float(op.bytes), "params": float(op.params),
             "saved_bytes": float(op.saved_bytes), "dtype": op.dtype}
    if op.shape is not None:
        attrs["shape"] = "x".join(str(x) for x in op.shape)
    if op.grouped:  # runs inside the grouped kernel of the op before it (MoE experts)
        attrs["grouped"] = True
    if op.comm is not None:
        attrs["collective"] = op.comm.kind
        attrs["group"] = op.comm.group
        attrs["comm_bytes"] = float(op.comm.bytes)
    return attrs


def build_graph(model: ModelSpec, shape: Shape, layers: range | None = None,
                optimizer: str | None = "adam") -> nx.DiGraph:
    """Op graph for one micro-batch (forward, and backward + optimizer when training). An
    inference shape (``training`` false, ``kv_cache``) gives the prefill pass the inference
    engine prices: each layer writes its KV cache, the logits cover the sampled positions."""
    layers = layers if layers is not None else range(model.layers)
    g = nx.DiGraph(model=model.name)
    forward: list[Op] = list(embedding_forward(model, shape))
    serving = not shape.training and shape.kv_cache
    for i in layers:
        forward.extend(inference_layer(model, shape, i) if serving
                       else layer_forward(model, shape, i))
    forward.extend(inference_head(model, shape) if serving else head_forward(model, shape))
    prev = None
    for op in forward:
        g.add_node(op.name, **_attrs(op))
        if prev is not None:
            g.add_edge(prev, op.name, kind="data")
        prev = op.name
    # residual connections: a layer's input feeds both residual adds of the layer
    for i in layers:
        for target in (f"L{i}.bda_attn", f"L{i}.bda_mlp"):
            src = f"L{i}.ln_attn" if target.endswith("attn") else f"L{i}.ln_mlp"
            if src in g and target in g:
                preds = list(g.predecessors(src))
                if preds:
                    g.add_edge(preds[0], target, kind="residual")
    if not shape.training:
        return g
    params = 0.0
    for op in reversed(forward):
        params += op.params
        for bop in backward_of(op):
            g.add_node(bop.name, **_attrs(bop))
            g.add_edge(prev, bop.name, kind="data")
            g.add_edge(op.name, bop.name, kind="saved")
            prev = bop.name
    if optimizer:
        opt = optimizer_op(params, optimizer, shape.dtype)
        g.add_node(opt.name, **_attrs(opt))
        g.add_edge(prev, opt.name, kind="data")
    return g


def write_graph(g: nx.DiGraph, path: Path) -> None:
    """Write ``g`` as GraphML, node-link JSON or Graphviz DOT (by extension), atomically."""
    from archsim.io import write_text_atomic

    suffix = path.suffix.lower()
    if suffix == ".graphml":
        text = "\n".join(nx.generate_graphml(g))
    elif suffix == ".json":
        text = json.dumps(nx.node_link_data(g, edges="edges"), indent=1)
    elif suffix in (".dot", ".gv"):
        text = to_dot(g)
    else:
        raise ValueError(f"{path}: unknown graph format {suffix!r}; expected .graphml, .json "
                         "or .dot")
    write_text_atomic(path, text + "\n")


def to_dot(g: nx.DiGraph) -> str:
    colors = {"fwd": "lightblue", "bwd": "lightsalmon", "opt": "palegreen"}
    lines = ["digraph archsim {", "  rankdir=TB;", "  node [shape=box, style=filled];"]
    for name, a in g.nodes(data=True):
        label = f"{name}\\n{a['kind']}"
        if a.get("flops"):
            label += f"\\n{a['flops']:.3g} FLOP"
        lines.append(f'  "{name}" [label="{label}", fillcolor={colors.get(a["phase"], "white")}];')
    for u, v, a in g.edges(data=True):
        style = "" if a.get("kind") == "data" else " [style=dashed]"
        lines.append(f'  "{u}" -> "{v}"{style};')
    lines.append("}")
    return "\n".join(lines)
