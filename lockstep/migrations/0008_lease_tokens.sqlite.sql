-- 8: a fencing token per claim. Every claim writes a fresh `lease_token`; reaping, renewing,
-- ending a job and writing its thread's checkpoints compare it, so a worker that lost its lease
-- (even one that claimed the same job again since) can change nothing.
ALTER TABLE lockstep_jobs ADD COLUMN lease_token TEXT;
