//! `/api/v1/users` (admin): list, create, delete, change role.

use app::types::{CreateUser, UpdateUser, UserInfo};
use axum::{extract::State, http::StatusCode, Json};

use crate::{
    api::{ApiJson, ApiPath},
    audit::{Entry, Event},
    auth::{gateway::AdminUser, password},
    db,
    error::{ApiError, ApiResult},
    state::AppState,
    users::{
        check_password, parse_username,
        store::{self, Change},
    },
};

pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Json<Vec<UserInfo>>> {
    Ok(Json(store::list(&state.db).await?))
}

pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserInfo>)> {
    let username = parse_username(&body.username)?;
    check_password(&body.password)?;
    let hash = password::hash(body.password).await?;
    let user = match store::create(&state.db, username, &hash, body.role, db::now()).await {
        Ok(u) => u,
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict(format!(
                "username `{username}` is taken"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    Entry::new(Event::UserCreated)
        .actor(admin.actor())
        .subject(format!("user:{}", user.id))
        .detail(format!("{} as {}", user.username, user.role.as_str()))
        .record(&state)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

pub async fn delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let target = store::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    match store::delete(&state.db, state.engine, id, db::now()).await? {
        Change::Done(revoked) => state.revoked.extend(revoked),
        Change::NotFound => return Err(ApiError::not_found("user")),
        Change::LastAdmin => {
            return Err(ApiError::Conflict(
                "the last administrator cannot be deleted".into(),
            ))
        }
    }
    Entry::new(Event::UserDeleted)
        .actor(admin.actor())
        .subject(format!("user:{id}"))
        .detail(target.username)
        .record(&state)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserInfo>> {
    let target = store::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if target.role == body.role {
        return Ok(Json(target));
    }
    match store::set_role(&state.db, state.engine, id, body.role, db::now()).await? {
        Change::Done(revoked) => state.revoked.extend(revoked),
        Change::NotFound => return Err(ApiError::not_found("user")),
        Change::LastAdmin => {
            return Err(ApiError::Conflict(
                "the last administrator cannot be demoted".into(),
            ))
        }
    }
    Entry::new(Event::RoleChanged)
        .actor(admin.actor())
        .subject(format!("user:{id}"))
        .detail(format!(
            "{} -> {}",
            target.role.as_str(),
            body.role.as_str()
        ))
        .record(&state)
        .await?;
    Ok(Json(UserInfo {
        role: body.role,
        ..target
    }))
}
