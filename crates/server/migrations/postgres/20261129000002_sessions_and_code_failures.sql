-- Sessions: the token itself is never stored, only its keyed hash.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,              -- UUID
    token_hash  TEXT NOT NULL UNIQUE,          -- keyed hash of the opaque token
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Wrong SMS codes per user within the current window; at the limit every live code dies.
CREATE TABLE code_failures (
    user_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures       BIGINT NOT NULL,
    window_ends_at BIGINT NOT NULL
);
