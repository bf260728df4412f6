"""Summary lines for heterogeneous placement, stragglers, the network model and I/O
(appended to the training summary by archsim/summary.py)."""

from __future__ import annotations

from itertools import groupby

from archsim.textfmt import human_bytes, human_time


def cluster_lines(d: dict) -> list[str]:
    """Readable lines for ``placement`` and ``io`` of a training result (empty if plain)."""
    out: list[str] = []
    pl = d.get("placement") or {}
    stages = pl.get("stages") or []
    if len(set(stages)) > 1 or pl.get("balanced"):
        runs = ", ".join(f"{pool} ×{len(list(g))}" for pool, g in groupby(stages))
        how = "balanced by speed" if pl.get("balanced") else "as given"
        if pl.get("memory_limited"):
            how += ", capped by memory"
        out.append(f"placement: stages on {runs}; layers per stage "
                   f"{', '.join(map(str, pl['layers_per_stage']))} ({how})")
    for stage, f in (pl.get("stragglers") or {}).items():
        out.append(f"straggler in stage {stage}: compute ×{f['speed']:g}, NIC ×"
                   f"{f['nic_speed']:g}, scale-up links ×{f['intra_speed']:g}")
    if pl.get("network") == "flow":
        out.append("network: flow-level (concurrent transfers share links max-min fairly)")
    io = d.get("io")
    if io:
        data, ck = io.get("data"), io.get("checkpoint")
        if data:
            out.append(f"input from {io['storage']}: {human_bytes(data['bytes_per_step'])} per "
                       f"step in {human_time(data['read_s'])}, exposed "
                       f"{human_time(data['exposed_s'])}")
        if ck:
            out.append(f"checkpoint: {human_bytes(ck['bytes'])} every {ck['interval_steps']} "
                       f"steps, write {human_time(ck['write_s'])} ({ck['mode']}), "
                       f"{human_time(ck['amortized_s_per_step'])} per step amortized → "
                       f"{human_time(io['step_time_with_checkpoint_s'])} per step"
                       + _with_pauses(io))
    return ["", *out] if out else []


def _with_pauses(io: dict) -> str:
    """What a long run pays per token with the checkpoint pauses (the devices held, idle)."""
    cost = io.get("cost_per_million_tokens_with_checkpoint_usd")
    energy = io.get("energy_per_token_with_checkpoint_j")
    if energy is None:
        return ""
    price = "" if cost is None else f"${cost:,.3g} per million tokens, "
    return f" ({price}{energy:,.3g} J per token with the pauses)"

