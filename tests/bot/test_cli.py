"""The ``corpusbot`` command line against temporary paths.

Most tests call the console-script entry point in this process; a few run the installed
executable to check the real process: output streams, exit code, no traceback.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import EMPLOYEE_004, WriteCorpus

EXECUTABLE = Path(sys.executable).parent / "corpusbot"
COMMAND = [str(EXECUTABLE)] if EXECUTABLE.exists() else [sys.executable, "-m", "bot"]

ANSWERABLE = "Where was Wu Yongming born?"
UNANSWERABLE = "What is the capital of France?"

Completed = subprocess.CompletedProcess[str]
Run = Callable[..., Completed]


@pytest.fixture
def cli_env(tmp_path: Path, seeds_dir: Path) -> dict[str, str]:
    """Settings pointing at temporary paths; no token, no CORPUSBOT_* from outside."""
    return {
        "CORPUSBOT_CORPUS": str(seeds_dir),
        "CORPUSBOT_DB": str(tmp_path / "data" / "bot.db"),
        "CORPUSBOT_INDEX": str(tmp_path / "index"),
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working folder, so no .env file is picked up."""
    path = tmp_path / "cwd"
    path.mkdir()
    return path


@pytest.fixture
def corpusbot_process(cli_env: dict[str, str], workdir: Path) -> Run:
    """Run the installed corpusbot executable as a separate process."""

    def run(*args: str, stdin: str | None = None, **env: str | None) -> Completed:
        environ = {
            k: v for k, v in os.environ.items() if not k.startswith(("CORPUSBOT_", "DISCORD_"))
        }
        environ.update(cli_env, PYTHONIOENCODING="utf-8", NO_COLOR="1", COLUMNS="400")
        for key, value in env.items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        return subprocess.run(
            [*COMMAND, *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=environ,
            cwd=workdir,
            timeout=120,
        )

    return run


@pytest.fixture
def corpusbot(
    cli_env: dict[str, str],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    """Run the console-script entry point in this process (fast), as the executable would."""
    for key in list(os.environ):
        if key.startswith(("CORPUSBOT_", "DISCORD_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(workdir)

    def run(*args: str, stdin: str | None = None, **env: str | None) -> Completed:
        with monkeypatch.context() as patch:
            for key, value in {**cli_env, **env}.items():
                if value is None:
                    patch.delenv(key, raising=False)
                else:
                    patch.setenv(key, value)
            patch.setattr(sys, "argv", ["corpusbot", *args])
            patch.setattr(sys, "stdin", io.StringIO(stdin or ""))
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            else:
                code = 0
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)

    return run


def _check_contract(payload: dict, question: str) -> None:
    assert set(payload) == {"question", "answer", "passages"}
    assert payload["question"] == question
    answer = payload["answer"]
    if answer is not None:
        assert set(answer) == {"text", "doc_id", "title", "confidence"}
        assert all(isinstance(answer[k], str) and answer[k] for k in ("text", "doc_id", "title"))
        assert isinstance(answer["confidence"], float)
        assert len(answer["text"]) <= 400
    assert isinstance(payload["passages"], list)
    for passage in payload["passages"]:
        assert set(passage) == {"doc_id", "title", "text", "score", "bm25", "semantic"}
        assert isinstance(passage["score"], float) and isinstance(passage["bm25"], float)
        assert passage["semantic"] is None or isinstance(passage["semantic"], float)
        assert all(isinstance(passage[key], str) for key in ("doc_id", "title", "text"))


def _flat(text: str) -> str:
    """Text with its runs of white space made one space."""
    return " ".join(text.split())


def _json_lines(stdout: str) -> list[dict]:
    lines = stdout.splitlines()
    assert all(line.strip() for line in lines), stdout
    return [json.loads(line) for line in lines]


def test_ask_json_prints_one_contract_object(corpusbot: Run) -> None:
    proc = corpusbot("ask", "--json", ANSWERABLE)
    assert proc.returncode == 0, proc.stderr
    [payload] = _json_lines(proc.stdout)
    _check_contract(payload, ANSWERABLE)
    assert payload["answer"]["doc_id"] == EMPLOYEE_004
    assert payload["answer"]["title"] == "Employee No. 004 saves Ali"
    assert "Tonglu" in payload["answer"]["text"]
    assert len(payload["passages"]) == 5
    assert any(payload["answer"]["text"] in p["text"] for p in payload["passages"])
    assert "Traceback" not in proc.stderr


def test_ask_json_passages_are_best_first(corpusbot: Run) -> None:
    proc = corpusbot("ask", "--json", ANSWERABLE)
    [payload] = _json_lines(proc.stdout)
    scores = [p["score"] for p in payload["passages"]]
    assert scores == sorted(scores, reverse=True)


def test_ask_json_unanswerable_prints_null_answer(corpusbot: Run) -> None:
    proc = corpusbot("ask", "--json", UNANSWERABLE)
    assert proc.returncode == 0, proc.stderr
    [payload] = _json_lines(proc.stdout)
    _check_contract(payload, UNANSWERABLE)
    assert payload["answer"] is None


def test_ask_json_stdin_prints_one_object_per_line_in_order(corpusbot: Run) -> None:
    questions = [
        ANSWERABLE,
        "",
        UNANSWERABLE,
        "How many employees does Alibaba have in Beijing?",
        "Wu Yongming 🚀 «quoted» مرحبا",
    ]
    proc = corpusbot("ask", "--json", "--stdin", stdin="\n".join(questions) + "\n")
    assert proc.returncode == 0, proc.stderr
    payloads = _json_lines(proc.stdout)
    assert [p["question"] for p in payloads] == questions
    for payload, question in zip(payloads, questions, strict=True):
        _check_contract(payload, question)
    assert "Tonglu" in payloads[0]["answer"]["text"]
    assert payloads[1]["answer"] is None
    assert payloads[2]["answer"] is None
    assert "8000" in payloads[3]["answer"]["text"]
    assert payloads[3]["answer"]["doc_id"] == "001_ef44247ab5b4b5ab"


def test_ask_json_stdin_handles_crlf_and_a_missing_final_newline(corpusbot: Run) -> None:
    proc = corpusbot("ask", "--json", "--stdin", stdin=f"{ANSWERABLE}\r\n{UNANSWERABLE}")
    assert proc.returncode == 0, proc.stderr
    payloads = _json_lines(proc.stdout)
    assert [p["question"] for p in payloads] == [ANSWERABLE, UNANSWERABLE]


def test_plain_ask_prints_the_answer_and_numbered_sources(corpusbot: Run) -> None:
    """The answer card as text: the question, the answer citing [1], numbered sources."""
    proc = corpusbot("ask", ANSWERABLE)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == ANSWERABLE
    answer = lines[2]
    assert "Wu Yongming was born in Tonglu" in answer
    assert answer.endswith(" [1]")
    out = proc.stdout
    assert "  [1] Employee No. 004 saves Ali" in out
    assert EMPLOYEE_004 in out
    assert " [2] " in out
    assert out.index(" [1] ") < out.index(" [2] ")


def test_plain_ask_says_when_the_articles_do_not_answer(corpusbot: Run) -> None:
    proc = corpusbot("ask", UNANSWERABLE)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == UNANSWERABLE
    assert lines[2].startswith("Not in these articles.")
    assert lines[3] == "The closest articles:"
    assert not any(line.endswith(" [1]") for line in lines), "no answer cites a source"


def _logged(tmp_path: Path) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "bot.db")) as conn:
        return conn.execute(
            "SELECT source, question, answered, user_id, guild_id FROM queries ORDER BY id"
        ).fetchall()


def test_ask_logs_every_form_with_source_cli(corpusbot: Run, tmp_path: Path) -> None:
    assert corpusbot("ask", ANSWERABLE).returncode == 0
    assert corpusbot("ask", "--json", f"  {UNANSWERABLE}  ").returncode == 0
    proc = corpusbot("ask", "--json", "--stdin", stdin=f"{ANSWERABLE}\n\n{UNANSWERABLE}\n")
    assert proc.returncode == 0, proc.stderr

    assert _logged(tmp_path) == [
        ("cli", ANSWERABLE, 1, None, None),
        ("cli", UNANSWERABLE, 0, None, None),  # cleaned as on Discord
        ("cli", ANSWERABLE, 1, None, None),
        ("cli", UNANSWERABLE, 0, None, None),  # the blank line is not a question
    ]


def test_an_overlong_question_gets_the_discord_refusal(corpusbot: Run, tmp_path: Path) -> None:
    from bot.core import UserError, clean_question

    question = "why " * 2500
    with pytest.raises(UserError) as discord_refusal:
        clean_question(question)
    for args in (("ask", question), ("ask", "--json", question)):
        proc = corpusbot(*args)
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert _flat(str(discord_refusal.value)) in _flat(proc.stderr)
        assert "Traceback" not in proc.stderr
    assert _logged(tmp_path) == []


def test_an_overlong_question_on_stdin_keeps_the_other_lines(
    corpusbot: Run, tmp_path: Path
) -> None:
    """One refused line does not stop the others: each line still gets its object."""
    questions = [ANSWERABLE, "x" * 10_000, UNANSWERABLE, "  "]
    proc = corpusbot("ask", "--json", "--stdin", stdin="\n".join(questions) + "\n")
    assert proc.returncode == 0, proc.stderr
    payloads = _json_lines(proc.stdout)
    assert [p["question"] for p in payloads] == questions
    for payload, question in zip(payloads, questions, strict=True):
        _check_contract(payload, question)
    assert payloads[1]["answer"] is None and payloads[1]["passages"] == []
    assert payloads[3]["answer"] is None and payloads[3]["passages"] == []
    # each refused line's reason on a line of its own, unwrapped
    assert proc.stderr.splitlines() == [
        "line 2: Questions can be at most 300 characters (yours has 10000). Try a shorter one.",
        "line 4: Ask a question about the articles, e.g. `/ask Who is Dai Shan?`",
    ]
    assert [row[1] for row in _logged(tmp_path)] == [ANSWERABLE, UNANSWERABLE]


def test_ask_needs_a_question_or_stdin(corpusbot: Run) -> None:
    proc = corpusbot("ask")
    assert proc.returncode == 2
    assert "error:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_index_prints_counts_and_skipped_files(corpusbot: Run, write_corpus: WriteCorpus) -> None:
    corpus = write_corpus(
        {
            "bridge.txt": "Bridge reopens\n\nThe harbour bridge reopened on Sunday after work.\n",
            "bakery.txt": "Bakery wins\n\nThe corner bakery won the sourdough award on Friday.\n",
            "empty.txt": "",
            "photo.txt": b"\x89PNG\r\n\x1a\n\x00\x00",
        }
    )
    proc = corpusbot("index", CORPUSBOT_CORPUS=str(corpus))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "rebuilt" in out
    assert "documents  2" in out
    assert "passages   2" in out
    assert "skipped    2" in out
    assert "empty.txt: empty file" in out
    assert "photo.txt: binary file" in out
    assert "time" in out
    assert "2 added" in out

    again = corpusbot("index", CORPUSBOT_CORPUS=str(corpus))
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout
    assert "skipped    2" in again.stdout


def test_index_tells_the_bots_sharing_the_database_to_serve_a_new_build(
    corpusbot: Run, write_corpus: WriteCorpus, tmp_path: Path
) -> None:
    """`corpusbot index` publishes a rebuild as /reindex does: the generation the running
    bots follow is bumped and the new articles are recorded for digests; an unchanged
    corpus tells nobody, and with no database yet there is no bot to tell."""
    corpus = write_corpus(
        {"bridge.txt": "Bridge reopens\n\nThe harbour bridge reopened on Sunday.\n"}
    )
    database = tmp_path / "data" / "bot.db"
    first = corpusbot("index", CORPUSBOT_CORPUS=str(corpus))
    assert first.returncode == 0, first.stderr
    assert "bots       none yet (no database)" in first.stdout
    assert not database.exists()

    asked = corpusbot("ask", "When did the bridge reopen?", CORPUSBOT_CORPUS=str(corpus))
    assert asked.returncode == 0, asked.stderr  # a bot has run: the database exists
    (corpus / "bakery.txt").write_text(
        "Bakery wins\n\nThe corner bakery won the sourdough award on Friday.\n", encoding="utf-8"
    )
    rebuilt = corpusbot("index", CORPUSBOT_CORPUS=str(corpus))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "bots       told to serve it (index generation 1)" in rebuilt.stdout
    unchanged = corpusbot("index", CORPUSBOT_CORPUS=str(corpus))
    assert unchanged.returncode == 0, unchanged.stderr
    assert "  bots  " not in unchanged.stdout

    with contextlib.closing(sqlite3.connect(database)) as conn:
        generation = conn.execute(
            "SELECT value FROM bot_state WHERE key = 'index.generation'"
        ).fetchone()
        titles = {row[0] for row in conn.execute("SELECT title FROM documents")}
    assert generation == ("1",)
    assert titles == {"Bridge reopens", "Bakery wins"}


def test_index_lives_beside_the_database_by_default(corpusbot: Run, tmp_path: Path) -> None:
    proc = corpusbot("index", CORPUSBOT_INDEX=None)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "bot.index" / "CURRENT").is_file()
    assert not (tmp_path / "index").exists()


