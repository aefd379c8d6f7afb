"""The index folder on disk: whose it is, which build is live, and whether a build is intact.

A root folder holds a marker naming it corpusbot's, a ``CURRENT`` file naming the live
build, and build folders, each with its own marker and a manifest of its files' sizes
and SHA-256 digests. Nothing is deleted that does not carry corpusbot's marker; a root
that is the working directory, or a non-empty folder corpusbot did not make, is refused.
Publishing and pruning hold an exclusive lock on the root and loading a shared one, so
concurrent builders never prune the build another one just made live, nor one being read.
Each process also records the build it serves (``.serving-<pid>``); pruning keeps those
of every other live process, so a build another process serves, or is writing (its
staging folder names its pid), is never deleted.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from retrieval.liveness import process_alive

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "BUILD_MARKER",
    "CURRENT",
    "MANIFEST",
    "ROOT_MARKER",
    "IndexFolderError",
    "claim_root",
    "current_build",
    "file_sha256",
    "publish",
    "publish_cache",
    "reading",
    "serve",
    "verify_build",
]

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
ROOT_MARKER = ".corpusbot-index"
BUILD_MARKER = ".corpusbot-build"
MANIFEST = "MANIFEST.json"
_LOCK = ".lock"
_STAGING = ".staging-"
_SERVING = ".serving-"
_BUILD_NAME = re.compile(r"build-[0-9a-f]{1,64}-[0-9]{1,20}")
_HASH_CHUNK = 1 << 20
_OWN_FILES = {ROOT_MARKER, CURRENT, _LOCK}


class IndexFolderError(Exception):
    """The index folder cannot be used safely, or a build in it is damaged."""


# --- the root --------------------------------------------------------------------------


def claim_root(root: Path) -> None:
    """Make sure ``root`` is corpusbot's index folder, creating it if needed.

    Refused (IndexFolderError): the working directory, a path that is not a folder, and
    a non-empty folder without corpusbot's marker. A folder an older release made
    (only ``CURRENT`` and ``build-*`` folders holding ``meta.json``) is adopted."""
    if not str(root).strip():
        raise IndexFolderError("the index folder is empty; leave CORPUSBOT_INDEX unset")
    resolved = root.resolve()
    if resolved == Path.cwd().resolve():
        raise IndexFolderError(
            f"refusing to use the working directory {resolved} as the index folder: "
            "set CORPUSBOT_INDEX to a folder of its own, or leave it unset"
        )
    if (root / ROOT_MARKER).is_file():
        return
    if root.exists() and not root.is_dir():
        raise IndexFolderError(f"the index folder {root} exists and is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise IndexFolderError(f"cannot use the index folder {root}: {exc}") from None
    foreign = [e.name for e in entries if not _made_by_an_older_release(e)]
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise IndexFolderError(
            f"refusing to use {root} as the index folder: it holds files corpusbot did not "
            f"make ({shown}). Set CORPUSBOT_INDEX to a new or empty folder."
        )
    try:
        for entry in entries:
            if entry.is_dir():
                (entry / BUILD_MARKER).touch()
        (root / ROOT_MARKER).write_text("corpusbot index folder\n", encoding="utf-8")
    except OSError as exc:
        raise IndexFolderError(f"cannot use the index folder {root}: {exc}") from None
    if entries:
        log.info("adopted the index folder %s made by an older release", root)


def _made_by_an_older_release(entry: Path) -> bool:
    if entry.name == CURRENT or (
        entry.name.startswith((".CURRENT.", _SERVING)) and entry.is_file()
    ):
        return not entry.is_symlink()
    return (
        _BUILD_NAME.fullmatch(entry.name) is not None
        and entry.is_dir()
        and not entry.is_symlink()
        and (entry / "meta.json").is_file()
    )


@contextlib.contextmanager
def _locked(root: Path, exclusive: bool) -> Iterator[None]:
    """An advisory lock on the root (shared to read, exclusive to publish)."""
    if fcntl is None:
        yield
        return
    try:
        fh = (root / _LOCK).open("a+b")
    except OSError:  # a read-only folder: nobody can publish there either
        yield
        return
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# --- the live build --------------------------------------------------------------------


def current_build(root: Path) -> Path | None:
    """The build ``CURRENT`` names, or None when there is none or it is garbled."""
    try:
        raw = (root / CURRENT).read_bytes()[:200]
    except OSError:
        return None
    try:
        name = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        name = None
    if not name or _BUILD_NAME.fullmatch(name) is None:
        log.warning("ignoring %s: it does not name a build (%r)", root / CURRENT, raw[:40])
        return None
    return root / name


@contextlib.contextmanager
def reading(root: Path) -> Iterator[Path | None]:
    """The live build, which no publisher prunes while the block runs."""
    with _locked(root, exclusive=False):
        yield current_build(root)


def serve(root: Path, build: Path) -> None:
    """Record that this process now serves ``build``, so that no other process prunes
    it; the record goes when the process exits (one killed leaves it to the next
    process that opens the folder). Call with a lock on the root held."""
    path = root / f"{_SERVING}{os.getpid()}"
    tmp = root / f"{_SERVING}{os.getpid()}.tmp"
    try:
        tmp.write_text(build.name + "\n", encoding="ascii")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only folder: nobody prunes there either
        log.debug("cannot record the served build in %s: %s", root, exc)
        return
    if path not in _records:
        _records.add(path)
        if len(_records) == 1:
            atexit.register(_forget_records)
    _served_by_others(root)  # clears the records of processes that are gone


# this process's .serving-<pid> files, removed at exit (a one-shot `ask` leaves none)
_records: set[Path] = set()


def _forget_records() -> None:
    for path in _records:
        # a forked child inherits the set: only the process named may remove its file
        if path.name == f"{_SERVING}{os.getpid()}":
            with contextlib.suppress(OSError):
                path.unlink()


def _served_by_others(root: Path) -> set[str]:
    """Builds the other live processes' ``.serving-<pid>`` files name; files of
    processes that are gone are removed. (This process's own earlier build may go: the
    questions still reading it hold its files open or mapped.)"""
    names: set[str] = set()
    for path in root.glob(f"{_SERVING}*"):
        pid = path.name.removeprefix(_SERVING)
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        if not process_alive(int(pid)):
            path.unlink(missing_ok=True)
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError):
            names.update(path.read_text(encoding="ascii").split())
    return names


def publish(root: Path, prefix: str, save: Callable[[Path], None]) -> Path:
    """Write a build with ``save(folder)`` into a staging folder, record its manifest,
    then rename it into place, make it ``CURRENT`` and prune older builds."""
    with _staged(root, save) as staging, _locked(root, exclusive=True):
        name = f"{prefix}-{time.time_ns()}"
        target = root / name
        os.rename(staging, target)
        pointer = root / f".{CURRENT}.{os.getpid()}.tmp"
        pointer.write_text(name, encoding="ascii")
        os.replace(pointer, root / CURRENT)
        serve(root, target)
        _prune(root, keep=name)
    return target


@contextlib.contextmanager
def _staged(root: Path, save: Callable[[Path], None]) -> Iterator[Path]:
    """A staging folder in root holding ``save(folder)``'s files, the build marker and
    a manifest, for the block to rename into place; removed if the block (or save)
    fails."""
    staging = root / f"{_STAGING}{os.getpid()}-{time.time_ns()}"
    staging.mkdir()
    try:
        (staging / BUILD_MARKER).touch()
        save(staging)
        _write_manifest(staging)
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _prune(root: Path, keep: str) -> None:
    """Remove builds other than ``keep`` and those a live process serves that carry
    corpusbot's marker, and staging folders of builders that are gone. Call with the
    exclusive lock held."""
    served = _served_by_others(root)
    for child in root.iterdir():
        if child.is_symlink() or not child.is_dir() or not (child / BUILD_MARKER).is_file():
            continue
        if _BUILD_NAME.fullmatch(child.name):
            if child.name != keep and child.name not in served:
                shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(_STAGING) and not _builder_alive(child.name):
            shutil.rmtree(child, ignore_errors=True)


def publish_cache(root: Path, name: str, save: Callable[[Path], None]) -> Path | None:
    """Write a cache folder ``root/name`` with ``save(folder)``: files derived from the
    installed packages rather than from the corpus (the prepared embedding model), so
    every build shares them. Written like a build (staging folder, manifest, rename), so
    ``verify_build`` checks it. If another process published the same name meanwhile,
    its folder is kept. Folders of the same kind (the same name up to its last ``-``),
    left by an older package version, are removed, and so are staging folders of
    writers that are gone. Returns None when ``root`` is not an index folder corpusbot
    claimed; raises OSError when it cannot be written."""
    if not (root / ROOT_MARKER).is_file():
        return None
    target = root / name
    with _staged(root, save) as staging:
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # another process was first
    kind = name.rpartition("-")[0] + "-"
    for child in root.iterdir():
        if child.is_symlink() or not (child / BUILD_MARKER).is_file():
            continue
        outdated = child.name != name and child.name.startswith(kind)
        if outdated or (child.name.startswith(_STAGING) and not _builder_alive(child.name)):
            shutil.rmtree(child, ignore_errors=True)
    return target


def _builder_alive(staging_name: str) -> bool:
    pid = staging_name.removeprefix(_STAGING).partition("-")[0]
    return not pid.isdigit() or process_alive(int(pid))


# --- integrity -------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content, read a megabyte at a time."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_mtime_ns, st.st_ctime_ns]


def _build_files(build: Path) -> list[Path]:
    return sorted(
        p
        for p in build.rglob("*")
        if p.is_file() and p.name not in {MANIFEST, BUILD_MARKER} and not p.is_symlink()
    )


def _write_manifest(build: Path) -> None:
    """Record each file's size and SHA-256, and its inode and times, which let a later
    load skip re-hashing files nobody touched since."""
    files = {}
    for path in _build_files(build):
        st = path.stat()
        files[path.relative_to(build).as_posix()] = [st.st_size, file_sha256(path), _stat_key(st)]
    with (build / MANIFEST).open("w", encoding="utf-8") as fh:
        json.dump({"files": files}, fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())


def verify_build(build: Path) -> None:
    """Raise IndexFolderError unless every file of the build matches its manifest.

    Cheap when nothing changed: a file whose size, inode and times are as recorded is
    trusted; any other file is hashed in full."""
    try:
        manifest = json.loads((build / MANIFEST).read_bytes())
        files = manifest["files"]
        entries = [
            (rel, int(size), str(digest), list(key)) for rel, (size, digest, key) in files.items()
        ]
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise IndexFolderError(f"build {build.name} has no readable manifest ({exc})") from None
    for rel, size, digest, key in entries:
        path = build / rel
        try:
            st = path.stat()
            if st.st_size != size:
                raise IndexFolderError(f"build {build.name} is damaged: {rel} changed size")
            if _stat_key(st) != key and file_sha256(path) != digest:
                raise IndexFolderError(f"build {build.name} is damaged: {rel} fails its checksum")
        except OSError as exc:
            raise IndexFolderError(f"build {build.name} is incomplete: {exc}") from None
