//! Signing and strict validation of Vigil's JWTs (EdDSA / Ed25519).
//!
//! Validation accepts exactly one algorithm, checks the signature before any
//! claim, allows 2 s of clock leeway on `exp` and `nbf`, and requires `iss`,
//! `aud`, `typ`, `sub`, `jti`, `iat`, `nbf` and `exp`.

use anyhow::Context;
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::sync::Arc;

use rcgen::KeyPair;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub const ISSUER: &str = "vigil";
pub const USER_AUDIENCE: &str = "vigil-north";
pub const DEVICE_AUDIENCE: &str = "vigil-south";
/// Clock leeway on `exp` and `nbf`: a token is accepted until `exp + LEEWAY_SECS`.
pub const LEEWAY_SECS: u64 = 2;
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
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

pub struct JwtKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    user: Validation,
    device: Validation,
    verified: super::verified::VerifiedCache,
}

impl JwtKeys {
    /// From the PKCS#8 PEM of an Ed25519 key.
    pub fn from_pem(pem: &str) -> anyhow::Result<JwtKeys> {
        let pair = KeyPair::from_pem(pem).context("parsing the JWT signing key")?;
        if pair.algorithm() != &rcgen::PKCS_ED25519 {
            anyhow::bail!("the JWT signing key must be an Ed25519 key");
        }
        let public = pair.public_key_raw();
        let kid = hex::encode(&Sha256::digest(public)[..8]);
        let encoding =
            EncodingKey::from_ed_pem(pem.as_bytes()).context("loading the JWT signing key")?;
        let decoding = DecodingKey::from_ed_der(public);
        Ok(JwtKeys {
            kid,
            encoding,
            decoding,
            user: validation(USER_AUDIENCE),
            device: validation(DEVICE_AUDIENCE),
            verified: Default::default(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing a token")
    }

    /// Verifies signature, algorithm, key id, times, issuer, audience and type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Arc<Claims>, ApiError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(ApiError::TokenInvalid);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.verified.get(&key) {
            let now = chrono::Utc::now().timestamp();
            let leeway = LEEWAY_SECS as i64;
            return match claims {
                c if c.typ != expected => Err(ApiError::TokenInvalid),
                c if now > c.exp + leeway => Err(ApiError::TokenExpired),
                c if c.nbf > now + leeway => Err(ApiError::TokenInvalid),
                c => Ok(c),
            };
        }
        let claims = Arc::new(self.verify_fully(token, expected)?);
        self.verified.put(key, claims.clone());
        Ok(claims)
    }

    fn verify_fully(&self, token: &str, expected: TokenType) -> Result<Claims, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::TokenInvalid)?;
        if header.alg != Algorithm::EdDSA || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(ApiError::TokenInvalid);
        }
        let validation = match expected {
            TokenType::User => &self.user,
            TokenType::Device => &self.device,
        };
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::TokenExpired,
                _ => ApiError::TokenInvalid,
            },
        )?;
        let claims = data.claims;
        if claims.typ != expected || claims.jti.is_empty() || claims.sub.is_empty() {
            return Err(ApiError::TokenInvalid);
        }
        match expected {
            TokenType::User if claims.role.is_none() => Err(ApiError::TokenInvalid),
            TokenType::Device if claims.cnf.is_none() => Err(ApiError::TokenInvalid),
            _ => Ok(claims),
        }
    }
}

fn validation(audience: &str) -> Validation {
    let mut v = Validation::new(Algorithm::EdDSA);
    v.leeway = LEEWAY_SECS;
    v.validate_exp = true;
    v.validate_nbf = true;
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

    fn keys() -> JwtKeys {
        let pair = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        JwtKeys::from_pem(&pair.serialize_pem()).unwrap()
    }

    fn claims(now: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            aud: USER_AUDIENCE.into(),
            sub: "1".into(),
            jti: "abc".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            typ: TokenType::User,
            role: Some("admin".into()),
            cnf: None,
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_token_it_signed_verifies() {
        let k = keys();
        let t = k.sign(&claims(now())).unwrap();
        assert_eq!(k.verify(&t, TokenType::User).unwrap().jti, "abc");
    }

    #[test]
    fn a_user_token_is_not_a_device_token() {
        let k = keys();
        let t = k.sign(&claims(now())).unwrap();
        assert!(matches!(
            k.verify(&t, TokenType::Device),
            Err(ApiError::TokenInvalid)
        ));
    }

    #[test]
    fn another_keys_signature_is_refused() {
        let (a, b) = (keys(), keys());
        let t = a.sign(&claims(now())).unwrap();
        assert!(matches!(
            b.verify(&t, TokenType::User),
            Err(ApiError::TokenInvalid)
        ));
    }

    #[test]
    fn expiry_within_leeway_passes_and_beyond_fails() {
        let k = keys();
        let mut c = claims(now() - 100);
        c.exp = now() - 1;
        assert!(k.verify(&k.sign(&c).unwrap(), TokenType::User).is_ok());
        c.exp = now() - 5;
        assert!(matches!(
            k.verify(&k.sign(&c).unwrap(), TokenType::User),
            Err(ApiError::TokenExpired)
        ));
    }

    #[test]
    fn a_token_not_yet_valid_is_refused() {
        let k = keys();
        let mut c = claims(now());
        c.nbf = now() + 30;
        assert!(matches!(
            k.verify(&k.sign(&c).unwrap(), TokenType::User),
            Err(ApiError::TokenInvalid)
        ));
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let k = keys();
        let t = k.sign(&claims(now())).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let mut c = claims(now());
        c.role = Some("admin".into());
        c.sub = "2".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(serde_json::to_vec(&c).unwrap()),
            parts[2]
        );
        assert!(matches!(
            k.verify(&forged, TokenType::User),
            Err(ApiError::TokenInvalid)
        ));
    }

    #[test]
    fn a_cached_token_is_still_checked_for_type_and_expiry() {
        let k = keys();
        let mut c = claims(now() - 100);
        c.exp = now() + 1;
        let t = k.sign(&c).unwrap();
        assert!(k.verify(&t, TokenType::User).is_ok());
        assert!(
            matches!(k.verify(&t, TokenType::Device), Err(ApiError::TokenInvalid)),
            "typ, from the cache"
        );
        std::thread::sleep(std::time::Duration::from_millis(4100));
        assert!(
            matches!(k.verify(&t, TokenType::User), Err(ApiError::TokenExpired)),
            "exp, from the cache"
        );
    }

    #[test]
    fn a_tampered_copy_of_a_cached_token_is_refused() {
        let k = keys();
        let t = k.sign(&claims(now())).unwrap();
        assert!(k.verify(&t, TokenType::User).is_ok());
        let mut bytes = t.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(
            k.verify(&tampered, TokenType::User),
            Err(ApiError::TokenInvalid)
        ));
    }

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(token_digest("a").len(), 64);
        assert_ne!(token_digest("a"), token_digest("b"));
    }
}
