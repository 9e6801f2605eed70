//! The token registry (the paper's token database), and the one place that
//! issues tokens and the one place that decides whether a presented token
//! still holds. Every issued token is recorded; a revoked one is refused at
//! once from an in-memory view of the revocation list, kept in step with
//! the database (and with other instances sharing it) by the sweeper.

pub mod jwt;
mod key_routes;
pub mod keys;
pub mod revoked;
pub mod routes;
pub mod store;
pub mod sweeper;
mod verified;

use std::{sync::Arc, time::Duration};

use app::types::{RevocationReason, Role};
use axum::http::{header, HeaderMap};

use crate::{
    clock::Clock,
    db::{Db, Engine},
};
use jwt::{token_digest, Claims, Confirmation, Jwk, JwtKeys, TokenType};
use keys::{Kek, KeyInfo};

pub use key_routes::router as keys_router;
use revoked::{RevokedSet, RevokedToken};
use store::{NewToken, Owner};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no token presented")]
    Missing,
    #[error("the token is not valid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    /// Its owner was deleted, re-roled or revoked while it was being issued.
    #[error("the token's owner changed while it was issued")]
    OwnerChanged,
    #[error("token registry: {0}")]
    Store(#[from] sqlx::Error),
    #[error("signing a token: {0}")]
    Signing(#[from] anyhow::Error),
}

/// Who a token is for.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    User {
        id: i64,
        role: Role,
    },
    /// A device, bound to the certificate it presented (RFC 8705). The token
    /// never outlives that certificate.
    Device {
        id: i64,
        /// Hex SHA-256 of the certificate, kept in the registry.
        thumbprint: &'a str,
        x5t_s256: &'a str,
        cert_not_after: i64,
    },
}

pub struct Issued {
    pub token: String,
    pub token_id: String,
    pub expires_at: i64,
}

/// Lifetimes of issued tokens.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub user: Duration,
    pub device: Duration,
}

/// The registry and the keys. Cheap to clone.
#[derive(Clone)]
pub struct Tokens(Arc<Inner>);

struct Inner {
    db: Db,
    engine: Engine,
    keys: JwtKeys,
    kek: Kek,
    revoked: RevokedSet,
    clock: Clock,
    lifetimes: Lifetimes,
}

impl Tokens {
    /// Loads the signing keys from the database (adopting `initial_pem` as
    /// the first when it has none) and the revocation list, so a restart
    /// refuses what was refused.
    pub async fn load(
        db: Db,
        engine: Engine,
        initial_pem: &str,
        kek: Kek,
        clock: Clock,
        lifetimes: Lifetimes,
    ) -> anyhow::Result<Tokens> {
        keys::adopt(&db, &kek, initial_pem, clock.now()).await?;
        let jwt = JwtKeys::from_pem(initial_pem)?;
        keys::load(&db, &kek, &jwt).await?;
        let revoked = RevokedSet::default();
        revoked.extend(store::revoked_since(&db, clock.now(), 0).await?);
        Ok(Tokens(Arc::new(Inner {
            db,
            engine,
            keys: jwt,
            kek,
            revoked,
            clock,
            lifetimes,
        })))
    }

    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// The current signing key's id.
    pub fn kid(&self) -> String {
        self.0.keys.kid()
    }

