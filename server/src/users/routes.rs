//! `/api/v1/users` (admin): list, create, delete, change role.

use app::types::{CreateUser, ResetPassword, UpdateUser, UserInfo};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    parse_username, password,
    store::{self, Change},
    UserError,
};
use crate::{
    audit::{Audit, Entry, Event},
    db::{self, Db, Engine},
    error::ApiResult,
    extract::{AdminUser, ApiJson, ApiPath},
    openapi::{BadBody, BadRequest, Conflict, Forbidden, NotFound, Unauthorized},
    tokens::Tokens,
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
    Engine: FromRef<S>,
    Tokens: FromRef<S>,
    Audit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove, update))
        .routes(routes!(reset_password))
}

/// Every user.
#[utoipa::path(get, path = "/v1/users", tag = "users", operation_id = "list_users",
    responses((status = 200, body = Vec<UserInfo>), Unauthorized, Forbidden),
    security(("token" = []), ("bearer" = [])))]
async fn list(State(db): State<Db>, _admin: AdminUser) -> ApiResult<Json<Vec<UserInfo>>> {
    Ok(Json(store::list(&db).await?))
}

/// Creates a user with a role.
#[utoipa::path(post, path = "/v1/users", tag = "users", operation_id = "create_user",
    request_body = CreateUser,
    responses((status = 201, body = UserInfo), Unauthorized, Forbidden, BadBody, Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn create(
    State(db): State<Db>,
    State(audit): State<Audit>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserInfo>)> {
    let username = parse_username(&body.username)?;
    password::check_policy(&body.password, username)?;
    let hash = password::hash(body.password)
        .await
        .map_err(UserError::from)?;
    let user = match store::create(&db, username, &hash, body.role, db::now()).await {
        Ok(u) => u,
        Err(e) if db::is_unique_violation(&e) => {
            return Err(UserError::Taken(username.into()).into())
        }
        Err(e) => return Err(e.into()),
    };
    audit
        .record(
            Entry::new(Event::UserCreated)
                .actor(admin.actor())
                .subject(format!("user:{}", user.id))
                .detail(format!("{} as {}", user.username, user.role)),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// What a change did, or the reason it was refused.
fn applied(change: Change, tokens: &Tokens, refused_as: &'static str) -> Result<(), UserError> {
    match change {
        Change::Done(revoked) => {
            tokens.refuse(revoked);
            Ok(())
        }
        Change::NotFound => Err(UserError::NotFound),
        Change::LastAdmin => Err(UserError::LastAdmin(refused_as)),
    }
}

/// Deletes a user and revokes its tokens; never the last administrator.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", operation_id = "delete_user",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 204, description = "deleted"), Unauthorized, Forbidden, BadRequest,
        NotFound, Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn remove(
    State(db): State<Db>,
    State(engine): State<Engine>,
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let target = store::get(&db, id).await?.ok_or(UserError::NotFound)?;
    let change = store::delete(&db, engine, id, tokens.clock().now()).await?;
    applied(change, &tokens, "deleted")?;
    audit
        .record(
            Entry::new(Event::UserDeleted)
                .actor(admin.actor())
                .subject(format!("user:{id}"))
                .detail(target.username),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes a user's role and revokes its tokens; never demotes the last
/// administrator.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", operation_id = "update_user",
    params(("id" = i64, Path, description = "user id")),
    request_body = UpdateUser,
    responses((status = 200, body = UserInfo), Unauthorized, Forbidden, BadBody, NotFound,
        Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn update(
    State(db): State<Db>,
    State(engine): State<Engine>,
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserInfo>> {
    let target = store::get(&db, id).await?.ok_or(UserError::NotFound)?;
    if target.role == body.role {
        return Ok(Json(target));
    }
    let change = store::set_role(&db, engine, id, body.role, tokens.clock().now()).await?;
    applied(change, &tokens, "demoted")?;
    audit
        .record(
            Entry::new(Event::RoleChanged)
                .actor(admin.actor())
                .subject(format!("user:{id}"))
                .detail(format!("{} -> {}", target.role, body.role)),
        )
        .await?;
    Ok(Json(UserInfo {
        role: body.role,
        ..target
    }))
}

/// Sets a user's password (admin); every token of that user is revoked.
#[utoipa::path(post, path = "/v1/users/{id}/password", tag = "users",
    operation_id = "reset_password",
    params(("id" = i64, Path, description = "user id")),
    request_body = ResetPassword,
    responses((status = 204, description = "set; the user's tokens are revoked"), Unauthorized,
        Forbidden, BadBody, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn reset_password(
    State(db): State<Db>,
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ResetPassword>,
) -> ApiResult<StatusCode> {
    let target = store::get(&db, id).await?.ok_or(UserError::NotFound)?;
    password::check_policy(&body.password, &target.username)?;
    let hash = password::hash(body.password)
        .await
        .map_err(UserError::from)?;
    let revoked = store::set_password(&db, id, &hash, tokens.clock().now(), None)
        .await?
        .ok_or(UserError::NotFound)?;
    tokens.refuse(revoked);
    audit
        .record(
            Entry::new(Event::PasswordReset)
                .actor(admin.actor())
                .subject(format!("user:{id}")),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
