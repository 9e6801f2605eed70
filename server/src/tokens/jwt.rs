//! Signing and strict validation of Vigil's JWTs (EdDSA / Ed25519).
//!
//! Validation accepts exactly one algorithm and our key id, checks the
//! signature before any claim, requires `iss`, `aud`, `typ`, `sub`, `jti`,
//! `iat`, `nbf` and `exp`, and judges `exp` and `nbf` against the time it is
//! given, with 2 s of leeway, whether the token comes from the cache or not.
//! Several keys may verify (the current one and retired ones until their
//! tokens have all expired); the current one signs.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use anyhow::Context;
use app::types::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rcgen::KeyPair;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{verified::VerifiedCache, TokenError};

pub const ISSUER: &str = "vigil";
pub const USER_AUDIENCE: &str = "vigil-north";
pub const DEVICE_AUDIENCE: &str = "vigil-south";
/// Clock leeway on `exp` and `nbf`: a token is accepted until `exp + LEEWAY_SECS`.
pub const LEEWAY_SECS: i64 = 2;
/// Far above any token we issue; refuses absurd inputs before parsing.
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    User,
    Device,
}

/// RFC 8705 confirmation: the certificate a device token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub typ: TokenType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl Claims {
    /// `exp` and `nbf` at `now`, with the leeway.
    fn in_date(&self, now: i64) -> Result<(), TokenError> {
        if now > self.exp + LEEWAY_SECS {
            Err(TokenError::Expired)
        } else if self.nbf > now + LEEWAY_SECS {
            Err(TokenError::Invalid)
        } else {
            Ok(())
        }
    }
}

/// What a key set is made of: the current key's PEM (it signs), and every
/// key that verifies: `(kid, raw public key, verify_until)`, `None` for
/// always (the current key).
#[derive(Default)]
pub struct KeySetup {
    pub current: Option<String>,
    pub verifying: Vec<(String, Vec<u8>, Option<i64>)>,
}

struct Signing {
    kid: String,
    encoding: EncodingKey,
}

struct Verifying {
    public: Vec<u8>,
    decoding: DecodingKey,
    /// Last second it verifies (a retired key); `None`: no end.
    until: Option<i64>,
}

struct KeySet {
    signing: Signing,
    verifying: HashMap<String, Verifying>,
}

pub struct JwtKeys {
    set: RwLock<Arc<KeySet>>,
    user: Validation,
    device: Validation,
    verified: VerifiedCache,
}

/// The key id of a raw Ed25519 public key: 16 hex digits of its SHA-256.
pub fn kid_of(public: &[u8]) -> String {
    hex::encode(&Sha256::digest(public)[..8])
}

fn signing(pem: &str) -> anyhow::Result<(Signing, Vec<u8>)> {
    let pair = KeyPair::from_pem(pem).context("parsing the JWT signing key")?;
    if pair.algorithm() != &rcgen::PKCS_ED25519 {
        anyhow::bail!("the JWT signing key must be an Ed25519 key");
    }
    let public = pair.public_key_raw().to_vec();
    let encoding =
        EncodingKey::from_ed_pem(pem.as_bytes()).context("loading the JWT signing key")?;
    Ok((
        Signing {
            kid: kid_of(&public),
            encoding,
        },
        public,
    ))
}

fn key_set(setup: KeySetup) -> anyhow::Result<KeySet> {
    let pem = setup.current.context("no current signing key")?;
    let (signing, public) = signing(&pem)?;
    let mut verifying: HashMap<String, Verifying> = setup
        .verifying
        .into_iter()
        .map(|(kid, public, until)| {
            let decoding = DecodingKey::from_ed_der(&public);
            (
                kid,
                Verifying {
                    public,
                    decoding,
                    until,
                },
            )
        })
        .collect();
    verifying.insert(
        signing.kid.clone(),
        Verifying {
            decoding: DecodingKey::from_ed_der(&public),
            public,
            until: None,
        },
    );
    Ok(KeySet { signing, verifying })
}

/// One public key as JWKS publishes it (RFC 7517, RFC 8037).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

