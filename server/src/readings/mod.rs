//! `GET /api/v1/devices/{id}/readings`: stored readings, newest first, with
//! sensor and time-range filters and a bounded page.

use app::types::Reading;
use axum::{extract::State, Json};
use serde::Deserialize;
use sqlx::Row;

use crate::{
    api::{ApiPath, ApiQuery},
    auth::gateway::AuthUser,
    devices::store as devices,
    error::{ApiError, ApiResult},
    state::AppState,
};

const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize)]
pub struct Query {
    sensor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
}

fn millis(name: &str, v: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|_| ApiError::bad_request(format!("{name} must be an RFC 3339 time"))),
    }
}

pub async fn list(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<Query>,
) -> ApiResult<Json<Vec<Reading>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let from = millis("from", q.from.as_deref(), 0)?;
    let to = millis("to", q.to.as_deref(), i64::MAX)?;
    let sensor = q.sensor.unwrap_or_default();
    if sensor.len() > 64 || sensor.contains('\0') {
        return Err(ApiError::bad_request("sensor must be a sensor name"));
    }
    devices::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("device"))?;
    let rows = sqlx::query(
        "SELECT sensor, value, unit, ts FROM readings \
         WHERE device_id = $1 AND ($2 = '' OR sensor = $2) AND ts >= $3 AND ts <= $4 \
         ORDER BY ts DESC, id DESC LIMIT $5",
    )
    .bind(id)
    .bind(&sensor)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let readings = rows
        .iter()
        .map(|r| {
            let ts: i64 = r.try_get(3)?;
            Ok(Reading {
                sensor: r.try_get(0)?,
                value: r.try_get(1)?,
                unit: r.try_get(2)?,
                ts: crate::db::rfc3339_millis(ts),
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Json(readings))
}
