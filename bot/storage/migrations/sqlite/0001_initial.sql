-- Initial schema: query log with per-user feedback, channel topic digests with their deliveries, and corpus document tracking.

-- One row per question asked, whether it was answered or the bot abstained.
CREATE TABLE queries (
    id            INTEGER PRIMARY KEY,
    created_at    REAL    NOT NULL,
    guild_id      INTEGER,
    channel_id    INTEGER,
    user_id       INTEGER,
    source        TEXT    NOT NULL CHECK (source IN ('discord', 'console', 'cli')),
    question      TEXT    NOT NULL,
    answered      INTEGER NOT NULL CHECK (answered IN (0, 1)),
    answer_doc_id TEXT,
    answer_text   TEXT,
    top_hits      TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(top_hits)),
    latency_ms    REAL    NOT NULL CHECK (latency_ms >= 0)
) STRICT;

CREATE INDEX queries_by_created_at ON queries (created_at);
CREATE INDEX queries_by_guild ON queries (guild_id, created_at);
CREATE INDEX queries_by_user ON queries (user_id, created_at);

-- One vote per user per query; voting again replaces it.
CREATE TABLE feedback (
    query_id   INTEGER NOT NULL REFERENCES queries (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    vote       INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    reason     TEXT,
    created_at REAL    NOT NULL,
    updated_at REAL    NOT NULL,
    PRIMARY KEY (query_id, user_id)
) STRICT, WITHOUT ROWID;

-- A channel's standing request for a digest of new documents on a topic.
CREATE TABLE subscriptions (
    id           INTEGER PRIMARY KEY,
    guild_id     INTEGER,
    channel_id   INTEGER NOT NULL,
    topic        TEXT    NOT NULL CHECK (length(topic) > 0),
    topic_key    TEXT    NOT NULL CHECK (length(topic_key) > 0),
    cadence      TEXT    NOT NULL CHECK (cadence IN ('hourly', 'daily', 'weekly')),
    status       TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    pause_reason TEXT,
    next_due_at  REAL    NOT NULL,
    created_by   INTEGER,
    created_at   REAL    NOT NULL,
    updated_at   REAL    NOT NULL,
    UNIQUE (channel_id, topic_key),
    CHECK (status = 'paused' OR pause_reason IS NULL)
) STRICT;

CREATE INDEX subscriptions_due ON subscriptions (next_due_at, id) WHERE status = 'active';
CREATE INDEX subscriptions_by_guild ON subscriptions (guild_id, channel_id);

-- Which documents each subscription has already posted, so a digest never repeats one.
CREATE TABLE deliveries (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    doc_id          TEXT    NOT NULL,
    message_id      INTEGER,
    delivered_at    REAL    NOT NULL,
    PRIMARY KEY (subscription_id, doc_id)
) STRICT, WITHOUT ROWID;

-- Every document the corpus has contained; removed ones keep their row with removed_at set.
CREATE TABLE documents (
    doc_id        TEXT PRIMARY KEY,
    content_hash  TEXT NOT NULL,
    title         TEXT NOT NULL,
    first_seen_at REAL NOT NULL,
    last_seen_at  REAL NOT NULL,
    removed_at    REAL
) STRICT, WITHOUT ROWID;

CREATE INDEX documents_active_by_first_seen ON documents (first_seen_at) WHERE removed_at IS NULL;
