-- Every SMS is a row here, written in the same transaction as its code, and delivered from here
-- (at least once) by whichever process claims it. The text carries the code, so it is stored
-- encrypted with a key derived from the server secret, and dropped once the message is final or
-- its code has expired.
CREATE TABLE sms_outbox (
    id                  TEXT PRIMARY KEY,    -- message id = the code's id; the idempotency key
    user_id             TEXT NOT NULL,
    phone               TEXT NOT NULL,       -- E.164
    payload             BYTEA,               -- encrypted text; NULL once sent, failed for good or expired
    state               TEXT NOT NULL,       -- queued | sending | sent | failed
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT NOT NULL,
    locked_until        BIGINT NOT NULL DEFAULT 0,  -- a 'sending' claim expires (crash) at this time
    expires_at          BIGINT NOT NULL,     -- the code's expiry: no point sending after it
    provider            TEXT,
    provider_message_id TEXT,
    last_error          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX sms_outbox_due ON sms_outbox (state, next_attempt_at);
