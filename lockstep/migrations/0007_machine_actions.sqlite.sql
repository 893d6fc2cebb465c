-- 7: entry/exit actions claimed once per (thread, task, transition, action): a step re-run
-- after a crash finds its actions' claims and does not run them again.
CREATE TABLE lockstep_actions (
    thread_id TEXT NOT NULL,
    action_key TEXT NOT NULL,
    state TEXT NOT NULL,
    phase TEXT NOT NULL,
    action TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (thread_id, action_key)
);
