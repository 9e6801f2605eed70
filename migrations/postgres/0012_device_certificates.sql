-- Every certificate a device may present (postgres): the one it was
-- enrolled with, renewals, and second thumbprints. `devices.cert_sha256`
-- stays the newest (the API's `cert_sha256`).
CREATE TABLE device_certificates (
    cert_sha256    TEXT   PRIMARY KEY,
    device_id      BIGINT NOT NULL REFERENCES devices (id),
    -- How it is trusted: pinned by thumbprint, signed by the device CA, or
    -- chaining to the device's enrollment group CA.
    kind           TEXT   NOT NULL CHECK (kind IN ('self_signed', 'ca_issued', 'group')),
    serial         TEXT,
    -- notAfter (seconds): known at issue, or at its first use.
    not_after      BIGINT,
    added_at       BIGINT NOT NULL,
    first_used_at  BIGINT,
    -- Refused from then on (replaced, or retired by an operator).
    retire_at      BIGINT,
    -- 1 once the tokens bound to it were revoked at its retirement.
    tokens_revoked BIGINT NOT NULL DEFAULT 0
);
INSERT INTO device_certificates (cert_sha256, device_id, kind, serial, not_after, added_at, first_used_at)
    SELECT cert_sha256, id, enrollment, cert_serial, cert_not_after, created_at, created_at FROM devices;
CREATE INDEX device_certificates_device ON device_certificates (device_id);
CREATE INDEX device_certificates_retiring ON device_certificates (retire_at);

-- The certificate a device token is bound to (hex SHA-256): until now a
-- device had one, so its tokens are bound to it.
ALTER TABLE tokens ADD COLUMN cert_sha256 TEXT;
UPDATE tokens SET cert_sha256 = (SELECT cert_sha256 FROM devices WHERE devices.id = tokens.device_id)
    WHERE device_id IS NOT NULL;
CREATE INDEX tokens_cert ON tokens (cert_sha256);

-- A certificate added, first used or retired: other instances read the
-- device's certificates again.
CREATE FUNCTION vigil_device_certificate_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vigil_announce('device', NEW.device_id::TEXT);
    RETURN NULL;
END
$$;
CREATE TRIGGER device_certificates_announce AFTER INSERT OR UPDATE ON device_certificates
    FOR EACH ROW EXECUTE FUNCTION vigil_device_certificate_changed();
