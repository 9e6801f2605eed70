//! The device side of the registry on the south listener:
//! `POST /device/v1/token`, a token bound to the connection's certificate.

use app::types::DeviceToken;
use axum::{
    extract::{FromRef, State},
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Devices;
use crate::{
    db,
    error::{ApiError, ApiResult},
    extract::AuthDevice,
    openapi::Unauthorized,
    tokens::{store::Owner, Subject, Tokens},
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Tokens: FromRef<S>,
    Devices: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(token))
        .merge(super::groups::south_router())
        .merge(super::certificates::south_router())
}

/// Issues a device token bound to the certificate of this connection
/// (south listener, mutual TLS); a revocation racing it wins
/// (`token_revoked`).
#[utoipa::path(post, path = "/device/v1/token", tag = "device API",
    operation_id = "device_token",
    responses((status = 200, body = DeviceToken), Unauthorized,
        (status = 429, description = "rate_limited, with Retry-After: tokens per hour", body = app::types::ErrorBody)),
    security())]
async fn token(
    State(tokens): State<Tokens>,
    State(devices): State<Devices>,
    device: AuthDevice,
) -> ApiResult<Json<DeviceToken>> {
    // A device that asks for tokens in a loop fills the registry: so many
    // an hour, then 429 until the oldest of them is an hour old.
    let now = tokens.clock().now();
    let (recent, oldest) = tokens.issued_within(Owner::Device(device.id), 3600).await?;
    if recent >= i64::from(devices.0.tokens_per_hour) {
        let retry_after = oldest.map_or(60, |t| (t + 3600 - now).max(1)) as u64;
        return Err(ApiError::RateLimited {
            retry_after,
            message: format!(
                "a device may obtain {} tokens an hour; reuse the one it has",
                devices.0.tokens_per_hour
            ),
        });
    }
    let issued = tokens
        .issue(Subject::Device {
            id: device.id,
            thumbprint: &device.thumbprint,
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
