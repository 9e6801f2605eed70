//! `GET /api/v1/devices/{id}/readings`.

use app::types::Reading;
use axum::{
    extract::{FromRef, State},
    Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::store;
use crate::{
    db::Db,
    devices::{store as devices, DeviceError},
    error::{ApiError, ApiResult},
    extract::{ApiPath, ApiQuery, AuthUser},
    openapi::{BadRequest, NotFound, Unauthorized},
};

const MAX_LIMIT: i64 = 1000;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Only this sensor.
    #[param(pattern = "^[A-Za-z0-9_.:/-]{1,64}$")]
    sensor: Option<String>,
    /// From this time (RFC 3339), inclusive.
    #[param(format = DateTime)]
    from: Option<String>,
    /// Up to this time (RFC 3339), inclusive.
    #[param(format = DateTime)]
    to: Option<String>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
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

/// Stored readings of a device, newest first.
#[utoipa::path(get, path = "/v1/devices/{id}/readings", tag = "devices",
    operation_id = "list_readings",
    params(("id" = i64, Path, description = "device id"), Query),
    responses((status = 200, body = Vec<Reading>), Unauthorized, BadRequest, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn list(
    State(db): State<Db>,
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
    let sensor = q.sensor.as_deref();
    if sensor.is_some_and(|s| !super::valid_sensor(s)) {
        return Err(ApiError::bad_request(
            "sensor must be 1-64 characters of letters, digits and _ . : - /",
        ));
    }
    let query = store::Query {
        device_id: id,
        sensor,
        from_ms: millis("from", q.from.as_deref(), 0)?,
        to_ms: millis("to", q.to.as_deref(), i64::MAX)?,
        limit,
    };
    if !devices::exists(&db, id).await? {
        return Err(DeviceError::NotFound.into());
    }
    Ok(Json(store::list(&db, &query).await?))
}
