"""Alias groups that a server's admins add with /synonyms, kept across restarts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrieval.synonyms import phrase_key

if TYPE_CHECKING:
    from .database import Database


class DuplicateGroup(Exception):
    """The same group (the same names, in any order and case) is already stored."""

    def __init__(self, existing_id: int) -> None:
        self.existing_id = existing_id
        super().__init__(f"that group is already stored as #{existing_id}")


@dataclass(frozen=True, slots=True)
class SynonymGroup:
    id: int
    members: tuple[str, ...]
    created_by: int | None
    created_at: float


def group_key(members: Sequence[str]) -> str:
    """The same for two groups of the same names in any order, case or spacing."""
    return "|".join(sorted({phrase_key(m) for m in members}))


class SynonymRepository:
    """Stored alias groups; reach it as `db.synonyms`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[SynonymGroup]:
        rows = await self._db.fetchall(
            "SELECT id, members, created_by, created_at FROM synonym_groups ORDER BY id"
        )
        return [_from_row(row) for row in rows]

    async def add(
        self, members: Sequence[str], *, created_by: int | None, now: float
    ) -> SynonymGroup:
        """Store a group (members already validated); raise DuplicateGroup if stored."""
        key = group_key(members)
        async with self._db.transaction():
            existing = await self._db.fetchone(
                "SELECT id FROM synonym_groups WHERE key = ?", (key,)
            )
            if existing is not None:
                raise DuplicateGroup(int(existing["id"]))
            row = await self._db.execute_returning(
                "INSERT INTO synonym_groups (members, key, created_by, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING "
                "RETURNING id, members, created_by, created_at",
                (json.dumps(list(members), ensure_ascii=False), key, created_by, now),
            )
            if row is None:  # stored meanwhile by another process
                raise DuplicateGroup(-1)
        return _from_row(row)

    async def remove(self, group_id: int) -> bool:
        """Delete a group; False if there is none with that id."""
        async with self._db.transaction():
            deleted = await self._db.execute("DELETE FROM synonym_groups WHERE id = ?", (group_id,))
        return deleted > 0


def _from_row(row: sqlite3.Row) -> SynonymGroup:
    return SynonymGroup(
        id=int(row["id"]),
        members=tuple(json.loads(row["members"])),
        created_by=row["created_by"],
        created_at=float(row["created_at"]),
    )
