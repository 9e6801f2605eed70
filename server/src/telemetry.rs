//! Logging: the subscriber, and the HTTP layers that give every request an
//! id and a span, so a logged error says which request it was. Nothing
//! logged anywhere may contain a token or a password: spans carry the
//! method, the path and the request id, never headers or bodies.
//!
//! The layers wrap a listener's whole router once (not each route, as
//! `Router::layer` would), so they cost one pass per request.

use std::{
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
    task::{Context, Poll},
};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request};
use tower::{Layer, Service};
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    request_id::{
        MakeRequestId, PropagateRequestId, PropagateRequestIdLayer, RequestId, SetRequestId,
        SetRequestIdLayer,
    },
    trace::{Trace, TraceLayer},
};
use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Logs to stderr: lines for people, or (`json`) one JSON object per line
/// with the event's fields flattened and its request span (`request_id`,
/// `method`, `path`) under `span`.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into a file or a pipe.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => fmt.try_init(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a random prefix for this process and a counter, so ids are
/// unique without a system call per request.
#[derive(Clone, Copy)]
pub struct NextId;

static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl MakeRequestId for NextId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let prefix = *PREFIX.get_or_init(rand::random);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{prefix:016x}{n:016x}"))
            .ok()
            .map(RequestId::new)
    }
}

fn span(req: &Request<Body>) -> Span {
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|r| r.header_value().to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

type MakeSpan = fn(&Request<Body>) -> Span;

/// A listener's service with request ids and spans.
pub type Traced<S> = StripRequestId<
    SetRequestId<
        Trace<PropagateRequestId<S>, SharedClassifier<ServerErrorsAsFailures>, MakeSpan>,
        NextId,
    >,
>;

/// Every request gets an id of ours (one a client sent is dropped: it could
/// put anything in our logs), a span naming it, and the id back in the
/// `x-request-id` response header.
pub fn traced<S>(inner: S) -> Traced<S> {
    let propagated = PropagateRequestIdLayer::new(REQUEST_ID).layer(inner);
    let traced = TraceLayer::new_for_http()
        .make_span_with(span as MakeSpan)
        .layer(propagated);
    StripRequestId(SetRequestIdLayer::new(REQUEST_ID, NextId).layer(traced))
}

/// Removes a client's `x-request-id` before the id is set.
#[derive(Clone)]
pub struct StripRequestId<S>(S);

impl<S, B> Service<Request<B>> for StripRequestId<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        req.headers_mut().remove(REQUEST_ID);
        self.0.call(req)
    }
}

/// True at most once per second for one `last` (the second last logged).
pub fn every_second(last: &AtomicI64) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let before = last.load(Ordering::Relaxed);
    before != now
        && last
            .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// A refused request (401, 403), logged with who it was — a token id or a
/// certificate thumbprint, never a token — and the route, at most once a
/// second.
pub fn refused(code: app::types::ErrorCode, who: Option<&str>, path: &str) {
    static LOGGED: AtomicI64 = AtomicI64::new(0);
    crate::metrics::METRICS.refused(code);
    if every_second(&LOGGED) {
        let who = who.unwrap_or("-");
        tracing::warn!(%code, who, path, "request refused (further ones this second not logged)");
    }
}
