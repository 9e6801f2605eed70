//! `POST /device/v1/readings`.

use app::types::{Accepted, ReadingsBatch};
use axum::{
    extract::{DefaultBodyLimit, FromRef, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{quota::Quotas, validate, writer::Writer, IngestError, MAX_BODY};
use crate::{
    devices::Devices,
    error::ApiResult,
    extract::{ApiJson, DeviceCaller},
    live::LiveHub,
    openapi::{BadBody, Unauthorized},
    tokens::Tokens,
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Writer: FromRef<S>,
    LiveHub: FromRef<S>,
    Devices: FromRef<S>,
    Tokens: FromRef<S>,
    Quotas: FromRef<S>,
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
    State(writer): State<Writer>,
    State(live): State<LiveHub>,
    State(devices): State<Devices>,
    State(tokens): State<Tokens>,
    State(quotas): State<Quotas>,
    caller: DeviceCaller,
    ApiJson(batch): ApiJson<ReadingsBatch>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let now_ms = tokens.clock().now_ms();
    let rows = validate(caller.device.id, batch.readings, now_ms)?;
    quotas
        .admit(caller.device.id, &rows, std::time::Instant::now())
        .await?;
    let accepted = rows.len();
    let published = live.has_subscribers().then(|| rows.clone());
    writer.write(rows).await.map_err(IngestError::Store)?;
    if let Some(rows) = published {
        live.publish(&rows);
    }
    devices.mark_seen(caller.device.id, now_ms / 1000);
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })))
}
