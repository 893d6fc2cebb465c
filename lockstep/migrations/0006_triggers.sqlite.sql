-- 6: triggers: one row per trigger firing (a schedule's fire time, a webhook delivery, a job end),
-- unique per (trigger, key) so it fires once across processes; schedule cursors and pauses; spent
-- webhook signatures (replays); the notification outbox and every delivery attempt.
CREATE TABLE lockstep_trigger_fires (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger_name TEXT NOT NULL,
    fire_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    job_id TEXT,
    error TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    UNIQUE (trigger_name, fire_key)
);
CREATE INDEX lockstep_trigger_fires_job ON lockstep_trigger_fires (job_id);
CREATE TABLE lockstep_schedules (
    trigger_name TEXT PRIMARY KEY,
    cursor REAL NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    changed_by TEXT,
    updated_at REAL NOT NULL,
    missed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE lockstep_webhook_signatures (
    hook TEXT NOT NULL,
    signature TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (hook, signature)
);
CREATE TABLE lockstep_notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    job_id TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    secret_env TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    base_delay REAL NOT NULL,
    max_delay REAL NOT NULL,
    timeout REAL NOT NULL,
    next_at REAL NOT NULL,
    lease_until REAL,
    created_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX lockstep_notifications_due ON lockstep_notifications (status, next_at);
CREATE INDEX lockstep_notifications_job ON lockstep_notifications (job_id);
CREATE TABLE lockstep_notification_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    status_code INTEGER,
    error TEXT,
    UNIQUE (notification_id, attempt)
);
