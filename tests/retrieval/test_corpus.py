"""Loading and cleaning scraped articles: the seed corpus and small synthetic ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrieval.corpus import (
    CorpusError,
    Document,
    SkipArticle,
    clean_article,
    load_corpus,
    read_article,
)
from tests.conftest import EMPLOYEE_004, WriteCorpus

CURLY = "‘’“”"

# Page furniture as it appears in scraped pages; none of it may reach an article's text.
FURNITURE = [
    "Leave a Reply",
    "Leave a Comment",
    "Back to top",
    "Source link",
    "Visit the original URL",
    "media coverage",
    "event tracking",
    "This article is reproduced from",
    "copyright belongs to the original author",
    "Required fields are marked",
    "Your email address will not be published",
]

# A synthetic article with every quirk the seed corpus has, on general news text.
SYNTHETIC = """GA4 (512093377)

City library opens a night reading room

City library opens a night reading room

Visit the original URL

The city library said on Monday that its new night reading room will stay open until midnight.

In this article

, the director explained that 300 volunteers signed up in the first week.

Readers praised the plan. This shows the importance of quiet

study space. Students said the room was always full.

The mayor called it “a small wonder”: the city’s budget ‘allowed’ two more rooms span>next year.

Source link

media coverage

Morning Post Evening News
event tracking

This article is reproduced from:
This site is for inclusion only, and the copyright belongs to the original author.

Leave a Reply

Your email address will not be published. Required fields are marked *

