"""Continuous batching on one model replica, with a paged KV cache (vLLM's scheduler, simplified).

Every iteration is one forward pass over a batch mix. Two policies, as in vLLM:

* ``chunked_prefill: false`` (vLLM v0 default): prefills first — an iteration admits waiting
  requests in arrival order while the sequence limit (max_num_seqs), the token budget
  (max_batched_tokens) and free KV blocks allow, and runs their whole prompts; when none can be
  admitted it runs one decode round over every running sequence.
* ``chunked_prefill: true`` (vLLM v1): decodes first, then the remaining token budget goes to
  prompt chunks (running prefills first, then new requests).

Paged KV cache: a sequence holds ⌈cached tokens / block_size⌉ blocks; new requests are admitted
only while a watermark of free blocks remains (vLLM: 1% of the cache). When a decode round needs
more blocks than are free, the most recently admitted decoding sequence is preempted by
recomputation: its blocks are freed and it re-enters the queue's head to re-prefill its prompt
and the tokens it has generated.

Decoding sequences advance in lockstep, one token per round, so the scheduler keeps only
aggregates (count, summed context, per-phase block demand) and a heap of finishing rounds:
an iteration costs O(1) plus O(log n) per finishing sequence, not O(batch).

Pipeline-parallel replicas run several schedulers (virtual engines, archsim/sim/serving/
virtual.py) over one :class:`BlockPool`: each keeps its own queue and lockstep decode rounds,
and all draw their blocks from the replica's cache.

Roles for disaggregated serving: a ``prefill`` replica hands each request off (holding its
blocks until :meth:`release`) instead of decoding it; a ``decode`` replica receives requests
whose KV cache arrived (``done == target``) and admits them straight into decoding.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

from archsim.sim.serving.requests import Request

# vLLM keeps 1% of the KV blocks free when admitting new sequences (watermark=0.01 in
# vllm/core/block_manager; avoids immediate preemption of what was just admitted)
WATERMARK_FRACTION = 0.01


@dataclass(frozen=True)
class SchedulerConfig:
    max_num_seqs: int
    max_batched_tokens: int
    block_size: int
    chunked_prefill: bool
    total_blocks: int

    @property
    def watermark(self) -> int:
        return int(WATERMARK_FRACTION * self.total_blocks)


@dataclass(slots=True)
class Batch:
    """One iteration's work."""

    prefill: list[tuple[Request, int]]
    """(request, new tokens) of each prompt (chunk)."""
    pairs: list[tuple[int, int]]
    """(new tokens, context attended) of each prompt (chunk), for the cost model."""
    n_decode: int
    sum_kv: int
    """Σ context attended by the decode tokens (each attends its cache plus itself)."""
    tokens: int
    n_out: int
    """Positions sampled: every decode token and every prompt finished in this pass."""
    joins: list[Request] = field(default_factory=list)
    """Requests whose KV cache arrived: join decoding after this iteration."""