impl JwtKeys {
    /// From the PKCS#8 PEM of an Ed25519 key, the only one.
    pub fn from_pem(pem: &str) -> anyhow::Result<JwtKeys> {
        Ok(JwtKeys {
            set: RwLock::new(Arc::new(key_set(KeySetup {
                current: Some(pem.to_owned()),
                verifying: Vec::new(),
            })?)),
            user: validation(USER_AUDIENCE),
            device: validation(DEVICE_AUDIENCE),
            verified: VerifiedCache::default(),
        })
    }

    /// Replaces the keys (after a rotation here or on another instance).
    pub fn replace(&self, setup: KeySetup) -> anyhow::Result<()> {
        let set = Arc::new(key_set(setup)?);
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = set;
        Ok(())
    }

    fn set(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The current key's id.
    pub fn kid(&self) -> String {
        self.set().signing.kid.clone()
    }

    /// The public keys that verify at `now`, current first.
    pub fn published(&self, now: i64) -> Vec<Jwk> {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
        let set = self.set();
        let mut keys: Vec<(&String, &Verifying)> = set
            .verifying
            .iter()
            .filter(|(_, v)| v.until.is_none_or(|u| now <= u))
            .collect();
        keys.sort_by_key(|(kid, v)| {
            (
                v.until.is_some(),
                std::cmp::Reverse(v.until),
                (*kid).clone(),
            )
        });
        keys.into_iter()
            .map(|(kid, v)| Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: B64.encode(&v.public),
                kid: kid.clone(),
                alg: "EdDSA".into(),
                use_: "sig".into(),
            })
            .collect()
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let set = self.set();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(set.signing.kid.clone());
        jsonwebtoken::encode(&header, claims, &set.signing.encoding).context("signing a token")
    }

    /// Verifies signature, algorithm, key id, issuer, audience and type, then
    /// the times at `now`. A token verified before comes from the cache,
    /// which skips only the signature.
    pub fn verify(
        &self,
        token: &str,
        expected: TokenType,
        now: i64,
    ) -> Result<Arc<Claims>, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match self.verified.get(&key) {
            Some(c) => c,
            None => {
                let c = Arc::new(self.verify_signed(token, expected, now)?);
                self.verified.put(key, c.clone(), now);
                c
            }
        };
        if claims.typ != expected {
            return Err(TokenError::Invalid);
        }
        claims.in_date(now)?;
        Ok(claims)
    }

    fn verify_signed(
        &self,
        token: &str,
        expected: TokenType,
        now: i64,
    ) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        // One of our keys, still in its verification period.
        let set = self.set();
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| set.verifying.get(kid))
            .filter(|k| k.until.is_none_or(|u| now <= u))
            .ok_or(TokenError::Invalid)?;
        let validation = match expected {
            TokenType::User => &self.user,
            TokenType::Device => &self.device,
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.typ != expected || claims.jti.is_empty() || claims.sub.is_empty() {
            return Err(TokenError::Invalid);
        }
        match expected {
            TokenType::User if claims.role.is_none() => Err(TokenError::Invalid),
            TokenType::Device if claims.cnf.is_none() => Err(TokenError::Invalid),
            _ => Ok(claims),
        }
    }
}

/// Signature, issuer and audience; the times are ours to judge (against the
/// platform clock), but must be present.
fn validation(audience: &str) -> Validation {
    let mut v = Validation::new(Algorithm::EdDSA);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    v
}

