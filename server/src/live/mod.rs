//! Live readings for the dashboard.
//!
//! `GET /api/v1/live[?device_id=N]` answers a `text/event-stream` read with
//! fetch, so the token travels in the `x-access-token` header like on every
//! other route, never in a URL. Events: `ready` once subscribed, `readings`
//! (a JSON array) per committed batch, `end` with a reason before closing.
//! The stream ends within half a second of its token being revoked or
//! expiring. Fan-out is a broadcast channel: publishing never waits. Batches
//! that pile up while a client's event is being written are merged into its
//! next event; a client with 1 MiB queued unread, or one the channel
//! overtakes, is dropped.

use std::{
    convert::Infallible,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

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
/// Bytes queued for one client's socket before it counts as too slow.
const CLIENT_BYTES: usize = 1024 * 1024;
/// Readings merged into one event at most, when batches arrive faster than
/// they can be sent one by one.
const COALESCE_READINGS: usize = 5000;
/// How often a stream checks its token.
const CHECK_EVERY: Duration = Duration::from_millis(250);
const HEARTBEAT: Duration = Duration::from_secs(15);

pub type Batch = Arc<Vec<LiveReading>>;

pub struct LiveHub {
    tx: broadcast::Sender<Batch>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub {
            tx: broadcast::channel(CHANNEL).0,
        }
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
                ts: db::rfc3339_millis(r.ts),
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
    // The queue is bounded in bytes (`queued`), not in events, since one
    // event may carry thousands of readings.
    let (out, body_rx) = mpsc::unbounded_channel::<Bytes>();
    let queued = Arc::new(AtomicUsize::new(0));
    tokio::spawn(pump(
        state,
        user,
        q.device_id,
        rx,
        Outbox {
            tx: out,
            queued: queued.clone(),
        },
    ));
    let body = futures_util::stream::unfold((body_rx, queued), |(mut rx, queued)| async move {
        let chunk = rx.recv().await?;
        queued.fetch_sub(chunk.len(), Ordering::AcqRel);
        Some((Ok::<_, Infallible>(chunk), (rx, queued)))
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

/// One client's side of its queue.
struct Outbox {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
}

enum Sent {
    Ok,
    TooSlow,
    Gone,
}

impl Outbox {
    /// Queues the chunk unless the client already has its byte budget
    /// waiting unread.
    fn send(&self, chunk: Bytes) -> Sent {
        if self.tx.is_closed() {
            return Sent::Gone;
        }
        if self.queued.load(Ordering::Acquire) + chunk.len() > CLIENT_BYTES {
            return Sent::TooSlow;
        }
        self.queued.fetch_add(chunk.len(), Ordering::AcqRel);
        match self.tx.send(chunk) {
            Ok(()) => Sent::Ok,
            Err(_) => Sent::Gone,
        }
    }
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
    out: Outbox,
) {
    if !matches!(out.send(event("ready", "{}")), Sent::Ok) {
        return;
    }
    let mut check = tokio::time::interval(CHECK_EVERY);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let reason = 'pump: loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(first) => {
                    // Whatever else is already waiting goes in the same event:
                    // under load, fewer and larger events.
                    let mut count = first.len();
                    let mut batches = vec![first];
                    while count < COALESCE_READINGS {
                        match rx.try_recv() {
                            Ok(b) => {
                                count += b.len();
                                batches.push(b);
                            }
                            Err(broadcast::error::TryRecvError::Lagged(_)) => break 'pump "too_slow",
                            Err(_) => break,
                        }
                    }
                    let mine: Vec<&LiveReading> = batches
                        .iter()
                        .flat_map(|b| b.iter())
                        .filter(|r| device_id.is_none_or(|d| d == r.device_id))
                        .collect();
                    if mine.is_empty() {
                        continue;
                    }
                    let data = serde_json::to_string(&mine).unwrap_or_default();
                    // Never wait on a client: one that does not read uses up
                    // its byte budget and is dropped, so the token checks
                    // below keep running and nothing piles up.
                    match out.send(event("readings", &data)) {
                        Sent::Ok => {}
                        Sent::TooSlow => break "too_slow",
                        Sent::Gone => return,
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
                if out.tx.is_closed() {
                    return;
                }
            }
            _ = heartbeat.tick() => {
                if let Sent::Gone = out.send(Bytes::from_static(b": keep-alive\n\n")) {
                    return;
                }
            }
        }
    };
    // Past the budget if need be: it is small, and the stream closes after.
    let end = event("end", &format!("{{\"reason\":\"{reason}\"}}"));
    let _ = out.tx.send(end);
}
