"""The ``corpusbot`` command line: start, ask, index, console, run, check, backup."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.config import Settings, SettingsError, load_settings
from bot.logs import setup_logging
from bot.render import shorten
from retrieval.answer import Result, answer_question
from retrieval.corpus import CorpusError
from retrieval.index import BuildReport, Index, IndexUnavailable, open_index

log = logging.getLogger(__name__)
P = ParamSpec("P")

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=False,
    help="Answer questions about a corpus of news articles, on Discord or in a terminal.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


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
        return load_settings()
    except SettingsError as exc:
        raise Failure(f"invalid settings:\n{exc}") from None


def _open(
    settings: Settings, *, force: bool = False, show_progress: bool = False
) -> tuple[Index, BuildReport]:
    """Open (and if needed build) the index, with a progress bar when asked."""
    try:
        if not show_progress:
            return open_index(settings.corpus, settings.index_path, force=force)
        columns = (
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            return open_index(settings.corpus, settings.index_path, force=force, progress=progress)
    except (CorpusError, IndexUnavailable) as exc:
        raise Failure(str(exc)) from None


def _print_result(result: Result) -> None:
    if result.answer is not None:
        out.print(f"[bold]Answer:[/bold] {escape(result.answer.text)}")
        out.print(
            f"  [dim]from[/dim] {escape(result.answer.title)} [dim]({result.answer.doc_id})[/dim]"
        )
    else:
        out.print(f"[bold]Not in these articles.[/bold] {escape(result.reason)}")
    if result.corrections:
        fixed = ", ".join(f"{a} -> {b}" for a, b in result.corrections.items())
        out.print(f"[dim]Searched with corrected spelling: {escape(fixed)}[/dim]")
    if not result.hits:
        return
    out.print("[bold]Sources:[/bold]" if result.answer else "[bold]Closest articles:[/bold]")
    for n, hit in enumerate(result.sources(3), 1):
        where = f"[dim]({hit.passage.doc_id}, score {hit.fused:.3f})[/dim]"
        out.print(f" [{n}] {escape(hit.passage.title)} {where}")
        out.print(f"     {escape(shorten(hit.passage.text, 240))}", style="dim")


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
    """Answer a question from the articles, with its sources."""
    if stdin == (question is not None):
        raise Failure("give either a QUESTION or --stdin")
    settings = _settings()
    index, _ = _open(settings)
    synonyms = settings.load_synonyms()
    questions = sys.stdin if stdin else [question or ""]
    for line in questions:
        text = line.rstrip("\r\n")
        result = answer_question(index, text, k=k, synonyms=synonyms)
        if as_json:
            sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            if stdin:
                out.print(f"[bold]Q:[/bold] {escape(text)}")
            _print_result(result)
            if stdin:
                out.print()


@app.command()
@_friendly
def index(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if unchanged.")] = False,
) -> None:
    """(Re)build the index from the corpus folder."""
    settings = _settings()
    _, report = _open(settings, force=force, show_progress=True)
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


@app.command()
@_friendly
def console() -> None:
    """Type bot commands (/ask, /subscribe, /digest, /reindex, ...) and see the replies."""
    from bot.console import run_console

    settings = _settings()
    setup_logging(settings, console_level="WARNING")
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
    setup_logging(settings)
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
    """Check settings, corpus and database; exit 0 when all pass (for scripts and health
    checks)."""
    from bot.ops import run_check

    raise typer.Exit(run_check(for_run=for_run))


@app.command()
@_friendly
def backup(
    path: Annotated[Path, typer.Argument(help="File (or folder) to write the copy to.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Copy the live database consistently (SQLite online backup)."""
    from bot.ops import run_backup

    raise typer.Exit(run_backup(_settings(), path, force=force))


@app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """With no command, run the main job (see ``start``)."""
    if ctx.invoked_subcommand is None:
        start()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="corpusbot")
