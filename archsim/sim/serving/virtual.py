"""The virtual engines of a pipeline-parallel replica: pp schedulers, so pp batches in flight.

vLLM's pipeline parallelism runs ``pipeline_parallel_size`` virtual engines per replica, each a
full scheduler with its own queue and batch: while stage k runs one engine's batch, stage k+1
runs another's. A request stays with the engine it was given (the one with the fewest
unfinished requests when it arrives, as vLLM v0 assigns them); its next decode step can only be
scheduled when its engine's batch has left the last stage. Each engine applies the workload's
batch limits (max_num_seqs, max_batched_tokens) to its own batch, as each of vLLM v0's virtual
engines does.

KV cache: the replica's blocks (the budget of archsim/plan/serving.py, already the per-stage
minimum, since every stage caches its own layers of every token) form one pool that all engines
draw from, as vLLM v1's single KV-cache manager serves every batch in flight. (vLLM v0 instead
splits the blocks evenly between its virtual engines; a shared pool admits what a split one
admits and more.) An engine short of blocks for a decode round preempts its own newest
sequence.

The router sees this object as one replica: it has the scheduler's ``index``, ``outstanding``,
``unfinished``, ``enqueue``, ``release`` and ``incoming``, and its statistics summed over the
engines.
"""

from __future__ import annotations

from archsim.sim.serving.requests import Request
from archsim.sim.serving.scheduler import BlockPool, ReplicaScheduler, SchedulerConfig


class VirtualEngines:
    """``pp`` schedulers of one replica over one block pool."""

    def __init__(self, index: int, cfg: SchedulerConfig, pp: int, role: str = "both"):
        self.index, self.cfg, self.role = index, cfg, role
        self.pool = BlockPool(cfg.total_blocks)
        self.engines = [ReplicaScheduler(index, cfg, role=role, pool=self.pool, engine=v)
                        for v in range(pp)]
        self.incoming = 0  # requests whose KV cache is on its way here (decode role)
        self.busy_s = 0.0
        """Time with at least one batch in the pipeline (the union of iterations)."""
        self._covered_until = 0.0

    @property
    def free(self) -> int:
        return self.pool.free

    @property
    def outstanding(self) -> int:
        return sum(e.outstanding for e in self.engines) + self.incoming

    @property
    def unfinished(self) -> int:
        """Unfinished requests of all engines, their batches in flight included."""
        return sum(e.unfinished for e in self.engines) + self.incoming

    def enqueue(self, r: Request) -> None:
        """Give ``r`` to the engine with the fewest unfinished requests, its batch in flight
        included (ties: the first)."""
        min(self.engines, key=lambda e: e.unfinished).enqueue(r)

    def release(self, r: Request) -> None:
        self.engines[r.engine].release(r)

    def occupied(self, start: float, end: float) -> None:
        """Count an iteration in flight from ``start`` to ``end`` towards ``busy_s``. Calls come
        in stage-0 order, which every stage keeps (first in, first out), so each interval
        starts and ends no earlier than the ones before it."""
        self.busy_s += end - max(start, self._covered_until)
        self._covered_until = end

    # ---- statistics summed over the engines
    @property
    def iterations(self) -> int:
        return sum(e.iterations for e in self.engines)

    @property
    def preemptions(self) -> int:
        return sum(e.preemptions for e in self.engines)

    @property
    def decode_tokens(self) -> int:
        return sum(e.decode_tokens for e in self.engines)

    @property
    def clock(self) -> int:
        """Decode rounds run, all engines together."""
        return sum(e.clock for e in self.engines)

    @property
    def held(self) -> int:
        return sum(e.held for e in self.engines)

    @property
    def n_dec(self) -> int:
        return sum(e.n_dec for e in self.engines)

    @property
    def token_counts(self) -> dict[int, int]:
        return _merged([e.token_counts for e in self.engines])

    @property
    def out_counts(self) -> dict[int, int]:
        return _merged([e.out_counts for e in self.engines])


def _merged(counts: list[dict[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for c in counts:
        for k, n in c.items():
            out[k] = out.get(k, 0) + n
    return out
