//! `GET /api/v1/summary` (any user): the fleet at a glance for the
//! overview's cards — devices online, offline and revoked, readings per
//! minute over the last hour, open commands, and for admins the security
//! signals. A handful of counts over small tables or indexes: the readings
//! themselves are never counted, the writer keeps `reading_counts`.

use app::types::{AuditEvent, DeviceCounts, FleetSummary, MinuteCount, Role, SecuritySignals};
use axum::{
    extract::{FromRef, State},
    Json,
};
use serde::Deserialize;
use sqlx::Row;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    db::{self, Db},
    devices::store as devices_store,
    error::{ApiError, ApiResult},
    extract::{ApiQuery, AuthUser},
    openapi::{BadRequest, Unauthorized},
    tokens::Tokens,
};

/// `online_within` by default, and its bounds (seconds).
const DEFAULT_ONLINE_WITHIN: i64 = 300;
const MIN_ONLINE_WITHIN: i64 = 10;
const MAX_ONLINE_WITHIN: i64 = 7 * 86_400;
/// Minutes in the readings-per-minute series.
const SERIES_MINUTES: i64 = 60;
/// Certificates that expire within this are counted.
pub const EXPIRING_WITHIN: i64 = 30 * 86_400;

/// The audit events that cut a credential off.
pub const REVOCATIONS: [AuditEvent; 5] = [
    AuditEvent::TokenRevoked,
    AuditEvent::DeviceRevoked,
    AuditEvent::DeviceTokensRevoked,
    AuditEvent::GroupRevoked,
    AuditEvent::CertificateRetired,
];

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Tokens: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(summary))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Seconds: an active device seen within this is online (default 300).
    #[param(minimum = 10, maximum = 604800)]
    online_within: Option<i64>,
}

/// The fleet at a glance, in one answer.
#[utoipa::path(get, path = "/v1/summary", tag = "devices",
    operation_id = "fleet_summary",
    params(SummaryQuery),
    responses((status = 200, body = FleetSummary), Unauthorized, BadRequest),
    security(("token" = []), ("bearer" = [])))]
async fn summary(
    State(tokens): State<Tokens>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> ApiResult<Json<FleetSummary>> {
    let online_within = q.online_within.unwrap_or(DEFAULT_ONLINE_WITHIN);
    if !(MIN_ONLINE_WITHIN..=MAX_ONLINE_WITHIN).contains(&online_within) {
        return Err(ApiError::bad_request(format!(
            "online_within must be between {MIN_ONLINE_WITHIN} and {MAX_ONLINE_WITHIN} seconds"
        )));
    }
    let db = tokens.db();
    let now = tokens.clock().now();
    let devices = device_counts(db, now - online_within).await?;
    // The writer counts by the wall clock, so the series does too.
    let series = per_minute(db, db::now().div_euclid(60)).await?;
    let readings_per_minute = series
        .len()
        .checked_sub(2)
        .map_or(0, |last_whole| series[last_whole].count);
    let open_commands: i64 =
        sqlx::query("SELECT COUNT(*) FROM commands WHERE status IN ('queued', 'delivered')")
            .fetch_one(db)
            .await?
            .try_get(0)?;
    let security = match user.role {
        Role::Admin => Some(security(db, now).await?),
        _ => None,
    };
    Ok(Json(FleetSummary {
        generated_at: db::rfc3339(now),
        online_within,
        devices,
        readings_per_minute,
        readings_per_minute_series: series,
        open_commands,
        security,
    }))
}

async fn device_counts(db: &Db, seen_since: i64) -> sqlx::Result<DeviceCounts> {
    let r = sqlx::query(
        "SELECT COUNT(*), \
                COALESCE(SUM(CASE WHEN status = 'revoked' THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN status = 'active' AND last_seen >= $1 THEN 1 ELSE 0 END), 0) \
         FROM devices",
    )
    .bind(seen_since)
    .fetch_one(db)
    .await?;
    let total: i64 = r.try_get(0)?;
    let revoked: i64 = r.try_get(1)?;
    let online: i64 = r.try_get(2)?;
    Ok(DeviceCounts {
        total,
        online,
        offline: total - revoked - online,
        revoked,
    })
}

/// The last `SERIES_MINUTES` minutes up to `minute` (the current one),
/// oldest first, every instance's rows added, minutes with none at 0.
async fn per_minute(db: &Db, minute: i64) -> sqlx::Result<Vec<MinuteCount>> {
    let first = minute - SERIES_MINUTES + 1;
    let rows = sqlx::query(
        "SELECT minute, CAST(SUM(count) AS BIGINT) FROM reading_counts \
         WHERE minute >= $1 AND minute <= $2 GROUP BY minute",
    )
    .bind(first)
    .bind(minute)
    .fetch_all(db)
    .await?;
    let mut counts = vec![0i64; SERIES_MINUTES as usize];
    for r in rows {
        let m: i64 = r.try_get(0)?;
        let n: i64 = r.try_get(1)?;
        if let Some(slot) = usize::try_from(m - first)
            .ok()
            .and_then(|i| counts.get_mut(i))
        {
            *slot = n;
        }
    }
    Ok(counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| MinuteCount {
            start: db::rfc3339((first + i as i64) * 60),
            count,
        })
        .collect())
}

async fn security(db: &Db, now: i64) -> sqlx::Result<SecuritySignals> {
    let day_ago = now - 86_400;
    let failed_logins_24h = events_since(db, &[AuditEvent::LoginFailed], day_ago).await?;
    let revocations_24h = events_since(db, &REVOCATIONS, day_ago).await?;
    let expiring_certificates_30d =
        devices_store::expiring_count(db, now + EXPIRING_WITHIN).await?;
    Ok(SecuritySignals {
        failed_logins_24h,
        revocations_24h,
        expiring_certificates_30d,
    })
}

/// Audit entries of any of `events` after `since`, in one query.
pub async fn events_since(db: &Db, events: &[AuditEvent], since: i64) -> sqlx::Result<i64> {
    let listed: Vec<String> = (0..events.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT COUNT(*) FROM audit_log WHERE ts > $1 AND event IN ({})",
        listed.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(since);
    for event in events {
        q = q.bind(event.as_str());
    }
    q.fetch_one(db).await?.try_get(0)
}