def test_index_goes_where_corpusbot_index_says(corpusbot: Run, tmp_path: Path) -> None:
    proc = corpusbot("ask", "--json", ANSWERABLE)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "index" / "CURRENT").is_file()


@pytest.mark.parametrize("args", [("index",), ("ask", ANSWERABLE), ("ask", "--json", "--stdin")])
def test_missing_corpus_folder_is_a_clear_error(
    corpusbot: Run, tmp_path: Path, args: tuple[str, ...]
) -> None:
    missing = tmp_path / "no-such-corpus"
    proc = corpusbot(*args, stdin="", CORPUSBOT_CORPUS=str(missing))
    assert proc.returncode == 2
    assert "error:" in proc.stderr
    assert "does not exist" in _flat(proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_corpus_without_articles_is_a_clear_error(
    corpusbot: Run, write_corpus: WriteCorpus
) -> None:
    corpus = write_corpus({"readme.md": "not an article"})
    proc = corpusbot("index", CORPUSBOT_CORPUS=str(corpus))
    assert proc.returncode == 2
    assert "error:" in proc.stderr
    assert "no usable articles" in _flat(proc.stderr)
    assert "Traceback" not in proc.stderr


def test_invalid_setting_is_a_clear_error(corpusbot: Run) -> None:
    proc = corpusbot("ask", ANSWERABLE, CORPUSBOT_ADMIN_IDS="abc")
    assert proc.returncode == 2
    assert "error:" in proc.stderr
    assert "CORPUSBOT_ADMIN_IDS: not user ids: abc" in _flat(proc.stderr)
    assert "Traceback" not in proc.stderr


# --- the installed executable -----------------------------------------------------------


def test_executable_answers_stdin_questions_as_json_lines(corpusbot_process: Run) -> None:
    questions = [ANSWERABLE, "", UNANSWERABLE, "Wu Yongming 🚀 مرحبا"]
    proc = corpusbot_process("ask", "--json", "--stdin", stdin="\n".join(questions) + "\n")
    assert proc.returncode == 0, proc.stderr
    payloads = _json_lines(proc.stdout)
    assert [p["question"] for p in payloads] == questions
    for payload, question in zip(payloads, questions, strict=True):
        _check_contract(payload, question)
    assert payloads[0]["answer"]["doc_id"] == EMPLOYEE_004
    assert payloads[1]["answer"] is None
    assert payloads[2]["answer"] is None


def test_executable_reports_a_missing_corpus_without_a_traceback(
    corpusbot_process: Run, tmp_path: Path
) -> None:
    proc = corpusbot_process("ask", ANSWERABLE, CORPUSBOT_CORPUS=str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error:")
    assert "does not exist" in _flat(proc.stderr)
    assert "Traceback" not in proc.stderr


# --- stats ------------------------------------------------------------------------------

UNANSWERED_VARIANTS = [
    "Who is the mayor of Reykjavik?",
    "who is the MAYOR of reykjavik",
    "Who  is the mayor of Reykjavik ?!",
]


def _seed_log(corpusbot: Run, tmp_path: Path) -> Path:
    """Questions asked through the command line, then votes as Discord users cast them."""
    questions = [ANSWERABLE, ANSWERABLE, *UNANSWERED_VARIANTS, "Who is Dai Shan?"]
    proc = corpusbot("ask", "--json", "--stdin", stdin="\n".join(questions) + "\n")
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "data" / "bot.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.executemany(
            "INSERT INTO feedback (query_id, user_id, vote, reason, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 0, ?)",
            [(1, 7, 1, None, 1.0), (1, 8, -1, "too short", 2.0), (3, 7, -1, "@everyone no", 3.0)],
        )
    return db


def test_stats_json_equals_a_direct_count_of_the_log(corpusbot: Run, tmp_path: Path) -> None:
    db = _seed_log(corpusbot, tmp_path)

    proc = corpusbot("stats", "--json")
    assert proc.returncode == 0, proc.stderr
    [report] = _json_lines(proc.stdout)

    with contextlib.closing(sqlite3.connect(db)) as conn:
        count = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        latencies = [r[0] for r in conn.execute("SELECT latency_ms FROM queries ORDER BY 1")]
        assert report["questions"] == count("SELECT COUNT(*) FROM queries") == 6
        assert report["answered"] == count("SELECT COUNT(*) FROM queries WHERE answered = 1")
        assert report["not_answered"] == count("SELECT COUNT(*) FROM queries WHERE answered = 0")
        assert report["votes_up"] == count("SELECT COUNT(*) FROM feedback WHERE vote = 1") == 1
        assert report["votes_down"] == count("SELECT COUNT(*) FROM feedback WHERE vote = -1") == 2
        today = count("SELECT date(MAX(created_at), 'unixepoch') FROM queries")
    # nearest-rank percentiles of the logged latencies
    assert report["latency_ms"]["p50"] == latencies[math.ceil(0.50 * len(latencies)) - 1]
    assert report["latency_ms"]["p95"] == latencies[math.ceil(0.95 * len(latencies)) - 1]
    assert report["unanswered"][0] == {
        "question": report["unanswered"][0]["question"],
        "count": 3,
        "last_asked": report["unanswered"][0]["last_asked"],
    }
    assert report["unanswered"][0]["question"] in [" ".join(v.split()) for v in UNANSWERED_VARIANTS]
    assert sum(g["count"] for g in report["unanswered"]) == report["not_answered"]
    assert report["by_day"][-1]["day"] == today
    assert sum(d["questions"] for d in report["by_day"]) == 6
    assert sum(d["answered"] for d in report["by_day"]) == report["answered"]
    assert len(report["by_day"]) == 8  # the last 7 days reach into an 8th calendar day
    assert report["by_source"] == {"discord": 0, "console": 0, "cli": 6}
    assert [r["reason"] for r in report["downvote_reasons"]] == ["@everyone no", "too short"]
    assert report["period"] == "week"


def test_stats_text_report_lists_grouped_unanswered_questions(
    corpusbot: Run, tmp_path: Path
) -> None:
    _seed_log(corpusbot, tmp_path)
    proc = corpusbot("stats", "--period", " ALL")  # the period in any case
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("corpusbot stats · all time\n")
    assert "Questions: 6 · " in out
    assert "Feedback: 👍 1 · 👎 2" in out
    assert "Unanswered questions (most asked first)" in out
    assert sum(f"3× {' '.join(v.split())}" in out for v in UNANSWERED_VARIANTS) == 1
    assert "Latest 👎 reasons" in out
    articles = out[out.index("Most asked-about articles") :]
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "bot.db")) as conn:
        asked, answered = conn.execute(
            "SELECT COUNT(*), SUM(answered) FROM queries WHERE COALESCE(answer_doc_id, "
            "json_extract(top_hits, '$[0].doc_id')) = ?",
            (EMPLOYEE_004,),
        ).fetchone()
    assert f"{asked}× Employee No. 004 saves Ali ({answered} answered)" in articles
    assert EMPLOYEE_004 in articles


