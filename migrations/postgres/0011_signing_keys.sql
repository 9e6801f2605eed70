-- Token signing keys, shared by every instance of the database (postgres).
-- The private key is sealed under a key-encryption key that is never here.
CREATE TABLE signing_keys (
    kid          TEXT   PRIMARY KEY,
    -- Raw Ed25519 public key, base64.
    public_key   TEXT   NOT NULL,
    -- nonce ‖ AES-256-GCM ciphertext ‖ tag of the PKCS#8 PEM, base64.
    private_key  TEXT   NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('current', 'retired')),
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT,
    -- A retired key verifies until then: the last token it signed expires.
    verify_until BIGINT
);
-- One current key, however many rotations race.
CREATE UNIQUE INDEX signing_keys_current ON signing_keys (status) WHERE status = 'current';

-- A key made or retired: every instance reads the keys again.
CREATE FUNCTION vigil_key_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vigil_announce('key', NEW.kid);
    RETURN NULL;
END
$$;
CREATE TRIGGER signing_keys_announce AFTER INSERT OR UPDATE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION vigil_key_changed();
