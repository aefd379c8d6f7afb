-- Named leases every process shares: the cluster-wide reindex lock and identify buckets.

CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
