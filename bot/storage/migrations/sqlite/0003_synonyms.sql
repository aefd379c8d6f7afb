-- Alias groups that admins add with /synonyms, applied with the synonyms file's.
CREATE TABLE synonym_groups (
    id         INTEGER PRIMARY KEY,
    members    TEXT    NOT NULL,          -- JSON array of the names as written
    key        TEXT    NOT NULL UNIQUE,   -- normalized names, sorted, joined by "|"
    created_by INTEGER,
    created_at REAL    NOT NULL
) STRICT;
