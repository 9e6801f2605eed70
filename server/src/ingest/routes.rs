//! `POST /device/v1/readings`.

use app::types::{Accepted, ReadingsBatch};
use axum::{extract::State, http::StatusCode, Json};

use crate::{
    api::ApiJson, error::ApiResult, ingest::validate, south::extract::DeviceCaller, state::AppState,
};

/// 202 only once the whole batch is committed; nothing of a refused batch
/// is stored.
pub async fn post_readings(
    State(state): State<AppState>,
    caller: DeviceCaller,
    ApiJson(batch): ApiJson<ReadingsBatch>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let rows = validate(caller.device.id, batch.readings, now_ms)?;
    let accepted = rows.len();
    let live = state.live.has_subscribers().then(|| rows.clone());
    state.writer.write(rows).await?;
    if let Some(rows) = live {
        state.live.publish(&rows);
    }
    state.last_seen.mark(caller.device.id, now_ms / 1000);
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })))
}
