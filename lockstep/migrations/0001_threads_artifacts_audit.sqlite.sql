-- 1: threads, artifact metadata and the append-only audit log.
CREATE TABLE lockstep_threads (
    thread_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    input TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE lockstep_artifacts (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    thread_id TEXT NOT NULL,
    name TEXT NOT NULL,
    step TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    parent_version INTEGER,
    inputs TEXT NOT NULL DEFAULT '[]',
    format TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'complete',
    PRIMARY KEY (id, version)
);
CREATE INDEX lockstep_artifacts_thread ON lockstep_artifacts (thread_id, name);
CREATE TABLE lockstep_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX lockstep_audit_thread ON lockstep_audit (thread_id, seq);
