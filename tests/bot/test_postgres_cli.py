"""The command line with CORPUSBOT_DB=postgresql://...: a real server the fixtures start.

index, ask (and four concurrent ``ask --json --stdin``), console, stats, check and
backup all work against it, and every question asked is logged once.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.storage import Database, latest_schema_version

COMMAND = [sys.executable, "-m", "bot"]
QUESTIONS = ["Where was Wu Yongming born?", "Who is Dai Shan?", "What is Taobao?"]


@pytest.fixture
def run(pg_url: str, seeds_dir: Path, tmp_path: Path):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CORPUSBOT_", "DISCORD_"))}
    environ.update(
        CORPUSBOT_CORPUS=str(seeds_dir),
        CORPUSBOT_DB=pg_url,
        CORPUSBOT_INDEX=str(tmp_path / "index"),
        PYTHONIOENCODING="utf-8",
        NO_COLOR="1",
        COLUMNS="400",
    )

    def start(*args: str, stdin: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*COMMAND, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=environ,
            cwd=workdir,
        )

    def call(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = start(*args)
        out, err = proc.communicate(stdin, timeout=300)
        return subprocess.CompletedProcess(list(args), proc.returncode, out, err)

    call.start = start  # type: ignore[attr-defined]
    return call


async def _count(url: str) -> dict[str, int]:
    async with await Database.open(url, existing=True) as db:
        rows = await db.fetchall("SELECT source, COUNT(*) FROM queries GROUP BY source")
        return {str(r[0]): int(r[1]) for r in rows}


def test_cli_commands_work_against_postgresql(run, pg_url: str, tmp_path: Path) -> None:
    built = run("index")
    assert built.returncode == 0, built.stderr
    # published to the bots sharing the server (none run yet; they would follow it)
    assert "told to serve it (index generation 1)" in built.stdout

    asked = run("ask", "--json", QUESTIONS[0])
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["answer"] is not None

    console = run("console", stdin=f"{QUESTIONS[1]}\n/quit\n")
    assert console.returncode == 0, console.stderr

    # Four processes logging at once through one server: every question is logged.
    procs = [run.start("ask", "--json", "--stdin") for _ in range(4)]
    lines = "\n".join(QUESTIONS * 5) + "\n"
    outputs = [p.communicate(lines, timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert len(out.splitlines()) == len(QUESTIONS) * 5
    counts = asyncio.run(_count(pg_url))
    assert counts == {"cli": 1 + 4 * len(QUESTIONS) * 5, "console": 1}

    stats = run("stats", "--json", "--period", "all")
    assert stats.returncode == 0, stats.stderr
    report = json.loads(stats.stdout)
    assert report["questions"] == 1 + 4 * len(QUESTIONS) * 5 + 1

    check = run("check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok  database: postgresql://postgres@" in check.stdout
    assert f"schema {latest_schema_version()}, integrity ok" in check.stdout

    dest = tmp_path / "backups" / "cb.dump"
    dest.parent.mkdir()
    backup = run("backup", str(dest))
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert dest.read_bytes()[:5] == b"PGDMP"
    again = run("backup", str(dest))
    assert again.returncode == 1 and "already exists" in again.stdout + again.stderr
