//! `GET /api/v1/tokens` and `POST /api/v1/tokens/{token_id}/revoke` (admin).

use app::types::{RevocationReason, TokenInfo};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{store, Tokens};
use crate::{
    audit::{Audit, Entry, Event},
    db,
    error::{ApiError, ApiResult},
    extract::{AdminUser, ApiPath, ApiQuery},
    openapi::{BadRequest, Forbidden, NotFound, Unauthorized},
};

const MAX_PAGE: i64 = 1000;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Tokens: FromRef<S>,
    Audit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(revoke))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this user's tokens.
    user_id: Option<i64>,
    /// Only this device's tokens.
    device_id: Option<i64>,
    /// Only usable (`true`) or only revoked or expired (`false`) tokens.
    active: Option<bool>,
    /// At most this many, newest first (default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// The token registry: every issued token, never the token itself.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", operation_id = "list_tokens",
    params(ListQuery),
    responses((status = 200, body = Vec<TokenInfo>), Unauthorized, Forbidden, BadRequest),
    security(("token" = []), ("bearer" = [])))]
async fn list(
    State(tokens): State<Tokens>,
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
    let rows = store::list(tokens.db(), &filter, tokens.clock().now()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| TokenInfo {
                token_id: r.token_id,
                user_id: r.user_id,
                device_id: r.device_id,
                issued_at: db::rfc3339(r.issued_at),
                expires_at: db::rfc3339(r.expires_at),
                blacklist: r.revoked,
                blacklist_reason: r.reason,
            })
            .collect(),
    ))
}

/// Revokes a token: refused at once everywhere.
#[utoipa::path(post, path = "/v1/tokens/{token_id}/revoke", tag = "tokens",
    operation_id = "revoke_token",
    params(("token_id" = String, Path, description = "the token's `jti`")),
    responses((status = 204, description = "revoked"), Unauthorized, Forbidden, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn revoke(
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    AdminUser(admin): AdminUser,
    ApiPath(token_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !plausible_token_id(&token_id)
        || !tokens
            .revoke(&token_id, RevocationReason::AdminRevoked)
            .await?
    {
        return Err(ApiError::not_found("token"));
    }
    audit
        .record(
            Entry::new(Event::TokenRevoked)
                .actor(admin.actor())
                .subject(&token_id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Token ids are 32 hex digits; anything else cannot exist and is not worth
/// a query (PostgreSQL would even refuse a NUL byte with an error).
fn plausible_token_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
