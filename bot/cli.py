"""The ``corpusbot`` command line: start, ask, index, console, run, check, backup."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TextIO

import typer

from bot.config import Settings, SettingsError, load_settings, unknown_settings
from bot.logs import setup_logging

# Discord, the retrieval engine, the plotting library and rich are imported by the
# commands that need them, so light commands (health, check, stats) and a one-shot
# `ask` start fast.
if TYPE_CHECKING:
    from rich.console import Console

    from bot.core import Core
    from retrieval.build import BuildReport
    from retrieval.index import Index

log = logging.getLogger(__name__)
P = ParamSpec("P")

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=False,
    help="Answer questions about a corpus of news articles, on Discord or in a terminal.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _LazyConsole:
    """A rich Console made when first used: `ask` prints plain text, and importing rich
    would cost it some 35 ms."""

    def __init__(self, **options: bool) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def print(self, *objects: object) -> None:
        self.console.print(*objects)


out = _LazyConsole(highlight=False, soft_wrap=True)
# one error a line, never wrapped: scripts read them line by line
err = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)


def escape(text: str) -> str:
    """Text shown as itself in rich markup."""
    from rich.markup import escape as escape_markup

    return escape_markup(text)


class Failure(Exception):
    """A problem the user can fix; printed as one clear message, exit code 2."""


def _friendly(func: Callable[P, None]) -> Callable[P, None]:
    """Turn Failure into an "error:" line and exit code 2, with no traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except Failure as exc:
            err.print(f"[bold red]error:[/bold red] {escape(str(exc))}")
            raise typer.Exit(2) from None

    return wrapper


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise Failure(f"invalid settings:\n{exc}") from None
    for warning in unknown_settings():
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    return settings


def _setup_logging(settings: Settings, *, console_level: str | None = None) -> None:
    try:
        setup_logging(settings, console_level=console_level)
    except OSError as exc:
        raise Failure(f"cannot write the log file {settings.log_file}: {exc.strerror}") from None


