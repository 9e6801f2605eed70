//! `GET /api/v1/devices/{id}/readings` and `…/readings/aggregate`.

use app::types::{Reading, ReadingsAggregate};
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
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(aggregate))
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

/// The `sensor` filter of both queries, checked like a stored name.
fn sensor_param(sensor: Option<&str>) -> Result<Option<&str>, ApiError> {
    if sensor.is_some_and(|s| !super::valid_sensor(s)) {
        return Err(ApiError::bad_request(
            "sensor must be 1-64 characters of letters, digits and _ . : - /",
        ));
    }
    Ok(sensor)
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
    let sensor = sensor_param(q.sensor.as_deref())?;
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

/// Buckets per aggregate at most, and by default.
const MAX_BUCKETS: i64 = 1000;
const DEFAULT_BUCKETS: i64 = 120;
/// The default range: the last day.
const DEFAULT_RANGE_MS: i64 = 24 * 3600 * 1000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AggregateQuery {
    /// Only this sensor.
    #[param(pattern = "^[A-Za-z0-9_.:/-]{1,64}$")]
    sensor: Option<String>,
    /// From this time (RFC 3339), inclusive; default a day before `to`.
    /// Must be before `to`.
    #[param(format = DateTime)]
    from: Option<String>,
    /// Up to this time (RFC 3339), inclusive; default now.
    #[param(format = DateTime)]
    to: Option<String>,
    /// Buckets the range is cut into (default 120).
    #[param(minimum = 1, maximum = 1000)]
    buckets: Option<i64>,
}

/// A device's readings over a range, cut into equal buckets: count, min,
/// max and average per sensor and bucket, computed by the database, so a
/// chart of a week downloads at most `buckets` points per sensor. Empty
/// buckets are left out.
#[utoipa::path(get, path = "/v1/devices/{id}/readings/aggregate", tag = "devices",
    operation_id = "aggregate_readings",
    params(("id" = i64, Path, description = "device id"), AggregateQuery),
    responses((status = 200, body = ReadingsAggregate), Unauthorized, BadRequest, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn aggregate(
    State(db): State<Db>,
    _user: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<AggregateQuery>,
) -> ApiResult<Json<ReadingsAggregate>> {
    let buckets = q.buckets.unwrap_or(DEFAULT_BUCKETS);
    if !(1..=MAX_BUCKETS).contains(&buckets) {
        return Err(ApiError::bad_request(format!(
            "buckets must be between 1 and {MAX_BUCKETS}"
        )));
    }
    let sensor = sensor_param(q.sensor.as_deref())?;
    let to_ms = millis("to", q.to.as_deref(), chrono::Utc::now().timestamp_millis())?;
    let from_ms = millis(
        "from",
        q.from.as_deref(),
        to_ms.saturating_sub(DEFAULT_RANGE_MS),
    )?;
    if from_ms >= to_ms {
        return Err(ApiError::bad_request("from must be before to"));
    }
    // Ceiling division: `buckets` buckets always cover the whole range.
    let span = i128::from(to_ms) - i128::from(from_ms) + 1;
    let width_ms =
        i64::try_from((span + i128::from(buckets) - 1) / i128::from(buckets)).unwrap_or(i64::MAX);
    if !devices::exists(&db, id).await? {
        return Err(DeviceError::NotFound.into());
    }
    let query = store::Buckets {
        device_id: id,
        sensor,
        from_ms,
        to_ms,
        width_ms,
    };
    Ok(Json(ReadingsAggregate {
        from: crate::db::rfc3339_millis(from_ms),
        to: crate::db::rfc3339_millis(to_ms),
        bucket_ms: width_ms,
        buckets: store::aggregate(&db, &query).await?,
    }))
}
