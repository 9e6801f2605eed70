//! The API gateway: a layer in front of every protected north route that
//! finds the token (`x-access-token` or `Authorization: Bearer`), has the
//! token registry check it, and hands the caller to the handler as an
//! `AuthUser`. Role checks are extractors (`OperatorUser`, `AdminUser`).

use std::{
    future::{ready, Ready},
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use futures_util::future::Either;
use tower::{Layer, Service};

use crate::{
    error::ApiError,
    extract::AuthUser,
    tokens::{self, jwt::TokenType, TokenError, Tokens},
};

/// The gateway as a tower layer: the check is synchronous (signature or
/// cache, claims, in-memory revocation list), so it runs in `call` itself,
/// with no boxed future or service clone per request.
#[derive(Clone)]
pub struct GatewayLayer {
    tokens: Tokens,
}

impl GatewayLayer {
    pub fn new(tokens: Tokens) -> Self {
        GatewayLayer { tokens }
    }
}

impl<S> Layer<S> for GatewayLayer {
    type Service = Gateway<S>;
    fn layer(&self, inner: S) -> Gateway<S> {
        Gateway {
            inner,
            tokens: self.tokens.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Gateway<S> {
    inner: S,
    tokens: Tokens,
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
        match authenticate(&self.tokens, req.headers()) {
            Ok(user) => {
                req.extensions_mut().insert(user);
                Either::Right(self.inner.call(req))
            }
            Err(e) => {
                let e = ApiError::from(e);
                crate::telemetry::refused(e.code(), None, req.uri().path());
                Either::Left(ready(Ok(e.into_response())))
            }
        }
    }
}

/// Who a north request's token says the caller is, if it holds.
pub fn authenticate(tokens: &Tokens, headers: &HeaderMap) -> Result<AuthUser, TokenError> {
    let token = tokens::presented(headers)?;
    let claims = tokens.check(token, TokenType::User)?;
    let id = claims.sub.parse::<i64>().map_err(|_| TokenError::Invalid)?;
    let role = claims.role.ok_or(TokenError::Invalid)?;
    Ok(AuthUser {
        id,
        role,
        token_id: claims.jti.clone(),
        expires_at: claims.exp,
    })
}
