//! Live readings for the dashboard.
//!
//! `GET /api/v1/live[?device_id=N]` answers a `text/event-stream` read with
//! fetch, so the token travels in the `x-access-token` header like on every
//! other route, never in a URL. Events: `ready` once subscribed, `readings`
//! (a JSON array) per committed batch, `end` with a reason before closing.
//! The stream ends within half a second of its token being revoked or
//! expiring. Fan-out is a broadcast channel: publishing never waits, and a
//! client that falls behind by more than the channel holds is dropped.

use std::{convert::Infallible, sync::Arc, time::Duration};

use app::types::LiveReading;
use axum::{
    body::{Body, Bytes},
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use crate::{
    api::ApiQuery,
    auth::{gateway::AuthUser, jwt::LEEWAY_SECS},
    db,
    error::ApiResult,
    ingest::Reading,
    state::AppState,
};

/// Batches a subscriber may fall behind before it is dropped.
const CHANNEL: usize = 1024;
/// How often a stream checks its token.
const CHECK_EVERY: Duration = Duration::from_millis(250);
const HEARTBEAT: Duration = Duration::from_secs(15);

pub type Batch = Arc<Vec<LiveReading>>;

pub struct LiveHub {
    tx: broadcast::Sender<Batch>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub { tx: broadcast::channel(CHANNEL).0 }
    }
}

impl LiveHub {
    /// Never waits: with no subscriber the batch is simply dropped.
    pub fn publish(&self, rows: &[Reading]) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let batch = rows
            .iter()
            .map(|r| LiveReading {
                device_id: r.device_id,
                sensor: r.sensor.clone(),
                value: r.value,
                unit: r.unit.clone(),
                ts: chrono::DateTime::from_timestamp_millis(r.ts)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
            .collect();
        let _ = self.tx.send(Arc::new(batch));
    }

    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.tx.subscribe()
    }
}

#[derive(Deserialize)]
pub struct LiveQuery {
    device_id: Option<i64>,
}

pub async fn stream(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<LiveQuery>,
) -> ApiResult<Response> {
    let rx = state.live.subscribe();
    let (out, body_rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(pump(state, user, q.device_id, rx, out));
    let body = futures_util::stream::unfold(body_rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

fn event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Moves batches to one client until its token is revoked or expires, it
/// falls behind, or it goes away.
async fn pump(
    state: AppState,
    user: AuthUser,
    device_id: Option<i64>,
    mut rx: broadcast::Receiver<Batch>,
    out: mpsc::Sender<Bytes>,
) {
    if out.try_send(event("ready", "{}")).is_err() {
        return;
    }
    let mut check = tokio::time::interval(CHECK_EVERY);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let reason = loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(batch) => {
                    let mine: Vec<&LiveReading> =
                        batch.iter().filter(|r| device_id.is_none_or(|d| d == r.device_id)).collect();
                    if mine.is_empty() {
                        continue;
                    }
                    let data = serde_json::to_string(&mine).unwrap_or_default();
                    // Never wait on a client: one that does not read fills
                    // this small buffer and is dropped, so the token checks
                    // below keep running and nothing piles up.
                    match out.try_send(event("readings", &data)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => break "too_slow",
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break "too_slow",
                Err(broadcast::error::RecvError::Closed) => break "shutdown",
            },
            _ = check.tick() => {
                if state.revoked.contains(&user.token_id) {
                    break "token_revoked";
                }
                if db::now() > user.expires_at + LEEWAY_SECS as i64 {
                    break "token_expired";
                }
                if out.is_closed() {
                    return;
                }
            }
            _ = heartbeat.tick() => {
                if let Err(mpsc::error::TrySendError::Closed(_)) = out.try_send(Bytes::from_static(b": keep-alive\n\n")) {
                    return;
                }
            }
        }
    };
    // Best effort within a second (a stalled client's buffer is full); the
    // stream closes either way.
    let end = event("end", &format!("{{\"reason\":\"{reason}\"}}"));
    let _ = tokio::time::timeout(Duration::from_secs(1), out.send(end)).await;
}
