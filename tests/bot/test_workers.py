"""The answering pool: bounded, and behind acknowledgements."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from bot.workers import WorkerPool, _Slots

where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="unset")


async def test_pool_runs_at_most_its_workers_jobs_at_once() -> None:
    pool = WorkerPool(2, quiet=0)
    running = peak = 0
    lock = threading.Lock()

    def job() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1

    try:
        await asyncio.gather(*(pool.run(job) for _ in range(20)))
    finally:
        pool.close()
    assert peak == 2


async def test_no_job_starts_while_an_acknowledgement_is_pending() -> None:
    pool = WorkerPool(1, quiet=0, max_hold=5)
    started = asyncio.Event()
    try:
        with pool.acknowledging():
            job = asyncio.create_task(pool.run(started.set))
            await asyncio.sleep(0.2)
            assert not started.is_set()
        await asyncio.wait_for(job, 2)
        assert started.is_set()
    finally:
        pool.close()


async def test_a_job_waits_out_a_burst_of_acknowledgements_but_not_past_max_hold() -> None:
    pool = WorkerPool(1, quiet=0.5, max_hold=0.3)
    try:
        with pool.acknowledging():
            pass
        begun = time.monotonic()
        await pool.run(lambda: None)
        held = time.monotonic() - begun
    finally:
        pool.close()
    assert 0.25 <= held < 1.0


async def test_jobs_see_the_callers_context_and_raise_its_errors() -> None:
    pool = WorkerPool(1, quiet=0)
    where.set("caller")

    def boom() -> None:
        raise ValueError(where.get())

    try:
        assert await pool.run(where.get) == "caller"
        with pytest.raises(ValueError, match=r"^caller$"):
            await pool.run(boom)
    finally:
        pool.close()


async def test_a_finishing_job_goes_before_waiting_jobs_that_start_requests() -> None:
    pool = WorkerPool(1, quiet=0)
    release = threading.Event()
    order: list[str] = []
    try:
        busy = asyncio.create_task(pool.run(release.wait, 5))
        await asyncio.sleep(0.05)  # the one worker is taken
        started = [asyncio.create_task(pool.run(order.append, f"start {n}")) for n in range(3)]
        await asyncio.sleep(0.05)
        finishing = asyncio.create_task(pool.finish(order.append, "finish"))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.wait_for(asyncio.gather(busy, finishing, *started), 5)
    finally:
        release.set()
        pool.close()
    assert order == ["finish", "start 0", "start 1", "start 2"]


async def test_a_cancelled_waiter_takes_no_slot() -> None:
    pool = WorkerPool(1, quiet=0)
    release = threading.Event()
    try:
        busy = asyncio.create_task(pool.run(release.wait, 5))
        await asyncio.sleep(0.05)
        doomed = asyncio.create_task(pool.run(lambda: "never"))
        waiting = asyncio.create_task(pool.run(lambda: "ran"))
        await asyncio.sleep(0.05)
        doomed.cancel()
        release.set()
        assert await asyncio.wait_for(waiting, 5) == "ran"
        await busy
        # and the pool still has its one slot
        assert await asyncio.wait_for(pool.run(lambda: "again"), 5) == "again"
    finally:
        release.set()
        pool.close()


async def test_a_waiter_cancelled_as_its_turn_comes_passes_the_slot_on() -> None:
    slots = _Slots(1)
    await slots.acquire(1)
    first = asyncio.create_task(slots.acquire(1))
    second = asyncio.create_task(slots.acquire(1))
    await asyncio.sleep(0)
    slots.release()  # hands the slot to first, which has not run yet
    first.cancel()
    await asyncio.wait_for(second, 1)  # first passed it on
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_model_calls_overlap_the_jobs_instead_of_queueing_behind_them() -> None:
    """A job holding the one worker waits for a model call: it can only end if the
    model call runs beside it, in the model's own thread, with the caller's context."""
    pool = WorkerPool(1, quiet=0)
    embedded = threading.Event()
    where.set("asker")
    try:
        job = asyncio.create_task(pool.run(embedded.wait, 5))
        await asyncio.sleep(0.05)
        seen = await asyncio.wait_for(
            pool.run_model(lambda: (embedded.set(), where.get(), threading.current_thread().name)),
            5,
        )
        assert await job is True
    finally:
        embedded.set()
        pool.close()
    assert seen[1] == "asker"
    assert seen[2].startswith("corpusbot-model")
