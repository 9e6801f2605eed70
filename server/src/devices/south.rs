//! The device side of the registry on the south listener:
//! `POST /device/v1/token`, a token bound to the connection's certificate.

use app::types::DeviceToken;
use axum::{
    extract::{FromRef, State},
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    db,
    error::ApiResult,
    extract::AuthDevice,
    openapi::Unauthorized,
    tokens::{Subject, Tokens},
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Tokens: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(token))
}

/// Issues a device token bound to the certificate of this connection
/// (south listener, mutual TLS); a revocation racing it wins
/// (`token_revoked`).
#[utoipa::path(post, path = "/device/v1/token", tag = "device API",
    operation_id = "device_token",
    responses((status = 200, body = DeviceToken), Unauthorized),
    security())]
async fn token(State(tokens): State<Tokens>, device: AuthDevice) -> ApiResult<Json<DeviceToken>> {
    let issued = tokens
        .issue(Subject::Device {
            id: device.id,
            x5t_s256: &device.x5t_s256,
            cert_not_after: device.cert_not_after,
        })
        .await?;
    Ok(Json(DeviceToken {
        token: issued.token,
        token_id: issued.token_id,
        expires_at: db::rfc3339(issued.expires_at),
    }))
}
