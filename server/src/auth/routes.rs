//! `/api/v1/auth`: login, logout, me; and `ping`/`check`, the pair the auth
//! benchmark compares.

use std::sync::Arc;

use app::types::{ErrorBody, LoginRequest, LoginResponse, RevocationReason, UserInfo};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::throttle::LoginThrottle;
use crate::{
    audit::{Audit, Entry, Event},
    db::{self, Db},
    error::{ApiError, ApiResult},
    extract::{ApiJson, AuthUser, ClientAddr},
    openapi::{BadBody, Unauthorized},
    tokens::{Subject, TokenError, Tokens},
    users::{self, password, store as users_store},
};

/// Routes that need no token.
pub fn public_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
    Tokens: FromRef<S>,
    Audit: FromRef<S>,
    Arc<LoginThrottle>: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(ping))
}

/// Routes behind the gateway.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
    Tokens: FromRef<S>,
    Audit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(check))
}

/// Signs in: a user token (JWT) for every later call.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", operation_id = "login",
    request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), BadBody,
        (status = 401, description = "invalid_credentials", body = ErrorBody),
        (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody)),
    security())]
async fn login(
    State(db): State<Db>,
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    State(throttle): State<Arc<LoginThrottle>>,
    ClientAddr(ip): ClientAddr,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if body.username.is_empty()
        || body.username.chars().count() > users::MAX_USERNAME
        || body.password.chars().count() > password::MAX_LEN
    {
        return Err(ApiError::validation(
            "username and password are required and bounded in length",
        ));
    }
    if let Err(retry_after) = throttle.begin(&body.username, ip) {
        audit
            .record(
                Entry::new(Event::LoginThrottled)
                    .subject(audit_name(&body.username))
                    .ip(ip),
            )
            .await?;
        return Err(ApiError::TooManyAttempts { retry_after });
    }
    // A name no user can have is never looked up (PostgreSQL refuses NUL
    // bytes, say), but costs the same hash as any other failure.
    let found = match users::parse_username(&body.username) {
        Ok(name) => users_store::by_username(&db, name).await?,
        Err(_) => None,
    };
    let (hash, user) = match found {
        Some(row) => (Some(row.password_hash), Some(row.info)),
        None => (None, None),
    };
    let ok = password::verify(hash, body.password).await?;
    let Some(user) = user.filter(|_| ok) else {
        audit
            .record(
                Entry::new(Event::LoginFailed)
                    .subject(audit_name(&body.username))
                    .ip(ip),
            )
            .await?;
        return Err(ApiError::InvalidCredentials);
    };
    throttle.succeeded(&body.username, ip);
    let subject = Subject::User {
        id: user.id,
        role: user.role,
    };
    let issued = match tokens.issue(subject).await {
        Ok(issued) => issued,
        // Deleted or re-roled while logging in: that change wins.
        Err(TokenError::OwnerChanged) => return Err(ApiError::InvalidCredentials),
        Err(e) => return Err(e.into()),
    };
    audit
        .record(
            Entry::new(Event::LoginOk)
                .actor(format!("user:{}", user.id))
                .subject(issued.token_id.clone())
                .ip(ip),
        )
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

/// Signs out: this token is revoked at once.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", operation_id = "logout",
    responses((status = 204, description = "signed out"), Unauthorized),
    security(("token" = []), ("bearer" = [])))]
async fn logout(
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    ClientAddr(ip): ClientAddr,
    user: AuthUser,
) -> ApiResult<StatusCode> {
    tokens
        .revoke(&user.token_id, RevocationReason::Logout)
        .await?;
    audit
        .record(
            Entry::new(Event::Logout)
                .actor(user.actor())
                .subject(user.token_id.clone())
                .ip(ip),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth", operation_id = "me",
    responses((status = 200, body = UserInfo), Unauthorized),
    security(("token" = []), ("bearer" = [])))]
async fn me(State(db): State<Db>, user: AuthUser) -> ApiResult<Json<UserInfo>> {
    // A deleted user's tokens are revoked; this covers a race with deletion.
    let info = users_store::get(&db, user.id)
        .await?
        .ok_or(ApiError::TokenRevoked)?;
    Ok(Json(info))
}

/// Answers 200 when the token passes the gateway, without touching the
/// database: a cheap validity check for clients.
#[utoipa::path(get, path = "/v1/auth/check", tag = "auth", operation_id = "check_token",
    responses((status = 200, body = Status), Unauthorized),
    security(("token" = []), ("bearer" = [])))]
async fn check(_user: AuthUser) -> Json<Status> {
    Json(Status::OK)
}

/// No token needed: the same answer as `check`, for reachability probes.
#[utoipa::path(get, path = "/v1/ping", tag = "auth", operation_id = "ping",
    responses((status = 200, body = Status)),
    security())]
async fn ping() -> Json<Status> {
    Json(Status::OK)
}

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    status: &'static str,
}

impl Status {
    pub const OK: Status = Status { status: "ok" };
}
