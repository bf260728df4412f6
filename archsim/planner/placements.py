"""Placements the planner searches on a cluster of several pools.

A placement is an ordered choice of pools for the pipeline (``plan.placement.stages``): which
pools take part, and in which order their stages follow each other (the first stage holds the
embedding, the last the output layer, and the slower side's links join them). Every used pool
gives all its devices, split into pipeline stages of S = tp·cp·dp devices, so S divides each
used pool's device count and pp = Σ devices / S. Pools left out stay idle (and cost nothing).
Layers per stage are left to the engine, which balances them by each pool's speed for the
model, memory permitting (archsim.plan.balance); so the layers need only split into at least
one per model chunk.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

from archsim.planner.space import (
    Candidate,
    Enumeration,
    SearchSpace,
    divisibility_problem,
    inner_points,
    tally,
)
from archsim.spec.hardware import ClusterSpec, PoolSpec
from archsim.spec.model import ModelSpec
from archsim.spec.scenario import ScenarioSpec


def pool_orders(cluster: ClusterSpec) -> list[tuple[PoolSpec, ...]]:
    """Every non-empty subset of the pools, in every order."""
    pools = cluster.pools
    return [order for r in range(1, len(pools) + 1)
            for subset in itertools.combinations(pools, r)
            for order in itertools.permutations(subset)]


def placed_points(sc: ScenarioSpec, space: SearchSpace) -> Iterator[tuple[Candidate, int]]:
    """(candidate, devices it uses) for every placement × degrees × the other axes, dividing
    or not."""
    axes = space.resolved(sc)
    for order in pool_orders(sc.cluster):
        counts = [p.count for p in order]
        devices, common = sum(counts), math.gcd(*counts)
        for tp, cp in itertools.product(axes["tp"], axes["cp"]):
            for size in range(tp * cp, common + 1, tp * cp):
                if common % size:
                    continue
                pp = devices // size
                if space.pp is not None and pp not in space.pp:
                    continue
                placement = tuple(p.name for p in order for _ in range(p.count // size))
                for cand in inner_points(axes, tp, pp, size // (tp * cp), cp, placement):
                    yield cand, devices


def enumerate_placed(sc: ScenarioSpec, space: SearchSpace, model: ModelSpec,
                     keep_examples: int = 3) -> Enumeration[Candidate]:
    """Every placement × degrees × the other axes, and which of them divide."""
    sc = sc.model_copy(update={"model": model})
    wl = sc.workload
    return tally(((cand, divisibility_problem(model, devices, wl.seq_len, wl.global_batch,
                                              cand, near_even=True))
                  for cand, devices in placed_points(sc, space)), keep_examples)


def stage_pools(cluster: ClusterSpec, cand: Candidate) -> list[PoolSpec]:
    assert cand.placement is not None
    return [cluster.pool(name) for name in cand.placement]
