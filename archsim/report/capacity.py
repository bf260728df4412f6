"""The capacity answer for training: how many devices, for how long, at what cost.

A training run of N tokens at a simulated throughput T tokens/s takes N / T seconds; its cost is
the simulated cost per million tokens × N / 10⁶ and its energy the simulated energy per token × N
(both from the result: devices × price per device-hour, and TDP while busy / idle power
otherwise — see archsim/result.py). Checkpoint writes are included when the scenario models
them (T and the cost are then the sustained values, see ``sustained``; the idle energy of those
pauses is not). Failures, restarts and evaluation pauses are not included.

The fewest devices that reach a target rate (N tokens in D days) are found by simulating the
scenario at other data-parallel degrees (archsim/report/scaling.py) and bisecting over the
degrees that divide the batch, assuming throughput grows with dp (which the scaling curve
shows for the points it simulates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archsim.report.scaling import ScalePoint, valid_dps
from archsim.spec.model import ModelSpec
from archsim.spec.scenario import ScenarioSpec

# Compute-optimal training tokens per parameter: Hoffmann et al. 2022, "Training
# Compute-Optimal Large Language Models" (Chinchilla), Table 3: ~20 tokens per parameter.
CHINCHILLA_TOKENS_PER_PARAM = 20.0
# Default deadline of the capacity question. A planning default (a month-long run), not a
# measured number; set it with --days.
DEFAULT_DAYS = 30.0
SECONDS_PER_DAY = 86_400.0
J_PER_KWH = 3.6e6


def model_parameters(model: ModelSpec) -> float:
    """Parameters of the whole model, summed over the op graph's ops (no parallelism)."""
    from archsim.graph.transformer import Shape, embedding_forward, head_forward, layer_forward

    shape = Shape(batch=1, seq=1, kv_seq=1, training=False)
    per_kind: dict[bool, float] = {}
    total = 0.0
    for layer in range(model.layers):
        moe = model.is_moe_layer(layer)
        if moe not in per_kind:
            per_kind[moe] = sum(op.params for op in layer_forward(model, shape, layer))
        total += per_kind[moe]
    total += sum(op.params for op in embedding_forward(model, shape))
    total += sum(op.params for op in head_forward(model, shape))
    return total


@dataclass(frozen=True)
class TrainingTarget:
    """Train ``tokens`` tokens within ``days`` days; ``note`` says where the numbers came from."""

    tokens: float
    days: float
    note: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / (self.days * SECONDS_PER_DAY)


def default_target(model: ModelSpec, tokens: float | None, days: float | None
                   ) -> TrainingTarget:
    """The target from the options, defaulting to Chinchilla-optimal tokens in 30 days."""
    notes = []
    if tokens is None:
        tokens = CHINCHILLA_TOKENS_PER_PARAM * model_parameters(model)
        notes.append(f"{CHINCHILLA_TOKENS_PER_PARAM:.0f} tokens per parameter, compute-optimal "
                     "per Hoffmann et al. 2022 (Chinchilla); set --train-tokens")
    else:
        notes.append("--train-tokens")
    if days is None:
        days = DEFAULT_DAYS
        notes.append(f"a {DEFAULT_DAYS:.0f}-day deadline is a planning default; set --days")
    else:
        notes.append("--days")
    return TrainingTarget(tokens=float(tokens), days=float(days), note="; ".join(notes))


@dataclass(frozen=True)
class RunEstimate:
    """A whole training run at one simulated point."""

    devices: int
    tokens_per_s: float
    days: float
    cost_usd: float | None
    energy_kwh: float | None


def run_estimate(devices: int, tokens_per_s: float, cost_per_million_tokens: float | None,
                 energy_per_token_j: float | None, tokens: float) -> RunEstimate:
    days = tokens / tokens_per_s / SECONDS_PER_DAY
    cost = None if cost_per_million_tokens is None else cost_per_million_tokens * tokens / 1e6
    energy = None if energy_per_token_j is None else energy_per_token_j * tokens / J_PER_KWH
    return RunEstimate(devices, tokens_per_s, days, cost, energy)


def sustained(r: dict[str, Any]) -> tuple[float | None, float | None]:
    """(tokens/s, $ per million tokens) over a long run of the result ``r``: the pauses for
    checkpoint writes (``io.step_time_with_checkpoint_s``, archsim/plan/io.py) are included
    when the scenario models them. The devices are held (and paid) during those pauses."""
    tps, cpm, step = r.get("tokens_per_s"), r.get("cost_per_million_tokens_usd"), \
        r.get("step_time_s")
    with_ckpt = (r.get("io") or {}).get("step_time_with_checkpoint_s")
    if tps and step and with_ckpt and with_ckpt > step:
        ratio = with_ckpt / step
        return tps / ratio, None if cpm is None else cpm * ratio
    return tps, cpm


def slow_tokens_per_s(p: Any) -> float | None:
    """Tokens/s of a simulated point (ScalePoint, PlannedPoint) at the upper end of its
    step-time band: tokens/s × step time / the band's upper end (the band scales time)."""
    if not (p.tokens_per_s and p.step_time_s and p.step_time_high_s):
        return None
    return p.tokens_per_s * p.step_time_s / p.step_time_high_s


def band_end_days(p: Any, tokens: float) -> float | None:
    """Days to train ``tokens`` at the upper end of ``p``'s step-time band (None: no band)."""
    slow = slow_tokens_per_s(p)
    return None if slow is None else tokens / slow / SECONDS_PER_DAY


def fewest_devices(sc: ScenarioSpec, known: list[ScalePoint], target_tokens_per_s: float,
                   simulate_at: Callable[[ScenarioSpec, int], ScalePoint],
                   rate: Callable[[ScalePoint], float | None] = lambda p: p.tokens_per_s
                   ) -> tuple[ScalePoint | None, list[ScalePoint]]:
    """The smallest-dp feasible point whose ``rate`` (default: its tokens/s; e.g.
    :func:`slow_tokens_per_s`) reaches ``target_tokens_per_s``, and every point simulated on
    the way (including ``known``). None when even the largest dp does not reach it."""
    cache = {p.dp: p for p in known}

    def point(dp: int) -> ScalePoint:
        if dp not in cache:
            cache[dp] = simulate_at(sc, dp)
        return cache[dp]

    def meets(p: ScalePoint) -> bool:
        tps = rate(p)
        return p.feasible and tps is not None and tps >= target_tokens_per_s

    dps = valid_dps(sc)
    if not dps:
        return None, sorted(cache.values(), key=lambda p: p.dp)
    index = {dp: i for i, dp in enumerate(dps)}
    known_meet = [index[p.dp] for p in known if p.dp in index and meets(p)]
    if known_meet:
        hi = min(known_meet)
    elif meets(point(dps[-1])):
        hi = len(dps) - 1
    else:
        return None, sorted(cache.values(), key=lambda p: p.dp)
    known_miss = [index[p.dp] for p in known if p.dp in index and index[p.dp] < hi]
    lo = max(known_miss) + 1 if known_miss else 0
    # invariant: dps[hi] meets the target and every dps[i] with i < lo (simulated) misses it
    while lo < hi:
        mid = (lo + hi) // 2
        if meets(point(dps[mid])):
            hi = mid
        else:
            lo = mid + 1
    return point(dps[hi]), sorted(cache.values(), key=lambda p: p.dp)