Back to top
"""


def _all_text(doc: Document) -> str:
    return "\n".join((doc.title, *doc.paragraphs))


# --- the seed corpus --------------------------------------------------------------------


def test_every_seed_article_loads_with_its_file_name_as_id(seeds_dir: Path) -> None:
    result = load_corpus(seeds_dir)
    assert result.skipped == []
    assert [d.doc_id for d in result.documents] == sorted(p.stem for p in seeds_dir.glob("*.txt"))
    assert all(doc.title and doc.paragraphs for doc in result.documents)


def test_seed_tracking_id_line_is_not_the_title(seed_documents: dict[str, Document]) -> None:
    doc = seed_documents[EMPLOYEE_004]
    assert doc.title == "Employee No. 004 saves Ali"
    assert "GA4" not in doc.text
    assert "398745346" not in doc.text


def test_seed_duplicated_title_line_is_not_repeated_in_body(
    seed_documents: dict[str, Document],
) -> None:
    doc = seed_documents[EMPLOYEE_004]
    assert doc.title not in doc.paragraphs
    assert doc.title not in doc.text


@pytest.mark.parametrize("furniture", FURNITURE)
def test_seed_furniture_is_gone(seed_documents: dict[str, Document], furniture: str) -> None:
    for doc in seed_documents.values():
        assert furniture.casefold() not in _all_text(doc).casefold(), doc.doc_id


@pytest.mark.parametrize(
    ("doc_id", "sentence"),
    [
        # Last real sentences, right above the furniture at the end of each page.
        ("000_7a46dadf526371bf", "to pay by WeChat, Alipay is too small."),
        ("003_9a4ce96881302217", "It is very difficult to take over Taobao"),
        (EMPLOYEE_004, "Ammunition should be concentrated on the core areas."),
        ("003_9a4ce96881302217", "Dai Shan shared several cultures"),
        (EMPLOYEE_004, "Alibaba Cloud's revenue was 27.648 billion yuan"),
    ],
)
def test_seed_real_sentences_near_furniture_stay(
    seed_documents: dict[str, Document], doc_id: str, sentence: str
) -> None:
    assert sentence in seed_documents[doc_id].text


def test_seed_sentence_split_after_in_this_article_is_joined(
    seed_documents: dict[str, Document],
) -> None:
    doc = seed_documents["000_7a46dadf526371bf"]
    assert "In this article" not in doc.paragraphs
    assert any(
        p.startswith("In this article, Ma ridicule tone requirements") for p in doc.paragraphs
    )
    assert not any(p.startswith(",") for p in doc.paragraphs)


def test_seed_sentence_split_before_wireless_service_is_joined(
    seed_documents: dict[str, Document],
) -> None:
    doc = seed_documents["000_7a46dadf526371bf"]
    assert any(
        p.startswith("This shows the importance of Ma wireless service.") for p in doc.paragraphs
    )
    assert "This shows the importance of Ma" not in doc.paragraphs


def test_seed_curly_quotes_and_apostrophes_are_normalized(
    seed_documents: dict[str, Document],
) -> None:
    for doc in seed_documents.values():
        text = _all_text(doc)
        assert not any(ch in text for ch in CURLY), doc.doc_id
    doc = seed_documents[EMPLOYEE_004]
    assert '"1+6+N"' in doc.text
    assert "Dai Shan's position will be taken over" in doc.text


def test_seed_stray_tag_fragment_is_removed(seed_documents: dict[str, Document]) -> None:
    doc = seed_documents["002_20860fa90339b72b"]
    assert "span>" not in doc.text
    assert "the new finance is Ant Financial" in doc.text
    assert "I personally feel that the new concept proposed by Jack Ma" in doc.text


# --- a synthetic article with the same quirks -------------------------------------------


@pytest.fixture
def synthetic(write_corpus: WriteCorpus) -> Document:
    folder = write_corpus({"library.txt": SYNTHETIC})
    return read_article(folder / "library.txt")


def test_synthetic_tracking_line_skipped_and_title_found(synthetic: Document) -> None:
    assert synthetic.doc_id == "library"
    assert synthetic.title == "City library opens a night reading room"
    assert "GA4" not in synthetic.text
    assert "512093377" not in synthetic.text


def test_synthetic_duplicated_title_not_in_body(synthetic: Document) -> None:
    assert synthetic.title not in synthetic.text


@pytest.mark.parametrize("furniture", [*FURNITURE, "Morning Post Evening News"])
def test_synthetic_furniture_is_gone(synthetic: Document, furniture: str) -> None:
    assert furniture.casefold() not in _all_text(synthetic).casefold()


def test_synthetic_real_sentences_stay(synthetic: Document) -> None:
    text = synthetic.text
    assert text.startswith("The city library said on Monday that its new night reading room")
    assert "Students said the room was always full." in text
    assert "two more rooms next year." in text


def test_synthetic_split_sentences_are_joined(synthetic: Document) -> None:
    assert (
        "In this article, the director explained that 300 volunteers signed up in the first week."
        in synthetic.paragraphs
    )
    assert any("This shows the importance of quiet study space." in p for p in synthetic.paragraphs)


def test_synthetic_quotes_normalized_and_tag_fragment_removed(synthetic: Document) -> None:
    text = synthetic.text
    assert not any(ch in text for ch in CURLY)
    assert "called it \"a small wonder\": the city's budget 'allowed'" in text
    assert "span>" not in text


def test_clean_article_title_paragraphs_and_byline() -> None:
    raw = (
        "Harbour bridge reopens\r\n\r\nBy Jane Roe\r\n\r\n"
        "The harbour bridge reopened on Sunday after a two-year repair.\r\n"
    )
    title, paragraphs, bylines = clean_article(raw)
    assert title == "Harbour bridge reopens"
    assert paragraphs[-1] == "The harbour bridge reopened on Sunday after a two-year repair."
    assert bylines == ["By Jane Roe"]


@pytest.mark.parametrize(
    "line", ["Editor|Li Wei", "Editor | Li Wei", "Text｜Zhang San", "By Jane Roe"]
)
def test_credit_lines_are_read_with_or_without_spaces_around_the_separator(line: str) -> None:
    raw = f"Harbour bridge reopens\n\n{line}\n\nThe harbour bridge reopened on Sunday.\n"
    assert clean_article(raw)[2] == [line]


def test_article_starting_with_prose_gets_its_first_sentence_as_title() -> None:
    raw = (
        "The harbour bridge reopened on Sunday after a two-year repair that cost the city far "
        "more than planned, officials said in a statement that was read aloud to reporters at "
        "the ceremony on the east bank of the river. Traffic resumed at noon.\n"
    )
    title, paragraphs, _ = clean_article(raw)
    assert raw.startswith(title.rstrip("…"))
    assert len(title) <= 121
    assert paragraphs and "Traffic resumed at noon." in paragraphs[0]


def test_utf8_bom_is_not_part_of_the_title(write_corpus: WriteCorpus) -> None:
    folder = write_corpus({"bom.txt": "\ufeffBridge reopens\n\nThe bridge reopened on Sunday.\n"})
    assert read_article(folder / "bom.txt").title == "Bridge reopens"


# --- files that are not articles ----------------------------------------------------------

GOOD = "Bridge reopens\n\nThe harbour bridge reopened on Sunday after a two-year repair.\n"


def test_bad_files_are_skipped_with_reasons_and_the_rest_load(write_corpus: WriteCorpus) -> None:
    folder = write_corpus(
        {
            "a_good.txt": GOOD,
            "b_empty.txt": "",
            "c_latin1.txt": "Café opens\n\nThe café on the corner opened on Sunday.\n".encode(
                "latin-1"
            ),
            "d_binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
            "e_huge.txt": b"word " * (6 * 1024 * 1024 // 5),
            "f_furniture.txt": "Leave a Reply\n\nBack to top\n\nSource link\n\nLeave a Comment\n",
            "g_good.txt": GOOD.replace("harbour", "river"),
            "notes.md": "not an article",
        }
    )
    result = load_corpus(folder)
    assert [d.doc_id for d in result.documents] == ["a_good", "g_good"]
    reasons = {s.name: s.reason for s in result.skipped}
    assert set(reasons) == {
        "b_empty.txt",
        "c_latin1.txt",
        "d_binary.txt",
        "e_huge.txt",
        "f_furniture.txt",
    }
    assert "empty" in reasons["b_empty.txt"]
    assert "UTF-8" in reasons["c_latin1.txt"]
    assert "binary" in reasons["d_binary.txt"]
    assert "too large" in reasons["e_huge.txt"]
    assert "no article text" in reasons["f_furniture.txt"]


def test_size_limit_is_applied(write_corpus: WriteCorpus) -> None:
    folder = write_corpus({"a.txt": GOOD})
    with pytest.raises(SkipArticle, match="too large"):
        read_article(folder / "a.txt", max_bytes=20)
    assert read_article(folder / "a.txt", max_bytes=len(GOOD)).doc_id == "a"


def test_progress_reports_every_file(write_corpus: WriteCorpus) -> None:
    folder = write_corpus({"a.txt": GOOD, "b.txt": "", "c.txt": GOOD})
    calls: list[tuple[int, int]] = []
    load_corpus(folder, progress=lambda n, total: calls.append((n, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_missing_folder_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "no-such-folder")


def test_file_instead_of_folder_is_a_corpus_error(tmp_path: Path) -> None:
    path = tmp_path / "article.txt"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(CorpusError, match="not a folder"):
        load_corpus(path)


def test_folder_without_txt_files_has_no_documents(write_corpus: WriteCorpus) -> None:
    result = load_corpus(write_corpus({"readme.md": GOOD, "data.csv": "a,b\n"}))
    assert result.documents == []
    assert result.skipped == []


def test_long_lines_of_coded_words_are_text_not_tracking_junk(tmp_path: Path) -> None:
    body = " ".join(f"w{n}" for n in range(40)) + "."
    (tmp_path / "codes.txt").write_text(f"Codes report\n\n{body}\n", encoding="utf-8")
    result = load_corpus(tmp_path)
    assert result.skipped == []
    assert result.documents[0].paragraphs == (body,)


# --- what is in the folder but not read --------------------------------------------------


def test_an_unreadable_corpus_folder_is_a_corpus_error_not_an_empty_one(
    seed_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("os.scandir", refuse)
    with pytest.raises(CorpusError, match=r"cannot read corpus folder .*Permission denied"):
        load_corpus(seed_copy)


def test_subfolders_links_and_special_files_are_listed_as_skipped_with_why(
    seed_copy: Path,
) -> None:
    sub = seed_copy / "archive"
    sub.mkdir()
    (sub / "old.txt").write_text("Old\n\nAn old article about Alibaba.\n", encoding="utf-8")
    (seed_copy / "loop.txt").symlink_to("loop.txt")
    (seed_copy / "broken.txt").symlink_to("nowhere.txt")
    os.mkfifo(seed_copy / "pipe.txt")
    (seed_copy / ".hidden").mkdir()

    result = load_corpus(seed_copy)

    assert len(result.documents) == 5
    reasons = {s.name: s.reason for s in result.skipped}
    assert set(reasons) == {"archive", "loop.txt", "broken.txt", "pipe.txt"}
    assert "sub-folder" in reasons["archive"]
    assert "link" in reasons["loop.txt"] and "link" in reasons["broken.txt"]
    assert reasons["pipe.txt"] == "not a regular file"
