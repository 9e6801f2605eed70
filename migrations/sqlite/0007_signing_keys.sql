-- Token signing keys, shared by every instance of the database (sqlite).
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
