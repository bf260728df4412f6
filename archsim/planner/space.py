"""The plan space the auto-planner searches, and which of its points divide evenly.

A :class:`Candidate` is one training plan: degrees (tp, pp, dp, cp, ep), sequence
parallelism, ZeRO stage, micro-batch, recomputation and pipeline schedule. ``dp`` is derived:
every plan uses all devices of the scenario (dp = devices / (tp · pp · cp)).

Axes default to every value that can divide (tp and pp: divisors of the device count up to
heads and layers; cp: divisors up to the devices of one node; micro-batch: divisors of the
global batch up to 32; virtual stages 2..8). The caps on cp, micro-batch and virtual stages
are search-space choices, not physics: give ``--axis`` values to search beyond them.
Settings that are kernels rather than parallelism (``flash_attention``, ``overlap_comm``)
are taken from the scenario and held fixed.

:func:`divisibility_problem` mirrors the rules of ``archsim.plan.layout.resolve_layout``
(a test holds the two together) but works on bare integers, so the whole grid can be
checked without building a scenario per point.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Generic, TypeVar

from archsim.spec.errors import SpecError
from archsim.spec.model import ModelSpec
from archsim.spec.placement import stage_pool_names
from archsim.spec.scenario import ScenarioSpec

RECOMPUTE = ("none", "selective", "full")
SCHEDULES = ("1f1b", "interleaved")
DEFAULT_MAX_MICRO_BATCH = 32
DEFAULT_MAX_VIRTUAL_STAGES = 8
# Most plans a search may enumerate: every one is checked and bounded (measured: GPT-3 175B's
# default space of 349,440 plans in 6-8 s), so 2,000,000 keeps a search under a minute or so;
# --axis values beyond it (tp=1,...,3000) are refused rather than searched for hours.
MAX_PLANS = 2_000_000
P = TypeVar("P")
AXES = ("tp", "pp", "cp", "ep", "sp", "zero", "micro_batch", "recompute", "schedule",
        "virtual_stages")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One point of the plan space: a training plan on all devices of one pool, or on a
    cluster's pools with ``placement`` naming the pool of each pipeline stage."""

    tp: int
    pp: int
    dp: int
    cp: int
    ep: int
    sp: bool
    zero: int
    micro_batch: int
    recompute: str
    schedule: str
    virtual_stages: int
    placement: tuple[str, ...] | None = None
    """Pool of each pipeline stage (clusters of several pools); None: the scenario's."""

    @property
    def chunks(self) -> int:
        return self.virtual_stages if self.schedule == "interleaved" else 1

    def plan_fields(self) -> dict:
        """The ``plan`` fields this candidate sets (dp explicit, even layer split)."""
        out = asdict(self)
        out.pop("micro_batch")
        out.pop("placement")
        out["layers_per_stage"] = None
        return out

    def label(self) -> str:
        parts = [f"tp {self.tp}", f"pp {self.pp}", f"dp {self.dp}"]
        if self.cp > 1:
            parts.append(f"cp {self.cp}")
        if self.ep > 1:
            parts.append(f"ep {self.ep}")
        if self.sp:
            parts.append("sp")
        parts += [f"mb {self.micro_batch}", f"zero {self.zero}",
                  f"recompute {self.recompute}"]
        parts.append(self.schedule + (f" v{self.virtual_stages}"
                                      if self.schedule == "interleaved" else ""))
        if self.placement is not None:
            runs: list[list] = []
            for name in self.placement:
                if runs and runs[-1][0] == name:
                    runs[-1][1] += 1
                else:
                    runs.append([name, 1])
            parts.append("stages " + " → ".join(f"{n}×{k}" for n, k in runs))
        return " · ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


