"""Is the running bot healthy? The bot says so in a small heartbeat file; ``corpusbot
health`` reads it.

``corpusbot run`` rewrites ``<database>.health`` (beside the database) every few
seconds with its process id, its state and each gateway shard's connection and
heartbeat latency. The check reads that file and opens the database read-only: it
imports neither Discord nor the retrieval engine and writes nothing, so a container
can run it every 30 seconds. It fails when the file is missing or stale (the process
is gone or its event loop is stuck), the process is not running, a shard is not
connected or has no acknowledged gateway heartbeat, or the database cannot be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from bot.checks import CheckResult
from bot.config import Settings, SettingsError, load_settings
from retrieval.liveness import process_alive

__all__ = [
    "HEARTBEAT_EVERY",
    "MAX_AGE",
    "Heartbeat",
    "heartbeat_path",
    "run_health",
]

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 10.0  # seconds between two writes of the heartbeat file
MAX_AGE = 60.0  # an older heartbeat means the bot is gone or stuck
DB_TIMEOUT = 2.0


def heartbeat_path(settings: Settings) -> Path:
    """Where the running bot writes its heartbeat: beside the database."""
    stem = settings.local_stem
    return stem.with_name(stem.name + ".health")


# --- the bot's side ---------------------------------------------------------------------


class Heartbeat:
    """Writes the heartbeat file every HEARTBEAT_EVERY seconds until stopped.

    ``shards`` returns {shard id: (connected, latency in seconds)} for the gateway
    connections; until one is attached the bot reports itself as starting."""

    def __init__(self, path: Path, *, every: float = HEARTBEAT_EVERY) -> None:
        self.path = path
        self.every = every
        self.started_at = time.time()
        self.state = "starting"
        self.shards: Callable[[], dict[int, tuple[bool, float]]] | None = None
        self._task: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, Any]:
        shards = self.shards() if self.shards is not None else {}
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "state": self.state,
            "started_at": self.started_at,
            "written_at": time.time(),
            "shards": {
                str(shard_id): {
                    "connected": connected,
                    "latency_ms": round(latency * 1000, 1) if math.isfinite(latency) else None,
                }
                for shard_id, (connected, latency) in sorted(shards.items())
            },
        }

    async def write(self) -> None:
        data = json.dumps(self.snapshot(), sort_keys=True)
        try:
            await asyncio.to_thread(_write_atomically, self.path, data)
        except OSError as exc:
            log.warning("cannot write the heartbeat file %s: %s", self.path, exc)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def _run(self) -> None:
        while True:
            await self.write()
            await asyncio.sleep(self.every)

    async def stop(self) -> None:
        """Stop writing and leave a last heartbeat saying the bot stopped."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.state = "stopped"
        self.shards = None
        await self.write()


def _write_atomically(path: Path, data: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(data, encoding="utf-8")
    os.replace(partial, path)


# --- the check --------------------------------------------------------------------------


def health(
    settings: Settings, *, max_age: float = MAX_AGE, now: float | None = None
) -> list[CheckResult]:
    """One result each for the heartbeat, the gateway and the database."""
    now = time.time() if now is None else now
    database = (
        CheckResult("database", True, f"{settings.db_label} (checked by `corpusbot check`)")
        if settings.db_path is None
        else _database(settings.db_path)
    )
    return [*_heartbeat_results(heartbeat_path(settings), max_age, now), database]


def _heartbeat_results(path: Path, max_age: float, now: float) -> list[CheckResult]:
    try:
        beat = json.loads(path.read_text(encoding="utf-8"))
        written_at = float(beat["written_at"])
        state = str(beat["state"])
        pid = int(beat["pid"])
        shards = dict(beat.get("shards") or {})
    except FileNotFoundError:
        return [
            CheckResult(
                "heartbeat",
                False,
                f"no heartbeat file at {path}: is `corpusbot run` running with these settings?",
            ),
            CheckResult("gateway", False, "unknown (no heartbeat)"),
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [
            CheckResult("heartbeat", False, f"cannot read {path}: {exc}"),
            CheckResult("gateway", False, "unknown (no heartbeat)"),
        ]
    age = now - written_at
    if state == "stopped":
        heartbeat = CheckResult("heartbeat", False, f"the bot stopped {_ago(age)}")
    elif age > max_age:
        heartbeat = CheckResult(
            "heartbeat",
            False,
            f"last written {_ago(age)} (more than {max_age:.0f} s): "
            "the bot is gone or its event loop is stuck",
        )
    elif not process_alive(pid, str(beat.get("host", ""))):
        heartbeat = CheckResult("heartbeat", False, f"process {pid} is not running")
    else:
        heartbeat = CheckResult("heartbeat", True, f"written {_ago(age)} by process {pid}")
    return [heartbeat, _gateway(state, shards, now - float(beat.get("started_at", now)))]


def _gateway(state: str, shards: dict[str, Any], running_for: float) -> CheckResult:
    if state == "starting":
        return CheckResult(
            "gateway", False, f"still starting ({running_for:.0f} s so far): not connected yet"
        )
    if state != "running" or not shards:
        return CheckResult("gateway", False, f"not connected (bot {state})")
    down = [sid for sid, s in shards.items() if not s.get("connected")]
    silent = [
        sid for sid, s in shards.items() if s.get("connected") and s.get("latency_ms") is None
    ]
    if down:
        return CheckResult(
            "gateway", False, f"shard {', '.join(sorted(down))} of {len(shards)} not connected"
        )
    if silent:
        return CheckResult(
            "gateway",
            False,
            f"shard {', '.join(sorted(silent))} has no acknowledged gateway heartbeat yet",
        )
    worst = max(float(s["latency_ms"]) for s in shards.values())
    noun = "shard" if len(shards) == 1 else "shards"
    return CheckResult(
        "gateway", True, f"{len(shards)} {noun} connected, heartbeat latency {worst:.0f} ms"
    )


def _database(path: Path) -> CheckResult:
    """Open the existing database (never creating one) and read its schema version.

    Opened read-write but only read: a read-only connection would leave the -wal and
    -shm files of a database nobody else has open behind it."""
    if not path.is_file():
        return CheckResult("database", False, f"no database at {path}")
    uri = path.absolute().as_uri() + "?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=DB_TIMEOUT)
        try:
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return CheckResult("database", False, f"cannot read {path}: {exc}")
    return CheckResult("database", True, f"{path} readable, schema {row[0]}")


def _ago(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def run_health(
    settings: Settings | None = None, *, max_age: float = MAX_AGE, out: TextIO | None = None
) -> int:
    """Print one line per check; 0 when the running bot is healthy, 1 otherwise."""
    stream = out or sys.stdout
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            for problem in str(exc).splitlines():
                stream.write(CheckResult("settings", False, problem).line() + "\n")
            return 1
    results = health(settings, max_age=max_age)
    for result in results:
        stream.write(result.line() + "\n")
    stream.flush()
    return 0 if all(r.ok for r in results) else 1
