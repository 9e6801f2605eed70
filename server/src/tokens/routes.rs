//! `GET /api/v1/tokens` and `POST /api/v1/tokens/{token_id}/revoke` (admin).

use app::types::TokenInfo;
use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;

use crate::{
    api::{ApiPath, ApiQuery},
    audit,
    auth::gateway::AdminUser,
    db,
    error::{ApiError, ApiResult},
    state::AppState,
    tokens::{self, store},
};

const MAX_PAGE: i64 = 1000;

#[derive(Deserialize)]
pub struct ListQuery {
    user_id: Option<i64>,
    device_id: Option<i64>,
    active: Option<bool>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let filter = store::Filter {
        user_id: q.user_id,
        device_id: q.device_id,
        active: q.active,
        limit,
    };
    let rows = store::list(&state.db, &filter, db::now()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| TokenInfo {
                token_id: r.token_id,
                user_id: r.user_id,
                device_id: r.device_id,
                issued_at: db::rfc3339(r.issued_at),
                expires_at: db::rfc3339(r.expires_at),
                blacklist: r.blacklist,
                blacklist_reason: r.blacklist_reason,
            })
            .collect(),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(token_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !plausible_token_id(&token_id) || !tokens::revoke(&state, &token_id, "admin_revoked").await?
    {
        return Err(ApiError::not_found("token"));
    }
    audit::Entry::new(audit::Event::TokenRevoked)
        .actor(admin.0.actor())
        .subject(&token_id)
        .record(&state)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Token ids are 32 hex digits; anything else cannot exist and is not worth
/// a query (PostgreSQL would even refuse a NUL byte with an error).
fn plausible_token_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
