-- Failed logins per (login, client IP) within a window; at the limit the pair is blocked for a
-- while (a valid CAPTCHA lets a person through).
CREATE TABLE login_failures (
    login          TEXT NOT NULL,
    ip             TEXT NOT NULL,
    failures       BIGINT NOT NULL,
    window_ends_at BIGINT NOT NULL,
    blocked_until  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (login, ip)
);
