"""Properties over generated input, on a bounded budget: the corpus loader and cleaner,
the question cleaner, and the ``ask --json --stdin`` contract."""

from __future__ import annotations

import json
import tempfile
import unicodedata
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import json_line, read_lines
from bot.core import MAX_QUESTION_CHARS, UserError, clean_question, one_line
from retrieval.answer import answer_question
from retrieval.corpus import clean_article, load_corpus
from retrieval.index import Index
from tests.bot.test_cli import _check_contract as check_contract

# Bounded: a few seconds per test on a busy 2-core machine; the per-example deadline is
# generous so that a slow machine does not fail a correct example.
BUDGET = settings(
    max_examples=60,
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Text with what scraped articles hold: any Unicode, line breaks of every kind, markup.
messy_text = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=20),
        st.sampled_from(
            ["\n", "\r\n", "\r", "\u2028", "\t", "“", "’", "<b>", "&amp;", "Leave a Reply"]
        ),
    ),
    max_size=40,
).map("".join)


@BUDGET
@given(raw=messy_text)
def test_cleaning_any_text_gives_a_title_and_clean_paragraphs(raw: str) -> None:
    title, paragraphs, bylines = clean_article(raw)
    assert isinstance(title, str)
    assert all(p and p == p.strip() and "\n" not in p for p in paragraphs)
    assert all(isinstance(b, str) and b for b in bylines)
    assert clean_article(raw) == (title, paragraphs, bylines)  # deterministic


@BUDGET
@given(
    files=st.dictionaries(
        st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True),
        st.one_of(st.binary(max_size=300), messy_text.map(lambda t: t.encode("utf-8"))),
        max_size=6,
    )
)
def test_loading_any_files_reads_or_skips_each_with_a_reason(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, data in files.items():
            (folder / f"{name}.txt").write_bytes(data)
        result = load_corpus(folder)
    loaded = {d.doc_id for d in result.documents}
    skipped = {s.name.removesuffix(".txt") for s in result.skipped}
    assert loaded | skipped == set(files) and not loaded & skipped
    assert all(s.reason for s in result.skipped)
    assert all(d.paragraphs and all(d.paragraphs) for d in result.documents)


@BUDGET
@given(question=st.text(max_size=2 * MAX_QUESTION_CHARS))
def test_a_question_is_cleaned_or_refused_with_a_message(question: str) -> None:
    try:
        cleaned = clean_question(question)
    except UserError as exc:
        assert str(exc)
        assert not one_line(question) or len(one_line(question)) > MAX_QUESTION_CHARS
        return
    assert cleaned == one_line(question)
    assert 0 < len(cleaned) <= MAX_QUESTION_CHARS
    # one line of printable text: no control character, no run of spaces, no edge space
    assert not any(unicodedata.category(c) == "Cc" for c in cleaned)
    assert cleaned == " ".join(cleaned.split())
    assert clean_question(cleaned) == cleaned


@pytest.fixture(scope="module")
def index(seed_index: Index) -> Index:
    return seed_index


@BUDGET
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
            st.sampled_from([b"Who is Dai Shan?", b"Wu Yongming \xff Alibaba", b""]),
        ).map(lambda b: b.replace(b"\n", b" ")),
        min_size=1,
        max_size=4,
    )
)
def test_ask_json_stdin_prints_one_valid_utf8_contract_object_per_line(
    index: Index, lines: list[bytes]
) -> None:
    stdin = [line + b"\n" for line in lines]
    output = b"".join(json_line(answer_question(index, q).to_json()) for q in read_lines(stdin))
    printed = output.decode("utf-8").split("\n")  # strict: valid UTF-8 or it raises
    assert printed[-1] == ""
    objects = [json.loads(line) for line in printed[:-1]]
    assert len(objects) == len(lines)
    for obj, raw in zip(objects, lines, strict=True):
        check_contract(obj, raw.decode("utf-8", "replace").removesuffix("\r"))
