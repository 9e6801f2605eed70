-- Device registry and readings (sqlite).
CREATE TABLE devices (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    registration_id TEXT   NOT NULL UNIQUE,
    name            TEXT   NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    -- Hex SHA-256 of the certificate's DER; the device's identity at the handshake.
    cert_sha256     TEXT   NOT NULL UNIQUE,
    -- Hex serial of a certificate issued by the device CA.
    cert_serial     TEXT,
    enrollment      TEXT   NOT NULL CHECK (enrollment IN ('self_signed', 'ca_issued')),
    created_at      BIGINT NOT NULL,
    last_seen       BIGINT,
    revoked_at      BIGINT
);

CREATE TABLE readings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   BIGINT NOT NULL REFERENCES devices (id),
    sensor      TEXT   NOT NULL,
    value       REAL NOT NULL,
    unit        TEXT,
    -- Milliseconds since the Unix epoch.
    ts          BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX readings_device_ts ON readings (device_id, ts);
CREATE INDEX readings_device_sensor_ts ON readings (device_id, sensor, ts);