    /// The public keys that verify now (the JWKS), current first.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.0.keys.published(self.0.clock.now())
    }

    /// Every signing key in the database, newest first.
    pub async fn signing_keys(&self) -> sqlx::Result<Vec<KeyInfo>> {
        keys::list(&self.0.db).await
    }

    /// A new current signing key; the old one verifies until the last
    /// token it can have signed has expired. `None` when another rotation
    /// won a race with this one.
    pub async fn rotate_keys(&self) -> anyhow::Result<Option<String>> {
        let longest = self.0.lifetimes.user.max(self.0.lifetimes.device).as_secs() as i64;
        let keep_for = longest + jwt::LEEWAY_SECS + 60;
        let kid = keys::rotate(&self.0.db, &self.0.kek, keep_for, self.0.clock.now()).await?;
        self.reload_keys().await?;
        Ok(kid)
    }

    /// Reads the signing keys again (after a rotation on another instance).
    pub async fn reload_keys(&self) -> anyhow::Result<()> {
        keys::load(&self.0.db, &self.0.kek, &self.0.keys).await
    }

    pub(crate) fn db(&self) -> &Db {
        &self.0.db
    }

    /// Signs a token and records it before anyone can hold it. Recorded only
    /// while its owner still is what it claims, or `OwnerChanged`.
    pub async fn issue(&self, subject: Subject<'_>) -> Result<Issued, TokenError> {
        let now = self.0.clock.now();
        let jti = uuid::Uuid::new_v4().simple().to_string();
        let (owner, claims, role, cert) = match subject {
            Subject::User { id, role } => {
                let exp = now + self.0.lifetimes.user.as_secs() as i64;
                let claims = self.claims(jwt::USER_AUDIENCE, id, &jti, now, exp, TokenType::User);
                let claims = Claims {
                    role: Some(role),
                    ..claims
                };
                (Owner::User(id), claims, Some(role.as_str()), None)
            }
            Subject::Device {
                id,
                thumbprint,
                x5t_s256,
                cert_not_after,
            } => {
                let exp = (now + self.0.lifetimes.device.as_secs() as i64).min(cert_not_after);
                let claims =
                    self.claims(jwt::DEVICE_AUDIENCE, id, &jti, now, exp, TokenType::Device);
                let claims = Claims {
                    cnf: Some(Confirmation {
                        x5t_s256: x5t_s256.to_owned(),
                    }),
                    ..claims
                };
                (Owner::Device(id), claims, None, Some(thumbprint))
            }
        };
        let token = self.0.keys.sign(&claims)?;
        let record = NewToken {
            token_id: &jti,
            owner,
            digest: &token_digest(&token),
            issued_at: now,
            expires_at: claims.exp,
            cert,
        };
        if !store::insert(&self.0.db, self.0.engine, &record, role).await? {
            return Err(TokenError::OwnerChanged);
        }
        Ok(Issued {
            token,
            token_id: jti,
            expires_at: claims.exp,
        })
    }

    fn claims(&self, aud: &str, sub: i64, jti: &str, now: i64, exp: i64, typ: TokenType) -> Claims {
        Claims {
            iss: jwt::ISSUER.into(),
            aud: aud.into(),
            sub: sub.to_string(),
            jti: jti.into(),
            iat: now,
            nbf: now,
            exp,
            typ,
            role: None,
            cnf: None,
        }
    }

    /// A presented token that is well signed, of the expected type, in date
    /// and not revoked: the one check behind the north gateway, the device
    /// API and the live stream.
    pub fn check(&self, token: &str, expected: TokenType) -> Result<Arc<Claims>, TokenError> {
        let now = self.0.clock.now();
        let claims = self.0.keys.verify(token, expected, now)?;
        self.valid_at(&claims.jti, claims.exp, now)?;
        Ok(claims)
    }

    /// For a token checked earlier and still in use (an open stream): is it
    /// revoked or expired by now?
    pub fn still_valid(&self, token_id: &str, exp: i64) -> Result<(), TokenError> {
        self.valid_at(token_id, exp, self.0.clock.now())
    }

    fn valid_at(&self, token_id: &str, exp: i64, now: i64) -> Result<(), TokenError> {
        if self.0.revoked.contains(token_id) {
            Err(TokenError::Revoked)
        } else if now > exp + jwt::LEEWAY_SECS {
            Err(TokenError::Expired)
        } else {
            Ok(())
        }
    }

    /// Changes whenever tokens join the revocation list (from this instance
    /// or, through the sweeper, another): long-lived sessions look at their
    /// own token again.
    pub fn revocations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.revoked.subscribe()
    }

    /// Revokes in the database, then in memory, so that a 204 that follows
    /// means the token is already refused. `false` for an unknown token.
    pub async fn revoke(
        &self,
        token_id: &str,
        reason: RevocationReason,
    ) -> Result<bool, TokenError> {
        let now = self.0.clock.now();
        let revoked = match store::revoke(&self.0.db, token_id, reason, now).await? {
            Some(t) => t,
            // Already revoked (perhaps by another instance): make sure this
            // instance refuses it too.
            None => match store::revocation(&self.0.db, token_id).await? {
                Some(Some(t)) => t,
                Some(None) => return Ok(false),
                None => return Ok(false),
            },
        };
        self.0.revoked.extend([revoked]);
        Ok(true)
    }

    /// Takes in revocations committed elsewhere (an owner's tokens revoked
    /// in the same transaction as its deletion, say) before answering.
    pub fn refuse(&self, tokens: impl IntoIterator<Item = RevokedToken>) {
        self.0.revoked.extend(tokens);
    }

    /// Reads one token's revocation from the database (made by another
    /// instance) into the in-memory list.
    pub async fn reload(&self, token_id: &str) -> Result<(), TokenError> {
        if let Some(Some(revoked)) = store::revocation(&self.0.db, token_id).await? {
            self.refuse([revoked]);
        }
        Ok(())
    }

    /// How many tokens `owner` was issued in the last `secs` seconds, and
    /// when the oldest of those was issued.
    pub async fn issued_within(
        &self,
        owner: Owner,
        secs: i64,
    ) -> Result<(i64, Option<i64>), TokenError> {
        let since = self.0.clock.now() - secs;
        Ok(store::issued_since(&self.0.db, owner, since).await?)
    }

    pub fn revoked_count(&self) -> usize {
        self.0.revoked.len()
    }
}

/// The token of a request. A token is only ever read from these headers,
/// never from the URL.
pub fn presented(headers: &HeaderMap) -> Result<&str, TokenError> {
    if let Some(v) = headers.get("x-access-token") {
        let t = v.to_str().map_err(|_| TokenError::Invalid)?.trim();
        return if t.is_empty() {
            Err(TokenError::Missing)
        } else {
            Ok(t)
        };
    }
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Err(TokenError::Missing);
    };
    let v = v.to_str().map_err(|_| TokenError::Invalid)?.trim();
    match v.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            Ok(t.trim())
        }
        _ => Err(TokenError::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn either_header_carries_the_token() {
        assert_eq!(
            presented(&headers(&[("x-access-token", "abc")])).unwrap(),
            "abc"
        );
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer abc")])).unwrap(),
            "abc"
        );
        assert_eq!(
            presented(&headers(&[("authorization", "bearer  abc ")])).unwrap(),
            "abc"
        );
    }

    #[test]
    fn other_schemes_and_empty_values_count_as_missing() {
        for h in [
            headers(&[]),
            headers(&[("authorization", "Basic YTpi")]),
            headers(&[("authorization", "Bearer ")]),
            headers(&[("x-access-token", " ")]),
        ] {
            assert!(matches!(presented(&h), Err(TokenError::Missing)));
        }
    }
}
