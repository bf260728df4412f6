"""Where batches of points run: this process, local worker processes, or a Dask cluster.

Each executor turns an iterable of batches into an iterator of finished row lists, in the
order they finish, keeping only a few batches in flight so that Ctrl-C stops the sweep quickly
and little work is lost. Every executor yields rows for every batch given to it, unless
interrupted.

Local processes: a worker that dies (killed, out of memory) breaks the pool; the pool is
rebuilt and the batches that were in flight are re-run one at a time, so the batch that kills a
worker again is known; it is then split into single points, and a point that kills a worker on
its own gets an error row ("worker process died") instead of stopping the sweep. A worker
exits on its own within ``PARENT_CHECK_S`` when the sweep process that started it is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from archsim.spec.errors import SpecError, plural
from archsim.sweep.columns import error_row
from archsim.sweep.space import Point
from archsim.sweep.worker import RunContext, run_batch

Rows = list[dict[str, Any]]
WORKER_DIED = "worker process died while simulating this point (killed or out of memory)"

# How long to wait for a Dask scheduler before giving up with a clear message.
DASK_CONNECT_TIMEOUT_S = 5


class Executor:
    """Runs batches; ``workers`` is how many run at once."""

    workers = 1
    description = "this process"

    def run(self, ctx: RunContext, batches: Iterable[list[Point]]) -> Iterator[Rows]:
        raise NotImplementedError

    def close(self) -> None:
        """Release processes / connections."""


class InProcess(Executor):
    """Run each batch in the calling process, one after another."""

    def run(self, ctx: RunContext, batches: Iterable[list[Point]]) -> Iterator[Rows]:
        for batch in batches:
            yield run_batch(ctx, batch)


# How often a worker checks that the sweep that started it is still alive: a worker of a
# killed sweep exits within this time instead of simulating on, unseen, for hours.
PARENT_CHECK_S = 0.5


def _init_worker(parent: int) -> None:
    """Worker processes leave Ctrl-C to the parent (which stops the sweep cleanly) and exit
    when the parent is gone (killed with SIGKILL, it cannot stop them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="archsim-parent-check").start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)  # no cleanup: the parent owned every file; nothing here is half-written


def _mp_context() -> Any:
    # fork starts a worker in milliseconds and inherits loaded modules; it is only safe
    # while this process runs a single thread, otherwise spawn.
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _dead_rows(batch: list[Point]) -> Rows:
    return [{"hash": p.hash, "point": p.index, **p.values, **error_row(WORKER_DIED)}
            for p in batch]


class LocalProcesses(Executor):
    """A pool of ``workers`` local processes."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self.description = f"{self.workers} local worker processes"
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context(),
                                         initializer=_init_worker, initargs=(os.getpid(),))
        return self._pool

    def run(self, ctx: RunContext, batches: Iterable[list[Point]]) -> Iterator[Rows]:
        queue: deque[tuple[list[Point], bool]] = deque((b, False) for b in batches)
        limit = 2 * self.workers
        in_flight: dict[Future, tuple[list[Point], bool]] = {}
        pool = self._new_pool()
        try:
            while queue or in_flight:
                broken = False
                # a suspect batch (in flight when a worker died) runs alone, so a second
                # death is its own
                while queue and len(in_flight) < limit:
                    batch, suspect = queue[0]
                    if suspect and in_flight:
                        break
                    try:
                        fut = pool.submit(run_batch, ctx, batch)
                    except BrokenProcessPool:  # a worker died while idle
                        broken = True
                        break
                    queue.popleft()
                    in_flight[fut] = (batch, suspect)
                    if suspect:
                        break
                done = wait(list(in_flight), return_when=FIRST_COMPLETED)[0] if not broken \
                    else set()
                for fut in done:
                    batch, suspect = in_flight.pop(fut)
                    try:
                        rows = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        if not suspect:
                            queue.appendleft((batch, True))
                        elif len(batch) > 1:
                            queue.extendleft((batch[i:i + 1], True)
                                             for i in reversed(range(len(batch))))
                        else:
                            yield _dead_rows(batch)
                        continue
                    yield rows
                if broken:
                    for fut, (batch, _) in list(in_flight.items()):
                        if fut.done() and fut.exception() is None:
                            yield fut.result()  # finished just before the pool broke
                        else:
                            queue.appendleft((batch, True))
                    in_flight.clear()
                    pool = self._new_pool()
        finally:
            for fut in in_flight:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class DaskCluster(Executor):
    """Batches as tasks on a Dask distributed cluster (an existing one or a LocalCluster)."""

    def __init__(self, address: str | None = None, workers: int = 2, processes: bool = True):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SpecError(["running on Dask needs dask[distributed]: "
                             "pip install 'archsim[dask]'"]) from None
        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                         processes=processes, dashboard_address=None)
            self.client = Client(self._cluster)
            self.description = f"a Dask LocalCluster of {plural(workers, 'worker')}"
        else:
            _check_address(address)
            try:
                self.client = Client(address, timeout=DASK_CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as exc:
                raise SpecError([f"--scheduler {address}: cannot reach the Dask scheduler "
                                 f"within {DASK_CONNECT_TIMEOUT_S} s ({_first_line(exc)}); is "
                                 "it running, and is the address right?"]) from None
            self.description = f"the Dask cluster at {address}"
        threads = sum(self.client.nthreads().values())
        self.workers = max(1, threads)

    def run(self, ctx: RunContext, batches: Iterable[list[Point]]) -> Iterator[Rows]:
        from distributed import as_completed

        shared = self.client.scatter(ctx, broadcast=True)
        pending = deque(batches)
        limit = 2 * self.workers
        futures: dict[Any, list[Point]] = {}
        done = as_completed()
        try:
            while pending and len(futures) < limit:
                batch = pending.popleft()
                fut = self.client.submit(run_batch, shared, batch, pure=False)
                futures[fut] = batch
                done.add(fut)
            for fut in done:
                batch = futures.pop(fut)
                try:
                    rows = fut.result()
                except Exception as exc:  # KilledWorker and the like: record, carry on
                    message = f"Dask task failed: {type(exc).__name__}: {_first_line(exc)}"
                    rows = [{"hash": p.hash, "point": p.index, **p.values,
                             **error_row(message)} for p in batch]
                yield rows
                if pending:
                    nxt = pending.popleft()
                    new = self.client.submit(run_batch, shared, nxt, pure=False)
                    futures[new] = nxt
                    done.add(new)
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _check_address(address: str) -> None:
    scheme, sep, rest = address.partition("://")
    hostport = rest if sep else address
    host, colon, port = hostport.rpartition(":")
    if (sep and scheme not in ("tcp", "tls", "inproc", "ucx", "ws", "wss")) or not colon \
            or not host or not port.isdigit():
        raise SpecError([f"--scheduler {address!r}: expected an address such as "
                         "tcp://host:8786"])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def default_workers() -> int:
    """Local worker processes by default: one per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
