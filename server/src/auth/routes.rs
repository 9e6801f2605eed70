//! `/api/v1/auth`: login, logout, me; and `ping`/`check`, the pair the auth
//! benchmark compares.

use std::sync::Arc;

use app::types::{
    ChangePassword, ErrorBody, LoginRequest, LoginResponse, RevocationReason, UserInfo,
};
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
    Arc<LoginThrottle>: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(check))
        .routes(routes!(change_password))
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
    let proceed = match throttle.begin(&body.username, ip, std::time::Instant::now()) {
        Ok(proceed) => proceed,
        Err(refused) => {
            // One entry per username and address per window: a flood of
            // refused attempts writes one row, not one each.
            if refused.first {
                let found = known_user(&db, &body.username).await?;
                audit
                    .record(
                        Entry::new(Event::LoginThrottled)
                            .subject(audit_name(found.as_ref().map(|r| &r.info)))
                            .ip(ip),
                    )
                    .await?;
            }
            return Err(ApiError::TooManyAttempts {
                retry_after: refused.retry_after,
            });
        }
    };
    if let Some(wait) = proceed.wait {
        tokio::time::sleep(wait).await;
    }
    let found = known_user(&db, &body.username).await?;
    let (hash, user) = match found {
        Some(row) => (Some(row.password_hash), Some(row.info)),
        None => (None, None),
    };
    let ok = password::verify(hash, body.password).await?;
    let user = match user {
        Some(user) if ok => user,
        other => {
            audit
                .record(
                    Entry::new(Event::LoginFailed)
                        .subject(audit_name(other.as_ref()))
                        .ip(ip),
                )
                .await?;
            return Err(ApiError::InvalidCredentials);
        }
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

/// The user a login names, if there is one. A name no user can have is
/// never looked up (PostgreSQL refuses NUL bytes, say); it costs the same
/// hash as any other failure.
async fn known_user(db: &Db, username: &str) -> sqlx::Result<Option<users_store::UserRow>> {
    match users::parse_username(username) {
        Ok(name) => users_store::by_username(db, name).await,
        Err(_) => Ok(None),
    }
}

/// The audit log names an existing user; what was typed for a user that
/// does not exist (often a password in the wrong field) is never written.
fn audit_name(user: Option<&UserInfo>) -> String {
    match user {
        Some(u) => format!("user:{} ({})", u.id, u.username),
        None => "(unknown user)".to_owned(),
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

/// Changes the caller's own password. The current one must be right (a
/// wrong one counts as a failed login); every other token of the user is
/// revoked at once, this one stays.
#[utoipa::path(post, path = "/v1/auth/password", tag = "auth", operation_id = "change_password",
    request_body = ChangePassword,
    responses((status = 204, description = "changed; the user's other tokens are revoked"),
        Unauthorized, BadBody,
        (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody)),
    security(("token" = []), ("bearer" = [])))]
async fn change_password(
    State(db): State<Db>,
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    State(throttle): State<Arc<LoginThrottle>>,
    ClientAddr(ip): ClientAddr,
    user: AuthUser,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    let me = users_store::get(&db, user.id)
        .await?
        .ok_or(ApiError::TokenRevoked)?;
    if body.current_password.chars().count() > password::MAX_LEN {
        return Err(ApiError::InvalidCredentials);
    }
    let proceed = throttle
        .begin(&me.username, ip, std::time::Instant::now())
        .map_err(|r| ApiError::TooManyAttempts {
            retry_after: r.retry_after,
        })?;
    if let Some(wait) = proceed.wait {
        tokio::time::sleep(wait).await;
    }
    let stored = users_store::password_hash(&db, user.id).await?;
    if !password::verify(stored, body.current_password).await? {
        audit
            .record(
                Entry::new(Event::LoginFailed)
                    .actor(user.actor())
                    .subject(audit_name(Some(&me)))
                    .detail("wrong current password when changing it")
                    .ip(ip),
            )
            .await?;
        return Err(ApiError::InvalidCredentials);
    }
    throttle.succeeded(&me.username, ip);
    password::check_policy(&body.new_password, &me.username)?;
    let hash = password::hash(body.new_password)
        .await
        .map_err(users::UserError::from)?;
    let now = tokens.clock().now();
    let revoked = users_store::set_password(&db, user.id, &hash, now, Some(&user.token_id))
        .await?
        .ok_or(ApiError::TokenRevoked)?;
    tokens.refuse(revoked);
    audit
        .record(
            Entry::new(Event::PasswordChanged)
                .actor(user.actor())
                .subject(format!("user:{}", user.id))
                .ip(ip),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
