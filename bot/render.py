"""Text helpers that keep what the bot shows within Discord's limits."""

from __future__ import annotations

__all__ = ["shorten"]


def shorten(text: str, limit: int, *, ellipsis: str = " …") -> str:
    """text cut to at most limit characters at a word boundary, marked with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = max(limit - len(ellipsis), 1)
    cut = text[:room]
    if " " in cut and not text[room].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + ellipsis
