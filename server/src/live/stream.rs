//! `GET /api/v1/live`: one client's stream of server-sent events.
//!
//! Framed here rather than by axum's `Sse`: an `Event` copies its data
//! into a buffer of its own, so the batch serialized once was copied again
//! for every stream (a heap profile of 100 streams at 20,000 readings/s
//! put two thirds of the server's peak heap there). Here an event is its
//! `event:`/`data:` head, the JSON as pieces of the shared batches (a
//! merged event is `[`, each batch's elements as a slice of its bytes,
//! commas, `]`: one line, nothing copied), and a blank line.

use std::{
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{FromRef, State},
    http::{header, HeaderValue},
    response::Response,
};
use futures_util::StreamExt;
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
    // A comment line after `HEARTBEAT` of silence keeps proxies from
    // closing an idle stream.
    let body = futures_util::stream::unfold(reader, |reader| async move {
        let chunks = match tokio::time::timeout(HEARTBEAT, reader.next()).await {
            Ok(Some(frame)) => frame.chunks(),
            Ok(None) => return None,
            Err(_) => vec![Bytes::from_static(b":\n\n")],
        };
        let chunks = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
        Some((chunks, reader))
    })
    .flatten();
    let mut res = Response::new(Body::from_stream(body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// Pieces up to this size are copied into the chunk around them (a
/// comma, a head); larger ones go out as chunks of their own, never copied.
const JOIN_UP_TO: usize = 4096;

/// One event on the wire: `event: <name>`, `data: ` and the pieces of its
/// one-line data, a blank line.
struct Frame {
    name: &'static str,
    pieces: Vec<Bytes>,
}

impl Frame {
    fn new(name: &'static str, data: Bytes) -> Frame {
        Frame::of_pieces(name, vec![one_line(data)])
    }

    /// Data in pieces, none with a line break (slices of JSON).
    fn of_pieces(name: &'static str, pieces: Vec<Bytes>) -> Frame {
        Frame { name, pieces }
    }

    fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }

    fn chunks(self) -> Vec<Bytes> {
        let mut chunks = Vec::new();
        let mut small = format!("event: {}\ndata: ", self.name).into_bytes();
        for piece in self.pieces {
            if piece.len() <= JOIN_UP_TO {
                small.extend_from_slice(&piece);
            } else {
                if !small.is_empty() {
                    chunks.push(Bytes::from(std::mem::take(&mut small)));
                }
                chunks.push(piece);
            }
        }
        small.extend_from_slice(b"\n\n");
        chunks.push(Bytes::from(small));
        chunks
    }
}

/// The data of one `data:` line. JSON never needs a raw line break, so
/// this is the bytes as they are; text with line breaks is sent on several
/// `data:` lines, as the format joins them back.
fn one_line(data: Bytes) -> Bytes {
    if !data.iter().any(|&b| b == b'\n' || b == b'\r') {
        return data;
    }
    let text = String::from_utf8_lossy(&data);
    Bytes::from(text.lines().collect::<Vec<_>>().join("\ndata: "))
}

/// One client's queue of events, bounded in bytes (not in events: one
/// event may carry thousands of readings). The pump fills it; the response
/// body empties it. A client that falls behind has it emptied at once, so
/// an unread stream holds no more than its budget, and only until then.
#[derive(Default)]
struct Queue {
    events: VecDeque<(Frame, usize)>,
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
    fn send(&self, frame: Frame) -> Sent {
        let size = frame.len();
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
            q.events.push_back((frame, size));
        }
        self.0.ready.notify_one();
        Sent::Ok
    }

    fn gone(&self) -> bool {
        self.0.lock().gone
    }

    /// The last event, past the budget if need be (it is small), then the end.
    fn close_with(&self, last: Frame) {
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
    async fn next(&self) -> Option<Frame> {
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

/// The JSON of one event from the batches waiting, in pieces: for every
/// device, the shared bytes of a lone batch, or of several joined into one
/// array by slices (nothing copied); for one device, its readings picked
/// and joined (a few, copied).
fn readings_json(batches: &[Arc<LiveBatch>], device: Option<i64>) -> Option<Vec<Bytes>> {
    if device.is_none() {
        if let [only] = batches {
            return Some(vec![only.json().clone()]);
        }
        let mut pieces = Vec::with_capacity(batches.len() * 2 + 1);
        for (i, b) in batches.iter().enumerate() {
            let json = b.json();
            // `[a,b]` → `a,b`: a batch is never empty.
            let elements = json.slice(1..json.len() - 1);
            pieces.push(Bytes::from_static(if i == 0 { b"[" } else { b"," }));
            pieces.push(elements);
        }
        pieces.push(Bytes::from_static(b"]"));
        return Some(pieces);
    }
    let mut out = vec![b'['];
    let added: usize = batches.iter().map(|b| b.append_to(&mut out, device)).sum();
    out.push(b']');
    (added > 0).then(|| vec![Bytes::from(out)])
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
    if !matches!(
        out.send(Frame::new("ready", Bytes::from_static(b"{}"))),
        Sent::Ok
    ) {
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
                    match out.send(Frame::of_pieces("readings", data)) {
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
                    match out.send(Frame::new(ev.name, ev.data.clone())) {
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
    let end = Frame::new("end", Bytes::from(format!("{{\"reason\":\"{reason}\"}}")));
    out.close_with(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_framed_without_copying_large_data() {
        let small = Frame::new("ready", Bytes::from_static(b"{}")).chunks();
        assert_eq!(small, [Bytes::from_static(b"event: ready\ndata: {}\n\n")]);
        let json = Bytes::from(vec![b'7'; JOIN_UP_TO + 1]);
        let chunks = Frame::new("readings", json.clone()).chunks();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0], "event: readings\ndata: ");
        assert_eq!(
            chunks[1].as_ptr(),
            json.as_ptr(),
            "the shared bytes themselves"
        );
        assert_eq!(chunks[2], "\n\n");
    }

    #[test]
    fn batches_merge_into_one_array_of_slices_of_their_bytes() {
        use crate::readings::Reading;
        let reading = |device_id, value| Reading {
            device_id,
            sensor: "t".into(),
            value,
            unit: None,
            ts: 0,
        };
        let big: Vec<Reading> = (0..100).map(|i| reading(1, f64::from(i))).collect();
        let a = Arc::new(LiveBatch::new(&big));
        let b = Arc::new(LiveBatch::new(&[reading(2, 7.0)]));
        let pieces = readings_json(&[a.clone(), b.clone()], None).unwrap();
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        let all: Vec<serde_json::Value> = serde_json::from_slice(&joined).unwrap();
        assert_eq!(all.len(), 101);
        assert_eq!(
            pieces[1].as_ptr(),
            a.json()[1..].as_ptr(),
            "a slice, not a copy"
        );
        let chunks = Frame::of_pieces("readings", pieces).chunks();
        let wire: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let text = String::from_utf8(wire).unwrap();
        assert!(text.starts_with("event: readings\ndata: [{"), "{text}");
        assert!(text.ends_with("}]\n\n"));
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 2, "one event line and one data line");
        // One device: its readings only.
        let pieces = readings_json(&[a, b], Some(2)).unwrap();
        assert_eq!(pieces.len(), 1);
        let only: Vec<serde_json::Value> = serde_json::from_slice(&pieces[0]).unwrap();
        assert_eq!(only.len(), 1);
    }

    #[test]
    fn data_with_line_breaks_goes_on_several_data_lines() {
        let chunks = Frame::new("end", Bytes::from_static(b"a\nb\r\nc")).chunks();
        assert_eq!(
            chunks,
            [Bytes::from_static(
                b"event: end\ndata: a\ndata: b\ndata: c\n\n"
            )]
        );
    }
}
