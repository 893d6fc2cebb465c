-- 4: who answered each gate first (a sweep and a person answering at once: one wins).
CREATE TABLE lockstep_gate_answers (
    thread_id TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    by_name TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (thread_id, interrupt_id)
);