def test_stats_chart_and_csv(corpusbot: Run, tmp_path: Path) -> None:
    _seed_log(corpusbot, tmp_path)
    chart, table = tmp_path / "chart.png", tmp_path / "log.csv"

    proc = corpusbot("stats", "--json", "--chart", str(chart), "--csv", str(table))
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)  # the notes about the files go to standard error

    png = chart.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1000, 750)
    assert len(png) < 1_000_000

    with table.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    assert list(rows[0]) == [
        "id", "time", "source", "question", "answered", "top_article", "latency_ms",
        "votes_up", "votes_down", "reason",
    ]  # fmt: skip
    assert rows[0]["question"] == ANSWERABLE
    assert (rows[0]["answered"], rows[0]["top_article"]) == ("yes", EMPLOYEE_004)
    assert (rows[0]["votes_up"], rows[0]["votes_down"], rows[0]["reason"]) == (
        "1",
        "1",
        "too short",
    )
    assert rows[2]["answered"] == "no"
    assert rows[2]["top_article"]  # the closest article even when not answered
    assert rows[2]["reason"] == "'@everyone no"  # a leading @ could start a formula
    assert all(r["source"] == "cli" and r["time"].endswith("Z") for r in rows)


def test_stats_csv_defuses_spreadsheet_formulas(corpusbot: Run, tmp_path: Path) -> None:
    assert corpusbot("ask", '=HYPERLINK("http://x") who is Dai Shan').returncode == 0
    table = tmp_path / "log.csv"
    assert corpusbot("stats", "--csv", str(table)).returncode == 0
    with table.open(newline="", encoding="utf-8") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["question"] == '\'=HYPERLINK("http://x") who is Dai Shan'


