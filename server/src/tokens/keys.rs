//! The token signing keys, kept where every instance sees them: the
//! database, with each private key sealed (AES-256-GCM, the key id as
//! associated data) under a key-encryption key that never enters it
//! (`VIGIL_KEY_ENCRYPTION_KEY`, or `pki/key-encryption.key`).
//!
//! One key is `current` and signs; a rotation retires it (its private half
//! is erased), and a retired key still verifies until the last token it can
//! have signed has expired (`verify_until`), then leaves the JWKS, verifies
//! nothing, and is deleted by the sweeper.
//!
//! Sealing uses ring's AEAD (already in the build through rustls) rather
//! than code of our own.

use std::path::Path;

use anyhow::{bail, Context};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use rcgen::KeyPair;
use ring::{
    aead::{self, Aad, LessSafeKey, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use sqlx::Row;

use super::jwt::{kid_of, JwtKeys, KeySetup};
use crate::{
    db::{self, Db},
    settings::{ExposeSecret, SecretString},
};

/// The key-encryption key.
pub struct Kek(LessSafeKey);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

impl Kek {
    /// From `VIGIL_KEY_ENCRYPTION_KEY` (64 hex digits), else from
    /// `pki/key-encryption.key`, made on first use (0600).
    pub fn load(given: Option<&SecretString>, pki_dir: &Path) -> anyhow::Result<Kek> {
        let hex_key = match given {
            Some(k) => k.expose_secret().trim().to_owned(),
            None => {
                let path = pki_dir.join("key-encryption.key");
                if !path.exists() {
                    let mut bytes = [0u8; 32];
                    SystemRandom::new()
                        .fill(&mut bytes)
                        .map_err(|_| anyhow::anyhow!("no randomness for the key-encryption key"))?;
                    crate::pki::write_secret(&path, &format!("{}\n", hex::encode(bytes)))?;
                }
                std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .trim()
                    .to_owned()
            }
        };
        let bytes = hex::decode(&hex_key)
            .ok()
            .filter(|b| b.len() == 32)
            .context("the key-encryption key must be 32 bytes as 64 hex digits")?;
        let key = UnboundKey::new(&aead::AES_256_GCM, &bytes)
            .map_err(|_| anyhow::anyhow!("the key-encryption key is unusable"))?;
        Ok(Kek(LessSafeKey::new(key)))
    }

    /// `nonce ‖ ciphertext ‖ tag`, base64, bound to `kid`.
    fn seal(&self, kid: &str, plain: &[u8]) -> anyhow::Result<String> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
        let mut sealed = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| anyhow::anyhow!("sealing a signing key"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(B64.encode(out))
    }

    fn open(&self, kid: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let raw = B64
            .decode(sealed)
            .context("a sealed signing key is not base64")?;
        if raw.len() < aead::NONCE_LEN {
            bail!("a sealed signing key is too short");
        }
        let (nonce, body) = raw.split_at(aead::NONCE_LEN);
        let mut body = body.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow::anyhow!("a sealed signing key has a bad nonce"))?;
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut body)
            .map_err(|_| {
                anyhow::anyhow!(
                    "the signing key {kid} in the database cannot be opened with this \
                     key-encryption key: give every instance of one database the same \
                     VIGIL_KEY_ENCRYPTION_KEY (or the same pki/key-encryption.key)"
                )
            })?;
        Ok(plain.to_vec())
    }
}

/// A signing key as listed (never its private half).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub kid: String,
    pub current: bool,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub verify_until: Option<i64>,
}

