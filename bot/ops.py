"""Operations commands: a health check fit for Docker/systemd, and online database backups.

``run_check`` and ``run_backup`` are what ``corpusbot check`` and ``corpusbot backup``
call; they print plain lines and return an exit code. Neither touches the network, and
neither migrates or writes to an existing database: a check run by a new release
next to an old running bot must not upgrade the schema under it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.checks import CheckResult
from bot.config import Settings, SettingsError, load_settings, unknown_settings
from bot.storage import Database, StorageError, latest_schema_version
from retrieval.corpus import CorpusError, load_corpus

__all__ = [
    "BackupError",
    "BackupReport",
    "CheckResult",
    "backup",
    "check",
    "run_backup",
    "run_check",
]


@dataclass(frozen=True, slots=True)
class BackupReport:
    """Where a verified backup went and what it holds."""

    source: str
    dest: Path
    size: int
    schema_version: int
    seconds: float


class BackupError(Exception):
    """The backup could not be made or did not verify; the message says why."""


# -- check ------------------------------------------------------------------------------


async def check(settings: Settings, *, for_run: bool) -> list[CheckResult]:
    """Check the corpus, the index folder, the database, the log file (when one is set)
    and (for ``run``) the token; one result per check.

    Fast and offline, so it can serve as a container HEALTHCHECK. A missing database,
    index folder or log file is created (as the bot would on start); an existing
    database is only read.
    """
    results = [_check_corpus(settings.corpus)]
    results.append(await asyncio.to_thread(_check_index_folder, settings.index_path))
    results.append(await _check_database(settings))
    if settings.log_file is not None:
        results.append(await asyncio.to_thread(_check_log_file, settings.log_file))
    if for_run:
        problem = settings.token_problem()
        results.append(
            CheckResult("token", True, "DISCORD_TOKEN is set and shaped like a bot token")
            if problem is None
            else CheckResult("token", False, problem)
        )
    return results


def run_check(
    settings: Settings | None = None, *, for_run: bool = False, out: TextIO | None = None
) -> int:
    """Print one line per check and return 0 when all pass, 1 otherwise.

    With ``settings=None`` the settings are loaded here, so invalid settings are reported
    as ``FAIL settings`` lines instead of an exception.
    """
    write = _writer(out or sys.stdout)
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            for problem in str(exc).splitlines():
                write(CheckResult("settings", False, problem).line())
            return 1
    write(CheckResult("settings", True, "loaded").line())
    for warning in unknown_settings():
        write(f"warn settings: {warning}")
    results = asyncio.run(check(settings, for_run=for_run))
    for result in results:
        write(result.line())
    return 0 if all(r.ok for r in results) else 1


def _check_corpus(folder: Path) -> CheckResult:
    """Count the articles the index would hold: each file is read and cleaned as the
    index build does, so unusable files are counted as skipped, with why."""
    try:
        loaded = load_corpus(folder)
    except CorpusError as exc:
        return CheckResult("corpus", False, str(exc))
    skipped = loaded.skipped
    reasons = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:3])
    more = "; ..." if len(skipped) > 3 else ""
    if not loaded.documents:
        if not skipped:
            return CheckResult("corpus", False, f"no .txt articles in {folder}")
        return CheckResult(
            "corpus", False, f"no usable articles in {folder} (skipped {reasons}{more})"
        )
    count = len(loaded.documents)
    detail = f"{count} {'article' if count == 1 else 'articles'} in {folder}"
    if skipped:
        detail += f"; {len(skipped)} skipped ({reasons}{more})"
    return CheckResult("corpus", True, detail)


def _check_index_folder(root: Path) -> CheckResult:
    from retrieval.build import index_folder_problem

    problem = index_folder_problem(root)
    if problem is not None:
        return CheckResult("index", False, f"CORPUSBOT_INDEX: {problem}")
    return CheckResult("index", True, f"folder {root} is usable")


def _check_log_file(path: Path) -> CheckResult:
    problem = _writable_folder(path.parent)
    if problem is None:
        try:
            with path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            problem = f"cannot write {path}: {exc.strerror or exc}"
    if problem is not None:
        return CheckResult("log file", False, f"CORPUSBOT_LOG_FILE: {problem}")
    return CheckResult("log file", True, f"{path} is writable")


async def _check_database(settings: Settings) -> CheckResult:
    path = settings.db_path
    label = settings.db_label
    if path is not None:
        problem = await asyncio.to_thread(_writable_folder, path.parent)
        if problem:
            return CheckResult("database", False, f"CORPUSBOT_DB: {problem}")
    latest = latest_schema_version()
    created = path is not None and not await asyncio.to_thread(path.exists)
    try:
        # A new SQLite file is created as the bot would on start; an existing database
        # (and any PostgreSQL one) is only read, never migrated.
        async with await Database.open(settings.db, existing=not created) as db:
            version, integrity = await db.schema_version(), await db.integrity_check()
    except Exception as exc:
        return CheckResult("database", False, f"CORPUSBOT_DB: cannot open {label}: {exc}")
    if integrity != ["ok"]:
        first = integrity[0] if integrity else "no result"
        more = f" (+{len(integrity) - 1} more)" if len(integrity) > 1 else ""
        return CheckResult("database", False, f"{label} failed integrity_check: {first}{more}")
    if version < latest:
        return CheckResult(
            "database",
            False,
            f"{label} is at schema {version}, this release needs {latest}; "
            "starting the bot applies the pending migrations",
        )
    if version > latest:
        return CheckResult(
            "database",
            False,
            f"{label} is at schema {version}, newer than this release ({latest}); "
            "run the release that wrote it or restore a backup",
        )
    state = "created" if created else "opens"
    return CheckResult("database", True, f"{label} {state}, schema {version}, integrity ok")


def _writable_folder(folder: Path) -> str | None:
    """Create ``folder`` if missing and prove a file can be written there, else say why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create folder {folder}: {exc.strerror or exc}"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".corpusbot-check-"):
            pass
    except OSError as exc:
        return f"folder {folder} is not writable: {exc.strerror or exc}"
    return None


