//! `GET /api/v1/devices/{id}/readings` and `…/readings/aggregate`.

use app::types::{Reading, ReadingsAggregate};
use axum::{
    extract::{FromRef, State},
    response::Response,
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::store;
use crate::{
    db::Db,
    devices::{store as devices, DeviceError},
    error::{ApiError, ApiResult},
    extract::{ApiPath, ApiQuery, AuthUser},
    openapi::{BadRequest, NotFound, Unauthorized},
    paging,
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
        .routes(routes!(super::export::csv))
}

#[derive(Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Only this sensor.
    #[param(pattern = "^[A-Za-z0-9_.:/-]{1,64}$")]
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor: Option<String>,
    /// From this time (RFC 3339), inclusive.
    #[param(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// Up to this time (RFC 3339), inclusive.
    #[param(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<i64>,
    /// Where the previous page ended, from its `Link`.
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

/// A page's end as `cursor=` carries it: `<ts in ms>.<id>`.
fn parse_cursor(c: &str) -> Option<(i64, i64)> {
    let (ts, id) = c.split_once('.')?;
    Some((ts.parse().ok()?, id.parse().ok()?))
}

/// The `sensor` filter of both queries, checked like a stored name.
pub(super) fn sensor_param(sensor: Option<&str>) -> Result<Option<&str>, ApiError> {
    if sensor.is_some_and(|s| !super::valid_sensor(s)) {
        return Err(ApiError::bad_request(
            "sensor must be 1-64 characters of letters, digits and _ . : - /",
        ));
    }
    Ok(sensor)
}

pub(super) fn millis(name: &str, v: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|_| ApiError::bad_request(format!("{name} must be an RFC 3339 time"))),
    }
}

/// Stored readings of a device, newest first. While more remain,
/// `Link: <...>; rel="next"` gives the next page (readings that share a
/// time are never split or repeated across pages).
#[utoipa::path(get, path = "/v1/devices/{id}/readings", tag = "devices",
    operation_id = "list_readings",
    params(("id" = i64, Path, description = "device id"), Query),
    responses((status = 200, body = Vec<Reading>,
        headers(("link" = String, description = "the next page, while more remain"))),
        Unauthorized, BadRequest, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn list(
    State(db): State<Db>,
    _user: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<Query>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            parse_cursor(c)
                .ok_or_else(|| ApiError::bad_request("cursor is not one this list gave"))?,
        ),
    };
    let sensor = sensor_param(q.sensor.as_deref())?;
    let query = store::Query {
        device_id: id,
        sensor,
        from_ms: millis("from", q.from.as_deref(), 0)?,
        to_ms: millis("to", q.to.as_deref(), i64::MAX)?,
        limit: limit + 1,
        after,
    };
    if !devices::exists(&db, id).await? {
        return Err(DeviceError::NotFound.into());
    }
    let mut rows = store::list(&db, &query, true).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = rows.last().filter(|_| more).map(|(_, (ts, rid))| {
        let next = Query {
            limit: Some(limit),
            cursor: Some(format!("{ts}.{rid}")),
            ..q
        };
        paging::with_query(&format!("/api/v1/devices/{id}/readings"), &next)
    });
    let page: Vec<Reading> = rows.into_iter().map(|(r, _)| r).collect();
    Ok(paging::with_next(page, next))
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
