//! The API gateway: a middleware in front of every protected route that
//! finds the token (`x-access-token` or `Authorization: Bearer`), verifies it
//! strictly, refuses it when revoked, and hands the caller to the handler.
//! Role checks are extractors (`AuthUser`, `OperatorUser`, `AdminUser`).

use app::types::Role;
use std::{
    future::{ready, Ready},
    task::{Context, Poll},
};

use axum::{
    extract::{FromRequestParts, Request},
    http::{header, request::Parts, HeaderMap},
    response::{IntoResponse, Response},
};
use futures_util::future::Either;
use tower::{Layer, Service};

use crate::{auth::jwt::TokenType, error::ApiError, state::AppState, tokens};

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

/// The gateway as a tower layer: the check is synchronous (signature or
/// cache, claims, in-memory blacklist), so it runs in `call` itself, with no
/// boxed future or service clone per request.
#[derive(Clone)]
pub struct GatewayLayer {
    state: AppState,
}

impl GatewayLayer {
    pub fn new(state: AppState) -> Self {
        GatewayLayer { state }
    }
}

impl<S> Layer<S> for GatewayLayer {
    type Service = Gateway<S>;
    fn layer(&self, inner: S) -> Gateway<S> {
        Gateway {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Gateway<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for Gateway<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match authenticate(&self.state, req.headers()) {
            Ok(user) => {
                req.extensions_mut().insert(user);
                Either::Right(self.inner.call(req))
            }
            Err(e) => Either::Left(ready(Ok(e.into_response()))),
        }
    }
}

/// Who a north request's token says the caller is, if it holds.
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AuthUser, ApiError> {
    let token = presented_token(headers)?;
    let claims = tokens::check(state, token, TokenType::User)?;
    let id = claims
        .sub
        .parse::<i64>()
        .map_err(|_| ApiError::TokenInvalid)?;
    let role = claims
        .role
        .as_deref()
        .and_then(Role::parse)
        .ok_or(ApiError::TokenInvalid)?;
    Ok(AuthUser {
        id,
        role,
        token_id: claims.jti.clone(),
        expires_at: claims.exp,
    })
}

/// The token of a request. A token is only ever read from these headers,
/// never from the URL.
pub fn presented_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    if let Some(v) = headers.get("x-access-token") {
        let t = v.to_str().map_err(|_| ApiError::TokenInvalid)?.trim();
        return if t.is_empty() {
            Err(ApiError::TokenMissing)
        } else {
            Ok(t)
        };
    }
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::TokenMissing);
    };
    let v = v.to_str().map_err(|_| ApiError::TokenInvalid)?.trim();
    match v.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            Ok(t.trim())
        }
        _ => Err(ApiError::TokenMissing),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Only present behind the gateway; a route left unguarded by mistake
        // fails closed.
        parts
            .extensions
            .get::<AuthUser>()
            .cloned()
            .ok_or(ApiError::TokenMissing)
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
        assert_eq!(
            presented_token(&headers(&[("x-access-token", "abc")])).unwrap(),
            "abc"
        );
        assert_eq!(
            presented_token(&headers(&[("authorization", "Bearer abc")])).unwrap(),
            "abc"
        );
        assert_eq!(
            presented_token(&headers(&[("authorization", "bearer  abc ")])).unwrap(),
            "abc"
        );
    }

    #[test]
    fn other_schemes_and_empty_values_count_as_missing() {
        assert!(matches!(
            presented_token(&headers(&[])),
            Err(ApiError::TokenMissing)
        ));
        assert!(matches!(
            presented_token(&headers(&[("authorization", "Basic YTpi")])),
            Err(ApiError::TokenMissing)
        ));
        assert!(matches!(
            presented_token(&headers(&[("authorization", "Bearer ")])),
            Err(ApiError::TokenMissing)
        ));
    }
}
