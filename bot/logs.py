"""Logging for the entry points: one line per event, quiet discord.http, optional file.

Lines about a query carry its id (``q=123``) through a context variable, so every line
logged while handling that query can be found with one grep.
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import sys

from bot.config import Settings

__all__ = ["query_context", "setup_logging"]

FORMAT = "%(asctime)s %(levelname)-7s %(name)s:%(query_tag)s %(message)s"
query_context: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "query_context", default=None
)


class _QueryTag(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        query_id = query_context.get()
        record.query_tag = f" q={query_id}" if query_id is not None else ""
        return True


def setup_logging(settings: Settings, *, console_level: str | None = None) -> None:
    """Configure the root logger (entry points only; library modules never do this)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(FORMAT)
    tag = _QueryTag()
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter)
    stream.addFilter(tag)
    stream.setLevel(console_level or settings.log_level)
    root.addHandler(stream)
    if settings.log_file is not None:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            settings.log_file, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
        rotating.setFormatter(formatter)
        rotating.addFilter(tag)
        rotating.setLevel(settings.log_level)
        root.addHandler(rotating)
    root.setLevel(settings.log_level)
    # Every REST call at INFO is noise; rate limits still surface as warnings.
    logging.getLogger("discord.http").setLevel(logging.WARNING)
    logging.getLogger("discord.gateway").setLevel(logging.WARNING)