def scenario_for(sc: ScenarioSpec, cand: Candidate) -> ScenarioSpec:
    """``sc`` with ``cand``'s plan (no re-validation: every field comes from a checked axis)."""
    fields = cand.plan_fields()
    if cand.placement is not None:
        # the stages' pools; a balance mode the scenario asks for is kept
        balance = sc.plan.placement.get("balance") if isinstance(sc.plan.placement, Mapping) \
            else None
        fields["placement"] = {"stages": list(cand.placement),
                               **({"balance": balance} if balance else {})}
    plan = sc.plan.model_copy(update=fields)
    workload = sc.workload.model_copy(update={"micro_batch": cand.micro_batch})
    return sc.model_copy(update={"plan": plan, "workload": workload})


def candidate_of(sc: ScenarioSpec) -> Candidate:
    """The scenario's own plan as a candidate (for comparison with the search's best)."""
    plan, count = sc.plan, sc.cluster.total_devices
    cells = plan.tp * plan.pp * plan.cp
    dp = plan.dp if plan.dp is not None else max(1, count // cells)
    placement = None
    if len(sc.cluster.pools) > 1:
        placement = stage_pool_names(plan.placement, plan.pp)
        if placement is None:  # the engine's default: pools in order, as many stages as fit
            size = plan.tp * plan.cp * dp
            placement = [p.name for p in sc.cluster.pools for _ in range(p.count // size)]
        placement = tuple(placement)
    return Candidate(tp=plan.tp, pp=plan.pp, dp=dp, cp=plan.cp, ep=plan.ep, sp=plan.sp,
                     zero=plan.zero, micro_batch=sc.workload.micro_batch,
                     recompute=plan.recompute, schedule=plan.schedule,
                     virtual_stages=plan.virtual_stages, placement=placement)


def divisors(n: int, cap: int | None = None) -> list[int]:
    """The divisors of ``n`` up to ``cap`` (all of them when None), ascending."""
    cap = n if cap is None else min(n, cap)
    return [d for d in range(1, cap + 1) if n % d == 0]


@dataclass(frozen=True)
class SearchSpace:
    """Values of each axis; None means the default derived from the scenario."""

    tp: tuple[int, ...] | None = None
    pp: tuple[int, ...] | None = None
    cp: tuple[int, ...] | None = None
    ep: tuple[int, ...] | None = None
    sp: tuple[bool, ...] | None = None
    zero: tuple[int, ...] | None = None
    micro_batch: tuple[int, ...] | None = None
    recompute: tuple[str, ...] | None = None
    schedule: tuple[str, ...] | None = None
    virtual_stages: tuple[int, ...] | None = None
    notes: list[str] = field(default_factory=list, compare=False)

    @classmethod
    def from_axes(cls, axes: Mapping[str, Sequence] | None) -> SearchSpace:
        """Build from ``{"tp": [4, 8], "zero": [1]}``; raises SpecError on unknown axes or
        values of the wrong kind."""
        values: dict[str, tuple] = {}
        problems = []
        for name, raw in (axes or {}).items():
            if name not in AXES:
                problems.append(f"--axis {name}: unknown axis; expected one of: "
                                f"{', '.join(AXES)}")
                continue
            items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
            try:
                values[name] = tuple(_axis_value(name, v) for v in items)
            except ValueError as exc:
                problems.append(f"--axis {name}: {exc}")
        if problems:
            raise SpecError(problems)
        return cls(**values)

    def resolved(self, sc: ScenarioSpec) -> dict[str, tuple]:
        """Every axis's values for scenario ``sc`` (defaults filled in)."""
        model, wl = sc.model, sc.workload
        pool = sc.cluster.pools[0]
        count = sc.cluster.total_devices
        moe = model.moe
        out = {
            "tp": self.tp or tuple(divisors(count, model.heads)),
            "pp": self.pp or tuple(divisors(count, model.layers)),
            "cp": self.cp or tuple(d for d in divisors(count, pool.node_size)
                                   if getattr(wl, "seq_len", 1) % d == 0),
            "ep": self.ep or (tuple(divisors(moe.experts)) if moe else (1,)),
            "sp": self.sp or (False, True),
            "zero": self.zero or (0, 1, 2, 3),
            "micro_batch": self.micro_batch or tuple(
                divisors(getattr(wl, "global_batch", 1), DEFAULT_MAX_MICRO_BATCH)),
            "recompute": self.recompute or RECOMPUTE,
            "schedule": self.schedule or SCHEDULES,
            "virtual_stages": self.virtual_stages or tuple(
                range(2, DEFAULT_MAX_VIRTUAL_STAGES + 1)),
        }
        size = plan_count(out)
        if size > MAX_PLANS:
            shown = ", ".join(f"{k} {len(v)}" for k, v in out.items() if len(v) > 1)
            raise SpecError([f"--axis: the plan space has {size:,} plans ({shown} values), more "
                             f"than the {MAX_PLANS:,} a search enumerates; give fewer --axis "
                             "values"])
        return out


def plan_count(axes: dict[str, tuple]) -> int:
    """Plans in the grid of resolved ``axes`` (an upper bound: sp is dropped where tp is 1)."""
    schedules = sum(len([v for v in axes["virtual_stages"] if v > 1]) if s == "interleaved"
                    else 1 for s in axes["schedule"])
    n = schedules
    for name in ("tp", "pp", "cp", "ep", "sp", "zero", "micro_batch", "recompute"):
        n *= len(axes[name])
    return n


def _axis_value(name: str, value: object) -> object:
    if name == "sp":
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if name == "recompute":
        if value not in RECOMPUTE:
            raise ValueError(f"expected one of {', '.join(RECOMPUTE)}, got {value!r}")
        return value
    if name == "schedule":
        if value not in (*SCHEDULES, "gpipe"):
            raise ValueError(f"expected one of 1f1b, interleaved, gpipe, got {value!r}")
        return value
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"expected whole numbers, got {value!r}") from None
    low = 0 if name == "zero" else 1
    high = 3 if name == "zero" else None
    if number < low or (high is not None and number > high):
        raise ValueError(f"expected {low}..{high if high is not None else '∞'}, got {number}")
    return number


def divisibility_problem(model: ModelSpec, count: int, seq_len: int, global_batch: int,
                         c: Candidate, near_even: bool = False) -> str | None:
    """Why ``c`` does not divide (the first rule it breaks, worded as resolve_layout words
    it), or None. Mirrors ``archsim.plan.layout.resolve_layout``; ``near_even``: the layers
    need not divide evenly over the stages, only into at least one per model chunk (on a
    cluster of several pools the engine balances them, archsim.plan.balance)."""
    tp, pp, cp, ep, dp = c.tp, c.pp, c.cp, c.ep, c.dp
    if count % (tp * pp * cp) or dp * tp * pp * cp != count:
        return (f"{count} devices are not divisible by tp·pp·cp = {tp}·{pp}·{cp} = "
                f"{tp * pp * cp}")
    if model.heads % tp:
        return f"heads {model.heads} are not divisible by tp {tp}"
    kv = model.n_kv_heads
    if kv % tp and tp % kv:
        return f"kv_heads {kv} and tp {tp}: one must divide the other"
    if model.ffn % tp:
        return f"ffn_hidden {model.ffn} is not divisible by tp {tp}"
    if model.moe is not None:
        if model.moe.experts % ep:
            return f"experts {model.moe.experts} are not divisible by ep {ep}"
        if (dp * cp) % ep:
            return f"ep {ep} must divide dp·cp = {dp * cp}"
    elif ep > 1:
        return f"ep {ep} > 1 needs an MoE model (model has no moe block)"
    v = c.chunks
    if c.schedule == "interleaved" and pp == 1:
        return "the interleaved schedule needs pp > 1"
    uneven_ok = near_even and model.layers % v == 0 and model.layers // v >= pp
    if model.layers % (pp * v) and not uneven_ok:
        return (f"layers {model.layers} are not divisible by pp·virtual_stages = "
                f"{pp}·{v} = {pp * v}")
    mb = c.micro_batch
    if global_batch % (mb * dp):
        return (f"global_batch {global_batch} is not divisible by micro_batch·dp = "
                f"{mb}·{dp} = {mb * dp}")
    if c.schedule == "interleaved" and (global_batch // (mb * dp)) % pp:
        return (f"the interleaved schedule needs micro-batches per pipeline "
                f"({global_batch // (mb * dp)}) divisible by pp {pp}")
    if seq_len % cp:
        return f"seq_len {seq_len} is not divisible by cp {cp}"
    if c.sp and seq_len * mb % tp:
        return f"sequence parallelism needs micro_batch·seq_len divisible by tp {tp}"
    return None


@dataclass
class Enumeration(Generic[P]):
    """The points of a space: those that divide, and a tally of those that do not."""

    valid: list[P]
    total: int
    rejected: int
    rejected_examples: list[tuple[P, str]]
    """One point for each distinct reason (the first few met)."""


def tally(checked: Iterable[tuple[P, str | None]], keep_examples: int = 3) -> Enumeration[P]:
    """Sort (point, why it does not divide or None) pairs into an :class:`Enumeration`."""
    out: Enumeration[P] = Enumeration(valid=[], total=0, rejected=0, rejected_examples=[])
    for point, problem in checked:
        out.total += 1
        if problem is None:
            out.valid.append(point)
            continue
        out.rejected += 1
        examples = out.rejected_examples
        if len(examples) < keep_examples and all(p != problem for _, p in examples):
            examples.append((point, problem))
    return out


def enumerate_space(sc: ScenarioSpec, space: SearchSpace, keep_examples: int = 3,
                    model: ModelSpec | None = None) -> Enumeration[Candidate]:
    """Every combination of the axes; ``sp`` only with tp > 1 and ``virtual_stages`` only
    with the interleaved schedule (elsewhere they name the same plan). ``model`` replaces
    the scenario's model (the pruned model of a compression plan)."""
    model = model or sc.model
    sc = sc.model_copy(update={"model": model})
    axes = space.resolved(sc)
    wl = sc.workload
    count = sc.cluster.total_devices
    seq, gb = wl.seq_len, wl.global_batch
    return tally(((cand, divisibility_problem(model, count, seq, gb, cand))
                  for cand in grid_points(axes, count)), keep_examples)


def grid_points(axes: dict[str, tuple], count: int) -> Iterator[Candidate]:
    """Every combination of resolved ``axes`` on ``count`` devices (dp derived), dividing or
    not."""
    for tp, pp, cp in itertools.product(axes["tp"], axes["pp"], axes["cp"]):
        yield from inner_points(axes, tp, pp, max(1, count // (tp * pp * cp)), cp)


def inner_points(axes: dict[str, tuple], tp: int, pp: int, dp: int, cp: int,
                 placement: tuple[str, ...] | None = None) -> Iterator[Candidate]:
    """The combinations of the other axes for given degrees."""
    schedules: list[tuple[str, int]] = []
    for name in axes["schedule"]:
        if name == "interleaved":
            schedules.extend(("interleaved", v) for v in axes["virtual_stages"] if v > 1)
        else:
            schedules.append((name, 1))
    sps = [s for s in axes["sp"] if tp > 1 or not s] or [False]
    for ep, mb, (sched, v), sp, zero, rec in itertools.product(
            axes["ep"], axes["micro_batch"], schedules, sps, axes["zero"], axes["recompute"]):
        if ep > 1 and tp > 1 and not sp and True in sps:
            # Megatron-LM requires sp with expert and tensor parallelism: where the space
            # offers sp, the plan without it is not proposed (pinned off, it still is)
            continue
        yield Candidate(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, sp=sp, zero=zero, micro_batch=mb,
                        recompute=rec, schedule=sched, virtual_stages=v, placement=placement)
