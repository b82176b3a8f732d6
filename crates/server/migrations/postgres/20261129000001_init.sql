-- The same tables as the SQLite migrations of the same numbers. Times are Unix milliseconds (UTC)
-- so comparisons are plain integer comparisons on every backend; every integer is BIGINT, so both
-- backends read counts and times as i64.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,          -- UUID
    email           TEXT NOT NULL UNIQUE,      -- lowercase
    password_salt   TEXT NOT NULL,             -- per-user salt of the keyed hash
    password_hash   TEXT NOT NULL,             -- keyed hash of the client's passwordHash, never the password
    mobile_phone    TEXT,                      -- E.164
    phone_activated BOOLEAN NOT NULL DEFAULT FALSE,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL
);

CREATE TABLE sms_codes (
    id          TEXT PRIMARY KEY,              -- UUID, also the SMS message id
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone       TEXT NOT NULL,                 -- E.164 the code was sent to
    code_hash   TEXT NOT NULL,                 -- keyed hash of the code, never the code
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX sms_codes_by_phone ON sms_codes (phone, expires_at);
CREATE INDEX sms_codes_by_user ON sms_codes (user_id, expires_at);

-- Portal-wide values every instance must agree on (e.g. the published password salt).
CREATE TABLE portal_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