def _open(
    settings: Settings, *, force: bool = False, show_progress: bool = False
) -> tuple[Index, BuildReport]:
    """Open (and if needed build) the index, with a progress bar when asked."""
    from retrieval.build import open_index
    from retrieval.corpus import CorpusError
    from retrieval.index import IndexUnavailable

    try:
        if not show_progress:
            return open_index(settings.corpus, settings.index_path, force=force)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = (
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err.console, transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            return open_index(settings.corpus, settings.index_path, force=force, progress=progress)
    except IndexUnavailable as exc:
        raise Failure(settings.index_problem(str(exc))) from None
    except CorpusError as exc:
        raise Failure(str(exc)) from None


@app.command()
@_friendly
def ask(
    question: Annotated[str | None, typer.Argument(help="The question to answer.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read one question per line from standard input.")
    ] = False,
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Passages to return.")] = 5,
) -> None:
    """Answer a question from the articles, with its sources (logged like /ask)."""
    if stdin == (question is not None):
        raise Failure("give either a QUESTION or --stdin")
    settings = _settings()
    # The embedding model's session is set up outside the GIL: start it now, so it is
    # ready by the time the core, the storage and the index are loaded.
    from retrieval.semantic import preload

    loading = preload(settings.index_path)
    questions = read_lines(_byte_lines(sys.stdin)) if stdin else [as_text(question or "")]
    try:
        code = asyncio.run(_ask_all(settings, questions, as_json=as_json, one_per_line=stdin, k=k))
    finally:
        # exiting (on an error too) while onnxruntime builds its session aborts the process
        loading.join()
    if code:
        raise typer.Exit(code)


async def _start_core(settings: Settings) -> Core:
    from bot.core import Core, UserError

    try:
        return await Core.start(settings, one_shot=True)
    except UserError as exc:
        raise Failure(str(exc)) from None


async def _ask_all(
    settings: Settings, questions: Iterable[str], *, as_json: bool, one_per_line: bool, k: int
) -> int:
    """Answer each question through the core, as Discord does (cleaned, length-limited,
    logged with source "cli"), and print its card as text or JSON.

    One question: a refused one is an error (exit code 2). One per line: every line
    gets its output line, in order; a refused one is explained on standard error and
    answered with a null answer and no passages."""
    from bot.core import Requester, UserError
    from bot.render import answer_card, answer_json, error_card, to_text

    core = await _start_core(settings)
    who = Requester(source="cli")
    try:
        for number, line in enumerate(questions, 1):
            text = line.rstrip("\r\n")
            try:
                outcome = await core.ask(text, who, k=k)
            except UserError as exc:
                if not one_per_line:
                    raise Failure(str(exc)) from None
                err.print(f"line {number}: {escape(str(exc))}")
                if as_json:
                    _write_bytes(json_line(_refused_json(text)))
                else:
                    _write_line(to_text(error_card(str(exc))) + "\n")
                continue
            if as_json:
                _write_bytes(json_line(answer_json(text, outcome.result)))
            else:
                card = answer_card(outcome.result.question, outcome.result, None)
                _write_line(to_text(card) + ("\n" if one_per_line else ""))
    finally:
        await core.close()
    return 0


def as_text(value: str) -> str:
    """A command-line argument as valid Unicode: bytes that were not UTF-8 (kept by
    Python as lone surrogates) become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _byte_lines(stream: TextIO) -> Iterable[bytes]:
    """Standard input as lines of bytes, undecoded (a replaced stream may be text only)."""
    binary = getattr(stream, "buffer", None)
    if binary is not None:
        return binary
    return (line.encode("utf-8", "surrogateescape") for line in stream)


def _write_bytes(data: bytes) -> None:
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        binary.write(data)
        binary.flush()


def read_lines(stream: Iterable[bytes]) -> Iterator[str]:
    """One question per line of a byte stream, decoded as UTF-8 with bad bytes
    replaced by U+FFFD (never passed through), without the line ending."""
    for raw in stream:
        yield raw.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r")


def json_line(obj: object) -> bytes:
    """One JSON object as a line of valid UTF-8, whatever strings it holds."""
    text = json.dumps(obj, ensure_ascii=False)
    return text.encode("utf-8", "replace") + b"\n"


def _refused_json(question: str) -> dict:
    return {"question": question, "answer": None, "passages": []}


def _write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@app.command()
@_friendly
def stats(
    period: Annotated[
        str, typer.Option("--period", help="day, week (default), month or all.")
    ] = "week",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (fields in the README).")
    ] = False,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also write the chart as a PNG file.")
    ] = None,
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", help="Also export the period's questions as a CSV file."),
    ] = None,
) -> None:
    """The admin report: questions, answers, feedback and latency over a period."""
    from bot.stats import PERIODS

    period = period.strip().lower()
    if period not in PERIODS:
        raise Failure(f"--period must be one of {', '.join(PERIODS)} (not {period!r})")
    settings = _settings()
    asyncio.run(_stats(settings, period, as_json=as_json, chart=chart, csv_path=csv_path))


async def _stats(
    settings: Settings, period: str, *, as_json: bool, chart: Path | None, csv_path: Path | None
) -> None:
    from bot.render import stats_card, to_text
    from bot.stats import build_report, export_span, write_csv
    from bot.storage import Database, StorageError

    if settings.db_path is not None and not settings.db_path.is_file():
        raise Failure(
            f"no database at {settings.db}: nothing has been asked yet, "
            "or CORPUSBOT_DB points elsewhere"
        )
    for target in (chart, csv_path):
        if target is not None and not target.parent.is_dir():
            raise Failure(f"cannot write {target}: folder {target.parent} does not exist")
    try:
        db = await Database.open(settings.db)
    except (OSError, sqlite3.Error, StorageError) as exc:
        raise Failure(f"cannot open the database {settings.db_label}: {exc}") from None
    try:
        now = time.time()
        report = await build_report(db, period, now)
        notes = []
        if chart is not None:
            from bot.chart import render_chart

            png = await asyncio.to_thread(render_chart, report)
            _write_file(chart, png)
            notes.append(f"chart written to {chart} ({len(png) / 1024:.0f} kB)")
        if csv_path is not None:
            buffer = io.StringIO(newline="")
            rows = await write_csv(db.queries.export(*export_span(period, now)), buffer)
            _write_file(csv_path, buffer.getvalue().encode("utf-8"))
            notes.append(f"{rows} questions exported to {csv_path}")
    finally:
        await db.close()
    if as_json:
        _write_line(json.dumps(report.to_json(), ensure_ascii=False))
        for note in notes:
            err.print(escape(note))
    else:
        _write_line(to_text(stats_card(report)))
        for note in notes:
            _write_line(note)


def _write_file(path: Path, data: bytes) -> None:
    """Write data to path whole: a temporary file beside it, then renamed into place."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise Failure(f"cannot write {path}: {exc.strerror or exc}") from None


@app.command()
@_friendly
def index(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if unchanged.")] = False,
) -> None:
    """(Re)build the index from the corpus folder."""
    settings = _settings()
    index, report = _open(settings, force=force, show_progress=True)
    state = "rebuilt" if report.rebuilt else "unchanged, reused"
    out.print(f"Index {state}: {settings.index_path}")
    out.print(f"  corpus     {settings.corpus}")
    out.print(f"  documents  {report.documents}")
    out.print(f"  passages   {report.passages}")
    if report.rebuilt:
        out.print(
            f"  changes    {len(report.added)} added, {len(report.changed)} changed, "
            f"{len(report.removed)} removed"
        )
    out.print(f"  skipped    {len(report.skipped)}")
    for skipped in report.skipped:
        out.print(f"    {escape(skipped.name)}: {escape(skipped.reason)}")
    out.print(f"  time       {report.seconds:.2f} s")
    if report.rebuilt:
        out.print(asyncio.run(_publish(settings, index)))


async def _publish(settings: Settings, index: Index) -> str:
    """Tell the bots sharing the database to serve a new build, as /reindex does; the
    line to print. A database that does not exist yet has no bots to tell."""
    from bot.core import Busy, Core
    from bot.storage import Database, StorageError

    if settings.db_path is not None and not settings.db_path.is_file():
        return "  bots       none yet (no database)"
    try:
        db = await Database.open(settings.db)
    except (OSError, sqlite3.Error, StorageError) as exc:
        raise Failure(
            f"the index is built, but the bots were not told: cannot open the database "
            f"{settings.db_label}: {exc}; run /reindex once it is reachable"
        ) from None
    core = Core(settings, db, index)
    try:
        generation = await core.adopt(index)
    except Busy as exc:
        return f"  bots       not told: {exc} Its build is served when it ends."
    finally:
        await core.close()
    return f"  bots       told to serve it (index generation {generation})"


@app.command()
@_friendly
def console() -> None:
    """Type bot commands (/ask, /subscribe, /digest, /reindex, ...) and see the replies."""
    from bot.console import run_console

    settings = _settings()
    _setup_logging(settings, console_level="WARNING")
    raise typer.Exit(run_console(settings))


@app.command()
@_friendly
def run() -> None:
    """Start the Discord bot (needs DISCORD_TOKEN)."""
    from bot.app import run_bot

    settings = _settings()
    problem = settings.token_problem()
    if problem:
        raise Failure(f"{problem}; set it in the environment or in .env")
    _setup_logging(settings)
    raise typer.Exit(run_bot(settings))


@app.command()
@_friendly
def start() -> None:
    """The main job: the Discord bot when a token is configured, else the console."""
    settings = _settings()
    if settings.token:
        err.print("DISCORD_TOKEN is set: starting the Discord bot.")
        run()
    else:
        err.print(
            "No DISCORD_TOKEN configured: starting the offline console instead "
            "(the same commands, answered in this terminal)."
        )
        console()


@app.command()
def check(
    for_run: Annotated[
        bool, typer.Option("--for-run", help="Also check what `run` needs (the token).")
    ] = False,
) -> None:
    """Check settings, corpus, index folder, database and log file; exit 0 if all pass."""
    from bot.ops import run_check

    raise typer.Exit(run_check(for_run=for_run))


@app.command()
def health(
    max_age: Annotated[
        float,
        typer.Option(
            "--max-age", min=1, help="Seconds after which the bot's heartbeat counts as stale."
        ),
    ] = 60.0,
) -> None:
    """Is the running bot healthy (heartbeat, gateway, database)? Exit 0 when it is."""
    from bot.health import run_health

    raise typer.Exit(run_health(max_age=max_age))


@app.command()
@_friendly
def backup(
    path: Annotated[
        str, typer.Argument(help="File (or folder, or a new folder ending in /) to write to.")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace an earlier backup (an SQLite file).")
    ] = False,
) -> None:
    """Copy the live database and verify the copy (SQLite backup API, or pg_dump)."""
    from bot.ops import run_backup

    if not path.strip():
        raise Failure("give the file or folder to write the backup to")
    raise typer.Exit(run_backup(_settings(), path, force=force))


@app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """With no command, run the main job (see ``start``)."""
    if ctx.invoked_subcommand is None:
        start()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="corpusbot")
