"""The one-line results that `corpusbot check` and `corpusbot health` print."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckResult"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: its name, whether it passed, and a one-line detail."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        """``ok  corpus: 5 articles in seeds`` or ``FAIL database: ...``."""
        status = "ok " if self.ok else "FAIL"
        detail = " ".join(self.detail.split())
        return f"{status} {self.name}: {detail}"
