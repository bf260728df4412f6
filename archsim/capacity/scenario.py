"""The scenario each capacity probe simulates (the searched scenario with its hardware, tp,
replicas, rate and SLO replaced), what of the scenario's plan the search does not size, and
the ``--set`` overrides that make the scenario an accepted deployment."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from archsim.capacity.row import CapacityRow
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_scenario, load_spec_file
from archsim.spec.scenario import ScenarioSpec


def _base_mapping(sc: ScenarioSpec) -> dict[str, Any]:
    return sc.model_dump(mode="json")


def _node_size(device: str, count: int, replica: int) -> int:
    """Devices per node for ``count`` devices in replicas of ``replica`` devices: the profile's
    node size, or the largest size below it that holds whole replicas and divides the count
    (replicas of a serving deployment do not talk to each other, so partly filled nodes only
    change how many nodes are listed, not any time)."""
    node = load_spec_file("devices", device).devices_per_node
    if count <= node:
        return count
    for size in range(node, 0, -1):
        if count % size == 0 and (size % replica == 0 or replica % size == 0):
            return size
    return 1


def _scenario(base: Mapping[str, Any], device: str, tp: int, pp: int, replicas: int,
              rate: float, slo: dict[str, Any]) -> ScenarioSpec:
    data = copy.deepcopy(dict(base))
    count = tp * pp * replicas
    data["hardware"] = {"device": device, "count": count,
                        "devices_per_node": _node_size(device, count, tp * pp)}
    wl = data["workload"]
    wl["replicas"] = replicas
    wl.setdefault("arrival", {})["rate_per_s"] = rate
    wl["slo"] = slo
    plan = data.setdefault("plan", {})
    plan.update(tp=tp, pp=pp)
    plan.pop("placement", None)
    plan.pop("dp", None)
    return load_scenario(data)


def require_open_arrivals(sc: ScenarioSpec, what: str, where: str | None = None) -> None:
    """SpecError unless the scenario's requests come as an open stream (poisson, uniform,
    trace): a rate is what the search varies, and a burst or a closed loop has none.
    ``where``: the scenario's file or name (default its name)."""
    arrival = sc.workload.arrival  # type: ignore[union-attr]
    if not arrival.is_open:
        raise SpecError([f"{where or sc.name}: workload.arrival.process {arrival.process!r}: "
                         f"{what} sizes for an open stream of requests at a rate, and these "
                         f"arrive {arrival.sent}; expected process poisson, uniform or trace"])


def _notes(sc: ScenarioSpec) -> list[str]:
    """What of the scenario's plan the search does not size."""
    notes = []
    placement = sc.plan.placement
    if isinstance(placement, Mapping) and ("prefill" in placement or "decode" in placement):
        def pool(v: Any) -> Any:
            return v.get("pool") if isinstance(v, Mapping) else v
        notes.append(f"the scenario's prefill/decode split (plan.placement: prefill on "
                     f"{pool(placement.get('prefill'))}, decode on "
                     f"{pool(placement.get('decode'))}) was not sized: each device type is "
                     "sized as colocated replicas that run both prefill and decode")
    elif placement is not None:
        notes.append("the scenario's plan.placement was not used: each device type is sized "
                     "as one homogeneous pool")
    if sc.plan.pp > 1:
        notes.append(f"pp {sc.plan.pp} from the scenario's plan.pp (not searched)")
    return notes


def _reproduce(sc: ScenarioSpec, overrides: Mapping[str, Any] | list[str] | None,
               row: CapacityRow, rate: float, slo: dict[str, Any]) -> list[str]:
    """``--set`` overrides (after any given to the search) that make the scenario ``row``'s
    accepted deployment."""
    out = list(overrides) if isinstance(overrides, (list, tuple)) else [
        f"{k}={json.dumps(v)}" for k, v in (overrides or {}).items()]
    out += [f"hardware={{device: {row.device}, count: {row.devices}, devices_per_node: "
            f"{row.devices_per_node}}}", f"workload.replicas={row.replicas}",
            f"workload.arrival.rate_per_s={rate!r}"]
    wl_slo = sc.workload.slo
    if slo != {"ttft_s": wl_slo.ttft_s, "tpot_s": wl_slo.tpot_s,
               "attainment": wl_slo.attainment}:
        out.append("workload.slo=" + json.dumps(slo))
    out.append(f"plan.tp={row.tp}")
    if sc.plan.placement is not None:
        out.append("plan.placement=null")
    if sc.plan.dp is not None:
        out.append("plan.dp=null")
    return out
