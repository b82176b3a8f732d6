-- Failed logins per (login, client IP) within a window; at the limit the pair is blocked for a
-- while (a valid CAPTCHA lets a person through).
CREATE TABLE login_failures (
    login          TEXT NOT NULL,
    ip             TEXT NOT NULL,
    failures       INTEGER NOT NULL,
    window_ends_at INTEGER NOT NULL,
    blocked_until  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (login, ip)
);
