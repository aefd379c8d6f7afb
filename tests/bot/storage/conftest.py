from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import Database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "corpusbot.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every repository test runs on both backends: one contract."""
    return request.param


@pytest.fixture
def db_target(backend: str, db_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """A new database's path (SQLite) or URL (a fresh database on the test server)."""
    if backend == "sqlite":
        return db_path
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def db(db_target: Path | str) -> AsyncIterator[Database]:
    database = await Database.open(db_target, now=1_000.0)
    try:
        yield database
    finally:
        await database.close()


async def log(db: Database, question: str = "what happened?", **overrides: object) -> int:
    """Log a query with sensible defaults so each test states only what it cares about."""
    fields: dict[str, object] = {
        "created_at": 1_700_000_000.0,
        "guild_id": 10,
        "channel_id": 20,
        "user_id": 30,
        "source": "discord",
        "question": question,
        "answered": True,
        "answer_doc_id": "doc-1",
        "answer_text": "An answer.",
        "top_hits": [("doc-1", 12.5), ("doc-2", 3.25)],
        "latency_ms": 42.0,
    }
    fields.update(overrides)
    return await db.queries.log_query(**fields)  # type: ignore[arg-type]
