//! The south listener: the device API over mutual TLS.

pub mod extract;
pub mod verifier;

use app::types::DeviceToken;
use axum::{
    extract::{DefaultBodyLimit, State},
    routing::post,
    Json, Router,
};

use crate::{
    auth::jwt::{token_digest, Claims, Confirmation, TokenType, DEVICE_AUDIENCE, ISSUER},
    db,
    error::{ApiError, ApiResult},
    ingest,
    state::AppState,
    tokens::store,
};
use extract::AuthDevice;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/device/v1/token", post(token))
        .route("/device/v1/readings", post(ingest::routes::post_readings))
        .fallback(|| async { ApiError::NotFound("no such device API route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(ingest::MAX_BODY))
        .with_state(state)
}

/// Issues a device token bound to the certificate of this connection.
pub async fn token(
    State(state): State<AppState>,
    device: AuthDevice,
) -> ApiResult<Json<DeviceToken>> {
    let now = db::now();
    let exp = now + state.settings.device_token_ttl.as_secs() as i64;
    let claims = Claims {
        iss: ISSUER.into(),
        aud: DEVICE_AUDIENCE.into(),
        sub: device.id.to_string(),
        jti: uuid::Uuid::new_v4().simple().to_string(),
        iat: now,
        nbf: now,
        exp,
        typ: TokenType::Device,
        role: None,
        cnf: Some(Confirmation {
            x5t_s256: device.x5t_s256.clone(),
        }),
    };
    let token = state.jwt.sign(&claims)?;
    let record = store::NewToken {
        token_id: &claims.jti,
        user_id: None,
        device_id: Some(device.id),
        digest: &token_digest(&token),
        issued_at: now,
        expires_at: exp,
    };
    // Recorded only while the device is active: a racing revocation wins.
    if !store::insert_for_device(&state.db, state.engine, &record).await? {
        return Err(ApiError::TokenRevoked);
    }
    Ok(Json(DeviceToken {
        token,
        token_id: claims.jti,
        expires_at: db::rfc3339(exp),
    }))
}
