-- Times are Unix milliseconds (UTC) so comparisons are plain integer comparisons on every backend.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,          -- UUID
    email           TEXT NOT NULL UNIQUE,      -- lowercase
    password_salt   TEXT NOT NULL,             -- per-user salt of the keyed hash
    password_hash   TEXT NOT NULL,             -- keyed hash of the client's passwordHash, never the password
    mobile_phone    TEXT,                      -- E.164
    phone_activated INTEGER NOT NULL DEFAULT 0,
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);

CREATE TABLE sms_codes (
    id          TEXT PRIMARY KEY,              -- UUID, also the SMS message id
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone       TEXT NOT NULL,                 -- E.164 the code was sent to
    code_hash   TEXT NOT NULL,                 -- keyed hash of the code, never the code
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
);
CREATE INDEX sms_codes_by_phone ON sms_codes (phone, expires_at);
CREATE INDEX sms_codes_by_user ON sms_codes (user_id, expires_at);

-- Portal-wide values every instance must agree on (e.g. the published password salt).
CREATE TABLE portal_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
