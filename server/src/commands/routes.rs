//! The north side: send (`POST /api/v1/devices/{id}/commands`), list, show
//! and cancel commands.

use std::time::Duration;

use app::types::{Command, CommandStatus, NewCommand};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Commands, MAX_WAIT_S};
use crate::{
    error::{ApiError, ApiResult},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, OperatorUser},
    openapi::{BadBody, BadRequest, Conflict, Forbidden, NotFound, Unauthorized},
    stopping::Stopping,
};

const MAX_LIMIT: i64 = 1000;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Commands: FromRef<S>,
    Stopping: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(send, list))
        .routes(routes!(show))
        .routes(routes!(cancel))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SendQuery {
    /// Hold the answer until the command is final or this many seconds
    /// pass (422 outside 1–60).
    #[param(minimum = 1, maximum = 60)]
    wait: Option<i64>,
}

/// Sends a command to a device (admin, operator): 201 with the command,
/// `queued` — or, with `?wait=N`, as it is once final or N s have passed.
/// A revoked device takes none (409).
#[utoipa::path(post, path = "/v1/devices/{id}/commands", tag = "commands",
    operation_id = "send_command",
    params(("id" = i64, Path, description = "device id"), SendQuery),
    request_body = NewCommand,
    responses((status = 201, body = Command), Unauthorized, Forbidden, BadRequest, BadBody,
        NotFound, Conflict,
        (status = 429, description = "rate_limited: the device has the most open commands allowed",
            body = app::types::ErrorBody)),
    security(("token" = []), ("bearer" = [])))]
async fn send(
    State(commands): State<Commands>,
    State(stopping): State<Stopping>,
    OperatorUser(user): OperatorUser,
    ApiPath(device_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<SendQuery>,
    ApiJson(body): ApiJson<NewCommand>,
) -> ApiResult<(StatusCode, Json<Command>)> {
    let wait = match q.wait {
        None => None,
        Some(w) if (1..=MAX_WAIT_S as i64).contains(&w) => Some(Duration::from_secs(w as u64)),
        Some(_) => {
            return Err(ApiError::validation(format!(
                "wait must be between 1 and {MAX_WAIT_S} seconds"
            )))
        }
    };
    let command = commands.create(device_id, user.id, body).await?;
    let command = match wait {
        Some(w) => commands.wait_final(command, w, &stopping).await,
        None => command,
    };
    Ok((StatusCode::CREATED, Json(command)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only commands in this status.
    status: Option<CommandStatus>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A device's commands, newest first (any user).
#[utoipa::path(get, path = "/v1/devices/{id}/commands", tag = "commands",
    operation_id = "list_commands",
    params(("id" = i64, Path, description = "device id"), ListQuery),
    responses((status = 200, body = Vec<Command>), Unauthorized, BadRequest, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn list(
    State(commands): State<Commands>,
    _user: AuthUser,
    ApiPath(device_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Command>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(Json(commands.list(device_id, q.status, limit).await?))
}

/// One command (any user).
#[utoipa::path(get, path = "/v1/commands/{id}", tag = "commands", operation_id = "show_command",
    params(("id" = i64, Path, description = "command id")),
    responses((status = 200, body = Command), Unauthorized, BadRequest, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn show(
    State(commands): State<Commands>,
    _user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Command>> {
    Ok(Json(commands.get(id).await?))
}

/// Cancels an open command (admin, operator); 409 when already final.
#[utoipa::path(post, path = "/v1/commands/{id}/cancel", tag = "commands",
    operation_id = "cancel_command",
    params(("id" = i64, Path, description = "command id")),
    responses((status = 204, description = "cancelled"), Unauthorized, Forbidden, BadRequest,
        NotFound, Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn cancel(
    State(commands): State<Commands>,
    OperatorUser(user): OperatorUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    commands.cancel(id, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
