from __future__ import annotations

import os
import socket
import subprocess
import sys

from retrieval.liveness import process_alive


def _finished_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: no process has its id until the system reuses it
    return child.pid


def test_a_running_process_is_alive() -> None:
    assert process_alive(os.getpid())
    assert process_alive(os.getpid(), socket.gethostname())


def test_a_finished_process_of_this_host_is_gone() -> None:
    pid = _finished_pid()
    assert not process_alive(pid)
    assert not process_alive(pid, socket.gethostname())


def test_another_hosts_process_counts_as_alive() -> None:
    assert process_alive(_finished_pid(), socket.gethostname() + "-elsewhere")


def test_another_users_process_counts_as_alive() -> None:
    # pid 1 exists on every system; unless this runs as root, signalling it is refused
    assert process_alive(1)
