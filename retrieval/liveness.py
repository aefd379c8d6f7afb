"""Whether the process behind a record (a lock, a heartbeat, a build's staging folder)
is still running. Depends on nothing else of the project, so the light health check can
use it too."""

from __future__ import annotations

import os
import socket

__all__ = ["process_alive"]


def process_alive(pid: int, host: str = "") -> bool:
    """False only when the process is known to be gone: on this host (``host`` empty or
    this machine's name) no process has that id. Another host's process counts as alive:
    there, the record's age is the evidence."""
    if host and host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by another user
        return True
    return True
