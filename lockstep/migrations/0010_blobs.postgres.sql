-- 10: artifact content in the database itself (the default with PostgreSQL), one row per
-- sha256; bytea rather than large objects (see lockstep/artifacts/blobs.py for the measurement).
-- stored_at is epoch seconds, for prune. Large values are compressed and TOASTed as usual.
CREATE TABLE lockstep_blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    stored_at DOUBLE PRECISION NOT NULL,
    content BYTEA NOT NULL
);
