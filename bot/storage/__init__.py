"""SQLite storage: one Database owns the connection, one repository per table group."""

from .database import Database, latest_schema_version
from .documents import DocumentRecord, DocumentRepository, SyncReport
from .errors import (
    DatabaseClosedError,
    MigrationError,
    NoVote,
    SchemaTooNewError,
    StorageError,
    UnknownQuery,
)
from .migrations import Migration, load_migrations
from .queries import Hit, QueryRecord, QueryRepository, QueryStats, Source, Vote, VoteTally
from .subscriptions import Cadence, Status, Subscription, SubscriptionRepository, topic_key

__all__ = [
    "Cadence",
    "Database",
    "DatabaseClosedError",
    "DocumentRecord",
    "DocumentRepository",
    "Hit",
    "Migration",
    "MigrationError",
    "NoVote",
    "QueryRecord",
    "QueryRepository",
    "QueryStats",
    "SchemaTooNewError",
    "Source",
    "Status",
    "StorageError",
    "Subscription",
    "SubscriptionRepository",
    "SyncReport",
    "UnknownQuery",
    "Vote",
    "VoteTally",
    "latest_schema_version",
    "load_migrations",
    "topic_key",
]
