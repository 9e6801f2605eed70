//! Who is calling the south API: the device behind the verified client
//! certificate (`AuthDevice`), and its token, which must be bound to that
//! same certificate (`DeviceCaller`).

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::{
    auth::{gateway::presented_token, jwt::TokenType},
    error::ApiError,
    net::PeerCert,
    state::AppState,
    tokens,
};

/// The device whose certificate completed the handshake on this connection.
#[derive(Debug, Clone)]
pub struct AuthDevice {
    pub id: i64,
    pub thumbprint: String,
    /// `x5t#S256` of its certificate, computed once per connection.
    pub x5t_s256: String,
}

impl FromRequestParts<AppState> for AuthDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let cert = parts
            .extensions
            .get::<PeerCert>()
            .ok_or(ApiError::TokenInvalid)?;
        let entry = state
            .devices
            .get(&cert.thumbprint)
            .ok_or(ApiError::TokenInvalid)?;
        // Revoked after this connection's handshake: its next request stops here.
        if !entry.active {
            return Err(ApiError::TokenRevoked);
        }
        Ok(AuthDevice {
            id: entry.id,
            thumbprint: cert.thumbprint.clone(),
            x5t_s256: cert.x5t_s256.clone(),
        })
    }
}

/// A device with a valid, unrevoked device token bound to the certificate
/// presented on this very connection.
#[derive(Debug, Clone)]
pub struct DeviceCaller {
    pub device: AuthDevice,
    pub token_id: String,
}

impl FromRequestParts<AppState> for DeviceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let device = AuthDevice::from_request_parts(parts, state).await?;
        let token = presented_token(&parts.headers)?;
        let claims = tokens::check(state, token, TokenType::Device)?;
        let bound = claims.cnf.as_ref().map(|c| c.x5t_s256.as_str());
        if bound != Some(device.x5t_s256.as_str()) || claims.sub != device.id.to_string() {
            return Err(ApiError::TokenInvalid);
        }
        Ok(DeviceCaller {
            device,
            token_id: claims.jti.clone(),
        })
    }
}