def _blocks(tokens: int, bs: int) -> int:
    return -(-tokens // bs)


class BlockPool:
    """The free KV-cache blocks of one replica (shared by its virtual engines)."""

    __slots__ = ("free",)

    def __init__(self, blocks: int):
        self.free = blocks


class ReplicaScheduler:
    """The scheduler state of one replica, or of one virtual engine of a pipelined replica
    (``engine``: its number; ``pool``: the replica's blocks, shared with its siblings)."""

    def __init__(self, index: int, cfg: SchedulerConfig, role: str = "both",
                 pool: BlockPool | None = None, engine: int = 0):
        self.index, self.cfg, self.role, self.engine = index, cfg, role, engine
        self.pool = pool if pool is not None else BlockPool(cfg.total_blocks)
        self.waiting: deque[Request] = deque()
        self.prefilling: list[Request] = []
        self.decoding: dict[int, Request] = {}
        self.clock = 0  # decode rounds run so far
        self.phase = [0] * cfg.block_size  # decoding sequences by block-boundary phase
        self.n_dec = 0
        self.sum_ctx = 0
        self._heap: list[tuple[int, int, int, Request]] = []
        self.held = 0  # requests handed off, still holding blocks (prefill role)
        self.incoming = 0  # requests whose KV cache is on its way here (decode role)
        self.in_pass = 0  # requests of the batch in flight counted in no queue (see unfinished)
        self.finished: list[Request] = []
        """Requests finished since the engine last took them (a closed loop's next sends)."""
        # statistics
        self.iterations = 0
        self.busy_s = 0.0
        self.preemptions = 0
        self.decode_tokens = 0
        self.token_counts: dict[int, int] = {}
        self.out_counts: dict[int, int] = {}
        # inter-token latencies: (gap, tokens emitted after it) of each decode round and
        # each recompute of a preempted request (its stall)
        self.itl_gaps: list[float] = []
        self.itl_weights: list[int] = []
        self._last_round_end = -1.0  # end of the previous decode round
        self._joined: dict[int, Request] = {}  # joined since that round, by rid

    @property
    def free(self) -> int:
        """Free blocks of the replica's cache."""
        return self.pool.free

    @free.setter
    def free(self, blocks: int) -> None:
        self.pool.free = blocks

    # ---- queue
    def enqueue(self, r: Request) -> None:
        r.replica, r.engine = self.index, self.engine
        if r.target == 0:
            r.target = r.prompt_len
        self.waiting.append(r)

    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.prefilling) + self.n_dec + self.incoming

    @property
    def unfinished(self) -> int:
        """Requests given to this scheduler and not finished, those in the batch now running
        included (vLLM's ``get_num_unfinished_seq_groups``; ``outstanding`` misses whole
        prompts in flight without chunked prefill)."""
        return self.outstanding + self.in_pass

    def release(self, r: Request) -> None:
        """A handed-off request's KV cache has left: free its blocks."""
        self.free += r.blocks
        r.blocks = 0
        self.held -= 1

    # ---- scheduling
    def schedule(self) -> Batch | None:
        if self.cfg.chunked_prefill:
            return self._schedule_chunked()
        return self._schedule_prefill_first()

    def _admit(self, q: int) -> bool:
        """Take the queue's head with blocks to cache ``q`` more tokens; False (it stays
        queued) when that would leave fewer free blocks than the watermark. The watermark
        keeps room for running sequences to grow, so a request alone in the cache may use it:
        a preempted one whose recompute needs all but the watermark would wait forever."""
        r = self.waiting[0]
        need = _blocks(r.done + q, self.cfg.block_size) - r.blocks
        alone = self.free + r.blocks == self.cfg.total_blocks
        if need > 0 and self.free - need < (0 if alone else self.cfg.watermark):
            return False
        self.waiting.popleft()
        self.free -= need
        r.blocks += need
        return True

    def _schedule_prefill_first(self) -> Batch | None:
        cfg = self.cfg
        items: list[tuple[Request, int]] = []
        joins: list[Request] = []
        tokens = 0
        while self.waiting:
            r = self.waiting[0]
            if self.n_dec + len(items) + len(joins) >= cfg.max_num_seqs:
                break
            q = r.target - r.done
            if q and items and tokens + q > cfg.max_batched_tokens:
                break
            if not self._admit(q):
                break
            if q:
                items.append((r, q))
                tokens += q
            else:
                joins.append(r)
        if items:
            return self._batch(items, joins, decode=False)
        for r in joins:  # no prompt to run: they join this decode round
            self._join(r)
        if self.n_dec:
            self._reserve_decode()
        if self.n_dec:
            return self._batch([], [], decode=True)
        return None

    def _schedule_chunked(self) -> Batch | None:
        cfg = self.cfg
        while True:
            budget = cfg.max_batched_tokens
            if self.n_dec:
                self._reserve_decode()
                budget -= self.n_dec
            items: list[tuple[Request, int]] = []
            joins: list[Request] = []
            for r in self.prefilling:
                if budget <= 0:
                    break
                q = min(r.target - r.done, budget)
                need = _blocks(r.done + q, cfg.block_size) - r.blocks
                if need > self.free:
                    break
                self.free -= need
                r.blocks += need
                items.append((r, q))
                budget -= q
            while self.waiting and (budget > 0 or self.waiting[0].done == self.waiting[0].target):
                if self.n_dec + len(self.prefilling) + len(joins) >= cfg.max_num_seqs:
                    break
                r = self.waiting[0]
                q = min(r.target - r.done, budget)
                if not self._admit(q):
                    break
                if q:
                    self.prefilling.append(r)
                    items.append((r, q))
                    budget -= q
                else:
                    joins.append(r)
            if items or self.n_dec:
                return self._batch(items, joins, decode=self.n_dec > 0)
            for r in joins:
                self._join(r)
            if self.n_dec:
                continue
            if not self.prefilling:
                return None
            # partial prefills hold every block and none can grow: recompute the newest later
            self._preempt_prefill(self.prefilling[-1])

    def _batch(self, items: list[tuple[Request, int]], joins: list[Request], decode: bool
               ) -> Batch:
        n_dec = self.n_dec if decode else 0
        pairs = [(q, r.done + q) for r, q in items]
        finishing = sum(1 for r, q in items if r.done + q >= r.target)
        tokens = sum(q for _, q in items) + n_dec
        self.in_pass = len(joins) + (0 if self.cfg.chunked_prefill else len(items))
        return Batch(prefill=items, pairs=pairs, n_decode=n_dec,
                     sum_kv=(self.sum_ctx + n_dec) if decode else 0, tokens=tokens,
                     n_out=n_dec + finishing, joins=joins)

    # ---- decode bookkeeping
    def _join(self, r: Request) -> None:
        r.join, r.ctx0, r.gen0 = self.clock, r.target, r.generated
        self._joined[r.rid] = r
        self.phase[(r.join - r.ctx0) % self.cfg.block_size] += 1
        self.n_dec += 1
        self.sum_ctx += r.ctx0
        self.decoding[r.rid] = r
        heapq.heappush(self._heap, (r.join + r.gen_len - r.generated, r.rid, r.tag, r))

    def _leave(self, r: Request) -> int:
        """Remove a decoding request; returns its cached tokens."""
        ctx = r.ctx0 + self.clock - r.join
        self.phase[(r.join - r.ctx0) % self.cfg.block_size] -= 1
        self.n_dec -= 1
        self.sum_ctx -= ctx
        del self.decoding[r.rid]
        self._joined.pop(r.rid, None)
        self.free += _blocks(ctx, self.cfg.block_size)
        r.blocks = 0
        return ctx

    def _reserve_decode(self) -> None:
        """Blocks for this round's new tokens; preempt the newest sequences if short."""
        while self.n_dec:
            need = self.phase[self.clock % self.cfg.block_size]
            if need <= self.free:
                self.free -= need
                return
            self._preempt(next(reversed(self.decoding.values())))

    def _preempt(self, r: Request) -> None:
        # its latest token: the last decode round's, unless it joined after that round
        if r.rid not in self._joined:
            r.last_token_s = max(r.last_token_s, self._last_round_end)
        generated = r.gen0 + self.clock - r.join
        ctx = self._leave(r)
        r.tag += 1
        r.generated = generated
        r.target = ctx + 1  # prompt and output so far, recomputed in one prefill
        r.done = 0
        r.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(r)

    def _preempt_prefill(self, r: Request) -> None:
        self.prefilling.remove(r)
        self.free += r.blocks
        r.blocks = 0
        r.done = 0
        r.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(r)

    def _record_itl(self, n_decode: int, end: float) -> None:
        """A decode round ended at ``end``: each of its ``n_decode`` sequences emitted a token.
        Those in the previous round waited since it ended (prefills run in between included:
        a prefill-first engine stalls them); those that joined since, since their own last
        token (the prefill's, or the one before a KV transfer)."""
        joined = self._joined
        old = n_decode - len(joined)
        if old > 0 and self._last_round_end >= 0:
            self.itl_gaps.append(end - self._last_round_end)
            self.itl_weights.append(old)
        for r in joined.values():
            if r.last_token_s >= 0:
                self.itl_gaps.append(end - r.last_token_s)
                self.itl_weights.append(1)
            if r.first_decode_s < 0:
                r.first_decode_s = end
        joined.clear()
        self._last_round_end = end

    # ---- completion
    def complete(self, batch: Batch, start: float, end: float) -> list[Request]:
        """Apply an iteration that ran from ``start`` to ``end``; returns hand-offs."""
        self.iterations += 1
        self.busy_s += end - start
        self.in_pass = 0
        self.token_counts[batch.tokens] = self.token_counts.get(batch.tokens, 0) + 1
        self.out_counts[batch.n_out] = self.out_counts.get(batch.n_out, 0) + 1
        if batch.n_decode:
            self.decode_tokens += batch.n_decode
            self._record_itl(batch.n_decode, end)
            self.clock += 1
            self.sum_ctx += self.n_dec
            heap = self._heap
            while heap and heap[0][0] <= self.clock:
                _, _, tag, r = heapq.heappop(heap)
                if tag != r.tag or r.rid not in self.decoding:
                    continue
                self._leave(r)
                r.generated = r.gen_len
                r.finish_s = end
                self.finished.append(r)
        handoff: list[Request] = []
        for r, q in batch.prefill:
            if r.first_scheduled_s < 0:
                r.first_scheduled_s = start
            r.done += q
            if r.done < r.target:
                continue
            if self.cfg.chunked_prefill:
                self.prefilling.remove(r)
            r.generated += 1
            if r.last_token_s >= 0:  # a preempted request's recompute: its next token
                self.itl_gaps.append(end - r.last_token_s)
                self.itl_weights.append(1)
                if r.first_decode_s < 0:
                    r.first_decode_s = end
            r.last_token_s = end
            if r.first_token_s < 0:
                r.first_token_s = end
            if r.generated >= r.gen_len:
                self.free += r.blocks
                r.blocks = 0
                r.finish_s = end
                self.finished.append(r)
            elif self.role == "prefill":
                self.held += 1
                handoff.append(r)
            else:
                self._join(r)
        for r in batch.joins:
            self._join(r)
        return handoff
