-- Enrollment groups: devices registered by a CA whose key the group's
-- creator proved to hold (sqlite). Devices gain the group they registered
-- through and their certificate's notAfter; `enrollment` gains `group`.
--
-- SQLite cannot change a CHECK constraint in place, so `devices` is built
-- anew and its rows copied (SQLite's documented procedure for such
-- changes). That needs foreign keys off: `db::connect` runs the SQLite
-- migrations on a connection with them off, and checks them after.

CREATE TABLE enrollment_groups (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT   NOT NULL,
    -- The CA (root or intermediate) device chains must end at, as uploaded.
    ca_pem            TEXT   NOT NULL,
    ca_sha256         TEXT   NOT NULL,
    ca_subject        TEXT   NOT NULL,
    ca_not_after      BIGINT NOT NULL,
    status            TEXT   NOT NULL DEFAULT 'unverified'
                      CHECK (status IN ('unverified', 'active', 'revoked')),
    -- The CN of the certificate the CA must sign to prove its key is held.
    verification_code TEXT   NOT NULL,
    max_devices       BIGINT,
    expires_at        BIGINT,
    -- Registrations counted against max_devices (never decremented).
    registered        BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    verified_at       BIGINT,
    revoked_at        BIGINT
);
-- One live group per CA: which group a device registers through is never
-- ambiguous.
CREATE UNIQUE INDEX enrollment_groups_ca ON enrollment_groups (ca_sha256) WHERE status <> 'revoked';

CREATE TABLE devices_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    registration_id TEXT   NOT NULL UNIQUE,
    name            TEXT   NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    cert_sha256     TEXT   NOT NULL UNIQUE,
    cert_serial     TEXT,
    enrollment      TEXT   NOT NULL CHECK (enrollment IN ('self_signed', 'ca_issued', 'group')),
    created_at      BIGINT NOT NULL,
    last_seen       BIGINT,
    revoked_at      BIGINT,
    group_id        BIGINT REFERENCES enrollment_groups (id),
    -- The certificate's notAfter (seconds), when known.
    cert_not_after  BIGINT
);
INSERT INTO devices_new (id, registration_id, name, status, cert_sha256, cert_serial,
                         enrollment, created_at, last_seen, revoked_at)
    SELECT id, registration_id, name, status, cert_sha256, cert_serial,
           enrollment, created_at, last_seen, revoked_at FROM devices;
DROP TABLE devices;
ALTER TABLE devices_new RENAME TO devices;
CREATE INDEX devices_group ON devices (group_id);
