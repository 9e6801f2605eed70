//! `GET /api/v1/security/overview` (admin): the security signals in one
//! answer, for the dashboard's Security page: tokens in use by kind,
//! failed and throttled logins and revocations in the last 24 hours, the
//! latest revocations, devices whose certificate expires within 30 days,
//! enrollment groups near their limit, and the current signing key. Read
//! only, a handful of indexed counts.

use app::types::{ActiveTokens, AuditEntry, AuditEvent, SecurityOverview};
use axum::{
    extract::{FromRef, State},
    Json,
};
use sqlx::Row;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit, db,
    devices::{groups, store as devices_store},
    error::ApiResult,
    extract::AdminUser,
    openapi::{Forbidden, Unauthorized},
    summary::{events_since, EXPIRING_WITHIN, REVOCATIONS},
    tokens::Tokens,
};

/// Groups at or past this share of their limit are listed.
const NEAR_LIMIT: f64 = 0.8;
/// The latest revocations shown.
const RECENT: usize = 10;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Tokens: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(overview))
}

#[utoipa::path(get, path = "/v1/security/overview", tag = "audit",
    operation_id = "security_overview",
    responses((status = 200, body = SecurityOverview), Unauthorized, Forbidden),
    security(("token" = []), ("bearer" = [])))]
async fn overview(
    State(tokens): State<Tokens>,
    _admin: AdminUser,
) -> ApiResult<Json<SecurityOverview>> {
    let db = tokens.db();
    let now = tokens.clock().now();
    let day_ago = now - 86_400;
    let r = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN user_id IS NOT NULL THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN device_id IS NOT NULL THEN 1 ELSE 0 END), 0) \
         FROM tokens WHERE blacklist = 0 AND expires_at > $1",
    )
    .bind(now)
    .fetch_one(db)
    .await?;
    let active_tokens = ActiveTokens {
        users: r.try_get(0)?,
        devices: r.try_get(1)?,
    };
    let revoked_24h: i64 = sqlx::query(
        "SELECT COUNT(*) FROM tokens WHERE blacklist = 1 AND blacklisted_at > $1 \
         AND (blacklist_reason IS NULL OR blacklist_reason <> 'expired')",
    )
    .bind(day_ago)
    .fetch_one(db)
    .await?
    .try_get(0)?;
    let failed_logins_24h = events_since(db, &[AuditEvent::LoginFailed], day_ago).await?;
    let throttled_24h = events_since(db, &[AuditEvent::LoginThrottled], day_ago).await?;
    let mut recent_revocations: Vec<AuditEntry> = Vec::new();
    for event in REVOCATIONS {
        let only = audit::store::Filter {
            event: Some(event),
            ..Default::default()
        };
        recent_revocations.extend(audit::store::list(db, &only, i64::MAX, RECENT as i64).await?);
    }
    recent_revocations.sort_by_key(|e| std::cmp::Reverse(e.id));
    recent_revocations.truncate(RECENT);
    let (expiring_certificates, expiring_count) =
        devices_store::expiring(db, now + EXPIRING_WITHIN, 100).await?;
    let groups_near_limit = groups::store::all(db)
        .await?
        .into_iter()
        .map(|r| r.group)
        .filter(|g| {
            g.status == app::types::GroupStatus::Active
                && g.max_devices
                    .is_some_and(|m| g.registered as f64 >= m as f64 * NEAR_LIMIT)
        })
        .collect();
    Ok(Json(SecurityOverview {
        generated_at: db::rfc3339(now),
        active_tokens,
        revoked_tokens_24h: revoked_24h,
        failed_logins_24h,
        throttled_logins_24h: throttled_24h,
        recent_revocations,
        expiring_certificates,
        expiring_count,
        groups_near_limit,
        signing_key: tokens.kid(),
    }))
}
