-- 9: the LangGraph SDK's protocol (`lockstep serve` under /langgraph): each protocol thread's
-- metadata and owner, and the record of each run (in the server or as a queued job).
CREATE TABLE lockstep_protocol_threads (
    thread_id TEXT PRIMARY KEY,
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE lockstep_protocol_runs (
    run_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    assistant_id TEXT NOT NULL,
    workflow TEXT NOT NULL,
    status TEXT NOT NULL,
    job_id TEXT,
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    error TEXT
);
CREATE INDEX lockstep_protocol_runs_thread ON lockstep_protocol_runs (thread_id, created_at);
