-- 3: API keys for the server (only a hash of each key is stored).
CREATE TABLE lockstep_api_keys (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    roles TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
