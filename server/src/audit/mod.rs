//! The audit log of security events, and `GET /api/v1/audit` (admin).

use std::net::IpAddr;

use app::types::AuditEntry;
use axum::{extract::State, Json};
use serde::Deserialize;
use sqlx::Row;

use crate::{
    api::ApiQuery,
    auth::gateway::AdminUser,
    db::{self, Db},
    error::{ApiError, ApiResult},
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    LoginOk,
    LoginFailed,
    LoginThrottled,
    Logout,
    TokenRevoked,
    UserCreated,
    UserDeleted,
    RoleChanged,
    DeviceEnrolled,
    DeviceRevoked,
    DeviceTokensRevoked,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::LoginOk => "login_ok",
            Event::LoginFailed => "login_failed",
            Event::LoginThrottled => "login_throttled",
            Event::Logout => "logout",
            Event::TokenRevoked => "token_revoked",
            Event::UserCreated => "user_created",
            Event::UserDeleted => "user_deleted",
            Event::RoleChanged => "role_changed",
            Event::DeviceEnrolled => "device_enrolled",
            Event::DeviceRevoked => "device_revoked",
            Event::DeviceTokensRevoked => "device_tokens_revoked",
        }
    }
}

/// One event being written: `Entry::new(ev).actor(..).subject(..).record(&state)`.
pub struct Entry {
    event: Event,
    actor: Option<String>,
    subject: Option<String>,
    ip: Option<String>,
    detail: Option<String>,
}

impl Entry {
    pub fn new(event: Event) -> Self {
        Entry {
            event,
            actor: None,
            subject: None,
            ip: None,
            detail: None,
        }
    }
    pub fn actor(mut self, a: impl Into<String>) -> Self {
        self.actor = Some(a.into());
        self
    }
    pub fn subject(mut self, s: impl Into<String>) -> Self {
        self.subject = Some(s.into());
        self
    }
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip.to_string());
        self
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    pub async fn record(self, state: &AppState) -> sqlx::Result<()> {
        insert(&state.db, &self, db::now()).await
    }
}

async fn insert(db: &Db, e: &Entry, now: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO audit_log (ts, event, actor, subject, ip, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(now)
        .bind(e.event.as_str())
        .bind(e.actor.as_deref())
        .bind(e.subject.as_deref())
        .bind(e.ip.as_deref())
        .bind(e.detail.as_deref())
        .execute(db)
        .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct AuditQuery {
    event: Option<String>,
    limit: Option<i64>,
    /// Entries with an id below this one (paging backwards).
    before: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let event = q.event.unwrap_or_default();
    if event.len() > 32 || !event.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(ApiError::bad_request(
            "event must be an event name like login_failed",
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let rows = sqlx::query(
        "SELECT id, ts, event, actor, subject, ip, detail FROM audit_log \
         WHERE ($1 = '' OR event = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(event)
    .bind(q.before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let entries = rows
        .iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.try_get(0)?,
                ts: db::rfc3339(r.try_get(1)?),
                event: r.try_get(2)?,
                actor: r.try_get(3)?,
                subject: r.try_get(4)?,
                ip: r.try_get(5)?,
                detail: r.try_get(6)?,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Json(entries))
}
