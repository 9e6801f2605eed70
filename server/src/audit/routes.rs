//! `GET /api/v1/audit` (admin).

use app::types::{AuditEntry, AuditEvent};
use axum::{
    extract::{FromRef, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{store, Audit};
use crate::{
    error::{ApiError, ApiResult},
    extract::{AdminUser, ApiQuery},
    openapi::{BadRequest, Forbidden, Unauthorized},
    paging,
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Audit: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this event.
    #[param(value_type = Option<AuditEvent>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    /// Only entries whose actor, subject, address or detail contains this
    /// (case-insensitive, at most 128 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    /// At most this many, newest first (default 100).
    #[param(minimum = 1, maximum = 1000)]
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<i64>,
    /// Entries with an id below this one (paging backwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<i64>,
}

const MAX_SEARCH: usize = 128;

/// The audit log, newest first. While more remain, `Link: <...>;
/// rel="next"` gives the next page; `x-total-count` counts every page.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", operation_id = "list_audit",
    params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>,
        headers(("link" = String, description = "the next page, while more remain"),
            ("x-total-count" = i64, description = "entries the filters match, on every page"))),
        Unauthorized, Forbidden, BadRequest),
    security(("token" = []), ("bearer" = [])))]
async fn list(
    State(audit): State<Audit>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let event = match q.event.as_deref() {
        None => None,
        Some(e) => Some(AuditEvent::parse(e).ok_or_else(|| {
            ApiError::bad_request("event must be an event name like login_failed")
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let search = match q.q.as_deref().map(str::trim) {
        Some(t) if t.chars().count() > MAX_SEARCH => {
            return Err(ApiError::bad_request(format!(
                "q must be at most {MAX_SEARCH} characters"
            )))
        }
        Some(t) if !t.is_empty() => Some(t.to_owned()),
        _ => None,
    };
    let filter = store::Filter { event, search };
    let mut entries =
        store::list(&audit.db, &filter, q.before.unwrap_or(i64::MAX), limit + 1).await?;
    let total = store::count(&audit.db, &filter).await?;
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next = entries.last().filter(|_| more).map(|last| {
        let next = AuditQuery {
            limit: Some(limit),
            before: Some(last.id),
            ..q
        };
        paging::with_query("/api/v1/audit", &next)
    });
    Ok(paging::paged(entries, next, total))
}
