"""`corpusbot health` against heartbeat files written by the bot's Heartbeat, and a real
temporary database."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import Settings
from bot.health import Heartbeat, heartbeat_path, run_health
from bot.storage import Database, latest_schema_version


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    settings = Settings(db=tmp_path / "state" / "corpusbot.db")
    await (await Database.open(settings.db_path)).close()
    return settings


def check(settings: Settings, **kwargs: float) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = run_health(settings, out=out, **kwargs)
    return code, out.getvalue().splitlines()


async def beat(settings: Settings, state: str, shards: dict[int, tuple[bool, float]]) -> Heartbeat:
    heartbeat = Heartbeat(heartbeat_path(settings))
    heartbeat.state = state
    heartbeat.shards = lambda: shards
    await heartbeat.write()
    return heartbeat


async def test_a_connected_bot_is_healthy(settings: Settings) -> None:
    await beat(settings, "running", {0: (True, 0.042), 1: (True, 0.050)})

    code, lines = check(settings)

    assert code == 0, lines
    assert lines[0].startswith(f"ok  heartbeat: written 0 s ago by process {os.getpid()}")
    assert lines[1] == "ok  gateway: 2 shards connected, heartbeat latency 50 ms"
    schema = f"readable, schema {latest_schema_version()}"
    assert lines[2].startswith("ok  database: ") and lines[2].endswith(schema)


@pytest.mark.parametrize(
    ("state", "shards", "expected"),
    [
        ("starting", {}, "FAIL gateway: still starting"),
        ("running", {0: (False, 0.04)}, "FAIL gateway: shard 0 of 1 not connected"),
        (
            "running",
            {0: (True, float("inf"))},
            "FAIL gateway: shard 0 has no acknowledged gateway heartbeat yet",
        ),
        ("running", {}, "FAIL gateway: not connected"),
    ],
)
async def test_a_bot_not_connected_is_unhealthy(
    settings: Settings, state: str, shards: dict[int, tuple[bool, float]], expected: str
) -> None:
    await beat(settings, state, shards)
    code, lines = check(settings)
    assert code == 1
    assert lines[0].startswith("ok  heartbeat")
    assert lines[1].startswith(expected)


async def test_no_stale_or_stopped_heartbeat_is_unhealthy(settings: Settings) -> None:
    code, lines = check(settings)
    assert code == 1
    assert lines[0].startswith("FAIL heartbeat: no heartbeat file at ")

    heartbeat = await beat(settings, "running", {0: (True, 0.04)})
    code, lines = check(settings, max_age=60)
    assert code == 0
    path = heartbeat_path(settings)
    old = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**old, "written_at": time.time() - 300}), encoding="utf-8")
    code, lines = check(settings, max_age=60)
    assert code == 1
    assert lines[0] == (
        "FAIL heartbeat: last written 5 min ago (more than 60 s): "
        "the bot is gone or its event loop is stuck"
    )

    await heartbeat.stop()
    code, lines = check(settings)
    assert code == 1
    assert lines[0] == "FAIL heartbeat: the bot stopped 0 s ago"


async def test_a_heartbeat_from_a_dead_process_is_unhealthy(settings: Settings) -> None:
    gone = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    await beat(settings, "running", {0: (True, 0.04)})
    path = heartbeat_path(settings)
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "pid": int(gone.stdout)}), encoding="utf-8")

    code, lines = check(settings)

    assert code == 1
    assert lines[0] == f"FAIL heartbeat: process {int(gone.stdout)} is not running"


async def test_an_unreadable_database_is_unhealthy(settings: Settings) -> None:
    await beat(settings, "running", {0: (True, 0.04)})
    await asyncio.to_thread(settings.db_path.write_bytes, b"not a database at all" * 100)

    code, lines = check(settings)

    assert code == 1
    assert lines[2].startswith(f"FAIL database: cannot read {settings.db}")


async def test_the_check_writes_nothing(settings: Settings) -> None:
    await beat(settings, "running", {0: (True, 0.04)})
    folder = settings.db_path.parent
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    check(settings)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
