"""``archsim capacity SCENARIO --rate R --slo ttft=S,tpot=S [--devices a,b] [--tp N] [--json]``"""

from __future__ import annotations

import argparse
import json
import math
import shlex
from pathlib import Path

from archsim.cli.common import check_devices, check_outputs, plural, scenario_file
from archsim.io import write_text_atomic
from archsim.spec.errors import SpecError
from archsim.spec.shape import MAX_NUMBER


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capacity", help="fewest replicas per device type that meet an SLO",
                       description="For a serving scenario, find for each device type the "
                                   "fewest replicas that meet the SLO at a request rate, "
                                   "with their cost where prices are known.")
    p.add_argument("scenario", help="serving scenario YAML path or registry name")
    p.add_argument("--rate", type=float, required=True, metavar="R",
                   help="requests per second")
    p.add_argument("--slo", metavar="ttft=S,tpot=S",
                   help="objectives in seconds (or with a unit: 500ms); default: the "
                        "scenario's workload.slo")
    p.add_argument("--devices", metavar="A,B", help="device names (default: the scenario's)")
    p.add_argument("--attainment", type=float, metavar="F",
                   help="fraction of requests that must meet the SLO (default: the "
                        "scenario's slo.attainment, 0.9)")
    p.add_argument("--max-replicas", type=int, default=256, metavar="N")
    p.add_argument("--tp", type=int, metavar="N",
                   help="pin the tensor parallelism of a replica (default: every tp from the "
                        "smallest that holds the model up to a node is tried; the scenario's "
                        "plan.tp is not kept)")
    p.add_argument("--size-for", choices=("prediction", "slow-end"), default="prediction",
                   help="size each device type as predicted (default), or at its error bar's "
                        "slow end: the fewest replicas of the chosen tp that still pass on a "
                        "device as much slower than predicted as its TPOT band allows")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="dotted override of the scenario (repeatable)")
    p.add_argument("--json", action="store_true", help="print only the result as JSON")
    p.add_argument("--out", type=Path, metavar="FILE", help="also write the JSON result to FILE")


def parse_slo(text: str) -> dict[str, float]:
    """``"ttft=0.5,tpot=50ms"`` → {"ttft_s": 0.5, "tpot_s": 0.05}."""
    from archsim.spec.units import parse_quantity

    out: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in ("ttft", "tpot") or not value:
            raise SpecError([f"--slo {text!r}: expected ttft=SECONDS and/or tpot=SECONDS, "
                             "e.g. ttft=0.5,tpot=0.05"])
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parse_quantity(value, "time")
            except ValueError as exc:
                raise SpecError([f"--slo {key}={value}: {exc}"]) from None
        if not (seconds > 0 and math.isfinite(seconds)) or seconds > MAX_NUMBER:
            raise SpecError([f"--slo {key}={value}: expected seconds greater than 0 (a finite "
                             f"number up to {MAX_NUMBER:.0e})"])
        out[f"{key}_s"] = seconds
    return out


def render(result: dict) -> str:
    from archsim.textfmt import human_time, pct, table, usd

    slo = result["slo"]
    goal = ", ".join(f"{k.removesuffix('_s')} ≤ {human_time(v)}" for k, v in slo.items()
                     if k.endswith("_s") and v is not None)
    need = 1 - result.get("keep_up_tolerance", 0.05)
    pinned, own = result.get("tp_pinned"), result.get("scenario_tp")
    lines = [f"{result['model']} at {result['rate_per_s']:g} requests/s; SLO {goal} for "
             f"{pct(slo['attainment'])} of requests "
             f"({plural(result['requests_per_probe'], 'request')} simulated per probe)",
             f"accepted: the SLO is met and the deployment keeps up (serves ≥ {pct(need)} of "
             "the requests arriving in its steady-state window; a run too short for one is "
             "not accepted)",
             f"tp: pinned to {pinned} (--tp)" if pinned is not None else
             "tp: every power of two from the smallest that holds the model up to a node"
             + (f" (the scenario's plan.tp {own} is not kept; --tp {own} pins it)"
                if own and own != 1 else ""),
             "$/M tokens = devices × price per device-hour / (3600 × output tokens/s in the "
             "steady-state window of the accepted probe) × 10⁶, the same basis for every row",
             *(["sized at each error bar's slow end (--size-for slow-end): the replicas pass on "
                "a device as much slower than predicted as its TPOT band allows; the figures "
                "below are predicted for them"] if result.get("size_for") == "slow-end" else []),
             ""]
    rows = []
    piped = any((r.get("pp") or 1) > 1 for r in result["rows"])
    for r in result["rows"]:
        if not r["feasible"]:
            rows.append([r["device"], "-", *(["-"] if piped else []), "-", "-", "-", "-", "-",
                         "-", "-", "-"])
            continue
        money = "no price" if r["cost_per_hour_usd"] is None else usd(r["cost_per_hour_usd"])
        per_m = "no price" if r["cost_per_million_tokens_usd"] is None else \
            usd(r["cost_per_million_tokens_usd"])
        rows.append([r["device"], r["tp"], *([r["pp"]] if piped else []), r["replicas"],
                     r["devices"], pct(r["slo_attainment"]), human_time(r["ttft_p99_s"]),
                     human_time(r["tpot_p99_s"]), pct(r.get("served_share")), money, per_m])
    lines.append(table(["device", "tp", *(["pp"] if piped else []), "replicas", "devices",
                        "attainment", "TTFT p99", "TPOT p99", "served", "cost/hour",
                        "$/M tokens"], rows))
    lines.append("served: requests served / requests arrived in the steady-state window")
    source = result.get("source") or result["scenario"]
    for r in result["rows"]:
        rejected = _not_keeping_up(r)
        if not r["feasible"]:
            lines.append(f"{r['device']}: {r['reason']}")
            lines += rejected
            continue
        lines += rejected
        lines.append(f"{r['device']}: {plural(r['devices_per_node'], 'device')} per node; "
                     "reproduce: "
                     f"archsim simulate {shlex.quote(source)} "
                     + " ".join(f"--set {shlex.quote(o)}" for o in r.get("reproduce", [])))
        if r["cost_per_hour_usd"] is None:
            lines.append(f"{r['device']}: no price in the device profile")
        lines += error_bar_lines(r)
    lines += [f"note: {n}" for n in result.get("notes", [])]
    unpriced = result.get("unpriced") or []
    if result["best"]:
        sized = len(result["rows"])
        among = (f" (of the {plural(sized - len(unpriced), 'priced device type')}; no price for "
                 f"{', '.join(unpriced)})" if unpriced and result["best_by"] != "devices"
                 else f" (of {sized} device types sized)" if sized > 1 else "")
        lines.append(f"best by {result['best_by']}: {result['best']}{among}")
    else:
        lines.append("no device type meets the SLO and keeps up (why: above)")
    return "\n".join(lines)