def test_stats_bad_input_is_a_clear_error(corpusbot: Run, tmp_path: Path) -> None:
    missing = corpusbot("stats")
    assert missing.returncode == 2
    assert "no database at" in _flat(missing.stderr)

    _seed_log(corpusbot, tmp_path)
    period = corpusbot("stats", "--period", "year")
    assert period.returncode == 2
    assert "--period must be one of day, week, month, all" in _flat(period.stderr)

    nowhere = tmp_path / "no-such-folder" / "chart.png"
    folder = corpusbot("stats", "--chart", str(nowhere))
    assert folder.returncode == 2
    assert "does not exist" in _flat(folder.stderr)
    assert not nowhere.parent.exists()
    for proc in (missing, period, folder):
        assert proc.stdout == ""
        assert "Traceback" not in proc.stderr


def test_ask_imports_only_what_it_uses(cli_env: dict[str, str], workdir: Path) -> None:
    """No plotting library, no discord.py, no rich (the answer is plain text), no typo
    correction's rapidfuzz for a question without typos, no pydantic, and on a
    small index no numba: a one-shot question pays for none of them (see the README's
    performance section)."""
    probe = (
        "import sys\n"
        "from bot.cli import main\n"
        "sys.argv = ['corpusbot', 'ask', '--json', 'Who is Dai Shan?']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "for name in ('matplotlib', 'discord', 'numba', 'rich', 'rapidfuzz',"
        " 'pydantic'):\n"
        "    print(name, 'imported:', name in sys.modules, file=sys.stderr)"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CORPUSBOT_", "DISCORD_"))}
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**environ, **cli_env},
        cwd=workdir,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answer"] is not None
    assert "matplotlib imported: False" in proc.stderr
    assert "discord imported: False" in proc.stderr
    assert "numba imported: False" in proc.stderr
    assert "rich imported: False" in proc.stderr
    assert "rapidfuzz imported: False" in proc.stderr
    assert "pydantic imported: False" in proc.stderr


def test_ask_json_stdin_prints_valid_utf8_json_whatever_the_input_bytes(
    cli_env: dict[str, str], workdir: Path
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CORPUSBOT_", "DISCORD_"))}
    environ.update(cli_env, PYTHONIOENCODING="", LC_ALL="C")
    raw = b"bad \xff\nWu Yongming \xe5\xbc\nplain?\r\n\xed\xa0\x80 surrogate\n"
    proc = subprocess.run(
        [*COMMAND, "ask", "--json", "--stdin"],
        input=raw,
        capture_output=True,
        env=environ,
        cwd=workdir,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode("utf-8").splitlines()  # strict: valid UTF-8
    questions = [json.loads(line)["question"] for line in lines]
    assert questions == [
        "bad \ufffd",
        "Wu Yongming \ufffd",
        "plain?",
        "\ufffd\ufffd\ufffd surrogate",
    ]


def test_run_with_discord_unreachable_is_one_clear_error(
    corpusbot_process: Run, tmp_path: Path
) -> None:
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
    proc = corpusbot_process(
        "run", DISCORD_TOKEN=token, DISCORD_API_BASE="http://127.0.0.1:9/api/v10"
    )
    assert proc.returncode == 1
    assert "cannot reach Discord at http://127.0.0.1:9/api/v10" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pseudo-terminal")
def test_the_console_at_a_terminal_edits_lines_and_recalls_earlier_ones(
    cli_env: dict[str, str], workdir: Path
) -> None:
    """At a terminal the console reads lines with readline: the up arrow brings back the
    last question (it had been asked as "[A"), and the left arrow moves in the line."""
    import pty
    import select
    import time

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CORPUSBOT_", "DISCORD_"))}
    environ.update(cli_env, TERM="xterm", INPUTRC="/dev/null")
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [*COMMAND, "console"],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env=environ,
        cwd=workdir,
        close_fds=True,
    )
    os.close(child_fd)
    seen = b""

    def read_until(marker: bytes, timeout: float = 90) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([main_fd], [], [], 1)
            if ready:
                with contextlib.suppress(OSError):
                    seen += os.read(main_fd, 65536)

    try:
        read_until(b"corpusbot> ")
        os.write(main_fd, b"Who is Dai Shan?\r")
        read_until(b"/vote 1 up")
        os.write(main_fd, b"\x1b[A\r")  # up arrow: the same question again
        read_until(b"/vote 2 up")
        os.write(main_fd, b"/stats al\x1b[Dl\r")  # "/stats al", left, "l": "/stats all"
        read_until(b"Questions: 2")
        os.write(main_fd, b"/quit\r")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main_fd)
    with sqlite3.connect(cli_env["CORPUSBOT_DB"]) as db:
        asked = [q for (q,) in db.execute("SELECT question FROM queries ORDER BY id")]
    assert asked == ["Who is Dai Shan?", "Who is Dai Shan?"]


def test_backup_to_an_empty_path_is_refused(corpusbot: Run, workdir: Path) -> None:
    proc = corpusbot("backup", "  ")
    assert proc.returncode == 2
    assert "give the file or folder to write the backup to" in _flat(proc.stderr)
    assert list(workdir.iterdir()) == []  # nothing written where it was run


def test_an_unusable_index_folder_says_which_setting_put_it_there(
    corpusbot: Run, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")

    beside = corpusbot(
        "ask", ANSWERABLE, CORPUSBOT_DB=str(blocker / "bot.db"), CORPUSBOT_INDEX=None
    )
    named = corpusbot("index", CORPUSBOT_INDEX=str(blocker / "index"))

    assert beside.returncode == named.returncode == 2
    assert "(beside CORPUSBOT_DB, as CORPUSBOT_INDEX is not set)" in _flat(beside.stderr)
    assert "(the folder CORPUSBOT_INDEX names)" in _flat(named.stderr)
