"""The ``corpusbot`` command line against temporary paths.

Most tests call the console-script entry point in this process; a few run the installed
executable to check the real process: output streams, exit code, no traceback.
"""

from __future__ import annotations

import io
import json
import os
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
    """Text with line wrapping undone (the console wraps long error lines)."""
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
    proc = corpusbot("ask", ANSWERABLE)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Answer:" in out
    assert "Wu Yongming was born in Tonglu" in out
    assert "Employee No. 004 saves Ali" in out
    assert EMPLOYEE_004 in out
    assert "Sources:" in out
    assert " [1] " in out
    assert " [2] " in out
    assert out.index(" [1] ") < out.index(" [2] ")


def test_plain_ask_says_when_the_articles_do_not_answer(corpusbot: Run) -> None:
    proc = corpusbot("ask", UNANSWERABLE)
    assert proc.returncode == 0, proc.stderr
    assert "Not in these articles." in proc.stdout
    assert "Answer:" not in proc.stdout


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
