-- Where a user's phone came from: 'admin' (user add/set-phone: it binds, and only an admin
-- replaces it) or 'self' (chosen through setphone: replaceable until a code activates it).
-- Phones already on file are taken as an admin's: the safe reading, since a self-chosen phone
-- that is treated as bound can still be activated by its code.
ALTER TABLE users ADD COLUMN phone_source TEXT;
UPDATE users SET phone_source = 'admin' WHERE mobile_phone IS NOT NULL;
CREATE INDEX users_by_phone ON users (mobile_phone);

-- Consecutive failed logins per account, whatever the client address: passwords and codes
-- together, reset only by a successful login (or `user unlock`). `account` is 'user:<id>' for a
-- known user, 'login:<normalised login>' for an unknown one, so that both answer alike.
CREATE TABLE account_failures (
    account         TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    next_allowed_at INTEGER NOT NULL DEFAULT 0,  -- with no CAPTCHA configured: the growing delay
    updated_at      INTEGER NOT NULL
);
