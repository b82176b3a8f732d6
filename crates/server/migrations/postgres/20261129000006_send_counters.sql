-- SMS sent per scope (user, client IP, country calling code, everything) in fixed windows; checked
-- and counted in the same transaction that queues a message.
CREATE TABLE send_counters (
    scope          TEXT NOT NULL,   -- user | ip | country | global
    key            TEXT NOT NULL,
    sent           BIGINT NOT NULL,
    window_ends_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