def _not_keeping_up(row: dict) -> list[str]:
    """For each tp, the largest probe that met the SLO but was rejected for not keeping up
    (or for a run too short to show it)."""
    last: dict[int, dict] = {}
    for t in row.get("tried", []):
        if t.get("why") and (t["tp"] not in last or t["replicas"] > last[t["tp"]]["replicas"]):
            last[t["tp"]] = t
    return [f"{row['device']}: rejected {plural(t['replicas'], 'replica')} of tp {t['tp']} "
            f"(SLO attainment {100 * t['slo_attainment']:.1f}% met): {t['why']}"
            for _, t in sorted(last.items())]


def run(args: argparse.Namespace) -> int:
    from archsim.capacity import plan_capacity
    from archsim.spec.scenario import MAX_SERVING_REPLICAS

    if args.out is not None:
        check_outputs({"--out": args.out}, {"the scenario": scenario_file(args.scenario)})
    if args.max_replicas > MAX_SERVING_REPLICAS:
        raise SpecError([f"--max-replicas {args.max_replicas}: at most "
                         f"{MAX_SERVING_REPLICAS:,}, the most replicas a serving run simulates"])
    slo = parse_slo(args.slo) if args.slo else {}
    devices = None
    if args.devices is not None:
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
        if not devices:
            raise SpecError([f"--devices {args.devices!r}: expected device names separated "
                             "by commas, e.g. a100-sxm4-80gb,h100-sxm5-80gb"])
        check_devices(devices)
    result = plan_capacity(args.scenario, rate=args.rate, ttft_s=slo.get("ttft_s"),
                           tpot_s=slo.get("tpot_s"), devices=devices,
                           attainment=args.attainment, max_replicas=args.max_replicas,
                           overrides=args.overrides or None, tp=args.tp,
                           size_for=args.size_for)
    text = json.dumps(result, indent=2)
    if args.out is not None:
        write_text_atomic(args.out, text + "\n")
    print(json.dumps(result) if args.json else render(result))
    return 0


def error_bar_lines(row: dict) -> list[str]:
    """A sized device's calibrated error bar: its p99 latencies and price as intervals (80% of
    held-out measured runs, or the wider reference band where a band was widened), and that
    the error of any uncalibrated device is unknown (archsim/accuracy.py)."""
    from archsim.accuracy import is_widened
    from archsim.textfmt import human_time, usd

    u = row.get("uncertainty")
    if not u:
        return []
    out = [f"{row['device']}: {u['note']}"] if u.get("note") else []
    iv = u["intervals"]
    shown = [(key, name, fmt, is_widened(u, key, "serving"))
             for key, name, fmt in (("ttft_p99_s", "TTFT p99", human_time),
                                    ("tpot_p99_s", "TPOT p99", human_time),
                                    ("e2e_p99_s", "end-to-end p99", human_time),
                                    ("cost_per_million_tokens_usd", "$/M tokens", usd))
             if key in iv]
    if shown:
        widened = [w for *_, w in shown]
        mixed = any(widened) and not all(widened)
        what = ("the wider reference band, not an 80% one" if all(widened)
                else "80% of held-out measured runs" + ("; *: the wider reference band"
                                                        if mixed else ""))
        slow = u.get("slow_end")
        if slow:
            what += f"; its slow end simulated on a device {slow['slowdown']:.2f}× slower"
        out.append(f"{row['device']}: likely ({what}) " + ", ".join(
            f"{name} {fmt(iv[key][0])}–{fmt(iv[key][1])}{'*' if mixed and w else ''}"
            for key, name, fmt, w in shown))
    at = row.get("at_slow_end")
    if at and at["passes"] is not False:
        pace = "keeps up" if at["passes"] else (
            "the stream is too short to show that it keeps up there (set "
            f"workload.arrival.count to at least {at['count_needed']:,} to judge it)")
        out.append(f"{row['device']}: at the error bar's slow end (a device "
                   f"{at['slowdown']:.2f}× slower than predicted) it still meets the SLO "
                   f"(attainment {100 * at['slo_attainment']:.1f}%); {pace}")
    out += [f"{row['device']}: outside the calibration: {x}" for x in u["out_of_range"]]
    return out
