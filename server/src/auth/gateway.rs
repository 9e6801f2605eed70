//! The API gateway: a middleware in front of every protected route that
//! finds the token (`x-access-token` or `Authorization: Bearer`), verifies it
//! strictly, refuses it when revoked, and hands the caller to the handler.
//! Role checks are extractors (`AuthUser`, `OperatorUser`, `AdminUser`).

use app::types::Role;
use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderMap},
    middleware::Next,
    response::Response,
};

use crate::{
    auth::jwt::TokenType,
    error::ApiError,
    state::AppState,
};

/// The caller of a protected north route, as its verified token says.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub role: Role,
    pub token_id: String,
    pub expires_at: i64,
}

impl AuthUser {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        format!("user:{}", self.id)
    }
}

pub async fn require_user(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = presented_token(req.headers())?;
    let claims = state.jwt.verify(token, TokenType::User)?;
    if state.revoked.contains(&claims.jti) {
        return Err(ApiError::TokenRevoked);
    }
    let id = claims.sub.parse::<i64>().map_err(|_| ApiError::TokenInvalid)?;
    let role = claims.role.as_deref().and_then(Role::parse).ok_or(ApiError::TokenInvalid)?;
    req.extensions_mut().insert(AuthUser { id, role, token_id: claims.jti.clone(), expires_at: claims.exp });
    Ok(next.run(req).await)
}

/// The token of a request. A token is only ever read from these headers,
/// never from the URL.
pub fn presented_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    if let Some(v) = headers.get("x-access-token") {
        let t = v.to_str().map_err(|_| ApiError::TokenInvalid)?.trim();
        return if t.is_empty() { Err(ApiError::TokenMissing) } else { Ok(t) };
    }
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::TokenMissing);
    };
    let v = v.to_str().map_err(|_| ApiError::TokenInvalid)?.trim();
    match v.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => Ok(t.trim()),
        _ => Err(ApiError::TokenMissing),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Only present behind the gateway; a route left unguarded by mistake
        // fails closed.
        parts.extensions.get::<AuthUser>().cloned().ok_or(ApiError::TokenMissing)
    }
}

/// An admin or an operator.
pub struct OperatorUser(pub AuthUser);

impl<S: Send + Sync> FromRequestParts<S> for OperatorUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, s).await?;
        match user.role {
            Role::Admin | Role::Operator => Ok(OperatorUser(user)),
            Role::Viewer => Err(ApiError::Forbidden),
        }
    }
}

pub struct AdminUser(pub AuthUser);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, s).await?;
        match user.role {
            Role::Admin => Ok(AdminUser(user)),
            _ => Err(ApiError::Forbidden),
        }
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
        assert_eq!(presented_token(&headers(&[("x-access-token", "abc")])).unwrap(), "abc");
        assert_eq!(presented_token(&headers(&[("authorization", "Bearer abc")])).unwrap(), "abc");
        assert_eq!(presented_token(&headers(&[("authorization", "bearer  abc ")])).unwrap(), "abc");
    }

    #[test]
    fn other_schemes_and_empty_values_count_as_missing() {
        assert!(matches!(presented_token(&headers(&[])), Err(ApiError::TokenMissing)));
        assert!(matches!(presented_token(&headers(&[("authorization", "Basic YTpi")])), Err(ApiError::TokenMissing)));
        assert!(matches!(presented_token(&headers(&[("authorization", "Bearer ")])), Err(ApiError::TokenMissing)));
    }
}
