-- Commands: cloud-to-device actuation (sqlite).
CREATE TABLE commands (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id    BIGINT NOT NULL REFERENCES devices (id),
    name         TEXT   NOT NULL,
    -- JSON text.
    payload      TEXT   NOT NULL,
    status       TEXT   NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'delivered', 'succeeded', 'failed', 'expired', 'cancelled')),
    result       TEXT,
    -- The user who sent it (no foreign key: the history outlives the user).
    created_by   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT,
    completed_at BIGINT,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX commands_device_status ON commands (device_id, status, id);
CREATE INDEX commands_open_expiry ON commands (expires_at) WHERE status IN ('queued', 'delivered');
