"""Exceptions raised by the storage layer."""

from __future__ import annotations


class StorageError(Exception):
    """Base class for every error the storage layer raises on purpose."""


class ConstraintViolation(StorageError):
    """A write broke a constraint (NOT NULL, UNIQUE, CHECK, a foreign key); the
    transaction it ran in is rolled back. Raised the same way by both backends."""


class DatabaseClosedError(StorageError):
    """The Database was used after close()."""


class MigrationError(StorageError):
    """A migration file is malformed or failed to apply; nothing was changed."""


class SchemaTooNewError(StorageError):
    """The database was migrated by a newer release than the running code."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this release supports "
            f"(latest known: {supported}); upgrade corpusbot or restore a backup"
        )
        self.found = found
        self.supported = supported


class UnknownQuery(StorageError, LookupError):
    """A vote or reason referred to a query id that was never logged."""

    def __init__(self, query_id: int) -> None:
        super().__init__(f"no logged query with id {query_id}")
        self.query_id = query_id


class NoVote(StorageError, LookupError):
    """A reason was attached for a (query, user) pair that has not voted."""

    def __init__(self, query_id: int, user_id: int) -> None:
        super().__init__(f"user {user_id} has not voted on query {query_id}")
        self.query_id = query_id
        self.user_id = user_id
