//! Prometheus metrics (`VIGIL_METRICS_ADDR`): what an operator watches on
//! each instance. One registry per process, filled where things happen
//! (the accept loop, the gateways, the writer, the feed) and served as
//! text on `GET /metrics` over plain HTTP on its own address, which is
//! meant for loopback or a private network: it shows counts, never
//! tokens, users or device names.
//!
//! The crate is the Prometheus project's own `prometheus-client`; its
//! families are keyed by label sets kept small on purpose (a route's
//! template, never its path).

use std::sync::LazyLock;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub listener: &'static str,
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandshakeLabels {
    pub listener: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub refusals: Family<CodeLabels, Counter>,
    pub handshakes: Family<HandshakeLabels, Counter>,
    pub readings_stored: Counter,
    pub commit_seconds: Histogram,
    pub writer_queue: Gauge,
    pub live_streams: Gauge,
    pub mqtt_sessions: Family<ListenerLabels, Gauge>,
    pub feed_applied: Family<KindLabels, Counter>,
    pub feed_lag_seconds: Histogram,
    pub feed_readings_lag_seconds: Histogram,
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("vigil");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by listener, method, route template and status",
            requests.clone(),
        );
        let refusals = Family::<CodeLabels, Counter>::default();
        registry.register(
            "gateway_refusals",
            "Requests and MQTT connections refused for their credential, by error code",
            refusals.clone(),
        );
        let handshakes = Family::<HandshakeLabels, Counter>::default();
        registry.register(
            "tls_handshakes",
            "TLS handshakes on each listener, accepted or refused",
            handshakes.clone(),
        );
        let readings_stored = Counter::default();
        registry.register(
            "readings_stored",
            "Readings committed by this instance's writer",
            readings_stored.clone(),
        );
        // 0.5 ms to about 16 s.
        let commit_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "commit_seconds",
            "Time of each group commit of readings",
            commit_seconds.clone(),
        );
        let writer_queue = Gauge::default();
        registry.register(
            "writer_queue_depth",
            "Batches of readings waiting for the writer",
            writer_queue.clone(),
        );
        let live_streams = Gauge::default();
        registry.register(
            "live_streams",
            "Open live streams (GET /api/v1/live)",
            live_streams.clone(),
        );
        let mqtt_sessions = Family::<ListenerLabels, Gauge>::default();
        registry.register(
            "mqtt_sessions",
            "Open MQTT sessions, by listener (devices, clients)",
            mqtt_sessions.clone(),
        );
        let feed_applied = Family::<KindLabels, Counter>::default();
        registry.register(
            "feed_applied",
            "Changes made by other instances and applied here, by kind (token revocations are `token`)",
            feed_applied.clone(),
        );
        let feed_lag_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "feed_lag_seconds",
            "From a change's write on another instance to its application here",
            feed_lag_seconds.clone(),
        );
        // 1 ms to about 4 s, in steps of 1.25×.
        let feed_readings_lag_seconds = Histogram::new(exponential_buckets(0.001, 1.25, 38));
        registry.register(
            "feed_readings_lag_seconds",
            "From readings' write on another instance to their publication to the live streams and MQTT subscribers here (only while someone here follows readings)",
            feed_readings_lag_seconds.clone(),
        );
        Metrics {
            registry,
            feed_readings_lag_seconds,
            requests,
            refusals,
            handshakes,
            readings_stored,
            commit_seconds,
            writer_queue,
            live_streams,
            mqtt_sessions,
            feed_applied,
            feed_lag_seconds,
        }
    }

    /// A TLS handshake's outcome: `accepted`, `refused` or `timeout`.
    pub fn handshake(&self, listener: &'static str, outcome: &'static str) {
        self.handshakes
            .get_or_create(&HandshakeLabels { listener, outcome })
            .inc();
    }

    pub fn refused(&self, code: app::types::ErrorCode) {
        self.refusals
            .get_or_create(&CodeLabels {
                code: code.to_string(),
            })
            .inc();
    }

    /// One more (`by` 1) or one fewer (-1) MQTT session on `listener`.
    pub fn mqtt_sessions_add(&self, listener: &'static str, by: i64) {
        self.mqtt_sessions
            .get_or_create(&ListenerLabels { listener })
            .inc_by(by);
    }

    fn encode(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Counts each request under its route's template (`/api/v1/devices/{id}`),
/// or `unmatched` for what no route took.
pub async fn count_requests(
    State(listener): State<&'static str>,
    req: Request,
    next: Next,
) -> Response {
    // axum sets no `MatchedPath` for a fallback (a nested router's included).
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let res = next.run(req).await;
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            listener,
            method,
            route,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

/// A request's method as a label: the standard ones by name, any other
/// (a client may send any token) as `other`, so no client can add labels.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Serves `GET /metrics` on `listener` until the task is aborted. It is an
/// operator's endpoint, for loopback or a private network: unlike the
/// other listeners it has no per-address cap or deadlines of its own.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(state);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "the metrics listener stopped");
    }
}

async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    METRICS.writer_queue.set(state.writer.queued() as i64);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        METRICS.encode(),
    )
}