/// Puts `pem` in the database as the current key when there is none yet
/// (the first start, or the first since keys moved to the database): the
/// tokens it signed before stay valid.
pub async fn adopt(db: &Db, kek: &Kek, pem: &str, now: i64) -> anyhow::Result<()> {
    let any: Option<i64> = sqlx::query("SELECT 1 FROM signing_keys LIMIT 1")
        .fetch_optional(db)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    if any.is_some() {
        return Ok(());
    }
    let pair = KeyPair::from_pem(pem).context("parsing the JWT signing key")?;
    let kid = kid_of(pair.public_key_raw());
    let res = sqlx::query(
        "INSERT INTO signing_keys (kid, public_key, private_key, status, created_at) \
         VALUES ($1, $2, $3, 'current', $4)",
    )
    .bind(&kid)
    .bind(B64.encode(pair.public_key_raw()))
    .bind(kek.seal(&kid, pem.as_bytes())?)
    .bind(now)
    .execute(db)
    .await;
    match res {
        // Another instance adopted one at the same moment: theirs holds.
        Err(e) if db::is_unique_violation(&e) => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Reads every key into `keys`: the current one signs, every key still in
/// its verification period verifies.
pub async fn load(db: &Db, kek: &Kek, keys: &JwtKeys) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT kid, public_key, private_key, status, verify_until FROM signing_keys ORDER BY created_at, kid",
    )
    .fetch_all(db)
    .await?;
    let mut setup = KeySetup::default();
    for r in &rows {
        let kid: String = r.try_get(0)?;
        let public = B64
            .decode(r.try_get::<String, _>(1)?)
            .context("a stored public key is not base64")?;
        let status: String = r.try_get(3)?;
        if status == "current" {
            let pem = String::from_utf8(kek.open(&kid, &r.try_get::<String, _>(2)?)?)
                .context("a signing key is not PEM")?;
            setup.current = Some(pem);
        }
        setup.verifying.push((kid, public, r.try_get(4)?));
    }
    let Some(_) = setup.current else {
        bail!("the database has no current signing key");
    };
    keys.replace(setup)
}

/// Makes a new current key and retires the current one, which verifies
/// for `keep_for` seconds more (the longest a token it signed can live).
/// Two rotations at once: one wins, the other is refused (`Ok(None)`).
pub async fn rotate(db: &Db, kek: &Kek, keep_for: i64, now: i64) -> anyhow::Result<Option<String>> {
    let pair = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    let kid = kid_of(pair.public_key_raw());
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE signing_keys SET status = 'retired', retired_at = $1, verify_until = $2, \
         private_key = '' WHERE status = 'current'",
    )
    .bind(now)
    .bind(now + keep_for)
    .execute(&mut *tx)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO signing_keys (kid, public_key, private_key, status, created_at) \
         VALUES ($1, $2, $3, 'current', $4)",
    )
    .bind(&kid)
    .bind(B64.encode(pair.public_key_raw()))
    .bind(kek.seal(&kid, pair.serialize_pem().as_bytes())?)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {
            tx.commit().await?;
            Ok(Some(kid))
        }
        Err(e) if db::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(db: &Db) -> sqlx::Result<Vec<KeyInfo>> {
    sqlx::query(
        "SELECT kid, status, created_at, retired_at, verify_until FROM signing_keys \
         ORDER BY created_at DESC, kid",
    )
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(KeyInfo {
            kid: r.try_get(0)?,
            current: r.try_get::<String, _>(1)? == "current",
            created_at: r.try_get(2)?,
            retired_at: r.try_get(3)?,
            verify_until: r.try_get(4)?,
        })
    })
    .collect()
}

/// Deletes keys whose verification period ended before `now` (their
/// tokens have all expired).
pub async fn prune(db: &Db, now: i64) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM signing_keys WHERE status = 'retired' AND verify_until < $1")
            .bind(now)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_its_kid_and_kek_only() {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::load(None, dir.path()).unwrap();
        let sealed = kek.seal("k1", b"secret").unwrap();
        assert_eq!(kek.open("k1", &sealed).unwrap(), b"secret");
        assert!(kek.open("k2", &sealed).is_err(), "bound to its kid");
        let other = Kek::load(Some(&SecretString::from("ab".repeat(32))), dir.path()).unwrap();
        assert!(other.open("k1", &sealed).is_err(), "another KEK");
        // The generated KEK is the owner's only, and reused.
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join("key-encryption.key");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = Kek::load(None, dir.path()).unwrap();
        assert_eq!(again.open("k1", &sealed).unwrap(), b"secret");
        assert!(Kek::load(Some(&SecretString::from("xyz".to_owned())), dir.path()).is_err());
    }
}
