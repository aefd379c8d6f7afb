-- Named leases every process shares: the cluster-wide reindex lock and identify buckets.

-- A lease is held by ``owner`` (one process) until ``expires_at`` unless renewed; a
-- lease past its expiry, or held by a process gone from this host, is taken over.
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    expires_at REAL    NOT NULL
) STRICT, WITHOUT ROWID;
