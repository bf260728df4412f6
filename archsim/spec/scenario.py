"""Scenario spec: a model, hardware, a workload, a parallel plan and a compression plan.

Any value naming a registry entry (``model: gpt3-175b``, ``hardware.device: a100-sxm4-80gb``)
may be given inline instead; archsim.spec.loader resolves names, applies overrides and
validates into these classes.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from archsim.spec.base import StrictModel
from archsim.spec.device import DeviceSpec
from archsim.spec.errors import plural
from archsim.spec.hardware import (
    MAX_DEVICES,
    ClusterSpec,
    FabricSpec,
    InterconnectSpec,
    NetworkModel,
    PoolSpec,
    StorageSpec,
    StragglerSpec,
)
from archsim.spec.model import ModelSpec
from archsim.spec.placement import placement_problems, serving_placement_problems
from archsim.spec.plan import CompressionPlan, ParallelPlan, compression_problems
from archsim.spec.workload import ServingWorkload, TrainingWorkload, Workload

# Most stage micro-batches (micro-batches per pipeline × pipeline stages × virtual stages) one
# training step may simulate: each is a few DES tasks (measured: 2,000,000 take ~8 s and
# ~700 MB), while real steps have at most a few hundred thousand (4,096 micro-batches × pp 64);
# without a bound, global_batch: 1e12 would need hours and tens of GB.
MAX_STAGE_MICROBATCHES = 2_000_000


# Most serving replicas one run simulates: each is a set of SimPy processes and queues
# (measured: 10,000 replicas 13 s / 100 MB, 100,000 73 s / 400 MB), and a replica beyond the
# number of requests never serves one; 16,384 is far beyond any shipped run (1-8).
MAX_SERVING_REPLICAS = 16_384


def serving_work_problem(sc: ScenarioSpec) -> str | None:
    """Why the serving run of ``sc`` has too many replicas to simulate, or None."""
    wl, plan = sc.workload, sc.plan
    if not isinstance(wl, ServingWorkload):
        return None
    per = plan.tp * plan.pp
    replicas = wl.replicas or sc.cluster.total_devices // per
    if replicas <= MAX_SERVING_REPLICAS:
        return None
    how = (f"workload.replicas {replicas:,}" if wl.replicas else
           f"{replicas:,} replicas (hardware {sc.cluster.total_devices:,} devices / tp·pp {per})")
    return (f"{how}: a serving run simulates at most {MAX_SERVING_REPLICAS:,}; give "
            "workload.replicas (replicas that serve, each tp·pp devices) or fewer devices")


def stage_microbatches(sc: ScenarioSpec) -> tuple[int, int, int, int]:
    """(micro-batches per pipeline × stages × virtual stages, dp, micro-batches, chunks) of a
    training step of ``sc``, dp as the plan gives it or as the devices give it."""
    wl, plan = sc.workload, sc.plan
    assert isinstance(wl, TrainingWorkload)
    devices = sc.cluster.total_devices
    dp = plan.dp or max(1, devices // (plan.tp * plan.pp * plan.cp))
    micro = -(-wl.global_batch // (wl.micro_batch * dp))
    chunks = plan.virtual_stages if plan.schedule == "interleaved" else 1
    return micro * plan.pp * chunks, dp, micro, chunks


def step_work_problem(sc: ScenarioSpec) -> str | None:
    """Why one training step of ``sc`` is too much to simulate, or None."""
    wl, plan = sc.workload, sc.plan
    if not isinstance(wl, TrainingWorkload):
        return None
    work, dp, micro, chunks = stage_microbatches(sc)
    if work <= MAX_STAGE_MICROBATCHES:
        return None
    return (f"workload.global_batch: {plural(wl.global_batch, 'sequence')} in micro-batches "
            f"of {wl.micro_batch} over dp {dp} make "
            f"{plural(micro, 'micro-batch', 'micro-batches')} per pipeline, "
            f"{work:,} stage micro-batches with pp {plan.pp}"
            + (f" × virtual_stages {chunks}" if chunks > 1 else "")
            + f"; archsim simulates at most {MAX_STAGE_MICROBATCHES:,} per step: raise "
              "workload.micro_batch (or dp) or lower workload.global_batch")


class HardwareSpec(StrictModel):
    """Homogeneous hardware (device × count with links) or a cluster of pools."""

    device: DeviceSpec | None = None
    count: int | None = Field(default=None, ge=1, le=MAX_DEVICES)
    devices_per_node: int | None = Field(default=None, ge=1, le=MAX_DEVICES)
    intra_node: InterconnectSpec | None = None
    inter_node: InterconnectSpec | None = None
    nics_per_node: int | None = Field(default=None, ge=1)
    torus: tuple[int, ...] | None = None
    fabric: FabricSpec | None = None
    stragglers: list[StragglerSpec] = Field(default_factory=list)
    cluster: ClusterSpec | None = None
    storage: StorageSpec | None = None
    """Storage for data and checkpoints (overrides the cluster's)."""
    network: NetworkModel | None = None
    """analytic (default) or flow: see archsim/sim/network.py."""
    _cluster: ClusterSpec | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_form(self) -> HardwareSpec:
        if self.cluster is not None:
            if self.device is not None or self.count is not None:
                raise ValueError("give either cluster or device/count, not both")
            pool_keys = [k for k in ("torus", "fabric", "stragglers", "devices_per_node",
                                     "intra_node", "inter_node", "nics_per_node")
                         if getattr(self, k)]
            if pool_keys:
                raise ValueError(f"{', '.join(pool_keys)}: give "
                                 f"{'it' if len(pool_keys) == 1 else 'them'} per pool "
                                 "(hardware.cluster.pools[i]) when hardware.cluster is given")
            return self
        if self.device is None:
            raise ValueError("needs device (and count) or cluster")
        self.to_cluster()  # validates counts and links
        return self

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False
                   ) -> HardwareSpec:
        copied = super().model_copy(update=update, deep=deep)
        copied._cluster = None  # the copy may have other pools: rebuild on first use
        return copied

    def to_cluster(self) -> ClusterSpec:
        """The hardware as a cluster of pools (built once per spec: specs are immutable)."""
        if self._cluster is None:
            self._cluster = self._build_cluster()
        return self._cluster

    def _build_cluster(self) -> ClusterSpec:
        extra = {k: v for k, v in (("storage", self.storage), ("network", self.network))
                 if v is not None}
        if self.cluster is not None:
            return self.cluster.model_copy(update=extra) if extra else self.cluster
        assert self.device is not None
        count = self.count or 1
        per_node = self.devices_per_node or min(count, self.device.devices_per_node)
        try:
            pool = PoolSpec(name="main", device=self.device, count=count,
                            devices_per_node=per_node, intra_node=self.intra_node,
                            inter_node=self.inter_node, nics_per_node=self.nics_per_node,
                            torus=self.torus, fabric=self.fabric or FabricSpec(),
                            stragglers=self.stragglers)
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return ClusterSpec(name=self.device.name, pools=[pool], **extra)


