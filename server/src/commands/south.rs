//! The device side over HTTP: the long-poll (`GET /device/v1/commands`)
//! and the answer (`POST /device/v1/commands/{id}/result`).

use std::time::Duration;

use app::types::{CommandResult, DeviceCommand};
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
    devices::Devices,
    error::{ApiError, ApiResult},
    extract::{ApiJson, ApiPath, ApiQuery, DeviceCaller},
    openapi::{BadBody, BadRequest, Conflict, NotFound, Unauthorized},
    stopping::Stopping,
    tokens::{TokenError, Tokens},
};

/// How often a waiting long-poll looks at its token and device again.
const CHECK_EVERY: Duration = Duration::from_millis(250);

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Commands: FromRef<S>,
    Tokens: FromRef<S>,
    Devices: FromRef<S>,
    Stopping: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(poll))
        .routes(routes!(answer))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollQuery {
    /// With nothing queued, wait up to this many seconds for a command
    /// (0–60, default 0).
    #[param(minimum = 0, maximum = 60)]
    wait: Option<i64>,
}

/// The device's queued commands, now `delivered`, oldest first; with none
/// queued, waits up to `wait` seconds for one, then answers `[]`. Ends
/// (401) within a second of the device's token or the device being revoked.
#[utoipa::path(get, path = "/device/v1/commands", tag = "device API",
    operation_id = "poll_commands",
    params(PollQuery),
    responses((status = 200, body = Vec<DeviceCommand>), Unauthorized, BadRequest,
        (status = 422, description = "validation_failed: wait out of range", body = app::types::ErrorBody)),
    security(("token" = []), ("bearer" = [])))]
async fn poll(
    State(commands): State<Commands>,
    State(tokens): State<Tokens>,
    State(devices): State<Devices>,
    State(stopping): State<Stopping>,
    caller: DeviceCaller,
    ApiQuery(q): ApiQuery<PollQuery>,
) -> ApiResult<Json<Vec<DeviceCommand>>> {
    let wait = match q.wait.unwrap_or(0) {
        w if (0..=MAX_WAIT_S as i64).contains(&w) => Duration::from_secs(w as u64),
        _ => {
            return Err(ApiError::validation(format!(
                "wait must be between 0 and {MAX_WAIT_S} seconds"
            )))
        }
    };
    let device_id = caller.device.id;
    let deadline = tokio::time::Instant::now() + wait;
    let mut waiter = commands.waiter(device_id);
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.tick().await;
    loop {
        // Before looking: a command queued meanwhile wakes the wait below.
        waiter.mark_seen();
        let queued = commands.deliver(device_id).await?;
        if !queued.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(queued));
        }
        loop {
            tokio::select! {
                () = waiter.changed() => break,
                () = tokio::time::sleep_until(deadline) => return Ok(Json(Vec::new())),
                // The instance is stopping: answer as if the wait ran out.
                () = stopping.stopped() => return Ok(Json(Vec::new())),
                _ = check.tick() => {
                    match tokens.still_valid(&caller.token_id, caller.expires_at) {
                        Err(TokenError::Revoked) => return Err(ApiError::TokenRevoked),
                        Err(_) => return Err(ApiError::TokenExpired),
                        Ok(()) => {}
                    }
                    if !devices.index().is_usable(&caller.device.thumbprint, tokens.clock().now()) {
                        return Err(ApiError::TokenRevoked);
                    }
                }
            }
        }
    }
}

/// The device's answer to one of its commands: 204; another device's
/// command or an unknown id 404; a final (or expired) one 409.
#[utoipa::path(post, path = "/device/v1/commands/{id}/result", tag = "device API",
    operation_id = "command_result",
    params(("id" = i64, Path, description = "command id")),
    request_body = CommandResult,
    responses((status = 204, description = "stored"), Unauthorized, BadRequest, BadBody, NotFound,
        Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn answer(
    State(commands): State<Commands>,
    caller: DeviceCaller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CommandResult>,
) -> ApiResult<StatusCode> {
    commands.answer(caller.device.id, id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}
