//! `GET /api/v1/live`: one client's stream, framed by axum's `Sse`.

use std::{
    borrow::Cow,
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::{FromRef, State},
    response::{
        sse::{Event, KeepAlive},
        IntoResponse, Response, Sse,
    },
};
use serde::Deserialize;
use tokio::sync::{broadcast, Notify};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{DeviceEvent, LiveBatch, LiveHub};
use crate::{
    error::{ApiError, ApiResult},
    extract::{ApiQuery, AuthUser},
    openapi::{BadRequest, Unauthorized},
    stopping::Stopping,
    tokens::{TokenError, Tokens},
};

/// Bytes queued for one client's socket before it counts as too slow.
const CLIENT_BYTES: usize = 512 * 1024;
/// Readings merged into one event at most, when batches arrive faster than
/// they can be sent one by one.
const COALESCE_READINGS: usize = 5000;
/// The least time between two `readings` events of one stream. A reading
/// that comes after a quiet spell goes out at once; under load, what
/// arrives within this gap goes in the next event: one event per gap and
/// client (a dashboard redraws no faster), instead of one per commit,
/// each a write and a TLS record.
const READINGS_GAP: Duration = Duration::from_millis(25);
/// How often a stream checks its token.
const CHECK_EVERY: Duration = Duration::from_millis(250);
const HEARTBEAT: Duration = Duration::from_secs(15);

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    LiveHub: FromRef<S>,
    Tokens: FromRef<S>,
    Stopping: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(stream))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// Only this device's readings.
    device_id: Option<i64>,
}

/// One event of the stream, as the document describes it (the wire form is
/// `event: <name>` and `data: <json>` lines).
#[derive(ToSchema)]
#[allow(dead_code)]
struct LiveEvent {
    #[schema(pattern = "^(ready|readings|commands|end)$")]
    event: String,
    /// `{}` for `ready`; a JSON array of `LiveReading` for `readings`; a
    /// `Command` for `commands`; `{"reason": ...}` for `end`.
    data: String,
}

/// Server-sent events: `ready` once subscribed, `readings` (a JSON array of
/// live readings) per committed batch, `commands` (the command) on each
/// change of a command's status, `end` with `{"reason"}` before the
/// stream closes (`token_revoked`, `token_expired`, `shutdown` when the instance stops); a client too slow to
/// keep up is dropped, its stream closed without one.
#[utoipa::path(get, path = "/v1/live", tag = "live", operation_id = "live_readings",
    params(LiveQuery),
    responses((status = 200, description = "an event stream", content_type = "text/event-stream",
        body = LiveEvent), Unauthorized, BadRequest,
        (status = 429, description = "rate_limited: the user holds the most streams allowed",
            body = app::types::ErrorBody)),
    security(("token" = []), ("bearer" = [])))]
async fn stream(
    State(hub): State<LiveHub>,
    State(tokens): State<Tokens>,
    State(stopping): State<Stopping>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<LiveQuery>,
) -> ApiResult<Response> {
    let Some(slot) = hub.open_stream(user.id) else {
        return Err(ApiError::RateLimited {
            retry_after: 5,
            message: "you already hold the most live streams allowed; close one first".into(),
        });
    };
    let rx = hub.subscribe();
    let events = hub.subscribe_events();
    // The queue is bounded in bytes (`queued`), not in events, since one
    // event may carry thousands of readings.
    let out = Outbox::default();
    let reader = Reader(out.0.clone());
    tokio::spawn(async move {
        let _slot = slot;
        pump(tokens, stopping, user, q.device_id, rx, events, out).await;
    });
    let body = futures_util::stream::unfold(reader, |reader| async move {
        let event = reader.next().await?;
        Some((Ok::<_, Infallible>(event), reader))
    });
    let sse = Sse::new(body).keep_alive(KeepAlive::new().interval(HEARTBEAT));
    Ok(([("x-accel-buffering", "no")], sse).into_response())
}

/// One client's queue of events, bounded in bytes (not in events: one
/// event may carry thousands of readings). The pump fills it; the response
/// body empties it. A client that falls behind has it emptied at once, so
/// an unread stream holds no more than its budget, and only until then.
#[derive(Default)]
struct Queue {
    events: VecDeque<(Event, usize)>,
    bytes: usize,
    /// No more events: the body ends once the queue is empty.
    closed: bool,
    /// The body went away (the client disconnected).
    gone: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pump's side.
struct Outbox(Arc<Shared>);

impl Default for Outbox {
    fn default() -> Self {
        Outbox(Arc::new(Shared {
            queue: Mutex::default(),
            ready: Notify::new(),
        }))
    }
}

enum Sent {
    Ok,
    TooSlow,
    Gone,
}

impl Outbox {
    /// Queues the event unless the client already has its byte budget
    /// waiting unread.
    fn send(&self, name: &str, data: &str) -> Sent {
        let size = data.len();
        {
            let mut q = self.0.lock();
            if q.gone {
                return Sent::Gone;
            }
            // A client with nothing unread takes any one event.
            if q.bytes > 0 && q.bytes + size > CLIENT_BYTES {
                return Sent::TooSlow;
            }
            q.bytes += size;
            q.events
                .push_back((Event::default().event(name).data(data), size));
        }
        self.0.ready.notify_one();
        Sent::Ok
    }

