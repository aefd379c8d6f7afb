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
from .queries import (
    ArticleCount,
    Bucket,
    DownvoteReason,
    Hit,
    LogRow,
    LogTotals,
    QueryRecord,
    QueryRepository,
    QueryStats,
    Source,
    UnansweredGroup,
    Vote,
    VoteTally,
    question_key,
)
from .subscriptions import (
    Cadence,
    Notice,
    Status,
    Subscription,
    SubscriptionRepository,
    topic_key,
)
from .synonyms import DuplicateGroup, SynonymGroup, SynonymRepository

__all__ = [
    "ArticleCount",
    "Bucket",
    "Cadence",
    "Database",
    "DatabaseClosedError",
    "DocumentRecord",
    "DocumentRepository",
    "DownvoteReason",
    "DuplicateGroup",
    "Hit",
    "LogRow",
    "LogTotals",
    "Migration",
    "MigrationError",
    "NoVote",
    "Notice",
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
    "SynonymGroup",
    "SynonymRepository",
    "UnansweredGroup",
    "UnknownQuery",
    "Vote",
    "VoteTally",
    "latest_schema_version",
    "load_migrations",
    "question_key",
    "topic_key",
]