class ScenarioSpec(StrictModel):
    name: str = "scenario"
    model: ModelSpec
    hardware: HardwareSpec
    workload: Workload
    plan: ParallelPlan = ParallelPlan()
    compression: CompressionPlan | None = None
    description: str = ""
    calibration: str | None = None
    """Which in-situ parameters the devices run with: absent = the shipped profiles,
    ``uncalibrated``, ``isolated`` or an overlay file (archsim/spec/calibration.py)."""

    @model_validator(mode="before")
    @classmethod
    def _fp8_training(cls, data: Any) -> Any:
        """``workload.dtype: fp8`` in training is FP8 training as frameworks run it
        (Transformer Engine, torchao float8, MS-AMP): a bf16 model whose layers' GEMMs run in
        fp8, i.e. ``compression.weight_dtype`` and ``activation_dtype`` fp8 on a bf16 workload
        (archsim/plan/compress.py). No framework keeps fp8 as the only copy of the weights and
        gradients, or runs norms, softmax and the loss in fp8. In inference and serving it is
        an FP8 deployment as TensorRT-LLM and vLLM build one (ModelOpt's FP8 config): the
        layers' weights and activations in fp8, the KV cache in fp8, the embedding and output
        layer (``*lm_head*`` excluded) in bf16."""
        if not isinstance(data, dict):
            return data
        wl = data.get("workload")
        if not (isinstance(wl, dict) and wl.get("dtype") == "fp8"):
            return data
        training = wl.get("kind", "training") == "training"
        what = ("FP8 training (fp8 GEMMs on a bf16 model)" if training else
                "an FP8 deployment (fp8 weights, activations and KV cache; a bf16 embedding "
                "and output layer)")
        comp = data.get("compression")
        comp = dict(comp) if isinstance(comp, dict) else {}
        keys = ("weight_dtype", "activation_dtype") if training else \
            ("weight_dtype", "activation_dtype", "kv_cache_dtype")
        for key in keys:
            if comp.get(key) not in (None, "fp8"):
                raise ValueError(f"workload.dtype fp8 is {what}, but compression.{key} is "
                                 f"{comp[key]!r}: give workload.dtype bf16 with "
                                 f"compression.{key}, or fp8 alone")
            comp[key] = "fp8"
        return {**data, "workload": {**wl, "dtype": "bf16"}, "compression": comp}

    @model_validator(mode="after")
    def _check_compression(self) -> ScenarioSpec:
        """Raises ValueError for a compression dtype no narrower than the workload's."""
        if self.compression is not None:
            problems = compression_problems(self.compression, self.workload.dtype)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _check_placement(self) -> ScenarioSpec:
        wl = self.workload
        placement = self.plan.placement
        problems = (serving_placement_problems(placement, [p.name for p in self.cluster.pools])
                    if wl.kind == "serving" and placement is not None else
                    placement_problems(placement, self.cluster, self.plan.pp))
        if wl.kind == "training" and isinstance(placement, dict):
            problems.extend(f"plan.placement.{phase}: places a serving phase; a training "
                            f"run places its pipeline stages (plan.placement.stages)"
                            for phase in ("prefill", "decode") if phase in placement)
        for work in (step_work_problem(self), serving_work_problem(self)):
            if work:
                problems.append(work)
        if getattr(wl, "checkpoint", None) is not None and self.cluster.storage is None:
            problems.append("workload.checkpoint needs hardware.storage (a storage profile "
                            "name, see `archsim list storage`, or an inline mapping)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def cluster(self) -> ClusterSpec:
        return self.hardware.to_cluster()


__all__ = ["HardwareSpec", "ScenarioSpec"]
