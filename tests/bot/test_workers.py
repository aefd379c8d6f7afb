"""The answering pool: bounded, and behind acknowledgements."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from bot.workers import WorkerPool

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
