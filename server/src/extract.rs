//! Extractors of the HTTP layer: JSON, path and query whose rejections
//! answer in the contract's error shape, the client's address, and who is
//! calling — a user (put in the request by the north gateway) or a device
//! (put there by the south listener's device layer, its token checked here).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use app::types::Role;
use axum::{
    extract::{
        rejection::{JsonRejection, PathRejection, QueryRejection},
        ConnectInfo, FromRef, FromRequest, FromRequestParts,
    },
    http::{request::Parts, StatusCode},
};

use crate::{
    error::ApiError,
    tokens::{self, jwt::TokenType, Tokens},
};

/// JSON body; malformed JSON, a wrong content type or an oversized body
/// answer in the contract's error shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::validation(r.body_text()),
            _ => ApiError::bad_request(r.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

/// The client's address, as the TLS listener saw it.
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientAddr(ip))
    }
}

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

/// A role check that failed, logged (rate limited) with the token id.
fn forbidden(user: &AuthUser, parts: &Parts) -> ApiError {
    let e = ApiError::Forbidden;
    crate::telemetry::refused(e.code(), Some(&user.token_id), parts.uri.path());
    e
}

/// An admin or an operator.
pub struct OperatorUser(pub AuthUser);

impl<S: Send + Sync> FromRequestParts<S> for OperatorUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, s).await?;
        match user.role {
            Role::Admin | Role::Operator => Ok(OperatorUser(user)),
            Role::Viewer => Err(forbidden(&user, parts)),
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
            _ => Err(forbidden(&user, parts)),
        }
    }
}

/// The device whose certificate completed the handshake on this connection
/// and is still active.
#[derive(Debug, Clone)]
pub struct AuthDevice {
    pub id: i64,
    pub thumbprint: String,
    /// `x5t#S256` of its certificate, computed once per connection.
    pub x5t_s256: String,
    /// The certificate's `notAfter`, in seconds.
    pub cert_not_after: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for AuthDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<AuthDevice>()
            .cloned()
            .ok_or(ApiError::TokenInvalid)
    }
}

/// A device with a valid, unrevoked device token bound to the certificate
/// presented on this very connection.
#[derive(Debug, Clone)]
pub struct DeviceCaller {
    pub device: AuthDevice,
    pub token_id: String,
    /// The token's `exp`, for requests that outlast their start (long-polls).
    pub expires_at: i64,
}

impl<S> FromRequestParts<S> for DeviceCaller
where
    S: Send + Sync,
    Tokens: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let device = AuthDevice::from_request_parts(parts, state).await?;
        let token = tokens::presented(&parts.headers)?;
        let claims = Tokens::from_ref(state).check(token, TokenType::Device)?;
        let bound = claims.cnf.as_ref().map(|c| c.x5t_s256.as_str());
        if bound != Some(device.x5t_s256.as_str()) || claims.sub != device.id.to_string() {
            return Err(ApiError::TokenInvalid);
        }
        Ok(DeviceCaller {
            device,
            token_id: claims.jti.clone(),
            expires_at: claims.exp,
        })
    }
}
