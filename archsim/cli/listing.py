"""``archsim list KIND [KIND ...]`` — devices, interconnects, clusters, storage, models,
scenarios, sweeps.

Quantities are read through the specs (units parsed once) and written in one unit per column:
peaks in TFLOP/s (TOP/s for integer dtypes) for the dtype the device actually has, memory
capacity in GiB, bandwidths in GB/s.
"""

from __future__ import annotations

import argparse

from archsim.spec.registry import KINDS, list_names, load_registry_mapping

_KINDS = list(KINDS)
# the dtype a device's headline peak is quoted for, first one the profile has
PEAK_ORDER = ("bf16", "fp16", "fp8", "int8", "tf32", "fp32", "int4", "fp4", "fp6")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registry entries",
                       description="List the named devices, interconnects, clusters, storage "
                                   "profiles, models, scenarios or sweeps that scenarios can "
                                   "refer to; several kinds at once: archsim list devices "
                                   "models.")
    p.add_argument("kind", nargs="+", choices=_KINDS, metavar="KIND",
                   help=f"one or more of: {', '.join(_KINDS)}")


def _gbps(bytes_per_s: float) -> str:
    gb = bytes_per_s / 1e9
    return f"{gb:,.0f} GB/s" if gb >= 1000 else f"{gb:.4g} GB/s"


def device_columns(name: str) -> list[str]:
    """[kind, peak, memory, bandwidth] of a device profile, one unit per column."""
    from archsim.spec.loader import load_spec_file

    dev = load_spec_file("devices", name)
    dtype = next((d for d in PEAK_ORDER if d in dev.peak), next(iter(dev.peak)))
    others = [d for d in ("bf16", "fp16") if d in dev.peak and d != dtype]
    label = "/".join([dtype, *others])
    unit = "TOP/s" if dtype.startswith("int") else "TFLOP/s"
    return [dev.kind, f"{dev.peak[dtype] / 1e12:,.4g} {unit} {label}",
            f"{dev.memory.capacity / 2**30:,.4g} GiB", _gbps(dev.memory.bandwidth)]


def interconnect_columns(name: str) -> list[str]:
    from archsim.spec.loader import load_spec_file

    link = load_spec_file("interconnects", name)
    return [link.kind, f"{_gbps(link.bandwidth)} per direction", link.topology,
            "-" if link.max_devices is None else f"{link.max_devices:,}",
            ", ".join(link.vendors) if link.vendors else "any"]


def _describe(kind: str, name: str) -> list[str]:
    if kind == "devices":
        return device_columns(name)
    if kind == "interconnects":
        return interconnect_columns(name)
    data, _ = load_registry_mapping(kind, name)
    if kind == "storage":
        return [f"{data.get('kind', '')}, read {data.get('read_bandwidth', '')}, write "
                f"{data.get('write_bandwidth', '')} ({data.get('scope', 'shared')})"]
    if kind == "models":
        moe = data.get("moe")
        extra = f", MoE {moe.get('experts')}x top-{moe.get('top_k', 2)}" if moe else ""
        return [f"{data.get('layers')} layers, hidden {data.get('hidden')}, "
                f"{data.get('heads')} heads{extra}"]
    text = str(data.get("description") or data.get("name") or "").strip()
    return [" ".join(text.splitlines()[0].replace("`", "").split())] if text else [""]


HEADERS = {"devices": ["device", "kind", "dense peak", "memory", "bandwidth"],
           "interconnects": ["interconnect", "kind", "bandwidth", "topology", "max devices",
                             "vendors"]}


def listing(kind: str) -> str:
    """The table (devices, interconnects) or aligned lines of one registry kind."""
    from archsim.textfmt import table

    rows = []
    for name in list_names(kind):
        try:
            rows.append([name, *_describe(kind, name)])
        except Exception:  # a listing never fails on one odd file
            rows.append([name])
    if kind in HEADERS:
        width = len(HEADERS[kind])
        rows = [r + [""] * (width - len(r)) for r in rows]
        return table(HEADERS[kind], rows, align="l" * 2 + "r" * (width - 3) + "l"
                     if kind == "devices" else "llrlrl")
    width = max((len(r[0]) for r in rows), default=0)
    return "\n".join(f"{r[0].ljust(width)}  {' '.join(r[1:])}".rstrip() for r in rows)


def run(args: argparse.Namespace) -> int:
    kinds = list(dict.fromkeys(args.kind))
    for i, kind in enumerate(kinds):
        if len(kinds) > 1:
            print(("\n" if i else "") + f"{kind}:")
        print(listing(kind))
    return 0
