//! The token registry (the paper's token database): every issued token is
//! recorded, revocations blacklist it, and an in-memory view of revoked,
//! unexpired token ids answers the gateway without a database round-trip.

pub mod revoked;
pub mod routes;
pub mod store;
pub mod sweeper;

use std::sync::Arc;

use app::types::UserInfo;

use crate::{
    auth::jwt::{token_digest, Claims, TokenType, ISSUER, USER_AUDIENCE},
    db,
    error::{ApiError, ApiResult},
    state::AppState,
};

pub struct Issued {
    pub token: String,
    pub token_id: String,
    pub expires_at: i64,
}

/// Signs a user token and records it before anyone can hold it.
pub async fn issue_user_token(state: &AppState, user: &UserInfo) -> ApiResult<Issued> {
    let now = db::now();
    let exp = now + state.settings.token_ttl.as_secs() as i64;
    let claims = Claims {
        iss: ISSUER.into(),
        aud: USER_AUDIENCE.into(),
        sub: user.id.to_string(),
        jti: uuid::Uuid::new_v4().simple().to_string(),
        iat: now,
        nbf: now,
        exp,
        typ: TokenType::User,
        role: Some(user.role.as_str().into()),
        cnf: None,
    };
    let token = state.jwt.sign(&claims)?;
    let record = store::NewToken {
        token_id: &claims.jti,
        user_id: Some(user.id),
        device_id: None,
        digest: &token_digest(&token),
        issued_at: now,
        expires_at: exp,
    };
    // Recorded only while the user still exists with the role the token
    // claims: a deletion or role change racing this login wins.
    if !store::insert_for_user(&state.db, state.engine, &record, user.role.as_str()).await? {
        return Err(ApiError::InvalidCredentials);
    }
    Ok(Issued {
        token,
        token_id: claims.jti,
        expires_at: exp,
    })
}

/// A presented token that is well signed, of the expected type, in date
/// and not revoked: the one check behind the north gateway, the device API
/// and any future entry point.
pub fn check(state: &AppState, token: &str, expected: TokenType) -> ApiResult<Arc<Claims>> {
    let claims = state.jwt.verify(token, expected)?;
    if state.revoked.contains(&claims.jti) {
        return Err(ApiError::TokenRevoked);
    }
    Ok(claims)
}

/// Blacklists in the database, then in memory, so that a 204 that follows
/// means the token is already refused.
pub async fn revoke(state: &AppState, token_id: &str, reason: &str) -> ApiResult<bool> {
    match store::blacklist(&state.db, token_id, reason, db::now()).await? {
        Some(exp) => {
            state.revoked.insert(token_id.to_owned(), exp);
            Ok(true)
        }
        None => match store::expiry(&state.db, token_id).await? {
            // Already blacklisted (perhaps by another instance): make sure
            // this instance refuses it too.
            Some(exp) => {
                state.revoked.insert(token_id.to_owned(), exp);
                Ok(true)
            }
            None => Ok(false),
        },
    }
}