# -- backup -----------------------------------------------------------------------------


async def backup(settings: Settings, dest: Path | str, *, force: bool = False) -> BackupReport:
    """Copy the live database to ``dest`` and verify the copy.

    SQLite: the online backup API, checked with integrity_check. PostgreSQL: ``pg_dump
    --format=custom`` (the client tools must be installed), checked by ``pg_restore
    --list``; restore it with ``pg_restore``. Safe while the bot runs. ``dest`` may be
    an existing folder, in which case the copy is named after the database and the
    current UTC time. An existing file is replaced only with ``force``; the copy is
    written once, to a staging file, verified, and renamed into place.
    """
    source = settings.db_path
    dest = await asyncio.to_thread(_backup_target, settings, dest, force=force)
    staging = dest.with_name(f".{dest.name}.new")
    started = time.perf_counter()
    try:
        async with await Database.open(settings.db, existing=True) as db:
            version = await db.schema_version()
            await db.copy_to(staging)
        if source is not None:
            async with await Database.open(staging, existing=True) as copy:
                integrity = await copy.integrity_check()
                version = await copy.schema_version()
            if integrity != ["ok"]:
                raise BackupError(f"the copy failed integrity_check: {integrity[0]}")
        else:
            await _verify_dump(staging)
        if not force and await asyncio.to_thread(dest.exists):
            raise BackupError(f"{dest} appeared while backing up; pass --force to replace it")
        await asyncio.to_thread(os.replace, staging, dest)
    except (OSError, ValueError, StorageError, sqlite3.Error) as exc:
        raise BackupError(f"backup of {settings.db_label} to {dest} failed: {exc}") from exc
    finally:
        await asyncio.to_thread(_remove_staging, staging)
    info = await asyncio.to_thread(dest.stat)
    return BackupReport(
        source=settings.db_label,
        dest=dest,
        size=info.st_size,
        schema_version=version,
        seconds=time.perf_counter() - started,
    )


async def _verify_dump(path: Path) -> None:
    """A pg_dump archive that pg_restore can read its table of contents from."""
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        return  # pg_dump succeeded; nothing here to read the archive back with
    proc = await asyncio.create_subprocess_exec(
        pg_restore,
        "--list",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"pg_restore cannot read the dump: {err.decode(errors='replace')}")


def run_backup(
    settings: Settings, dest: Path | str, *, force: bool = False, out: TextIO | None = None
) -> int:
    """Back up the database to ``dest``, print where it went; 0 on success, 1 on failure."""
    write = _writer(out or sys.stdout)
    try:
        report = asyncio.run(backup(settings, dest, force=force))
    except BackupError as exc:
        _writer(sys.stderr if out is None else out)(f"error: {exc}")
        return 1
    write(
        f"Backed up {report.source} to {report.dest} "
        f"({report.size:,} bytes, schema {report.schema_version}, integrity ok, "
        f"{report.seconds:.2f} s)"
    )
    return 0


def _backup_target(settings: Settings, dest: Path | str, *, force: bool) -> Path:
    """The file the backup will be written to, or BackupError if it must not be.

    A path ending in a separator is a folder (created if missing). Only a regular file
    that is an earlier backup (an SQLite database, or a pg_dump archive), and not the
    live database, is ever replaced (with force)."""
    source = settings.db_path
    if source is not None and not source.is_file():
        raise BackupError(f"no database at {source}")
    stem, suffix = (source.stem, source.suffix or ".db") if source else ("corpusbot", ".dump")
    as_folder = str(dest).endswith(("/", os.sep))
    dest = Path(dest)
    if as_folder and not dest.exists():
        try:
            dest.mkdir(parents=True)
        except OSError as exc:
            raise BackupError(f"cannot create folder {dest}: {exc.strerror or exc}") from None
    if dest.is_dir() and not dest.is_symlink():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = dest / f"{stem}-{stamp}{suffix}"
    if not os.path.lexists(dest):
        return dest
    # what --force would not replace either is refused as such, not with "pass --force"
    if dest.is_symlink():
        raise BackupError(f"{dest} is a symbolic link; refusing to replace it")
    if not stat.S_ISREG(dest.stat().st_mode):
        raise BackupError(f"{dest} is not a regular file; refusing to replace it")
    if source is not None and dest.samefile(source):
        raise BackupError(f"{dest} is the live database; back up to another file")
    if not (_is_sqlite_file(dest) if source is not None else _is_pg_dump(dest)):
        kind = "an SQLite database" if source is not None else "a pg_dump archive"
        raise BackupError(
            f"{dest} is not {kind}; refusing to replace it (--force only replaces an "
            "earlier backup)"
        )
    if not force:
        raise BackupError(f"{dest} already exists; pass --force to replace it")
    return dest


def _is_sqlite_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _is_pg_dump(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(5) == b"PGDMP"
    except OSError:
        return False


def _remove_staging(staging: Path) -> None:
    for path in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
        path.unlink(missing_ok=True)


def _writer(stream: TextIO) -> Callable[[str], None]:
    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return write
