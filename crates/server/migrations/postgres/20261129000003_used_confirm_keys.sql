-- Single-use confirm keys (login links) that have started a session. Only a keyed hash is kept,
-- until the key would have expired anyway.
CREATE TABLE used_confirm_keys (
    key_hash   TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
