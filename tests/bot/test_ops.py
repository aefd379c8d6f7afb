"""`corpusbot check` and `corpusbot backup` on real temporary databases and corpora."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import pytest

from bot.config import Settings
from bot.ops import backup, check, run_backup, run_check
from bot.storage import Database
from tests.conftest import WriteCorpus

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
GOOD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz012345"
BAD_TOKEN = "hunter2-not-a-bot-token-SECRET"


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    fields: dict[str, object] = {
        "corpus": SEEDS,
        "db": tmp_path / "state" / "corpusbot.db",
        "discord_token": GOOD_TOKEN,
    }
    fields.update(overrides)
    return Settings(**fields)


def run(settings: Settings, *, for_run: bool = False) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = run_check(settings, for_run=for_run, out=out)
    return code, out.getvalue().splitlines()


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


async def log_queries(path: Path, questions: list[str]) -> None:
    async with await Database.open(path) as db:
        for question in questions:
            await db.queries.log_query(
                created_at=1_700_000_000.0,
                guild_id=10,
                channel_id=20,
                user_id=30,
                source="discord",
                question=question,
                answered=True,
                answer_doc_id="doc-1",
                answer_text="An answer.",
                top_hits=[("doc-1", 12.5)],
                latency_ms=42.0,
            )


async def questions_in(path: Path) -> list[str]:
    async with await Database.open(path) as db:
        count = await db.queries.count()
        records = [await db.queries.get(n) for n in range(1, count + 1)]
    return [r.question for r in records if r is not None]


# -- check ------------------------------------------------------------------------------


def test_check_passes_on_a_good_setup_and_creates_the_database(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    code, lines = run(settings, for_run=True)

    assert code == 0, lines
    assert failures(lines) == []
    assert "ok  corpus: 5 articles in " + str(SEEDS) in lines
    assert any(line.startswith("ok  database:") and "schema" in line for line in lines)
    assert any(line.startswith("ok  token:") for line in lines)
    assert settings.db_path.is_file()


def test_check_passes_again_on_an_existing_database(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    asyncio.run(log_queries(settings.db_path, ["what happened?"]))

    code, lines = run(settings)

    assert code == 0, lines
    assert any(line.startswith("ok  database:") and "opens" in line for line in lines)


def test_missing_corpus_folder_fails_with_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-corpus"

    code, lines = run(make_settings(tmp_path, corpus=missing))

    assert code == 1
    assert failures(lines) == [f"FAIL corpus: corpus folder {missing} does not exist"]


def test_corpus_without_articles_fails(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("not an article", encoding="utf-8")

    code, lines = run(make_settings(tmp_path, corpus=empty))

    assert code == 1
    assert failures(lines) == [f"FAIL corpus: no .txt articles in {empty}"]


def test_database_folder_that_cannot_be_created_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    settings = make_settings(tmp_path, db=blocker / "state" / "corpusbot.db")

    code, lines = run(settings)

    assert code == 1
    # the index folder, beside the database by default, cannot be made either
    index, database = failures(lines)
    assert index.startswith("FAIL index: CORPUSBOT_INDEX: cannot use the index folder")
    assert database.startswith(
        f"FAIL database: CORPUSBOT_DB: cannot create folder {blocker / 'state'}"
    )


def test_an_index_folder_the_bot_would_refuse_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    for folder, says in [
        (foreign, "it holds files corpusbot did not make (todo.txt)"),
        (tmp_path, "refusing to use the working directory"),
    ]:
        code, lines = run(make_settings(tmp_path, index_dir=folder))
        assert code == 1
        [line] = failures(lines)
        assert line.startswith("FAIL index: CORPUSBOT_INDEX: ") and says in line
    assert (foreign / "todo.txt").read_text(encoding="utf-8") == "mine"


def test_a_log_file_that_cannot_be_written_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")

    code, lines = run(make_settings(tmp_path, log_file=blocker / "bot.log"))
    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL log file: CORPUSBOT_LOG_FILE: cannot create folder")

    code, lines = run(make_settings(tmp_path, log_file=tmp_path / "logs" / "bot.log"))
    assert code == 0, lines
    assert f"ok  log file: {tmp_path / 'logs' / 'bot.log'} is writable" in lines


def test_database_newer_than_this_release_fails(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    async def stamp_future_version() -> None:
        async with await Database.open(settings.db_path) as db, db.transaction():
            await db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (99, "from_the_future", 0.0),
            )

    asyncio.run(stamp_future_version())

    code, lines = run(settings)

    assert code == 1
    [line] = failures(lines)
    assert "schema 99, newer than this release" in line


def test_not_a_database_fails(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.db_path.parent.mkdir(parents=True)
    settings.db_path.write_bytes(b"this is not an SQLite file" * 100)

    code, lines = run(settings)

    assert code == 1
    [line] = failures(lines)
    assert line.startswith(f"FAIL database: CORPUSBOT_DB: cannot open {settings.db}")


def test_malformed_token_fails_for_run_without_printing_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, discord_token=BAD_TOKEN)

    code, lines = run(settings, for_run=True)

    assert code == 1
    [line] = failures(lines)
    assert line.startswith("FAIL token: DISCORD_TOKEN does not look like a bot token (three")
    assert not any(BAD_TOKEN in line or "SECRET" in line for line in lines)


def test_token_is_only_checked_for_run(tmp_path: Path) -> None:
    code, lines = run(make_settings(tmp_path, discord_token=None))

    assert code == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "ok  settings",
        "ok  corpus",
        "ok  index",
        "ok  database",
    ]


def test_good_token_is_never_printed(tmp_path: Path) -> None:
    _, lines = run(make_settings(tmp_path), for_run=True)

    assert not any(GOOD_TOKEN in line for line in lines)


def test_invalid_settings_are_reported_as_fail_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORPUSBOT_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("DISCORD_TOKEN", BAD_TOKEN)
    out = io.StringIO()

    code = run_check(None, for_run=True, out=out)

    assert code == 1
    assert out.getvalue().splitlines() == [
        "FAIL settings: CORPUSBOT_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    ]


async def test_check_returns_one_result_per_check(tmp_path: Path) -> None:
    results = await check(make_settings(tmp_path), for_run=True)

    assert [r.name for r in results] == ["corpus", "index", "database", "token"]
    assert all(r.ok for r in results)


# -- backup -----------------------------------------------------------------------------


def test_backup_copy_opens_and_has_the_same_rows(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    asyncio.run(log_queries(settings.db_path, ["who is Dai Shan?", "what is Taobao?"]))
    dest = tmp_path / "backups" / "corpusbot-1.db"
    out = io.StringIO()

    code = run_backup(settings, dest, out=out)

    assert code == 0
    assert str(dest) in out.getvalue()
    assert asyncio.run(questions_in(dest)) == ["who is Dai Shan?", "what is Taobao?"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["corpusbot-1.db"]


async def test_backup_while_the_database_is_open(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await log_queries(settings.db_path, ["first"])
    dest = tmp_path / "live.db"

    async with await Database.open(settings.db_path) as live:
        async with live.transaction():
            pass
        report = await backup(settings, dest)

    assert report.dest == dest
    assert await questions_in(dest) == ["first"]


def test_backup_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    asyncio.run(log_queries(settings.db_path, ["new question"]))
    dest = tmp_path / "existing.db"
    assert run_backup(settings, dest, out=io.StringIO()) == 0  # an older backup
    asyncio.run(log_queries(settings.db_path, ["newer question"]))
    older = dest.read_bytes()
    out = io.StringIO()

    code = run_backup(settings, dest, out=out)

    assert code == 1
    assert "already exists" in out.getvalue()
    assert dest.read_bytes() == older

    assert run_backup(settings, dest, force=True, out=io.StringIO()) == 0
    assert asyncio.run(questions_in(dest)) == ["new question", "newer question"]


@pytest.mark.parametrize("kind", ["text file", "fifo", "symlink", "live database"])
def test_backup_force_replaces_only_an_earlier_database_backup(tmp_path: Path, kind: str) -> None:
    settings = make_settings(tmp_path)
    asyncio.run(log_queries(settings.db_path, ["q"]))
    dest = tmp_path / "target"
    if kind == "text file":
        dest.write_text("my notes", encoding="utf-8")
    elif kind == "fifo":
        os.mkfifo(dest)
    elif kind == "symlink":
        (tmp_path / "elsewhere.db").write_text("x", encoding="utf-8")
        dest.symlink_to(tmp_path / "elsewhere.db")
    else:
        dest = settings.db_path
    before = os.lstat(dest)
    out, without_force = io.StringIO(), io.StringIO()

    assert run_backup(settings, dest, force=True, out=out) == 1
    assert run_backup(settings, dest, out=without_force) == 1

    assert "refusing to replace" in out.getvalue() or "is the live database" in out.getvalue()
    # without --force, the same reason: not a suggestion to pass --force that would fail
    assert without_force.getvalue() == out.getvalue()
    assert "pass --force" not in without_force.getvalue()
    after = os.lstat(dest)
    assert (after.st_ino, after.st_mode, after.st_size) == (
        before.st_ino,
        before.st_mode,
        before.st_size,
    )
    assert not list(tmp_path.glob(".*.new"))


def test_backup_to_a_new_folder_ending_in_a_slash_creates_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    asyncio.run(log_queries(settings.db_path, ["q"]))
    folder = tmp_path / "newdir"

    assert run_backup(settings, f"{folder}/", out=io.StringIO()) == 0

    [copy] = folder.iterdir()
    assert copy.name.startswith("corpusbot-") and copy.suffix == ".db"


def test_backup_into_a_folder_names_the_copy(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    asyncio.run(log_queries(settings.db_path, ["q"]))
    folder = tmp_path / "backups"
    folder.mkdir()

    assert run_backup(settings, folder, out=io.StringIO()) == 0

    [copy] = folder.iterdir()
    assert copy.name.startswith("corpusbot-") and copy.suffix == ".db"


def test_backup_without_a_database_fails_and_creates_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    out = io.StringIO()

    code = run_backup(settings, tmp_path / "copy.db", out=out)

    assert code == 1
    assert f"no database at {settings.db}" in out.getvalue()
    assert not settings.db_path.exists()
    assert not (tmp_path / "copy.db").exists()


def test_check_counts_usable_articles_and_names_the_skipped(
    tmp_path: Path, write_corpus: WriteCorpus
) -> None:
    corpus = write_corpus(
        {
            "good.txt": "A title\n\nA usable article about Alibaba Cloud and its results.\n",
            "empty.txt": "",
            "binary.txt": b"\x00\x01",
            "latin1.txt": b"caf\xe9\n",
        }
    )
    code, lines = run(make_settings(tmp_path, corpus=corpus))
    assert code == 0
    (line,) = [ln for ln in lines if ln.startswith("ok  corpus")]
    assert line.startswith(f"ok  corpus: 1 article in {corpus}; 3 skipped (")
    assert "empty.txt: empty file" in line


def test_check_fails_a_corpus_of_only_unusable_files(
    tmp_path: Path, write_corpus: WriteCorpus
) -> None:
    corpus = write_corpus({"empty.txt": "", "two.txt": ""})
    code, lines = run(make_settings(tmp_path, corpus=corpus))
    assert code == 1
    assert failures(lines) == [
        f"FAIL corpus: no usable articles in {corpus} (skipped empty.txt: empty file; "
        "two.txt: empty file)"
    ]
