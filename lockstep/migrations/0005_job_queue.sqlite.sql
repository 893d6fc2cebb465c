-- 5: the job queue: jobs with leases, their lifecycle events, rate-limit state.
CREATE TABLE lockstep_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    origin_queue TEXT,
    workflow TEXT NOT NULL,
    priority INTEGER NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    user_name TEXT,
    idempotency_key TEXT UNIQUE,
    parent_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_retries INTEGER NOT NULL,
    run_after REAL NOT NULL,
    lease_owner TEXT,
    lease_expires REAL,
    submitted_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    run_seconds REAL NOT NULL DEFAULT 0,
    error TEXT,
    outcome TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    resume TEXT
);
CREATE INDEX lockstep_jobs_ready ON lockstep_jobs (status, queue, priority, seq);
CREATE INDEX lockstep_jobs_thread ON lockstep_jobs (thread_id);
CREATE INDEX lockstep_jobs_parent ON lockstep_jobs (parent_id);
CREATE TABLE lockstep_job_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX lockstep_job_events_job ON lockstep_job_events (job_id, seq);
CREATE TABLE lockstep_rate_hits (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    at REAL NOT NULL,
    amount REAL NOT NULL
);
CREATE INDEX lockstep_rate_hits_key ON lockstep_rate_hits (name, key, at);
CREATE TABLE lockstep_rate_buckets (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    level REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (name, key)
);
