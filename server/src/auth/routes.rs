//! `/api/v1/auth`: login, logout, me.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use app::types::{LoginRequest, LoginResponse, UserInfo};
use axum::{
    extract::{ConnectInfo, FromRequestParts, State},
    http::{request::Parts, StatusCode},
    Json,
};

use crate::{
    api::ApiJson,
    audit::{Entry, Event},
    auth::{gateway::AuthUser, password},
    db,
    error::{ApiError, ApiResult},
    state::AppState,
    tokens,
    users::{self, store as users_store},
};

/// The client's address, as the TLS listener saw it.
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientAddr(ip))
    }
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if body.username.is_empty()
        || body.username.len() > 256
        || body.password.len() > password::MAX_LEN
    {
        return Err(ApiError::validation(
            "username and password are required and bounded in length",
        ));
    }
    if let Err(retry_after) = state.throttle.begin(&body.username, ip) {
        Entry::new(Event::LoginThrottled)
            .subject(audit_name(&body.username))
            .ip(ip)
            .record(&state)
            .await?;
        return Err(ApiError::TooManyAttempts { retry_after });
    }
    // A name no user can have is never looked up (PostgreSQL refuses NUL
    // bytes, say), but costs the same hash as any other failure.
    let found = match users::parse_username(&body.username) {
        Ok(name) => users_store::by_username(&state.db, name).await?,
        Err(_) => None,
    };
    let (hash, user) = match found {
        Some(row) => (Some(row.password_hash), Some(row.info)),
        None => (None, None),
    };
    let ok = password::verify(hash, body.password).await?;
    let Some(user) = user.filter(|_| ok) else {
        Entry::new(Event::LoginFailed)
            .subject(audit_name(&body.username))
            .ip(ip)
            .record(&state)
            .await?;
        return Err(ApiError::InvalidCredentials);
    };
    state.throttle.succeeded(&body.username, ip);
    let issued = tokens::issue_user_token(&state, &user).await?;
    Entry::new(Event::LoginOk)
        .actor(format!("user:{}", user.id))
        .subject(issued.token_id.clone())
        .ip(ip)
        .record(&state)
        .await?;
    Ok(Json(LoginResponse {
        token: issued.token,
        token_id: issued.token_id,
        expires_at: db::rfc3339(issued.expires_at),
        user,
    }))
}

/// Names in the audit log only in the shape a valid username can take, so
/// a failed login cannot write arbitrary text (or a pasted password) there.
fn audit_name(username: &str) -> String {
    match users::parse_username(username) {
        Ok(u) => u.to_owned(),
        Err(_) => "(malformed username)".to_owned(),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    user: AuthUser,
) -> ApiResult<StatusCode> {
    tokens::revoke(&state, &user.token_id, "logout").await?;
    Entry::new(Event::Logout)
        .actor(user.actor())
        .subject(user.token_id.clone())
        .ip(ip)
        .record(&state)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<UserInfo>> {
    // A deleted user's tokens are revoked; this covers a race with deletion.
    let info = users_store::get(&state.db, user.id)
        .await?
        .ok_or(ApiError::TokenRevoked)?;
    Ok(Json(info))
}

/// Answers 200 when the token passes the gateway, without touching the
/// database: a cheap validity check for clients. With `ping`, the pair the
/// auth benchmark compares: the same answer with and without the gateway.
pub async fn check(_user: AuthUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// No token needed: the same answer as `check`, for reachability probes.
pub async fn ping() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