/// SHA-256 of the raw token, hex: what the registry keeps instead of it.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};

    const NOW: i64 = 1_800_000_000;

    fn keys() -> JwtKeys {
        let pair = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        JwtKeys::from_pem(&pair.serialize_pem()).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            iss: ISSUER.into(),
            aud: USER_AUDIENCE.into(),
            sub: "1".into(),
            jti: "abc".into(),
            iat: NOW,
            nbf: NOW,
            exp: NOW + 60,
            typ: TokenType::User,
            role: Some(Role::Admin),
            cnf: None,
        }
    }

    #[test]
    fn a_token_it_signed_verifies() {
        let k = keys();
        let t = k.sign(&claims()).unwrap();
        assert_eq!(k.verify(&t, TokenType::User, NOW).unwrap().jti, "abc");
    }

    #[test]
    fn a_user_token_is_not_a_device_token() {
        let k = keys();
        let t = k.sign(&claims()).unwrap();
        assert!(matches!(
            k.verify(&t, TokenType::Device, NOW),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn another_keys_signature_is_refused() {
        let (a, b) = (keys(), keys());
        let t = a.sign(&claims()).unwrap();
        assert!(matches!(
            b.verify(&t, TokenType::User, NOW),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn expiry_within_leeway_passes_and_beyond_fails() {
        let k = keys();
        let t = k.sign(&claims()).unwrap();
        assert!(k
            .verify(&t, TokenType::User, NOW + 60 + LEEWAY_SECS)
            .is_ok());
        assert!(matches!(
            k.verify(&t, TokenType::User, NOW + 61 + LEEWAY_SECS),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn a_token_not_yet_valid_is_refused() {
        let k = keys();
        let t = k.sign(&claims()).unwrap();
        assert!(matches!(
            k.verify(&t, TokenType::User, NOW - 30),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn a_token_without_a_role_or_with_an_unknown_one_is_refused() {
        let k = keys();
        let mut c = claims();
        c.role = None;
        let t = k.sign(&c).unwrap();
        assert!(k.verify(&t, TokenType::User, NOW).is_err());
        let mut raw = serde_json::to_value(claims()).unwrap();
        raw["role"] = "root".into();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(k.kid());
        let t = jsonwebtoken::encode(&header, &raw, &k.set().signing.encoding).unwrap();
        assert!(k.verify(&t, TokenType::User, NOW).is_err());
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let k = keys();
        let t = k.sign(&claims()).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let mut c = claims();
        c.sub = "2".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(serde_json::to_vec(&c).unwrap()),
            parts[2]
        );
        assert!(matches!(
            k.verify(&forged, TokenType::User, NOW),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn a_cached_token_is_still_checked_for_type_and_expiry() {
        let k = keys();
        let t = k.sign(&claims()).unwrap();
        assert!(k.verify(&t, TokenType::User, NOW).is_ok());
        assert!(
            matches!(
                k.verify(&t, TokenType::Device, NOW),
                Err(TokenError::Invalid)
            ),
            "typ, from the cache"
        );
        assert!(
            matches!(
                k.verify(&t, TokenType::User, NOW + 3600),
                Err(TokenError::Expired)
            ),
            "exp, from the cache"
        );
    }

    #[test]
    fn a_tampered_copy_of_a_cached_token_is_refused() {
        let k = keys();
        let t = k.sign(&claims()).unwrap();
        assert!(k.verify(&t, TokenType::User, NOW).is_ok());
        let mut bytes = t.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(
            k.verify(&tampered, TokenType::User, NOW),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn a_retired_key_verifies_until_its_end_and_then_nothing() {
        let old = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let new = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let k = JwtKeys::from_pem(&old.serialize_pem()).unwrap();
        let before = k.sign(&claims()).unwrap();
        let old_kid = k.kid();
        k.replace(KeySetup {
            current: Some(new.serialize_pem()),
            verifying: vec![(
                old_kid.clone(),
                old.public_key_raw().to_vec(),
                Some(NOW + 30),
            )],
        })
        .unwrap();
        assert_ne!(k.kid(), old_kid);
        let after = k.sign(&claims()).unwrap();
        assert!(k.verify(&after, TokenType::User, NOW).is_ok());
        assert!(k.verify(&before, TokenType::User, NOW).is_ok());
        let kids: Vec<String> = k.published(NOW).into_iter().map(|j| j.kid).collect();
        assert_eq!(kids, [k.kid(), old_kid.clone()], "current first");
        // Past its end: out of the JWKS, and a token it signed (not cached)
        // is refused even with fresh times.
        assert_eq!(k.published(NOW + 31).len(), 1);
        let mut late = claims();
        late.iat = NOW + 31;
        late.nbf = NOW + 31;
        late.exp = NOW + 90;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(old_kid);
        let forged = jsonwebtoken::encode(
            &header,
            &late,
            &EncodingKey::from_ed_pem(old.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            k.verify(&forged, TokenType::User, NOW + 31),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(token_digest("a").len(), 64);
        assert_ne!(token_digest("a"), token_digest("b"));
    }
}
