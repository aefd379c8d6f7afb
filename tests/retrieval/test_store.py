"""The index folder: only corpusbot's own builds are ever deleted, CURRENT always names a
build that exists, and a damaged build is detected and rebuilt, never loaded."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from retrieval import _store
from retrieval.build import open_index
from retrieval.index import IndexUnavailable


def _current(root: Path) -> Path:
    return root / (root / "CURRENT").read_text(encoding="ascii")


def _release_folder(parent: Path) -> Path:
    """A folder of someone else's, shaped like a build."""
    release = parent / "build-release"
    release.mkdir(parents=True)
    (release / "app.bin").write_bytes(b"x")
    return release


# --- data loss -------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["", "."])
def test_the_working_directory_is_refused_as_index_and_nothing_is_deleted(
    seed_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    project = tmp_path / "p"
    release = _release_folder(project)
    monkeypatch.chdir(project)
    with pytest.raises(IndexUnavailable, match=r"working directory|empty"):
        open_index(seed_copy, Path(setting), force=True)
    assert (release / "app.bin").read_bytes() == b"x"
    assert sorted(p.name for p in project.iterdir()) == ["build-release"]


def test_a_folder_corpusbot_did_not_make_is_refused_and_left_alone(
    seed_copy: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "existing"
    release = _release_folder(folder)
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(IndexUnavailable, match=r"did not make .*build-release"):
        open_index(seed_copy, folder, force=True)
    assert (release / "app.bin").exists() and (folder / "notes.txt").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["build-release", "notes.txt"]


def test_a_file_as_index_folder_is_refused_and_left_alone(seed_copy: Path, tmp_path: Path) -> None:
    target = tmp_path / "index"
    target.write_text("keep", encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="not a folder"):
        open_index(seed_copy, target)
    assert target.read_text(encoding="utf-8") == "keep"


def test_a_rebuild_prunes_only_builds_corpusbot_made(seed_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    old = _current(root)
    lookalike = root / "build-0123abcd-42"  # named like a build, without the marker
    lookalike.mkdir()
    (lookalike / "keep.me").write_text("mine", encoding="utf-8")

    open_index(seed_copy, root, force=True)

    assert not old.exists()
    assert (lookalike / "keep.me").read_text(encoding="utf-8") == "mine"
    assert _current(root).is_dir()


def test_an_index_folder_from_an_older_release_is_adopted_and_pruned(
    seed_copy: Path, tmp_path: Path
) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    old = _current(root)
    (root / _store.ROOT_MARKER).unlink()
    (old / _store.BUILD_MARKER).unlink()
    (root / ".lock").unlink()

    _, report = open_index(seed_copy, root)
    assert report.rebuilt is False
    open_index(seed_copy, root, force=True)
    assert not old.exists()


# --- concurrent builds -----------------------------------------------------------------


def test_concurrent_rebuilds_leave_current_naming_a_live_build(
    seed_copy: Path, tmp_path: Path
) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            for _ in range(3):
                start.wait()
                open_index(seed_copy, root, force=True)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=rebuild) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    current = _current(root)
    assert current.is_dir()
    _store.verify_build(current)
    assert [p.name for p in root.iterdir() if p.name.startswith("build-")] == [current.name]
    _, report = open_index(seed_copy, root)
    assert report.rebuilt is False


# --- what is loaded from disk ----------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [os.urandom(64), b"\xff\xfe\x00garbage", b"../../etc", b"", b"build-zz-1"],
    ids=["random", "not-utf8", "outside", "empty", "not-a-build"],
)
def test_a_garbled_current_file_is_ignored_and_the_index_rebuilt(
    seed_copy: Path, tmp_path: Path, garbage: bytes
) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    (root / "CURRENT").write_bytes(garbage)

    index, report = open_index(seed_copy, root)
    assert report.rebuilt is True
    assert index.document("004_58f90575acefb2b5") is not None
    assert _current(root).is_dir()
    open_index(seed_copy, root, force=True)  # and a forced rebuild works too


@pytest.mark.parametrize(
    "damaged", ["engine/run_stops.npy", "offsets.npy", "passages.bin", "meta.json"]
)
def test_a_damaged_index_file_is_detected_and_rebuilt_not_loaded(
    seed_copy: Path, tmp_path: Path, damaged: str
) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    broken = _current(root)
    path = broken / damaged
    path.write_bytes(os.urandom(path.stat().st_size))  # same size, random bytes

    with pytest.raises(_store.IndexFolderError, match="checksum"):
        _store.verify_build(broken)
    index, report = open_index(seed_copy, root)
    assert report.rebuilt is True
    assert _current(root) != broken and not broken.exists()
    assert index.search("Wu Yongming", k=1)


def test_a_build_without_its_manifest_is_rebuilt(seed_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    (_current(root) / _store.MANIFEST).unlink()
    _, report = open_index(seed_copy, root)
    assert report.rebuilt is True


def test_loading_an_untouched_build_hashes_nothing(
    seed_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"hashed {path}")

    monkeypatch.setattr(_store, "file_sha256", no_hashing)
    _, report = open_index(seed_copy, root)
    assert report.rebuilt is False


def test_pruning_keeps_a_build_another_live_process_serves(seed_copy: Path, tmp_path: Path) -> None:
    """Process B serves build X from a shared index folder; A's rebuilds never delete X
    while B lives, and do once B is gone (its record is cleared too)."""
    import subprocess
    import sys

    root = tmp_path / "idx"
    open_index(seed_copy, root)
    served = _current(root)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = root / f".serving-{other.pid}"
        record.write_text(served.name + "\n", encoding="ascii")
        open_index(seed_copy, root, force=True)
        open_index(seed_copy, root, force=True)
        assert served.is_dir(), "a build another live process serves was pruned"
        assert _current(root) != served
    finally:
        other.kill()
        other.wait()
    open_index(seed_copy, root, force=True)
    assert not served.exists()
    assert not record.exists()
    assert (root / f".serving-{os.getpid()}").read_text(encoding="ascii").strip() == (
        _current(root).name
    )


def test_a_process_leaves_no_serving_record_behind(seed_copy: Path, tmp_path: Path) -> None:
    """Each process records the build it serves; one that exits takes its record with
    it, and the record of one that was killed goes at the next open, rebuild or not."""
    import subprocess
    import sys

    root = tmp_path / "idx"
    open_index(seed_copy, root)
    opener = (
        "from pathlib import Path; from retrieval.build import open_index; "
        f"open_index(Path({str(seed_copy)!r}), Path({str(root)!r}))"
    )
    for _ in range(3):  # one-shot commands
        subprocess.run([sys.executable, "-c", opener], check=True, timeout=300)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (root / f".serving-{gone.pid}").write_text(_current(root).name + "\n", encoding="ascii")
    open_index(seed_copy, root)
    assert sorted(p.name for p in root.glob(".serving-*")) == [f".serving-{os.getpid()}"]


def test_a_cache_folder_is_published_once_and_builds_are_left_alone(
    seed_copy: Path, tmp_path: Path
) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    build = _current(root)

    def writer(content: bytes):
        return lambda folder: (folder / "data.bin").write_bytes(content)

    first = _store.publish_cache(root, "thing-aaaa", writer(b"first"))
    assert first == root / "thing-aaaa"
    _store.verify_build(first)
    # the same name published meanwhile by another process: the one in place is kept
    assert _store.publish_cache(root, "thing-aaaa", writer(b"second")) == first
    assert (first / "data.bin").read_bytes() == b"first"
    # another key of the same kind replaces it, and what a writer that died left behind
    # goes; the index's builds are untouched
    dead = root / ".staging-999999999-1"
    dead.mkdir()
    (dead / _store.BUILD_MARKER).touch()
    assert _store.publish_cache(root, "thing-bbbb", writer(b"new")) == root / "thing-bbbb"
    assert not first.exists() and _current(root) == build
    assert not [p for p in root.iterdir() if p.name.startswith(".staging-")]
    # not an index folder: nothing is written
    assert _store.publish_cache(tmp_path / "other", "thing-aaaa", writer(b"x")) is None
    assert not (tmp_path / "other").exists()
