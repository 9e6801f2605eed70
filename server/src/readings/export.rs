//! `GET /api/v1/devices/{id}/readings.csv`: a device's readings over a
//! range as CSV, oldest first, however many there are. The answer is
//! streamed, read from the database 5,000 rows at a time by key: memory
//! stays bounded and no connection is held while the client reads.

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use futures_util::stream;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    routes::{millis, sensor_param},
    store,
};
use crate::{
    db::Db,
    devices::{store as devices, DeviceError},
    error::{ApiError, ApiResult},
    extract::{ApiPath, ApiQuery, AuthUser},
    openapi::{BadRequest, NotFound, Unauthorized},
};

/// Rows read per query.
const CHUNK: i64 = 5000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only this sensor.
    #[param(pattern = "^[A-Za-z0-9_.:/-]{1,64}$")]
    sensor: Option<String>,
    /// From this time (RFC 3339), inclusive.
    #[param(format = DateTime)]
    from: Option<String>,
    /// Up to this time (RFC 3339), inclusive.
    #[param(format = DateTime)]
    to: Option<String>,
}

/// A text field of a CSV line: quoted when it holds a comma, a quote or a
/// line break (RFC 4180). A unit is the device's text: one that starts as
/// a spreadsheet formula would (`=`, `+`, `-`, `@`, a tab or a carriage
/// return) is written after a `'`, so opening the export never runs what
/// a device wrote (OWASP's CSV injection).
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn lines(rows: &[store::Positioned]) -> String {
    let mut out = String::with_capacity(rows.len() * 48);
    for (r, _) in rows {
        out.push_str(&r.ts);
        out.push(',');
        out.push_str(&r.sensor);
        out.push(',');
        out.push_str(&r.value.to_string());
        out.push(',');
        out.push_str(&field(r.unit.as_deref().unwrap_or("")));
        out.push_str("\r\n");
    }
    out
}

/// The device's readings as CSV (`ts,sensor,value,unit`), oldest first.
#[utoipa::path(get, path = "/v1/devices/{id}/readings.csv", tag = "devices",
    operation_id = "export_readings",
    params(("id" = i64, Path, description = "device id"), ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "`ts,sensor,value,unit`, one reading a line, oldest first"),
        Unauthorized, BadRequest, NotFound),
    security(("token" = []), ("bearer" = [])))]
pub async fn csv(
    State(db): State<Db>,
    _user: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let sensor = sensor_param(q.sensor.as_deref())?.map(str::to_owned);
    let from_ms = millis("from", q.from.as_deref(), 0)?;
    let to_ms = millis("to", q.to.as_deref(), i64::MAX)?;
    if from_ms > to_ms {
        return Err(ApiError::bad_request("from must not be after to"));
    }
    if !devices::exists(&db, id).await? {
        return Err(DeviceError::NotFound.into());
    }
    let head = stream::once(async { Ok::<_, sqlx::Error>("ts,sensor,value,unit\r\n".to_owned()) });
    // The state: where the last chunk ended, `None` once done.
    let body = stream::try_unfold(Some(None), move |after: Option<Option<(i64, i64)>>| {
        let (db, sensor) = (db.clone(), sensor.clone());
        async move {
            let Some(after) = after else { return Ok(None) };
            let query = store::Query {
                device_id: id,
                sensor: sensor.as_deref(),
                from_ms,
                to_ms,
                limit: CHUNK,
                after,
            };
            let rows = store::list(&db, &query, false).await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let next = (rows.len() as i64 == CHUNK).then(|| rows.last().map(|(_, at)| *at));
            Ok(Some((lines(&rows), next)))
        }
    });
    let chunks = futures_util::StreamExt::chain(head, body);
    let mut res = Body::from_stream(chunks).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"device-{id}-readings.csv\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_unit_with_a_comma_or_a_quote_is_quoted() {
        assert_eq!(super::field("kWh"), "kWh");
        assert_eq!(super::field("a,b"), "\"a,b\"");
        assert_eq!(super::field("5\" pipe"), "\"5\"\" pipe\"");
    }
}
