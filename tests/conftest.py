"""Fixtures shared by the retrieval and command-line tests.

The seed corpus is the bundled ``seeds/`` folder; tests that change a corpus work on a
copy in a temporary folder, and every index is built under a temporary root.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from retrieval.build import open_index
from retrieval.corpus import Document, load_corpus
from retrieval.index import Index
from tests.pgserver import PgServer, running_server

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

# The article whose first line is an analytics id and whose title line is repeated.
EMPLOYEE_004 = "004_58f90575acefb2b5"

WriteCorpus = Callable[[Mapping[str, str | bytes]], Path]


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    """The bundled seed corpus (read-only: copy it before changing anything)."""
    assert SEEDS.is_dir(), f"seed corpus missing at {SEEDS}"
    return SEEDS


@pytest.fixture(scope="session")
def seed_documents(seeds_dir: Path) -> dict[str, Document]:
    """The cleaned seed articles by document id."""
    result = load_corpus(seeds_dir)
    return {doc.doc_id: doc for doc in result.documents}


@pytest.fixture(scope="session")
def seed_index(seeds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Index:
    """An index over the seed corpus, built once per test session in a temporary root."""
    index, _ = open_index(seeds_dir, tmp_path_factory.mktemp("seed-index") / "index")
    return index


@pytest.fixture
def seed_copy(seeds_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the seed corpus that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(seeds_dir, target)
    return target


@pytest.fixture
def write_corpus(tmp_path: Path) -> WriteCorpus:
    """Write {file name: text or bytes} into a fresh corpus folder and return the folder."""
    counter = 0

    def write(files: Mapping[str, str | bytes]) -> Path:
        nonlocal counter
        counter += 1
        folder = tmp_path / f"corpus-{counter}"
        folder.mkdir()
        for name, content in files.items():
            path = folder / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return folder

    return write


def describes_dai_shan(text: str) -> bool:
    """Whether an answer to "Who is Dai Shan?" gives her role: the articles call her the
    president of Alibaba's domestic digital business and the former CEO of Taotian."""
    lowered = text.lower()
    return "president" in lowered or "ceo of taotian" in lowered


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A private PostgreSQL server for the whole session (Unix socket only)."""
    with running_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty PostgreSQL database for one test."""
    return pg_server.create_database()