    fn gone(&self) -> bool {
        self.0.lock().gone
    }

    /// The last event, past the budget if need be (it is small), then the end.
    fn close_with(&self, last: Event) {
        {
            let mut q = self.0.lock();
            q.events.push_back((last, 0));
            q.closed = true;
        }
        self.0.ready.notify_one();
    }

    /// A client too slow to keep up: what it has not read is dropped now.
    fn cut(&self) {
        {
            let mut q = self.0.lock();
            q.events.clear();
            q.bytes = 0;
            q.closed = true;
        }
        self.0.ready.notify_one();
    }
}

/// The response body's side.
struct Reader(Arc<Shared>);

impl Reader {
    async fn next(&self) -> Option<Event> {
        loop {
            let notified = self.0.ready.notified();
            {
                let mut q = self.0.lock();
                if let Some((event, size)) = q.events.pop_front() {
                    q.bytes -= size;
                    return Some(event);
                }
                if q.closed {
                    return None;
                }
            }
            notified.await;
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.gone = true;
        q.events.clear();
    }
}

/// The JSON of one event from the batches waiting: the shared bytes of a
/// lone batch as they are, or the readings picked and joined.
fn readings_json(batches: &[Arc<LiveBatch>], device: Option<i64>) -> Option<Cow<'_, str>> {
    if let ([only], None) = (batches, device) {
        return std::str::from_utf8(only.json()).ok().map(Cow::Borrowed);
    }
    let mut out = vec![b'['];
    let added: usize = batches.iter().map(|b| b.append_to(&mut out, device)).sum();
    out.push(b']');
    (added > 0)
        .then(|| String::from_utf8(out).ok().map(Cow::Owned))
        .flatten()
}

/// Moves batches to one client until its token is revoked or expires, it
/// falls behind, or it goes away.
async fn pump(
    tokens: Tokens,
    stopping: Stopping,
    user: AuthUser,
    device: Option<i64>,
    mut rx: broadcast::Receiver<Arc<LiveBatch>>,
    mut events: broadcast::Receiver<Arc<DeviceEvent>>,
    out: Outbox,
) {
    if !matches!(out.send("ready", "{}"), Sent::Ok) {
        return;
    }
    let mut check = tokio::time::interval(CHECK_EVERY);
    let now = tokio::time::Instant::now();
    let mut last_readings = now.checked_sub(READINGS_GAP).unwrap_or(now);
    let reason = 'pump: loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(first) => {
                    // Whatever else arrives before the gap since the last
                    // event has passed goes in the same event: under load,
                    // fewer and larger events.
                    tokio::time::sleep_until(last_readings + READINGS_GAP).await;
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
                    let Some(data) = readings_json(&batches, device) else {
                        continue;
                    };
                    // Never wait on a client: one that does not read uses up
                    // its byte budget and is dropped, so the token checks
                    // below keep running and nothing piles up.
                    match out.send("readings", &data) {
                        Sent::Ok => last_readings = tokio::time::Instant::now(),
                        Sent::TooSlow => break "too_slow",
                        Sent::Gone => return,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break "too_slow",
                Err(broadcast::error::RecvError::Closed) => break "shutdown",
            },
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if device.is_some_and(|d| d != ev.device_id) {
                        continue;
                    }
                    let data = std::str::from_utf8(&ev.data).unwrap_or("null");
                    match out.send(ev.name, data) {
                        Sent::Ok => {}
                        Sent::TooSlow => break "too_slow",
                        Sent::Gone => return,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break "too_slow",
                Err(broadcast::error::RecvError::Closed) => break "shutdown",
            },
            () = stopping.stopped() => break "shutdown",
            _ = check.tick() => {
                match tokens.still_valid(&user.token_id, user.expires_at) {
                    Err(TokenError::Revoked) => break "token_revoked",
                    Err(_) => break "token_expired",
                    Ok(()) => {}
                }
                if out.gone() {
                    return;
                }
            }
        }
    };
    if reason == "too_slow" {
        // It cannot read what is queued: free it now. (The end event would
        // wait behind it; a client that catches up learns of the end when
        // the stream closes.)
        out.cut();
        return;
    }
    let end = Event::default()
        .event("end")
        .data(format!("{{\"reason\":\"{reason}\"}}"));
    out.close_with(end);
}
