-- Users, the token registry and the audit log (SQLite).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at    BIGINT  NOT NULL
);

-- Every issued token; the raw token is never stored, only its SHA-256.
CREATE TABLE tokens (
    token_id         TEXT   PRIMARY KEY,
    user_id          BIGINT,
    device_id        BIGINT,
    token_sha256     TEXT   NOT NULL,
    issued_at        BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    blacklist        BIGINT NOT NULL DEFAULT 0,
    blacklist_reason TEXT,
    blacklisted_at   BIGINT,
    CHECK ((user_id IS NULL) <> (device_id IS NULL))
);
CREATE INDEX tokens_user ON tokens (user_id);
CREATE INDEX tokens_device ON tokens (device_id);
CREATE INDEX tokens_expires ON tokens (expires_at);
CREATE INDEX tokens_blacklisted ON tokens (blacklisted_at);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts      BIGINT NOT NULL,
    event   TEXT   NOT NULL,
    actor   TEXT,
    subject TEXT,
    ip      TEXT,
    detail  TEXT
);
CREATE INDEX audit_event ON audit_log (event);
