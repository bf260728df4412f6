"""Text summaries of inference and serving results (registered in archsim.summary.RENDERERS)."""

from __future__ import annotations

from typing import Any

from archsim.spec.errors import plural
from archsim.summary import mfu_basis_suffix, renderer
from archsim.textfmt import human_time, pct, table


def _utilisation(d: dict[str, Any]) -> list[str]:
    """MFU, with the HFU beside it where they differ (2:4 sparse GEMMs execute half the
    model's FLOPs)."""
    basis = mfu_basis_suffix(d)
    if d.get("hfu") is not None and (abs(d["hfu"] - d["mfu"]) > 1e-9 or "2:4" in basis):
        return ["MFU / HFU (executed FLOPs)", f"{pct(d['mfu'])} / {pct(d['hfu'])}{basis}"]
    return ["MFU", pct(d["mfu"]) + basis]


def _rate(x: float | None, unit: str) -> str:
    return "-" if x is None else f"{x:,.1f} {unit}"


@renderer("inference")
def _inference(d: dict) -> list[str]:
    par = d["parallel"]
    encoder = bool(d.get("encoder"))
    plan = (f"tp {par['tp']} · pp {par['pp']} · ep {par['ep']} · dp {par['dp']} · batch "
            f"{d['batch']} ({par['batch_per_replica']} per replica) · "
            + (f"sequences of {d['prompt_len']} tokens" if encoder else
               f"prompt {d['prompt_len']} · generate {d['gen_len']}"))
    if encoder:  # one forward pass per batch: nothing generated, no KV cache
        rows = [["latency per batch (forward pass)", human_time(d["e2e_latency_s"])],
                ["sequences/s (all replicas)", _rate(d.get("sequences_per_s"), "sequences/s")],
                ["tokens processed/s", _rate(d["tokens_per_s"], "tokens/s")],
                _utilisation(d)]
    else:
        rows = [["time to first token (prefill)", human_time(d["ttft_s"])],
                ["time per output token (mean)", human_time(d["tpot_s"])],
                ["  first / last decode step", f"{human_time(d['tpot_first_s'])} / "
                                               f"{human_time(d['tpot_last_s'])}"],
                ["end-to-end latency", human_time(d["e2e_latency_s"])],
                ["generated tokens/s (all sequences)", _rate(d["tokens_per_s"], "tokens/s")],
                _utilisation(d)]
    phases = []
    for name, ph in d["phases"].items():
        if "bound_by" not in ph:
            continue
        kernel = ph["compute_bound_s"] + ph["memory_bound_s"]
        phases.append([name, human_time(ph["time_s"]), ph["bound_by"],
                       pct(ph["compute_bound_s"] / kernel if kernel else None),
                       f"{ph['arithmetic_intensity']:.1f}" if ph["arithmetic_intensity"]
                       else "-"])
    out = [f"plan: {plan}", "", table(["metric", "value"], rows), "",
           "Phases (time: the whole phase, every decode step included; bound: the roofline "
           "term that sets most of its kernel time)",
           table(["phase", "time", "bound by", "compute-bound share", "FLOP/byte"], phases)]
    out.extend(f"note: {n}" for n in d.get("notes", []))
    return out


@renderer("serving")
def _serving(d: dict) -> list[str]:
    return serving_lines(d)


def _rate_basis(d: dict) -> str:
    """Where a serving result's rates were measured (archsim/metrics/serving_window.py)."""
    from archsim.metrics.serving_window import rate_basis

    return rate_basis(d.get("steady_state"))


def serving_lines(d: dict, title: str | None = None) -> list[str]:
    """The serving metrics table (also used for the colocated comparison)."""
    slo = d.get("slo") or {}
    basis = _rate_basis(d)
    rows = [["requests", f"{d['requests']:,} ({plural(d['replicas'], 'replica')})"],
            [f"requests/s completed ({basis})", _rate(d["requests_per_s"], "req/s")],
            [f"output tokens/s ({basis})", _rate(d["tokens_per_s"], "tokens/s")],
            ["TTFT p50 / p90 / p99", " / ".join(human_time(d[f"ttft_p{p}_s"])
                                                 for p in (50, 90, 99))],
            *([["TTFT via the decode pool p50 / p99",
                " / ".join(human_time(d[f"ttft_decode_pool_p{p}_s"]) for p in (50, 99))]]
              if d.get("ttft_decode_pool_p50_s") is not None else []),
            ["TPOT p50 / p90 / p99", " / ".join(human_time(d[f"tpot_p{p}_s"])
                                                 for p in (50, 90, 99))],
            *([["ITL p50 / p90 / p99", " / ".join(human_time(d[f"itl_p{p}_s"])
                                                   for p in (50, 90, 99))]]
              if d.get("itl_p50_s") is not None else []),
            ["queueing delay p50 / p99", f"{human_time(d['queueing_p50_s'])} / "
                                         f"{human_time(d['queueing_p99_s'])}"],
            ["preemptions", f"{d['preemptions']:,}"]]
    if d.get("lengths"):
        ln = d["lengths"]
        rows.insert(1, ["prompt / output tokens (mean, longest)",
                        f"{ln['prompt']['mean']:,.0f} / {ln['gen']['mean']:,.0f} "
                        f"({ln['prompt']['max']:,} / {ln['gen']['max']:,})"])
    rows += [[f"stage busy ({g['pool']}, {g['pp']} stages)",
              " / ".join(pct(u) for u in g["stage_utilization"])]
             for g in d.get("groups", []) if g.get("virtual_engines", 1) > 1]
    if d.get("slo_attainment") is not None:
        target = " ".join(f"{k.removesuffix('_s')} ≤ {human_time(v)}" for k, v in slo.items()
                          if k.endswith("_s") and v is not None)
        rows.append(["SLO attainment", f"{pct(d['slo_attainment'])} ({target})"])
        rows.append(["goodput", _rate(d["goodput_rps"], "req/s within SLO")])
    out = [title] if title else []
    out.append(table(["metric", "value"], rows))
    out.extend(f"note: {n}" for n in d.get("notes") or [])
    if d.get("colocated"):
        colo = d["colocated"]
        out.extend(["", *serving_lines(colo, "Colocated on the same devices (comparison)")])
        if colo.get("infeasible_reasons"):
            out.append("the colocated set-up cannot serve every request: "
                       + "; ".join(colo["infeasible_reasons"]))
    if d.get("kv_transfer"):
        kv = d["kv_transfer"]
        out.append(f"KV-cache transfer {kv['link']}: mean {human_time(kv['time_mean_s'])}, "
                   f"p99 {human_time(kv['time_p99_s'])}, link busy {pct(kv['link_utilization'])}")
    return out
