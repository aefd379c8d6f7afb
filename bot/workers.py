"""A bounded pool for CPU-bound answering work, behind the event loop's acknowledgements.

Answering a question (search, sentence scoring, rendering the card) runs in Python
threads that share the interpreter with the event loop. Unbounded, a burst of /ask
fills every default executor thread and the loop, which must acknowledge each
interaction within Discord's 3 s, gets only a slice of the interpreter. The pool runs
at most ``workers`` jobs at once, and a job waits to start while acknowledgements are
pending or were sent in the last ``quiet`` seconds (a burst arriving), for at most
``max_hold`` seconds so answers are never starved: acknowledgements go first.

Among waiting jobs, one that finishes a request (rendering an answer already found) goes
before those that start new ones. In arrival order alone, a burst of questions had
every answer computed before any reply was rendered, so the first asker waited as long
as the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import heapq
import itertools
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["WorkerPool", "default_workers"]

P = ParamSpec("P")
T = TypeVar("T")

MAX_HOLD_SECONDS = 1.0
QUIET_SECONDS = 0.02


class _Slots:
    """At most ``count`` holders at once; a free slot goes to the waiter with the lowest
    rank, then the earliest."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def acquire(self, rank: int) -> None:
        if self._free and not self._waiting:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (rank, next(self._arrivals), granted))
        try:
            await granted
        except asyncio.CancelledError:
            # cancelled after being handed a slot: pass it on (a cancelled waiter
            # still in the heap is skipped by release)
            if granted.done() and not granted.cancelled():
                self.release()
            raise

    def release(self) -> None:
        while self._waiting:
            granted = heapq.heappop(self._waiting)[2]
            if not granted.done():
                granted.set_result(None)
                return
        self._free += 1

    @contextlib.asynccontextmanager
    async def held(self, rank: int) -> AsyncIterator[None]:
        await self.acquire(rank)
        try:
            yield
        finally:
            self.release()


async def _in_thread(
    executor: ThreadPoolExecutor, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Call function in one of executor's threads with the caller's context variables."""
    call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(executor, call)


# ranks of waiting jobs: lower goes first
_FINISHING = 0
_STARTING = 1


def default_workers() -> int:
    """One thread per core beyond the event loop's own, between 1 and 4."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class WorkerPool:
    """Runs blocking functions in at most ``workers`` threads, acknowledgements first."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        max_hold: float = MAX_HOLD_SECONDS,
        quiet: float = QUIET_SECONDS,
    ) -> None:
        self.workers = workers or default_workers()
        self.max_hold = max_hold
        self.quiet = quiet
        self._last_ack = -math.inf
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="corpusbot-worker")
        # the embedding model's calls, which run outside the GIL (see run_model)
        self._model = ThreadPoolExecutor(1, thread_name_prefix="corpusbot-model")
        self._slots = _Slots(self.workers)
        self._pending_acks = 0
        self._no_acks_pending = asyncio.Event()
        self._no_acks_pending.set()

    @property
    def pending_acks(self) -> int:
        return self._pending_acks

    @contextlib.contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Wrap sending an acknowledgement: no new job starts while any is pending."""
        self._pending_acks += 1
        self._no_acks_pending.clear()
        try:
            yield
        finally:
            self._pending_acks -= 1
            self._last_ack = time.monotonic()
            if not self._pending_acks:
                self._no_acks_pending.set()

    async def run(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``function`` in a worker thread, in arrival order, with the caller's
        context variables; returns its result or raises its exception."""
        return await self._run(_STARTING, function, *args, **kwargs)

    async def finish(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """As run, for a job that completes a request already under way (rendering a
        found answer): it starts before every waiting job that run queued."""
        return await self._run(_FINISHING, function, *args, **kwargs)

    async def run_model(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``function`` in the pool's one model thread, in arrival order, with the
        caller's context variables. For work that spends its time in the embedding
        model, outside the GIL: it overlaps the jobs of run (one question embedded while
        another is answered) instead of queueing with them, and takes little of the
        interpreter from the event loop, so it does not wait for acknowledgements."""
        return await _in_thread(self._model, function, *args, **kwargs)

    async def _run(
        self, rank: int, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        async with self._slots.held(rank):
            await self._acks_first()
            return await _in_thread(self._executor, function, *args, **kwargs)

    async def _acks_first(self) -> None:
        """Wait while acknowledgements are pending or recent, up to max_hold."""
        deadline = time.monotonic() + self.max_hold
        while (now := time.monotonic()) < deadline:
            if self._pending_acks:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(deadline - now):
                        await self._no_acks_pending.wait()
            elif (calm := now - self._last_ack) < self.quiet:
                await asyncio.sleep(min(self.quiet - calm, deadline - now))
            else:
                return

    def close(self) -> None:
        """Stop the threads once running jobs end; queued ones are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._model.shutdown(wait=False, cancel_futures=True)
