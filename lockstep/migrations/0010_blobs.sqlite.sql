-- 10: artifact content in the database itself (the default with PostgreSQL; on SQLite only with
-- LOCKSTEP_BLOB_URL=database), one row per sha256. stored_at is epoch seconds, for prune.
CREATE TABLE lockstep_blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    stored_at REAL NOT NULL,
    content BLOB NOT NULL
);
