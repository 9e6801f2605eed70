//! `POST /device/v1/readings`.

use app::types::{Accepted, ReadingsBatch};
use axum::{
    extract::{DefaultBodyLimit, FromRef, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Pipeline, MAX_BODY};
use crate::{
    error::ApiResult,
    extract::{ApiJson, DeviceCaller},
    openapi::{BadBody, Unauthorized},
    tokens::Tokens,
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Pipeline: FromRef<S>,
    Tokens: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(post_readings))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// Stores a batch of readings (south listener, mutual TLS, a device token
/// bound to the connection's certificate). 202 only once the whole batch is
/// committed; nothing of a refused batch is stored.
#[utoipa::path(post, path = "/device/v1/readings", tag = "device API",
    operation_id = "post_readings",
    request_body = ReadingsBatch,
    responses((status = 202, body = Accepted), Unauthorized, BadBody,
        (status = 429, description = "rate_limited, with Retry-After: the device's rate", body = app::types::ErrorBody)),
    security(("token" = []), ("bearer" = [])))]
async fn post_readings(
    State(pipeline): State<Pipeline>,
    caller: DeviceCaller,
    ApiJson(batch): ApiJson<ReadingsBatch>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let accepted = pipeline.store(caller.device.id, batch.readings).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })))
}
