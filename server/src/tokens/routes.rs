//! `GET /api/v1/tokens` and `POST /api/v1/tokens/{token_id}/revoke` (admin).

use app::types::{RevocationReason, TokenInfo, TokenKind, TokenState};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{store, Tokens};
use crate::{
    audit::{Audit, Entry, Event},
    db,
    error::{ApiError, ApiResult},
    extract::{AdminUser, ApiPath, ApiQuery},
    openapi::{BadRequest, Forbidden, NotFound, Unauthorized},
    paging,
};

const MAX_PAGE: i64 = 1000;
/// The longest `owner=` text.
const MAX_OWNER: usize = 200;

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

#[derive(Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this user's tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
    /// Only this device's tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<i64>,
    /// Only usable (`true`) or only revoked or expired (`false`) tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    /// Only users' or only devices' tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<TokenKind>,
    /// Only tokens in this state.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<TokenState>,
    /// Only tokens whose owner's name holds this text: a username, a
    /// device's name or its registration id (ASCII letters in any case).
    #[param(max_length = 200)]
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    /// At most this many, newest first (default 200).
    #[param(minimum = 1, maximum = 1000)]
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<i64>,
    /// Where the previous page ended, from its `Link`.
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

/// A page's end as `cursor=` carries it: `<issued_at>.<token_id>`.
fn cursor(issued_at: i64, token_id: &str) -> String {
    format!("{issued_at}.{token_id}")
}

fn parse_cursor(c: &str) -> Option<(i64, String)> {
    let (at, id) = c.split_once('.')?;
    plausible_token_id(id).then_some((at.parse().ok()?, id.to_owned()))
}

/// The token registry: every issued token, never the token itself,
/// newest first. While more remain, `Link: <...>; rel="next"` gives the
/// next page; `x-total-count` counts every page.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", operation_id = "list_tokens",
    params(ListQuery),
    responses((status = 200, body = Vec<TokenInfo>,
        headers(("link" = String, description = "the next page, while more remain"),
            ("x-total-count" = i64, description = "tokens the filters match, on every page"))),
        Unauthorized, Forbidden, BadRequest),
    security(("token" = []), ("bearer" = [])))]
async fn list(
    State(tokens): State<Tokens>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            parse_cursor(c)
                .ok_or_else(|| ApiError::bad_request("cursor is not one this list gave"))?,
        ),
    };
    if q.owner
        .as_ref()
        .is_some_and(|o| o.chars().count() > MAX_OWNER)
    {
        return Err(ApiError::bad_request(format!(
            "owner must be at most {MAX_OWNER} characters"
        )));
    }
    let filter = store::Filter {
        user_id: q.user_id,
        device_id: q.device_id,
        active: q.active,
        kind: q.kind,
        state: q.state,
        owner: q
            .owner
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned),
        after,
    };
    let now = tokens.clock().now();
    let mut rows = store::list(tokens.db(), &filter, now, limit + 1).await?;
    let total = store::count(tokens.db(), &filter, now).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = rows.last().filter(|_| more).map(|last| {
        let next = ListQuery {
            limit: Some(limit),
            cursor: Some(cursor(last.issued_at, &last.token_id)),
            ..q
        };
        paging::with_query("/api/v1/tokens", &next)
    });
    let page: Vec<TokenInfo> = rows
        .into_iter()
        .map(|r| TokenInfo {
            token_id: r.token_id,
            user_id: r.user_id,
            device_id: r.device_id,
            issued_at: db::rfc3339(r.issued_at),
            expires_at: db::rfc3339(r.expires_at),
            blacklist: r.revoked,
            blacklist_reason: r.reason,
            owner_name: r.owner_name,
        })
        .collect();
    Ok(paging::paged(page, next, total))
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
