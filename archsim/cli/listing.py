"""``archsim list devices|interconnects|clusters|storage|models|scenarios|sweeps``"""

from __future__ import annotations

import argparse

from archsim.spec.registry import KINDS, list_names, load_registry_mapping

_KINDS = list(KINDS)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registry entries",
                       description="List the named devices, interconnects, clusters, storage "
                                   "profiles, models, scenarios or sweeps that scenarios can "
                                   "refer to.")
    p.add_argument("kind", choices=_KINDS)


def _describe(kind: str, name: str) -> str:
    data, _ = load_registry_mapping(kind, name)
    if kind == "devices":
        peaks = data.get("peak", {})
        best = peaks.get("bf16") or peaks.get("fp16") or next(iter(peaks.values()), "")
        mem = data.get("memory", {})
        return f"{data.get('kind', '')}, {best} bf16/fp16, {mem.get('capacity', '')} " \
               f"at {mem.get('bandwidth', '')}"
    if kind == "interconnects":
        return f"{data.get('kind', '')}, {data.get('bandwidth', '')} per direction, " \
               f"{data.get('topology', '')}"
    if kind == "storage":
        return f"{data.get('kind', '')}, read {data.get('read_bandwidth', '')}, write " \
               f"{data.get('write_bandwidth', '')} ({data.get('scope', 'shared')})"
    if kind == "models":
        moe = data.get("moe")
        extra = f", MoE {moe.get('experts')}x top-{moe.get('top_k', 2)}" if moe else ""
        return f"{data.get('layers')} layers, hidden {data.get('hidden')}, " \
               f"{data.get('heads')} heads{extra}"
    return str(data.get("description") or data.get("name") or "").strip().splitlines()[0] \
        if (data.get("description") or data.get("name")) else ""


def run(args: argparse.Namespace) -> int:
    names = list_names(args.kind)
    width = max((len(n) for n in names), default=0)
    for name in names:
        try:
            desc = _describe(args.kind, name)
        except Exception:  # a listing never fails on one odd file
            desc = ""
        print(f"{name.ljust(width)}  {desc}".rstrip())
    return 0
