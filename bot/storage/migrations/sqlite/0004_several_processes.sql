-- Several processes: digest claims and frozen runs, shared cooldowns, shard locks and shared bot state.

-- A process delivering a digest holds a lease on its subscription: claim_token names
-- the claim, claimed_until is when another process may take it over.
ALTER TABLE subscriptions ADD COLUMN claim_token TEXT;
ALTER TABLE subscriptions ADD COLUMN claimed_until REAL;

-- One digest as frozen before it is posted: its articles and the idempotency key the
-- post's nonce derives from. An open run (completed_at NULL) is reused by whoever
-- claims the subscription next, so a retried post is the same post.
CREATE TABLE digest_runs (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    run_key         TEXT    NOT NULL UNIQUE,
    items           TEXT    NOT NULL CHECK (json_valid(items)),  -- [[doc_id, title, excerpt], ...]
    created_at      REAL    NOT NULL,
    message_id      INTEGER,
    completed_at    REAL
) STRICT;

CREATE UNIQUE INDEX digest_runs_one_open ON digest_runs (subscription_id) WHERE completed_at IS NULL;

-- When each user last had a question admitted, for the /ask cooldown across processes.
CREATE TABLE cooldowns (
    user_id INTEGER PRIMARY KEY,
    last_at REAL    NOT NULL
) STRICT;

-- Which process serves which Discord shard (SQLite: one host, the owner's pid decides).
CREATE TABLE shard_locks (
    shard_id    INTEGER PRIMARY KEY,
    shard_count INTEGER NOT NULL,
    owner       TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    expires_at  REAL    NOT NULL
) STRICT;

-- Small shared values: the command-sync fingerprint, the index generation.
CREATE TABLE bot_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
) STRICT, WITHOUT ROWID;
