-- 2: artifact type, evaluation score, content location and supersession; one version number per
-- (thread, name) even under concurrent writers; checkpoints a rollback left.
ALTER TABLE lockstep_artifacts ADD COLUMN type TEXT;
ALTER TABLE lockstep_artifacts ADD COLUMN score REAL;
ALTER TABLE lockstep_artifacts ADD COLUMN location TEXT;
ALTER TABLE lockstep_artifacts ADD COLUMN superseded_at TEXT;
CREATE UNIQUE INDEX lockstep_artifacts_name_version
    ON lockstep_artifacts (thread_id, name, version);
CREATE INDEX lockstep_artifacts_sha ON lockstep_artifacts (sha256);
CREATE TABLE lockstep_checkpoint_marks (
    thread_id TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    mark TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_id)
);
