"""A real, private PostgreSQL server for tests: a temporary data folder, a Unix socket
in it and no TCP port, trust authentication for the ``postgres`` role.

``initdb`` refuses to run as root, so as root the folder is handed to the ``postgres``
system user (which the Debian package creates) and the server runs as that user. The
binaries are found on PATH or under /usr/lib/postgresql/*/bin. Without them the tests
that need a server are skipped, unless CI_REQUIRE_POSTGRES=1 (``.ci/run`` sets
it after installing the package), where they fail instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_ENV = "CI_REQUIRE_POSTGRES"


def find_bin(name: str) -> str | None:
    """``name`` from PATH, else from the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    return None


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when the environment says a server is required."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"PostgreSQL is required here but {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


class PgServer:
    """One running server; ``url(name)`` addresses a database on it."""

    def __init__(self, root: Path, socket_dir: Path, run_as: str | None) -> None:
        self.root = root
        self.socket_dir = socket_dir
        self.run_as = run_as
        self.data = root / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        psql = find_bin("psql")
        assert psql is not None
        out = subprocess.run(
            [
                psql,
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)


def _as(user: str | None, argv: list[str]) -> list[str]:
    if user is None:
        return argv
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", user, "--", *argv]
    return ["su", user, "-s", "/bin/sh", "-c", " ".join(argv)]


@contextlib.contextmanager
def running_server() -> Iterator[PgServer]:
    """Start a server in a temporary folder; stop it and remove the folder after."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if initdb is None or pg_ctl is None or find_bin("psql") is None:
        unavailable("initdb/pg_ctl/psql not found (apt-get install postgresql)")
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no 'postgres' user to run initdb as")
        run_as = "postgres"
    # Short path: a Unix socket path must stay under ~100 bytes.
    root = Path(tempfile.mkdtemp(prefix="cbpg-", dir="/tmp"))
    socket_dir = root / "s"
    socket_dir.mkdir()
    if run_as is not None:
        info = pwd.getpwnam(run_as)
        for path in (root, socket_dir):
            os.chown(path, info.pw_uid, info.pw_gid)
    server = PgServer(root, socket_dir, run_as)
    try:
        subprocess.run(
            _as(
                run_as,
                [
                    initdb,
                    "-D",
                    str(server.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = (
            f"-c listen_addresses='' -c unix_socket_directories={socket_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        subprocess.run(
            _as(
                run_as,
                [
                    pg_ctl,
                    "-D",
                    str(server.data),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(root / "server.log"),
                    "start",
                ],
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
        yield server
    except subprocess.CalledProcessError as exc:
        log = root / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"PostgreSQL failed: {exc.stderr!r} {exc.stdout!r}\n{detail}") from None
    finally:
        if (server.data / "postmaster.pid").exists():
            subprocess.run(
                _as(run_as, [pg_ctl, "-D", str(server.data), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                timeout=60,
            )
            deadline = time.monotonic() + 10
            while (server.data / "postmaster.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
