"""Roofline data of a training scenario's ops on its device.

For each kernel of one transformer layer (forward and backward), the embedding and the head on
one rank: arithmetic intensity = executed FLOPs / bytes of memory traffic, and achieved FLOP/s =
executed FLOPs / the cost model's time (archsim.cost.compute.compute_time, launch overhead
included). Collectives have no roofline and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.graph.ops import Op
from archsim.report.document import Plot, Section
from archsim.report.plots import RooflinePoint
from archsim.spec.device import DeviceSpec
from archsim.spec.scenario import ScenarioSpec


@dataclass(frozen=True)
class OpRow:
    """One op as the roofline sees it."""

    name: str
    kind: str
    flops: float
    """Executed FLOPs (nominal × work fraction)."""
    bytes: float
    time_s: float
    bound: str


def training_ops(sc: ScenarioSpec) -> list[Op] | None:
    """Forward and backward ops of one rank's layer (each layer kind), embedding and head;
    None when the plan does not divide."""
    from archsim.graph.backward import backward_ops
    from archsim.graph.transformer import embedding_forward, head_forward, layer_forward
    from archsim.plan.layout import resolve_layout
    from archsim.plan.stage_costs import training_shape

    layout, _ = resolve_layout(sc)
    if layout is None:
        return None
    shape = training_shape(sc, layout)
    model = sc.model
    kinds: dict[bool, int] = {}
    for i in range(model.layers):
        kinds.setdefault(model.is_moe_layer(i), i)
    forward = embedding_forward(model, shape)
    for layer in sorted(kinds.values()):
        forward += layer_forward(model, shape, layer)
    forward += head_forward(model, shape)
    return forward + backward_ops(forward)


def op_rows(ops: list[Op], device: DeviceSpec) -> list[OpRow]:
    from archsim.cost.compute import bound_by, compute_time

    rows = []
    for op in ops:
        if op.kind == "comm" or op.flops <= 0 or op.bytes <= 0:
            continue
        rows.append(OpRow(op.name, op.kind, op.flops * op.work_fraction, op.bytes,
                          compute_time(op, device), bound_by(op, device)))
    return rows


def roofline_points(rows: list[OpRow]) -> list[RooflinePoint]:
    """One point per distinct (kind, intensity, rate); MoE experts repeat identical ops."""
    seen: set[tuple[str, float, float]] = set()
    points = []
    for r in rows:
        intensity, rate = r.flops / r.bytes, r.flops / r.time_s
        key = (r.kind, round(intensity, 6), round(rate, -6))
        if key in seen:
            continue
        seen.add(key)
        points.append(RooflinePoint(r.name, r.kind, intensity, rate))
    return points


def roofline_section(sc: ScenarioSpec) -> Section | None:
    """The roofline section of a training report; None when the plan does not divide."""
    from archsim.cost.compute import matmul_peak
    from archsim.report import fmt, plots

    ops = training_ops(sc)
    if ops is None:
        return None
    device = sc.cluster.pools[0].device
    rows = op_rows(ops, device)
    dtype = sc.workload.dtype
    ceilings = [(f"{dtype} matrix peak", matmul_peak(device, dtype)),
                ("vector peak", device.vector_flops)]
    png = plots.roofline_plot(roofline_points(rows), ceilings, device.memory.bandwidth,
                              device.memory.bandwidth * device.efficiency.memory,
                              f"Roofline of one layer's kernels on {device.name}")
    sec = Section("roofline", "Roofline of the ops")
    sec.text(f"Each point is one kernel of a transformer layer (forward and backward), the "
             f"embedding or the head on one rank, placed by its arithmetic intensity and the "
             f"FLOP rate the cost model gives it on {device.name} (datasheet roofs as lines; "
             "points sit below them by the profile's efficiency curves and launch overhead).")
    if len(sc.cluster.pools) > 1:
        sec.text(f"The cluster has {len(sc.cluster.pools)} pools; the roofline is drawn for the "
                 f"first pool's device, {device.name}.")
    sec.add(Plot("roofline", "Achieved TFLOP/s against arithmetic intensity, per kernel", png))
    top = sorted(rows, key=lambda o: -o.time_s)[:10]
    sec.table(["kernel", "kind", "GFLOP", "MB moved", "FLOP/byte", "time", "bound by"],
              [(o.name, o.kind, f"{o.flops / 1e9:.3g}", f"{o.bytes / 1e6:.3g}",
                f"{o.flops / o.bytes:.3g}", fmt.human_time(o.time_s), o.bound) for o in top],
              caption="The ten slowest kernels of one micro-batch on one rank.")
    return sec
