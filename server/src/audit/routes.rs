//! `GET /api/v1/audit` (admin).

use app::types::{AuditEntry, AuditEvent};
use axum::{
    extract::{FromRef, State},
    Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{store, Audit};
use crate::{
    error::{ApiError, ApiResult},
    extract::{AdminUser, ApiQuery},
    openapi::{BadRequest, Forbidden, Unauthorized},
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Audit: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this event.
    #[param(value_type = Option<AuditEvent>)]
    event: Option<String>,
    /// At most this many, newest first (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Entries with an id below this one (paging backwards).
    before: Option<i64>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", operation_id = "list_audit",
    params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), Unauthorized, Forbidden, BadRequest),
    security(("token" = []), ("bearer" = [])))]

async fn list(
    State(audit): State<Audit>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
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
    let entries = store::list(&audit.db, event, q.before.unwrap_or(i64::MAX), limit).await?;
    Ok(Json(entries))
}
